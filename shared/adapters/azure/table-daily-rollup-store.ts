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
 * Ingest summaries (what the ingest read for a day: rows, rejects, the gateway total, repeats, a fingerprint of
 * what the source held) share the team totals table, one entity per day:
 * - PartitionKey = `${month}`; RowKey = `~ingest~${day}`: `~` sorts above every encoded team id, so the
 *   summaries are the RowKey range [`~ingest~`, `~ingest~~`) of the month and never fall in a team's range.
 * - Properties: schemaVersion Int32; day, runId, sourceDescription String; ingestedAt DateTime; rows Int64;
 *   figures String (JSON: rejects, reportedTotalTokens, duplicates, sourceFingerprint, read).
 * A summary carries the property `day` like the team totals of its day, and replaceDay deletes it before it
 * writes any line: a day being replaced (or left half replaced by a crash) reads as not completely ingested
 * until the ingest writes its new summary (putDaySummary), after the lines.
 *
 * replaceDay lists the day's stored keys in both tables, upserts the new entities (Replace mode, entity
 * group transactions of at most 100 entities of one partition, several partitions at a time), then deletes
 * the stored keys of that day that the new set lacks. Nothing is ever added to a stored count, so ingesting a
 * day again with late data leaves the new totals, and a crash half-way is completed exactly by a rerun.
 * Readers may briefly see a mix of old and new entities of the day being replaced.
 */
import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import { deleteOf, keyOf, submitEntityTransaction, upsertOf, type EntityProperties, type EntityValue, type TransactionOperation } from './entity-transactions.js';
import { summarizeTeamDays, type DayLine, type TeamDayTotal } from '../../domain/daily.js';
import type { DayIngestSummary } from '../../domain/day-ingest.js';
import type { RejectSummary } from '../../domain/usage.js';
import { AppError } from '../../domain/errors.js';
import { daysOfMonth, monthOfDay } from '../../domain/periods.js';
import { TOKEN_KINDS } from '../../domain/tokens.js';
import type { DailyRollupStore, ReplaceDayResult } from '../../ports/daily-rollup-store.js';
import { batchesOf, groupByPartition, listKeys, PER_OPERATION_OVERHEAD_BYTES, runPool, staleKeys, type EntityKey } from './table-batches.js';
import { ensureTable, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, joinKeyParts, KEY_PART_SEPARATOR, keysStartingWith } from './table-keys.js';
import { assertCanonicalDay, assertCanonicalMonth, entityReader, int64, subjectProperties, TOKEN_PROPERTY } from './table-usage-properties.js';
import type { CallOptions } from '../../ports/directory.js';

const DAILY_SCHEMA_VERSION = 1;

const DEFAULT_BATCH_CONCURRENCY = 8;

export function dayLinePartitionKey(day: string, teamId: string): string {
  return `${encodeKeyPart(day)}${KEY_PART_SEPARATOR}${encodeKeyPart(teamId)}`;
}

function dayLineRowKey(line: Pick<DayLine, 'userId' | 'model' | 'tier'>): string {
  return joinKeyParts([line.userId, line.model, line.tier]);
}

