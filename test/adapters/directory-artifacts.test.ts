import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryArtifactStore } from '../../shared/adapters/local/directory-artifacts.js';
import { AppError } from '../../shared/domain/errors.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'artifacts-test-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('DirectoryArtifactStore', () => {
  it('saves a file in a directory it creates and returns its absolute path', async () => {
    const directory = path.join(root, 'reports', '2026-10');
    const content = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0xff]);
    const saved = await new DirectoryArtifactStore(directory).save('chargeback-2026-10.xlsx', content, XLSX);

    expect(saved).toBe(path.join(directory, 'chargeback-2026-10.xlsx'));
    expect(path.isAbsolute(saved)).toBe(true);
    expect(Buffer.compare(await readFile(saved), content)).toBe(0);
  });

  it('replaces an earlier version whole and leaves no temporary files behind', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.save('focus-2026-10.csv', Buffer.from('old,longer,content\n'), 'text/csv');
    const saved = await store.save('focus-2026-10.csv', Buffer.from('new\n'), 'text/csv');
    expect(await readFile(saved, 'utf8')).toBe('new\n');
    expect(await readdir(root)).toEqual(['focus-2026-10.csv']);
  });

  it('returns an absolute path when built with a relative directory', async () => {
    const relative = path.relative(process.cwd(), path.join(root, 'rel'));
    const saved = await new DirectoryArtifactStore(relative).save('a.csv', Buffer.from('x'), 'text/csv');
    expect(saved).toBe(path.join(root, 'rel', 'a.csv'));
  });

  it.each(['../x', '..', '.', 'a/b.csv', 'a\\b.csv', '/etc/passwd', '', 'x\u0000.csv', 'line\nbreak.csv'])('refuses the name %j', async (name) => {
    const store = new DirectoryArtifactStore(path.join(root, 'store'));
    await expect(store.save(name, Buffer.from('x'), 'text/plain')).rejects.toSatisfy(
      (error: unknown) => error instanceof AppError && error.code === 'INVALID_ARGUMENT',
    );
    expect(await readdir(root)).toEqual([]);
  });

  it('streams chunks into the file, replacing the old one whole', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.save('focus.csv', Buffer.from('old content'), 'text/csv');
    async function* chunks() {
      yield 'a,b\r\n';
      yield Buffer.from('1,\u00e9\r\n', 'utf8');
      yield '2,3\r\n';
    }
    const saved = await store.saveStream('focus.csv', chunks(), 'text/csv');
    expect(await readFile(saved, 'utf8')).toBe('a,b\r\n1,\u00e9\r\n2,3\r\n');
    expect(await readdir(root)).toEqual(['focus.csv']);
  });

  it('passes a failing producer\'s error on as it is and leaves the old file and no temporary file', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.save('focus.csv', Buffer.from('old content'), 'text/csv');
    const failure = new AppError('INTERNAL', 'price entry missing');
    function* chunks() {
      yield 'a,b\r\n';
      throw failure;
    }
    await expect(store.saveStream('focus.csv', chunks(), 'text/csv')).rejects.toBe(failure);
    expect(await readdir(root)).toEqual(['focus.csv']);
    expect(await readFile(path.join(root, 'focus.csv'), 'utf8')).toBe('old content');
  });

  it('refuses an unsafe name for a streamed artifact too, writing nothing', async () => {
    await expect(new DirectoryArtifactStore(root).saveStream('../x.csv', ['x'], 'text/csv')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await readdir(root)).toEqual([]);
  });

  it('reports a directory it cannot write to as STORAGE_FAILED', async () => {
    const blocker = path.join(root, 'not-a-directory');
    await writeFile(blocker, 'x');
    await expect(new DirectoryArtifactStore(blocker).save('a.csv', Buffer.from('x'), 'text/csv')).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
  });
});

