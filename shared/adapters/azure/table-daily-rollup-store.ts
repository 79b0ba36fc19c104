/**
 * Daily rollups in Azure Table Storage: two tables written together by replaceDay.
 *
 * Storage contract (schemaVersion 1):
 *
 * Day lines table (e.g. `chargebackDailyRollups`), one entity per team x user x model x tier x day:
 * - PartitionKey = `${day}~${encodeKeyPart(teamId)}`, e.g. `2026-10-03~platform`. One day is the contiguous
 *   PartitionKey range [`${day}~`, `${day}~~`) (encoded parts never hold `~` and sort below it), so a
 *   day is listed and replaced without touching any other day.
 * - RowKey = `${encodeKeyPart(userId)}~${encodeKeyPart(model)}~${encodeKeyPart(tier)}` (table-keys.ts).
 * - Properties: schemaVersion Int32; day, teamId, userId, model, tier, allocation, userName, upn, currency
 *   String; pricedModel String ('' = unknown to the price book); tokensInput, tokensOutput,
 *   tokensCacheRead, tokensCacheWrite5m, tokensCacheWrite1h, requests Int64; cost String (exact decimal,
 *   '' when no price was in force: the line is unpriced); priceEntryId String ('' when unpriced).
 *
 * Team totals table (e.g. `chargebackDailyTotals`), one entity per team x day, the sum of that team's lines:
 * - PartitionKey = `${month}`, e.g. `2026-10`: a month's series of every team is one partition.
 * - RowKey = `${encodeKeyPart(teamId)}~${day}`, so one team's month-to-date series is the RowKey range
 *   [`${team}~`, `${team}~~`) of that partition: one small query, in day order.
 * - Properties: schemaVersion Int32; month, day, teamId, currency String; tokens* and unpriced* (as in the
 *   monthly rollups) and requests Int64; cost String (exact decimal of the priced lines); lines Int32.
 *
 * replaceDay lists the day's stored keys in both tables, upserts the new entities (Replace mode, entity
 * group transactions of at most 100 entities of one partition, several partitions at a time), then deletes
 * the stored keys of that day that the new set lacks. Nothing is ever added to a stored count, so ingesting a
 * day again with late data leaves the new totals, and a crash half-way is completed exactly by a rerun.
 * Readers may briefly see a mix of old and new entities of the day being replaced.
 */
import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { Allocation } from '../../domain/directory.js';
import { summarizeTeamDays, type DayLine, type TeamDayTotal } from '../../domain/daily.js';
import { AppError } from '../../domain/errors.js';
import { money, type Money } from '../../domain/money.js';
import { daysOfMonth, monthOfDay, parseDay, parseMonth } from '../../domain/periods.js';
import { TOKEN_KINDS, type TokenCounts, type TokenKind } from '../../domain/tokens.js';
import type { DailyRollupStore, ReplaceDayResult } from '../../ports/daily-rollup-store.js';
import { ensureTable, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, joinKeyParts, KEY_PART_SEPARATOR } from './table-keys.js';

export const DAILY_SCHEMA_VERSION = 1;

const MAX_BATCH_ENTITIES = 100;
const DEFAULT_BATCH_CONCURRENCY = 8;
const TOKEN_PROPERTY: Record<TokenKind, string> = {
  input: 'Input',
  output: 'Output',
  cacheRead: 'CacheRead',
  cacheWrite5m: 'CacheWrite5m',
  cacheWrite1h: 'CacheWrite1h',
};
const ALLOCATIONS: readonly Allocation[] = ['team', 'no-user-id', 'unknown-user', 'former-user'];

type EntityKey = { partitionKey: string; rowKey: string };

export function dayLinePartitionKey(day: string, teamId: string): string {
  return `${encodeKeyPart(day)}${KEY_PART_SEPARATOR}${encodeKeyPart(teamId)}`;
}

export function dayLineRowKey(line: Pick<DayLine, 'userId' | 'model' | 'tier'>): string {
  return joinKeyParts([line.userId, line.model, line.tier]);
}

export function teamDayRowKey(teamId: string, day: string): string {
  return `${encodeKeyPart(teamId)}${KEY_PART_SEPARATOR}${encodeKeyPart(day)}`;
}

export class TableDailyRollupStore implements DailyRollupStore {
  private constructor(
    private readonly lines: TableClient,
    private readonly totals: TableClient,
    private readonly batchConcurrency: number,
  ) {}

