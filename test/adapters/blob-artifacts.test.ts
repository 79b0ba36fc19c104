import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobArtifactStore } from '../../shared/adapters/azure/blob-artifacts.js';
import { AppError } from '../../shared/domain/errors.js';
import { startAzuriteBlob, type RunningAzurite } from '../../shared/adapters/local/azurite.js';
import { stubRemoteHttp } from '../support/msw.js';

const CSV = 'text/csv';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** One emulator for the file's Azurite tests: each group works in a container of its own. */
let azurite: RunningAzurite;
beforeAll(async () => {
  azurite = await startAzuriteBlob();
});
afterAll(async () => {
  await azurite?.stop();
});

describe('artifacts in a Blob container (Azurite)', () => {
  let container: ContainerClient;
  let store: BlobArtifactStore;

  beforeAll(async () => {
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('artifacts');
    store = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'artifacts', { blockBytes: 256 * 1024 });
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

describe('parts of an artifact joined in a Blob container (Azurite)', () => {
  const FOCUS_CSV = 'text/csv; charset=utf-8';
  const BLOCK_BYTES = 1024;
  let container: ContainerClient;
  let store: BlobArtifactStore;

  beforeAll(async () => {
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('parts');
    // Small blocks: a part of a few KB already goes up in several blocks, as a team's 100 MB would in 8 MB ones.
    store = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'parts', { blockBytes: BLOCK_BYTES });
  });

  const text = async (name: string) => (await container.getBlobClient(name).downloadToBuffer()).toString('utf8');
  const uncommittedBlocks = async (name: string) => (await container.getBlockBlobClient(name).getBlockList('all')).uncommittedBlocks ?? [];

  it('joins parts saved in any order, concurrently, in the listed order: multi-block, string and Buffer, an empty one', async () => {
    const rows = Array.from({ length: 600 }, (_, index) => `${String(index).padStart(5, '0')},team-b,0.0100\n`);
    async function* teamB() {
      for (const [index, row] of rows.entries()) yield index % 2 === 0 ? row : Buffer.from(row, 'utf8');
    }
    await Promise.all([
      store.savePart('focus-2026-10.csv', 'team-b', teamB()),
      store.savePart('focus-2026-10.csv', '_header', ['Row,', Buffer.from('Team,Cost\n')]),
      store.savePart('focus-2026-10.csv', 'team-empty', []),
      store.savePart('focus-2026-10.csv', 'team-a', ['00000,team-\u00e9,1.0000\n']),
    ]);
    const location = await store.joinParts('focus-2026-10.csv', ['_header', 'team-a', 'team-empty', 'team-b'], FOCUS_CSV);

    expect(location).toBe(`http://127.0.0.1:${azurite.port}/devstoreaccount1/parts/focus-2026-10.csv`);
    const joined = await text('focus-2026-10.csv');
    expect(joined).toBe(`Row,Team,Cost\n00000,team-\u00e9,1.0000\n${rows.join('')}`);
    expect(rows.join('').length).toBeGreaterThan(8 * BLOCK_BYTES);
    const blob = container.getBlockBlobClient('focus-2026-10.csv');
    expect((await blob.getProperties()).contentType).toBe(FOCUS_CSV);
    // Nothing copied: the header, team a, and team b's 1 KiB blocks (the last one short); the empty part adds none.
    const committed = (await blob.getBlockList('committed')).committedBlocks ?? [];
    expect(committed.map((block) => block.size)).toEqual([14, 21, ...Array<number>(Math.floor(rows.join('').length / BLOCK_BYTES)).fill(BLOCK_BYTES), rows.join('').length % BLOCK_BYTES]);
    expect(await uncommittedBlocks('focus-2026-10.csv')).toEqual([]);
  });

  it('shows nothing of the parts before the join: no blob for a new name, the old content for an existing one', async () => {
    await store.savePart('focus-2026-11.csv', 'team-a', ['november\n']);
    expect(await store.read('focus-2026-11.csv')).toBeUndefined();
    await expect(container.getBlobClient('focus-2026-11.csv').download()).rejects.toMatchObject({ statusCode: 404, code: 'BlobNotFound' });

    await store.saveStream('focus-2026-09.csv', ['last ', 'export\n'], FOCUS_CSV);
    await store.savePart('focus-2026-09.csv', 'team-a', ['new rows\n']);
    expect(await text('focus-2026-09.csv')).toBe('last export\n');
    await store.joinParts('focus-2026-09.csv', ['team-a'], FOCUS_CSV);
    expect(await text('focus-2026-09.csv')).toBe('new rows\n');
  });

  it('refuses to join when a listed part was never saved, naming it, and leaves the blob as it was', async () => {
    await store.save('missing.csv', Buffer.from('last month\n'), FOCUS_CSV);
    await store.savePart('missing.csv', 'team-a', ['a\n']);
    const error = await store.joinParts('missing.csv', ['team-a', 'team-missing'], FOCUS_CSV).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('team-missing') });
    expect((error as AppError).message).toContain('missing.csv');
    expect(await text('missing.csv')).toBe('last month\n');
    // The saved part is still there for a join that lists only saved parts.
    expect(await store.joinParts('missing.csv', ['team-a'], FOCUS_CSV)).toContain('/missing.csv');
    expect(await text('missing.csv')).toBe('a\n');
  });

  it('answers a rerun of a finished join with the location, and refuses another list once the parts are gone', async () => {
    await store.savePart('rerun.csv', '_header', ['h\n']);
    await store.savePart('rerun.csv', 'team-a', ['a'.repeat(BLOCK_BYTES + 1)]);
    const location = await store.joinParts('rerun.csv', ['_header', 'team-a'], FOCUS_CSV);
    expect(await uncommittedBlocks('rerun.csv')).toEqual([]);

    expect(await store.joinParts('rerun.csv', ['_header', 'team-a'], FOCUS_CSV)).toBe(location);
    await expect(store.joinParts('rerun.csv', ['team-a', '_header'], FOCUS_CSV)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.joinParts('rerun.csv', ['_header'], FOCUS_CSV)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A team item retried after the join saves its part again: the same join is still answered.
    await store.savePart('rerun.csv', 'team-a', ['a'.repeat(BLOCK_BYTES + 1)]);
    expect(await store.joinParts('rerun.csv', ['_header', 'team-a'], FOCUS_CSV)).toBe(location);
    expect(await text('rerun.csv')).toBe(`h\n${'a'.repeat(BLOCK_BYTES + 1)}`);
  });
  // Saving a part again, a failing producer and refused names: test/contracts/artifact-parts.test.ts.
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
