import type { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { tableClientFor, validateTableName } from '../../shared/adapters/azure/table-client.js';
import { deliveryKeys, TableCloseRegistry, TableDeliveryLedger } from '../../shared/adapters/azure/table-ledger.js';
import { AppError } from '../../shared/domain/errors.js';
import type { DeliveryRecord, MonthClose } from '../../shared/ports/ledger.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

function freshClient(prefix: string): TableClient {
  return tableClientFor(azuriteConnectionString(), uniqueTableName(prefix));
}

const close: MonthClose = {
  month: '2026-10',
  revision: 1,
  fingerprint: 'sha256:3b1f0c',
  closedAt: new Date('2026-11-03T06:00:00.123Z'),
  priceBookVersion: 'prices-2026-10-01',
  totalMinorUnits: '123456789012345678',
  currency: 'USD',
};

describe('TableCloseRegistry on Azurite', () => {
  it('returns undefined for a month never closed', async () => {
    const registry = await TableCloseRegistry.create(freshClient('closes'));
    expect(await registry.get('2026-10')).toBeUndefined();
  });

  it('returns exactly what was put, and a revision replaces it', async () => {
    const client = freshClient('closes');
    const registry = await TableCloseRegistry.create(client);
    await registry.put(close);
    const stored = await registry.get('2026-10');
    expect(stored).toEqual(close);
    expect(stored!.closedAt).toBeInstanceOf(Date);

    const revised = { ...close, revision: 2, fingerprint: 'sha256:99aa', closedAt: new Date('2026-11-20T08:30:00Z') };
    await registry.put(revised);
    expect(await registry.get('2026-10')).toEqual(revised);
    expect(await registry.get('2026-09')).toBeUndefined();

    const entity = await client.getEntity<Record<string, unknown>>('close', '2026-10', { disableTypeConversion: true });
    expect(entity.closedAt).toMatchObject({ type: 'DateTime' });
  });

  it('is safe to create twice on the same table', async () => {
    const client = freshClient('closes');
    await (await TableCloseRegistry.create(client)).put(close);
    expect(await (await TableCloseRegistry.create(client)).get('2026-10')).toEqual(close);
  });
});

describe('TableDeliveryLedger on Azurite', () => {
  const sent: DeliveryRecord = {
    key: '2026-10|r1|finance|someone@example.com',
    status: 'sent',
    attempts: 1,
    recipients: ['someone@example.com', 'cfo@example.com'],
    messageId: '<abc@mail.example.com>',
    updatedAt: new Date('2026-11-03T06:05:00.000Z'),
  };

  it('partitions deliveries by the part of the key before the first |', () => {
    expect(deliveryKeys(sent.key)).toEqual({ partitionKey: '2026-10', rowKey: '2026-10!7Cr1!7Cfinance!7Csomeone!40example.com' });
    expect(deliveryKeys('no-bar').partitionKey).toBe('no-bar');
  });

  it('returns undefined for a delivery never recorded', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    expect(await ledger.get(sent.key)).toBeUndefined();
    expect(await ledger.get('x'.repeat(2000))).toBeUndefined();
  });

  it('returns exactly what was put, and a later put replaces every field', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    const failed: DeliveryRecord = {
      key: sent.key,
      status: 'failed',
      attempts: 1,
      recipients: ['someone@example.com'],
      lastError: 'MAIL_FAILED: 429 Too Many Requests',
      updatedAt: new Date('2026-11-03T06:00:00.000Z'),
    };
    await ledger.put(failed);
    expect(await ledger.get(sent.key)).toEqual(failed);

    // Replace, not merge: the earlier lastError must not survive into the sent record.
    const retried = { ...sent, attempts: 2 };
    await ledger.put(retried);
    const stored = await ledger.get(sent.key);
    expect(stored).toEqual(retried);
    expect(stored).not.toHaveProperty('lastError');
    expect(await ledger.get('2026-10|r1|finance|other@example.com')).toBeUndefined();
  });

  it('keeps keys with characters Table Storage forbids apart', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    const keys = ['2026-10|r1|team/a#b?c|x@example.com', '2026-10|r1|team%2Fa|x@example.com', "2026-10|r1|o'brien|x@example.com", '|empty-month'];
    for (const [index, key] of keys.entries()) await ledger.put({ ...sent, key, attempts: index + 1 });
    for (const [index, key] of keys.entries()) expect((await ledger.get(key))?.attempts).toBe(index + 1);
  });

  it('refuses a key over 1 KiB with a clear error', async () => {
    const ledger = await TableDeliveryLedger.create(freshClient('deliveries'));
    await expect(ledger.put({ ...sent, key: `2026-10|${'/'.repeat(400)}` })).rejects.toMatchObject({ code: 'STORAGE_FAILED', retryable: false, message: expect.stringMatching(/RowKey.*1024-byte limit/) });
  });
});

describe('tableClientFor and validateTableName', () => {
  it('accepts Table Storage names and rejects the rest', () => {
    for (const good of ['rollups', 'Closes2026', 'abc']) expect(validateTableName(good)).toBe(good);
    for (const bad of ['ab', '1rollups', 'roll-ups', 'roll_ups', 'a'.repeat(64), 'tables', '']) {
      expect(() => validateTableName(bad), bad).toThrow(AppError);
    }
  });

  it('allows plain http only towards the local emulator', () => {
    const local = tableClientFor(azuriteConnectionString(), 'rollups');
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    const remoteHttp = azuriteConnectionString().replace(/127\.0\.0\.1/, 'storage.example.com');
    expect(() => tableClientFor(remoteHttp, 'rollups')).toThrow(/only https/);
    const https = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net';
    expect(tableClientFor(https, 'rollups').url).toBe('https://acct.table.core.windows.net');
    expect(() => tableClientFor('nonsense', 'rollups')).toThrow(AppError);
    expect(() => tableClientFor(https, 'bad-name')).toThrow(/not a valid table name/);
  });
});
