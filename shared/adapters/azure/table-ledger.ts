/**
 * Month closes and mail deliveries in Azure Table Storage.
 *
 * Storage contract:
 *
 * - Close records: PartitionKey `close`, RowKey = encodeKeyPart(month) (a month `2026-10` is its own
 *   encoding). Properties: month, revision (Int32), fingerprint, closedAt (Edm.DateTime), priceBookVersion,
 *   totalMinorUnits (String: an integer that may pass 2^53), currency.
 * - Each revision's summary, when a close carries one, in part entities of the same table (partition
 *   `summary~{month}`), written before the close record: see table-revision-summaries.ts. Records from before
 *   summaries were kept have no parts; summary() answers undefined for them.
 * - Deliveries: PartitionKey = encodeKeyPart(the part of the key before its first `|`, or the whole key if
 *   it has none); RowKey = encodeKeyPart(the full key). Delivery keys look like
 *   `2026-10|r1|finance|someone@example.com`, so the PartitionKey is the month and one month's deliveries
 *   share a partition. Properties: key (the unescaped key), status, attempts (Int32), recipients (JSON array),
 *   messageId and lastError (absent when undefined), updatedAt (Edm.DateTime).
 *
 * Key escaping is described in table-keys.ts. put() upserts in Replace mode, so a property left undefined
 * is removed rather than kept from an earlier record.
 */
import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { ControlResult } from '../../domain/controls.js';
import type { CallOptions } from '../../ports/directory.js';
import type { CloseAttempt, CloseRegistry, DeliveryLedger, DeliveryRecord, HeldClose, MonthClose } from '../../ports/ledger.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, MAX_KEY_BYTES } from './table-keys.js';
import { readRevisionSummary, writeRevisionSummary } from './table-revision-summaries.js';
import type { RevisionSummary } from '../../domain/revisions.js';

const CLOSE_PARTITION = 'close';
const DRAFT_PARTITION = 'draft';
const attemptPartition = (month: string): string => `attempt~${encodeKeyPart(month)}`;
/** Controls and owed teams are JSON in one String property; past this they are cut to what a person reads. */
const MAX_JSON_CHARS = 30_000;
/** A String property holds at most 64 KiB (UTF-16); an error text is diagnostic, so it is cut rather than refused. */
const MAX_ERROR_CHARS = 16 * 1024;

async function getEntity(client: TableClient, partitionKey: string, rowKey: string, action: string, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
  try {
    return await client.getEntity<Record<string, unknown>>(partitionKey, rowKey, signal ? { abortSignal: signal } : {});
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw storageError(action, error);
  }
}

async function upsert(client: TableClient, entity: TableEntity, action: string): Promise<void> {
  try {
    await client.upsertEntity(entity, 'Replace');
  } catch (error) {
    throw storageError(action, error);
  }
}

function reader(entity: Record<string, unknown>, what: string) {
  const corrupt = (why: string): AppError => new AppError('STORAGE_FAILED', `Stored ${what} is not readable: ${why}`);
  return {
    text(name: string): string {
      const value = entity[name];
      if (typeof value !== 'string') throw corrupt(`${name} is not a string`);
      return value;
    },
    optionalText(name: string): string | undefined {
      const value = entity[name];
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'string') throw corrupt(`${name} is not a string`);
      return value;
    },
    integer(name: string): number {
      const value = entity[name];
      const result = typeof value === 'bigint' ? Number(value) : value;
      if (typeof result !== 'number' || !Number.isSafeInteger(result)) throw corrupt(`${name} is not an integer`);
      return result;
    },
    date(name: string): Date {
      const value = entity[name];
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw corrupt(`${name} is not a date`);
      return value;
    },
    corrupt,
  };
}

function assertDate(value: Date, what: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new AppError('INVALID_ARGUMENT', `${what} must be a valid Date`);
}

export class TableCloseRegistry implements CloseRegistry {
  private constructor(private readonly client: TableClient) {}

  static async create(client: TableClient): Promise<TableCloseRegistry> {
    await ensureTable(client);
    return new TableCloseRegistry(client);
  }

  async get(month: string, options: CallOptions = {}): Promise<MonthClose | undefined> {
    const entity = await getEntity(this.client, CLOSE_PARTITION, encodeKeyPart(month), `read the close record of ${month}`, options.signal);
    return entity ? closeFromEntity(entity, `close record of ${month}`) : undefined;
  }

  async put(close: MonthClose): Promise<void> {
    const rowKey = encodeKeyPart(close.month);
    assertKeySize(rowKey, 'RowKey', `Close record of "${close.month.slice(0, 60)}"`);
    assertDate(close.closedAt, 'closedAt');
    if (close.summary) await writeRevisionSummary(this.client, close.month, close.revision, close.summary);
    await upsert(this.client, closeEntity(CLOSE_PARTITION, rowKey, close), `record the close of ${close.month}`);
  }

