import type { TokenCredential } from '@azure/identity';
import { QueueClient, QueueServiceClient, RestError } from '@azure/storage-queue';
import { AppError } from '../../domain/errors.js';
import type { PoisonedMessage, WorkMessage, WorkQueueName, WorkQueues } from '../../ports/work-queues.js';
import type { DrainableWorkQueues, ReceivedWorkMessage } from '../local/queue-drain.js';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Queue Storage refuses a message over 64 KiB; it is counted after the Base64 encoding below. */
export const MAX_ENCODED_MESSAGE_BYTES = 64 * 1024;
/** The longest a message may be kept invisible, by the service's rule. */
export const MAX_DELAY_SECONDS = 7 * 24 * 3600;
/** Peek Messages returns at most 32 messages. */
const MAX_PEEK = 32;

/**
 * Where the queues are: a service client, or a way to get one on first use (the command line starts its local
 * Azurite queue service only when a close actually fans out).
 */
export type QueueServiceSource = QueueServiceClient | (() => Promise<QueueServiceClient>);

/** A queue service client with the managed identity against an https queue service URL (WORK_QUEUES_URL). */
export function queueServiceWithCredential(url: string, credential: TokenCredential): QueueServiceClient {
  if (!url.startsWith('https://')) throw new AppError('CONFIG_INVALID', `the work queues URL ${url} must use https to carry a credential`);
  return new QueueServiceClient(url.replace(/\/$/, ''), credential);
}

/** A queue service client from a connection string (Azurite locally): plain http only to loopback. */
export function queueServiceFromConnectionString(connectionString: string): QueueServiceClient {
  let client: QueueServiceClient;
  try {
    client = QueueServiceClient.fromConnectionString(connectionString);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `the work queues connection string is not usable: ${(error as Error).message}`, { cause: error });
  }
  const url = new URL(client.url);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) return client;
  throw new AppError('CONFIG_INVALID', `the work queues endpoint ${url.protocol}//${url.host} must be https (or http to the local emulator)`);
}

export interface StorageWorkQueuesOptions {
  /** Put before every queue name: lets tests share one Azurite. The deployed app uses none (the triggers bind the plain names). */
  readonly queuePrefix?: string;
}

/**
 * The close's work queues on Azure Queue Storage. Messages are JSON, Base64-encoded as UTF-8: the encoding
 * the Functions host's queue trigger decodes (host.json extensions.queues.messageEncoding "base64"), and the
 * one it writes poison copies in. Each queue is created once per process (when missing) before its first
 * use. Also the drain's view of the queues (receive, complete, release, extend, poison), for local runs.
 */
export class StorageWorkQueues implements WorkQueues, DrainableWorkQueues {
  private service: Promise<QueueServiceClient> | undefined;
  private readonly ready = new Map<string, Promise<QueueClient>>();
  private readonly prefix: string;

  constructor(
    private readonly source: QueueServiceSource,
    options: StorageWorkQueuesOptions = {},
  ) {
    this.prefix = options.queuePrefix ?? '';
  }

  async send(queue: WorkQueueName, message: WorkMessage, options: { readonly delaySeconds?: number } = {}): Promise<void> {
    const text = encodeMessage(JSON.stringify(message));
    if (Buffer.byteLength(text) > MAX_ENCODED_MESSAGE_BYTES) {
      throw new AppError('INVALID_ARGUMENT', `a ${queue} message is ${Buffer.byteLength(text)} bytes once encoded, over Queue Storage's ${MAX_ENCODED_MESSAGE_BYTES}: send where its inputs are stored, not the inputs`);
    }
    const delay = options.delaySeconds ?? 0;
    if (!Number.isFinite(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) throw new AppError('INVALID_ARGUMENT', `a delay of ${delay} s is outside 0 to ${MAX_DELAY_SECONDS} s (7 days)`);
    await this.translate(`send to ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      // Kept until handled: a work item that expired unseen (the service's default is 7 days) would be lost.
      await client.sendMessage(text, { visibilityTimeout: Math.ceil(delay), messageTimeToLive: -1 });
    });
  }

  async poisoned(queue: WorkQueueName, limit: number): Promise<PoisonedMessage[]> {
    const count = Math.min(Math.max(0, Math.floor(limit)), MAX_PEEK);
    if (count === 0) return [];
    return this.translate(`read ${queue}-poison`, async () => {
      const client = (await this.client()).getQueueClient(`${this.nameOf(queue)}-poison`);
      try {
        const peeked = await client.peekMessages({ numberOfMessages: count });
        return peeked.peekedMessageItems.map((item) => ({ id: item.messageId, insertedAt: item.insertedOn, body: bodyOf(decodeMessage(item.messageText)) }));
      } catch (error) {
        // The host creates a poison queue with its first message: none yet means nothing was poisoned.
        if (error instanceof RestError && error.statusCode === 404) return [];
        throw error;
      }
    });
  }

  /** Messages on the poison queue (Queue Storage's approximate count). */
  async poisonedCount(queue: WorkQueueName): Promise<number> {
    return this.translate(`count ${queue}-poison`, async () => {
      try {
        return (await (await this.client()).getQueueClient(`${this.nameOf(queue)}-poison`).getProperties()).approximateMessagesCount ?? 0;
      } catch (error) {
        if (error instanceof RestError && error.statusCode === 404) return 0;
        throw error;
      }
    });
  }

  async receive(queue: WorkQueueName, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage | undefined> {
    return this.translate(`receive from ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      const { receivedMessageItems } = await client.receiveMessages({ numberOfMessages: 1, visibilityTimeout: Math.ceil(visibilityTimeoutSeconds) });
      const item = receivedMessageItems[0];
      if (!item) return undefined;
      return { id: item.messageId, text: decodeMessage(item.messageText), dequeueCount: item.dequeueCount, receipt: item.popReceipt };
    });
  }

