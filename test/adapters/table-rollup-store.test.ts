import { RestError, TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { rollupPartitionKey, rollupRowKey, TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import { AppError } from '../../shared/domain/errors.js';
import { money } from '../../shared/domain/money.js';
import { compareLines, type DayUsage, type MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens, type TokenCounts } from '../../shared/domain/tokens.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const MONTH = '2026-10';

function freshClient(): TableClient {
  return tableClientFor(azuriteConnectionString(), uniqueTableName('rollups'));
}

function tokens(input: number, output = 0, cacheRead = 0, cacheWrite5m = 0, cacheWrite1h = 0): TokenCounts {
  return { input, output, cacheRead, cacheWrite5m, cacheWrite1h };
}

function line(overrides: Partial<MonthlyLine> & Pick<MonthlyLine, 'teamId' | 'userId' | 'model'>): MonthlyLine {
  const days: readonly DayUsage[] = overrides.days ?? [
    { day: `${overrides.month ?? MONTH}-01`, tokens: tokens(1000, 200, 30_000, 40, 5), requests: 3, cost: money('0.012345'), priceEntryId: 'sonnet-2026-01' },
  ];
  return {
    month: MONTH,
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: 'Ada Lovelace',
    upn: 'ada@example.com',
    pricedModel: 'claude-sonnet-4-5',
    tokens: tokens(1000, 200, 30_000, 40, 5),
    requests: 3,
    cost: money('0.012345'),
    unpricedTokens: zeroTokens(),
    currency: 'USD',
    priceEntryIds: ['sonnet-2026-01'],
    ...overrides,
    days,
  };
}

/** Every stored property of every line entity (not the month's published-revision pointer), without the service-assigned timestamp and etag. */
async function storedEntities(client: TableClient): Promise<Record<string, unknown>[]> {
  const entities: Record<string, unknown>[] = [];
  for await (const entity of client.listEntities<Record<string, unknown>>({ disableTypeConversion: true })) {
    if (entity.partitionKey === 'published') continue;
    const { etag: _etag, timestamp: _timestamp, ...rest } = entity as Record<string, unknown>;
    delete rest['Timestamp'];
    entities.push(rest);
  }
  return entities.sort((a, b) => `${String(a.partitionKey)}\u0000${String(a.rowKey)}`.localeCompare(`${String(b.partitionKey)}\u0000${String(b.rowKey)}`));
}

/** Comparable form of lines: Money as exact strings. */
function plain(lines: readonly MonthlyLine[]): unknown {
  return JSON.parse(JSON.stringify(lines, (_key, value: unknown) => (value !== null && typeof value === 'object' && 'toFixed' in value ? `money:${(value as { toFixed(): string }).toFixed()}` : value)));
}

function manyLines(count: number, teamId = 'platform', modelSuffix = ''): MonthlyLine[] {
  return Array.from({ length: count }, (_, i) => line({ teamId, userId: `user-${String(i).padStart(4, '0')}`, model: `claude-sonnet-4-5${modelSuffix}` }));
}

/** A transaction as it went over the wire: the method of each operation and the request's size. */
interface SentTransaction {
  readonly methods: string[];
  readonly bytes: number;
}

/**
 * Watches the client's transactions on the wire (a pipeline policy outside its retries): records each and,
 * optionally, fails every one after the first `failAfter` as a crashed or unreachable service would.
 */
function instrument(client: TableClient, failAfter = Infinity): { batches: SentTransaction[] } {
  const seen = { batches: [] as SentTransaction[] };
  client.pipeline.addPolicy({
    name: 'watch-transactions',
    async sendRequest(request, next) {
      if (!request.url.endsWith('/$batch')) return next(request);
      if (seen.batches.length >= failAfter) throw new RestError('simulated crash', { statusCode: 503 });
      const body = String(request.body);
      const methods = [...body.matchAll(/^(PUT|DELETE|POST|PATCH|MERGE) \S+ HTTP\/1\.1$/gm)].map((match) => match[1]!);
      seen.batches.push({ methods, bytes: Buffer.byteLength(body) });
      return next(request);
    },
  });
  return seen;
}

const awkward: MonthlyLine[] = [
  line({ teamId: 'platform', userId: 'u-1', model: 'claude-sonnet-4-5', cost: money('0.000003'), days: [
    { day: '2026-10-01', tokens: tokens(1), requests: 1, cost: money('0.000003'), priceEntryId: 'sonnet-2026-01' },
  ], tokens: tokens(1), requests: 1 }),
  line({
    teamId: '_unallocated',
    userId: '',
    allocation: 'no-user-id',
    userName: '',
    upn: '',
    model: 'vendor/claude#3?x~y%z ünïcødé 🚀',
    pricedModel: null,
    cost: money(0),
    tokens: tokens(5_000_000_000, 7, 0, 0, 0),
    unpricedTokens: tokens(5_000_000_000, 7, 0, 0, 0),
    requests: 12,
    priceEntryIds: [],
    days: [
      { day: '2026-10-02', tokens: tokens(4_999_999_999, 3), requests: 10, cost: null, priceEntryId: null },
      { day: '2026-10-31', tokens: tokens(1, 4), requests: 2, cost: null, priceEntryId: null },
    ],
  }),
  line({
    teamId: 'platform',
    userId: 'u-2',
    model: 'claude-opus-4-1',
    tier: 'Claude.Premium',
    cost: money('1234.5678901234567890123'),
    tokens: tokens(20, 22, 33, 44, 55),
    unpricedTokens: tokens(9),
    requests: 3,
    priceEntryIds: ['opus-2026-01', 'opus-2026-10-15'],
    days: [
      { day: '2026-10-14', tokens: tokens(10, 20, 30, 40, 50), requests: 1, cost: money('1000'), priceEntryId: 'opus-2026-01' },
      { day: '2026-10-15', tokens: tokens(1, 2, 3, 4, 5), requests: 1, cost: money('234.5678901234567890123'), priceEntryId: 'opus-2026-10-15' },
      { day: '2026-10-16', tokens: tokens(9), requests: 1, cost: null, priceEntryId: null },
    ],
  }),
  line({ teamId: 'data', userId: '-', model: "o'brien's model" }),
];

describe('TableRollupStore on Azurite', () => {
  it('returns exactly the lines it stored, awkward ids, unpriced days and exact costs included', async () => {
    const store = await TableRollupStore.create(freshClient());
    const result = await store.replaceMonth(MONTH, awkward);
    expect(result).toEqual({ written: 4, deleted: 0 });

    const month = await store.readMonth(MONTH);
    expect(plain(month)).toEqual(plain([...awkward].sort(compareLines)));
    expect(month.find((l) => l.userId === '')!.days[0]!.cost).toBeNull();
    expect(month.find((l) => l.userId === 'u-1')!.cost.toFixed()).toBe('0.000003');
    expect(month.find((l) => l.userId === '')!.tokens.input).toBe(5_000_000_000);
  });

  it('stores counts as Int64 and money as exact decimal strings', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    await store.replaceMonth(MONTH, awkward);
    const entity = await client.getEntity<Record<string, unknown>>(rollupPartitionKey(MONTH, 'platform'), rollupRowKey(awkward[2]!), { disableTypeConversion: true });
    expect(entity.tokensInput).toEqual({ type: 'Int64', value: '20' });
    expect(entity.unpricedInput).toEqual({ type: 'Int64', value: '9' });
    expect(entity.requests).toEqual({ type: 'Int64', value: '3' });
    expect(entity.cost).toEqual({ type: 'String', value: '1234.5678901234567890123' });
    expect(JSON.parse((entity.days as { value: string }).value)).toEqual([
      ['2026-10-14', 10, 20, 30, 40, 50, 1, '1000', 'opus-2026-01'],
      ['2026-10-15', 1, 2, 3, 4, 5, 1, '234.5678901234567890123', 'opus-2026-10-15'],
      ['2026-10-16', 9, 0, 0, 0, 0, 1, null, null],
    ]);
  });

  it('writes the days as the same JSON text it always did, escapes included', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const quoted = line({
      teamId: 'platform',
      userId: 'u-quoted',
      model: 'claude-sonnet-4-5',
      days: [
        { day: '2026-10-01', tokens: tokens(1, 2, 3, 4, 5), requests: 6, cost: money('0.000003'), priceEntryId: 'say "hi"\\ é@2026-10-01' },
        { day: '2026-10-02', tokens: tokens(9_007_199_254_740_991), requests: 0, cost: null, priceEntryId: null },
      ],
    });
    await store.replaceMonth(MONTH, [quoted]);
    const entity = await client.getEntity<Record<string, unknown>>(rollupPartitionKey(MONTH, 'platform'), rollupRowKey(quoted), { disableTypeConversion: true });
    expect((entity.days as { value: string }).value).toBe(
      '[["2026-10-01",1,2,3,4,5,6,"0.000003","say \\"hi\\"\\\\ é@2026-10-01"],["2026-10-02",9007199254740991,0,0,0,0,0,null,null]]',
    );
  });

  it('leaves identical entities when the same month is replaced twice', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    await store.replaceMonth(MONTH, awkward);
    const first = await storedEntities(client);
    expect(await store.replaceMonth(MONTH, awkward)).toEqual({ written: 4, deleted: 0 });
    expect(await storedEntities(client)).toEqual(first);
    expect(first).toHaveLength(4);
  });

  it('deletes lines that are no longer produced, and only within the month replaced', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const november = line({ month: '2026-11', teamId: 'platform', userId: 'u-1', model: 'claude-sonnet-4-5' });
    const september = line({ month: '2026-09', teamId: 'data', userId: '', model: 'x/y' });
    await store.replaceMonth('2026-11', [november]);
    await store.replaceMonth('2026-09', [september]);
    await store.replaceMonth(MONTH, awkward);

    // The unallocated line (empty user, escaped model) is the one that disappears.
    const kept = awkward.filter((l) => l.userId !== '');
    expect(await store.replaceMonth(MONTH, kept)).toEqual({ written: 3, deleted: 1 });
    expect(plain(await store.readMonth(MONTH))).toEqual(plain([...kept].sort(compareLines)));
    expect(plain(await store.readMonth('2026-11'))).toEqual(plain([november]));
    expect(plain(await store.readMonth('2026-09'))).toEqual(plain([september]));

    expect(await store.replaceMonth(MONTH, [])).toEqual({ written: 0, deleted: 3 });
    expect(await store.readMonth(MONTH)).toEqual([]);
    expect(await store.readMonth('2026-11')).toHaveLength(1);
  });

  it('reads one team with a single-partition query', async () => {
    const store = await TableRollupStore.create(freshClient());
    await store.replaceMonth(MONTH, awkward);
    const platform = await store.readTeamMonth(MONTH, 'platform');
    expect(platform.map((l) => l.userId)).toEqual(['u-1', 'u-2']);
    expect((await store.readTeamMonth(MONTH, '_unallocated')).map((l) => l.model)).toEqual(['vendor/claude#3?x~y%z ünïcødé 🚀']);
    expect(await store.readTeamMonth(MONTH, 'nobody')).toEqual([]);
    expect(await store.readTeamMonth('2026-11', 'platform')).toEqual([]);
  });

  it('writes a 250-line partition in batches of 100, 100 and 50 and reports progress', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const seen = instrument(client);
    const progress: [number, number][] = [];
    const lines = manyLines(250);
    await store.replaceMonth(MONTH, lines, (done, total) => progress.push([done, total]));
    expect(seen.batches.map((b) => b.methods.length)).toEqual([100, 100, 50]);
    // An upsert that replaces the whole entity is a PUT without If-Match.
    expect(seen.batches.every((b) => b.methods.every((method) => method === 'PUT'))).toBe(true);
    expect(progress).toEqual([[1, 3], [2, 3], [3, 3]]);
    expect(await store.readTeamMonth(MONTH, 'platform')).toHaveLength(250);
  });

  it('keeps each transaction under 4 MiB when entities are large', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const seen = instrument(client);
    const bulky = manyLines(100).map((l) => ({ ...l, userName: 'é'.repeat(30_000) }));
    await store.replaceMonth(MONTH, bulky);
    expect(seen.batches.length).toBeGreaterThan(1);
    expect(seen.batches.flatMap((b) => b.methods)).toHaveLength(100);
    for (const batch of seen.batches) expect(batch.bytes).toBeLessThan(4 * 1024 * 1024);
    expect(plain(await store.readTeamMonth(MONTH, 'platform'))).toEqual(plain(bulky));
  });

  it('completes exactly on a rerun after crashing halfway', async () => {
    const before = [...manyLines(150, 'platform'), ...manyLines(120, 'data'), ...manyLines(30, 'research')];
    const after = [...manyLines(130, 'platform', '-v2'), ...manyLines(120, 'data'), ...manyLines(40, 'support')];

    // What a replace that never failed leaves behind.
    const referenceClient = freshClient();
    const reference = await TableRollupStore.create(referenceClient);
    await reference.replaceMonth(MONTH, before);
    await reference.replaceMonth(MONTH, after);
    const expected = await storedEntities(referenceClient);

    const client = freshClient();
    await (await TableRollupStore.create(client)).replaceMonth(MONTH, before);
    const crashing = await TableRollupStore.create(client, { batchConcurrency: 2 });
    instrument(client, 3);
    const failure = await crashing.replaceMonth(MONTH, after).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('STORAGE_FAILED');
    expect((failure as AppError).retryable).toBe(true);
    expect(await storedEntities(client)).not.toEqual(expected);

    const healthy = await TableRollupStore.create(tableClientFor(azuriteConnectionString(), client.tableName));
    const rerun = await healthy.replaceMonth(MONTH, after);
    expect(rerun.written).toBe(290);
    expect(rerun.deleted).toBe(150 + 30);
    expect(await storedEntities(client)).toEqual(expected);
    expect(expected).toHaveLength(290);
  });

  it('refuses a line whose key would pass 1 KiB, before writing anything', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const tooLong = line({ teamId: 'platform', userId: 'u-3', model: `claude/${'é'.repeat(200)}` });
    const failure = await store.replaceMonth(MONTH, [awkward[0]!, tooLong]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('STORAGE_FAILED');
    expect((failure as AppError).retryable).toBe(false);
    expect((failure as AppError).message).toMatch(/user "u-3".*RowKey would be \d+ bytes.*1024-byte limit/);
    expect(await storedEntities(client)).toEqual([]);
  });

  it('refuses a line whose days would pass the 64 KiB string limit, before writing anything, and stores one just under it', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    const daysWith = (idChars: number): DayUsage[] =>
      Array.from({ length: 31 }, (_, index) => ({
        day: `${MONTH}-${String(index + 1).padStart(2, '0')}`,
        tokens: tokens(10),
        requests: 1,
        cost: money('0.5'),
        priceEntryId: `p${'x'.repeat(idChars - 1)}`,
      }));
    // 31 days of about 1,100 characters is over 32,768 characters of JSON; of 900, under it.
    const tooBig = line({ teamId: 'platform', userId: 'u-big', model: 'claude-sonnet-4-5', days: daysWith(1_100) });
    const failure = await store.replaceMonth(MONTH, [awkward[0]!, tooBig]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).message).toMatch(/user "u-big".*property days is \d+ characters, over Table Storage's 64 KiB string limit/);
    expect(await storedEntities(client)).toEqual([]);

    const justUnder = line({ teamId: 'platform', userId: 'u-big', model: 'claude-sonnet-4-5', days: daysWith(900) });
    await store.replaceMonth(MONTH, [justUnder]);
    expect(plain(await store.readTeamMonth(MONTH, 'platform'))).toEqual(plain([justUnder]));
  });

  it('refuses duplicate keys and lines of another month', async () => {
    const store = await TableRollupStore.create(freshClient());
    await expect(store.replaceMonth(MONTH, [awkward[0]!, awkward[0]!])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.replaceMonth('2026-11', [awkward[0]!])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.readMonth('2026-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reports a storage failure as a non-retryable STORAGE_FAILED when the table is gone', async () => {
    const client = freshClient();
    const store = await TableRollupStore.create(client);
    await client.deleteTable();
    const failure = await store.readMonth(MONTH).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('STORAGE_FAILED');
    expect((failure as AppError).retryable).toBe(false);
    expect((failure as AppError).message).toMatch(/read month 2026-10.*HTTP 404/);
  });
});
