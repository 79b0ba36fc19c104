import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobArtifactStore } from '../../shared/adapters/azure/blob-artifacts.js';
import { startAzuriteBlob, type RunningAzurite } from '../../shared/adapters/local/azurite.js';
import { stubRemoteHttp } from '../support/msw.js';

const CSV = 'text/csv';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

describe('artifacts in a Blob container (Azurite)', () => {
  let azurite: RunningAzurite;
  let container: ContainerClient;
  let store: BlobArtifactStore;

  beforeAll(async () => {
    azurite = await startAzuriteBlob();
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('artifacts');
    store = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'artifacts', { blockBytes: 256 * 1024 });
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  it('saves a workbook with its content type, creating the container on first use', async () => {
    const content = Buffer.from('PK\u0003\u0004 a workbook');
    const location = await store.save('chargeback-2026-10.xlsx', content, XLSX);
    expect(location).toBe(`http://127.0.0.1:${azurite.port}/devstoreaccount1/artifacts/chargeback-2026-10.xlsx`);
    const blob = container.getBlobClient('chargeback-2026-10.xlsx');
    expect(await blob.downloadToBuffer()).toEqual(content);
    expect((await blob.getProperties()).contentType).toBe(XLSX);
  });

  it('streams a multi-MB export into blocks and commits it whole, string and Buffer chunks alike', async () => {
    const rows = 100_000;
    const row = (index: number) => `${String(index).padStart(8, '0')},team-${index % 17},${(index * 0.013).toFixed(4)}\n`;
    function* produce(): Generator<string | Buffer> {
      yield 'Row,Team,Cost\n';
      for (let index = 0; index < rows; index++) yield index % 2 === 0 ? row(index) : Buffer.from(row(index), 'utf8');
    }
    await store.saveStream('focus-2026-10.csv', produce(), CSV);

    const blob = container.getBlockBlobClient('focus-2026-10.csv');
    const text = (await blob.downloadToBuffer()).toString('utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe('Row,Team,Cost');
    expect(lines).toHaveLength(rows + 2);
    expect(lines[rows]).toBe('00099999,team-5,1299.9870');
    expect(lines.slice(1, -1).every((line, index) => `${line}\n` === row(index))).toBe(true);
    expect(text.length).toBeGreaterThan(2_500_000);
    const blocks = await blob.getBlockList('committed');
    // 256 KiB blocks: the export went up in pieces, never as one request.
    expect(blocks.committedBlocks?.length).toBeGreaterThan(8);
    expect((await blob.getProperties()).contentType).toBe(CSV);
  });

  it('replaces an artifact whole, and keeps the old one when the producer fails half-way', async () => {
    await store.saveStream('rejects-2026-10.csv', ['old,', 'file\n'], CSV);
    await store.save('rejects-2026-10.csv', Buffer.from('new file\n'), CSV);
    expect((await container.getBlobClient('rejects-2026-10.csv').downloadToBuffer()).toString()).toBe('new file\n');

    const failure = new Error('the export broke');
    async function* broken(): AsyncGenerator<string> {
      yield 'x'.repeat(600 * 1024);
      throw failure;
    }
    await expect(store.saveStream('rejects-2026-10.csv', broken(), CSV)).rejects.toBe(failure);
    expect((await container.getBlobClient('rejects-2026-10.csv').downloadToBuffer()).toString()).toBe('new file\n');
  });

  it('hands out a link that downloads the bytes with a plain fetch, and nothing else', async () => {
    const content = Buffer.from('team workbook bytes');
    await store.save('team-a.xlsx', content, XLSX);
    const link = await store.link('team-a.xlsx', 24);
    const response = await fetch(link.url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(content);
    expect(response.headers.get('content-type')).toBe(XLSX);
    // Read-only: the same signature does not let anyone write.
    const write = await fetch(link.url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'overwritten' });
    expect(write.status).toBe(403);
  });

  it('refuses a link once it has expired', async () => {
    await store.save('old.csv', Buffer.from('a,b\n'), CSV);
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    const minted = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'artifacts', { now: () => twoDaysAgo });
    const link = await minted.link('old.csv', 1);
    expect(link.expiresAt).toEqual(new Date(twoDaysAgo.getTime() + 3_600_000));
    expect((await fetch(link.url)).status).toBe(403);
  });

  it('refuses names outside the container and link lifetimes Azure would refuse', async () => {
    await expect(store.save('../escape.csv', Buffer.from('x'), CSV)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.link('a.csv', 169)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.link('a.csv', 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('links signed with the managed identity (user delegation key, stubbed service)', () => {
  const server = stubRemoteHttp();
  const credential = { getToken: async () => ({ token: 'identity-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const keyXml = (expiry: string) =>
    `<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>11111111-2222-3333-4444-555555555555</SignedOid><SignedTid>66666666-7777-8888-9999-000000000000</SignedTid><SignedStart>2026-11-02T05:55:00Z</SignedStart><SignedExpiry>${expiry}</SignedExpiry><SignedService>b</SignedService><SignedVersion>2025-01-05</SignedVersion><Value>${Buffer.from('a user delegation key of 32 bytes').toString('base64')}</Value></UserDelegationKey>`;

  it('asks for one key per run, signs read-only https links with it, and never outlives it', async () => {
    const requested: { start: string; expiry: string; authorization: string | null }[] = [];
    server.use(
      http.post('https://acct.blob.core.windows.net/', async ({ request }) => {
        const url = new URL(request.url);
        if (url.searchParams.get('comp') !== 'userdelegationkey') return new HttpResponse(null, { status: 400 });
        const body = await request.text();
        const expiry = /<Expiry>([^<]+)<\/Expiry>/.exec(body)![1]!;
        requested.push({ start: /<Start>([^<]+)<\/Start>/.exec(body)![1]!, expiry, authorization: request.headers.get('authorization') });
        return new HttpResponse(keyXml(expiry), { status: 200, headers: { 'content-type': 'application/xml' } });
      }),
    );
    const now = new Date('2026-11-02T06:00:00Z');
    const store = BlobArtifactStore.withCredential('https://acct.blob.core.windows.net/artifacts', credential, { now: () => now });

    const week = await store.link('focus-2026-10.csv', 168);
    const day = await store.link('team-a.xlsx', 24);

    expect(requested).toHaveLength(1);
    expect(requested[0]!.authorization).toBe('Bearer identity-token');
    expect(requested[0]!.start).toBe('2026-11-02T05:55:00Z');
    expect(requested[0]!.expiry).toBe('2026-11-09T05:55:00Z');
    // Seven days from the key's start, five minutes short of 168 hours from now.
    expect(week.expiresAt).toEqual(new Date('2026-11-09T05:55:00Z'));
    expect(day.expiresAt).toEqual(new Date('2026-11-03T06:00:00Z'));
    const params = new URL(day.url).searchParams;
    expect(new URL(day.url).pathname).toBe('/artifacts/team-a.xlsx');
    expect(params.get('sp')).toBe('r');
    expect(params.get('spr')).toBe('https');
    expect(params.get('sr')).toBe('b');
    expect(params.get('skoid')).toBe('11111111-2222-3333-4444-555555555555');
    expect(params.get('se')).toBe('2026-11-03T06:00:00Z');
    expect(params.get('sig')).toBeTruthy();
  });

  it('says which roles are missing when the service refuses the identity', async () => {
    server.use(http.post('https://acct.blob.core.windows.net/', () => new HttpResponse('<Error><Code>AuthorizationPermissionMismatch</Code></Error>', { status: 403, headers: { 'content-type': 'application/xml' } })));
    const store = BlobArtifactStore.withCredential('https://acct.blob.core.windows.net/artifacts', credential);
    await expect(store.link('a.csv', 1)).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringContaining('Storage Blob Delegator') });
  });

  it('refuses a credential over plain http', () => {
    expect(() => BlobArtifactStore.withCredential('http://acct.blob.core.windows.net/artifacts', credential)).toThrow(/https/);
  });
});
