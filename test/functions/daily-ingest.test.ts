import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dailyIngestHandler, type DailyIngestServices } from '../../functions/daily-ingest.js';
import { DailyStoreTeamSpendSource } from '../../shared/adapters/daily-store-spend.js';
import { parseBudgetDocument } from '../../shared/domain/budgets.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import {
  fixedClock,
  InMemoryAlertLedger,
  InMemoryDailyRollupStore,
  InMemoryIngestRunLog,
  RecordingMailer,
  StaticDirectory,
  StaticPriceBooks,
  WindowedUsageSource,
} from '../support/in-memory.js';

async function services() {
  // Sonnet input costs $3 per million tokens before 16 October and $2 from then on: $2 of a $3 budget is 66%.
  const usage = new WindowedUsageSource([usageRow({ day: '2026-10-19', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })]);
  const dailyRollups = new InMemoryDailyRollupStore();
  const ingestRuns = new InMemoryIngestRunLog();
  const mailer = new RecordingMailer();
  const clock = fixedClock('2026-10-20T05:30:00Z');
  const directory = new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'payments' }], [{ id: 'payments', name: 'Payments', leads: ['lead@contoso.example'] }]));
  const priceBooks = new StaticPriceBooks(testPriceBook());
  const spend = new DailyStoreTeamSpendSource(dailyRollups);
  const built: DailyIngestServices = {
    ingestDaily: {
      usageSource: usage,
      directory,
      priceBooks,
      dailyRollups,
      ingestRuns,
      clock,
      logger: silentLogger,
      settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: 31 },
    },
    evaluateBudgets: {
      budgets: { load: async ({ currency }) => parseBudgetDocument({ currency: 'USD', defaults: { forecastThresholds: [] }, teams: [{ teamId: 'payments', amount: '3' }] }, 'budgets.json', { currency }) },
      priceBooks,
      spend,
      details: spend,
      directory,
      alerts: new InMemoryAlertLedger(),
      mailer,
      clock,
      logger: silentLogger,
      settings: { timeZone: 'UTC', mailFrom: 'chargeback@contoso.example', financeRecipients: ['finance@contoso.example'], ccFinance: false, costLookupUrl: null, unallocatedAlertPercents: [] },
    },
  };
  return { built, usage, dailyRollups, ingestRuns, mailer };
}

function invocation() {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId: 'test', functionName: 'dailyIngest', logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`) });
  return { context, logs };
}

const timer = (isPastDue: boolean): Timer => ({ isPastDue, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } });

describe('the daily ingest timer', () => {
  it('ingests the trailing days through the services and logs what it did to the invocation', async () => {
    const { built, dailyRollups, ingestRuns, mailer } = await services();
    const { context, logs } = invocation();
    const result = await dailyIngestHandler(async () => built)(timer(true), context);

    // The budget step runs after the ingest and its failures are only logged: no error line means it ran.
    expect(logs.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(mailer.sent.map((mail) => [mail.to, mail.subject])).toEqual([[['lead@contoso.example'], 'Budget alert: Payments has spent 66.6% of its October 2026 LLM budget']]);

    expect(result.days).toEqual(['2026-10-17', '2026-10-18', '2026-10-19']);
    expect(result.months).toEqual(['2026-10']);
    expect(ingestRuns.runs).toMatchObject([{ status: 'succeeded', trigger: 'timer' }]);
    expect((await dailyRollups.readTeamDailySeries('2026-10', 'payments')).map((t) => t.day)).toEqual(['2026-10-19']);
    expect(logs.some((line) => line.startsWith('warning:') && line.includes('past due'))).toBe(true);
    expect(logs.some((line) => line.includes('ingested 2026-10-17 to 2026-10-19'))).toBe(true);
  });

  it('logs and rethrows a failure so the host records it, after recording the failed run', async () => {
    const { built, usage, ingestRuns } = await services();
    usage.failuresLeft = 1;
    const { context, logs } = invocation();
    await expect(dailyIngestHandler(async () => built)(timer(false), context)).rejects.toMatchObject({ code: 'USAGE_PARTIAL_RESULT' });
    expect(ingestRuns.runs).toMatchObject([{ status: 'failed' }]);
    expect(logs.some((line) => line.startsWith('error:') && line.includes('daily ingest failed'))).toBe(true);
  });
});
