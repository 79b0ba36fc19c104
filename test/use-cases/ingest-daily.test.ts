import { describe, expect, it } from 'vitest';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';
import { money } from '../../shared/domain/money.js';
import { silentLogger, type Logger } from '../../shared/ports/runtime.js';
import { ingestDaily, planIngest, type IngestDailyDeps } from '../../shared/use-cases/ingest-daily.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryDailyRollupStore, InMemoryIngestRunLog, StaticDirectory, StaticPriceBooks, WindowedUsageSource } from '../support/in-memory.js';

const TEAMS = [
  { id: 'payments', name: 'Payments', leads: ['pay@contoso.example'] },
  { id: 'platform', name: 'Platform', leads: ['plat@contoso.example'] },
];

function setup(options: { now?: string; maxCatchUpDays?: number } = {}) {
  const usage = new WindowedUsageSource([
    usageRow({ day: '2026-10-15', userId: 'u1', tokens: tokens({ input: 1_000_000 }) }),
    usageRow({ day: '2026-10-17', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }), requests: 4 }),
    usageRow({ day: '2026-10-18', userId: 'u1', tokens: tokens({ input: 1_000_000 }), requests: 2 }),
    usageRow({ day: '2026-10-18', userId: 'u2', model: 'claude-haiku-4-5', tokens: tokens({ output: 1_000_000 }) }),
    usageRow({ day: '2026-10-19', userId: '', tokens: tokens({ input: 10 }) }),
    usageRow({ day: '2026-10-19', userId: 'u2', model: 'mystery-model', tokens: tokens({ input: 500 }) }),
  ]);
  const directory = new StaticDirectory(
    testDirectory(
      [
        { userId: 'u1', teamId: 'payments' },
        { userId: 'u2', teamId: 'platform' },
      ],
      TEAMS,
    ),
  );
  const dailyRollups = new InMemoryDailyRollupStore();
  const ingestRuns = new InMemoryIngestRunLog();
  const clock = fixedClock(options.now ?? '2026-10-20T05:30:00Z');
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };
  const deps: IngestDailyDeps = {
    usageSource: usage,
    directory,
    priceBooks: new StaticPriceBooks(testPriceBook()),
    dailyRollups,
    ingestRuns,
    clock,
    logger,
    settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: options.maxCatchUpDays ?? 31 },
  };
  return { deps, usage, dailyRollups, ingestRuns, clock, warnings };
}

