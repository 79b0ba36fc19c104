import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { dayLinePartitionKey, TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableIngestRunLog } from '../../shared/adapters/azure/table-ingest-runs.js';
import { summarizeTeamDays, type DayLine } from '../../shared/domain/daily.js';
import { money } from '../../shared/domain/money.js';
import type { IngestRun } from '../../shared/ports/ingest-runs.js';
import { tokens } from '../support/domain-fixtures.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

async function freshStore() {
  const lines = tableClientFor(azuriteConnectionString(), uniqueTableName('dailylines'));
  const totals = tableClientFor(azuriteConnectionString(), uniqueTableName('dailytotals'));
  return { store: await TableDailyRollupStore.create(lines, totals), lines, totals };
}

function dayLine(overrides: Partial<DayLine> & Pick<DayLine, 'day' | 'teamId' | 'userId'>): DayLine {
  return {
    model: 'claude-sonnet-4-6',
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: 'Ada',
    upn: 'ada@contoso.example',
    pricedModel: 'claude-sonnet-4-6',
    tokens: tokens({ input: 1000, output: 20, cacheRead: 3_000_000_000 }),
    requests: 2,
    cost: money('0.0123456789'),
    priceEntryId: 'claude-sonnet-4-6@2026-01-01',
    currency: 'USD',
    ...overrides,
  };
}

