/**
 * Monthly rollups in Azure Table Storage: one entity per monthly line, with its daily grain inside.
 *
 * Storage contract (schemaVersion 1):
 *
 * - PartitionKey = `${month}~${encodeKeyPart(teamId)}`, e.g. `2026-10~platform`, `2026-10~_unallocated`.
 *   One team's month is one partition, so a team lookup is a single-partition query, and a month is the
 *   contiguous PartitionKey range [`${month}~`, `${month}~~`) (encoded parts never hold `~` and every
 *   character they do hold sorts below it).
 * - RowKey = `${encodeKeyPart(userId)}~${encodeKeyPart(model)}~${encodeKeyPart(tier)}`. Key escaping is
 *   described in table-keys.ts: raw `A-Za-z0-9._-`, everything else `!XX` (UTF-8 bytes), the empty
 *   string (no UserId) as `!`. Keys over 1 KiB are refused rather than truncated.
 * - Properties:
 *     schemaVersion  Int32   1
 *     month, teamId, userId, model, tier, allocation, userName, upn, currency   String (unescaped values)
 *     pricedModel    String  '' when the price book did not know the model (null in MonthlyLine)
 *     tokensInput, tokensOutput, tokensCacheRead, tokensCacheWrite5m, tokensCacheWrite1h          Int64
 *     unpricedInput, unpricedOutput, unpricedCacheRead, unpricedCacheWrite5m, unpricedCacheWrite1h Int64
 *     requests       Int64
 *     cost           String  the exact decimal (e.g. "0.000003"), never a floating-point number
 *     priceEntryIds  String  JSON array of price entry ids, in day order
 *     days           String  JSON array of [day, input, output, cacheRead, cacheWrite5m, cacheWrite1h,
 *                            requests, cost string or null, priceEntryId or null], in day order
 *
 * Revisions: a close writes each revision r >= 1 under its own partitions, PartitionKey
 * `${month}.r${r}~${encodeKeyPart(teamId)}` (the same row keys and properties), where readers do not look,
 * and then moves the month's pointer (PartitionKey `published`, RowKey = month, property revision Int32) to
 * it in one write: readers see the old revision or the new one, never a mix. Lines of other revisions are
 * deleted after the pointer moved. Revision 0 is the layout above without a revision (`${month}~team`), which
 * replaceMonth writes and which a month without a pointer is read from (months stored before revisions were
 * kept apart).
 *
 * Writing a revision upserts (Replace mode, so a rerun leaves byte-identical properties) in entity group
 * transactions of at most 100 entities of one partition and under 4 MiB, several partitions at a time, then
 * deletes the revision's entities that are not in the new set. A crash half-way leaves the unpublished
 * revision half written, and rerunning the same write completes it exactly.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import { money, type Money } from '../../domain/money.js';
import { compareLines, DayColumnsBuilder, dayTuplesJson, dayTuplesOf, lineWithDayColumns, type DayTuple, type LineTotals, type MonthlyLine } from '../../domain/rollup.js';
import { TOKEN_KINDS } from '../../domain/tokens.js';
import type { ReplaceMonthResult, RollupStore } from '../../ports/rollup-store.js';
import { deleteOf, keyOf, submitEntityTransaction, upsertOf, type EntityProperties, type TransactionOperation } from './entity-transactions.js';
import { batchesOf, groupByPartition, listKeys, PER_OPERATION_OVERHEAD_BYTES, runPool, staleKeys, type EntityKey } from './table-batches.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, joinKeyParts, KEY_PART_SEPARATOR, keysStartingWith, MAX_KEY_BYTES } from './table-keys.js';
import { assertCanonicalMonth, entityReader, safeCount } from './table-usage-properties.js';
import type { CallOptions } from '../../ports/directory.js';

const ROLLUP_SCHEMA_VERSION = 1;

/** A String property holds at most 64 KiB, stored as UTF-16. */
const MAX_STRING_PROPERTY_CHARS = 32 * 1024;
/**
 * Transactions in flight at once. Each holds only its request body (about 230 KB at 100 lines) until the
 * service answers. Four keep the service busy while the close's thread builds workbooks between two answers
 * (closeMonth overlaps them); with two, Azurite waited on the thread and the store fell to 0.7 of its ceiling.
 */
