import { describe, expect, it } from 'vitest';
import ExcelJS from 'exceljs';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import { AppError } from '../../shared/domain/errors.js';
import type { TimeWindow } from '../../shared/domain/periods.js';
import { usageRowsOf, type DuplicateSummary, type RejectSummary, type UsageReadResult, type UsageRow } from '../../shared/domain/usage.js';
import type { DeliveryRecord } from '../../shared/ports/ledger.js';
import type { OutgoingMail, SentMail } from '../../shared/ports/mailer.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';
import { closeMonth, financeDeliveryKey, teamDeliveryKey } from '../../shared/use-cases/close-month.js';
import { dryRunDeps } from '../../shared/use-cases/dry-run.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryArtifacts, InMemoryCloseRegistry, InMemoryDeliveryLedger, InMemoryLeases, InMemoryRollupStore, RecordingMailer, StaticDirectory } from '../support/in-memory.js';
import { testCloseDeps } from '../support/close-deps.js';

const FINANCE = 'finance@contoso.example';
const OPS = 'ops@contoso.example';
const LEADS: Record<string, string> = { payments: 'pay@contoso.example', platform: 'plat@contoso.example', data: 'data@contoso.example' };

/** A usage source whose answer each test sets: rows in the window, plus rejects, duplicates and a gateway total. */
class ScriptedUsage implements UsageSource {
  rows: UsageRow[] = [];
  rejects: RejectSummary = { count: 0, samples: [], byReason: {} };
  skipped: Record<string, number> = {};
  duplicates: DuplicateSummary | undefined;
  reportedTotalTokens: number | null = null;
  async read(window: TimeWindow): Promise<UsageReadResult> {
    const start = window.start.toISOString().slice(0, 10);
    const end = window.end.toISOString().slice(0, 10);
    return {
      rows: usageRowsOf(this.rows.filter((row) => row.day >= start && row.day < end)),
      rejects: this.rejects,
      skipped: this.skipped,
      reportedTotalTokens: this.reportedTotalTokens,
      sourceDescription: 'scripted',
      ...(this.duplicates ? { duplicates: this.duplicates } : {}),
      inputs: [{ name: 'usage.csv', rows: this.rows.length * 2 + this.rejects.count }],
    };
  }
}

const october = () => [
  usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000 }) }),
  usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
  usageRow({ day: '2026-10-21', userId: 'u3', tokens: tokens({ input: 500_000 }) }),
];

function setup(now = '2026-11-03T06:00:00Z') {
  const usage = new ScriptedUsage();
  usage.rows = october();
  const mailer = new RecordingMailer();
  const rollups = new InMemoryRollupStore();
  const closes = new InMemoryCloseRegistry();
  const deliveries = new InMemoryDeliveryLedger();
  const clock = fixedClock(now);
  const leases = new InMemoryLeases(() => clock.now());
  const deps = testCloseDeps({
    usageSource: usage,
    directory: new StaticDirectory(
      testDirectory(
        [
          { userId: 'u1', teamId: 'payments' },
          { userId: 'u2', teamId: 'platform' },
          { userId: 'u3', teamId: 'data' },
        ],
        Object.entries(LEADS).map(([id, lead]) => ({ id, name: id[0]!.toUpperCase() + id.slice(1), leads: [lead] })),
      ),
    ),
    rollups,
    closes,
    deliveries,
    leases,
    mailer,
    clock,
    settings: { financeRecipients: [FINANCE], operatorRecipients: [OPS] },
  });
  return { deps, usage, mailer, rollups, closes, deliveries, clock, leases };
}

const recipients = (mails: readonly OutgoingMail[]) => mails.flatMap((mail) => mail.to).sort();

async function refusal(run: Promise<unknown>): Promise<AppError> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe('CLOSE_REFUSED');
  return error as AppError;
}

