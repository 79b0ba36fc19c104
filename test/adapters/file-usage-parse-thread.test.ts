import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileUsageSource, type ParseInWorker } from '../../shared/adapters/local/file-usage-source.js';
import { ParseThread } from '../../shared/adapters/local/usage-parse-thread.js';
import { SampleBatchReader, SampleBatchWriter, type SampleBatch } from '../../shared/adapters/local/usage-sample-batches.js';
import { AppError } from '../../shared/domain/errors.js';
import { DEFAULT_METRIC_MAPPING, RowLocation, type MetricSample, type SampleLocation } from '../../shared/domain/metric-mapping.js';
import { monthWindow, type TimeWindow } from '../../shared/domain/periods.js';

/**
 * The parse thread must change nothing but the thread: every file here is read inline ('never') and in the
 * worker ('always'), and the two reads must give the same result (rows, rejects, skipped, repeats, days, day
 * totals, inputs with their sha256), the same progress lines, or the same AppError. Each case also checks
 * a few figures of its own, so that two equally wrong reads cannot pass.
 */
const OCTOBER_UTC = monthWindow('2026-10', 'UTC');
const ALICE = 'aaaaaaaa-0000-0000-0000-000000000001';
const BOB = 'bbbbbbbb-0000-0000-0000-000000000002';
const CHUNK_BYTES = 1 << 20;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-usage-thread-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fixture(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

function ndjsonRow(minute: number, fields: Record<string, unknown> = {}): string {
  const timestamp = `2026-10-05T${String(10 + Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}:00Z`;
  return JSON.stringify({ timestamp, name: 'Prompt Tokens', valueSum: 10, valueCount: 1, customDimensions: { UserId: ALICE, Model: 'm', Tier: 't' }, ...fields });
}

type Outcome =
  | { readonly ok: true; readonly result: unknown; readonly dayTotals: unknown; readonly progress: string[] }
  | { readonly ok: false; readonly error: { code: string; message: string; details: readonly string[]; retryable: boolean }; readonly progress: string[] };

async function readWith(mode: ParseInWorker, files: string[], window: TimeWindow, timeZone: string): Promise<Outcome> {
  const source = new FileUsageSource({ files, parseInWorker: mode });
  const progress: string[] = [];
  try {
    const result = await source.read(window, { timeZone, onProgress: (message) => progress.push(message) });
    const dayTotals = await source.dayTotals(window, { timeZone });
    return { ok: true, result: { ...result, rows: [...result.rows] }, dayTotals, progress };
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const { code, message, details, retryable } = error as AppError;
    return { ok: false, error: { code, message, details, retryable }, progress };
  }
}

/** Reads both ways, asserts they agree, and returns the one outcome. */
async function readBothWays(files: string[], window = OCTOBER_UTC, timeZone = 'UTC'): Promise<Outcome> {
  const inline = await readWith('never', files, window, timeZone);
  const threaded = await readWith('always', files, window, timeZone);
  expect(threaded).toEqual(inline);
  return inline;
}

function succeeded(outcome: Outcome): Extract<Outcome, { ok: true }> & { result: { rows: { tokens: { input: number } }[]; rejects: { count: number; all?: { location: string; reason: string }[] } } } {
  if (!outcome.ok) throw new Error(`the read failed: ${outcome.error.message}`);
  return outcome as never;
}

describe('FileUsageSource in a worker thread gives what the inline read gives', () => {
  it('rejects every kind of bad NDJSON row alike, with line numbers, raw text and day', async () => {
    const lines = [
      ndjsonRow(0),
      '',
      '{"timestamp": "2026-10-05T10:02:00Z", "name": "Prompt Tokens", "valueSum": 5,',
      '[1, 2]',
      '"just a string"',
      JSON.stringify({ name: 'Prompt Tokens', valueSum: 1, valueCount: 1 }),
      ndjsonRow(3, { timestamp: '2026-13-05T10:00:00Z' }),
      ndjsonRow(4, { name: undefined }),
      ndjsonRow(5, { valueSum: undefined }),
      ndjsonRow(6, { valueCount: null }),
      ndjsonRow(7, { customDimensions: [1] }),
      ndjsonRow(8, { customDimensions: '{not json' }),
      ndjsonRow(9, { valueSum: '0x1F' }),
      ndjsonRow(10, { valueSum: { nested: true } }),
      ndjsonRow(11, { valueCount: true }),
      ndjsonRow(12, { valueSum: 12.5 }),
      ndjsonRow(13, { valueSum: -7 }),
      ndjsonRow(14, { valueSum: 1e20 }),
      '{"timestamp":"2026-10-05T10:15:00Z","name":"Prompt Tokens","valueSum":1e400,"valueCount":1}',
      '{"timestamp":"2026-10-05T10:16:00Z","name":"Prompt Tokens","valueSum":-0,"valueCount":1}',
      ndjsonRow(17, { customDimensions: { UserId: BOB, Model: 'claude-'.padEnd(300, 'z'), Tier: 't' } }),
      ndjsonRow(18, { customDimensions: { UserId: BOB, Model: 'claude\u0007bell', Tier: 't' } }),
      ndjsonRow(19, { TimeGenerated: '2026-10-05T10:19:00Z', timestamp: undefined, Name: 'Completion Tokens', name: undefined, Sum: 3, ItemCount: 1, Properties: JSON.stringify({ UserId: BOB, Model: 'm', Tier: 't' }) }),
      ndjsonRow(20, { name: 'Total Tokens', valueSum: 13 }),
      ndjsonRow(21, { name: 'Requests' }),
      ndjsonRow(22, { timestamp: '2026-11-01T00:00:00Z' }),
      ndjsonRow(23, { timestamp: '10/5/2026, 10:23:00 AM', valueSum: '1234.0' }),
      ndjsonRow(24, { customDimensions: { UserId: 7, Model: true, Tier: null } }),
      '   ',
      ndjsonRow(0),
    ];
    const path = await fixture('bad-rows.ndjson', lines.join('\n'));
    const outcome = succeeded(await readBothWays([path]));
    expect(outcome.result.rejects.count).toBe(19);
    expect(outcome.result.rejects.all?.slice(0, 3)).toEqual([
      { location: 'bad-rows.ndjson:3', reason: 'line is not JSON', raw: lines[2] },
      { location: 'bad-rows.ndjson:4', reason: 'line is not a JSON object', raw: lines[3] },
      { location: 'bad-rows.ndjson:5', reason: 'line is not a JSON object', raw: lines[4] },
    ]);
    expect(outcome.result).toMatchObject({ duplicates: { count: 1 }, skipped: { 'outside window': 1 } });
  });

  it('reads CSV exports alike: quotes, a field spanning lines, an unclosed quote, a European file', async () => {
    const bag = (userId: string) => quoted(JSON.stringify({ UserId: userId, Model: 'claude-sonnet-4-5', Tier: 'Claude.Standard', 'Deployment, region': 'westeurope, 2' }));
    const portal = await fixture(
      'portal.csv',
      `\uFEFF${[
        'timestamp [UTC],name,value,valueCount,valueSum,customDimensions,itemCount',
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,300,3,900,${bag(ALICE)},1`,
        `"10/25/2026, 12:05:00.000\u202fPM",Prompt Tokens,10,1,10,${quoted(`{"UserId":"${BOB}",\r\n"Model":"claude-opus-4-1",\r\n"Tier":"Claude.Premium"}`)},1`,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,"{broken,1`,
        `"10/25/2026, 1:31:00.000 AM",Completion Tokens,1,1,40,${bag(ALICE)},1`,
        `"13/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,${bag(ALICE)},1`,
        `"10/25/2026, 1:32:00.000 AM",Prompt Tokens,1,1,10,${bag(ALICE)}`,
        `"10/25/2026, 1:33:00.000 AM",Prompt Tokens,1,1,0x10,${bag(ALICE)},1`,
      ].join('\r\n')}\r\n`,
    );
    const european = await fixture(
      'european.csv',
      [
        'timestamp [UTC];name;valueSum;valueCount;customDimensions',
        `25/10/2026 01:30:00;Prompt Tokens;1234,0;2;${bag(BOB)}`,
        `03/10/2026 14:05:00;Prompt Tokens;1.000;1;${bag(BOB)}`,
      ].join('\n'),
    );
    const projected = await fixture('appmetrics.csv', ['TimeGenerated [UTC],Name,Sum,ItemCount,UserId,Model,Tier', `2026-10-03T08:00:00Z,Prompt Tokens,64,2,${ALICE},claude-haiku-4-5,Claude.Standard`, '2026-10-03T08:00:00Z,Prompt Tokens,8,1,,,'].join('\n'));
    const outcome = succeeded(await readBothWays([portal, european, projected]));
    expect(outcome.result.rejects.all?.map((reject) => reject.location)).toEqual(['portal.csv:6', 'portal.csv:8', 'portal.csv:9', 'portal.csv:10', 'european.csv:3']);
    expect(outcome.result.rows.reduce((sum, row) => sum + row.tokens.input, 0)).toBe(900 + 10 + 1234 + 64 + 8);
  });

  it('gives the same repeats and duplicate files for a file given twice and a copy under another name', async () => {
    const content = Array.from({ length: 40 }, (_, minute) => ndjsonRow(minute, { valueSum: minute + 1 })).join('\n');
    const first = await fixture('copy-a.ndjson', content);
    const copy = join(dir, 'copy-b.ndjson');
    await copyFile(first, copy);
    const outcome = succeeded(await readBothWays([first, first, copy]));
    expect(outcome.result).toMatchObject({ duplicates: { count: 80, files: [expect.stringMatching(/^copy-a\.ndjson was given twice/), expect.stringMatching(/^copy-b\.ndjson is the same file as copy-a\.ndjson/)] } });
    expect(outcome.result.rows.reduce((sum, row) => sum + row.tokens.input, 0)).toBe((40 * 41) / 2);
  });

  it('keeps a UTF-8 character split between two 1 MiB chunks whole, after a BOM', async () => {
    const model = 'modèle-日本語-🚀';
    const head = Buffer.from(`\uFEFF${ndjsonRow(0)}\n`);
    const row = Buffer.from(`${ndjsonRow(1, { customDimensions: { UserId: BOB, Model: model, Tier: 't' } })}\n`);
    const rocket = row.indexOf(Buffer.from('🚀'));
    // A blank line of filler puts the rocket's first two bytes at the end of the first chunk, two in the next.
    const filler = Buffer.from(`${' '.repeat(CHUNK_BYTES - 3 - head.length - rocket)}\n`);
    const content = Buffer.concat([head, filler, row]);
    expect(content.subarray(CHUNK_BYTES - 2, CHUNK_BYTES + 2).toString('utf8')).toBe('🚀');
    const path = await fixture('split.ndjson', content);
    const outcome = succeeded(await readBothWays([path]));
    expect(outcome.result.rejects.count).toBe(0);
    expect(outcome.result.rows).toContainEqual(expect.objectContaining({ userId: BOB, model }));
  });

  it('sends the progress lines of a long file, in order', async () => {
    const path = await fixture('long.ndjson', `${ndjsonRow(0)}\n${'\n'.repeat(520_000)}${ndjsonRow(1)}\n`);
    const outcome = succeeded(await readBothWays([path], OCTOBER_UTC, 'Europe/Paris'));
    expect(outcome.progress).toEqual(['long.ndjson: 250,000 lines read', 'long.ndjson: 500,000 lines read']);
    expect(outcome.result.rows.reduce((sum, row) => sum + row.tokens.input, 0)).toBe(20);
  });
});

describe('FileUsageSource in a worker thread fails as the inline read fails', () => {
  it('refuses a JSON array with the same AppError', async () => {
    const path = await fixture('array.json', '[\n{"timestamp":"2026-10-05T10:00:00Z"}\n]\n');
    const outcome = await readBothWays([path]);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'USAGE_INPUT_INVALID', message: expect.stringMatching(/is a JSON array/) } });
  });

  it('names the missing columns with the same details', async () => {
    const path = await fixture('columns.csv', 'when,what\n1,2\n');
    const outcome = await readBothWays([path]);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'USAGE_INPUT_INVALID', details: [expect.stringMatching(/missing column/), expect.anything(), expect.anything(), expect.anything(), expect.anything()] } });
  });

  it('refuses day-first dates found at the end of the file, after its rows were sent', async () => {
    const bag = quoted(JSON.stringify({ UserId: ALICE, Model: 'm', Tier: 't' }));
    const lines = ['timestamp [UTC],name,valueSum,valueCount,customDimensions'];
    for (let row = 0; row < 20_000; row += 1) lines.push(`"10/5/2026, 1:${String(row % 60).padStart(2, '0')}:00 AM",Prompt Tokens,1,1,${bag}`);
    lines.push(`"25/10/2026, 1:30:00 AM",Prompt Tokens,1,1,${bag}`);
    // The file's only dates whose order shows are day first: the file is refused at its end.
    const dayFirst = await fixture('day-first.csv', lines.join('\n').replaceAll('"10/5/2026', '"5/5/2026'));
    const outcome = await readBothWays([dayFirst]);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'USAGE_INPUT_INVALID', retryable: false, message: expect.stringMatching(/line 20002: "25\/10\/2026, 1:30:00 AM"/) } });
  });

  it('refuses a header whose quote never closes, 1,000 lines into the file', async () => {
    const path = await fixture('header.csv', `"timestamp [UTC],name,valueSum\n${'x,y,z\n'.repeat(1_200)}`);
    const outcome = await readBothWays([path]);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'USAGE_INPUT_INVALID', message: expect.stringMatching(/header\.csv:1: the header row has an unclosed quote/) } });
  });

  it("ends the read with the caller's own error when its progress callback throws mid-file", async () => {
    const path = await fixture('progress-throws.ndjson', `${ndjsonRow(0)}\n${'\n'.repeat(600_000)}`);
    for (const mode of ['never', 'always'] as const) {
      const failure = new Error('the caller gave up');
      const read = new FileUsageSource({ files: [path], parseInWorker: mode }).read(OCTOBER_UTC, {
        timeZone: 'UTC',
        onProgress: () => {
          throw failure;
        },
      });
      await expect(read).rejects.toBe(failure);
    }
  });
});

