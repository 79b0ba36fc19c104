import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { AppError } from '../../shared/domain/errors.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';
import { closeMonth, type CloseMonthDeps } from '../../shared/use-cases/close-month.js';
import { dryRunDeps } from '../../shared/use-cases/dry-run.js';
import { closeWorkHandlers, dispatchRevision, teamTotalsName, workContextName, type CloseWorkDeps } from '../../shared/use-cases/close-work.js';
import { fromTaggedJson, toTaggedJson } from '../../shared/domain/tagged-json.js';
import { testCloseDeps } from '../support/close-deps.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryArtifacts, RecordingMailer, StaticDirectory, StaticUsageSource } from '../support/in-memory.js';
import { InMemoryCloseProgress } from '../support/in-memory-close-progress.js';
import { ClockedWorkQueues, RecordedMailSlots } from '../support/in-memory-work-queues.js';
import type { RevisionWork } from '../../shared/use-cases/close-work.js';

const TEAMS = [
  { id: 'payments', name: 'Payments', leads: ['pay@contoso.example'] },
  { id: 'platform', name: 'Platform', leads: ['plat@contoso.example', 'plat-deputy@contoso.example'] },
  { id: 'data', name: 'Data', leads: ['data@contoso.example'] },
];

function october() {
  return new StaticUsageSource([
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }) }),
    usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
    usageRow({ day: '2026-10-21', userId: 'u3', tokens: tokens({ input: 500_001, output: 7 }) }),
    usageRow({ day: '2026-10-21', userId: 'u4', tokens: tokens({ input: 333_333 }) }),
    usageRow({ day: '2026-10-22', userId: 'stranger', tokens: tokens({ input: 10 }) }),
  ]);
}

const directory = () =>
  new StaticDirectory(
    testDirectory(
      [
        { userId: 'u1', teamId: 'payments' },
        { userId: 'u2', teamId: 'platform' },
        { userId: 'u3', teamId: 'data' },
        { userId: 'u4', teamId: 'data' },
      ],
      TEAMS,
    ),
  );

/** The close's dependencies with its delivery fanned out over in-memory queues on a test clock. */
function fanOutSetup(options: { messagesPerMinute?: number } = {}) {
  const clock = fixedClock('2026-11-03T06:00:00Z');
  const queues = new ClockedWorkQueues(clock);
  const progress = new InMemoryCloseProgress(() => clock.now());
  const pacer = new RecordedMailSlots(options.messagesPerMinute ?? 30);
  const mailer = new RecordingMailer();
  const sentAt: Date[] = [];
  const timedMailer = {
    send: async (mail: OutgoingMail) => {
      const sent = await mailer.send(mail);
      sentAt.push(clock.now());
      return sent;
    },
  };
  const deps = testCloseDeps({ usageSource: october(), directory: directory(), renderer: new ExcelReportRenderer(), mailer: timedMailer, clock, artifacts: new InMemoryArtifacts() });
  const close: CloseMonthDeps = { ...deps, fanOut: { queues, progress } };
  const work: CloseWorkDeps = {
    ...deps,
    queues,
    progress,
    pacer,
    // The test clock moves on instead of a timer running.
    sleep: async (ms) => clock.set(new Date(clock.now().getTime() + ms).toISOString()),
  };
  return { close, work, queues, progress, pacer, mailer, sentAt, clock, deps };
}

/** Every sheet's cell values, to compare two workbooks by what a reader sees. */
async function workbookCells(content: Buffer): Promise<Record<string, unknown[]>> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(content as unknown as ArrayBuffer);
  const cells: Record<string, unknown[]> = {};
  workbook.eachSheet((sheet) => {
    const rows: unknown[] = [];
    sheet.eachRow((row) => rows.push(JSON.parse(JSON.stringify(row.values))));
    cells[sheet.name] = rows;
  });
  return cells;
}

/** What a person receives of a mail: who, the subject, the text and the attachment's name and size. */
function received(mails: readonly OutgoingMail[]) {
  return mails
    .map((mail) => ({ to: [...mail.to].sort(), subject: mail.subject, text: mail.text, attachments: mail.attachments.map((file) => `${file.filename} ${file.content.length > 0}`) }))
    .sort((a, b) => a.subject.localeCompare(b.subject) || a.to.join().localeCompare(b.to.join()));
}