  static async create(lines: TableClient, totals: TableClient, options: { batchConcurrency?: number } = {}): Promise<TableDailyRollupStore> {
    const concurrency = options.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new AppError('INVALID_ARGUMENT', `batchConcurrency must be a positive integer, got ${concurrency}`);
    }
    await Promise.all([ensureTable(lines), ensureTable(totals)]);
    return new TableDailyRollupStore(lines, totals, concurrency);
  }

  async replaceDay(day: string, lines: readonly DayLine[]): Promise<ReplaceDayResult> {
    assertCanonicalDay(day);
    const month = monthOfDay(day);
    const totals = summarizeTeamDays(day, lines);
    const lineEntities = keyed(lines.map(lineEntity), 'Two lines of the day share a key (team, user, model, tier)');
    const totalEntities = keyed(totals.map(totalEntity), 'Two team totals of the day share a key');

    const [storedLines, storedTotals] = await Promise.all([
      this.listKeys(this.lines, odata`PartitionKey ge ${dayRange(day).from} and PartitionKey lt ${dayRange(day).to}`, `list the stored lines of ${day}`),
      this.listKeys(this.totals, odata`PartitionKey eq ${month} and day eq ${day}`, `list the stored team totals of ${day}`),
    ]);
    const staleLines = storedLines.filter((key) => !lineEntities.has(entityId(key)));
    const staleTotals = storedTotals.filter((key) => !totalEntities.has(entityId(key)));

    const upsert = (entity: TableEntity): TransactionAction => ['upsert', entity, 'Replace'];
    const remove = (key: EntityKey): TransactionAction => ['delete', key];
    await this.submitAll(this.lines, batches([...lineEntities.values()], upsert), `write day lines of ${day}`);
    await this.submitAll(this.totals, batches([...totalEntities.values()], upsert), `write team totals of ${day}`);
    await this.submitAll(this.lines, batches(staleLines, remove), `delete stale day lines of ${day}`);
    await this.submitAll(this.totals, batches(staleTotals, remove), `delete stale team totals of ${day}`);
    return { lines: lineEntities.size, deletedLines: staleLines.length, totals: totalEntities.size, deletedTotals: staleTotals.length };
  }

  async readDay(day: string): Promise<DayLine[]> {
    assertCanonicalDay(day);
    const { from, to } = dayRange(day);
    const entities = await this.list(this.lines, odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `read the lines of ${day}`);
    return entities.map(lineFromEntity).sort(compareDayLines);
  }

  async readTeamDays(month: string, teamId: string, throughDay: string): Promise<DayLine[]> {
    assertCanonicalMonth(month);
    assertCanonicalDay(throughDay);
    const days = daysOfMonth(month).filter((day) => day <= throughDay);
    const byDay: DayLine[][] = new Array(days.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < days.length) {
        const index = next++;
        const day = days[index]!;
        const partitionKey = dayLinePartitionKey(day, teamId);
        try {
          const entities = await this.list(this.lines, odata`PartitionKey eq ${partitionKey}`, `read the lines of team ${teamId} on ${day}`);
          byDay[index] = entities.map(lineFromEntity).sort(compareDayLines);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    // Each day is its own partition: a few single-partition queries at a time instead of a range scan
    // over every team's partitions of the month.
    await Promise.all(Array.from({ length: Math.min(this.batchConcurrency, days.length) }, worker));
    return byDay.flat();
  }

  async readTeamDailySeries(month: string, teamId: string): Promise<TeamDayTotal[]> {
    assertCanonicalMonth(month);
    const prefix = `${encodeKeyPart(teamId)}${KEY_PART_SEPARATOR}`;
    const filter = odata`PartitionKey eq ${month} and RowKey ge ${prefix} and RowKey lt ${prefix + KEY_PART_SEPARATOR}`;
    const entities = await this.list(this.totals, filter, `read the daily series of team ${teamId} in ${month}`);
    return entities.map(totalFromEntity).sort(compareTotals);
  }

  async readMonthDailySeries(month: string): Promise<TeamDayTotal[]> {
    assertCanonicalMonth(month);
    const entities = await this.list(this.totals, odata`PartitionKey eq ${month}`, `read the daily series of ${month}`);
    return entities.map(totalFromEntity).sort(compareTotals);
  }

  private async list(client: TableClient, filter: string, action: string): Promise<Record<string, unknown>[]> {
    const entities: Record<string, unknown>[] = [];
    try {
      for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) entities.push(entity);
    } catch (error) {
      throw storageError(action, error);
    }
    return entities;
  }

  private async listKeys(client: TableClient, filter: string, action: string): Promise<EntityKey[]> {
    const keys: EntityKey[] = [];
    try {
      for await (const entity of client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
        keys.push({ partitionKey: entity.partitionKey!, rowKey: entity.rowKey! });
      }
    } catch (error) {
      throw storageError(action, error);
    }
    return keys;
  }

  private async submitAll(client: TableClient, work: TransactionAction[][], action: string): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (!failure && next < work.length) {
        const batch = work[next++]!;
        try {
          await client.submitTransaction(batch);
        } catch (error) {
          failure ??= { error: storageError(`${action} (a batch of ${batch.length} in partition ${batch[0]![1].partitionKey})`, error) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.batchConcurrency, work.length) }, worker));
    if (failure) throw failure.error;
  }
}