  async draft(month: string): Promise<HeldClose | undefined> {
    const entity = await getEntity(this.client, DRAFT_PARTITION, encodeKeyPart(month), `read the held close of ${month}`);
    if (!entity) return undefined;
    const close = closeFromEntity(entity, `held close of ${month}`);
    return { ...close, controls: close.controls ?? [] };
  }

  async putDraft(close: HeldClose): Promise<void> {
    const rowKey = encodeKeyPart(close.month);
    assertKeySize(rowKey, 'RowKey', `Held close of "${close.month.slice(0, 60)}"`);
    assertDate(close.closedAt, 'closedAt');
    await upsert(this.client, closeEntity(DRAFT_PARTITION, rowKey, close), `record the held close of ${close.month}`);
  }

  async clearDraft(month: string): Promise<void> {
    try {
      await this.client.deleteEntity(DRAFT_PARTITION, encodeKeyPart(month));
    } catch (error) {
      if (statusOf(error) !== 404) throw storageError(`remove the held close of ${month}`, error);
    }
  }

  async recordAttempt(attempt: CloseAttempt): Promise<void> {
    assertDate(attempt.at, 'at');
    // Newest first in key order; the random tail keeps two attempts of the same millisecond apart.
    const rowKey = `${String(MAX_EPOCH_MS - attempt.at.getTime()).padStart(15, '0')}-${Math.random().toString(36).slice(2, 10)}`;
    const entity: TableEntity = {
      partitionKey: attemptPartition(attempt.month),
      rowKey,
      month: attempt.month,
      at: attempt.at,
      outcome: attempt.outcome,
      controls: jsonWithin(attempt.controls),
    };
    if (attempt.revision !== null) entity.revision = attempt.revision;
    if (attempt.note !== undefined) entity.note = attempt.note.slice(0, MAX_ERROR_CHARS);
    await upsert(this.client, entity, `record an attempt to close ${attempt.month}`);
  }

  async attempts(month: string, limit = 50): Promise<CloseAttempt[]> {
    const found: CloseAttempt[] = [];
    try {
      const pages = this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${attemptPartition(month)}` } });
      for await (const entity of pages) {
        const read = reader(entity, `close attempt of ${month}`);
        const outcome = read.text('outcome') as CloseAttempt['outcome'];
        const note = read.optionalText('note');
        found.push({
          month: read.text('month'),
          at: read.date('at'),
          outcome,
          revision: entity.revision === undefined ? null : read.integer('revision'),
          controls: parseJsonList<ControlResult>(read.optionalText('controls'), read.corrupt),
          ...(note !== undefined ? { note } : {}),
        });
        if (found.length >= limit) break;
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw storageError(`list the close attempts of ${month}`, error);
    }
    return found;
  }

  summary(month: string, revision: number): Promise<RevisionSummary | undefined> {
    return readRevisionSummary(this.client, month, revision);
  }
}

/** Far enough in the future that inverted timestamps stay positive and of one width. */
const MAX_EPOCH_MS = 999_999_999_999_999;

function closeEntity(partitionKey: string, rowKey: string, close: MonthClose): TableEntity {
  const entity: TableEntity = {
    partitionKey,
    rowKey,
    month: close.month,
    revision: close.revision,
    fingerprint: close.fingerprint,
    closedAt: close.closedAt,
    priceBookVersion: close.priceBookVersion,
    totalMinorUnits: close.totalMinorUnits,
    currency: close.currency,
  };
  if (close.controls) entity.controls = jsonWithin(close.controls);
  if (close.owedTeams) {
    const owed = JSON.stringify(close.owedTeams);
    if (owed.length > MAX_STRING_CHARS) throw new AppError('STORAGE_FAILED', `the list of teams owed ${close.month} revision ${close.revision} is ${owed.length} characters, over a property's limit`);
    entity.owedTeams = owed;
  }
  if (close.release) {
    assertDate(close.release.at, 'release.at');
    entity.releasedBy = close.release.by;
    entity.releaseReason = close.release.reason.slice(0, MAX_ERROR_CHARS);
    entity.releasedAt = close.release.at;
  }
  return entity;
}

function closeFromEntity(entity: Record<string, unknown>, what: string): MonthClose {
  const read = reader(entity, what);
  const controls = read.optionalText('controls');
  const owedTeams = read.optionalText('owedTeams');
  const releasedBy = read.optionalText('releasedBy');
  return {
    month: read.text('month'),
    revision: read.integer('revision'),
    fingerprint: read.text('fingerprint'),
    closedAt: read.date('closedAt'),
    priceBookVersion: read.text('priceBookVersion'),
    totalMinorUnits: read.text('totalMinorUnits'),
    currency: read.text('currency'),
    ...(controls !== undefined ? { controls: parseJsonList<ControlResult>(controls, read.corrupt) } : {}),
    ...(owedTeams !== undefined ? { owedTeams: parseJsonList<string>(owedTeams, read.corrupt) } : {}),
    ...(releasedBy !== undefined ? { release: { by: releasedBy, reason: read.optionalText('releaseReason') ?? '', at: read.date('releasedAt') } } : {}),
  };
}

/** A String property holds 64 KiB as UTF-16. */
const MAX_STRING_CHARS = 32 * 1024;

/** Controls as JSON, their details cut when the whole would not fit one property. */
function jsonWithin(controls: readonly ControlResult[]): string {
  const full = JSON.stringify(controls);
  if (full.length <= MAX_JSON_CHARS) return full;
  return JSON.stringify(controls.map((control) => ({ id: control.id, outcome: control.outcome, message: control.message.slice(0, 2000), details: (control.details ?? []).slice(0, 3) })));
}

function parseJsonList<T>(text: string | undefined, corrupt: (why: string) => AppError): T[] {
  if (text === undefined) return [];
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) throw corrupt('a JSON list is not a list');
    return value as T[];
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw corrupt('a JSON property is not JSON');
  }
}

