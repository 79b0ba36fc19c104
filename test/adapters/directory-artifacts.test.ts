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
