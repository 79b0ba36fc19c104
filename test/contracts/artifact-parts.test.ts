import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobArtifactStore } from '../../shared/adapters/azure/blob-artifacts.js';
import { startAzuriteBlob, type RunningAzurite } from '../../shared/adapters/local/azurite.js';
import { DirectoryArtifactStore } from '../../shared/adapters/local/directory-artifacts.js';
import type { ArtifactStore } from '../../shared/ports/artifacts.js';
import { InMemoryArtifacts } from '../support/in-memory.js';

/**
 * The parts of an artifact (ArtifactStore.savePart / joinParts) as every store keeps them: a folder, a Blob
 * container on Azurite (blocks of 1 KiB, so a part of a few KiB is several blocks) and the in-memory fake the
 * use-case tests use. What each store does underneath is tested beside its adapter.
 */
const CSV = 'text/csv; charset=utf-8';
const BLOCK_BYTES = 1024;
let azurite: RunningAzurite;
let folder: string;
let containers = 0;

beforeAll(async () => {
  azurite = await startAzuriteBlob();
  folder = await mkdtemp(path.join(tmpdir(), 'artifact-parts-'));
});
afterAll(async () => {
  await azurite?.stop();
  await rm(folder, { recursive: true, force: true });
});

const stores: [string, () => Promise<ArtifactStore>][] = [
  ['DirectoryArtifactStore', async () => new DirectoryArtifactStore(await mkdtemp(path.join(folder, 'store-')))],
  ['BlobArtifactStore (Azurite)', async () => BlobArtifactStore.fromConnectionString(azurite.connectionString, `parts${++containers}`, { blockBytes: BLOCK_BYTES })],
  ['InMemoryArtifacts', async () => new InMemoryArtifacts()],
];

const text = async (store: ArtifactStore, name: string) => (await store.read(name))?.toString('utf8');

describe.each(stores)('%s', (_name, create) => {
  it('replaces a part saved again: the second content wins, even when it is much shorter', async () => {
    const store = await create();
    await store.savePart('focus.csv', 'team-a', ['x'.repeat(3 * BLOCK_BYTES)]);
    await store.savePart('focus.csv', 'team-a', ['second\n']);
    await store.joinParts('focus.csv', ['team-a'], CSV);
    expect(await text(store, 'focus.csv')).toBe('second\n');
  });

  it("passes a failing producer's error on as it is; only complete saves are ever joined", async () => {
    const store = await create();
    const failure = new Error('the export broke');
    async function* broken(rows: string) {
      yield rows.repeat(3 * BLOCK_BYTES);
      throw failure;
    }
    await expect(store.savePart('focus.csv', 'team-a', broken('?'))).rejects.toBe(failure);
    await expect(store.joinParts('focus.csv', ['team-a'], CSV)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.savePart('focus.csv', 'team-a', ['all of team a\n']);
    await store.savePart('focus.csv', 'team-b', ['all of team b\n']);
    // A retry that fails after the part was saved whole leaves the whole one in place.
    await expect(store.savePart('focus.csv', 'team-b', broken('!'))).rejects.toBe(failure);
    await store.joinParts('focus.csv', ['team-a', 'team-b'], CSV);
    expect(await text(store, 'focus.csv')).toBe('all of team a\nall of team b\n');
  });

  it.each(['../x', '..', 'a/b', 'a\\b', '', 'x\u0000'])('refuses the part name %j, saving nothing', async (part) => {
    const store = await create();
    await expect(store.savePart('names.csv', part, ['x'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.joinParts('names.csv', ['team-a', part], CSV)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.savePart('../names.csv', 'team-a', ['x'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.joinParts('a/names.csv', ['team-a'], CSV)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await store.read('names.csv')).toBeUndefined();
  });
});