export const DEFAULT_BATCH_CONCURRENCY = 4;

/** A line to be written: its keys and the size its entity was estimated at, not the entity. */
type PlannedEntity = EntityKey & { line: MonthlyLine; size: number };

export function rollupPartitionKey(month: string, teamId: string, revision = 0): string {
  return `${encodeKeyPart(revisionPrefix(month, revision))}${KEY_PART_SEPARATOR}${encodeKeyPart(teamId)}`;
}

const POINTER_PARTITION = 'published';

/** The first key part of a revision's partitions: the month itself for revision 0. */
function revisionPrefix(month: string, revision: number): string {
  if (!Number.isInteger(revision) || revision < 0) throw new AppError('INVALID_ARGUMENT', `a revision is a whole number from 0, got ${revision}`);
  return revision === 0 ? month : `${month}.r${revision}`;
}

/** Every partition of the month, all revisions: the legacy range and the `${month}.r…` range. */
function everyRevisionOf(month: string): string[] {
  const legacy = keysStartingWith(month);
  return [odata`PartitionKey ge ${legacy.from} and PartitionKey lt ${legacy.to}`, odata`PartitionKey ge ${`${month}.r`} and PartitionKey lt ${`${month}.s`}`];
}

export function rollupRowKey(line: Pick<MonthlyLine, 'userId' | 'model' | 'tier'>): string {
  return joinKeyParts([line.userId, line.model, line.tier]);
}

export class TableRollupStore implements RollupStore {
  private constructor(
    private readonly client: TableClient,
    private readonly batchConcurrency: number,
  ) {}

