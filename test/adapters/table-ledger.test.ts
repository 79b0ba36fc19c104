import type { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { tableClientFor, validateTableName } from '../../shared/adapters/azure/table-client.js';
import { deliveryKeys, TableCloseRegistry, TableDeliveryLedger } from '../../shared/adapters/azure/table-ledger.js';
import { AppError } from '../../shared/domain/errors.js';
import type { RevisionSummary } from '../../shared/domain/revisions.js';
import type { DeliveryRecord, MonthClose } from '../../shared/ports/ledger.js';
import { MAX_SUMMARY_PART_CHARS, splitText, summaryPartitionKey } from '../../shared/adapters/azure/table-revision-summaries.js';
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

/** A month of `users` users in 50 teams and 4 models, with names that are not all ASCII. */
function largeSummary(users: number, seed: number): RevisionSummary {
  const teams = Array.from({ length: 50 }, (_, team) => ({
    teamId: `team-${String(team).padStart(2, '0')}`,
    linesDigest: `digest-${seed}-${team}`,
    users: [] as { userId: string; label: string; amount: bigint }[],
  }));
  for (let index = 0; index < users; index++) {
    const userId = `${String(index).padStart(8, '0')}-4d2c-4b7e-9a51-${String(seed).padStart(12, '0')}`;
    teams[index % 50]!.users.push({ userId, label: index % 7 === 0 ? `Zoë Ångström 🚀 ${index}` : `User ${index}`, amount: BigInt(index * 1_234 + seed) });
  }
  const withAmounts = teams.map((team) => ({ ...team, amount: team.users.reduce((sum, user) => sum + user.amount, 0n) }));
  return {
    grandTotal: withAmounts.reduce((sum, team) => sum + team.amount, 0n) + 9_007_199_254_740_993n,
    teams: withAmounts,
    models: ['claude-opus-4-1', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'unpriced/model'].map((model, index) => ({ model, amount: BigInt(index) * 1_000_000_007n })),
  };
}

describe('TableCloseRegistry summaries on Azurite', () => {
  it('keeps each revision\u2019s summary of 10,000 users whole, apart from the close record', async () => {
    const client = freshClient('closes');
    const registry = await TableCloseRegistry.create(client);
    const first = largeSummary(10_000, 1);
    const second = largeSummary(10_000, 2);
    await registry.put({ ...close, summary: first });
    await registry.put({ ...close, revision: 2, fingerprint: 'sha256:2', summary: second });

    expect(await registry.get('2026-10')).toEqual({ ...close, revision: 2, fingerprint: 'sha256:2' });
    expect(await registry.summary('2026-10', 1)).toEqual(first);
    expect(await registry.summary('2026-10', 2)).toEqual(second);
    expect(await registry.summary('2026-10', 3)).toBeUndefined();
    expect(await registry.summary('2026-09', 1)).toBeUndefined();

    // Stored in several parts, each within a String property's 64 KiB.
    const parts: Record<string, unknown>[] = [];
    for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${summaryPartitionKey('2026-10')}'` } })) parts.push(entity);
    const revisionOne = parts.filter((part) => part.revision === 1);
    expect(revisionOne.length).toBeGreaterThan(10);
    for (const part of parts) expect((part.text as string).length).toBeLessThanOrEqual(MAX_SUMMARY_PART_CHARS);
  });

  it('keeps revisions 1, 2 and 10 apart and replaces an earlier, longer attempt at the same revision', async () => {
    const client = freshClient('closes');
    const registry = await TableCloseRegistry.create(client);
    const small = largeSummary(3, 7);
    for (const revision of [1, 2, 10]) await registry.put({ ...close, revision, summary: { ...small, grandTotal: BigInt(revision) } });
    await registry.put({ ...close, revision: 2, summary: largeSummary(2_000, 3) });
    await registry.put({ ...close, revision: 2, summary: small });
    expect(await registry.summary('2026-10', 1)).toEqual({ ...small, grandTotal: 1n });
    expect(await registry.summary('2026-10', 2)).toEqual(small);
    expect(await registry.summary('2026-10', 10)).toEqual({ ...small, grandTotal: 10n });
    const revisions: unknown[] = [];
    for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${summaryPartitionKey('2026-10')}'` } })) revisions.push(entity.revision);
    // One part each: the longer attempt at revision 2 left nothing behind.
    expect((revisions as number[]).sort((a, b) => a - b)).toEqual([1, 2, 10]);
  });

  it('reads a close recorded without a summary, as closes were before summaries were kept', async () => {
    const client = freshClient('closes');
    const registry = await TableCloseRegistry.create(client);
    await client.upsertEntity({ partitionKey: 'close', rowKey: '2026-10', month: '2026-10', revision: 1, fingerprint: 'f', closedAt: close.closedAt, priceBookVersion: 'p', totalMinorUnits: '5', currency: 'USD' });
    expect(await registry.get('2026-10')).toEqual({ month: '2026-10', revision: 1, fingerprint: 'f', closedAt: close.closedAt, priceBookVersion: 'p', totalMinorUnits: '5', currency: 'USD' });
    expect(await registry.summary('2026-10', 1)).toBeUndefined();
  });

  it('refuses a summary with a part missing rather than reading half of it', async () => {
    const client = freshClient('closes');
    const registry = await TableCloseRegistry.create(client);
    await registry.put({ ...close, summary: largeSummary(2_000, 1) });
    await client.deleteEntity(summaryPartitionKey('2026-10'), 'r1~part~0001');
    await expect(registry.summary('2026-10', 1)).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringMatching(/part 1 of \d+ is missing/) });
  });

  it('never cuts a summary between the halves of a surrogate pair', () => {
    const text = `${'a'.repeat(4)}🚀${'b'.repeat(3)}`;
    const pieces = splitText(text, 5);
    expect(pieces.join('')).toBe(text);
    expect(pieces[0]).toBe('aaaa');
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(5);
    expect(splitText('', 5)).toEqual(['']);
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
    const { etag, ...storedFailed } = (await ledger.get(sent.key))!;
    expect(storedFailed).toEqual(failed);
    // The version read is what a conditional claim is made against.
    expect(etag).toMatch(/\S/);

    // Replace, not merge: the earlier lastError must not survive into the sent record.
    const retried = { ...sent, attempts: 2 };
    await ledger.put(retried);
    const { etag: _etag, ...stored } = (await ledger.get(sent.key))!;
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