describe('a fanned-out close', () => {
  it('queues the work, and the drained items send finance and every team the same mails the inline close sends', async () => {
    const inline = testCloseDeps({ usageSource: october(), directory: directory(), renderer: new ExcelReportRenderer(), mailer: new RecordingMailer() });
    await closeMonth(inline, { month: '2026-10' });
    const inlineMails = (inline.mailer as RecordingMailer).sent;

    const { close, work, queues, mailer, progress } = fanOutSetup();
    const result = await closeMonth(close, { month: '2026-10' });
    expect(result.mail).toEqual({ status: 'queued' });
    expect(result.dispatched).toEqual({ teamsQueued: 3, financeQueued: false, mailsQueued: 0, done: 0 });
    expect(mailer.sent).toEqual([]);
    expect(queues.waiting.map((message) => message.queue)).toEqual(['close-team', 'close-team', 'close-team']);

    const drained = await queues.drain(closeWorkHandlers(work));
    expect(drained).toEqual({ completed: 3 + 1 + 4, retried: 0, poisoned: 0 });
    expect(received(mailer.sent)).toEqual(received(inlineMails));
    expect(mailer.sent).toHaveLength(4);
    expect((await progress.items('2026-10', 1)).map((item) => [item.id, item.state, item.outcome?.mail])).toEqual([
      ['finance', 'done', undefined],
      ['mail~2026-10|r1|finance', 'done', 'sent'],
      ['mail~2026-10|r1|team|data', 'done', 'sent'],
      ['mail~2026-10|r1|team|payments', 'done', 'sent'],
      ['mail~2026-10|r1|team|platform', 'done', 'sent'],
      ['team~data', 'done', undefined],
      ['team~payments', 'done', undefined],
      ['team~platform', 'done', undefined],
    ]);
  });

  it("sends the finance mail only after every team item is done, and the team workbooks come before it", async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    const order: string[] = [];
    const handlers = closeWorkHandlers(work);
    await closeMonth(close, { month: '2026-10' });
    await queues.drain({
      'close-team': async (message, meta) => {
        await handlers['close-team'](message, meta);
        order.push(`team ${(message as { teamId: string }).teamId}`);
      },
      'close-finance': async (message, meta) => {
        await handlers['close-finance'](message, meta);
        order.push('finance');
      },
      'close-mail': handlers['close-mail'],
    });
    expect(order.indexOf('finance')).toBe(order.length - 1);
    expect(order).toHaveLength(4);
    const finance = mailer.sent.find((mail) => mail.to.includes('finance@contoso.example'))!;
    expect(finance.attachments.map((file) => file.filename)).toContain('chargeback-2026-10.xlsx');
  });

  it('sends nothing again when the close runs again, and a rerun before the drain queues only what is not done', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    await queues.drain(closeWorkHandlers(work));
    const again = await closeMonth(close, { month: '2026-10' });
    expect(again.changed).toBe(false);
    expect(again.dispatched).toEqual({ teamsQueued: 0, financeQueued: false, mailsQueued: 0, done: 8 });
    await queues.drain(closeWorkHandlers(work));
    expect(mailer.sent).toHaveLength(4);
  });

  it('does an item once when its message is delivered twice, even at the same time', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const handlers = closeWorkHandlers(work);
    const team = queues.waiting[0]!;
    // Two workers take the same message at once (its visibility ran out while the first still worked on it).
    await Promise.all([handlers['close-team'](team.body, { id: team.id, dequeueCount: 1 }), handlers['close-team'](team.body, { id: team.id, dequeueCount: 2 })]);
    // And the queue hands every message over again later.
    for (const message of [...queues.waiting]) await queues.send(message.queue, message.body);
    await queues.drain(handlers);
    expect(mailer.sent).toHaveLength(4);
    expect(new Set(mailer.sent.map((mail) => mail.subject)).size).toBe(4);
  });

  it('retries a mail the server refused and sends it once; a mail that keeps failing ends in the poison queue', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    mailer.failWhen = (mail) => mail.to.includes('data@contoso.example');
    let dataAttempts = 0;
    const handlers = closeWorkHandlers(work);
    const drained = await queues.drain({
      ...handlers,
      'close-mail': async (message, meta) => {
        if ((message as { key: string }).key.endsWith('|team|data')) dataAttempts += 1;
        // The server comes back on the third try of the data team's mail.
        if (dataAttempts === 3) mailer.failWhen = null;
        await handlers['close-mail'](message, meta);
      },
    });
    expect(drained.retried).toBe(2);
    expect(drained.poisoned).toBe(0);
    expect(mailer.sent.filter((mail) => mail.to.includes('data@contoso.example'))).toHaveLength(1);

    const broken = fanOutSetup();
    await closeMonth(broken.close, { month: '2026-10' });
    broken.mailer.failWhen = (mail) => mail.to.includes('finance@contoso.example');
    const result = await broken.queues.drain(closeWorkHandlers(broken.work));
    expect(result.poisoned).toBe(1);
    expect(await broken.queues.poisoned('close-mail', 10)).toMatchObject([{ body: { month: '2026-10', revision: 1, key: '2026-10|r1|finance' } }]);
    expect(broken.mailer.sent.map((mail) => mail.to[0])).not.toContain('finance@contoso.example');
  });

  it('tells the operator once about work items that failed every retry, and a rerun queues them again', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    mailer.failWhen = (mail) => mail.to.includes('finance@contoso.example');
    await queues.drain(closeWorkHandlers(work));
    mailer.failWhen = null;

    const rerun = await closeMonth(close, { month: '2026-10' });
    expect(rerun.stuckWork).toMatchObject([{ queue: 'close-mail', body: { key: '2026-10|r1|finance' } }]);
    expect(rerun.dispatched).toMatchObject({ teamsQueued: 0, mailsQueued: 1 });
    const operator = mailer.sent.filter((mail) => mail.to.includes('ops@contoso.example'));
    expect(operator).toHaveLength(1);
    expect(operator[0]!.subject).toBe('Chargeback 2026-10: 1 work item(s) stuck');
    expect(operator[0]!.text).toContain('2026-10|r1|finance');

    await queues.drain(closeWorkHandlers(work));
    expect(mailer.sent.filter((mail) => mail.to.includes('finance@contoso.example'))).toHaveLength(1);
    await closeMonth(close, { month: '2026-10' });
    expect(mailer.sent.filter((mail) => mail.to.includes('ops@contoso.example'))).toHaveLength(1);
  });

  it('reports a mail uncertain when a worker died between sending and recording it, and does not send it again', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const handlers = closeWorkHandlers(work);
    let died = false;
    const dyingLedger = {
      ...work.deliveries,
      get: work.deliveries.get.bind(work.deliveries),
      claim: work.deliveries.claim.bind(work.deliveries),
      put: async (record: Parameters<typeof work.deliveries.put>[0]) => {
        if (!died && record.status === 'sent' && record.key.endsWith('|team|payments')) {
          died = true;
          throw new AppError('STORAGE_FAILED', 'the worker died', { retryable: true });
        }
        await work.deliveries.put(record);
      },
    };
    const flaky = closeWorkHandlers({ ...work, deliveries: dyingLedger });
    await queues.drain({ ...handlers, 'close-mail': flaky['close-mail'] });
    expect(mailer.sent.filter((mail) => mail.to.includes('pay@contoso.example'))).toHaveLength(1);
    const items = await work.progress.items('2026-10', 1);
    expect(items.find((item) => item.id === 'mail~2026-10|r1|team|payments')?.outcome).toMatchObject({ mail: 'uncertain' });
  });

  it('drops the work of a revision that a later one superseded before it ran', async () => {
    const { close, work, queues, mailer, deps } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    // Late usage arrives and the month is closed again before any worker ran.
    (deps.usageSource as StaticUsageSource).rows.push(usageRow({ day: '2026-10-30', userId: 'u2', tokens: tokens({ input: 5_000_000 }) }));
    const second = await closeMonth(close, { month: '2026-10' });
    expect(second.revision).toBe(2);
    await queues.drain(closeWorkHandlers(work));

    const workbooks = mailer.sent.flatMap((mail) => mail.attachments.filter((file) => file.filename.endsWith('.xlsx')).map((file) => file.filename));
    expect(workbooks).toHaveLength(4);
    expect(workbooks.every((name) => name.endsWith('-r2.xlsx'))).toBe(true);
    const first = await work.progress.items('2026-10', 1);
    expect(first.filter((item) => item.kind === 'team').map((item) => item.state)).toEqual(['superseded', 'superseded', 'superseded']);
    // Revision 2 owes every team (none received revision 1) and finance.
    expect(mailer.sent).toHaveLength(4);
  });

  it('spaces the mails by the pacing interval across the queue, putting a far slot back on the queue delayed', async () => {
    const { close, work, queues, sentAt, pacer } = fanOutSetup({ messagesPerMinute: 2 });
    await closeMonth(close, { month: '2026-10' });
    await queues.drain(closeWorkHandlers(work));
    expect(sentAt).toHaveLength(4);
    for (let index = 1; index < sentAt.length; index += 1) expect(sentAt[index]!.getTime() - sentAt[index - 1]!.getTime()).toBeGreaterThanOrEqual(30_000);
    // Each mail reserved exactly one slot, however often it was put back to wait for it.
    expect(pacer.reserved).toHaveLength(4);
    expect(queues.sent.filter((message) => message.queue === 'close-mail' && message.delaySeconds > 0).length).toBeGreaterThan(0);
  });

  it('mails 500 teams at 30 a minute with no invocation waiting longer than the pacing wait', async () => {
    const clock = fixedClock('2026-11-03T06:00:00Z');
    const teams = Array.from({ length: 500 }, (_, index) => ({ id: `team-${String(index).padStart(3, '0')}`, name: `Team ${index}`, leads: [`lead${index}@contoso.example`] }));
    const users = teams.map((team, index) => ({ userId: `u${index}`, teamId: team.id }));
    const queues = new ClockedWorkQueues(clock);
    const progress = new InMemoryCloseProgress(() => clock.now());
    const pacer = new RecordedMailSlots(30);
    const mailer = new RecordingMailer();
    const sentAt: number[] = [];
    const deps = testCloseDeps({
      usageSource: new StaticUsageSource(users.map((user) => usageRow({ day: '2026-10-05', userId: user.userId, tokens: tokens({ input: 1_000 }) }))),
      directory: new StaticDirectory(testDirectory(users, teams)),
      mailer: { send: async (mail: OutgoingMail) => (sentAt.push(clock.now().getTime()), mailer.send(mail)) },
      clock,
    });
    await closeMonth({ ...deps, fanOut: { queues, progress } }, { month: '2026-10' });
    const handlers = closeWorkHandlers({ ...deps, queues, progress, pacer, settings: { ...deps.settings, maxPacingWaitMs: 20_000 }, sleep: async (ms) => clock.set(new Date(clock.now().getTime() + ms).toISOString()) });
    let longest = 0;
    const timed = Object.fromEntries(
      Object.entries(handlers).map(([queue, handler]) => [
        queue,
        async (message: unknown, meta: { id: string; dequeueCount: number }) => {
          const start = clock.now().getTime();
          await handler(message, meta);
          longest = Math.max(longest, clock.now().getTime() - start);
        },
      ]),
    );
    const started = clock.now().getTime();
    await queues.drain(timed);

    expect(mailer.sent).toHaveLength(501);
    const gaps = sentAt.slice(1).map((at, index) => at - sentAt[index]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_000);
    expect(longest).toBeLessThanOrEqual(20_000);
    // 501 mails at one every 2 s: about 1,000 s from the first to the last, none of it inside one invocation.
    expect(sentAt.at(-1)! - started).toBeLessThan(1_010_000);
  });

  it('joins the team items\' parts into the FOCUS export the inline close writes, byte for byte, and reads the month back without its days', async () => {
    const inline = testCloseDeps({ usageSource: october(), directory: directory(), renderer: new ExcelReportRenderer(), mailer: new RecordingMailer() });
    await closeMonth(inline, { month: '2026-10' });
    const inlineExport = (inline.artifacts as InMemoryArtifacts).files.get('focus-2026-10.csv')!;

    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const reads: string[] = [];
    const rollups = work.rollups;
    const watched: CloseWorkDeps = {
      ...work,
      rollups: Object.assign(Object.create(rollups) as typeof rollups, {
        readTeamMonth: async (month: string, teamId: string) => (reads.push(`team ${teamId}`), rollups.readTeamMonth(month, teamId)),
        readMonth: async (month: string) => (reads.push('month with days'), rollups.readMonth(month)),
        readMonthTotals: async (month: string) => (reads.push('month without days'), rollups.readMonthTotals(month)),
      }),
    };
    await queues.drain(closeWorkHandlers(watched));
    const artifacts = work.artifacts as InMemoryArtifacts;
    expect(artifacts.files.get('focus-2026-10.csv')!.toString('utf8')).toBe(inlineExport.toString('utf8'));
    expect(artifacts.joined.get('focus-2026-10.csv')).toBe(JSON.stringify(['~header', '_unallocated', 'data', 'payments', 'platform']));
    // The finance item reads no team's lines and nothing of the whole month: the team items left it their lines.
    expect(reads).toEqual(['team data', 'team payments', 'team platform', 'team _unallocated']);
    const financeOf = (mails: readonly OutgoingMail[]) => mails.find((mail) => mail.to.includes('finance@contoso.example'))!.attachments[0]!.content;
    const cells = await workbookCells(financeOf(mailer.sent));
    expect(Object.keys(cells).length).toBeGreaterThan(3);
    expect(cells).toEqual(await workbookCells(financeOf((inline.mailer as RecordingMailer).sent)));
  });

  it('reads the month without its days from the rollups when a team item left no lines, and mails the same workbook', async () => {
    const inline = testCloseDeps({ usageSource: october(), directory: directory(), renderer: new ExcelReportRenderer(), mailer: new RecordingMailer() });
    await closeMonth(inline, { month: '2026-10' });
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const artifacts = work.artifacts as InMemoryArtifacts;
    const handlers = closeWorkHandlers(work);
    await queues.drain({
      ...handlers,
      'close-finance': async (message, meta) => {
        // As if the payments team item had run on a version that did not leave its lines.
        artifacts.files.delete(teamTotalsName('2026-10', 1, 'payments'));
        await handlers['close-finance'](message, meta);
      },
    });
    expect(received(mailer.sent)).toEqual(received((inline.mailer as RecordingMailer).sent));
    const financeMail = mailer.sent.find((mail) => mail.to.includes('finance@contoso.example'))!;
    const inlineFinance = (inline.mailer as RecordingMailer).sent.find((mail) => mail.to.includes('finance@contoso.example'))!;
    expect(await workbookCells(financeMail.attachments[0]!.content)).toEqual(await workbookCells(inlineFinance.attachments[0]!.content));
  });

  it('refuses to mail a finance report when a team\'s lines as its item left them no longer add up to the closed total', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const artifacts = work.artifacts as InMemoryArtifacts;
    const handlers = closeWorkHandlers(work);
    const failures: unknown[] = [];
    const drained = await queues.drain({
      ...handlers,
      'close-finance': async (message, meta) => {
        const name = teamTotalsName('2026-10', 1, 'data');
        const lines = fromTaggedJson<unknown[]>(artifacts.files.get(name)!.toString('utf8'), name);
        artifacts.files.set(name, Buffer.from(toTaggedJson(lines.slice(1)), 'utf8'));
        await handlers['close-finance'](message, meta).catch((error: unknown) => Promise.reject(failures.push(error) && error));
      },
    });
    expect(drained.poisoned).toBe(1);
    expect(mailer.sent.some((mail) => mail.to.includes('finance@contoso.example'))).toBe(false);
    expect(failures[0]).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/daily figures of 2026-10 add up to \d+ minor units, the lines to \d+/) });
  });

  it('writes the FOCUS export whole from the month\'s lines when a team\'s part was lost, and tells the operator why', async () => {
    const { close, work, queues, deps } = fanOutSetup();
    const inline = testCloseDeps({ usageSource: october(), directory: directory(), renderer: new ExcelReportRenderer(), mailer: new RecordingMailer() });
    await closeMonth(inline, { month: '2026-10' });
    const warnings: string[] = [];
    const handlers = closeWorkHandlers({ ...work, logger: { ...deps.logger, warn: (message: string) => warnings.push(message) } });
    await closeMonth(close, { month: '2026-10' });
    const artifacts = work.artifacts as InMemoryArtifacts;
    await queues.drain({
      ...handlers,
      'close-finance': async (message, meta) => {
        // Azure keeps uncommitted blocks for a week: a finance item stuck longer finds the parts gone.
        artifacts.parts.get('focus-2026-10.csv')!.delete('payments');
        await handlers['close-finance'](message, meta);
      },
    });
    expect(artifacts.files.get('focus-2026-10.csv')!.equals((inline.artifacts as InMemoryArtifacts).files.get('focus-2026-10.csv')!)).toBe(true);
    expect(warnings.join('\n')).toMatch(/misses a part \(part payments of focus-2026-10.csv was never saved\): writing it whole/);
  });

  it('refuses to mail a finance report whose lines read back to another total than the close stored', async () => {
    const { close, work, queues, mailer } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const name = workContextName('2026-10', 1);
    const context = fromTaggedJson<RevisionWork>((await work.artifacts.read(name))!.toString('utf8'), 'context');
    await work.artifacts.save(name, Buffer.from(toTaggedJson({ ...context, grandTotal: context.grandTotal! + 1n }), 'utf8'), 'application/json');
    const handlers = closeWorkHandlers(work);
    const failures: unknown[] = [];
    const drained = await queues.drain({
      ...handlers,
      'close-finance': (message, meta) => handlers['close-finance'](message, meta).catch((error: unknown) => Promise.reject(failures.push(error) && error)),
    });
    expect(drained.poisoned).toBe(1);
    expect(mailer.sent.some((mail) => mail.to.includes('finance@contoso.example'))).toBe(false);
    expect(mailer.sent).toHaveLength(3);
    expect(failures[0]).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/reads back as \d+ minor units, but was closed at \d+/) });
  });

  it('keeps the amounts exact through the stored work context', async () => {
    const { close, work } = fanOutSetup();
    const result = await closeMonth(close, { month: '2026-10' });
    const stored = await work.artifacts.read(workContextName('2026-10', 1));
    const context = fromTaggedJson<RevisionWork>(stored!.toString('utf8'), 'context');
    expect(context.teams.map((team) => [team.teamId, team.shownTotal, team.owed])).toEqual(result.teams.map((team) => [team.teamId, team.amount, true]));
    expect(typeof context.teams[0]!.shownTotal).toBe('bigint');
    expect(context.context.teams.get('platform')?.leads).toEqual(['plat@contoso.example', 'plat-deputy@contoso.example']);
  });

  it('refuses a malformed work item with a clear error, and one for a team the revision does not have', async () => {
    const { close, work } = fanOutSetup();
    await closeMonth(close, { month: '2026-10' });
    const handlers = closeWorkHandlers(work);
    await expect(handlers['close-team']({ month: '2026-13', revision: 1, teamId: 'x' }, { id: 'a', dequeueCount: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(handlers['close-mail']({ month: '2026-10', revision: 1, key: '2026-09|r1|finance' }, { id: 'b', dequeueCount: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(handlers['close-team']({ month: '2026-10', revision: 1, teamId: 'nobody' }, { id: 'c', dequeueCount: 1 })).rejects.toThrow(/no team nobody/);
  });

  it('queues nothing on a dry run: its workbooks and mails go to the preview, as an inline close', async () => {
    const { close, queues, mailer } = fanOutSetup();
    const previewMailer = new RecordingMailer();
    const result = await closeMonth(dryRunDeps(close, { artifacts: new InMemoryArtifacts(), mailer: previewMailer }), { month: '2026-10' });
    expect(result.dispatched).toBeUndefined();
    expect(queues.sent).toEqual([]);
    expect(previewMailer.sent).toHaveLength(4);
    expect(mailer.sent).toEqual([]);
  });

  it('dispatches the finance item at once for a month without teams', async () => {
    const { work, queues } = fanOutSetup();
    const result = await dispatchRevision(work, {
      month: '2026-10',
      revision: 1,
      window: { start: new Date('2026-10-01T00:00:00Z'), end: new Date('2026-11-01T00:00:00Z') },
      context: {} as RevisionWork['context'],
      controls: [],
      teams: [],
    });
    expect(result).toEqual({ teamsQueued: 0, financeQueued: true, mailsQueued: 0, done: 0 });
    expect(queues.waiting.map((message) => message.queue)).toEqual(['close-finance']);
  });
});