function teamDayRowKey(teamId: string, day: string): string {
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
    const lineEntities = groupByPartition(lines.map(lineEntity), 'Two lines of the day share a key (team, user, model, tier)');
    const totalEntities = groupByPartition(totals.map(totalEntity), 'Two team totals of the day share a key');

    const { from, to } = keysStartingWith(day);
    const [storedLines, storedTotals] = await Promise.all([
      listKeys(this.lines, odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `list the stored lines of ${day}`),
      listKeys(this.totals, odata`PartitionKey eq ${month} and day eq ${day}`, `list the stored team totals of ${day}`),
    ]);
    const staleLines = staleKeys(storedLines, lineEntities);
    // The day's ingest summary goes first, on its own: a crash while the lines are half replaced must leave
    // the day reading as not completely ingested, never as the old summary over a mix of lines.
    const summaryKeys = storedTotals.filter((key) => key.rowKey.startsWith(SUMMARY_ROW_PREFIX));
    const staleTotals = staleKeys(storedTotals.filter((key) => !summaryKeys.includes(key)), totalEntities);
    for (const key of summaryKeys) await this.deleteIfPresent(this.totals, key, `delete the ingest summary of ${day}`);

    await this.submitAll(this.lines, batches(lineEntities, upsertOf), `write day lines of ${day}`);
    await this.submitAll(this.totals, batches(totalEntities, upsertOf), `write team totals of ${day}`);
    await this.submitAll(this.lines, batches(groupByPartition(staleLines, 'Duplicate stored key'), deleteOf), `delete stale day lines of ${day}`);
    await this.submitAll(this.totals, batches(groupByPartition(staleTotals, 'Duplicate stored key'), deleteOf), `delete stale team totals of ${day}`);
    return { lines: lines.length, deletedLines: staleLines.length, totals: totals.length, deletedTotals: staleTotals.length };
  }

  async readDay(day: string): Promise<DayLine[]> {
    assertCanonicalDay(day);
    const { from, to } = keysStartingWith(day);
    const entities = await this.list(this.lines, odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, `read the lines of ${day}`);
    return entities.map(lineFromEntity).sort(compareDayLines);
  }

  async readTeamDays(month: string, teamId: string, throughDay: string, options: CallOptions = {}): Promise<DayLine[]> {
    assertCanonicalMonth(month);
    assertCanonicalDay(throughDay);
    const days = daysOfMonth(month).filter((day) => day <= throughDay);
    const byDay = new Map<string, DayLine[]>();
    // Each day is its own partition: a few single-partition queries at a time instead of a range scan
    // over every team's partitions of the month.
    await runPool(days, this.batchConcurrency, async (day) => {
      const partitionKey = dayLinePartitionKey(day, teamId);
      const entities = await this.list(this.lines, odata`PartitionKey eq ${partitionKey}`, `read the lines of team ${teamId} on ${day}`, options.signal);
      byDay.set(day, entities.map(lineFromEntity).sort(compareDayLines));
    });
    return days.flatMap((day) => byDay.get(day)!);
  }

  async readTeamDailySeries(month: string, teamId: string): Promise<TeamDayTotal[]> {
    assertCanonicalMonth(month);
    const { from, to } = keysStartingWith(teamId);
    const filter = odata`PartitionKey eq ${month} and RowKey ge ${from} and RowKey lt ${to}`;
    const entities = await this.list(this.totals, filter, `read the daily series of team ${teamId} in ${month}`);
    return entities.map(totalFromEntity).sort(compareTotals);
  }

  async readMonthDailySeries(month: string, options: CallOptions = {}): Promise<TeamDayTotal[]> {
    assertCanonicalMonth(month);
    const entities = await this.list(this.totals, odata`PartitionKey eq ${month} and RowKey lt ${KEY_PART_SEPARATOR}`, `read the daily series of ${month}`, options.signal);
    return entities.map(totalFromEntity).sort(compareTotals);
  }

  private async deleteIfPresent(client: TableClient, key: EntityKey, action: string): Promise<void> {
    try {
      await client.deleteEntity(key.partitionKey, key.rowKey);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return;
      throw storageError(action, error);
    }
  }

  async putDaySummary(summary: DayIngestSummary): Promise<void> {
    assertCanonicalDay(summary.day);
    try {
      await this.totals.upsertEntity(summaryEntity(summary), 'Replace');
    } catch (error) {
      throw storageError(`write the ingest summary of ${summary.day}`, error);
    }
  }

  async readDaySummaries(month: string): Promise<DayIngestSummary[]> {
    assertCanonicalMonth(month);
    const from = SUMMARY_ROW_PREFIX;
    const to = `${SUMMARY_ROW_PREFIX}${KEY_PART_SEPARATOR}`;
    const entities = await this.list(this.totals, odata`PartitionKey eq ${month} and RowKey ge ${from} and RowKey lt ${to}`, `read the ingest summaries of ${month}`);
    return entities.map(summaryFromEntity).sort((a, b) => compareText(a.day, b.day));
  }

  private async list(client: TableClient, filter: string, action: string, signal?: AbortSignal): Promise<Record<string, unknown>[]> {
    const entities: Record<string, unknown>[] = [];
    try {
      for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter }, ...(signal ? { abortSignal: signal } : {}) })) entities.push(entity);
    } catch (error) {
      throw storageError(action, error);
    }
    return entities;
  }

  private async submitAll(client: TableClient, work: TransactionOperation[][], action: string): Promise<void> {
    await runPool(work, this.batchConcurrency, async (batch) => {
      try {
        await submitEntityTransaction(client, batch);
      } catch (error) {
        throw storageError(`${action} (a batch of ${batch.length} in partition ${keyOf(batch[0]!).partitionKey})`, error);
      }
    });
  }
}

