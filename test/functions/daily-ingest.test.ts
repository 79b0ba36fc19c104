import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dailyIngestHandler } from '../../functions/daily-ingest.js';
import type { Services } from '../../shared/composition-root.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import type { IngestDailyDeps } from '../../shared/use-cases/ingest-daily.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryDailyRollupStore, InMemoryIngestRunLog, StaticDirectory, StaticPriceBooks, WindowedUsageSource } from '../support/in-memory.js';

function services() {
  const usage = new WindowedUsageSource([usageRow({ day: '2026-10-19', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })]);
  const dailyRollups = new InMemoryDailyRollupStore();
  const ingestRuns = new InMemoryIngestRunLog();
  const clock = fixedClock('2026-10-20T05:30:00Z');
  const ingestDaily: IngestDailyDeps = {
    usageSource: usage,
    directory: new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'payments' }], [{ id: 'payments', name: 'Payments', leads: [] }])),
    priceBooks: new StaticPriceBooks(testPriceBook()),
    dailyRollups,
    ingestRuns,
    clock,
    logger: silentLogger,
    settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: 31 },
  };
  // The handler reads only these members; the rest of Services belongs to other triggers.
  const built = { settings: { timeZone: 'UTC' }, clock, logger: silentLogger, ingestDaily } as unknown as Services;
  return { built, usage, dailyRollups, ingestRuns };
}

function invocation() {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId: 'test', functionName: 'dailyIngest', logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`) });
  return { context, logs };
}

const timer = (isPastDue: boolean): Timer => ({ isPastDue, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } });

describe('the daily ingest timer', () => {
  it('ingests the trailing days through the services and logs what it did to the invocation', async () => {
    const { built, dailyRollups, ingestRuns } = services();
    const { context, logs } = invocation();
    const result = await dailyIngestHandler(async () => built)(timer(true), context);

    expect(result.days).toEqual(['2026-10-17', '2026-10-18', '2026-10-19']);
    expect(result.months).toEqual(['2026-10']);
    expect(ingestRuns.runs).toMatchObject([{ status: 'succeeded', trigger: 'timer' }]);
    expect((await dailyRollups.readTeamDailySeries('2026-10', 'payments')).map((t) => t.day)).toEqual(['2026-10-19']);
    expect(logs.some((line) => line.startsWith('warning:') && line.includes('past due'))).toBe(true);
    expect(logs.some((line) => line.includes('ingested 2026-10-17 to 2026-10-19'))).toBe(true);
  });

  it('logs and rethrows a failure so the host records it, after recording the failed run', async () => {
    const { built, usage, ingestRuns } = services();
    usage.failuresLeft = 1;
    const { context, logs } = invocation();
    await expect(dailyIngestHandler(async () => built)(timer(false), context)).rejects.toMatchObject({ code: 'USAGE_PARTIAL_RESULT' });
    expect(ingestRuns.runs).toMatchObject([{ status: 'failed' }]);
    expect(logs.some((line) => line.startsWith('error:') && line.includes('daily ingest failed'))).toBe(true);
  });
});
