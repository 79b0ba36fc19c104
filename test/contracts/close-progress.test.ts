import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableCloseProgress } from '../../shared/adapters/azure/table-close-progress.js';
import type { CloseProgress } from '../../shared/ports/close-progress.js';
import { InMemoryCloseProgress } from '../support/in-memory-close-progress.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The CloseProgress contract (which work items of a revision's delivery are done): Azurite and the fake. */
const stores: [string, () => Promise<CloseProgress>][] = [
  ['TableCloseProgress (Azurite)', async () => new TableCloseProgress(tableClientFor(azuriteConnectionString(), uniqueTableName('progresscontract')), { now: () => new Date('2026-12-03T06:00:00Z') })],
  ['InMemoryCloseProgress', async () => new InMemoryCloseProgress(() => new Date('2026-12-03T06:00:00Z'))],
];

describe.each(stores)('%s', (_name, create) => {
  it('plans items as pending and keeps a done item done when the plan is made again', async () => {
    const progress = await create();
    await progress.plan('2026-11', 1, [
      { id: 'team~platform', kind: 'team' },
      { id: 'team~data.science', kind: 'team' },
      { id: 'finance', kind: 'finance' },
    ]);
    await progress.complete('2026-11', 1, 'team~platform', { status: 'done', summary: 'workbook written, mail queued', location: 'memory:x.xlsx' });
    await progress.plan('2026-11', 1, [
      { id: 'team~platform', kind: 'team' },
      { id: 'team~data.science', kind: 'team' },
      { id: 'finance', kind: 'finance' },
    ]);

    const items = await progress.items('2026-11', 1);
    expect(items.map((item) => [item.id, item.kind, item.state])).toEqual([
      ['finance', 'finance', 'pending'],
      ['team~data.science', 'team', 'pending'],
      ['team~platform', 'team', 'done'],
    ]);
    expect(items.find((item) => item.id === 'team~platform')?.outcome).toEqual({ status: 'done', summary: 'workbook written, mail queued', location: 'memory:x.xlsx' });
    expect(await progress.item('2026-11', 1, 'team~platform')).toMatchObject({ id: 'team~platform', kind: 'team', state: 'done', outcome: { location: 'memory:x.xlsx' } });
    expect(await progress.item('2026-11', 1, 'finance')).toMatchObject({ id: 'finance', kind: 'finance', state: 'pending' });
    expect(await progress.item('2026-11', 1, 'team~nobody')).toBeUndefined();
    expect(await progress.item('2026-11', 2, 'team~platform')).toBeUndefined();
  });

  it('keeps done items done when a plan of many items is made again, and says whether a kind of item is still pending', async () => {
    const progress = await create();
    const teams = Array.from({ length: 12 }, (_, index) => ({ id: `team~t${String(index).padStart(2, '0')}`, kind: 'team' as const }));
    await progress.plan('2026-11', 1, [...teams, { id: 'finance', kind: 'finance' }]);
    expect(await progress.hasPending('2026-11', 1, 'team')).toBe(true);
    expect(await progress.hasPending('2026-11', 1, 'mail')).toBe(false);
    for (const team of teams.slice(0, 11)) await progress.complete('2026-11', 1, team.id, { status: 'done', summary: 'workbook written' });
    await progress.plan('2026-11', 1, [...teams, { id: 'finance', kind: 'finance' }]);
    expect((await progress.items('2026-11', 1)).filter((item) => item.state === 'done')).toHaveLength(11);
    expect(await progress.hasPending('2026-11', 1, 'team')).toBe(true);
    await progress.complete('2026-11', 1, 'team~t11', { status: 'superseded', summary: 'a later revision was published' });
    expect(await progress.hasPending('2026-11', 1, 'team')).toBe(false);
    expect(await progress.hasPending('2026-11', 1, 'finance')).toBe(true);
    expect(await progress.hasPending('2026-11', 2, 'team')).toBe(false);
  });

  it('keeps revisions and months apart, and ids with any characters (a mail key) round-trip', async () => {
    const progress = await create();
    const key = 'mail~2026-11|r2|team|platform';
    await progress.plan('2026-11', 2, [{ id: key, kind: 'mail' }]);
    await progress.complete('2026-11', 2, key, { status: 'done', summary: 'sent to 2 recipient(s)', mail: 'sent' });
    await progress.plan('2026-11', 1, [{ id: 'finance', kind: 'finance' }]);

    expect(await progress.items('2026-11', 2)).toMatchObject([{ id: key, kind: 'mail', state: 'done', outcome: { mail: 'sent' } }]);
    expect(await progress.items('2026-11', 1)).toMatchObject([{ id: 'finance', state: 'pending' }]);
    expect(await progress.items('2026-10', 1)).toEqual([]);
  });

  it('records a superseded item as such', async () => {
    const progress = await create();
    await progress.plan('2026-11', 1, [{ id: 'team~platform', kind: 'team' }]);
    await progress.complete('2026-11', 1, 'team~platform', { status: 'superseded', summary: 'revision 2 is published now' });
    expect(await progress.items('2026-11', 1)).toMatchObject([{ id: 'team~platform', kind: 'team', state: 'superseded', outcome: { summary: 'revision 2 is published now' } }]);
  });
});