  static async create(client: TableClient, options: { batchConcurrency?: number } = {}): Promise<TableRollupStore> {
    const concurrency = options.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new AppError('INVALID_ARGUMENT', `batchConcurrency must be a positive integer, got ${concurrency}`);
    }
    await ensureTable(client);
    return new TableRollupStore(client, concurrency);
  }

  async replaceMonth(month: string, lines: readonly MonthlyLine[], onProgress?: (done: number, total: number) => void): Promise<ReplaceMonthResult> {
    const result = await this.writeRevision(month, 0, lines, onProgress);
    const before = await this.listOtherRevisions(month, 0);
    await this.publishRevision(month, 0);
    return { written: result.written, deleted: result.deleted + before };
  }

  async publishRevision(month: string, revision: number): Promise<void> {
    assertCanonicalMonth(month);
    revisionPrefix(month, revision);
    try {
      await this.client.upsertEntity({ partitionKey: POINTER_PARTITION, rowKey: month, revision }, 'Replace');
    } catch (error) {
      throw storageError(`publish revision ${revision} of ${month}`, error);
    }
    const own = keysStartingWith(revisionPrefix(month, revision));
    const stale: EntityKey[] = [];
    // The published revision's own keys are left out by the query, not listed and skipped: at 100,000 users
    // they are hundreds of thousands of keys, and the stale ones are usually none or one revision's.
    const outsideOwn = odata`(PartitionKey lt ${own.from} or PartitionKey ge ${own.to})`;
    for (const filter of everyRevisionOf(month)) {
      for (const key of await listKeys(this.client, `${filter} and ${outsideOwn}`, `list the stored keys of ${month}`)) {
        if (key.partitionKey >= own.from && key.partitionKey < own.to) continue;
        stale.push(key);
      }
    }
    const deletes = batchesOf(groupByPartition(stale, 'Duplicate stored key'), () => PER_OPERATION_OVERHEAD_BYTES);
    await runPool(deletes, this.batchConcurrency, async (batch) => {
      try {
        await submitEntityTransaction(this.client, batch.map(deleteOf));
      } catch (error) {
        throw storageError(`remove superseded lines of ${month}`, error);
      }
    });
  }

  async publishedRevision(month: string): Promise<number | undefined> {
    assertCanonicalMonth(month);
    try {
      const pointer = await this.client.getEntity<{ revision?: unknown }>(POINTER_PARTITION, month);
      const revision = typeof pointer.revision === 'bigint' ? Number(pointer.revision) : pointer.revision;
      if (typeof revision !== 'number' || !Number.isInteger(revision) || revision < 0) throw new AppError('STORAGE_FAILED', `the published revision of ${month} is not readable`);
      return revision;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (statusOf(error) !== 404) throw storageError(`read the published revision of ${month}`, error);
    }
    const legacy = keysStartingWith(month);
    const any = await listKeys(this.client, odata`PartitionKey ge ${legacy.from} and PartitionKey lt ${legacy.to}`, `read month ${month}`, 1);
    return any.length > 0 ? 0 : undefined;
  }

  async readRevision(month: string, revision: number): Promise<MonthlyLine[]> {
    assertCanonicalMonth(month);
    const { from, to } = keysStartingWith(revisionPrefix(month, revision));
    return this.list(odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `read revision ${revision} of ${month}`, fromEntity);
  }

  private async listOtherRevisions(month: string, revision: number): Promise<number> {
    const own = keysStartingWith(revisionPrefix(month, revision));
    let count = 0;
    for (const filter of everyRevisionOf(month)) {
      for (const key of await listKeys(this.client, filter, `list the stored keys of ${month}`)) {
        if (key.partitionKey < own.from || key.partitionKey >= own.to) count += 1;
      }
    }
    return count;
  }

  async writeRevision(month: string, revision: number, lines: readonly MonthlyLine[], onProgress?: (done: number, total: number) => void): Promise<ReplaceMonthResult> {
    assertCanonicalMonth(month);
    const prefix = revisionPrefix(month, revision);
    // Every line is checked, and its entity's size bounded, before anything is written; the entities themselves
    // (a month of daily grain is tens of MB of JSON) are built batch by batch, so only the batches in flight
    // are held.
    const partitionKeys = new Map<string, string>();
    const planned = lines.map((line): PlannedEntity => {
      let partitionKey = partitionKeys.get(line.teamId);
      if (partitionKey === undefined) {
        partitionKey = rollupPartitionKey(month, line.teamId, revision);
        partitionKeys.set(line.teamId, partitionKey);
      }
      const rowKey = rollupRowKey(line);
      return { partitionKey, rowKey, line, size: planLine(month, line, partitionKey, rowKey) };
    });
    const byPartition = groupByPartition(planned, 'Two lines of the month share a key (team, user, model, tier)');

    // Listing before writing gives a known total for progress; with one writer per month the stale set is the
    // same as if it were listed afterwards, because the writes only touch keys of the new set.
    const { from, to } = keysStartingWith(prefix);
    const storedKeys = await listKeys(this.client, odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `list the stored keys of ${month}`);
    const stale = staleKeys(storedKeys, byPartition);
    const upserts = batchesOf(byPartition, (item) => item.size);
    const deletes = batchesOf(groupByPartition(stale, 'Duplicate stored key'), () => PER_OPERATION_OVERHEAD_BYTES);

    const total = upserts.length + deletes.length;
    let done = 0;
    const submit = async (batch: TransactionOperation[]): Promise<void> => {
      // Only the description outlives the call: the batch's entities are free as soon as the request is sent.
      const what = `write a batch of ${batch.length} rollup entities of partition ${keyOf(batch[0]!).partitionKey}`;
      try {
        await submitEntityTransaction(this.client, batch);
      } catch (error) {
        throw storageError(what, error);
      }
      done += 1;
      onProgress?.(done, total);
    };
    await runPool(upserts, this.batchConcurrency, (batch) => submit(batch.map((item) => upsertOf(entityOf(item.line, item.partitionKey, item.rowKey)))));
    await runPool(deletes, this.batchConcurrency, (batch) => submit(batch.map(deleteOf)));
    return { written: planned.length, deleted: stale.length };
  }

  async readTeamMonth(month: string, teamId: string, options: CallOptions = {}): Promise<MonthlyLine[]> {
    assertCanonicalMonth(month);
    return this.readPublished(month, (revision) =>
      this.list(odata`PartitionKey eq ${rollupPartitionKey(month, teamId, revision)}`, `read team ${teamId} of ${month}`, fromEntity, { ...(options.signal ? { signal: options.signal } : {}) }),
    );
  }

  async readMonth(month: string, options: CallOptions = {}): Promise<MonthlyLine[]> {
    assertCanonicalMonth(month);
    return this.readPublished(month, (revision) => {
      const { from, to } = keysStartingWith(revisionPrefix(month, revision));
      return this.list(odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `read month ${month}`, fromEntity, options);
    });
  }

  async readMonthTotals(month: string, options: CallOptions = {}): Promise<LineTotals[]> {
    assertCanonicalMonth(month);
    return this.readPublished(month, async (revision) => {
      const { from, to } = keysStartingWith(revisionPrefix(month, revision));
      const filter = odata`PartitionKey ge ${from} and PartitionKey lt ${to}`;
      return this.list(filter, `read the totals of ${month}`, (entity) => totalsFromEntity(entity).totals, { ...options, select: TOTALS_PROPERTIES });
    });
  }

  /**
   * Reads what the pointer names. Should a publish move the pointer during the read (and so start removing the
   * lines being read), the read is made again from the new revision, so a reader never gets a mix.
   */
  private async readPublished<L extends LineTotals>(month: string, read: (revision: number) => Promise<L[]>): Promise<L[]> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const revision = await this.publishedRevision(month);
      if (revision === undefined) return [];
      const lines = await read(revision);
      if ((await this.publishedRevision(month)) === revision) return lines;
    }
    throw new AppError('STORAGE_FAILED', `the published revision of ${month} kept changing while it was read`, { retryable: true });
  }

  /** The lines a filter selects, each read by `read`, in line order; `select` leaves the other properties out. */
  private async list<L extends LineTotals>(filter: string, action: string, read: (entity: Record<string, unknown>) => L, options: CallOptions & { select?: string[] } = {}): Promise<L[]> {
    const lines: L[] = [];
    try {
      const entities = this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter, ...(options.select ? { select: options.select } : {}) },
        ...(options.signal ? { abortSignal: options.signal } : {}),
      });
      for await (const entity of entities) {
        lines.push(read(entity));
        // A page holds up to 1,000 entities: once per hundred is often enough to show the read is moving.
        if (lines.length % 100 === 0) options.onProgress?.();
      }
    } catch (error) {
      throw storageError(action, error);
    }
    return lines.sort(compareLines);
  }
}