describe('DirectoryArtifactStore parts', () => {
  const CSV = 'text/csv; charset=utf-8';
  const partsFolder = () => path.join(root, '.focus.csv.parts');

  it('joins parts saved in any order, concurrently, in the listed order: multi-chunk, string and Buffer, an empty one', async () => {
    const store = new DirectoryArtifactStore(root);
    const big = Array.from({ length: 2000 }, (_, index) => `row-${index},team-b\n`);
    async function* teamB() {
      for (const [index, row] of big.entries()) yield index % 2 === 0 ? row : Buffer.from(row, 'utf8');
    }
    await Promise.all([
      store.savePart('focus.csv', 'team-b', teamB()),
      store.savePart('focus.csv', '_header', ['Cost,', Buffer.from('Team\n')]),
      store.savePart('focus.csv', 'team-empty', []),
      store.savePart('focus.csv', 'team-a', [Buffer.from('1.00,team-\u00e9\n', 'utf8')]),
    ]);
    const location = await store.joinParts('focus.csv', ['_header', 'team-a', 'team-empty', 'team-b'], CSV);

    expect(location).toBe(path.join(root, 'focus.csv'));
    expect(await readFile(location, 'utf8')).toBe(`Cost,Team\n1.00,team-\u00e9\n${big.join('')}`);
  });

  it('shows nothing of the parts under the name before the join, and keeps the old file until then', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.save('focus.csv', Buffer.from('last month\n'), CSV);
    await store.savePart('focus.csv', 'team-a', ['new rows\n']);
    expect(await store.read('focus.csv')).toEqual(Buffer.from('last month\n'));
    expect(await store.read('other.csv')).toBeUndefined();
    await store.joinParts('focus.csv', ['team-a'], CSV);
    expect(await readFile(path.join(root, 'focus.csv'), 'utf8')).toBe('new rows\n');
  });

  it('refuses to join when a listed part was never saved, naming it, and leaves the file and the parts as they were', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.save('focus.csv', Buffer.from('last month\n'), CSV);
    await store.savePart('focus.csv', 'team-a', ['a\n']);
    const error = await store.joinParts('focus.csv', ['team-a', 'team-missing'], CSV).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('team-missing') });
    expect((error as AppError).message).toContain('focus.csv');
    expect(await readFile(path.join(root, 'focus.csv'), 'utf8')).toBe('last month\n');
    expect(await readdir(partsFolder())).toEqual(['team-a']);
  });

  it('answers a rerun of a finished join with the location, lets the parts go, and refuses another list', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.savePart('focus.csv', '_header', ['h\n']);
    await store.savePart('focus.csv', 'team-a', ['a\n']);
    const location = await store.joinParts('focus.csv', ['_header', 'team-a'], CSV);
    await expect(readdir(partsFolder())).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(root)).filter((file) => file.endsWith('.tmp'))).toEqual([]);

    expect(await store.joinParts('focus.csv', ['_header', 'team-a'], CSV)).toBe(location);
    await expect(store.joinParts('focus.csv', ['team-a', '_header'], CSV)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('team-a') });
    expect(await readFile(location, 'utf8')).toBe('h\na\n');

    // A crashed finance item's rerun saves its own parts again before it joins: they are let go as well.
    await store.savePart('focus.csv', '_header', ['h\n']);
    expect(await store.joinParts('focus.csv', ['_header', 'team-a'], CSV)).toBe(location);
    await expect(readdir(partsFolder())).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(location, 'utf8')).toBe('h\na\n');
  });

  // Refused as in every store (test/contracts/artifact-parts.test.ts): here, nothing reaches the folder.
  it.each(['../x', '..', 'a/b', 'a\\b', '', 'x\u0000'])('writes nothing in the folder for the part name %j', async (part) => {
    const store = new DirectoryArtifactStore(root);
    await expect(store.savePart('focus.csv', part, ['x'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.savePart('../focus.csv', 'team-a', ['x'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await readdir(root)).toEqual([]);
  });

  it('reports a directory it cannot write parts to as STORAGE_FAILED', async () => {
    const blocker = path.join(root, 'not-a-directory');
    await writeFile(blocker, 'x');
    await expect(new DirectoryArtifactStore(blocker).savePart('a.csv', 'team-a', ['x'])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
  });
});