describe('close controls: what is refused stores and sends nothing', () => {
  it('refuses a month with no usage rows in its window (an empty file, or the export of another month)', async () => {
    const { deps, usage, mailer, rollups, closes } = setup();
    usage.rows = october().map((row) => ({ ...row, day: row.day.replace('2026-10', '2026-09') }));
    usage.skipped = { 'outside window': 1662 };
    const error = await refusal(closeMonth(deps, { month: '2026-10' }));
    expect(error.details.join('\n')).toMatch(/no usage rows fall in 2026-10; 1662 rows were outside the month/);
    expect(mailer.sent).toEqual([]);
    expect(await closes.get('2026-10')).toBeUndefined();
    expect(await rollups.publishedRevision('2026-10')).toBeUndefined();
    expect((await closes.attempts('2026-10')).map((attempt) => attempt.outcome)).toEqual(['refused']);
  });

  it('refuses repeated input and names the files and the first repeats', async () => {
    const { deps, usage, mailer, closes } = setup();
    usage.duplicates = { count: 1662, files: ['b.csv is the same file as a.csv (sha256 1a2b3c)'], samples: ['b.csv:2 repeats a.csv:2'] };
    const error = await refusal(closeMonth(deps, { month: '2026-10' }));
    expect(error.details.join('\n')).toContain('b.csv is the same file as a.csv');
    expect(error.details.join('\n')).toContain('b.csv:2 repeats a.csv:2');
    expect(mailer.sent).toEqual([]);
    expect(await closes.get('2026-10')).toBeUndefined();
  });

  it('refuses a month that is not over, or inside its grace period, unless previewed', async () => {
    for (const now of ['2026-10-20T12:00:00Z', '2026-11-02T12:00:00Z']) {
      const { deps, mailer, closes } = setup(now);
      const error = await refusal(closeMonth(deps, { month: '2026-10' }));
      expect(error.details[0]).toMatch(/use --preview/);
      expect(mailer.sent).toEqual([]);
      expect(await closes.get('2026-10')).toBeUndefined();
    }
  });

  it('tells the operator of a refusal once when asked to (the scheduled close), however often it runs', async () => {
    const { deps, usage, mailer } = setup();
    usage.rows = [];
    for (let run = 0; run < 3; run++) await refusal(closeMonth(deps, { month: '2026-10', notifyOperatorOfRefusal: true }));
    expect(recipients(mailer.sent)).toEqual([OPS]);
    expect(mailer.sent[0]!.subject).toMatch(/refused: usage\.empty/);
  });
});

