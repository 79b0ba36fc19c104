import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableCloseRegistry, TableDeliveryLedger } from '../../shared/adapters/azure/table-ledger.js';
import type { RevisionSummary } from '../../shared/domain/revisions.js';
import type { CloseRegistry, DeliveryLedger, DeliveryRecord, MonthClose } from '../../shared/ports/ledger.js';
import { InMemoryCloseRegistry, InMemoryDeliveryLedger } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The CloseRegistry and DeliveryLedger contracts: the Table adapters on Azurite and the in-memory fakes. */
const registries: [string, () => Promise<CloseRegistry>][] = [
  ['TableCloseRegistry (Azurite)', () => TableCloseRegistry.create(tableClientFor(azuriteConnectionString(), uniqueTableName('closecontract')))],
  ['InMemoryCloseRegistry', async () => new InMemoryCloseRegistry()],
];
const ledgers: [string, () => Promise<DeliveryLedger>][] = [
  ['TableDeliveryLedger (Azurite)', () => TableDeliveryLedger.create(tableClientFor(azuriteConnectionString(), uniqueTableName('deliverycontract')))],
  ['InMemoryDeliveryLedger', async () => new InMemoryDeliveryLedger()],
];

const close: MonthClose = {
  month: '2026-10',
  revision: 1,
  fingerprint: '3a4c59fb',
  closedAt: new Date('2026-11-03T06:00:00.123Z'),
  priceBookVersion: 'prices-2026-10-01',
  totalMinorUnits: '123456789012345678',
  currency: 'USD',
};

const summary = (grandTotal: bigint): RevisionSummary => ({
  grandTotal,
  teams: [{ teamId: 'payments', amount: grandTotal, linesDigest: 'digest', users: [{ userId: 'u1', label: 'Zoë', amount: grandTotal }] }],
  models: [{ model: 'claude-sonnet-4-6', amount: grandTotal }],
});

describe.each(registries)('%s', (_name, create) => {
  it('knows nothing of a month never closed', async () => {
    const registry = await create();
    expect(await registry.get('2026-10')).toBeUndefined();
    expect(await registry.summary('2026-10', 1)).toBeUndefined();
  });

  it('returns the latest close without its summary, and keeps every revision\u2019s summary', async () => {
    const registry = await create();
    await registry.put({ ...close, summary: summary(100n) });
    expect(await registry.get('2026-10')).toEqual(close);
    const revised = { ...close, revision: 2, fingerprint: '99aa', closedAt: new Date('2026-11-20T08:30:00Z') };
    await registry.put({ ...revised, summary: summary(250n) });
    expect(await registry.get('2026-10')).toEqual(revised);
    expect(await registry.summary('2026-10', 1)).toEqual(summary(100n));
    expect(await registry.summary('2026-10', 2)).toEqual(summary(250n));
    expect(await registry.get('2026-09')).toBeUndefined();
  });

  it('has no summary for a revision put without one', async () => {
    const registry = await create();
    await registry.put(close);
    expect(await registry.get('2026-10')).toEqual(close);
    expect(await registry.summary('2026-10', 1)).toBeUndefined();
  });
});

describe.each(ledgers)('%s', (_name, create) => {
  const sent: DeliveryRecord = {
    key: '2026-10|r1|finance',
    status: 'sent',
    attempts: 2,
    recipients: ['finance@contoso.example', 'cfo@contoso.example'],
    messageId: '<abc@mail.contoso.example>',
    updatedAt: new Date('2026-11-03T06:05:00.000Z'),
  };

  /** A read as put, with the version the ledger adds on read (for a conditional claim). */
  const asRead = (record: DeliveryRecord) => ({ ...record, etag: expect.any(String) });

  it('returns exactly what was put, and a later put replaces every field', async () => {
    const ledger = await create();
    expect(await ledger.get(sent.key)).toBeUndefined();
    const failed: DeliveryRecord = { key: sent.key, status: 'failed', attempts: 1, recipients: ['finance@contoso.example'], lastError: 'MAIL_FAILED: 429', updatedAt: new Date('2026-11-03T06:00:00Z') };
    await ledger.put(failed);
    expect(await ledger.get(sent.key)).toEqual(asRead(failed));
    await ledger.put(sent);
    expect(await ledger.get(sent.key)).toEqual(asRead(sent));
    expect(await ledger.get('2026-10|r1|team|payments')).toBeUndefined();
  });

  it('gives a mail to one claim only: a new one once, a read one only while nobody changed it', async () => {
    const ledger = await create();
    const claimed: DeliveryRecord = { key: sent.key, status: 'claimed', attempts: 1, recipients: ['finance@contoso.example'], updatedAt: new Date('2026-11-03T06:00:00Z') };
    expect(await ledger.claim(claimed, undefined)).toBe(true);
    expect(await ledger.claim(claimed, undefined)).toBe(false);
    const read = await ledger.get(sent.key);
    await ledger.put({ ...claimed, status: 'failed', lastError: 'MAIL_FAILED: 429' });
    expect(await ledger.claim({ ...claimed, attempts: 2 }, read)).toBe(false);
    const fresh = await ledger.get(sent.key);
    expect(await ledger.claim({ ...claimed, attempts: 2 }, fresh)).toBe(true);
    expect(await ledger.get(sent.key)).toMatchObject({ status: 'claimed', attempts: 2 });
  });

  it('keeps keys apart that differ only in characters Table Storage forbids', async () => {
    const ledger = await create();
    const keys = ['2026-10|r1|team/a#b?c', '2026-10|r1|team%2Fa', "2026-10|r1|o'brien", '|empty-month'];
    for (const [index, key] of keys.entries()) await ledger.put({ ...sent, key, attempts: index + 1 });
    for (const [index, key] of keys.entries()) expect((await ledger.get(key))?.attempts).toBe(index + 1);
  });
});
