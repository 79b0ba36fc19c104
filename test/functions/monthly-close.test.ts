import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { monthlyCloseHandler, type MonthlyCloseServices } from '../../functions/monthly-close.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryCloseRegistry, RecordingMailer, StaticDirectory, StaticUsageSource } from '../support/in-memory.js';
import { testCloseDeps } from '../support/close-deps.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';
import { InMemoryCloseProgress } from '../support/in-memory-close-progress.js';
import { ClockedWorkQueues } from '../support/in-memory-work-queues.js';

function services(now: string, usage: UsageSource = new StaticUsageSource([usageRow({ day: '2026-10-07', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })])) {
  const clock = fixedClock(now);
  const mailer = new RecordingMailer();
  const closes = new InMemoryCloseRegistry();
  const closeMonth = testCloseDeps({
    usageSource: usage,
    directory: new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'payments' }], [{ id: 'payments', name: 'Payments', leads: ['lead@contoso.example'] }])),
    closes,
    mailer,
    clock,
    settings: { timeZone: 'Europe/Paris' },
  });
  const built: MonthlyCloseServices = { settings: { timeZone: 'Europe/Paris', monthlyClose: { graceDays: 2 } }, clock, closeMonth };
  return { built, mailer, closes };
}

function invocation() {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId: 'test', functionName: 'monthlyClose', logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`) });
  return { context, logs };
}

const timer = (isPastDue = false): Timer => ({ isPastDue, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } });

describe('the monthly close timer', () => {
  it('waits out the grace period in the reporting time zone before closing the previous month', async () => {
    // 2 November 23:30 UTC is already the 3rd in Paris, but 2 November 22:59 UTC is not.
    const early = services('2026-11-02T22:59:00Z');
    const { context, logs } = invocation();
    await monthlyCloseHandler(async () => early.built)(timer(), context);
    expect(early.closes.closes.size).toBe(0);
    expect(logs.some((line) => line.includes('2026-10 is inside its 2-day grace period; it is closed from 2026-11-03'))).toBe(true);

    const due = services('2026-11-02T23:30:00Z');
    const run = invocation();
    await monthlyCloseHandler(async () => due.built)(timer(true), run.context);
    expect(due.closes.closes.get('2026-10')?.revision).toBe(1);
    expect(due.mailer.sent.map((mail) => mail.to)).toContainEqual(['finance@contoso.example']);
    expect(run.logs.some((line) => line.startsWith('warning:') && line.includes('runs late'))).toBe(true);
    expect(run.logs.some((line) => line.includes('closed 2026-10: revision 1'))).toBe(true);
  });

  it('sends nothing when it runs again on an unchanged month', async () => {
    const { built, mailer } = services('2026-11-05T05:00:00Z');
    await monthlyCloseHandler(async () => built)(timer(), invocation().context);
    const sent = mailer.sent.length;
    const again = invocation();
    await monthlyCloseHandler(async () => built)(timer(), again.context);
    expect(mailer.sent).toHaveLength(sent);
    expect(again.logs.some((line) => line.includes('revision 1 (unchanged)'))).toBe(true);
  });

  it('logs a held close as an error, tells the operator once per reason, and does not fail the invocation', async () => {
    const mismatched = new StaticUsageSource([usageRow({ day: '2026-10-07', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })]);
    mismatched.read = async () => ({ ...(await StaticUsageSource.prototype.read.call(mismatched)), reportedTotalTokens: 5_000_000 });
    const { built, mailer, closes } = services('2026-11-05T05:00:00Z', mismatched);
    for (let day = 0; day < 3; day++) {
      const { context, logs } = invocation();
      await monthlyCloseHandler(async () => built)(timer(), context);
      expect(logs.some((line) => line.startsWith('error:') && line.includes('2026-10 is held for review'))).toBe(true);
    }
    expect(mailer.sent.map((mail) => mail.to)).toEqual([['ops@contoso.example']]);
    expect(closes.closes.size).toBe(0);
    expect((await closes.attempts('2026-10')).map((attempt) => attempt.outcome)).toEqual(['held', 'held', 'held']);
  });

  it('logs a refused close, tells the operator once, and leaves the next day to try again', async () => {
    const { built, mailer, closes } = services('2026-11-05T05:00:00Z', new StaticUsageSource([]));
    for (let day = 0; day < 2; day++) {
      const { context, logs } = invocation();
      await monthlyCloseHandler(async () => built)(timer(), context);
      expect(logs.some((line) => line.startsWith('error:') && line.includes('CLOSE_REFUSED'))).toBe(true);
    }
    expect(mailer.sent.map((mail) => mail.subject)).toEqual(['Chargeback 2026-10 refused: usage.empty']);
    expect((await closes.attempts('2026-10')).map((attempt) => attempt.outcome)).toEqual(['refused', 'refused']);
  });

  it('logs what a fanned-out close queued instead of mails it did not send', async () => {
    const { built, mailer } = services('2026-11-03T06:00:00Z');
    const clock = built.clock as ReturnType<typeof fixedClock>;
    const queues = new ClockedWorkQueues(clock);
    const fannedOut: MonthlyCloseServices = { ...built, closeMonth: { ...built.closeMonth, fanOut: { queues, progress: new InMemoryCloseProgress(() => clock.now()) } } };
    const { context, logs } = invocation();
    await monthlyCloseHandler(async () => fannedOut)(timer(), context);
    expect(mailer.sent).toEqual([]);
    expect(logs.some((line) => line.startsWith('information') && line.includes('closed 2026-10: revision 1, 1 teams; queued 1 team item(s), no finance item and 0 mail(s) (0 item(s) already done)'))).toBe(true);
    expect(queues.waiting.map((message) => message.queue)).toEqual(['close-team']);
  });

  it('logs and rethrows a failure so that the host records it', async () => {
    const { context, logs } = invocation();
    await expect(
      monthlyCloseHandler(async () => Promise.reject(Object.assign(new Error('no settings'), { code: 'CONFIG_INVALID' })))(timer(), context),
    ).rejects.toThrow('no settings');
    expect(logs.some((line) => line.startsWith('error:') && line.includes('monthly close failed'))).toBe(true);
  });
});