describe('ParseThread', () => {
  it("stops at the sink's error, and fails every later read with a clear AppError instead of hanging", async () => {
    const path = await fixture('many.ndjson', Array.from({ length: 60_000 }, (_, row) => ndjsonRow(row % 600)).join('\n'));
    const thread = new ParseThread(DEFAULT_METRIC_MAPPING);
    try {
      const seen: { sample: MetricSample; location: SampleLocation }[] = [];
      const stop = new Error('the sink is full');
      const sink = {
        add(sample: MetricSample, location: SampleLocation) {
          seen.push({ sample, location });
          if (seen.length === 20_000) throw stop;
        },
        reject() {},
      };
      await expect(thread.read(path, 'ndjson', sink, undefined)).rejects.toBe(stop);
      expect(seen[0]).toEqual({ sample: { timestamp: new Date('2026-10-05T10:00:00Z'), name: 'Prompt Tokens', valueSum: 10, valueCount: 1, userId: ALICE, model: 'm', tier: 't' }, location: expect.objectContaining({ source: 'many.ndjson', line: 1 }) });
      expect(seen).toHaveLength(20_000);
      const again = await thread.read(path, 'ndjson', sink, undefined).then(
        () => null,
        (error: unknown) => error,
      );
      expect(again).toBeInstanceOf(AppError);
      expect((again as AppError).code).toBe('INTERNAL');
    } finally {
      await thread.close();
    }
  });

  it('turns a thread that dies mid-read into an AppError, not a hang', async () => {
    const path = await fixture('dies.ndjson', Array.from({ length: 200_000 }, (_, row) => ndjsonRow(row % 600)).join('\n'));
    const thread = new ParseThread(DEFAULT_METRIC_MAPPING);
    try {
      let samples = 0;
      const sink = {
        add() {
          samples += 1;
          // As if the thread crashed (out of memory, a native fault) while the main thread replays its batches.
          if (samples === 10_000) void thread['worker'].terminate();
        },
        reject() {},
      };
      const error = await thread.read(path, 'ndjson', sink, undefined).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/usage parse thread stopped unexpectedly/) });
      expect(samples).toBeLessThan(200_000);
    } finally {
      await thread.close();
    }
    await expect(thread.read(path, 'ndjson', { add() {}, reject() {} }, undefined)).rejects.toBeInstanceOf(AppError);
  });

  it('reads one file after another on the same thread', async () => {
    const a = await fixture('one.ndjson', `${ndjsonRow(0)}\n${ndjsonRow(1, { valueSum: 'x' })}\n`);
    const b = await fixture('two.ndjson', `\n${ndjsonRow(2, { customDimensions: { UserId: BOB, Model: 'n', Tier: 'u' } })}\n`);
    const thread = new ParseThread(DEFAULT_METRIC_MAPPING);
    try {
      const calls: unknown[] = [];
      const sink = {
        add: (sample: MetricSample, location: SampleLocation) => calls.push(['add', sample.userId, sample.valueSum, String(location)]),
        reject: (location: SampleLocation, reason: string) => calls.push(['reject', String(location), reason]),
      };
      expect(await thread.read(a, 'ndjson', sink, undefined)).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), dataRows: 2 });
      expect(await thread.read(b, 'ndjson', sink, undefined)).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), dataRows: 1 });
      expect(calls).toEqual([
        ['add', ALICE, 10, 'one.ndjson:1'],
        ['add', ALICE, { problem: 'is not a decimal integer', raw: 'x' }, 'one.ndjson:2'],
        ['add', BOB, 10, 'two.ndjson:2'],
      ]);
    } finally {
      await thread.close();
    }
  });
});

