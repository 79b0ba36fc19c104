import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../shared/adapters/local/line-splitter.js';

function split(pieces: readonly string[]): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const piece of pieces) splitter.push(piece);
  splitter.end();
  return lines;
}

/** What node:readline makes of the same pieces: the behaviour the export reader had before. */
async function readlineSplit(pieces: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const input = Readable.from(pieces);
  const reader = createInterface({ input, crlfDelay: Infinity });
  reader.on('line', (line) => lines.push(line));
  await new Promise((resolve) => reader.once('close', resolve));
  return lines;
}

describe('LineSplitter', () => {
  it('ends lines at LF, CRLF and a lone CR, keeps empty lines, and reads a last line without an end', () => {
    expect(split(['a\nb\r\nc\rd\r\r\ne\n\nf'])).toEqual(['a', 'b', 'c', 'd', '', 'e', '', 'f']);
    expect(split(['a\r'])).toEqual(['a']);
    expect(split(['\n'])).toEqual(['']);
    expect(split([])).toEqual([]);
  });

  it('treats a CR ending one piece and an LF starting the next as one line end', () => {
    expect(split(['a\r', '\nb'])).toEqual(['a', 'b']);
    expect(split(['a\r', '\n', '\nb'])).toEqual(['a', '', 'b']);
    expect(split(['a\r', 'b\r', '\r\n'])).toEqual(['a', 'b', '']);
  });

  it('joins a line from several pieces', () => {
    expect(split(['ab', 'cd', 'e\nf', 'g'])).toEqual(['abcde', 'fg']);
    expect(split(['ab', '', 'c\r', '\n'])).toEqual(['abc']);
  });

  it('cuts any text in any pieces as readline does', async () => {
    let seed = 7;
    const next = (bound: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      // The low bits of this generator repeat every few draws: take the high ones.
      return Math.floor(seed / 2 ** 15) % bound;
    };
    const alphabet = ['a', 'b', '\r', '\n', '\r\n', 'é', ' ', '😀'];
    for (let round = 0; round < 300; round += 1) {
      const pieces: string[] = [];
      for (let count = 1 + next(6); count > 0; count -= 1) {
        let piece = '';
        for (let length = next(12); length > 0; length -= 1) piece += alphabet[next(alphabet.length)];
        if (piece !== '') pieces.push(piece);
      }
      expect(split(pieces), JSON.stringify(pieces)).toEqual(await readlineSplit(pieces));
    }
  });
});
