import { describe, expect, it } from 'vitest';
import { queueServiceFromConnectionString, StorageWorkQueues } from '../../shared/adapters/azure/storage-work-queues.js';
import { drainWorkQueues, type DrainableWorkQueues, type DrainOptions } from '../../shared/adapters/local/queue-drain.js';
import type { WorkMessageMeta, WorkQueues } from '../../shared/ports/work-queues.js';
import { InMemoryQueueStorage } from '../support/in-memory.js';
import { azuriteQueueConnectionString, uniqueQueuePrefix } from '../support/tables.js';

type Queues = WorkQueues & DrainableWorkQueues;

/**
 * The WorkQueues contract and the drain's queue-trigger semantics, on Azurite's Queue service and on the
 * in-memory queues alike: what the close's handlers may rely on, locally and (through the host) in Azure.
 */
const implementations: [string, () => Queues][] = [
  ['StorageWorkQueues (Azurite)', () => new StorageWorkQueues(queueServiceFromConnectionString(azuriteQueueConnectionString()), { queuePrefix: uniqueQueuePrefix() })],
  ['InMemoryQueueStorage', () => new InMemoryQueueStorage()],
];

/** Quick polls and retries: every wait in these tests is a second or less. */
const fast = { workers: 2, retryDelaySeconds: 0, pollIntervalMs: [20, 200] } satisfies Partial<DrainOptions>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(implementations)('%s', (_name, create) => {
  it('delivers every message once to its queue handler, as sent, with its id and first dequeue count, in no promised order', async () => {
    const queues = create();
    const teams = ['t1', 't2', 't3', 't4', 't5'];
    for (const team of teams) await queues.send('close-team', { month: '2026-11', team, note: 'é ü 😀 <&>' });
    await queues.send('close-finance', { month: '2026-11' });
    const seen: { message: unknown; meta: WorkMessageMeta }[] = [];
    const finance: unknown[] = [];

    const result = await drainWorkQueues({
      ...fast,
      queues,
      workers: 3,
      handlers: {
        'close-team': async (message, meta) => void seen.push({ message, meta }),
        'close-finance': async (message) => void finance.push(message),
      },
    });

    expect(seen.map(({ message }) => (message as { team: string }).team).sort()).toEqual(teams);
    expect(seen[0]!.message).toMatchObject({ month: '2026-11', note: 'é ü 😀 <&>' });
    expect(seen.every(({ meta }) => meta.dequeueCount === 1 && meta.id.length > 0)).toBe(true);
    expect(new Set(seen.map(({ meta }) => meta.id)).size).toBe(teams.length);
    expect(finance).toEqual([{ month: '2026-11' }]);
    expect(result).toMatchObject({ stoppedBecause: 'idle', totals: { completed: 6, retried: 0, poisoned: 0 }, byQueue: { 'close-team': { completed: 5 }, 'close-finance': { completed: 1 } } });
    expect(await queues.pending('close-team')).toBe(0);
  });

  it('keeps a delayed message invisible, and a drain waits for it instead of stopping', async () => {
    const queues = create();
    await queues.send('close-mail', { to: 'lead@contoso.example' }, { delaySeconds: 1 });
    expect(await queues.receive('close-mail', 30)).toBeUndefined();
    expect(await queues.pending('close-mail')).toBe(1);
    const handled: unknown[] = [];

    const result = await drainWorkQueues({ ...fast, queues, handlers: { 'close-mail': async (message) => void handled.push(message) } });

    expect(handled).toEqual([{ to: 'lead@contoso.example' }]);
    expect(result.stoppedBecause).toBe('idle');
  });

  it('retries a message whose handler throws, with a higher dequeue count, and completes it once the handler succeeds', async () => {
    const queues = create();
    await queues.send('close-team', { team: 'flaky' });
    const deliveries: number[] = [];

    const result = await drainWorkQueues({
      ...fast,
      queues,
      handlers: {
        'close-team': async (_message, meta) => {
          deliveries.push(meta.dequeueCount);
          if (meta.dequeueCount === 1) throw new Error('Graph answered 503');
        },
      },
    });

    expect(deliveries).toEqual([1, 2]);
    expect(result.byQueue['close-team']).toEqual({ completed: 1, retried: 1, poisoned: 0 });
    expect(await queues.poisoned('close-team', 10)).toEqual([]);
  });

  it('moves a message to <queue>-poison when the delivery numbered maxDequeueCount fails, and lists it there without removing it', async () => {
    const queues = create();
    await queues.send('close-team', { team: 'broken', month: '2026-11' });
    await queues.send('close-team', { team: 'fine', month: '2026-11' });
    const deliveries: number[] = [];
    const progress: string[] = [];

    const result = await drainWorkQueues({
      ...fast,
      queues,
      maxDequeueCount: 3,
      handlers: {
        'close-team': async (message, meta) => {
          if ((message as { team: string }).team !== 'broken') return;
          deliveries.push(meta.dequeueCount);
          throw new Error('no such team');
        },
      },
      onProgress: (event) => progress.push(`${event.outcome}${event.error instanceof Error ? `: ${event.error.message}` : ''}`),
    });

    expect(deliveries).toEqual([1, 2, 3]);
    expect(result.byQueue['close-team']).toEqual({ completed: 1, retried: 2, poisoned: 1 });
    expect(progress.filter((line) => line.startsWith('poisoned'))).toEqual(['poisoned: no such team']);
    expect(await queues.pending('close-team')).toBe(0);
    const poisoned = await queues.poisoned('close-team', 10);
    expect(poisoned).toHaveLength(1);
    expect(poisoned[0]!.body).toEqual({ team: 'broken', month: '2026-11' });
    expect(poisoned[0]!.insertedAt).toBeInstanceOf(Date);
    expect(await queues.poisoned('close-team', 10)).toHaveLength(1);
    expect(await queues.poisonedCount?.('close-team')).toBe(1);
    expect(await queues.poisoned('close-finance', 10)).toEqual([]);
  });

  it('poisons without running it a message already dequeued more often than allowed (its worker died each time)', async () => {
    const queues = create();
    await queues.send('close-finance', { month: '2026-11' });
    for (let attempt = 0; attempt < 3; attempt++) {
      const message = await queues.receive('close-finance', 30);
      await queues.release('close-finance', message!, 0);
    }
    let ran = false;

    const result = await drainWorkQueues({ ...fast, queues, maxDequeueCount: 2, handlers: { 'close-finance': async () => void (ran = true) } });

    expect(ran).toBe(false);
    expect(result.byQueue['close-finance']).toEqual({ completed: 0, retried: 0, poisoned: 1 });
    expect((await queues.poisoned('close-finance', 10)).map((message) => message.body)).toEqual([{ month: '2026-11' }]);
  });

  it('does not stop while a handler is still adding work to another queue', async () => {
    const queues = create();
    await queues.send('close-team', { team: 'a' });
    await queues.send('close-team', { team: 'b' });
    const mailed: string[] = [];

    const result = await drainWorkQueues({
      ...fast,
      queues,
      handlers: {
        'close-team': async (message) => {
          await sleep(50);
          await queues.send('close-mail', { team: (message as { team: string }).team }, { delaySeconds: 1 });
        },
        'close-mail': async (message) => void mailed.push((message as { team: string }).team),
      },
    });

    expect(mailed.sort()).toEqual(['a', 'b']);
    expect(result.totals.completed).toBe(4);
  });

  it('never runs one message in two drains at once: a running handler keeps its message invisible past the visibility timeout', async () => {
    const queues = create();
    const ids = Array.from({ length: 8 }, (_, index) => `team-${index}`);
    for (const team of ids) await queues.send('close-team', { team });
    await queues.send('close-finance', { slow: true });
    const running = new Set<string>();
    const overlaps: string[] = [];
    const handled: string[] = [];
    const handler = async (message: unknown, meta: WorkMessageMeta) => {
      if (running.has(meta.id)) overlaps.push(meta.id);
      running.add(meta.id);
      // The slow item outlives its 1 s visibility timeout: only the renewal keeps the other drain off it.
      await sleep((message as { slow?: boolean }).slow ? 1600 : 30);
      running.delete(meta.id);
      handled.push((message as { team?: string }).team ?? 'finance');
    };
    const drain = () => drainWorkQueues({ ...fast, queues, workers: 3, visibilityTimeoutSeconds: 1, handlers: { 'close-team': handler, 'close-finance': handler } });

    const [first, second] = await Promise.all([drain(), drain()]);

    expect(overlaps).toEqual([]);
    expect(handled.sort()).toEqual([...ids, 'finance'].sort());
    expect(first.totals.completed + second.totals.completed).toBe(9);
  });

  it('stops on abort after the handler in flight returns, leaving the rest on the queue', async () => {
    const queues = create();
    for (const team of ['a', 'b', 'c']) await queues.send('close-team', { team });
    const controller = new AbortController();

    const result = await drainWorkQueues({
      ...fast,
      queues,
      workers: 1,
      stopWhenIdle: false,
      signal: controller.signal,
      handlers: { 'close-team': async () => controller.abort() },
    });

    expect(result.stoppedBecause).toBe('aborted');
    expect(result.totals.completed).toBe(1);
    expect(await queues.pending('close-team')).toBe(2);
  });

  it('refuses a message too large for a queue (64 KiB once encoded): work items name their inputs, they do not carry them', async () => {
    const queues = create();
    await expect(queues.send('close-team', { lines: 'x'.repeat(50_000) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await queues.send('close-team', { lines: 'x'.repeat(40_000) });
    expect(await queues.pending('close-team')).toBe(1);
  });
});