describe('SampleBatchWriter and SampleBatchReader', () => {
  /** Every call a sink receives, with the class of its location, so that a RowLocation cannot come back as text. */
  function recordingSink(calls: unknown[]) {
    const where = (location: SampleLocation) => (location instanceof RowLocation ? { row: location.source, line: location.line } : { text: location });
    return {
      add: (sample: MetricSample, location: SampleLocation) => calls.push(['add', { ...sample, timestamp: sample.timestamp.getTime() }, where(location)]),
      reject: (location: SampleLocation, reason: string, raw?: string, day?: string) => calls.push(['reject', where(location), reason, raw, day]),
    };
  }

  it('replays every call in its order, rare forms included, across batches and a restarted text table', () => {
    const sample = (minute: number, fields: Partial<MetricSample> = {}): MetricSample => ({
      timestamp: new Date(Date.UTC(2026, 9, 5, 10, minute)),
      name: 'Prompt Tokens',
      valueSum: minute * 10,
      valueCount: 1,
      userId: `user-${minute % 5}`,
      model: 'm',
      tier: 't',
      ...fields,
    });
    const calls: [string, ...unknown[]][] = [
      ['add', sample(0), new RowLocation('usage.ndjson', 1)],
      ['add', sample(1, { valueSum: { problem: 'is hexadecimal', raw: '0x10' } }), new RowLocation('usage.ndjson', 2)],
      ['add', sample(2, { valueCount: { problem: 'is not a number', raw: 'true' } }), new RowLocation('other.csv', 7)],
      ['add', sample(3, { valueSum: -0, valueCount: Number.POSITIVE_INFINITY }), 'query row 3'],
      ['add', sample(4, { valueSum: Number.NaN, timestamp: new Date(Number.NaN), userId: '', model: 'modèle 🚀' }), new RowLocation('usage.ndjson', 2 ** 32)],
      ['reject', new RowLocation('usage.ndjson', 6), 'line is not JSON', '{oops', undefined],
      ['reject', 'usage.ndjson:7', 'unclosed quote in a CSV field', undefined, undefined],
      ['reject', new RowLocation('usage.ndjson', 8), 'valueSum is negative', '-7', '2026-10-05'],
      ['progress', 'usage.ndjson: 8 lines read'],
    ];
    for (let minute = 10; minute < 40; minute += 1) calls.push(['add', sample(minute, { userId: `user-${minute}` }), new RowLocation('usage.ndjson', minute)]);

    const batches: SampleBatch[] = [];
    const writer = new SampleBatchWriter(3, (batch) => batches.push(batch), 8);
    writer.startFile('usage.ndjson');
    // Bytes as a stream hands them over: views into a larger buffer, one of them past the writer's 4 MiB bound.
    const file = Buffer.alloc(5 << 20);
    for (let at = 0; at < file.length; at += 1) file[at] = (at * 7) % 251;
    const original = Buffer.from(file);
    const pieces = [file.subarray(0, 10), file.subarray(10, 11), file.subarray(11, file.length - 5), file.subarray(file.length - 5)];
    calls.forEach(([kind, ...args], index) => {
      if (index < pieces.length) writer.update(pieces[index]!);
      if (kind === 'add') writer.add(args[0] as MetricSample, args[1] as SampleLocation);
      else if (kind === 'reject') writer.reject(args[0] as SampleLocation, args[1] as string, args[2] as string | undefined, args[3] as string | undefined);
      else writer.progress(args[0] as string);
    });
    writer.flush();
    // The writer keeps copies: the stream may reuse its buffer.
    file.fill(0);
    expect(batches.some((batch) => batch.restartTexts)).toBe(true);

    const replayed: unknown[] = [];
    const progress: string[] = [];
    const reader = new SampleBatchReader();
    reader.startFile('usage.ndjson');
    const sink = recordingSink(replayed);
    const bytes: Buffer[] = [];
    for (const batch of batches) reader.replay(batch, sink, (message) => progress.push(message), { update: (chunk) => bytes.push(Buffer.from(chunk)) });
    expect(Buffer.concat(bytes).equals(original)).toBe(true);

    const expected: unknown[] = [];
    const direct = recordingSink(expected);
    for (const [kind, ...args] of calls) {
      if (kind === 'add') direct.add(args[0] as MetricSample, args[1] as SampleLocation);
      else if (kind === 'reject') direct.reject(args[0] as SampleLocation, args[1] as string, args[2] as string | undefined, args[3] as string | undefined);
    }
    expect(replayed).toEqual(expected);
    expect(Object.is((replayed[3] as [string, MetricSample])[1].valueSum, -0)).toBe(true);
    expect(progress).toEqual(['usage.ndjson: 8 lines read']);
  });
});
