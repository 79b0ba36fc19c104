import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/domain/errors.js';
import { drainWorkQueues, type DrainProgress } from '../../shared/adapters/local/queue-drain.js';
import { InMemoryQueueStorage } from '../support/in-memory.js';

/** What the drain does beyond the queue contract (test/contracts/work-queues.test.ts): its arguments, failures and progress. */
describe('drainWorkQueues', () => {
  it('refuses to run without a worker', async () => {
    await expect(drainWorkQueues({ queues: new InMemoryQueueStorage(), handlers: { 'close-team': async () => undefined }, workers: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('with no handler, reads nothing and returns at once, leaving the queues as they are', async () => {
    const queues = new InMemoryQueueStorage();
    await queues.send('close-team', { team: 'a' });
    const result = await drainWorkQueues({ queues, handlers: {}, workers: 2 });
    expect(result).toEqual({ byQueue: {}, totals: { completed: 0, retried: 0, poisoned: 0 }, stoppedBecause: 'idle' });
    expect(await queues.pending('close-team')).toBe(1);
  });

  it('reports each item as it ends, with running totals, for the command line', async () => {
    const queues = new InMemoryQueueStorage();
    await queues.send('close-team', { team: 'a' });
    await queues.send('close-team', { team: 'b' });
    const events: DrainProgress[] = [];
    await drainWorkQueues({ queues, workers: 1, retryDelaySeconds: 0, pollIntervalMs: [10, 50], handlers: { 'close-team': async (_message, meta) => { if (meta.dequeueCount === 1 && events.length === 0) throw new Error('first try'); } }, onProgress: (event) => events.push(event) });
    expect(events.map((event) => [event.queue, event.outcome, event.totals.completed, event.totals.retried])).toEqual([
      ['close-team', 'retried', 0, 1],
      ['close-team', 'completed', 1, 1],
      ['close-team', 'completed', 2, 1],
    ]);
    expect((events[0]!.error as Error).message).toBe('first try');
  });

  it('stops every worker and throws when the queue service fails, after the handlers in flight return', async () => {
    const queues = new InMemoryQueueStorage();
    for (const team of ['a', 'b', 'c']) await queues.send('close-team', { team });
    const failing = Object.assign(Object.create(queues) as InMemoryQueueStorage, {
      complete: async () => {
        throw new AppError('STORAGE_FAILED', 'Queue Storage could not delete a message: HTTP 503', { retryable: true });
      },
    });
    let handled = 0;
    await expect(drainWorkQueues({ queues: failing, workers: 1, handlers: { 'close-team': async () => void (handled += 1) } })).rejects.toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
    expect(handled).toBe(1);
  });
});
