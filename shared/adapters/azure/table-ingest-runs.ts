/**
 * The daily ingest's run history in Azure Table Storage (e.g. table `chargebackIngestRuns`).
 *
 * Storage contract:
 * - History: PartitionKey `run`, RowKey = the start time in ms subtracted from 10^13, zero-padded to 13
 *   digits, then `~` and encodeKeyPart(run id): newest first in key order, so recent() reads one page.
 * - Last success: PartitionKey `last`, RowKey `succeeded`, a copy of the last succeeded run, so the next
 *   run finds its catch-up mark with one point read instead of scanning failures.
 * - Properties: id, trigger, status, firstDay, lastDay, coveredThrough ('' = none), error (absent when
 *   none) String; startedAt, finishedAt, windowStart, windowEnd Edm.DateTime; durationMs Int64;
 *   dayCount, rows, lines, rejects Int64.
 */
import type { TableClient, TableEntity } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { IngestRun, IngestRunLog } from '../../ports/ingest-runs.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { encodeKeyPart, KEY_PART_SEPARATOR } from './table-keys.js';

const HISTORY_PARTITION = 'run';
const LAST_PARTITION = 'last';
const LAST_SUCCEEDED = 'succeeded';
const TIME_CEILING = 10 ** 13;
const MAX_ERROR_CHARS = 16 * 1024;

export function ingestRunRowKey(run: Pick<IngestRun, 'startedAt' | 'id'>): string {
  const inverted = String(TIME_CEILING - run.startedAt.getTime()).padStart(13, '0');
  return `${inverted}${KEY_PART_SEPARATOR}${encodeKeyPart(run.id)}`;
}

export class TableIngestRunLog implements IngestRunLog {
  private constructor(private readonly client: TableClient) {}

  static async create(client: TableClient): Promise<TableIngestRunLog> {
    await ensureTable(client);
    return new TableIngestRunLog(client);
  }

  async record(run: IngestRun): Promise<void> {
    const history = toEntity(run, HISTORY_PARTITION, ingestRunRowKey(run));
    try {
      await this.client.upsertEntity(history, 'Replace');
      if (run.status === 'succeeded') await this.client.upsertEntity(toEntity(run, LAST_PARTITION, LAST_SUCCEEDED), 'Replace');
    } catch (error) {
      throw storageError(`record ingest run ${run.id}`, error);
    }
  }

  async lastSucceeded(): Promise<IngestRun | undefined> {
    try {
      return fromEntity(await this.client.getEntity<Record<string, unknown>>(LAST_PARTITION, LAST_SUCCEEDED));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError('read the last succeeded ingest run', error);
    }
  }

  async recent(limit: number): Promise<IngestRun[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new AppError('INVALID_ARGUMENT', `limit must be a positive integer, got ${limit}`);
    const runs: IngestRun[] = [];
    try {
      const pages = this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${HISTORY_PARTITION}'` } }).byPage({ maxPageSize: Math.min(limit, 1000) });
      for await (const page of pages) {
        for (const entity of page) {
          runs.push(fromEntity(entity));
          if (runs.length >= limit) return runs;
        }
      }
    } catch (error) {
      throw storageError('list recent ingest runs', error);
    }
    return runs;
  }
}

function toEntity(run: IngestRun, partitionKey: string, rowKey: string): TableEntity {
  const entity: TableEntity = {
    partitionKey,
    rowKey,
    id: run.id,
    trigger: run.trigger,
    status: run.status,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: BigInt(Math.max(0, Math.round(run.durationMs))),
    firstDay: run.firstDay,
    lastDay: run.lastDay,
    dayCount: BigInt(run.dayCount),
    windowStart: run.windowStart,
    windowEnd: run.windowEnd,
    rows: BigInt(run.rows),
    lines: BigInt(run.lines),
    rejects: BigInt(run.rejects),
    coveredThrough: run.coveredThrough ?? '',
  };
  if (run.error !== undefined) entity.error = run.error.slice(0, MAX_ERROR_CHARS);
  return entity;
}

function fromEntity(entity: Record<string, unknown>): IngestRun {
  const corrupt = (why: string) => new AppError('STORAGE_FAILED', `Stored ingest run RowKey "${String(entity.rowKey)}" is not readable: ${why}`);
  const text = (name: string): string => {
    const value = entity[name];
    if (typeof value !== 'string') throw corrupt(`${name} is not a string`);
    return value;
  };
  const integer = (name: string): number => {
    const value = entity[name];
    const result = typeof value === 'bigint' ? Number(value) : value;
    if (typeof result !== 'number' || !Number.isSafeInteger(result)) throw corrupt(`${name} is not an integer`);
    return result;
  };
  const date = (name: string): Date => {
    const value = entity[name];
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw corrupt(`${name} is not a date`);
    return value;
  };
  const status = text('status');
  if (status !== 'succeeded' && status !== 'failed') throw corrupt(`status "${status}" is unknown`);
  const covered = text('coveredThrough');
  const error = entity.error;
  return {
    id: text('id'),
    trigger: text('trigger'),
    status,
    startedAt: date('startedAt'),
    finishedAt: date('finishedAt'),
    durationMs: integer('durationMs'),
    firstDay: text('firstDay'),
    lastDay: text('lastDay'),
    dayCount: integer('dayCount'),
    windowStart: date('windowStart'),
    windowEnd: date('windowEnd'),
    rows: integer('rows'),
    lines: integer('lines'),
    rejects: integer('rejects'),
    coveredThrough: covered === '' ? null : covered,
    ...(typeof error === 'string' ? { error } : {}),
  };
}