function dayRange(day: string): { from: string; to: string } {
  const prefix = `${encodeKeyPart(day)}${KEY_PART_SEPARATOR}`;
  return { from: prefix, to: `${prefix}${KEY_PART_SEPARATOR}` };
}

function assertCanonicalDay(day: string): void {
  if (parseDay(day) !== day) throw new AppError('INVALID_ARGUMENT', `"${day}" is not a day: expected YYYY-MM-DD`);
}

function assertCanonicalMonth(month: string): void {
  if (parseMonth(month) !== month) throw new AppError('INVALID_ARGUMENT', `"${month}" is not a month: expected YYYY-MM`);
}

function entityId(key: EntityKey): string {
  return `${key.partitionKey}\u0000${key.rowKey}`;
}

function keyed<T extends EntityKey>(items: readonly T[], duplicateMessage: string): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) {
    const id = entityId(item);
    if (map.has(id)) throw new AppError('INVALID_ARGUMENT', `${duplicateMessage}: PartitionKey "${item.partitionKey}", RowKey "${item.rowKey}"`);
    map.set(id, item);
  }
  return map;
}

/** Groups by partition, in key order, into transactions of at most 100 (a day line is far below 4 MiB / 100). */
function batches<T extends EntityKey>(items: readonly T[], toAction: (item: T) => TransactionAction): TransactionAction[][] {
  const byPartition = new Map<string, T[]>();
  for (const item of items) {
    const list = byPartition.get(item.partitionKey) ?? [];
    list.push(item);
    byPartition.set(item.partitionKey, list);
  }
  const result: TransactionAction[][] = [];
  for (const partitionKey of [...byPartition.keys()].sort()) {
    const rows = byPartition.get(partitionKey)!.sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0));
    for (let index = 0; index < rows.length; index += MAX_BATCH_ENTITIES) {
      result.push(rows.slice(index, index + MAX_BATCH_ENTITIES).map(toAction));
    }
  }
  return result;
}

function describeLine(line: DayLine): string {
  return `Day line ${line.day} team "${line.teamId}" user "${line.userId.slice(0, 60)}" model "${line.model.slice(0, 60)}" tier "${line.tier.slice(0, 60)}"`;
}

function count(value: number, what: string, owner: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new AppError('INVALID_ARGUMENT', `${owner}: ${what} must be a non-negative safe integer, got ${value}`);
  return BigInt(value);
}

function lineEntity(line: DayLine): TableEntity & EntityKey {
  const owner = describeLine(line);
  const partitionKey = dayLinePartitionKey(line.day, line.teamId);
  const rowKey = dayLineRowKey(line);
  assertKeySize(partitionKey, 'PartitionKey', owner);
  assertKeySize(rowKey, 'RowKey', owner);
  const entity: TableEntity & EntityKey = {
    partitionKey,
    rowKey,
    schemaVersion: DAILY_SCHEMA_VERSION,
    day: line.day,
    teamId: line.teamId,
    userId: line.userId,
    model: line.model,
    tier: line.tier,
    allocation: line.allocation,
    userName: line.userName,
    upn: line.upn,
    pricedModel: line.pricedModel ?? '',
    requests: count(line.requests, 'requests', owner),
    cost: line.cost === null ? '' : line.cost.toFixed(),
    priceEntryId: line.priceEntryId ?? '',
    currency: line.currency,
  };
  for (const kind of TOKEN_KINDS) entity[`tokens${TOKEN_PROPERTY[kind]}`] = count(line.tokens[kind], `tokens.${kind}`, owner);
  return entity;
}

