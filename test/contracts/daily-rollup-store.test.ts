import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableIngestRunLog } from '../../shared/adapters/azure/table-ingest-runs.js';
import { buildDayLines, type DayLine } from '../../shared/domain/daily.js';
import type { DayIngestSummary } from '../../shared/domain/day-ingest.js';
import type { DailyRollupStore } from '../../shared/ports/daily-rollup-store.js';
import type { IngestRun, IngestRunLog } from '../../shared/ports/ingest-runs.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { InMemoryDailyRollupStore, InMemoryIngestRunLog } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The DailyRollupStore and IngestRunLog contracts: the Table adapters on Azurite and the in-memory fakes. */
const stores: [string, () => Promise<DailyRollupStore>][] = [
  [
    'TableDailyRollupStore (Azurite)',
    () => TableDailyRollupStore.create(tableClientFor(azuriteConnectionString(), uniqueTableName('daylinecontract')), tableClientFor(azuriteConnectionString(), uniqueTableName('daytotalcontract'))),
  ],
  ['InMemoryDailyRollupStore', async () => new InMemoryDailyRollupStore()],
];
const runLogs: [string, () => Promise<IngestRunLog>][] = [
  ['TableIngestRunLog (Azurite)', () => TableIngestRunLog.create(tableClientFor(azuriteConnectionString(), uniqueTableName('runcontract')))],
  ['InMemoryIngestRunLog', async () => new InMemoryIngestRunLog()],
];

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'pay' },
    { userId: 'u2', teamId: 'pay-ops' },
    { userId: 'u3', teamId: 'pay' },
  ],
  [
    { id: 'pay', name: 'Pay', leads: [] },
    { id: 'pay-ops', name: 'Pay ops', leads: [] },
  ],
);

function dayLines(day: string, users: readonly string[], input = 1_000): DayLine[] {
  const rows = users.flatMap((userId) => [
    usageRow({ day, userId, tokens: tokens({ input, output: 3 }) }),
    usageRow({ day, userId, model: 'unknown-model', tokens: tokens({ input: 2 }) }),
  ]);
  return buildDayLines(day, rows, directory, testPriceBook());
}

const key = (line: DayLine) => `${line.teamId}|${line.userId}|${line.model}|${line.tier}`;
const view = (lines: readonly DayLine[]) => lines.map((line) => [key(line), line.tokens.input, line.requests, line.cost?.toFixed() ?? null]).sort();