  async complete(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void> {
    await this.translate(`delete a message of ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      await ignoringLost(() => client.deleteMessage(message.id, message.receipt));
    });
  }

  async release(queue: WorkQueueName, message: ReceivedWorkMessage, delaySeconds: number): Promise<void> {
    await this.translate(`release a message of ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      await ignoringLost(() => client.updateMessage(message.id, message.receipt, undefined, Math.ceil(delaySeconds)));
    });
  }

  async extend(queue: WorkQueueName, message: ReceivedWorkMessage, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage> {
    return this.translate(`keep a message of ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      const updated = await client.updateMessage(message.id, message.receipt, undefined, Math.ceil(visibilityTimeoutSeconds));
      return updated.popReceipt === undefined ? message : { ...message, receipt: updated.popReceipt };
    });
  }

  async poison(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void> {
    await this.translate(`move a message of ${queue} to ${queue}-poison`, async () => {
      const poisonQueue = await this.queue(`${this.nameOf(queue)}-poison`);
      // Never expires: the operator is shown it until someone deals with it.
      await poisonQueue.sendMessage(encodeMessage(message.text), { messageTimeToLive: -1 });
      const client = await this.queue(this.nameOf(queue));
      await ignoringLost(() => client.deleteMessage(message.id, message.receipt));
    });
  }

  async pending(queue: WorkQueueName): Promise<number> {
    return this.translate(`count the messages of ${queue}`, async () => {
      const client = await this.queue(this.nameOf(queue));
      return (await client.getProperties()).approximateMessagesCount ?? 0;
    });
  }

  private nameOf(queue: WorkQueueName): string {
    return `${this.prefix}${queue}`;
  }

  private client(): Promise<QueueServiceClient> {
    if (this.service === undefined) {
      const source = this.source;
      const started = typeof source === 'function' ? source() : Promise.resolve(source);
      this.service = started;
      // A local queue service that failed to start may start on the next call.
      started.catch(() => {
        if (this.service === started) this.service = undefined;
      });
    }
    return this.service;
  }

  /** The queue's client, the queue created first (once per process; again after a failure). */
  private queue(name: string): Promise<QueueClient> {
    let ready = this.ready.get(name);
    if (ready === undefined) {
      ready = (async () => {
        const client = (await this.client()).getQueueClient(name);
        await client.createIfNotExists();
        return client;
      })();
      this.ready.set(name, ready);
      ready.catch(() => this.ready.delete(name));
    }
    return ready;
  }

  private async translate<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw queueError(what, error);
    }
  }
}

export function encodeMessage(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Base64 as the host writes it; a message someone put on by hand as plain text is taken as it is. */
export function decodeMessage(encoded: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return encoded;
  return Buffer.from(encoded, 'base64').toString('utf8');
}

function bodyOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A message deleted or taken over by another consumer since it was received: nothing left to do with it. */
async function ignoringLost(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof RestError && (error.statusCode === 404 || (error.statusCode === 400 && error.code === 'PopReceiptMismatch'))) return;
    throw error;
  }
}

const RETRYABLE_CODES = new Set(['REQUEST_SEND_ERROR', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** STORAGE_FAILED, retryable for throttling, timeouts, server errors and dropped connections. */
function queueError(what: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const status = error instanceof RestError ? error.statusCode : undefined;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (status === 401 || status === 403) {
    return new AppError('STORAGE_FAILED', `Queue Storage could not ${what}: access denied (${status}); the function's identity needs Storage Queue Data Contributor on the account`, { cause: error });
  }
  const retryable = status !== undefined ? status === 408 || status === 429 || status >= 500 : typeof code === 'string' && RETRYABLE_CODES.has(code);
  const reason = [status === undefined ? undefined : `HTTP ${status}`, typeof code === 'string' ? code : undefined, message].filter(Boolean).join(', ');
  return new AppError('STORAGE_FAILED', `Queue Storage could not ${what}: ${reason}`, { retryable, cause: error });
}
