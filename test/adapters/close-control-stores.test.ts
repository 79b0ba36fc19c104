import type { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableCloseRegistry, TableDeliveryLedger } from '../../shared/adapters/azure/table-ledger.js';
import { TableLeases } from '../../shared/adapters/azure/table-leases.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import { money } from '../../shared/domain/money.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import type { DeliveryRecord, HeldClose } from '../../shared/ports/ledger.js';
import { tokens } from '../support/domain-fixtures.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

function freshClient(prefix: string): TableClient {
  return tableClientFor(azuriteConnectionString(), uniqueTableName(prefix));
}

describe('TableLeases on Azurite', () => {
  it('gives a month to exactly one of many runs asking at once', async () => {
    const client = freshClient('leases');
    const leases = await Promise.all(Array.from({ length: 6 }, () => TableLeases.create(client)));
    const answers = await Promise.all(leases.map((lease, index) => lease.acquire('close~2026-10', `run ${index}`)));
    const winners = answers.filter((answer) => answer.acquired);
    expect(winners).toHaveLength(1);
    const holder = winners[0]!.acquired ? winners[0]!.lease.holder : '';
    for (const answer of answers) if (!answer.acquired) expect(answer.heldBy).toBe(holder);
    if (winners[0]!.acquired) await winners[0]!.lease.release();
    expect((await leases[0]!.acquire('close~2026-10', 'later run')).acquired).toBe(true);
  });

  it('lets a run take over a lease that expired (its holder died), and the old holder learns it lost it', async () => {
    let now = new Date('2026-11-03T06:00:00Z');
    const leases = await TableLeases.create(freshClient('leases'), { durationMs: 60_000, now: () => now });
    const first = await leases.acquire('close~2026-10', 'dead run');
    expect(first.acquired).toBe(true);
    now = new Date('2026-11-03T06:00:30Z');
    expect(await leases.acquire('close~2026-10', 'second run')).toMatchObject({ acquired: false, heldBy: 'dead run' });
    now = new Date('2026-11-03T06:01:01Z');
    const second = await leases.acquire('close~2026-10', 'second run');
    expect(second.acquired).toBe(true);
    if (!first.acquired) throw new Error('unreachable');
    await expect(first.lease.renew()).rejects.toMatchObject({ code: 'BUSY' });
    // Releasing a lost lease frees nothing of the new holder's.
    await first.lease.release();
    expect(await leases.acquire('close~2026-10', 'third run')).toMatchObject({ acquired: false, heldBy: 'second run' });
  });
});

describe('TableDeliveryLedger claims on Azurite', () => {
  const claimed = (key: string): DeliveryRecord => ({ key, status: 'claimed', attempts: 1, recipients: ['fin@contoso.example'], updatedAt: new Date('2026-11-03T06:00:00Z') });

  it('lets one of two runs claim a new mail', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    const results = await Promise.all([ledger.claim(claimed('2026-10|r1|finance'), undefined), ledger.claim(claimed('2026-10|r1|finance'), undefined)]);
    expect(results.sort()).toEqual([false, true]);
    expect((await ledger.get('2026-10|r1|finance'))?.status).toBe('claimed');
  });

  it('re-claims a failed mail only if nobody changed it since it was read', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    const key = '2026-10|r1|team|payments';
    await ledger.put({ ...claimed(key), status: 'failed', lastError: 'MAIL_FAILED: 421' });
    const read = (await ledger.get(key))!;
    expect(await ledger.claim({ ...claimed(key), attempts: 2 }, read)).toBe(true);
    // The same stale read cannot claim it a second time.
    expect(await ledger.claim({ ...claimed(key), attempts: 2 }, read)).toBe(false);
    expect((await ledger.get(key))?.attempts).toBe(2);
  });
});