describe('close controls: what is held reaches only the operator until a person releases it', () => {
  it('holds a gateway total mismatch: a draft is stored, readers still see nothing new, only the operator is told', async () => {
    const { deps, usage, mailer, rollups, closes } = setup();
    usage.reportedTotalTokens = 1e12;
    const result = await closeMonth(deps, { month: '2026-10' });
    expect(result.state).toBe('held');
    expect(result.controls.find((control) => control.id === 'usage.total-tokens')?.outcome).toBe('hold');
    expect(recipients(mailer.sent)).toEqual([OPS]);
    expect(mailer.sent[0]!.attachments[0]!.filename).toBe('chargeback-2026-10-r1-held.xlsx');
    expect(await closes.get('2026-10')).toBeUndefined();
    expect((await closes.draft('2026-10'))?.revision).toBe(1);
    expect(await rollups.readMonth('2026-10')).toEqual([]);
    expect(await rollups.readRevision('2026-10', 1)).toHaveLength(3);

    // The next scheduled run holds again without telling the operator twice.
    const again = await closeMonth(deps, { month: '2026-10' });
    expect(again.state).toBe('held');
    expect(mailer.sent).toHaveLength(1);
  });

  it('holds rejected rows over 1% and closes them under it with a warning', async () => {
    const held = setup();
    held.usage.rejects = { count: 1, samples: [{ location: 'usage.csv:3', reason: 'valueSum is negative', raw: '-5' }], byReason: { 'valueSum is negative': 1 } };
    // 1 rejected of 7 rows read.
    expect((await closeMonth(held.deps, { month: '2026-10' })).state).toBe('held');

    const warned = setup();
    warned.usage.rows = october();
    warned.usage.rejects = { count: 1, samples: [{ location: 'usage.csv:3', reason: 'valueSum is negative' }], byReason: { 'valueSum is negative': 1 } };
    warned.deps = { ...warned.deps, settings: { ...warned.deps.settings, controls: { ...DEFAULT_CLOSE_CONTROL_LIMITS, maxRejectRatio: 0.5 } } };
    const result = await closeMonth(warned.deps, { month: '2026-10' });
    expect(result.state).toBe('closed');
    expect(result.controls.find((control) => control.id === 'usage.rejects')?.outcome).toBe('warn');
    expect(recipients(warned.mailer.sent)).toEqual([FINANCE, LEADS.data!, LEADS.payments!, LEADS.platform!].sort());
  });

  it('releases a held close exactly as held, records who and why, and then mails everyone once', async () => {
    const { deps, usage, mailer, rollups, closes } = setup();
    usage.reportedTotalTokens = 3_500_001;
    await closeMonth(deps, { month: '2026-10' });
    await expect(closeMonth(deps, { month: '2026-10', releaseHold: { by: 'ana', reason: '' } })).rejects.toThrow(/needs a reason/);

    const released = await closeMonth(deps, { month: '2026-10', releaseHold: { by: 'ana', reason: 'the gateway double-counts one retry' } });
    expect(released.state).toBe('closed');
    expect(released.release).toMatchObject({ by: 'ana', reason: 'the gateway double-counts one retry' });
    expect((await closes.get('2026-10'))?.release?.by).toBe('ana');
    expect(await closes.draft('2026-10')).toBeUndefined();
    expect(await rollups.readMonth('2026-10')).toHaveLength(3);
    expect(recipients(mailer.sent)).toEqual([FINANCE, LEADS.data!, OPS, LEADS.payments!, LEADS.platform!].sort());

    // Reruns of the released figures neither hold again nor send again.
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.state).toBe('closed');
    expect(mailer.sent).toHaveLength(5);
  });

  it('refuses to release figures that changed since the hold', async () => {
    const { deps, usage } = setup();
    usage.reportedTotalTokens = 1;
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...october(), usageRow({ day: '2026-10-22', userId: 'u1', tokens: tokens({ input: 7 }) })];
    await expect(closeMonth(deps, { month: '2026-10', releaseHold: { by: 'ana', reason: 'fine' } })).rejects.toThrow(/changed since the close was held/);
  });

  it('replaces the draft when a corrected close passes, as revision 1 with no "revised" wording', async () => {
    const { deps, usage, mailer, closes } = setup();
    usage.reportedTotalTokens = 1;
    await closeMonth(deps, { month: '2026-10' });
    usage.reportedTotalTokens = 3_500_000;
    const result = await closeMonth(deps, { month: '2026-10' });
    expect(result.state).toBe('closed');
    expect(result.revision).toBe(1);
    expect(await closes.draft('2026-10')).toBeUndefined();
    const teamMails = mailer.sent.filter((mail) => mail.to[0] !== OPS && mail.to[0] !== FINANCE);
    expect(teamMails).toHaveLength(3);
    for (const mail of teamMails) expect(mail.text).not.toMatch(/replace/i);
  });
});

