import { readFile } from 'node:fs/promises';
import { AppError } from '../../domain/errors.js';
import { parsePriceBook, type PriceBook } from '../../domain/price-book.js';
import type { PriceBookSource } from '../../ports/price-book-source.js';

/** Reads a price book from a JSON file; every failure is a PRICE_BOOK_INVALID naming the file. */
export class FilePriceBookSource implements PriceBookSource {
  constructor(private readonly filePath: string) {}

  async load(): Promise<PriceBook> {
    const text = await this.readText();
    return parsePriceBook(this.parseJson(text), this.filePath, text);
  }

  private async readText(): Promise<string> {
    try {
      return await readFile(this.filePath, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      const reason =
        code === 'ENOENT'
          ? 'the file does not exist'
          : code === 'EISDIR'
            ? 'the path is a directory, not a file'
            : code === 'EACCES' || code === 'EPERM'
              ? 'the file cannot be read (permission denied)'
              : `the file cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`;
      throw new AppError('PRICE_BOOK_INVALID', `${this.filePath}: cannot load the price book: ${reason}`, { cause: error });
    }
  }

  private parseJson(text: string): unknown {
    try {
      // A byte-order mark from a Windows editor is not a JSON error worth failing a run over.
      return JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const where = locateJsonError(text.replace(/^\uFEFF/, ''), detail);
      throw new AppError('PRICE_BOOK_INVALID', `${this.filePath}${where}: the price book is not valid JSON: ${detail}`, { cause: error });
    }
  }
}

/**
 * V8 reports either "at position N" or "(line L column C)" depending on the version; turn whichever is
 * present into ":line:column" so an editor can jump to it.
 */
function locateJsonError(text: string, message: string): string {
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return `:${lineColumn[1]}:${lineColumn[2]}`;
  const position = /position (\d+)/.exec(message);
  if (position) {
    const offset = Math.min(Number(position[1]), text.length);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    return `:${line}:${column}`;
  }
  if (/unexpected end/i.test(message)) {
    const lines = text.split('\n');
    return `:${lines.length}:${(lines[lines.length - 1] ?? '').length + 1}`;
  }
  return '';
}
