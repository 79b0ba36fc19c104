import { describe, expect, it } from 'vitest';
import { TableAlertLedger } from '../../shared/adapters/azure/table-alert-ledger.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import type { AlertLedger } from '../../shared/ports/alert-ledger.js';
import { InMemoryAlertLedger } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const KEY = '2026-10|budget|payments|actual|80';
const STALE = 15 * 60 * 1000;
const at = (iso: string) => new Date(iso);

/** The AlertLedger contract: the Table adapter on Azurite and the in-memory fake the use-case tests use. */
const implementations: [string, () => Promise<AlertLedger>][] = [
  ['TableAlertLedger (Azurite)', () => TableAlertLedger.create(tableClientFor(azuriteConnectionString(), uniqueTableName('alerts')))],
  ['InMemoryAlertLedger', async () => new InMemoryAlertLedger()],
];

describe.each(implementations)('%s', (_name, ledger) => {
  it('lets exactly one of many simultaneous claims win', async () => {
    const alerts = await ledger();
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => alerts.claim(KEY, 'mail', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE })));
    expect(outcomes.filter((o) => o.status === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'busy')).toHaveLength(7);
  });

  it('keeps channels apart and makes sent final', async () => {
    const alerts = await ledger();
    const mail = await alerts.claim(KEY, 'mail', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE });
    const teams = await alerts.claim(KEY, 'teams', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE });
    expect([mail.status, teams.status]).toEqual(['claimed', 'claimed']);
    if (mail.status !== 'claimed') throw new Error('unreachable');
    expect(await alerts.settle(mail.claim, { state: 'sent', detail: '<1@test>' }, at('2026-10-20T06:00:01Z'))).toBe(true);
    const again = await alerts.claim(KEY, 'mail', { now: at('2026-10-21T06:00:00Z'), staleAfterMs: STALE });
    expect(again.status).toBe('done');
    expect(await alerts.get(KEY, 'mail')).toMatchObject({ state: 'sent', attempts: 1, detail: '<1@test>' });
    expect(await alerts.get(KEY, 'teams')).toMatchObject({ state: 'claimed' });
  });

  it('lets the next run take a failed channel over, once, with the attempt counted', async () => {
    const alerts = await ledger();
    const first = await alerts.claim(KEY, 'teams', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE });
    if (first.status !== 'claimed') throw new Error('expected a claim');
    await alerts.settle(first.claim, { state: 'failed', error: 'HTTP 500' }, at('2026-10-20T06:00:01Z'));
    expect(await alerts.get(KEY, 'teams')).toMatchObject({ state: 'failed', lastError: 'HTTP 500' });
    const retries = await Promise.all([0, 1, 2].map(() => alerts.claim(KEY, 'teams', { now: at('2026-10-21T06:00:00Z'), staleAfterMs: STALE })));
    const won = retries.filter((o) => o.status === 'claimed');
    expect(won).toHaveLength(1);
    expect(won[0]!.status === 'claimed' && won[0]!.claim.attempt).toBe(2);
  });

  it('re-claims a stale claim, and the run that lost it cannot overwrite the new state', async () => {
    const alerts = await ledger();
    const dead = await alerts.claim(KEY, 'mail', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE });
    if (dead.status !== 'claimed') throw new Error('expected a claim');
    expect((await alerts.claim(KEY, 'mail', { now: at('2026-10-20T06:10:00Z'), staleAfterMs: STALE })).status).toBe('busy');
    const taken = await alerts.claim(KEY, 'mail', { now: at('2026-10-20T06:16:00Z'), staleAfterMs: STALE });
    expect(taken.status).toBe('claimed');
    if (taken.status !== 'claimed') throw new Error('unreachable');
    await alerts.settle(taken.claim, { state: 'sent', detail: 'second run' }, at('2026-10-20T06:16:01Z'));
    expect(await alerts.settle(dead.claim, { state: 'failed', error: 'late' }, at('2026-10-20T06:17:00Z'))).toBe(false);
    expect(await alerts.get(KEY, 'mail')).toMatchObject({ state: 'sent', detail: 'second run', attempts: 2 });
  });

  it('stores keys with characters Table Storage forbids', async () => {
    const alerts = await ledger();
    const key = '2026-10|unpriced|vendor/model#1?';
    const claimed = await alerts.claim(key, 'mail', { now: at('2026-10-20T06:00:00Z'), staleAfterMs: STALE });
    expect(claimed.status).toBe('claimed');
    expect(await alerts.get(key, 'mail')).toMatchObject({ key, state: 'claimed' });
  });
});
