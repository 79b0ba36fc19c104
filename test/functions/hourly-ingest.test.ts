import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { hourlyIngestHandler, type HourlyIngestServices } from '../../functions/hourly-ingest.js';
import { DailyStoreTeamSpendSource } from '../../shared/adapters/daily-store-spend.js';
import { parseBudgetDocument } from '../../shared/domain/budgets.js';
import type { GatewayBlockList } from '../../shared/ports/gateway-block-list.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryAlertLedger, InMemoryDailyRollupStore, InMemoryIngestRunLog, RecordingMailer, StaticDirectory, StaticPriceBooks, WindowedUsageSource } from '../support/in-memory.js';

/** Keeps what the gateway would be told. */
class RecordingBlockList implements GatewayBlockList {
  readonly published: (readonly string[])[] = [];
  async publish(userIds: readonly string[]) {
    this.published.push([...userIds]);
    return { changed: true };
  }
}

function services(now: string) {
  // u1 spends $2 today (a million Sonnet input tokens at $2 per million from 16 October) of Payments' $1 budget: 200%.
  const usage = new WindowedUsageSource([usageRow({ day: '2026-10-20', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })]);
  const dailyRollups = new InMemoryDailyRollupStore();
  const ingestRuns = new InMemoryIngestRunLog();
  const mailer = new RecordingMailer();
  const blockList = new RecordingBlockList();
  const clock = fixedClock(now);
  const directory = new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'payments' }], [{ id: 'payments', name: 'Payments', leads: ['lead@contoso.example'] }]));
  const priceBooks = new StaticPriceBooks(testPriceBook());
  const spend = new DailyStoreTeamSpendSource(dailyRollups);
  const built: HourlyIngestServices = {
    ingestDaily: { usageSource: usage, directory, priceBooks, dailyRollups, ingestRuns, clock, logger: silentLogger, settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: 31 } },
    evaluateBudgets: {
      budgets: { load: async ({ currency }) => parseBudgetDocument({ currency: 'USD', defaults: { forecastThresholds: [] }, teams: [{ teamId: 'payments', amount: '1' }] }, 'budgets.json', { currency }) },
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
    budgetActions: { blockAtPercent: 100, blockList },
  };
  return { built, ingestRuns, mailer, blockList };
}

function invocation() {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId: 'test', functionName: 'hourlyIngest', logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`) });
  return { context, logs };
}

const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };

describe('the hourly ingest timer', () => {
  it('ingests today so far, alerts the lead and blocks the team past its budget, logging to the invocation', async () => {
    const { built, ingestRuns, mailer, blockList } = services('2026-10-20T10:05:00Z');
    const { context, logs } = invocation();
    const result = await hourlyIngestHandler(async () => built)(timer, context);

    expect(result.ingest.days).toEqual(['2026-10-20']);
    expect(ingestRuns.runs).toMatchObject([{ status: 'succeeded', trigger: 'hourly' }]);
    expect(mailer.sent.map((mail) => mail.to)).toEqual([['lead@contoso.example']]);
    expect(blockList.published).toEqual([['u1']]);
    expect(logs.some((line) => line.startsWith('information:') && line.includes('hourly ingest of 2026-10-20 to 2026-10-20'))).toBe(true);
  });

  it('logs and rethrows a failure so the host records it', async () => {
    const { context, logs } = invocation();
    await expect(hourlyIngestHandler(async () => Promise.reject(new Error('storage is down')))(timer, context)).rejects.toThrow('storage is down');
    expect(logs.some((line) => line.startsWith('error:') && line.includes('hourly ingest failed'))).toBe(true);
  });
});
