/**
 * The queues that carry a close's work items (Azure Storage queues in Azure, Azurite's queue service locally).
 * Producers only send; in Azure the Functions host receives, retries and poisons (queue triggers), and locally
 * a drain loop does the same with the same handlers. Delivery is at least once: every handler is idempotent.
 */
export interface WorkQueues {
  /**
   * Puts one JSON message on a queue (created when missing). A message is small (under 48 KB of JSON): work
   * items name what to do and where its inputs are stored, they never carry the inputs.
   * `delaySeconds` keeps it invisible that long first (a paced retry); at most 7 days.
   */
  send(queue: WorkQueueName, message: WorkMessage, options?: { readonly delaySeconds?: number }): Promise<void>;
  /**
   * The messages that failed too often and were moved to the queue's poison queue (`<queue>-poison`), oldest
   * first, without removing them: what the operator must be told about. At most 32 however large `limit` is
   * (the most a Queue Storage peek returns); `poisonedCount` tells how many there are.
   */
  poisoned(queue: WorkQueueName, limit: number): Promise<PoisonedMessage[]>;
  /**
   * How many messages the poison queue holds (Queue Storage's approximate count), where `poisoned` shows at
   * most 32 of them (the most a peek returns).
   */
  poisonedCount?(queue: WorkQueueName): Promise<number>;
}

/** The close's queues: per-team work, the finance item, and the one paced queue every mail goes through. */
export type WorkQueueName = 'close-team' | 'close-finance' | 'close-mail';

export const WORK_QUEUE_NAMES: readonly WorkQueueName[] = ['close-team', 'close-finance', 'close-mail'];

export type WorkMessage = Readonly<Record<string, unknown>>;

export interface PoisonedMessage {
  readonly id: string;
  readonly insertedAt: Date;
  /** The message as it was sent (parsed JSON), or its raw text when it is not JSON. */
  readonly body: unknown;
}

/** What a handler learns of the message it is given, as the Functions host passes it in triggerMetadata. */
export interface WorkMessageMeta {
  readonly id: string;
  /** 1 on the first delivery. */
  readonly dequeueCount: number;
}

/** A queue-triggered handler: throws to have the message retried (then poisoned), returns to complete it. */
export type WorkHandler = (message: unknown, meta: WorkMessageMeta) => Promise<void>;

/**
 * Spaces sends from one mailbox across every worker of every instance (Exchange Online allows 30 a minute per
 * mailbox): each send first reserves the next free slot, kept in Table Storage so that all instances share it.
 */
export interface MailPacer {
  /**
   * Reserves the mailbox's next send slot at or after `now`: the returned instant is `now` when the mailbox
   * is idle, else one interval after the last slot reserved. Two callers never get the same slot.
   */
  reserve(mailbox: string, now: Date): Promise<Date>;
}
