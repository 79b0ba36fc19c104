/**
 * The mailbox pacer in Azure Table Storage, shared by every worker of every instance.
 *
 * Storage contract: PartitionKey `mailbox`, RowKey = encodeKeyPart(mailbox in lower case). Property
 * nextSlotMs (Edm.Double, epoch milliseconds: exact below 2^53): the earliest instant the next send may take.
 * Reserving reads it, takes max(now, nextSlotMs) and writes that plus one interval back, conditional on the
 * ETag read (or as an insert for a mailbox never used, 409 when another caller inserted first); a caller that
 * loses the race reads again. So two callers never get the same slot, and slots are one interval apart.
 */
import type { TableClient } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { MailPacer } from '../../ports/work-queues.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { encodeKeyPart } from './table-keys.js';

const MAILBOX_PARTITION = 'mailbox';
/** Racing callers each lose at most once per other caller's win; this many losses in a row means something else is wrong. */
const MAX_ATTEMPTS = 50;

/** The spacing of one mailbox's sends: a minute over the rate, rounded up to the millisecond so the rate is never exceeded. */
export function mailSlotIntervalMs(messagesPerMinute: number): number {
  if (!Number.isFinite(messagesPerMinute) || messagesPerMinute <= 0) throw new AppError('INVALID_ARGUMENT', `a mailbox sends a positive number of messages a minute, not ${messagesPerMinute}`);
  return Math.ceil(60_000 / messagesPerMinute);
}

export interface TableMailPacerOptions {
  /** MAIL_MESSAGES_PER_MINUTE (Exchange Online accepts about 30 per mailbox). */
  readonly messagesPerMinute: number;
  /** Waits between lost races, so the callers spread out (tests pass 0). */
  readonly backoffMs?: (attempt: number) => number;
}

export class TableMailPacer implements MailPacer {
  private readonly intervalMs: number;
  private readonly backoffMs: (attempt: number) => number;
  private tableReady: Promise<void> | undefined;

  constructor(
    private readonly client: TableClient,
    options: TableMailPacerOptions,
  ) {
    this.intervalMs = mailSlotIntervalMs(options.messagesPerMinute);
    this.backoffMs = options.backoffMs ?? ((attempt) => Math.random() * Math.min(200, 10 * 2 ** attempt));
  }

  async reserve(mailbox: string, now: Date): Promise<Date> {
    const key = mailbox.trim().toLowerCase();
    if (key === '') throw new AppError('INVALID_ARGUMENT', 'a mail pacer needs the mailbox that sends');
    const rowKey = encodeKeyPart(key);
    await this.ready();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.read(key, rowKey);
      const slot = Math.max(now.getTime(), current?.nextSlotMs ?? Number.NEGATIVE_INFINITY);
      const entity = { partitionKey: MAILBOX_PARTITION, rowKey, nextSlotMs: { value: String(slot + this.intervalMs), type: 'Double' as const } };
      try {
        if (current) await this.client.updateEntity(entity, 'Replace', { etag: current.etag });
        else await this.client.createEntity(entity);
        return new Date(slot);
      } catch (error) {
        const status = statusOf(error);
        // 412: someone reserved since we read; 409: someone inserted first; 404: it was deleted. Read again.
        if (status !== 412 && status !== 409 && status !== 404) throw storageError(`reserve a send slot of ${key}`, error);
      }
      const wait = this.backoffMs(attempt);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new AppError('STORAGE_FAILED', `could not reserve a send slot of ${key}: ${MAX_ATTEMPTS} attempts in a row lost to other senders`, { retryable: true });
  }

  private ready(): Promise<void> {
    this.tableReady ??= ensureTable(this.client).catch((error: unknown) => {
      this.tableReady = undefined;
      throw error;
    });
    return this.tableReady;
  }

  private async read(mailbox: string, rowKey: string): Promise<{ nextSlotMs: number; etag: string } | undefined> {
    try {
      const entity = await this.client.getEntity<{ nextSlotMs?: unknown }>(MAILBOX_PARTITION, rowKey);
      if (!entity.etag) throw new AppError('STORAGE_FAILED', 'the table service returned no ETag for a mail slot');
      return { nextSlotMs: typeof entity.nextSlotMs === 'number' ? entity.nextSlotMs : Number.NEGATIVE_INFINITY, etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError(`read the send slots of ${mailbox}`, error);
    }
  }
}
