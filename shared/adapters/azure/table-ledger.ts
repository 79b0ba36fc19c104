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
import type { TableClient, TableEntity } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { CloseRegistry, DeliveryLedger, DeliveryRecord, MonthClose } from '../../ports/ledger.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, MAX_KEY_BYTES } from './table-keys.js';
import { readRevisionSummary, writeRevisionSummary } from './table-revision-summaries.js';
import type { RevisionSummary } from '../../domain/revisions.js';

const CLOSE_PARTITION = 'close';
/** A String property holds at most 64 KiB (UTF-16); an error text is diagnostic, so it is cut rather than refused. */
const MAX_ERROR_CHARS = 16 * 1024;

async function getEntity(client: TableClient, partitionKey: string, rowKey: string, action: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await client.getEntity<Record<string, unknown>>(partitionKey, rowKey);
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

  async get(month: string): Promise<MonthClose | undefined> {
    const entity = await getEntity(this.client, CLOSE_PARTITION, encodeKeyPart(month), `read the close record of ${month}`);
    if (!entity) return undefined;
    const read = reader(entity, `close record of ${month}`);
    return {
      month: read.text('month'),
      revision: read.integer('revision'),
      fingerprint: read.text('fingerprint'),
      closedAt: read.date('closedAt'),
      priceBookVersion: read.text('priceBookVersion'),
      totalMinorUnits: read.text('totalMinorUnits'),
      currency: read.text('currency'),
    };
  }

  async put(close: MonthClose): Promise<void> {
    const rowKey = encodeKeyPart(close.month);
    assertKeySize(rowKey, 'RowKey', `Close record of "${close.month.slice(0, 60)}"`);
    assertDate(close.closedAt, 'closedAt');
    if (close.summary) await writeRevisionSummary(this.client, close.month, close.revision, close.summary);
    await upsert(
      this.client,
      {
        partitionKey: CLOSE_PARTITION,
        rowKey,
        month: close.month,
        revision: close.revision,
        fingerprint: close.fingerprint,
        closedAt: close.closedAt,
        priceBookVersion: close.priceBookVersion,
        totalMinorUnits: close.totalMinorUnits,
        currency: close.currency,
      },
      `record the close of ${close.month}`,
    );
  }

  summary(month: string, revision: number): Promise<RevisionSummary | undefined> {
    return readRevisionSummary(this.client, month, revision);
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
    if (status !== 'sent' && status !== 'failed') throw read.corrupt(`status "${status}" is unknown`);
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
    };
  }

  async put(record: DeliveryRecord): Promise<void> {
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
    await upsert(this.client, entity, `record delivery ${record.key}`);
  }
}
