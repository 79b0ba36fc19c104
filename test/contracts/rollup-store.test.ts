import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import { buildMonthlyLines, type LineTotals, type MonthlyLine } from '../../shared/domain/rollup.js';
import type { RevisionedRollupStore } from '../../shared/ports/rollup-store.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { InMemoryRollupStore } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The RollupStore contract: the Table adapter on Azurite and the in-memory fake the use-case tests use. */
const implementations: [string, () => Promise<RevisionedRollupStore>][] = [
  ['TableRollupStore (Azurite)', () => TableRollupStore.create(tableClientFor(azuriteConnectionString(), uniqueTableName('rollupcontract')))],
  ['InMemoryRollupStore', async () => new InMemoryRollupStore()],
];

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'payments', displayName: 'Ada' },
    { userId: 'u2', teamId: 'payments', displayName: 'Alan' },
    { userId: 'u3', teamId: 'platform', displayName: 'Grace' },
  ],
  [
    { id: 'payments', name: 'Payments', leads: [] },
    { id: 'platform', name: 'Platform', leads: [] },
  ],
);

function linesOf(month: string, users: readonly string[], extra: Partial<Parameters<typeof usageRow>[0]> = {}): MonthlyLine[] {
  const rows = users.flatMap((userId, index) => [
    usageRow({ day: `${month}-03`, userId, tokens: tokens({ input: 1_000 * (index + 1), output: 7 }), ...extra }),
    usageRow({ day: `${month}-20`, userId, model: 'unknown-model', tokens: tokens({ input: 5 }), ...extra }),
  ]);
  return buildMonthlyLines(month, rows, directory, testPriceBook());
}

/** Lines as comparable values: exact money as strings. */
function plain(lines: readonly (MonthlyLine | LineTotals)[]): unknown {
  return JSON.parse(JSON.stringify(lines, (_key, value: unknown) => (value !== null && typeof value === 'object' && 'toFixed' in value ? (value as { toFixed(): string }).toFixed() : value)));
}

describe.each(implementations)('%s', (_name, create) => {
  it('reads back exactly the lines of the month, in line order, and nothing for a month never written', async () => {
    const store = await create();
    const lines = linesOf('2026-10', ['u3', 'u1', 'stranger', '']);
    expect(await store.replaceMonth('2026-10', [...lines].reverse())).toMatchObject({ written: lines.length, deleted: 0 });
    expect(plain(await store.readMonth('2026-10'))).toEqual(plain(lines));
    expect(await store.readMonth('2026-09')).toEqual([]);
  });

  it('reads the month without its days: the same figures, in line order, and no days to mistake for none', async () => {
    const store = await create();
    const lines = linesOf('2026-10', ['u3', 'u1', 'stranger']);
    await store.replaceMonth('2026-10', [...lines].reverse());
    const totals = await store.readMonthTotals('2026-10');
    expect(totals.some((line) => 'days' in line)).toBe(false);
    expect(plain(totals)).toEqual((plain(lines) as { days: unknown }[]).map(({ days: _days, ...rest }) => rest));
    expect(totals.map((line) => line.cost.toFixed())).toEqual(lines.map((line) => line.cost.toFixed()));
    expect(await store.readMonthTotals('2026-09')).toEqual([]);
  });

  it('replaces a month: changed lines overwrite, vanished lines go, other months stay', async () => {
    const store = await create();
    await store.replaceMonth('2026-09', linesOf('2026-09', ['u1']));
    await store.replaceMonth('2026-10', linesOf('2026-10', ['u1', 'u2', 'u3']));
    const next = linesOf('2026-10', ['u1', 'u3'], { requests: 9 });
    expect(await store.replaceMonth('2026-10', next)).toEqual({ written: next.length, deleted: 2 });
    expect(plain(await store.readMonth('2026-10'))).toEqual(plain(next));
    expect(plain(await store.readMonth('2026-09'))).toEqual(plain(linesOf('2026-09', ['u1'])));
    expect(await store.replaceMonth('2026-10', next)).toEqual({ written: next.length, deleted: 0 });
  });

  it('reads one team without the others', async () => {
    const store = await create();
    const lines = linesOf('2026-10', ['u1', 'u2', 'u3']);
    await store.replaceMonth('2026-10', lines);
    expect(plain(await store.readTeamMonth('2026-10', 'payments'))).toEqual(plain(lines.filter((line) => line.teamId === 'payments')));
    expect(await store.readTeamMonth('2026-10', 'pay')).toEqual([]);
  });

  it('refuses duplicate keys, lines of another month and a malformed month', async () => {
    const store = await create();
    const [line] = linesOf('2026-10', ['u1']);
    await expect(store.replaceMonth('2026-10', [line!, line!])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.replaceMonth('2026-11', [line!])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.readMonth('2026-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await store.readMonth('2026-10')).toEqual([]);
  });
});