function describeLine(line: Pick<MonthlyLine, 'month' | 'teamId' | 'userId' | 'model' | 'tier'>): string {
  const short = (text: string): string => (text.length > 60 ? `${text.slice(0, 60)}…(${text.length} chars)` : text);
  return `Rollup line ${line.month} team "${short(line.teamId)}" user "${short(line.userId)}" model "${short(line.model)}" tier "${short(line.tier)}"`;
}

/**
 * Checks everything about a line that its entity could be refused for, and bounds the entity's size, without
 * building it (the plan pass, over every line before anything is written: building entities here, days and
 * all, was half of the store's own CPU time). `entityOf` builds the entity of a line that passed.
 */
function planLine(month: string, line: MonthlyLine, partitionKey: string, rowKey: string): number {
  if (line.month !== month) {
    throw new AppError('INVALID_ARGUMENT', `${describeLine(line)} belongs to ${line.month}, not to the month being replaced (${month})`);
  }
  if (partitionKey.length > MAX_KEY_BYTES) assertKeySize(partitionKey, 'PartitionKey', describeLine(line));
  if (rowKey.length > MAX_KEY_BYTES) assertKeySize(rowKey, 'RowKey', describeLine(line));
  checkCount(line, line.requests, 'requests');
  for (const kind of TOKEN_KINDS) {
    checkCount(line, line.tokens[kind], `tokens.${kind}`);
    checkCount(line, line.unpricedTokens[kind], `unpricedTokens.${kind}`);
  }
  const texts: [string, string][] = [
    ['month', line.month],
    ['teamId', line.teamId],
    ['userId', line.userId],
    ['model', line.model],
    ['tier', line.tier],
    ['allocation', line.allocation],
    ['userName', line.userName],
    ['upn', line.upn],
    ['pricedModel', line.pricedModel ?? ''],
    ['currency', line.currency],
  ];
  let bytes = PER_OPERATION_OVERHEAD_BYTES + ENTITY_FRAME_BYTES + jsonTextBound(partitionKey) + jsonTextBound(rowKey);
  for (const [name, text] of texts) {
    checkTextLength(line, text.length, name);
    bytes += jsonTextBound(text);
  }
  const cost = line.cost.toFixed();
  const priceEntryIds = JSON.stringify(line.priceEntryIds);
  checkTextLength(line, priceEntryIds.length, 'priceEntryIds');
  bytes += jsonTextBound(cost) + jsonTextBound(priceEntryIds);

  let daysChars = 2;
  const days = dayTuplesOf(line);
  for (const [day, input, output, cacheRead, cacheWrite5m, cacheWrite1h, requests, cost, priceEntryId] of days) {
    checkCount(line, input, `${day} tokens.input`);
    checkCount(line, output, `${day} tokens.output`);
    checkCount(line, cacheRead, `${day} tokens.cacheRead`);
    checkCount(line, cacheWrite5m, `${day} tokens.cacheWrite5m`);
    checkCount(line, cacheWrite1h, `${day} tokens.cacheWrite1h`);
    checkCount(line, requests, `${day} requests`);
    // Brackets and commas, six safe integers of at most 16 digits, the day, the cost and the price entry id.
    daysChars += 11 + 6 * 16 + jsonTextBound(day) + (cost === null ? 4 : cost.length + 2) + (priceEntryId === null ? 4 : jsonTextBound(priceEntryId));
  }
  // The bound is far above the usual JSON (escaping every character, 16 digits a count); only past the limit is
  // the exact length needed, to refuse a line whose days do not fit.
  if (daysChars > MAX_STRING_PROPERTY_CHARS) {
    daysChars = JSON.stringify(days).length;
    checkTextLength(line, daysChars, 'days');
  }
  // The days property's own quotes, and its text (escaped again in the request body: the batch limit's margin
  // covers the backslashes before its quotes, as it always did).
  return bytes + 2 + daysChars;
}

