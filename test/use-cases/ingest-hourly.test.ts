import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dailyIngestHandler } from '../../functions/daily-ingest.js';
import { hourlyIngestHandler } from '../../functions/hourly-ingest.js';
import { TableAlertLedger } from '../../shared/adapters/azure/table-alert-ledger.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { DailyStoreTeamSpendSource } from '../../shared/adapters/daily-store-spend.js';
import type { Services } from '../../shared/composition-root.js';
import { parseBudgetDocument } from '../../shared/domain/budgets.js';
import { createDayResolver, type TimeWindow } from '../../shared/domain/periods.js';
import { usageRowsOf, type UsageReadResult, type UsageRow } from '../../shared/domain/usage.js';
import { silentLogger, type Clock } from '../../shared/ports/runtime.js';
import type { ReadUsageOptions, UsageSource } from '../../shared/ports/usage-source.js';
import type { EvaluateBudgetsDeps } from '../../shared/use-cases/evaluate-budgets.js';
import type { IngestDailyDeps } from '../../shared/use-cases/ingest-daily.js';
import type { GatewayBlockList } from '../../shared/ports/gateway-block-list.js';
import { hourlyDays, ingestHourly } from '../../shared/use-cases/ingest-hourly.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryDailyRollupStore, InMemoryIngestRunLog, RecordingMailer, StaticDirectory, StaticPriceBooks } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** App Insights makes a metric queryable a few minutes after the gateway emits it. */
const INGESTION_DELAY_MS = 8 * 60_000;

/**
 * The gateway's metrics as App Insights holds them: each sample is emitted at an instant and can be queried
 * only INGESTION_DELAY_MS later, by the clock the pipeline runs on.
 */
class DelayedUsageSource implements UsageSource {
  private readonly samples: { emittedAt: Date; row: UsageRow }[] = [];
  constructor(private readonly clock: Clock) {}

  emit(emittedAt: string, row: UsageRow): void {
    this.samples.push({ emittedAt: new Date(emittedAt), row });
  }

  async read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult> {
    const dayOf = createDayResolver(options.timeZone);
    const visibleUntil = this.clock.now().getTime() - INGESTION_DELAY_MS;
    const rows = this.samples
      .filter((s) => s.emittedAt.getTime() <= visibleUntil && s.emittedAt >= window.start && s.emittedAt < window.end)
      .map((s) => ({ ...s.row, day: dayOf(s.emittedAt) }));
    return { rows: usageRowsOf(rows), rejects: { count: 0, samples: [], byReason: {} }, skipped: {}, reportedTotalTokens: null, sourceDescription: 'delayed samples' };
  }
}

const HAIKU = 'claude-haiku-4-5';
/** Haiku input is USD 1 per million tokens: spend in whole dollars. */
const dollars = (userId: string, amount: number) => usageRow({ day: '2026-10-01', userId, model: HAIKU, tokens: tokens({ input: amount * 1_000_000 }) });

async function world() {
  const clock = fixedClock('2026-10-20T00:00:00Z');
  const usage = new DelayedUsageSource(clock);
  const dailyRollups = new InMemoryDailyRollupStore();
  const directory = new StaticDirectory(
    testDirectory(
      [
        { userId: 'u1', teamId: 'payments' },
        { userId: 'u2', teamId: 'payments' },
        { userId: 'ci', teamId: 'payments' },
      ],
      [{ id: 'payments', name: 'Payments', leads: ['pay-lead@contoso.example'] }],
    ),
  );
  const priceBooks = new StaticPriceBooks(testPriceBook());
  const mailer = new RecordingMailer();
  const ingestDaily: IngestDailyDeps = {
    usageSource: usage,
    directory,
    priceBooks,
    dailyRollups,
    ingestRuns: new InMemoryIngestRunLog(),
    clock,
    logger: silentLogger,
    settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: 31 },
  };
  const spend = new DailyStoreTeamSpendSource(dailyRollups);
  const evaluateBudgets: EvaluateBudgetsDeps = {
    budgets: { load: async ({ currency }) => parseBudgetDocument({ currency: 'USD', defaults: { actualThresholds: [50, 80, 100], forecastThresholds: [] }, teams: [{ teamId: 'payments', amount: '100' }] }, 'budgets.json', { currency }) },
    priceBooks,
    spend,
    details: spend,
    directory,
    alerts: await TableAlertLedger.create(tableClientFor(azuriteConnectionString(), uniqueTableName('hourly'))),
    mailer,
    clock,
    logger: silentLogger,
    settings: { timeZone: 'UTC', mailFrom: 'chargeback@contoso.example', financeRecipients: ['finance@contoso.example'], ccFinance: false, costLookupUrl: null, unallocatedAlertPercents: [] },
  };
  const services = { settings: { timeZone: 'UTC' }, clock, logger: silentLogger, ingestDaily, evaluateBudgets } as unknown as Services;
  return { clock, usage, mailer, services };
}

const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
const context = () => new InvocationContext({ invocationId: 'test', functionName: 'hourlyIngest', logHandler: () => {} });