describe('exactly once, under overlap and crash', () => {
  it('lets only one of two closes of a month run; the other is busy and sends nothing', async () => {
    const { deps, mailer, leases } = setup();
    await leases.acquire('close~2026-10', 'the timer');
    await expect(closeMonth(deps, { month: '2026-10', runId: 'a person' })).rejects.toMatchObject({ code: 'BUSY' });
    expect(mailer.sent).toEqual([]);
  });

  it('reports a mail sent and not recorded (a crash between the two) as uncertain, and does not send it twice', async () => {
    const { deps, mailer, deliveries } = setup();
    // The process dies right after the mail server took the finance mail.
    const crashing = { ...deps, deliveries: crashAfterSending(deliveries, financeDeliveryKey('2026-10', 1)) };
    await expect(closeMonth(crashing, { month: '2026-10' })).rejects.toThrow(/killed/);
    expect(mailer.sent).toHaveLength(1);

    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.mail.status).toBe('uncertain');
    expect(mailer.sent.filter((mail) => mail.to.includes(FINANCE))).toHaveLength(1);
    // The team mails, never claimed, go out.
    expect(rerun.teams.map((team) => team.mail.status)).toEqual(['sent', 'sent', 'sent']);

    // A person checked: it did not arrive. Only then is it sent again.
    const resent = await closeMonth(deps, { month: '2026-10', resendUncertain: true });
    expect(resent.mail.status).toBe('sent');
    expect(mailer.sent.filter((mail) => mail.to.includes(FINANCE))).toHaveLength(2);
    expect(mailer.sent).toHaveLength(5);
  });

  it('asks a mailer that can tell (Graph: Sent Items) whether an uncertain mail went, and records it', async () => {
    const { deps, mailer, deliveries } = setup();
    const crashing = { ...deps, deliveries: crashAfterSending(deliveries, financeDeliveryKey('2026-10', 1)) };
    await expect(closeMonth(crashing, { month: '2026-10' })).rejects.toThrow(/killed/);
    const asked: string[] = [];
    const knowing = Object.assign(Object.create(mailer) as RecordingMailer, {
      send: (mail: OutgoingMail): Promise<SentMail> => mailer.send(mail),
      wasSent: async ({ idempotencyKey }: { idempotencyKey: string }) => {
        asked.push(idempotencyKey);
        return true;
      },
    });
    const rerun = await closeMonth({ ...deps, mailer: knowing }, { month: '2026-10' });
    expect(asked).toEqual([financeDeliveryKey('2026-10', 1)]);
    expect(rerun.mail.status).toBe('already-sent');
    expect((await deliveries.get(financeDeliveryKey('2026-10', 1)))?.status).toBe('sent');
    expect(mailer.sent.filter((mail) => mail.to.includes(FINANCE))).toHaveLength(1);
  });

  it('carries owed team mails to the next revision: killed in the middle of team mails, then input changes, every team gets exactly one mail of the latest revision', async () => {
    const { deps, usage, mailer, deliveries } = setup();
    // Revision 1: finance and the first team's mail go out, then the run dies.
    const crashing = { ...deps, deliveries: crashBeforeClaiming(deliveries, teamDeliveryKey('2026-10', 1, 'payments')) };
    await expect(closeMonth(crashing, { month: '2026-10' })).rejects.toThrow(/killed/);
    expect(recipients(mailer.sent)).toEqual([LEADS.data!, FINANCE].sort());

    // Late data changes only the data team's figures: revision 2.
    usage.rows = [...october(), usageRow({ day: '2026-10-30', userId: 'u3', tokens: tokens({ input: 1_000 }) })];
    const revised = await closeMonth(deps, { month: '2026-10' });
    expect(revised.revision).toBe(2);
    const byTeam = Object.fromEntries(revised.teams.map((team) => [team.teamId, team.mail.status]));
    // data changed: it hears of revision 2; payments and platform never got revision 1: they get revision 2.
    expect(byTeam).toEqual({ data: 'sent', payments: 'sent', platform: 'sent' });
    const perLead = (lead: string) => mailer.sent.filter((mail) => mail.to.includes(lead)).map((mail) => mail.attachments[0]?.filename);
    expect(perLead(LEADS.payments!)).toEqual(['chargeback-2026-10-team-payments-r2.xlsx']);
    expect(perLead(LEADS.platform!)).toEqual(['chargeback-2026-10-team-platform-r2.xlsx']);
    expect(perLead(LEADS.data!)).toEqual(['chargeback-2026-10-team-data.xlsx', 'chargeback-2026-10-team-data-r2.xlsx']);

    // A rerun owes nothing more.
    await closeMonth(deps, { month: '2026-10' });
    expect(mailer.sent).toHaveLength(6);
  });

  it('does not carry a team over once it received the revision before', async () => {
    const { deps, usage, mailer } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...october(), usageRow({ day: '2026-10-30', userId: 'u3', tokens: tokens({ input: 1_000 }) })];
    const revised = await closeMonth(deps, { month: '2026-10' });
    expect(Object.fromEntries(revised.teams.map((team) => [team.teamId, team.mail.status]))).toEqual({ data: 'sent', payments: 'not-owed', platform: 'not-owed' });
    expect(mailer.sent).toHaveLength(6);
  });

  it('publishes a revision at once: while revision 2 is being stored, readers see all of revision 1', async () => {
    const { deps, usage, rollups } = setup();
    await closeMonth(deps, { month: '2026-10' });
    const before = await rollups.readMonth('2026-10');
    usage.rows = october().map((row) => ({ ...row, tokens: tokens({ input: row.tokens.input * 2 }) }));
    let seenMidway: unknown;
    const watching = Object.assign(Object.create(rollups) as InMemoryRollupStore, {
      writeRevision: async (...args: Parameters<InMemoryRollupStore['writeRevision']>) => {
        const written = await rollups.writeRevision(...args);
        seenMidway = await rollups.readMonth('2026-10');
        return written;
      },
    });
    await closeMonth({ ...deps, rollups: watching }, { month: '2026-10' });
    expect(seenMidway).toEqual(before);
    expect((await rollups.readMonth('2026-10')).map((line) => line.tokens.input).sort((a, b) => a - b)).toEqual([1_000_000, 2_000_000, 4_000_000]);
    expect(await rollups.publishedRevision('2026-10')).toBe(2);
  });
});