export function deliveryKeys(key: string): { partitionKey: string; rowKey: string } {
  const bar = key.indexOf('|');
  return { partitionKey: encodeKeyPart(bar === -1 ? key : key.slice(0, bar)), rowKey: encodeKeyPart(key) };
}

export class TableDeliveryLedger implements DeliveryLedger {
  private constructor(private readonly client: TableClient) {}

  static async create(client: TableClient): Promise<TableDeliveryLedger> {
    await ensureTable(client);
    return new TableDeliveryLedger(client);
  }

  async get(key: string): Promise<DeliveryRecord | undefined> {
    const { partitionKey, rowKey } = deliveryKeys(key);
    // A key too long to store was never stored.
    if (partitionKey.length > MAX_KEY_BYTES || rowKey.length > MAX_KEY_BYTES) return undefined;
    const entity = await getEntity(this.client, partitionKey, rowKey, `read delivery ${key}`);
    if (!entity) return undefined;
    const read = reader(entity, `delivery ${key}`);
    const status = read.text('status');
    if (status !== 'sent' && status !== 'failed' && status !== 'claimed') throw read.corrupt(`status "${status}" is unknown`);
    let recipients: unknown;
    try {
      recipients = JSON.parse(read.text('recipients'));
    } catch {
      throw read.corrupt('recipients is not JSON');
    }
    if (!Array.isArray(recipients) || !recipients.every((r) => typeof r === 'string')) throw read.corrupt('recipients is not a list of addresses');
    const messageId = read.optionalText('messageId');
    const lastError = read.optionalText('lastError');
    return {
      key: read.text('key'),
      status,
      attempts: read.integer('attempts'),
      recipients: recipients as string[],
      ...(messageId !== undefined ? { messageId } : {}),
      ...(lastError !== undefined ? { lastError } : {}),
      updatedAt: read.date('updatedAt'),
      ...(typeof entity.etag === 'string' ? { etag: entity.etag } : {}),
    };
  }

  async claim(record: DeliveryRecord, previous: DeliveryRecord | undefined): Promise<boolean> {
    const entity = deliveryEntity(record);
    try {
      if (previous === undefined) await this.client.createEntity(entity);
      else {
        if (!previous.etag) throw new AppError('INTERNAL', `claiming ${record.key} needs the ETag of the record read before`);
        await this.client.updateEntity(entity, 'Replace', { etag: previous.etag });
      }
      return true;
    } catch (error) {
      if (error instanceof AppError) throw error;
      const status = statusOf(error);
      if (status === 409 || status === 412 || status === 404) return false;
      throw storageError(`claim delivery ${record.key}`, error);
    }
  }

  async put(record: DeliveryRecord): Promise<void> {
    await upsert(this.client, deliveryEntity(record), `record delivery ${record.key}`);
  }
}

function deliveryEntity(record: DeliveryRecord): TableEntity {
  const { partitionKey, rowKey } = deliveryKeys(record.key);
  const owner = `Delivery "${record.key.slice(0, 80)}"`;
  assertKeySize(partitionKey, 'PartitionKey', owner);
  assertKeySize(rowKey, 'RowKey', owner);
  assertDate(record.updatedAt, 'updatedAt');
  const entity: TableEntity = {
    partitionKey,
    rowKey,
    key: record.key,
    status: record.status,
    attempts: record.attempts,
    recipients: JSON.stringify(record.recipients),
    updatedAt: record.updatedAt,
  };
  if (record.messageId !== undefined) entity.messageId = record.messageId;
  if (record.lastError !== undefined) {
    entity.lastError = record.lastError.length > MAX_ERROR_CHARS ? `${record.lastError.slice(0, MAX_ERROR_CHARS)}…(truncated)` : record.lastError;
  }
  return entity;
}
