import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../domain/errors.js';
import type { ArtifactStore } from '../../ports/artifacts.js';

/**
 * Writes `content` to `<directory>/<fileName>` so that a reader sees either the old file or the whole new
 * one, never half of it: the bytes go to a temporary file in the same directory (same file system), which
 * is then renamed over the target. Returns the absolute path. Throws the raw I/O error; callers translate it.
 */
export async function writeFileAtomically(directory: string, fileName: string, content: Buffer): Promise<string> {
  const target = path.resolve(directory, fileName);
  const temporary = path.resolve(directory, `.${fileName}.${randomUUID()}.tmp`);
  await mkdir(directory, { recursive: true });
  try {
    await writeFile(temporary, content, { flag: 'wx' });
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
    if (!isSafeArtifactName(name)) {
      throw new AppError('INVALID_ARGUMENT', `Artifact name ${JSON.stringify(name)} is not a plain file name.`, {
        details: ['Use a single file name of at most 200 bytes: no "/" or "\\", no "..", no control characters.'],
      });
    }
    try {
      return await writeFileAtomically(this.directory, name, content);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      throw new AppError('STORAGE_FAILED', `Could not save artifact ${name} in ${this.directory} (${code}).`, { retryable: false, cause: error });
    }
  }
}
