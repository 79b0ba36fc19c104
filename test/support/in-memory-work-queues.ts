import { WORK_QUEUE_NAMES, type WorkHandler, type WorkMessage, type WorkQueueName } from '../../shared/ports/work-queues.js';
import { InMemoryMailSlots, InMemoryQueueStorage } from './in-memory.js';

/**
 * The in-memory queues on a test clock, drained one message at a time the way the Functions host runs queue
 * triggers (a handler that returns completes its message, one that throws leaves it for a retry, and the
 * last allowed delivery that fails poisons it). When nothing is visible the drain moves the clock on to the
 * next delayed message, so a test of pacing runs in no time.
 */
export class ClockedWorkQueues extends InMemoryQueueStorage {
  /** Every send, with its delay, in order. */
  readonly sent: { queue: WorkQueueName; body: WorkMessage; delaySeconds: number }[] = [];

  constructor(private readonly clock: { now(): Date; set(iso: string): void }) {
    super(() => clock.now().getTime());
  }

  override async send(queue: WorkQueueName, message: WorkMessage, options: { readonly delaySeconds?: number } = {}): Promise<void> {
    this.sent.push({ queue, body: message, delaySeconds: options.delaySeconds ?? 0 });
    await super.send(queue, message, options);
  }

  /** The messages on the work queues (not their poison queues), oldest first. */
  get waiting(): { id: string; queue: WorkQueueName; body: WorkMessage }[] {
    return WORK_QUEUE_NAMES.flatMap((queue) => (this.queues.get(queue) ?? []).map((message) => ({ id: message.id, queue, body: JSON.parse(message.text) as WorkMessage, visibleAt: message.visibleAt })))
      .sort((a, b) => a.visibleAt - b.visibleAt)
      .map(({ id, queue, body }) => ({ id, queue, body }));
  }

  /** Takes the oldest message off its queue, as a worker that received it would. */
  take(): { id: string; queue: WorkQueueName; body: WorkMessage } {
    const first = this.waiting[0];
    if (!first) throw new Error('no message to take');
    const list = this.queues.get(first.queue)!;
    list.splice(list.findIndex((message) => message.id === first.id), 1);
    return first;
  }

  async drain(handlers: Partial<Record<WorkQueueName, WorkHandler>>, options: { maxDequeueCount?: number; retryDelaySeconds?: number } = {}): Promise<{ completed: number; retried: number; poisoned: number }> {
    const counts = { completed: 0, retried: 0, poisoned: 0 };
    for (let handled = 0; ; handled++) {
      if (handled > 20_000) throw new Error('the queues did not drain');
      const next = WORK_QUEUE_NAMES.flatMap((queue) => (this.queues.get(queue) ?? []).map((message) => ({ queue, visibleAt: message.visibleAt }))).sort((a, b) => a.visibleAt - b.visibleAt)[0];
      if (!next) return counts;
      if (next.visibleAt > this.clock.now().getTime()) this.clock.set(new Date(next.visibleAt).toISOString());
      const message = (await this.receive(next.queue, 600))!;
      const handler = handlers[next.queue];
      if (!handler) throw new Error(`no handler for ${next.queue}`);
      try {
        await handler(JSON.parse(message.text), { id: message.id, dequeueCount: message.dequeueCount });
        await this.complete(next.queue, message);
        counts.completed += 1;
      } catch {
        if (message.dequeueCount >= (options.maxDequeueCount ?? 5)) {
          await this.poison(next.queue, message);
          counts.poisoned += 1;
        } else {
          await this.release(next.queue, message, options.retryDelaySeconds ?? 1);
          counts.retried += 1;
        }
      }
    }
  }
}

/** The in-memory mail slots, keeping each reservation for a test to look at. */
export class RecordedMailSlots extends InMemoryMailSlots {
  readonly reserved: { mailbox: string; slot: Date }[] = [];
  override async reserve(mailbox: string, now: Date): Promise<Date> {
    const slot = await super.reserve(mailbox, now);
    this.reserved.push({ mailbox, slot });
    return slot;
  }
}