/** Transactions of at most 100 entities of one partition, in key order: a day entity is far below 4 MiB / 100. */
function batches<T extends EntityKey>(partitions: Map<string, Map<string, T>>, toAction: (item: T) => TransactionOperation): TransactionOperation[][] {
  return batchesOf(partitions, () => PER_OPERATION_OVERHEAD_BYTES).map((batch) => batch.map(toAction));
}

function describeLine(line: DayLine): string {
  return `Day line ${line.day} team "${line.teamId}" user "${line.userId.slice(0, 60)}" model "${line.model.slice(0, 60)}" tier "${line.tier.slice(0, 60)}"`;
}

function lineEntity(line: DayLine): EntityProperties {
  const owner = describeLine(line);
  const partitionKey = dayLinePartitionKey(line.day, line.teamId);
  const rowKey = dayLineRowKey(line);
  assertKeySize(partitionKey, 'PartitionKey', owner);
  assertKeySize(rowKey, 'RowKey', owner);
  const entity: Record<string, EntityValue> & EntityKey = {
    partitionKey,
    rowKey,
    schemaVersion: DAILY_SCHEMA_VERSION,
    day: line.day,
    ...subjectProperties(line),
    requests: int64(line.requests, 'requests', owner),
    cost: line.cost === null ? '' : line.cost.toFixed(),
    priceEntryId: line.priceEntryId ?? '',
    currency: line.currency,
  };
  for (const kind of TOKEN_KINDS) entity[`tokens${TOKEN_PROPERTY[kind]}`] = int64(line.tokens[kind], `tokens.${kind}`, owner);
  return entity;
}

function totalEntity(total: TeamDayTotal): EntityProperties {
  const owner = `Team total ${total.day} team "${total.teamId}"`;
  const entity: Record<string, EntityValue> & EntityKey = {
    partitionKey: encodeKeyPart(total.month),
    rowKey: teamDayRowKey(total.teamId, total.day),
    schemaVersion: DAILY_SCHEMA_VERSION,
    month: total.month,
    day: total.day,
    teamId: total.teamId,
    requests: int64(total.requests, 'requests', owner),
    cost: total.cost.toFixed(),
    currency: total.currency,
    lines: total.lines,
  };
  assertKeySize(entity.rowKey, 'RowKey', owner);
  for (const kind of TOKEN_KINDS) {
    entity[`tokens${TOKEN_PROPERTY[kind]}`] = int64(total.tokens[kind], `tokens.${kind}`, owner);
    entity[`unpriced${TOKEN_PROPERTY[kind]}`] = int64(total.unpricedTokens[kind], `unpricedTokens.${kind}`, owner);
  }
  return entity;
}

function lineFromEntity(entity: Record<string, unknown>): DayLine {
  const read = entityReader(entity, 'day line', DAILY_SCHEMA_VERSION);
  const subject = read.subject();
  const priced = read.text('cost') !== '';
  return {
    day: read.text('day'),
    ...subject,
    tokens: read.tokens('tokens'),
    requests: read.count('requests'),
    cost: priced ? read.decimal('cost') : null,
    priceEntryId: priced ? read.text('priceEntryId') : null,
    currency: read.text('currency'),
  };
}

