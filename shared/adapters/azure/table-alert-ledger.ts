/**
 * Budget and finance alerts in Azure Table Storage, claimed atomically so that an alert goes out at most once.
 *
 * Storage contract: PartitionKey = encodeKeyPart(the part of the alert key before its first `|`, which is
 * the month: `2026-10|budget|payments|actual|80`), RowKey = encodeKeyPart(key) + `~` + channel. Properties:
 * key, channel, state (claimed | sent | failed | superseded), attempts (Int32), claimedAt and updatedAt
 * (Edm.DateTime), detail and lastError (absent when there is none).
 *
 * Atomicity comes from the service, not from reading first:
 * - the first claim is an insert (createEntity), which fails with 409 when the row exists, so of two runs
 *   claiming a new alert exactly one wins;
 * - taking over a failed row or a stale claim is a Replace with If-Match on the ETag just read, which fails
 *   with 412 when another run changed the row in between;
 * - settling is a Replace with If-Match on the claim's ETag, so a run whose claim was taken over as stale
 *   learns it (settle returns false) instead of overwriting the new holder's state.
 */
import type { TableClient, TableEntity } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { AlertChannel, AlertClaim, AlertLedger, AlertRecord, AlertSettlement, AlertState, ClaimOutcome } from '../../ports/alert-ledger.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { assertKeySize, encodeKeyPart, KEY_PART_SEPARATOR } from './table-keys.js';

const MAX_TEXT_CHARS = 16 * 1024;
const STATES: readonly AlertState[] = ['claimed', 'sent', 'failed', 'superseded'];
const CHANNELS: readonly AlertChannel[] = ['mail', 'teams'];

export function alertKeys(key: string, channel: AlertChannel): { partitionKey: string; rowKey: string } {
  const bar = key.indexOf('|');
  const partitionKey = encodeKeyPart(bar === -1 ? key : key.slice(0, bar));
  const rowKey = `${encodeKeyPart(key)}${KEY_PART_SEPARATOR}${channel}`;
  assertKeySize(partitionKey, 'PartitionKey', `Alert "${key.slice(0, 80)}"`);
  assertKeySize(rowKey, 'RowKey', `Alert "${key.slice(0, 80)}"`);
  return { partitionKey, rowKey };
}

function clip(text: string): string {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…(truncated)` : text;
}

function toRecord(entity: Record<string, unknown>, key: string, channel: AlertChannel): AlertRecord {
  const corrupt = (why: string) => new AppError('STORAGE_FAILED', `Stored alert ${key} (${channel}) is not readable: ${why}`);
  const state = entity['state'];
  if (typeof state !== 'string' || !STATES.includes(state as AlertState)) throw corrupt(`state ${JSON.stringify(state)} is unknown`);
  const storedChannel = entity['channel'];
  if (typeof storedChannel !== 'string' || !CHANNELS.includes(storedChannel as AlertChannel)) throw corrupt('channel is unknown');
  const attemptsValue = entity['attempts'];
  const attempts = typeof attemptsValue === 'bigint' ? Number(attemptsValue) : attemptsValue;
  if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts)) throw corrupt('attempts is not an integer');
  const date = (name: string): Date => {
    const value = entity[name];
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw corrupt(`${name} is not a date`);
    return value;
  };
  const text = (name: string): string | undefined => (typeof entity[name] === 'string' ? (entity[name] as string) : undefined);
  const detail = text('detail');
  const lastError = text('lastError');
  return {
    key: text('key') ?? key,
    channel: storedChannel as AlertChannel,
    state: state as AlertState,
    attempts,
    claimedAt: date('claimedAt'),
    updatedAt: date('updatedAt'),
    ...(detail !== undefined ? { detail } : {}),
    ...(lastError !== undefined ? { lastError } : {}),
  };
}

export class TableAlertLedger implements AlertLedger {
  private constructor(private readonly client: TableClient) {}

  static async create(client: TableClient): Promise<TableAlertLedger> {
    await ensureTable(client);
    return new TableAlertLedger(client);
  }

  async claim(key: string, channel: AlertChannel, options: { now: Date; staleAfterMs: number }): Promise<ClaimOutcome> {
    const { partitionKey, rowKey } = alertKeys(key, channel);
    const fresh = (attempts: number): TableEntity => ({
      partitionKey,
      rowKey,
      key,
      channel,
      state: 'claimed',
      attempts,
      claimedAt: options.now,
      updatedAt: options.now,
    });
    try {
      const created = await this.client.createEntity(fresh(1));
      return { status: 'claimed', claim: { key, channel, attempt: 1, claimedAt: options.now, version: this.versionOf(created.etag, key) } };
    } catch (error) {
      if (statusOf(error) !== 409) throw storageError(`claim alert ${key} (${channel})`, error);
    }

    const existing = await this.read(partitionKey, rowKey, key, channel);
    // Deleted between our insert and our read: whoever deleted it owns the outcome; treat it as busy.
    if (!existing) return { status: 'busy', record: { key, channel, state: 'claimed', attempts: 0, claimedAt: options.now, updatedAt: options.now } };
    const { record, etag } = existing;
    if (record.state === 'sent' || record.state === 'superseded') return { status: 'done', record };
    if (record.state === 'claimed' && options.now.getTime() - record.claimedAt.getTime() < options.staleAfterMs) return { status: 'busy', record };

    try {
      const updated = await this.client.updateEntity(fresh(record.attempts + 1), 'Replace', { etag });
      return { status: 'claimed', claim: { key, channel, attempt: record.attempts + 1, claimedAt: options.now, version: this.versionOf(updated.etag, key) } };
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) return { status: 'busy', record };
      throw storageError(`re-claim alert ${key} (${channel})`, error);
    }
  }

  async settle(claim: AlertClaim, settlement: AlertSettlement, now: Date): Promise<boolean> {
    const { partitionKey, rowKey } = alertKeys(claim.key, claim.channel);
    const entity: TableEntity = {
      partitionKey,
      rowKey,
      key: claim.key,
      channel: claim.channel,
      state: settlement.state,
      attempts: claim.attempt,
      claimedAt: claim.claimedAt,
      updatedAt: now,
    };
    if (settlement.state === 'failed') entity['lastError'] = clip(settlement.error);
    else entity['detail'] = clip(settlement.detail);
    try {
      // Conditional on the claim's own version: a run that lost its claim must not overwrite the new holder.
      await this.client.updateEntity(entity, 'Replace', { etag: claim.version });
      return true;
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) return false;
      throw storageError(`record alert ${claim.key} (${claim.channel}) as ${settlement.state}`, error);
    }
  }

  async get(key: string, channel: AlertChannel): Promise<AlertRecord | undefined> {
    const { partitionKey, rowKey } = alertKeys(key, channel);
    return (await this.read(partitionKey, rowKey, key, channel))?.record;
  }

  private async read(partitionKey: string, rowKey: string, key: string, channel: AlertChannel): Promise<{ record: AlertRecord; etag: string } | undefined> {
    let entity: Record<string, unknown> & { etag: string };
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError(`read alert ${key} (${channel})`, error);
    }
    return { record: toRecord(entity, key, channel), etag: entity.etag };
  }

  private versionOf(etag: string | undefined, key: string): string {
    if (!etag) throw new AppError('STORAGE_FAILED', `Table Storage returned no ETag for alert ${key}: cannot hold a claim without one`, { retryable: true });
    return etag;
  }
}