describe('TableDailyRollupStore against Azurite', () => {
  it('stores a day exactly, with escaped keys, unpriced lines and Int64 counts, and reads it back', async () => {
    const { store } = await freshStore();
    const lines = [
      dayLine({ day: '2026-10-03', teamId: 'payments', userId: 'u1' }),
      dayLine({ day: '2026-10-03', teamId: 'payments', userId: 'u1', model: 'vendor/odd model#1', pricedModel: null, cost: null, priceEntryId: null }),
      dayLine({ day: '2026-10-03', teamId: '_unallocated', userId: '', allocation: 'no-user-id', userName: '', upn: '' }),
    ];
    const result = await store.replaceDay('2026-10-03', lines);
    expect(result).toEqual({ lines: 3, deletedLines: 0, totals: 2, deletedTotals: 0 });

    const read = await store.readDay('2026-10-03');
    expect(read).toHaveLength(3);
    const byModel = new Map(read.map((line) => [`${line.teamId}|${line.userId}|${line.model}`, line]));
    const unpriced = byModel.get('payments|u1|vendor/odd model#1')!;
    expect(unpriced).toMatchObject({ cost: null, priceEntryId: null, pricedModel: null });
    const priced = byModel.get('payments|u1|claude-sonnet-4-6')!;
    expect(priced.cost!.toFixed()).toBe('0.0123456789');
    expect(priced.tokens.cacheRead).toBe(3_000_000_000);
    expect(byModel.get('_unallocated||claude-sonnet-4-6')).toMatchObject({ allocation: 'no-user-id', userId: '' });

    const payments = await store.readTeamDailySeries('2026-10', 'payments');
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ month: '2026-10', day: '2026-10-03', teamId: 'payments', lines: 2, requests: 4 });
    expect(payments[0]!.cost.toFixed()).toBe('0.0123456789');
    expect(payments[0]!.unpricedTokens.input).toBe(1000);
    expect(payments[0]!.tokens.input).toBe(2000);
  });

  it('replaces a day without adding to it: changed counts overwrite, vanished lines and team totals are deleted, other days stay', async () => {
    const { store } = await freshStore();
    await store.replaceDay('2026-10-03', [dayLine({ day: '2026-10-03', teamId: 'payments', userId: 'u1' }), dayLine({ day: '2026-10-03', teamId: 'platform', userId: 'u2' })]);
    await store.replaceDay('2026-10-04', [dayLine({ day: '2026-10-04', teamId: 'platform', userId: 'u2' })]);

    const restated = [dayLine({ day: '2026-10-03', teamId: 'platform', userId: 'u2', tokens: tokens({ input: 5 }), requests: 9, cost: money('1.5') })];
    expect(await store.replaceDay('2026-10-03', restated)).toEqual({ lines: 1, deletedLines: 1, totals: 1, deletedTotals: 1 });

    const day3 = await store.readDay('2026-10-03');
    expect(day3.map((line) => [line.teamId, line.userId, line.tokens.input, line.requests])).toEqual([['platform', 'u2', 5, 9]]);
    expect(await store.readTeamDailySeries('2026-10', 'payments')).toEqual([]);
    const platform = await store.readTeamDailySeries('2026-10', 'platform');
    expect(platform.map((total) => [total.day, total.tokens.input, total.cost.toFixed()])).toEqual([
      ['2026-10-03', 5, '1.5'],
      ['2026-10-04', 1000, '0.0123456789'],
    ]);
    expect(await store.readDay('2026-10-04')).toHaveLength(1);

    // The same replace again changes nothing.
    expect(await store.replaceDay('2026-10-03', restated)).toEqual({ lines: 1, deletedLines: 0, totals: 1, deletedTotals: 0 });
    expect(await store.readDay('2026-10-03')).toEqual(day3);
  });

  it('writes more than one transaction per partition and empties a day when given no lines', async () => {
    const { store, lines: linesClient } = await freshStore();
    const many = Array.from({ length: 250 }, (_, index) => dayLine({ day: '2026-10-05', teamId: 'payments', userId: `user-${String(index).padStart(3, '0')}` }));
    await store.replaceDay('2026-10-05', many);
    expect(await store.readDay('2026-10-05')).toHaveLength(250);
    const [total] = await store.readTeamDailySeries('2026-10', 'payments');
    expect(total).toMatchObject({ lines: 250, requests: 500 });
    expect(total!.cost.eq(money('0.0123456789').times(250))).toBe(true);
    expect(summarizeTeamDays('2026-10-05', many)[0]!.cost.eq(total!.cost)).toBe(true);

    const partition = dayLinePartitionKey('2026-10-05', 'payments');
    expect(await store.replaceDay('2026-10-05', [])).toEqual({ lines: 0, deletedLines: 250, totals: 0, deletedTotals: 1 });
    const left = linesClient.listEntities({ queryOptions: { filter: `PartitionKey eq '${partition}'` } });
    let count = 0;
    for await (const _ of left) count += 1;
    expect(count).toBe(0);
    expect(await store.readMonthDailySeries('2026-10')).toEqual([]);
  });

  it('keeps each month its own series and a team prefix does not match a longer team id', async () => {
    const { store } = await freshStore();
    await store.replaceDay('2026-10-31', [dayLine({ day: '2026-10-31', teamId: 'pay', userId: 'u1' }), dayLine({ day: '2026-10-31', teamId: 'pay-ops', userId: 'u2' })]);
    await store.replaceDay('2026-11-01', [dayLine({ day: '2026-11-01', teamId: 'pay', userId: 'u1' })]);
    expect((await store.readTeamDailySeries('2026-10', 'pay')).map((t) => t.day)).toEqual(['2026-10-31']);
    expect((await store.readMonthDailySeries('2026-10')).map((t) => t.teamId)).toEqual(['pay', 'pay-ops']);
    expect((await store.readMonthDailySeries('2026-11')).map((t) => `${t.teamId} ${t.day}`)).toEqual(['pay 2026-11-01']);
  });

  it('refuses a line of another day', async () => {
    const { store } = await freshStore();
    await expect(store.replaceDay('2026-10-03', [dayLine({ day: '2026-10-04', teamId: 'payments', userId: 'u1' })])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('TableIngestRunLog against Azurite', () => {
  function run(overrides: Partial<IngestRun> & Pick<IngestRun, 'id' | 'startedAt' | 'status'>): IngestRun {
    return {
      trigger: 'timer',
      finishedAt: new Date(overrides.startedAt.getTime() + 1500),
      durationMs: 1500,
      firstDay: '2026-10-17',
      lastDay: '2026-10-19',
      dayCount: 3,
      windowStart: new Date('2026-10-17T00:00:00Z'),
      windowEnd: new Date('2026-10-20T00:00:00Z'),
      rows: 10,
      lines: 8,
      rejects: 1,
      coveredThrough: '2026-10-19',
      ...overrides,
    };
  }

  it('keeps the history newest first and the last success apart from later failures', async () => {
    const log = await TableIngestRunLog.create(tableClientFor(azuriteConnectionString(), uniqueTableName('ingestruns')));
    expect(await log.lastSucceeded()).toBeUndefined();
    const ok = run({ id: 'a', startedAt: new Date('2026-10-20T05:30:00Z'), status: 'succeeded' });
    const failed = run({ id: 'b', startedAt: new Date('2026-10-21T05:30:00Z'), status: 'failed', error: 'USAGE_PARTIAL_RESULT: partial', lines: 0 });
    await log.record(ok);
    await log.record(failed);
    expect(await log.lastSucceeded()).toEqual(ok);
    const recent = await log.recent(5);
    expect(recent.map((r) => r.id)).toEqual(['b', 'a']);
    expect(recent[0]).toEqual(failed);
    expect((await log.recent(1)).map((r) => r.id)).toEqual(['b']);
  });
});
