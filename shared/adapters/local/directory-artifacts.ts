import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
    // The producer's own failure (a bad export) is its error, not a storage failure: it is passed on as it is.
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
      return await writeChunksAtomically(this.directory, name, watched());
    } catch (error) {
      if (producerFailure) throw producerFailure.error;
      throw this.saveFailed(name, error);
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

  async savePart(name: string, part: string, _chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void> {
    throw new AppError('INTERNAL', `saving part ${part} of ${name}: not built yet`);
  }

  async joinParts(name: string, _parts: readonly string[], _contentType: string): Promise<string> {
    throw new AppError('INTERNAL', `joining the parts of ${name}: not built yet`);
  }

  private saveFailed(name: string, error: unknown): AppError {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    return new AppError('STORAGE_FAILED', `Could not save artifact ${name} in ${this.directory} (${code}).`, { retryable: false, cause: error });
  }
}