describe('the hourly ingest', () => {
  it('reads today so far, and yesterday too during the first hours of the day', () => {
    expect(hourlyDays(new Date('2026-10-20T00:05:00Z'), 'UTC')).toEqual({ from: '2026-10-19', to: '2026-10-20' });
    expect(hourlyDays(new Date('2026-10-20T05:59:00Z'), 'UTC')).toEqual({ from: '2026-10-19', to: '2026-10-20' });
    expect(hourlyDays(new Date('2026-10-20T06:00:00Z'), 'UTC')).toEqual({ from: '2026-10-20', to: '2026-10-20' });
    // The day is the reporting zone's: 23:30 UTC is already the 21st in Paris (UTC+2 in October).
    expect(hourlyDays(new Date('2026-10-20T23:30:00Z'), 'Europe/Paris')).toEqual({ from: '2026-10-20', to: '2026-10-21' });
  });

  it('gets a crossing at 10:05 to the lead by 11:15 (fake clock, with ingestion delay), exactly once', async () => {
    const { clock, usage, mailer, services } = await world();
    usage.emit('2026-10-19T15:00:00Z', dollars('u1', 30));
    usage.emit('2026-10-20T08:30:00Z', dollars('u2', 15));
    // The crossing: 30 + 15 + 10 = 55 of 100, past the 50% threshold, at 10:05.
    const crossingAt = new Date('2026-10-20T10:05:00Z');
    usage.emit(crossingAt.toISOString(), dollars('ci', 10));

    const hourly = hourlyIngestHandler(async () => services);
    const daily = dailyIngestHandler(async () => services);
    const sentAt: Date[] = [];
    const run = async (at: string, handler: (timer: Timer, context: InvocationContext) => Promise<unknown>) => {
      clock.set(at);
      const before = mailer.sent.length;
      await handler(timer, context());
      for (let i = before; i < mailer.sent.length; i += 1) sentAt.push(clock.now());
    };
    // Five past every hour, with the daily ingest at 05:30 in between, from midnight until well after.
    for (let hour = 0; hour <= 13; hour += 1) {
      await run(`2026-10-20T${String(hour).padStart(2, '0')}:05:00Z`, hourly);
      if (hour === 5) await run('2026-10-20T05:30:00Z', daily);
    }

    expect(mailer.sent.map((mail) => mail.subject)).toEqual(['Budget alert: Payments has spent 55.0% of its October 2026 LLM budget']);
    expect(mailer.sent[0]!.to).toEqual(['pay-lead@contoso.example']);
    const latencyMinutes = (sentAt[0]!.getTime() - crossingAt.getTime()) / 60_000;
    // The 10:05 run cannot see it yet (ingestion delay); the 11:05 run sends it.
    expect(sentAt[0]!.toISOString()).toBe('2026-10-20T11:05:00.000Z');
    expect(sentAt[0]!.getTime()).toBeLessThanOrEqual(new Date('2026-10-20T11:15:00Z').getTime());
    expect(latencyMinutes).toBeLessThanOrEqual(70);
  });

  it("restates yesterday's late metrics in the first hours, so an evening crossing still alerts before the daily ingest", async () => {
    const { clock, usage, mailer, services } = await world();
    usage.emit('2026-10-19T09:00:00Z', dollars('u1', 45));
    usage.emit('2026-10-19T23:50:00Z', dollars('u2', 40));
    const hourly = hourlyIngestHandler(async () => services);
    clock.set('2026-10-19T23:05:00Z');
    await hourly(timer, context());
    expect(mailer.sent).toHaveLength(0);
    clock.set('2026-10-20T00:05:00Z');
    await hourly(timer, context());
    expect(mailer.sent.map((mail) => mail.subject)).toEqual(['Budget alert: Payments has spent 85.0% of its October 2026 LLM budget']);
  });

  it('budget actions: blocks the callers of a team past the block level, and lifts the block with the next month', async () => {
    const { clock, usage, services } = await world();
    const published: string[][] = [];
    const blockList: GatewayBlockList = {
      publish: async (userIds) => {
        const changed = JSON.stringify(published.at(-1) ?? []) !== JSON.stringify(userIds);
        published.push([...userIds]);
        return { changed };
      },
    };
    usage.emit('2026-10-31T07:00:00Z', dollars('u1', 70));
    usage.emit('2026-10-31T09:00:00Z', dollars('ci', 45));
    const deps = { ingest: services.ingestDaily, budgets: services.evaluateBudgets, budgetActions: { blockAtPercent: 110, blockList } };

    clock.set('2026-10-31T08:05:00Z');
    expect((await ingestHourly(deps)).blocked).toEqual({ teams: [], userIds: [], changed: false });
    clock.set('2026-10-31T10:05:00Z');
    expect((await ingestHourly(deps)).blocked).toEqual({ teams: ['payments'], userIds: ['ci', 'u1'], changed: true });
    // November: no spend yet, the block lifts at the first run of the period.
    clock.set('2026-11-01T00:05:00Z');
    expect((await ingestHourly(deps)).blocked).toEqual({ teams: [], userIds: [], changed: true });
    expect(published).toEqual([[], ['ci', 'u1'], []]);
  });
});