describe.each(stores)('%s', (_name, create) => {
  it('replaces a day without adding to it, and leaves the other days alone', async () => {
    const store = await create();
    await store.replaceDay('2026-10-03', dayLines('2026-10-03', ['u1', 'u2']));
    await store.replaceDay('2026-10-04', dayLines('2026-10-04', ['u2']));
    const restated = dayLines('2026-10-03', ['u1'], 5_000);
    expect(await store.replaceDay('2026-10-03', restated)).toEqual({ lines: 2, deletedLines: 2, totals: 1, deletedTotals: 1 });
    expect(view(await store.readDay('2026-10-03'))).toEqual(view(restated));
    expect(view(await store.readDay('2026-10-04'))).toEqual(view(dayLines('2026-10-04', ['u2'])));
    expect(await store.replaceDay('2026-10-03', restated)).toEqual({ lines: 2, deletedLines: 0, totals: 1, deletedTotals: 0 });
  });

  it('reads one team\u2019s days through a day, in day order, and a team id is not a prefix', async () => {
    const store = await create();
    for (const day of ['2026-10-01', '2026-10-02', '2026-10-03', '2026-11-01']) await store.replaceDay(day, dayLines(day, ['u3', 'u1', 'u2']));
    const lines = await store.readTeamDays('2026-10', 'pay', '2026-10-02');
    expect(lines.map((line) => `${line.day} ${line.userId} ${line.model}`)).toEqual([
      '2026-10-01 u1 claude-sonnet-4-6',
      '2026-10-01 u1 unknown-model',
      '2026-10-01 u3 claude-sonnet-4-6',
      '2026-10-01 u3 unknown-model',
      '2026-10-02 u1 claude-sonnet-4-6',
      '2026-10-02 u1 unknown-model',
      '2026-10-02 u3 claude-sonnet-4-6',
      '2026-10-02 u3 unknown-model',
    ]);
    expect(await store.readTeamDays('2026-10', 'pay', '2026-09-30')).toEqual([]);
    expect((await store.readTeamDays('2026-10', 'pay', '2026-12-31')).map((line) => line.day)).not.toContain('2026-11-01');
  });

  it('keeps per-team daily totals of each month, by team then day', async () => {
    const store = await create();
    await store.replaceDay('2026-10-31', dayLines('2026-10-31', ['u1', 'u2', 'u3']));
    await store.replaceDay('2026-10-30', dayLines('2026-10-30', ['u1']));
    await store.replaceDay('2026-11-01', dayLines('2026-11-01', ['u1']));
    expect((await store.readTeamDailySeries('2026-10', 'pay')).map((total) => [total.day, total.tokens.input, total.requests])).toEqual([
      ['2026-10-30', 1_002, 2],
      ['2026-10-31', 2_004, 4],
    ]);
    expect((await store.readMonthDailySeries('2026-10')).map((total) => `${total.teamId} ${total.day}`)).toEqual(['pay 2026-10-30', 'pay 2026-10-31', 'pay-ops 2026-10-31']);
    expect(await store.replaceDay('2026-10-31', [])).toEqual({ lines: 0, deletedLines: 6, totals: 0, deletedTotals: 2 });
    expect((await store.readMonthDailySeries('2026-10')).map((total) => `${total.teamId} ${total.day}`)).toEqual(['pay 2026-10-30']);
  });

  it('refuses a line of another day', async () => {
    const store = await create();
    await expect(store.replaceDay('2026-10-03', dayLines('2026-10-04', ['u1']))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('keeps one ingest summary per day, apart from the team totals, and forgets it when the day is replaced', async () => {
    const store = await create();
    for (const day of ['2026-10-30', '2026-10-31', '2026-11-01']) {
      await store.replaceDay(day, dayLines(day, ['u1', 'u2']));
      await store.putDaySummary(summary(day));
    }
    const restated = { ...summary('2026-10-31'), runId: 'run-2', rows: 7 };
    await store.putDaySummary(restated);
    expect(await store.readDaySummaries('2026-10')).toEqual([summary('2026-10-30'), restated]);
    expect(await store.readDaySummaries('2026-09')).toEqual([]);
    // The summaries are not team totals: the month's series still lists only teams.
    expect((await store.readMonthDailySeries('2026-10')).map((total) => `${total.teamId} ${total.day}`)).toEqual(['pay 2026-10-30', 'pay 2026-10-31', 'pay-ops 2026-10-30', 'pay-ops 2026-10-31']);
    expect((await store.readTeamDailySeries('2026-10', 'pay')).map((total) => total.day)).toEqual(['2026-10-30', '2026-10-31']);

    // Replacing a day's lines drops its summary until the ingest records the new one, even with the same lines.
    await store.replaceDay('2026-10-31', dayLines('2026-10-31', ['u1', 'u2']));
    expect((await store.readDaySummaries('2026-10')).map((entry) => entry.day)).toEqual(['2026-10-30']);
    await store.replaceDay('2026-10-30', []);
    expect(await store.readDaySummaries('2026-10')).toEqual([]);
    expect((await store.readDaySummaries('2026-11')).map((entry) => entry.day)).toEqual(['2026-11-01']);
  });
});

/** A day's ingest summary with every kind of figure filled in, so a store that drops one fails the comparison. */
function summary(day: string): DayIngestSummary {
  return {
    day,
    runId: 'run-1',
    ingestedAt: new Date('2026-11-02T05:30:00.123Z'),
    sourceDescription: 'file export: usage-2026-10.ndjson',
    rows: 42,
    rejects: { count: 3, samples: [{ location: 'usage.ndjson:17', reason: 'valueSum is negative', raw: '-5' }, { location: 'usage.ndjson:18', reason: 'UserId contains a control character' }], byReason: { 'valueSum is negative': 2, 'UserId contains a control character': 1 } },
    reportedTotalTokens: 123_456_789,
    duplicates: 2,
    sourceFingerprint: 'f00dfeed',
    read: {
      key: 'read-key',
      rejects: { count: 1, samples: [{ location: 'usage.ndjson:1', reason: 'line is not JSON', raw: 'not json' }], byReason: { 'line is not JSON': 1 } },
      reportedTotalTokens: null,
      duplicates: 0,
      duplicateFiles: ['b.ndjson is the same file as a.ndjson (sha256 1a2b…)'],
      skipped: { 'outside window': 12, 'metric not used: Requests': 3 },
      inputs: [{ name: 'usage-2026-10.ndjson', sha256: 'ab'.repeat(32), rows: 999 }],
    },
  };
}

describe.each(runLogs)('%s', (_name, create) => {
  const run = (id: string, startedAt: string, status: IngestRun['status']): IngestRun => ({
    id,
    trigger: 'timer',
    status,
    startedAt: new Date(startedAt),
    finishedAt: new Date(new Date(startedAt).getTime() + 1500),
    durationMs: 1500,
    firstDay: '2026-10-17',
    lastDay: '2026-10-19',
    dayCount: 3,
    windowStart: new Date('2026-10-17T00:00:00Z'),
    windowEnd: new Date('2026-10-20T00:00:00Z'),
    rows: 10,
    lines: status === 'failed' ? 0 : 8,
    rejects: 1,
    coveredThrough: '2026-10-19',
    ...(status === 'failed' ? { error: 'USAGE_PARTIAL_RESULT: partial' } : {}),
  });

  it('keeps the history newest first and the last success apart from later failures', async () => {
    const log = await create();
    expect(await log.lastSucceeded()).toBeUndefined();
    expect(await log.recent(5)).toEqual([]);
    const first = run('a', '2026-10-20T05:30:00Z', 'succeeded');
    const second = run('b', '2026-10-21T05:30:00Z', 'succeeded');
    const failed = run('c', '2026-10-22T05:30:00Z', 'failed');
    for (const entry of [first, second, failed]) await log.record(entry);
    expect(await log.lastSucceeded()).toEqual(second);
    expect(await log.recent(5)).toEqual([failed, second, first]);
    expect((await log.recent(2)).map((entry) => entry.id)).toEqual(['c', 'b']);
  });
});