/** Everything the store holds, in a form two runs can be compared by. */
function snapshot(store: InMemoryDailyRollupStore) {
  return JSON.stringify([...store.days.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

describe('planIngest', () => {
  it('reads the trailing complete days, never today', () => {
    expect(planIngest('2026-10-20', { trailingDays: 3, maxCatchUpDays: 31, coveredThrough: '2026-10-19' })).toEqual({
      firstDay: '2026-10-17',
      lastDay: '2026-10-19',
      catchUpDays: 0,
      notCaughtUp: null,
    });
  });

  it('reaches back to the first missed day, across a month boundary', () => {
    expect(planIngest('2026-11-03', { trailingDays: 3, maxCatchUpDays: 31, coveredThrough: '2026-10-27' })).toEqual({
      firstDay: '2026-10-28',
      lastDay: '2026-11-02',
      catchUpDays: 3,
      notCaughtUp: null,
    });
  });

  it('caps the catch-up and names the days left behind', () => {
    expect(planIngest('2026-12-15', { trailingDays: 3, maxCatchUpDays: 31, coveredThrough: '2026-10-19' })).toEqual({
      firstDay: '2026-11-14',
      lastDay: '2026-12-14',
      catchUpDays: 28,
      notCaughtUp: { from: '2026-10-20', to: '2026-11-13' },
    });
  });
});

describe('ingesting daily usage', () => {
  it('stores priced day lines and per-team totals for the trailing complete days, and records the run', async () => {
    const { deps, dailyRollups, ingestRuns, usage } = setup();
    const result = await ingestDaily(deps, { trigger: 'test' });

    expect(result.days).toEqual(['2026-10-17', '2026-10-18', '2026-10-19']);
    expect(result.months).toEqual(['2026-10']);
    expect(usage.windows).toEqual([{ start: new Date('2026-10-17T00:00:00Z'), end: new Date('2026-10-20T00:00:00Z') }]);
    // 2026-10-15 is outside the trailing window: not read, not stored.
    expect(dailyRollups.days.has('2026-10-15')).toBe(false);

    const [line17] = await dailyRollups.readDay('2026-10-17');
    // The price changed on 2026-10-16: 2M input at $2 + 0.1M output at $10.
    expect(line17).toMatchObject({ teamId: 'payments', userId: 'u1', requests: 4, priceEntryId: 'claude-sonnet-4-6@2026-10-16' });
    expect(line17!.cost!.toFixed()).toBe('5');

    const day19 = await dailyRollups.readDay('2026-10-19');
    expect(day19.map((line) => [line.teamId, line.allocation, line.cost === null])).toEqual([
      [UNALLOCATED_TEAM, 'no-user-id', false],
      ['platform', 'team', true],
    ]);

    const platform = await dailyRollups.readTeamDailySeries('2026-10', 'platform');
    expect(platform.map((total) => [total.day, total.cost.toFixed(), total.unpricedTokens.input, total.tokens.output])).toEqual([
      ['2026-10-18', '5', 0, 1_000_000],
      ['2026-10-19', '0', 500, 0],
    ]);

    expect(ingestRuns.runs).toHaveLength(1);
    expect(ingestRuns.runs[0]).toMatchObject({
      status: 'succeeded',
      trigger: 'test',
      firstDay: '2026-10-17',
      lastDay: '2026-10-19',
      dayCount: 3,
      rows: 5,
      lines: 5,
      rejects: 0,
      coveredThrough: '2026-10-19',
    });
    expect(result.run).toEqual(ingestRuns.runs[0]);
  });

  it('leaves identical rows when the same data is ingested twice', async () => {
    const { deps, dailyRollups } = setup();
    await ingestDaily(deps);
    const first = snapshot(dailyRollups);
    const again = await ingestDaily(deps);
    expect(snapshot(dailyRollups)).toBe(first);
    expect(again.stored).toEqual({ lines: 5, deletedLines: 0, totals: 5, deletedTotals: 0 });
  });

  it('restates an earlier day to the new totals when late data arrives inside the window, never adding to the old ones', async () => {
    const { deps, dailyRollups, usage, clock } = setup();
    await ingestDaily(deps);
    expect((await dailyRollups.readTeamDailySeries('2026-10', 'payments')).find((t) => t.day === '2026-10-18')!.tokens.input).toBe(1_000_000);

    // Late metrics for 2026-10-18 reach App Insights: the source now sums 1.5M input for that key.
    usage.rows = usage.rows.map((row) => (row.day === '2026-10-18' && row.userId === 'u1' ? { ...row, tokens: tokens({ input: 1_500_000 }), requests: 3 } : row));
    clock.set('2026-10-21T05:30:00Z');
    const result = await ingestDaily(deps);

    expect(result.days).toEqual(['2026-10-18', '2026-10-19', '2026-10-20']);
    const [line] = (await dailyRollups.readDay('2026-10-18')).filter((l) => l.userId === 'u1');
    expect(line).toMatchObject({ requests: 3, tokens: tokens({ input: 1_500_000 }) });
    const total18 = (await dailyRollups.readTeamDailySeries('2026-10', 'payments')).find((t) => t.day === '2026-10-18')!;
    expect(total18.tokens.input).toBe(1_500_000);
    expect(total18.cost.eq(money('3'))).toBe(true);
    // A day outside the new window keeps what it had.
    expect((await dailyRollups.readDay('2026-10-17'))[0]!.tokens.input).toBe(2_000_000);
  });

  it('moves a day line to the new team and removes the old team total when a user changes team', async () => {
    const { deps, dailyRollups } = setup();
    await ingestDaily(deps);
    const moved = { ...deps, directory: new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'platform' }, { userId: 'u2', teamId: 'platform' }], TEAMS)) };
    const result = await ingestDaily(moved);
    expect(result.stored.deletedLines).toBe(2);
    expect(await dailyRollups.readTeamDailySeries('2026-10', 'payments')).toEqual([]);
    expect((await dailyRollups.readDay('2026-10-17')).map((l) => l.teamId)).toEqual(['platform']);
  });

  it('catches up the days missed since the last successful run', async () => {
    const { deps, dailyRollups, ingestRuns, clock, usage } = setup();
    await ingestDaily(deps);
    usage.rows.push(usageRow({ day: '2026-10-21', userId: 'u1', tokens: tokens({ input: 7 }) }));
    clock.set('2026-10-26T05:30:00Z');
    dailyRollups.replaced.length = 0;

    const result = await ingestDaily(deps);
    expect(result.plan).toMatchObject({ firstDay: '2026-10-20', lastDay: '2026-10-25', catchUpDays: 3, notCaughtUp: null });
    expect(dailyRollups.replaced).toEqual(['2026-10-20', '2026-10-21', '2026-10-22', '2026-10-23', '2026-10-24', '2026-10-25']);
    expect((await dailyRollups.readDay('2026-10-21'))[0]!.tokens.input).toBe(7);
    expect(ingestRuns.runs.at(-1)!.coveredThrough).toBe('2026-10-25');
  });

  it('caps the catch-up and warns about the days it leaves to a backfill', async () => {
    const { deps, clock, warnings } = setup({ maxCatchUpDays: 10 });
    await ingestDaily(deps);
    clock.set('2026-11-15T05:30:00Z');
    const result = await ingestDaily(deps);
    expect(result.plan).toMatchObject({ firstDay: '2026-11-05', lastDay: '2026-11-14', notCaughtUp: { from: '2026-10-20', to: '2026-11-04' } });
    expect(result.months).toEqual(['2026-11']);
    expect(warnings.join('\n')).toMatch(/2026-10-20 to 2026-11-04 .*catch-up limit/);
  });

  it('records a failed run and writes nothing when the usage read fails, then catches the days up on the next run', async () => {
    const { deps, dailyRollups, ingestRuns, usage, clock } = setup();
    await ingestDaily(deps);
    const before = snapshot(dailyRollups);
    dailyRollups.replaced.length = 0;

    usage.failuresLeft = 1;
    clock.set('2026-10-22T05:30:00Z');
    await expect(ingestDaily(deps)).rejects.toMatchObject({ code: 'USAGE_PARTIAL_RESULT' });
    expect(dailyRollups.replaced).toEqual([]);
    expect(snapshot(dailyRollups)).toBe(before);
    expect(ingestRuns.runs.at(-1)).toMatchObject({
      status: 'failed',
      firstDay: '2026-10-19',
      lastDay: '2026-10-21',
      lines: 0,
      coveredThrough: '2026-10-19',
      error: expect.stringContaining('partial result'),
    });

    clock.set('2026-10-25T05:30:00Z');
    const next = await ingestDaily(deps);
    expect(next.plan).toMatchObject({ firstDay: '2026-10-20', lastDay: '2026-10-24', catchUpDays: 2 });
  });

  it('is completed exactly by a rerun after a failure half-way through the writes', async () => {
    const clean = setup();
    await ingestDaily(clean.deps);

    const { deps, dailyRollups, ingestRuns } = setup();
    dailyRollups.failOnce.add('2026-10-18');
    await expect(ingestDaily(deps)).rejects.toBeInstanceOf(AppError);
    expect(ingestRuns.runs[0]).toMatchObject({ status: 'failed', coveredThrough: null, lines: 1 });
    expect(dailyRollups.days.has('2026-10-17')).toBe(true);
    expect(dailyRollups.days.has('2026-10-19')).toBe(false);

    await ingestDaily(deps);
    expect(snapshot(dailyRollups)).toBe(snapshot(clean.dailyRollups));
  });

  it('backfills an explicit range and advances the catch-up mark only over days joining what was covered', async () => {
    const { deps, ingestRuns, dailyRollups } = setup();
    const backfill = await ingestDaily(deps, { range: { from: '2026-10-01', to: '2026-10-16' } });
    expect(backfill.days).toHaveLength(16);
    expect((await dailyRollups.readDay('2026-10-15'))[0]!.tokens.input).toBe(1_000_000);
    expect(backfill.run.coveredThrough).toBe('2026-10-16');

    await ingestDaily(deps);
    expect(ingestRuns.runs.at(-1)!.coveredThrough).toBe('2026-10-19');
    // A later backfill of older days does not move the mark back.
    const older = await ingestDaily(deps, { range: { from: '2026-09-01', to: '2026-09-02' } });
    expect(older.run.coveredThrough).toBe('2026-10-19');
    await expect(ingestDaily(deps, { range: { from: '2026-10-20', to: '2026-10-21' } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('cuts days in the reporting time zone', async () => {
    const { deps, usage } = setup({ now: '2026-10-20T03:00:00Z' });
    await ingestDaily({ ...deps, settings: { ...deps.settings, timeZone: 'America/New_York', trailingDays: 1 } });
    // 03:00 UTC is still 2026-10-19 in New York: the last complete day there is 2026-10-18.
    expect(usage.windows.at(-1)).toEqual({ start: new Date('2026-10-18T04:00:00Z'), end: new Date('2026-10-19T04:00:00Z') });
  });
});
