import type { MailPacer, PoisonedMessage, WorkHandler, WorkMessage, WorkQueueName, WorkQueues } from '../../shared/ports/work-queues.js';

interface Held {
  readonly id: string;
  readonly queue: WorkQueueName;
  readonly body: WorkMessage;
  readonly insertedAt: Date;
  visibleAt: number;
  dequeueCount: number;
}

/**
 * Work queues in memory on a test clock, drained the way the Functions host runs queue triggers: a handler
 * that returns completes its message, one that throws leaves it for a retry, and after `maxDequeueCount`
 * deliveries it moves to the poison queue. Delayed messages wait for the clock, which the drain moves on
 * when nothing else is visible.
 */
export class InMemoryWorkQueues implements WorkQueues {
  readonly waiting: Held[] = [];
  readonly poison = new Map<WorkQueueName, PoisonedMessage[]>();
  readonly sent: { queue: WorkQueueName; body: WorkMessage; delaySeconds: number }[] = [];
  private nextId = 1;

  constructor(private readonly clock: { now(): Date; set(iso: string): void }) {}

  async send(queue: WorkQueueName, message: WorkMessage, options: { delaySeconds?: number } = {}): Promise<void> {
    const delaySeconds = options.delaySeconds ?? 0;
    this.sent.push({ queue, body: message, delaySeconds });
    // Stored as the JSON a real queue keeps: nothing the handler receives shares objects with the sender.
    const body = JSON.parse(JSON.stringify(message)) as WorkMessage;
    this.waiting.push({ id: `m${this.nextId++}`, queue, body, insertedAt: this.clock.now(), visibleAt: this.clock.now().getTime() + delaySeconds * 1000, dequeueCount: 0 });
  }

  async poisoned(queue: WorkQueueName, limit: number): Promise<PoisonedMessage[]> {
    return (this.poison.get(queue) ?? []).slice(0, limit);
  }

  /** Runs every message to completion or poison, one at a time, moving the clock to delayed ones. */
  async drain(handlers: Partial<Record<WorkQueueName, WorkHandler>>, options: { maxDequeueCount?: number; retryDelaySeconds?: number; maxMessages?: number } = {}): Promise<{ completed: number; retried: number; poisoned: number }> {
    const maxDequeueCount = options.maxDequeueCount ?? 5;
    const counts = { completed: 0, retried: 0, poisoned: 0 };
    for (let handled = 0; this.waiting.length > 0; handled++) {
      if (handled > (options.maxMessages ?? 10_000)) throw new Error('the queues did not drain');
      const now = this.clock.now().getTime();
      const next = [...this.waiting].sort((a, b) => a.visibleAt - b.visibleAt)[0]!;
      if (next.visibleAt > now) this.clock.set(new Date(next.visibleAt).toISOString());
      const handler = handlers[next.queue];
      if (!handler) throw new Error(`no handler for ${next.queue}`);
      next.dequeueCount += 1;
      try {
        await handler(next.body, { id: next.id, dequeueCount: next.dequeueCount });
        this.waiting.splice(this.waiting.indexOf(next), 1);
        counts.completed += 1;
      } catch {
        if (next.dequeueCount >= maxDequeueCount) {
          this.waiting.splice(this.waiting.indexOf(next), 1);
          this.poison.set(next.queue, [...(this.poison.get(next.queue) ?? []), { id: next.id, insertedAt: next.insertedAt, body: next.body }]);
          counts.poisoned += 1;
        } else {
          next.visibleAt = this.clock.now().getTime() + (options.retryDelaySeconds ?? 1) * 1000;
          counts.retried += 1;
        }
      }
    }
    return counts;
  }
}

/** Mail slots spaced by a fixed interval per mailbox, as the Table adapter reserves them. */
export class InMemoryMailPacer implements MailPacer {
  readonly reserved: { mailbox: string; slot: Date }[] = [];
  private readonly next = new Map<string, number>();
  constructor(private readonly intervalMs: number) {}
  async reserve(mailbox: string, now: Date): Promise<Date> {
    const slot = Math.max(now.getTime(), this.next.get(mailbox) ?? 0);
    this.next.set(mailbox, slot + this.intervalMs);
    this.reserved.push({ mailbox, slot: new Date(slot) });
    return new Date(slot);
  }
}
