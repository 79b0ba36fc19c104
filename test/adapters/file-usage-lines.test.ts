import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileUsageSource } from '../../shared/adapters/local/file-usage-source.js';
import { monthWindow } from '../../shared/domain/periods.js';

/**
 * How an export's bytes become numbered lines: the line ends readline knows (LF, CRLF, a lone CR), a BOM on
 * the first line, UTF-8, and the 1 MiB chunks the file is read in. Each line that is not JSON comes back as a
 * reject carrying its line number and its text, which makes the split visible.
 */
const OCTOBER_UTC = monthWindow('2026-10', 'UTC');
const CHUNK_BYTES = 1 << 20;
const ALICE = 'aaaaaaaa-0000-0000-0000-000000000001';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-usage-lines-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(content: string | Buffer) {
  files += 1;
  const path = join(dir, `lines-${files}.ndjson`);
  await writeFile(path, content);
  const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
  const lines = (result.rejects.all ?? []).map((reject) => `${reject.location.split(':')[1]} ${reject.raw}`);
  const input = [...result.rows].reduce((sum, row) => sum + row.tokens.input, 0);
  return { lines, input, userIds: [...new Set([...result.rows].map((row) => row.userId))], rows: result.inputs![0]!.rows };
}

function row(minute: number, valueSum: number, userId = ALICE): string {
  const timestamp = `2026-10-05T10:${String(minute).padStart(2, '0')}:00Z`;
  return JSON.stringify({ timestamp, name: 'Prompt Tokens', valueSum, valueCount: 1, customDimensions: { UserId: userId, Model: 'm', Tier: 't' } });
}

/** Blank filler (skipped, but counted as line 1) that puts `tail`'s first byte at `offset` in the file. */
function placedAt(offset: number, tail: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${' '.repeat(offset - 1)}\n`), tail]);
}

describe('FileUsageSource: lines of an export', () => {
  it('ends a line at LF, CRLF and a lone CR, and counts blank lines', async () => {
    const { lines } = await read('a\nb\r\nc\rd\r\r\ne\n\nf');
    expect(lines).toEqual(['1 a', '2 b', '3 c', '4 d', '6 e', '8 f']);
  });

  it('reads a last line without a line end, and no extra line after a final CR or LF', async () => {
    expect((await read(`${row(0, 1)}\n${row(1, 2)}`)).input).toBe(3);
    expect(await read('a\r')).toMatchObject({ lines: ['1 a'], rows: 1 });
    expect(await read('a\n')).toMatchObject({ lines: ['1 a'], rows: 1 });
    expect(await read('a\r\n\r\n')).toMatchObject({ lines: ['1 a'], rows: 1 });
  });

  it('drops a byte order mark on the first line only', async () => {
    const { lines, input } = await read(`\uFEFF${row(0, 5)}\n\uFEFF{}\n`);
    expect(input).toBe(5);
    expect(lines).toEqual(['2 \uFEFF{}']);
  });

  it('decodes UTF-8, and a byte that is not UTF-8 as U+FFFD', async () => {
    const { userIds, lines } = await read(Buffer.concat([Buffer.from(`${row(0, 1, 'é€😀')}\nbad `), Buffer.from([0xe2, 0x41, 0xff]), Buffer.from('\n')]));
    expect(userIds).toEqual(['é€😀']);
    expect(lines).toEqual(['2 bad \uFFFDA\uFFFD']);
  });

  it('keeps CRLF one line end when the CR ends a 1 MiB chunk and the LF starts the next', async () => {
    const content = placedAt(CHUNK_BYTES - 2, Buffer.from('x\r\ny\n'));
    expect(content.subarray(CHUNK_BYTES - 1, CHUNK_BYTES + 1).toString()).toBe('\r\n');
    expect((await read(content)).lines).toEqual(['2 x', '3 y']);
  });

  it('ends a line at a lone CR that ends a chunk', async () => {
    const content = placedAt(CHUNK_BYTES - 2, Buffer.from('x\ry\r'));
    expect((await read(content)).lines).toEqual(['2 x', '3 y']);
  });

  it('ends a line at the LF that starts a chunk', async () => {
    const content = placedAt(CHUNK_BYTES - 1, Buffer.from('x\ny'));
    expect((await read(content)).lines).toEqual(['2 x', '3 y']);
    const before = placedAt(CHUNK_BYTES, Buffer.from('\nx'));
    expect((await read(before)).lines).toEqual(['3 x']);
  });

  it('reads a byte that is not UTF-8 at the end of a chunk as U+FFFD before the next chunk, ASCII or not', async () => {
    const beforeAscii = placedAt(CHUNK_BYTES - 3, Buffer.concat([Buffer.from('xy'), Buffer.from([0xe2]), Buffer.from('A\nz')]));
    expect((await read(beforeAscii)).lines).toEqual(['2 xy\uFFFDA', '3 z']);
    const beforeOther = placedAt(CHUNK_BYTES - 3, Buffer.concat([Buffer.from('xy'), Buffer.from([0xe2]), Buffer.from('é\n')]));
    expect((await read(beforeOther)).lines).toEqual(['2 xy\uFFFDé']);
  });

  it('decodes a character split across two chunks, and a row spanning three chunks', async () => {
    const split = placedAt(CHUNK_BYTES - 3, Buffer.from('ab😀cd\n'));
    expect((await read(split)).lines).toEqual(['2 ab😀cd']);

    const spanning = row(3, 11).replace('"name"', `${' '.repeat(2 * CHUNK_BYTES)}"name"`);
    const { input, lines } = await read(`${row(0, 1)}\n${spanning}\r\n${row(1, 100)}\nlast`);
    expect(input).toBe(112);
    expect(lines).toEqual(['4 last']);
  });
});