describe('TableCloseRegistry drafts and attempts on Azurite', () => {
  const held: HeldClose = {
    month: '2026-10',
    revision: 2,
    fingerprint: 'f2',
    closedAt: new Date('2026-11-03T06:00:00Z'),
    priceBookVersion: 'v1',
    totalMinorUnits: '1050',
    currency: 'USD',
    controls: [{ id: 'usage.total-tokens', outcome: 'hold', message: 'differ by 1', details: ['a'] }],
  };

  it('keeps a held draft apart from the published close, and clears it', async () => {
    const registry = await TableCloseRegistry.create(freshClient('closes'));
    await registry.put({ ...held, revision: 1, fingerprint: 'f1', controls: [], owedTeams: ['data', 'payments'], release: { by: 'ana', reason: 'ok', at: new Date('2026-11-04T00:00:00Z') } });
    await registry.putDraft(held);
    expect(await registry.draft('2026-10')).toEqual(held);
    expect(await registry.get('2026-10')).toMatchObject({ revision: 1, owedTeams: ['data', 'payments'], release: { by: 'ana', reason: 'ok' } });
    await registry.clearDraft('2026-10');
    await registry.clearDraft('2026-10');
    expect(await registry.draft('2026-10')).toBeUndefined();
  });

  it('lists the attempts of a month newest first', async () => {
    const registry = await TableCloseRegistry.create(freshClient('closes'));
    await registry.recordAttempt({ month: '2026-10', at: new Date('2026-11-03T06:00:00Z'), outcome: 'refused', revision: null, controls: held.controls });
    await registry.recordAttempt({ month: '2026-10', at: new Date('2026-11-04T06:00:00Z'), outcome: 'held', revision: 2, controls: held.controls, note: 'n' });
    await registry.recordAttempt({ month: '2026-09', at: new Date('2026-11-05T06:00:00Z'), outcome: 'closed', revision: 1, controls: [] });
    const attempts = await registry.attempts('2026-10');
    expect(attempts.map((attempt) => [attempt.outcome, attempt.revision])).toEqual([
      ['held', 2],
      ['refused', null],
    ]);
    expect(attempts[0]!.controls).toEqual(held.controls);
  });
});

describe('TableRollupStore revisions on Azurite', () => {
  const line = (teamId: string, userId: string, input: number): MonthlyLine => ({
    month: '2026-10',
    teamId,
    userId,
    model: 'claude-sonnet-4-6',
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: userId,
    upn: `${userId}@contoso.example`,
    pricedModel: 'claude-sonnet-4-6',
    tokens: tokens({ input }),
    unpricedTokens: tokens({}),
    requests: 1,
    cost: money(input).div(1_000_000).mul(3),
    currency: 'USD',
    priceEntryIds: ['p1'],
    days: [{ day: '2026-10-05', tokens: tokens({ input }), requests: 1, cost: money(input).div(1_000_000).mul(3), priceEntryId: 'p1' }],
  });

  it('keeps a written revision out of sight until it is published, then shows only it', async () => {
    const store = await TableRollupStore.create(freshClient('rollups'));
    await store.replaceMonth('2026-10', [line('payments', 'u1', 1000), line('data', 'u3', 10)]);
    expect(await store.publishedRevision('2026-10')).toBe(0);

    await store.writeRevision('2026-10', 1, [line('payments', 'u1', 2000), line('platform', 'u2', 500)]);
    expect((await store.readMonth('2026-10')).map((l) => [l.teamId, l.tokens.input])).toEqual([
      ['data', 10],
      ['payments', 1000],
    ]);
    expect((await store.readRevision('2026-10', 1)).map((l) => l.tokens.input).sort()).toEqual([2000, 500].sort());

    await store.publishRevision('2026-10', 1);
    expect(await store.publishedRevision('2026-10')).toBe(1);
    expect((await store.readMonth('2026-10')).map((l) => [l.teamId, l.tokens.input])).toEqual([
      ['payments', 2000],
      ['platform', 500],
    ]);
    expect((await store.readTeamMonth('2026-10', 'data'))).toEqual([]);
    expect((await store.readTeamMonth('2026-10', 'platform')).map((l) => l.userId)).toEqual(['u2']);
    // The superseded layout's lines are gone, not merely hidden.
    expect(await store.readRevision('2026-10', 0)).toEqual([]);
  });

  it('reads a month stored before revisions were kept apart (no pointer) as it was', async () => {
    const store = await TableRollupStore.create(freshClient('rollups'));
    await store.writeRevision('2026-10', 0, [line('payments', 'u1', 1000)]);
    expect(await store.publishedRevision('2026-10')).toBe(0);
    expect((await store.readMonth('2026-10')).map((l) => l.userId)).toEqual(['u1']);
    expect(await store.publishedRevision('2026-09')).toBeUndefined();
    expect(await store.readMonth('2026-09')).toEqual([]);
  });
});