function totalFromEntity(entity: Record<string, unknown>): TeamDayTotal {
  const read = entityReader(entity, 'team day total', DAILY_SCHEMA_VERSION);
  return {
    month: read.text('month'),
    day: read.text('day'),
    teamId: read.text('teamId'),
    tokens: read.tokens('tokens'),
    requests: read.count('requests'),
    cost: read.decimal('cost'),
    unpricedTokens: read.tokens('unpriced'),
    currency: read.text('currency'),
    lines: read.count('lines'),
  };
}

const SUMMARY_ROW_PREFIX = `${KEY_PART_SEPARATOR}ingest${KEY_PART_SEPARATOR}`;
/** Table Storage holds at most 64 KiB in a string property; the figures stay well below by dropping sample rows. */
const MAX_FIGURES_CHARS = 30_000;

function summaryEntity(summary: DayIngestSummary): TableEntity & EntityKey {
  const owner = `Ingest summary ${summary.day}`;
  let figures = summaryFigures(summary);
  if (figures.length > MAX_FIGURES_CHARS) {
    const withoutRows = (rejects: RejectSummary): RejectSummary => ({ ...rejects, samples: [] });
    figures = summaryFigures({ ...summary, rejects: withoutRows(summary.rejects), read: { ...summary.read, rejects: withoutRows(summary.read.rejects), duplicateFiles: summary.read.duplicateFiles.slice(0, 20) } });
  }
  if (figures.length > MAX_FIGURES_CHARS) throw new AppError('INVALID_ARGUMENT', `${owner} is too large to store (${figures.length} characters of figures)`);
  return {
    partitionKey: encodeKeyPart(monthOfDay(summary.day)),
    rowKey: `${SUMMARY_ROW_PREFIX}${encodeKeyPart(summary.day)}`,
    schemaVersion: DAILY_SCHEMA_VERSION,
    day: summary.day,
    runId: summary.runId,
    ingestedAt: summary.ingestedAt,
    sourceDescription: summary.sourceDescription,
    rows: int64(summary.rows, 'rows', owner),
    figures,
  };
}

function summaryFigures(summary: DayIngestSummary): string {
  const { rejects, reportedTotalTokens, duplicates, sourceFingerprint, read } = summary;
  return JSON.stringify({ rejects, reportedTotalTokens, duplicates, sourceFingerprint, read });
}

function summaryFromEntity(entity: Record<string, unknown>): DayIngestSummary {
  const read = entityReader(entity, 'ingest summary', DAILY_SCHEMA_VERSION);
  const ingestedAt = entity['ingestedAt'];
  const at = ingestedAt instanceof Date ? ingestedAt : new Date(typeof ingestedAt === 'string' ? ingestedAt : Number.NaN);
  if (Number.isNaN(at.getTime())) throw read.corrupt('ingestedAt is not a date');
  let figures: Pick<DayIngestSummary, 'rejects' | 'reportedTotalTokens' | 'duplicates' | 'sourceFingerprint' | 'read'>;
  try {
    figures = JSON.parse(read.text('figures')) as typeof figures;
  } catch {
    throw read.corrupt('figures is not JSON');
  }
  if (typeof figures !== 'object' || figures === null || typeof figures.read?.key !== 'string' || typeof figures.rejects?.count !== 'number') throw read.corrupt('figures lack rejects or read');
  return {
    day: read.text('day'),
    runId: read.text('runId'),
    ingestedAt: at,
    sourceDescription: read.text('sourceDescription'),
    rows: read.count('rows'),
    rejects: figures.rejects,
    reportedTotalTokens: figures.reportedTotalTokens ?? null,
    duplicates: figures.duplicates ?? 0,
    sourceFingerprint: figures.sourceFingerprint ?? null,
    read: figures.read,
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