function totalEntity(total: TeamDayTotal): TableEntity & EntityKey {
  const owner = `Team total ${total.day} team "${total.teamId}"`;
  const entity: TableEntity & EntityKey = {
    partitionKey: encodeKeyPart(total.month),
    rowKey: teamDayRowKey(total.teamId, total.day),
    schemaVersion: DAILY_SCHEMA_VERSION,
    month: total.month,
    day: total.day,
    teamId: total.teamId,
    requests: count(total.requests, 'requests', owner),
    cost: total.cost.toFixed(),
    currency: total.currency,
    lines: total.lines,
  };
  assertKeySize(entity.rowKey, 'RowKey', owner);
  for (const kind of TOKEN_KINDS) {
    entity[`tokens${TOKEN_PROPERTY[kind]}`] = count(total.tokens[kind], `tokens.${kind}`, owner);
    entity[`unpriced${TOKEN_PROPERTY[kind]}`] = count(total.unpricedTokens[kind], `unpricedTokens.${kind}`, owner);
  }
  return entity;
}

function reader(entity: Record<string, unknown>, what: string) {
  const corrupt = (why: string): AppError =>
    new AppError('STORAGE_FAILED', `Stored ${what} PartitionKey "${String(entity.partitionKey)}", RowKey "${String(entity.rowKey)}" is not readable: ${why}`);
  if (entity.schemaVersion !== DAILY_SCHEMA_VERSION) throw corrupt(`schemaVersion ${String(entity.schemaVersion)}, this code reads ${DAILY_SCHEMA_VERSION}`);
  const text = (name: string): string => {
    const value = entity[name];
    if (value === undefined) return '';
    if (typeof value !== 'string') throw corrupt(`${name} is not a string`);
    return value;
  };
  const integer = (name: string): number => {
    const value = entity[name];
    const result = typeof value === 'bigint' ? Number(value) : value;
    if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < 0) throw corrupt(`${name} is not a count`);
    return result;
  };
  const decimal = (name: string): Money => {
    const value = text(name);
    try {
      return money(value);
    } catch {
      throw corrupt(`${name} "${value}" is not a decimal`);
    }
  };
  const tokens = (prefix: string): TokenCounts => {
    const counts = {} as TokenCounts;
    for (const kind of TOKEN_KINDS) counts[kind] = integer(`${prefix}${TOKEN_PROPERTY[kind]}`);
    return counts;
  };
  return { text, integer, decimal, tokens, corrupt };
}

function lineFromEntity(entity: Record<string, unknown>): DayLine {
  const read = reader(entity, 'day line');
  const allocation = read.text('allocation') as Allocation;
  if (!ALLOCATIONS.includes(allocation)) throw read.corrupt(`allocation "${allocation}" is unknown`);
  const priced = read.text('cost') !== '';
  return {
    day: read.text('day'),
    teamId: read.text('teamId'),
    userId: read.text('userId'),
    model: read.text('model'),
    tier: read.text('tier'),
    allocation,
    userName: read.text('userName'),
    upn: read.text('upn'),
    pricedModel: read.text('pricedModel') === '' ? null : read.text('pricedModel'),
    tokens: read.tokens('tokens'),
    requests: read.integer('requests'),
    cost: priced ? read.decimal('cost') : null,
    priceEntryId: priced ? read.text('priceEntryId') : null,
    currency: read.text('currency'),
  };
}

function totalFromEntity(entity: Record<string, unknown>): TeamDayTotal {
  const read = reader(entity, 'team day total');
  return {
    month: read.text('month'),
    day: read.text('day'),
    teamId: read.text('teamId'),
    tokens: read.tokens('tokens'),
    requests: read.integer('requests'),
    cost: read.decimal('cost'),
    unpricedTokens: read.tokens('unpriced'),
    currency: read.text('currency'),
    lines: read.integer('lines'),
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareDayLines(a: DayLine, b: DayLine): number {
  return compareText(a.teamId, b.teamId) || compareText(a.userId, b.userId) || compareText(a.model, b.model) || compareText(a.tier, b.tier);
}

function compareTotals(a: TeamDayTotal, b: TeamDayTotal): number {
  return compareText(a.teamId, b.teamId) || compareText(a.day, b.day);
}