/**
 * The entity of a line that planLine passed: one object literal of a fixed shape (the same properties in the
 * same order as ever) rather than a spread, computed property names and a scan of every property.
 */
function entityOf(line: MonthlyLine, partitionKey: string, rowKey: string): EntityProperties {
  const { tokens, unpricedTokens } = line;
  return {
    partitionKey,
    rowKey,
    schemaVersion: ROLLUP_SCHEMA_VERSION,
    month: line.month,
    teamId: line.teamId,
    userId: line.userId,
    model: line.model,
    tier: line.tier,
    allocation: line.allocation,
    userName: line.userName,
    upn: line.upn,
    pricedModel: line.pricedModel ?? '',
    requests: BigInt(line.requests),
    cost: line.cost.toFixed(),
    currency: line.currency,
    priceEntryIds: JSON.stringify(line.priceEntryIds),
    days: dayTuplesJson(line),
    // Counts go out as Edm.Int64: a month of cache reads can pass 2^31, where an untyped number would become a Double.
    tokensInput: BigInt(tokens.input),
    unpricedInput: BigInt(unpricedTokens.input),
    tokensOutput: BigInt(tokens.output),
    unpricedOutput: BigInt(unpricedTokens.output),
    tokensCacheRead: BigInt(tokens.cacheRead),
    unpricedCacheRead: BigInt(unpricedTokens.cacheRead),
    tokensCacheWrite5m: BigInt(tokens.cacheWrite5m),
    unpricedCacheWrite5m: BigInt(unpricedTokens.cacheWrite5m),
    tokensCacheWrite1h: BigInt(tokens.cacheWrite1h),
    unpricedCacheWrite1h: BigInt(unpricedTokens.cacheWrite1h),
  };
}

/** Property names, the schema version, the numbers and JSON punctuation of an entity: well under this. */
const ENTITY_FRAME_BYTES = 2048;

/** At least the characters and the UTF-8 bytes of `text` as a JSON string: every character escaped (6), quotes. */
function jsonTextBound(text: string): number {
  return text.length * 6 + 2;
}


function checkCount(line: MonthlyLine, value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) safeCount(value, what, describeLine(line));
}

