import { AppError } from '../../domain/errors.js';
import { WORK_QUEUE_NAMES, type WorkHandler, type WorkQueueName } from '../../ports/work-queues.js';

/**
 * What the local drain needs of a queue service, beyond what producers use: the receive / delete / release /
 * poison operations the Functions host performs for a queue trigger. Implemented by the Storage adapter
 * (Azurite locally) and by the in-memory queues of the tests, so both run the one drain below.
 */
export interface DrainableWorkQueues {
  /** The next visible message, made invisible for `visibilityTimeoutSeconds` and its dequeue count raised; none when the queue is empty. */
  receive(queue: WorkQueueName, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage | undefined>;
  /** Deletes a message received earlier. One that is gone, or was received again by someone else since, is left alone. */
  complete(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void>;
  /** Makes a received message visible again after `delaySeconds` (a retry); the same exceptions as complete. */
  release(queue: WorkQueueName, message: ReceivedWorkMessage, delaySeconds: number): Promise<void>;
  /** Keeps a received message invisible for another `visibilityTimeoutSeconds` while it is worked on; the message with its new receipt. */
  extend(queue: WorkQueueName, message: ReceivedWorkMessage, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage>;
  /** Copies the message as it was sent to `<queue>-poison`, then deletes it from the queue. */
  poison(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void>;
  /** Messages on the queue, invisible ones included (delayed, in flight, waiting for a retry). */
  pending(queue: WorkQueueName): Promise<number>;
}

export interface ReceivedWorkMessage {
  readonly id: string;
  /** The message as sent (JSON text, already decoded from the queue's encoding). */
  readonly text: string;
  /** 1 on the first delivery. */
  readonly dequeueCount: number;
  /** Proves the latest receive (Storage's pop receipt); changes with each receive and extend. */
  readonly receipt: string;
}

export type DrainOutcome = 'completed' | 'retried' | 'poisoned';

export interface DrainCounts {
  completed: number;
  retried: number;
  poisoned: number;
}

export interface DrainProgress {
  readonly queue: WorkQueueName;
  readonly outcome: DrainOutcome;
  readonly messageId: string;
  readonly dequeueCount: number;
  /** What the handler threw (retried, or poisoned after a failure). */
  readonly error?: unknown;
  /** The totals so far, over every queue of this drain. */
  readonly totals: Readonly<DrainCounts>;
}

export interface DrainResult {
  /** Per queue that had a handler. */
  readonly byQueue: Readonly<Partial<Record<WorkQueueName, Readonly<DrainCounts>>>>;
  readonly totals: Readonly<DrainCounts>;
  /** 'idle': every queue was empty, nothing delayed or in flight; 'aborted': the signal stopped it. */
  readonly stoppedBecause: 'idle' | 'aborted';
}

/** The host's own defaults for a queue trigger, as host.json sets them (docs/fan-out.md). */
export const DEFAULT_MAX_DEQUEUE_COUNT = 5;
export const DEFAULT_RETRY_DELAY_SECONDS = 30;

export interface DrainOptions {
  readonly queues: DrainableWorkQueues;
  /** The queues to work on; a queue without a handler is neither read nor waited for. */
  readonly handlers: Partial<Record<WorkQueueName, WorkHandler>>;
  /** Messages worked on at once (CLOSE_WORKERS). */
  readonly workers: number;
  /** A failure of the delivery numbered this moves the message to `<queue>-poison` (host.json maxDequeueCount). */
  readonly maxDequeueCount?: number;
  /** How long a received message stays invisible to other consumers; renewed at half-time while its handler runs. */
  readonly visibilityTimeoutSeconds?: number;
  /** After a failure, the message is visible again this long after (host.json visibilityTimeout). */
  readonly retryDelaySeconds?: number;
  /** Wait between polls when every queue is empty: starts at the first, doubles up to the second. */
  readonly pollIntervalMs?: readonly [number, number];
  /** true (default): stop once everything is done; false: run until the signal aborts, as a host would. */
  readonly stopWhenIdle?: boolean;
  readonly onProgress?: (progress: DrainProgress) => void;
  readonly signal?: AbortSignal;
}

const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 60;
const DEFAULT_POLL_INTERVAL_MS: readonly [number, number] = [100, 1000];

/**
 * Runs the handlers over the queues with `workers` concurrent workers, the way the Functions host runs queue
 * triggers: a handler that returns completes its message (deleted); one that throws leaves it for a retry
 * (visible again after retryDelaySeconds) until the delivery numbered maxDequeueCount fails, which moves it
 * to `<queue>-poison`; a message found with a higher dequeue count (its worker died) is poisoned unhandled.
 * While a handler runs its message stays invisible (renewed), so two drains never run one message at once.
 * It stops when no queue holds any message, invisible ones included, and no worker is busy, or on abort
 * (after the handlers in flight return).
 */
export async function drainWorkQueues(options: DrainOptions): Promise<DrainResult> {
  const queues = WORK_QUEUE_NAMES.filter((name) => options.handlers[name] !== undefined);
  const workers = options.workers;
  if (!Number.isInteger(workers) || workers < 1) throw new AppError('INVALID_ARGUMENT', `a drain needs at least one worker (got ${workers})`);
  const maxDequeueCount = options.maxDequeueCount ?? DEFAULT_MAX_DEQUEUE_COUNT;
  const visibilitySeconds = options.visibilityTimeoutSeconds ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
  const retryDelaySeconds = options.retryDelaySeconds ?? DEFAULT_RETRY_DELAY_SECONDS;
  const [firstPollMs, maxPollMs] = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const stopWhenIdle = options.stopWhenIdle ?? true;
  const signal = options.signal;

  const byQueue: Partial<Record<WorkQueueName, DrainCounts>> = {};
  for (const queue of queues) byQueue[queue] = { completed: 0, retried: 0, poisoned: 0 };
  const totals: DrainCounts = { completed: 0, retried: 0, poisoned: 0 };
  let stoppedBecause: 'idle' | 'aborted' | undefined;
  // Workers receiving or handling a message; `received` counts every message taken, so an idle check can tell
  // that nothing was taken while it looked at the queues one after the other.
  let busy = 0;
  let received = 0;
  let nextQueue = 0;

  const record = (queue: WorkQueueName, outcome: DrainOutcome, message: ReceivedWorkMessage, error?: unknown) => {
    byQueue[queue]![outcome] += 1;
    totals[outcome] += 1;
    options.onProgress?.({ queue, outcome, messageId: message.id, dequeueCount: message.dequeueCount, ...(error === undefined ? {} : { error }), totals: { ...totals } });
  };

  /** Tries each queue once, starting after the one the last worker read, so no queue starves another. */
  const receiveAny = async (): Promise<{ queue: WorkQueueName; message: ReceivedWorkMessage } | undefined> => {
    for (let tried = 0; tried < queues.length; tried++) {
      const queue = queues[nextQueue % queues.length]!;
      nextQueue = (nextQueue + 1) % queues.length;
      const message = await options.queues.receive(queue, visibilitySeconds);
      if (message) {
        received += 1;
        return { queue, message };
      }
    }
    return undefined;
  };

  const handle = async (queue: WorkQueueName, first: ReceivedWorkMessage): Promise<void> => {
    let message = first;
    if (message.dequeueCount > maxDequeueCount) {
      await options.queues.poison(queue, message);
      record(queue, 'poisoned', message);
      return;
    }
    // Renewed at half the visibility timeout, so a slow handler keeps its message to itself.
    let renewal: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewal = renewal.then(async () => {
        try {
          message = await options.queues.extend(queue, message, visibilitySeconds);
        } catch {
          // Lost to another consumer or gone: its completion below is then left alone as well.
        }
      });
    }, (visibilitySeconds * 1000) / 2);
    let failure: { error: unknown } | undefined;
    try {
      await options.handlers[queue]!(parseBody(message.text), { id: message.id, dequeueCount: message.dequeueCount });
    } catch (error) {
      failure = { error };
    } finally {
      clearInterval(timer);
      await renewal;
    }
    if (failure === undefined) {
      await options.queues.complete(queue, message);
      record(queue, 'completed', message);
    } else if (message.dequeueCount >= maxDequeueCount) {
      await options.queues.poison(queue, message);
      record(queue, 'poisoned', message, failure.error);
    } else {
      await options.queues.release(queue, message, retryDelaySeconds);
      record(queue, 'retried', message, failure.error);
    }
  };

  /** True when nothing is left: no worker busy, every queue empty, and nothing taken while looking. */
  const idle = async (): Promise<boolean> => {
    if (busy > 0) return false;
    const before = received;
    for (const queue of queues) if ((await options.queues.pending(queue)) > 0) return false;
    return busy === 0 && received === before;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });

  const worker = async (): Promise<void> => {
    let waitMs = firstPollMs;
    while (stoppedBecause === undefined) {
      if (signal?.aborted) {
        stoppedBecause = 'aborted';
        break;
      }
      busy += 1;
      let taken: { queue: WorkQueueName; message: ReceivedWorkMessage } | undefined;
      try {
        taken = await receiveAny();
        if (taken) await handle(taken.queue, taken.message);
      } finally {
        busy -= 1;
      }
      if (taken) {
        waitMs = firstPollMs;
        continue;
      }
      if (stopWhenIdle && (await idle())) {
        stoppedBecause ??= 'idle';
        break;
      }
      await sleep(waitMs);
      waitMs = Math.min(waitMs * 2, maxPollMs);
    }
  };

  if (queues.length === 0) return { byQueue, totals, stoppedBecause: signal?.aborted ? 'aborted' : 'idle' };
  // A storage failure in any worker stops the others at their next message and is thrown once they are done.
  const results = await Promise.allSettled(
    Array.from({ length: workers }, () =>
      worker().catch((error: unknown) => {
        stoppedBecause ??= 'aborted';
        throw error;
      }),
    ),
  );
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  return { byQueue, totals, stoppedBecause: signal?.aborted ? 'aborted' : (stoppedBecause ?? 'idle') };
}

/** JSON as the Node.js worker hands it to a queue trigger: parsed when it is JSON, the text otherwise. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
