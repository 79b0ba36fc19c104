import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../domain/errors.js';
import type { ArtifactLink, ArtifactStore } from '../../ports/artifacts.js';

/**
 * Writes `content` to `<directory>/<fileName>` so that a reader sees either the old file or the whole new
 * one, never half of it: the bytes go to a temporary file in the same directory (same file system), which
 * is then renamed over the target. Returns the absolute path. Throws the raw I/O error; callers translate it.
 */
export async function writeFileAtomically(directory: string, fileName: string, content: Buffer): Promise<string> {
  return replaceAtomically(directory, fileName, (temporary) => writeFile(temporary, content, { flag: 'wx' }));
}

/**
 * Writes a new file and never replaces one: when `fileName` exists, the next free `name-2.ext`, `name-3.ext`…
 * is used. The file appears whole (hard-linked from a temporary file, which fails rather than overwrites).
 * A stream is written as it comes, never held whole.
 */
export async function writeNewFile(directory: string, fileName: string, content: Buffer | Readable): Promise<string> {
  await mkdir(directory, { recursive: true });
  const temporary = path.resolve(directory, `.${fileName}.${randomUUID()}.tmp`);
  const extension = path.extname(fileName);
  const stem = fileName.slice(0, fileName.length - extension.length);
  try {
    if (Buffer.isBuffer(content)) await writeFile(temporary, content, { flag: 'wx' });
    else await pipeline(content, createWriteStream(temporary, { flags: 'wx' }));
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  try {
    for (let copy = 1; ; copy++) {
      const target = path.resolve(directory, copy === 1 ? fileName : `${stem}-${copy}${extension}`);
      try {
        await link(temporary, target);
        return target;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  } finally {
    await rm(temporary, { force: true }).catch(() => undefined);
  }
}

/** The same for content produced piece by piece: the chunks are written as they come, never held together. */
export async function writeChunksAtomically(
  directory: string,
  fileName: string,
  chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
): Promise<string> {
  return replaceAtomically(directory, fileName, (temporary) => pipeline(Readable.from(chunks), createWriteStream(temporary, { flags: 'wx' })));
}

async function replaceAtomically(directory: string, fileName: string, writeTemporary: (temporary: string) => Promise<void>): Promise<string> {
  const target = path.resolve(directory, fileName);
  const temporary = path.resolve(directory, `.${fileName}.${randomUUID()}.tmp`);
  await mkdir(directory, { recursive: true });
  try {
    await writeTemporary(temporary);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  return target;
}

/** A name that stays inside the store's directory: no separators, no parent references, no control characters. */
export function isSafeArtifactName(name: string): boolean {
  return (
    name.trim() !== '' &&
    name !== '.' &&
    !name.includes('..') &&
    !/[/\\]/.test(name) &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f]/.test(name) &&
    Buffer.byteLength(name, 'utf8') <= 200
  );
}

/** The index of the first path that is not a file (never saved), or undefined when all of them are. */
async function firstMissingFile(paths: readonly string[]): Promise<number | undefined> {
  for (const [index, file] of paths.entries()) if (!(await isFile(file))) return index;
  return undefined;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The files' bytes one after the other, read a buffer at a time: a part of hundreds of MB is never held whole. */
async function* concatenated(paths: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of paths) yield* createReadStream(file) as AsyncIterable<Buffer>;
}

function assertSafeName(name: string): void {
  if (!isSafeArtifactName(name)) {
    throw new AppError('INVALID_ARGUMENT', `Artifact name ${JSON.stringify(name)} is not a plain file name.`, {
      details: ['Use a single file name of at most 200 bytes: no "/" or "\\", no "..", no control characters.'],
    });
  }
}

/**
 * Keeps generated files (workbooks, CSV exports) in a local folder, the stand-in for a blob container.
 * The content type is not stored: on a file system the extension carries it.
 */
export class DirectoryArtifactStore implements ArtifactStore {
  private readonly directory: string;

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  async save(name: string, content: Buffer, _contentType: string): Promise<string> {
    assertSafeName(name);
    try {
      return await writeFileAtomically(this.directory, name, content);
    } catch (error) {
      throw this.saveFailed(name, error);
    }
  }

  async saveStream(name: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>, _contentType: string): Promise<string> {
    assertSafeName(name);
    return this.writeProduced(this.directory, name, chunks, (error) => this.saveFailed(name, error));
  }

  /**
   * Writes what `chunks` produce as one file, whole or not at all. The producer's own failure (a bad export) is
   * its error, not a storage failure: it is passed on as it is; a storage failure is translated by `failed`.
   */
  private async writeProduced(
    directory: string,
    fileName: string,
    chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
    failed: (error: unknown) => AppError,
  ): Promise<string> {
    let producerFailure: { error: unknown } | undefined;
    async function* watched(): AsyncGenerator<string | Buffer> {
      try {
        yield* chunks;
      } catch (error) {
        producerFailure = { error };
        throw error;
      }
    }
    try {
      return await writeChunksAtomically(directory, fileName, watched());
    } catch (error) {
      if (producerFailure) throw producerFailure.error;
      throw failed(error);
    }
  }

  /** A folder on this machine has no address anyone else can download from: the mail attaches the file. */
  async link(_name: string, _expiresInHours: number): Promise<ArtifactLink | undefined> {
    return undefined;
  }

  async read(name: string): Promise<Buffer | undefined> {
    assertSafeName(name);
    try {
      return await readFile(path.join(this.directory, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      throw new AppError('STORAGE_FAILED', `Could not read artifact ${name} in ${this.directory} (${code}).`, { retryable: true, cause: error });
    }
  }

  /**
   * A part is a file of its own in a hidden folder next to the artifact (`.<name>.parts/<part>`), written
   * whole like any artifact (temporary file, then rename), so a part saved again replaces the old one at once
   * and concurrent writers of one part leave one of them, never a mix. Readers of `name` never look there.
   */
  async savePart(name: string, part: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void> {
    assertSafeName(name);
    assertSafeName(part);
    await this.writeProduced(this.partsFolder(name), part, chunks, (error) => {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      return new AppError('STORAGE_FAILED', `Could not save part ${part} of artifact ${name} in ${this.directory} (${code}).`, { retryable: false, cause: error });
    });
  }

  /**
   * Streams the parts one after the other into a temporary file that is renamed over `name` (readers see the
   * old file or the whole new one), then removes the parts folder. Which parts made `name` is kept in a hidden
   * sidecar (`.<name>.joined`), written before the rename: a rerun of the same join after the parts are gone
   * (a crashed finance item) finds it and answers the location again, and the sidecar never claims a join that
   * did not happen (written first, it can only be ahead of `name` when the rename failed, and then the parts
   * are still there and the rerun joins them again).
   */
  async joinParts(name: string, parts: readonly string[], _contentType: string): Promise<string> {
    assertSafeName(name);
    for (const part of parts) assertSafeName(part);
    const target = path.join(this.directory, name);
    const folder = this.partsFolder(name);
    const sidecar = path.join(this.directory, `.${name}.joined`);
    const joinedList = JSON.stringify(parts);
    try {
      const missing = await firstMissingFile(parts.map((part) => path.join(folder, part)));
      if (missing !== undefined) {
        if ((await readIfExists(sidecar))?.toString('utf8') === joinedList && (await isFile(target))) {
          // A rerun of a finished join (its item saved some of its parts again first): those are let go too.
          await rm(folder, { recursive: true, force: true }).catch(() => undefined);
          return target;
        }
        throw new AppError('NOT_FOUND', `Part ${parts[missing]} of artifact ${name} was never saved, or was let go by an earlier join of other parts.`);
      }
      const temporary = path.join(this.directory, `.${name}.${randomUUID()}.tmp`);
      try {
        await pipeline(Readable.from(concatenated(parts.map((part) => path.join(folder, part)))), createWriteStream(temporary, { flags: 'wx' }));
        await writeFileAtomically(this.directory, path.basename(sidecar), Buffer.from(joinedList, 'utf8'));
        await rename(temporary, target);
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => undefined);
        throw error;
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      // A part removed between the check and the read (another join of the same artifact): it is gone.
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      throw new AppError('STORAGE_FAILED', `Could not join the parts of artifact ${name} in ${this.directory} (${code}).`, { retryable: code === 'ENOENT', cause: error });
    }
    // `name` is whole and the sidecar says what made it: parts left behind by a failed removal are only
    // disk space, and a rerun would join them again into the same bytes, so the join has succeeded either way.
    await rm(folder, { recursive: true, force: true }).catch(() => undefined);
    return target;
  }

  private partsFolder(name: string): string {
    return path.join(this.directory, `.${name}.parts`);
  }

  private saveFailed(name: string, error: unknown): AppError {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    return new AppError('STORAGE_FAILED', `Could not save artifact ${name} in ${this.directory} (${code}).`, { retryable: false, cause: error });
  }
}