describe('what finance reads about the controls', () => {
  it('shows warnings in the finance mail and every control, and a release, on the Run sheet', async () => {
    const { deps, usage, mailer } = setup();
    usage.reportedTotalTokens = 3_500_001;
    const withWorkbooks = { ...deps, renderer: new ExcelReportRenderer() };
    await closeMonth(withWorkbooks, { month: '2026-10' });
    usage.rejects = { count: 1, samples: [{ location: 'usage.csv:9', reason: 'valueSum is not a decimal integer', raw: '0x10' }], byReason: { 'valueSum is not a decimal integer': 1 } };
    await closeMonth({ ...withWorkbooks, settings: { ...deps.settings, controls: { ...DEFAULT_CLOSE_CONTROL_LIMITS, maxRejectRatio: 0.5 } } }, { month: '2026-10', releaseHold: { by: 'ana', reason: 'one retry counted twice' } });
    const finance = mailer.sent.find((mail) => mail.to.includes(FINANCE))!;
    expect(finance.text).toMatch(/Warning:\s+1 of 7 rows \(14\.3%\) were rejected/);
    expect(finance.text).toMatch(/Held, then released:\s+by ana on 2026-11-03: one retry counted twice/);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(finance.attachments[0]!.content as unknown as ArrayBuffer);
    const cells: string[] = [];
    workbook.getWorksheet('Run')!.eachRow((row) => row.eachCell((cell) => cells.push(String(cell.value))));
    expect(cells).toContain('usage.total-tokens');
    expect(cells).toContain('held: not mailed until a person released it');
    expect(cells).toContain('warning: closed and mailed, look at the finding');
    expect(cells).toContain('one retry counted twice');
    expect(cells).toContain('0x10');
  });
});

describe('dry run and preview', () => {
  it('runs every step, writes what it would send, and stores and sends nothing', async () => {
    const { deps, mailer, closes, rollups, deliveries } = setup('2026-10-20T12:00:00Z');
    const previewMailer = new RecordingMailer();
    const previewArtifacts = new InMemoryArtifacts();
    const dry = dryRunDeps(deps, { artifacts: previewArtifacts, mailer: previewMailer });
    const result = await closeMonth(dry, { month: '2026-10', preview: true });
    expect(result.controls.find((control) => control.id === 'period.open')?.outcome).toBe('warn');
    expect(recipients(previewMailer.sent)).toEqual([FINANCE, LEADS.data!, LEADS.payments!, LEADS.platform!].sort());
    expect([...previewArtifacts.files.keys()]).toContain('chargeback-2026-10.xlsx');
    expect(mailer.sent).toEqual([]);
    expect(await closes.get('2026-10')).toBeUndefined();
    expect(await closes.attempts('2026-10')).toEqual([]);
    expect(await rollups.publishedRevision('2026-10')).toBeUndefined();
    expect(deliveries.records.size).toBe(0);
  });
});

/** A ledger through which the process "dies" right after the mailer accepted `key`: its send is never recorded. */
function crashAfterSending(ledger: InMemoryDeliveryLedger, key: string): InMemoryDeliveryLedger {
  return Object.assign(Object.create(ledger) as InMemoryDeliveryLedger, {
    get: (k: string) => ledger.get(k),
    claim: (record: DeliveryRecord, previous: DeliveryRecord | undefined) => ledger.claim(record, previous),
    put: async (record: DeliveryRecord) => {
      if (record.key === key && record.status === 'sent') throw new Error('process killed between sending and recording');
      return ledger.put(record);
    },
  });
}

/** A ledger through which the process "dies" as it is about to claim `key`. */
function crashBeforeClaiming(ledger: InMemoryDeliveryLedger, key: string): InMemoryDeliveryLedger {
  return Object.assign(Object.create(ledger) as InMemoryDeliveryLedger, {
    get: (k: string) => ledger.get(k),
    put: (record: DeliveryRecord) => ledger.put(record),
    claim: async (record: DeliveryRecord, previous: DeliveryRecord | undefined) => {
      if (record.key === key) throw new Error('process killed in the middle of the team mails');
      return ledger.claim(record, previous);
    },
  });
}