function checkTextLength(line: MonthlyLine, chars: number, name: string): void {
  if (chars > MAX_STRING_PROPERTY_CHARS) {
    throw new AppError('STORAGE_FAILED', `${describeLine(line)}: property ${name} is ${chars} characters, over Table Storage's 64 KiB string limit`);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * One string per distinct day and price entry id across the lines read, instead of one per stored day: a month
 * has 31 days and a few entries, and millions of line-days. Bounded, so a long-lived host never grows it.
 */
const internedTexts = new Map<string, string>();
function interned(text: string): string {
  const known = internedTexts.get(text);
  if (known !== undefined) return known;
  if (internedTexts.size >= 4096) internedTexts.clear();
  internedTexts.set(text, text);
  return text;
}

/** Every stored property of a rollup entity but its days: what `readMonthTotals` asks the service for. */
const TOTALS_PROPERTIES = [
  'schemaVersion', 'month', 'teamId', 'userId', 'model', 'tier', 'allocation', 'userName', 'upn', 'pricedModel', 'requests', 'cost', 'currency', 'priceEntryIds',
  'tokensInput', 'unpricedInput', 'tokensOutput', 'unpricedOutput', 'tokensCacheRead', 'unpricedCacheRead',
  'tokensCacheWrite5m', 'unpricedCacheWrite5m', 'tokensCacheWrite1h', 'unpricedCacheWrite1h',
];

function fromEntity(entity: Record<string, unknown>): MonthlyLine {
  const { totals, json, corrupt } = totalsFromEntity(entity);
  const days = json('days');
  if (!Array.isArray(days)) throw corrupt('days is not a list');

  const columns = new DayColumnsBuilder();
  for (const [index, tuple] of days.entries()) {
    if (
      !Array.isArray(tuple) ||
      tuple.length !== 9 ||
      typeof tuple[0] !== 'string' ||
      !tuple.slice(1, 7).every(isCount) ||
      !(tuple[7] === null || typeof tuple[7] === 'string') ||
      !(tuple[8] === null || typeof tuple[8] === 'string')
    ) {
      throw corrupt(`days[${index}] is not a day tuple`);
    }
    const [day, input, output, cacheRead, cacheWrite5m, cacheWrite1h, requests, cost, priceEntryId] = tuple as DayTuple;
    columns.addCounts({ input, output, cacheRead, cacheWrite5m, cacheWrite1h }, requests);
    if (cost === null) columns.unpriced(interned(day), priceEntryId === null ? null : interned(priceEntryId));
    else {
      try {
        columns.pricedText(interned(day), cost, priceEntryId === null ? null : interned(priceEntryId));
      } catch {
        throw corrupt(`days[${index}].cost "${cost}" is not a decimal`);
      }
    }
  }
  return lineWithDayColumns(totals, columns.build());
}

function totalsFromEntity(entity: Record<string, unknown>): { totals: LineTotals; json: (name: string) => unknown; corrupt: (why: string) => Error } {
  const { text, count, tokens: readTokens, subject: readSubject, corrupt } = entityReader(entity, 'rollup entity', ROLLUP_SCHEMA_VERSION);
  const amount = (value: unknown, name: string): Money => {
    if (typeof value !== 'string' || value === '') throw corrupt(`${name} is not a decimal string`);
    try {
      return money(value);
    } catch {
      throw corrupt(`${name} "${value}" is not a decimal`);
    }
  };
  const json = (name: string): unknown => {
    try {
      return JSON.parse(text(name)) as unknown;
    } catch {
      throw corrupt(`${name} is not JSON`);
    }
  };

  const tokens = readTokens('tokens');
  const unpricedTokens = readTokens('unpriced');
  const subject = readSubject();
  const priceEntryIds = json('priceEntryIds');
  if (!Array.isArray(priceEntryIds) || !priceEntryIds.every((id) => typeof id === 'string')) throw corrupt('priceEntryIds is not a list of ids');
  return {
    totals: {
      month: text('month'),
      ...subject,
      tokens,
      requests: count('requests'),
      cost: amount(entity.cost, 'cost'),
      unpricedTokens,
      currency: text('currency'),
      priceEntryIds: priceEntryIds as string[],
    },
    json,
    corrupt,
  };
}
