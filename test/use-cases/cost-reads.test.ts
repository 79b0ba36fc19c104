import { describe, expect, it } from 'vitest';
import type { CallOptions } from '../../shared/ports/directory.js';
import type { RollupStore } from '../../shared/ports/rollup-store.js';
import { StoredCostReads } from '../../shared/use-cases/cost-reads.js';
import { fixedClock, InMemoryCloseRegistry, InMemoryDailyRollupStore, StaticDirectory } from '../support/in-memory.js';

const CLOSE = { month: '2026-10', revision: 1, fingerprint: 'f', closedAt: new Date('2026-11-02T06:00:00Z'), priceBookVersion: 'v', totalMinorUnits: '0', currency: 'USD' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A month read that takes `steps` pauses of `pauseMs`, reporting progress after each when `reports` is set. */
function slowStore(steps: number, pauseMs: number, reports: boolean): RollupStore & { signal?: AbortSignal } {
  const store: RollupStore & { signal?: AbortSignal } = {
    replaceMonth: async () => ({ written: 0, deleted: 0 }),
    readTeamMonth: async () => [],
    readMonth: async (_month: string, options: CallOptions = {}) => {
      store.signal = options.signal;
      for (let step = 0; step < steps; step += 1) {
        await sleep(pauseMs);
        if (reports) options.onProgress?.();
      }
      return [];
    },
  };
  return store;
}

function readsOver(rollups: RollupStore) {
  return new StoredCostReads({
    rollups,
    closes: new InMemoryCloseRegistry(),
    dailyRollups: new InMemoryDailyRollupStore(),
    directory: new StaticDirectory({ users: new Map(), teams: new Map(), notes: [] }),
    clock: fixedClock('2026-11-10T12:00:00Z'),
    settings: { timeZone: 'UTC', callTimeoutMs: 100 },
  });
}

describe('the deadline of a long read', () => {
  it('moves on while the read reports progress, so a big month still reads', async () => {
    // Six pauses of 40 ms: longer than the 100 ms deadline in all, never 100 ms without progress.
    await expect(readsOver(slowStore(6, 40, true)).closedMonth('2026-10', CLOSE)).resolves.toBeNull();
  });

  it('fails with TIMEOUT and aborts the read when it stops answering', async () => {
    const store = slowStore(6, 40, false);
    await expect(readsOver(store).closedMonth('2026-10', CLOSE)).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(store.signal?.aborted).toBe(true);
  });
});
