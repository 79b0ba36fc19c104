import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableLeases } from '../../shared/adapters/azure/table-leases.js';
import type { Leases } from '../../shared/ports/lease.js';
import { InMemoryLeases } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The Leases contract (one close of a month at a time): the Table adapter on Azurite and the in-memory fake. */
const leases: [string, (now: () => Date) => Promise<Leases>][] = [
  ['TableLeases (Azurite)', (now) => TableLeases.create(tableClientFor(azuriteConnectionString(), uniqueTableName('leasecontract')), { durationMs: 60_000, now })],
  ['InMemoryLeases', async (now) => new InMemoryLeases(now, 60_000)],
];

describe.each(leases)('%s', (_name, create) => {
  it('is held by one run until released, and the others are told by whom', async () => {
    const store = await create(() => new Date('2026-11-03T06:00:00Z'));
    const first = await store.acquire('close~2026-10', 'run 1');
    expect(first.acquired).toBe(true);
    expect(await store.acquire('close~2026-10', 'run 2')).toMatchObject({ acquired: false, heldBy: 'run 1' });
    expect((await store.acquire('close~2026-11', 'run 2')).acquired).toBe(true);
    if (!first.acquired) throw new Error('unreachable');
    await first.lease.release();
    expect((await store.acquire('close~2026-10', 'run 2')).acquired).toBe(true);
  });

  it('renews as often as asked, even twice at once, and is then released', async () => {
    const store = await create(() => new Date('2026-11-03T06:00:00Z'));
    const taken = await store.acquire('close~2026-10', 'run 1');
    if (!taken.acquired) throw new Error('not acquired');
    await Promise.all([taken.lease.renew(), taken.lease.renew(), taken.lease.renew()]);
    await taken.lease.renew();
    await taken.lease.release();
    expect((await store.acquire('close~2026-10', 'run 2')).acquired).toBe(true);
  });

  it('passes to another run once it lapses; the old holder can neither renew nor release it', async () => {
    let now = new Date('2026-11-03T06:00:00Z');
    const store = await create(() => now);
    const first = await store.acquire('close~2026-10', 'dead run');
    now = new Date('2026-11-03T06:00:59Z');
    expect(await store.acquire('close~2026-10', 'second run')).toMatchObject({ acquired: false, heldBy: 'dead run' });
    now = new Date('2026-11-03T06:01:01Z');
    expect((await store.acquire('close~2026-10', 'second run')).acquired).toBe(true);
    if (!first.acquired) throw new Error('unreachable');
    await expect(first.lease.renew()).rejects.toMatchObject({ code: 'BUSY' });
    await first.lease.release();
    expect(await store.acquire('close~2026-10', 'third run')).toMatchObject({ acquired: false, heldBy: 'second run' });
  });
});
