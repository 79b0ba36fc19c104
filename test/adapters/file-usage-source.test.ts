import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CSV_INCOMPLETE,
  FileUsageSource,
  formatPortalTimestamp,
  parseCsvRecord,
  parseExportTimestamp,
} from '../../shared/adapters/local/file-usage-source.js';
import { AppError } from '../../shared/domain/errors.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { sumTokens, totalTokens, zeroTokens } from '../../shared/domain/tokens.js';

const ALICE = 'aaaaaaaa-0000-0000-0000-000000000001';
const BOB = 'bbbbbbbb-0000-0000-0000-000000000002';
const OCTOBER_UTC = monthWindow('2026-10', 'UTC');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-usage-source-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fixture(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, 'utf8');
  return path;
}

/** A CSV field as the portal writes it: quoted, inner quotes doubled. */
function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

async function readError(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('FileUsageSource reading a portal CSV export', () => {
  const dims = (userId: string, model: string, tier: string): string =>
    quoted(JSON.stringify({ UserId: userId, Model: model, Tier: tier, 'Deployment, region': 'westeurope, 2' }));
  const header = 'timestamp [UTC],name,value,valueCount,valueSum,customDimensions,itemCount';

  it('reads BOM, CRLF, locale times, quoted JSON with commas and a field spanning lines', async () => {
    const multiLineDimensions = quoted(`{"UserId":"${BOB}",\r\n"Model":"claude-opus-4-1",\r\n"Tier":"Claude.Premium"}`);
    const rows = [
      header,
      `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,300,3,900,${dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard')},1`,
      `"10/25/2026, 1:30:00.000 AM",Completion Tokens,40,3,120,${dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard')},1`,
      `"10/25/2026, 1:30:00.000 AM",Total Tokens,340,3,1020,${dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard')},1`,
      // 12 PM is noon, 12 AM is midnight; a narrow no-break space before PM as recent browsers write it.
      `"10/25/2026, 12:05:00.000\u202fPM",Prompt Tokens,10,1,10,${multiLineDimensions},1`,
      `2026-10-25T23:59:59.9990000Z,Prompt Tokens,5,1,5,${dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard')},1`,
      `"11/1/2026, 12:00:00.000 AM",Prompt Tokens,5,1,777,${dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard')},1`,
      '',
    ];
    const path = await fixture('portal.csv', `\uFEFF${rows.join('\r\n')}`);
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });

    expect(result.rejects.count).toBe(0);
    expect(result.skipped).toEqual({ 'outside window': 1 });
    expect(result.reportedTotalTokens).toBe(1020);
    expect(result.sourceDescription).toBe('file export: portal.csv');
    expect([...result.rows]).toEqual([
      { day: '2026-10-25', userId: ALICE, model: 'claude-sonnet-4-5', tier: 'Claude.Standard', tokens: { ...zeroTokens(), input: 905, output: 120 }, requests: 4 },
      { day: '2026-10-25', userId: BOB, model: 'claude-opus-4-1', tier: 'Claude.Premium', tokens: { ...zeroTokens(), input: 10 }, requests: 1 },
    ]);
  });

  it('cuts days in the reporting zone from UTC portal times', async () => {
    const path = await fixture(
      'zone.csv',
      [
        header,
        // 22:30 UTC on the 24th is 00:30 on the 25th in Paris (summer time ends on the 25th at 01:00 UTC).
        `"10/24/2026, 10:30:00.000 PM",Prompt Tokens,1,1,7,${dims(ALICE, 'm', 't')},1`,
      ].join('\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(monthWindow('2026-10', 'Europe/Paris'), { timeZone: 'Europe/Paris' });
    expect([...result.rows].map((row) => row.day)).toEqual(['2026-10-25']);
  });

  it('rejects unparseable rows with file:line and a reason, without stopping', async () => {
    const good = dims(ALICE, 'claude-sonnet-4-5', 'Claude.Standard');
    const path = await fixture(
      'messy.csv',
      [
        header,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,${good},1`,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,${good}`,
        `"13/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,${good},1`,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,"{not json",1`,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,-3,${good},1`,
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,,${good},1`,
        `"10/25/2026, 1:31:00.000 AM",Prompt Tokens,1,1,10,${good},1`,
      ].join('\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect(result.rejects.count).toBe(5);
    expect(result.rejects.all?.map((r) => r.raw)).toEqual([
      // The whole line, cut at 120 characters and saying how long it was.
      expect.stringMatching(/^"10\/25\/2026, 1:30:00\.000 AM",Prompt Tokens,1,1,10,.{70}… \(207 characters\)$/),
      '13/25/2026, 1:30:00.000 AM',
      '{not json',
      '-3',
      '',
    ]);
    expect(result.rejects.samples.map((r) => r.location)).toEqual(['messy.csv:3', 'messy.csv:4', 'messy.csv:5', 'messy.csv:6', 'messy.csv:7']);
    expect(result.rejects.byReason).toEqual({
      'wrong number of fields (the header has 7)': 1,
      'timestamp is neither ISO 8601 nor M/D/YYYY, h:mm:ss AM': 1,
      'customDimensions is not a JSON object': 1,
      'valueSum is negative': 1,
      'valueSum is empty': 1,
    });
    expect([...result.rows][0]!.tokens.input).toBe(20);
  });

  it('rejects only the line of a quote that never closes and reads the lines after it', async () => {
    const good = dims(ALICE, 'm', 't');
    const lines = [header, `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1,1,10,"{broken,1`];
    for (let i = 0; i < 3; i += 1) lines.push(`"10/25/2026, 1:3${i}:00.000 AM",Prompt Tokens,1,1,10,${good},1`);
    const path = await fixture('unclosed.csv', lines.join('\n'));
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect(result.rejects.samples).toEqual([{ location: 'unclosed.csv:2', reason: 'unclosed quote in a CSV field', raw: lines[1] }]);
    expect([...result.rows][0]!.tokens.input).toBe(30);
  });

  it('reads an AppMetrics export with its own column names and projected dimension columns', async () => {
    const path = await fixture(
      'appmetrics.csv',
      [
        'TimeGenerated [UTC],Name,Sum,ItemCount,UserId,Model,Tier',
        `2026-10-03T08:00:00Z,Prompt Tokens,64,2,${ALICE},claude-haiku-4-5,Claude.Standard`,
        `2026-10-03T08:00:00Z,Completion Tokens,16,2,${ALICE},claude-haiku-4-5,Claude.Standard`,
        `2026-10-03T08:00:00Z,Prompt Tokens,8,1,,,`,
      ].join('\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect([...result.rows]).toEqual([
      { day: '2026-10-03', userId: '', model: 'unknown', tier: 'unknown', tokens: { ...zeroTokens(), input: 8 }, requests: 1 },
      { day: '2026-10-03', userId: ALICE, model: 'claude-haiku-4-5', tier: 'Claude.Standard', tokens: { ...zeroTokens(), input: 64, output: 16 }, requests: 2 },
    ]);
  });

  it('names the file and every missing column', async () => {
    const path = await fixture('short.csv', 'timestamp [UTC],name,valueCount\n"10/25/2026, 1:30:00.000 AM",Prompt Tokens,1\n');
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.code).toBe('USAGE_INPUT_INVALID');
    expect(error.message).toContain('short.csv');
    expect(error.message).toMatch(/missing columns valueSum, customDimensions/);
  });

  it('refuses a time column in a zone other than UTC', async () => {
    const path = await fixture('local.csv', 'timestamp [Local Time],name,valueSum,valueCount,customDimensions\n');
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.message).toMatch(/not UTC/);
  });
});

describe('FileUsageSource reading NDJSON', () => {
  it('reads both field spellings, dimensions as object or string, and rejects a bad line', async () => {
    const lines = [
      JSON.stringify({ timestamp: '2026-10-05T10:00:00.000Z', name: 'Prompt Tokens', valueSum: 120, valueCount: 2, customDimensions: { UserId: ALICE, Model: 'claude-sonnet-4-5', Tier: 'Claude.Standard' } }),
      JSON.stringify({ TimeGenerated: '2026-10-05T10:01:00Z', Name: 'Completion Tokens', Sum: 30, ItemCount: 2, Properties: JSON.stringify({ UserId: ALICE, Model: 'claude-sonnet-4-5', Tier: 'Claude.Standard' }) }),
      '{"timestamp": "2026-10-05T10:02:00Z", "name": "Prompt Tokens", "valueSum": 5,',
      JSON.stringify({ timestamp: '2026-10-05T10:03:00Z', name: 'Prompt Tokens', valueCount: 1, customDimensions: {} }),
      '',
      JSON.stringify({ timestamp: '2026-10-05T10:04:00Z', name: 'Prompt Tokens', valueSum: '7', valueCount: '1', customDimensions: '' }),
    ];
    const path = await fixture('usage.ndjson', lines.join('\n') + '\n');
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect(result.rejects.samples).toEqual([
      { location: 'usage.ndjson:3', reason: 'line is not JSON', raw: lines[2] },
      { location: 'usage.ndjson:4', reason: 'valueSum is missing', raw: lines[3] },
    ]);
    expect(result.inputs).toEqual([{ name: 'usage.ndjson', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), rows: 5 }]);
    expect([...result.rows]).toEqual([
      { day: '2026-10-05', userId: '', model: 'unknown', tier: 'unknown', tokens: { ...zeroTokens(), input: 7 }, requests: 1 },
      { day: '2026-10-05', userId: ALICE, model: 'claude-sonnet-4-5', tier: 'Claude.Standard', tokens: { ...zeroTokens(), input: 120, output: 30 }, requests: 2 },
    ]);
  });

  it('refuses a JSON array with a clear error', async () => {
    const path = await fixture('array.json', '[\n{"timestamp":"2026-10-05T10:00:00Z"}\n]\n');
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.message).toMatch(/JSON array/);
  });
});

describe('FileUsageSource inputs', () => {
  it('names every missing or unsupported file before reading any', async () => {
    const present = await fixture('present.ndjson', '');
    const missing = join(dir, 'nope.csv');
    const error = await readError(new FileUsageSource({ files: [present, missing, join(dir, 'usage.xlsx')] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.code).toBe('USAGE_INPUT_INVALID');
    expect(error.details).toHaveLength(2);
    expect(error.message).toContain(`${missing}: file not found`);
    expect(error.message).toContain('unsupported file type ".xlsx"');
  });

  it('loses no token: the rows hold exactly the valueSum of every mapped in-window sample, across files', async () => {
    // A deterministic pseudo-random export split over a CSV and an NDJSON file.
    let seed = 42;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const users = [ALICE, BOB, ''];
    const names = ['Prompt Tokens', 'Completion Tokens', 'Total Tokens', 'Other Metric'];
    const csv = ['timestamp [UTC],name,valueSum,valueCount,customDimensions'];
    const ndjson: string[] = [];
    let expectedInput = 0;
    let expectedOutput = 0;
    let expectedRequests = 0;
    for (let i = 0; i < 3000; i += 1) {
      // APIM writes one row per series per minute: every sample gets a minute of its own (7 is prime to 44,640).
      const at = new Date(Date.UTC(2026, 9, 1) + ((i * 7) % (31 * 1440)) * 60_000 + (next() % 60) * 1000);
      const name = names[next() % names.length]!;
      const valueSum = next() % 100_000;
      const valueCount = 1 + (next() % 5);
      const dimensions = { UserId: users[next() % users.length], Model: next() % 2 ? 'claude-sonnet-4-5' : 'claude-opus-4-1', Tier: 'Claude.Standard' };
      if (name === 'Prompt Tokens') {
        expectedInput += valueSum;
        expectedRequests += valueCount;
      }
      if (name === 'Completion Tokens') expectedOutput += valueSum;
      if (i % 2 === 0) csv.push([quoted(formatPortalTimestamp(at)), name, valueSum, valueCount, quoted(JSON.stringify(dimensions))].join(','));
      else ndjson.push(JSON.stringify({ timestamp: at.toISOString(), name, valueSum, valueCount, customDimensions: JSON.stringify(dimensions) }));
    }
    const files = [await fixture('bulk.csv', csv.join('\r\n')), await fixture('bulk.jsonl', ndjson.join('\n'))];
    const progress: string[] = [];
    const result = await new FileUsageSource({ files }).read(OCTOBER_UTC, { timeZone: 'Europe/Paris', onProgress: (m) => progress.push(m) });

    const totals = sumTokens([...result.rows].map((row) => row.tokens));
    expect(totals).toEqual({ ...zeroTokens(), input: expectedInput, output: expectedOutput });
    expect([...result.rows].reduce((sum, row) => sum + row.requests, 0)).toBe(expectedRequests);
    expect(result.rejects.count).toBe(0);
    expect(result.skipped['outside window'] ?? 0).toBe(0);
    expect(totalTokens(totals)).toBeGreaterThan(0);
    expect(result.sourceDescription).toBe('file export: bulk.csv, bulk.jsonl');
    expect(progress).toEqual([]);
  });

  it('reports progress on long files', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 250_001; i += 1) {
      const at = new Date(Date.UTC(2026, 9, 1) + Math.floor(i / 10) * 60_000).toISOString();
      lines.push(JSON.stringify({ timestamp: at, name: 'Prompt Tokens', valueSum: 1, valueCount: 1, customDimensions: { UserId: ALICE, Model: `m${i % 10}` } }));
    }
    const path = await fixture('long.ndjson', `${lines.join('\n')}\n`);
    const progress: string[] = [];
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC', onProgress: (m) => progress.push(m) });
    expect(progress).toEqual(['long.ndjson: 250,000 lines read']);
    expect(sumTokens([...result.rows].map((row) => row.tokens)).input).toBe(250_001);
    expect(result.duplicates?.count).toBe(0);
  });
});

describe('export text helpers', () => {
  it('splits RFC 4180 records', () => {
    expect(parseCsvRecord('a,,b')).toEqual(['a', '', 'b']);
    expect(parseCsvRecord('"x, ""y""",z,""')).toEqual(['x, "y"', 'z', '']);
    expect(parseCsvRecord('"open, still')).toBe(CSV_INCOMPLETE);
    expect(parseCsvRecord('"a\nb",c')).toEqual(['a\nb', 'c']);
  });

  it('parses ISO and portal times as UTC and refuses impossible ones', () => {
    expect(parseExportTimestamp('2026-10-25T01:30:00Z')).toBe(Date.UTC(2026, 9, 25, 1, 30));
    expect(parseExportTimestamp('2026-10-25 01:30:00.1234567')).toBe(Date.UTC(2026, 9, 25, 1, 30, 0, 123));
    expect(parseExportTimestamp('2026-10-25T03:30:00+02:00')).toBe(Date.UTC(2026, 9, 25, 1, 30));
    expect(parseExportTimestamp('10/25/2026, 1:30:00.000 AM')).toBe(Date.UTC(2026, 9, 25, 1, 30));
    expect(parseExportTimestamp('10/25/2026, 12:00:00 AM')).toBe(Date.UTC(2026, 9, 25, 0, 0));
    expect(parseExportTimestamp('10/25/2026, 12:00:00 PM')).toBe(Date.UTC(2026, 9, 25, 12, 0));
    expect(parseExportTimestamp('2/30/2026, 1:00:00 AM')).toBeNaN();
    expect(parseExportTimestamp('10/25/2026, 13:00:00 PM')).toBeNaN();
    expect(parseExportTimestamp('yesterday')).toBeNaN();
  });

  it('reads the export tools\' ISO form (T, Z, 0 to 9 fraction digits) exactly, and refuses every impossible field', () => {
    const VALID_TIMES = new Set(['00:00:00', '23:59:59', '07:05:09']);
    const fields = {
      year: ['0000', '0004', '0099', '0100', '1900', '2000', '2024', '2026', '9999'],
      month: ['00', '01', '02', '04', '12', '13'],
      day: ['00', '01', '28', '29', '30', '31', '32'],
      time: ['00:00:00', '23:59:59', '24:00:00', '12:60:00', '12:00:60', '07:05:09'],
      fraction: ['', '.5', '.95', '.950', '.9999', '.123456789'],
    };
    let checked = 0;
    for (const year of fields.year) {
      for (const month of fields.month) {
        for (const day of fields.day) {
          for (const time of fields.time) {
            for (const fraction of fields.fraction) {
              const text = `${year}-${month}-${day}T${time}${fraction}Z`;
              const parsed = parseExportTimestamp(text);
              // The same time written with a space and without a zone letter.
              expect(parsed, text).toBe(parseExportTimestamp(`${year}-${month}-${day} ${time}${fraction}`));
              // Date.parse reads a date that exists in every month the same way (years below 100 are 19xx here).
              const plainlyValid = Number(year) >= 100 && /^(0[1-9]|1[0-2])$/.test(month) && /^(0[1-9]|1\d|2[0-8])$/.test(day) && VALID_TIMES.has(time);
              if (plainlyValid) expect(parsed, text).toBe(Date.parse(`${year}-${month}-${day}T${time}${fraction.slice(0, 4)}Z`));
              else if (!/^(0[1-9]|1[0-2])$/.test(month) || !VALID_TIMES.has(time) || ['00', '32'].includes(day)) expect(parsed, text).toBeNaN();
              checked += 1;
            }
          }
        }
      }
    }
    expect(checked).toBe(9 * 6 * 7 * 6 * 6);
    expect(parseExportTimestamp('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseExportTimestamp('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
    expect(parseExportTimestamp('2026-12-31T23:59:59.999Z')).toBe(Date.UTC(2026, 11, 31, 23, 59, 59, 999));
    for (const impossible of ['2026-02-29', '1900-02-29', '2026-04-31', '2026-06-31']) expect(parseExportTimestamp(`${impossible}T00:00:00Z`), impossible).toBeNaN();
    expect(parseExportTimestamp('2026-10-25T01:30:00.1z')).toBe(Date.UTC(2026, 9, 25, 1, 30, 0, 100));
    expect(parseExportTimestamp(' 2026-10-25T01:30:00,25Z ')).toBe(Date.UTC(2026, 9, 25, 1, 30, 0, 250));
    expect(parseExportTimestamp('2026-10-25T01:30:00.Z')).toBeNaN();
    expect(parseExportTimestamp('2026-10-25T1:30:00Z')).toBeNaN();
    expect(parseExportTimestamp('+2026-10-25T01:30:00Z')).toBeNaN();
  });

  it('formats portal times that parse back to the same instant', () => {
    const instants = [Date.UTC(2026, 9, 25, 0, 0, 0, 5), Date.UTC(2026, 9, 25, 12, 59, 59, 999), Date.UTC(2026, 0, 1, 23, 1)];
    expect(formatPortalTimestamp(new Date(instants[0]!))).toBe('10/25/2026, 12:00:00.005 AM');
    for (const instant of instants) expect(parseExportTimestamp(formatPortalTimestamp(new Date(instant)))).toBe(instant);
  });
});

describe('FileUsageSource: strict counts, findable rejects and unkeyable dimensions', () => {
  const header = 'timestamp [UTC],name,valueSum,valueCount,customDimensions';
  const dims = (model = 'claude-sonnet-4-5'): string => quoted(JSON.stringify({ UserId: ALICE, Model: model, Tier: 'Claude.Standard' }));

  it('accepts decimal integers and the portal zero fraction; rejects every other number form with file:line and raw text', async () => {
    const forms = ['0x10', '0b11', '+7', '-7', '7.', '1.5e3', ' 7', '', '7.5', 'ten', '1,234'];
    const lines = [header, `2026-10-05T10:00:00Z,Prompt Tokens,1234.0,2,${dims()}`, `2026-10-05T10:01:00Z,Prompt Tokens,1000,1.00,${dims()}`];
    forms.forEach((form, index) => lines.push(`2026-10-05T11:${String(index).padStart(2, '0')}:00Z,Prompt Tokens,${form.includes(',') ? quoted(form) : form},1,${dims()}`));
    lines.push(`2026-10-05T12:00:00Z,Prompt Tokens,5,0x1,${dims()}`);
    const path = await fixture('numbers.csv', lines.join('\n'));
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });

    expect([...result.rows].map((row) => [row.tokens.input, row.requests])).toEqual([[2234, 3]]);
    expect(result.rejects.all).toEqual([
      { location: 'numbers.csv:4', reason: 'valueSum is hexadecimal', raw: '0x10' },
      { location: 'numbers.csv:5', reason: 'valueSum is binary', raw: '0b11' },
      { location: 'numbers.csv:6', reason: 'valueSum has a sign', raw: '+7' },
      { location: 'numbers.csv:7', reason: 'valueSum is negative', raw: '-7' },
      { location: 'numbers.csv:8', reason: 'valueSum ends in a decimal separator', raw: '7.' },
      { location: 'numbers.csv:9', reason: 'valueSum has an exponent', raw: '1.5e3' },
      { location: 'numbers.csv:10', reason: 'valueSum has spaces', raw: ' 7' },
      { location: 'numbers.csv:11', reason: 'valueSum is empty', raw: '' },
      { location: 'numbers.csv:12', reason: 'valueSum is not an integer', raw: '7.5' },
      { location: 'numbers.csv:13', reason: 'valueSum is not a decimal integer', raw: 'ten' },
      { location: 'numbers.csv:14', reason: 'valueSum has digit grouping', raw: '1,234' },
      { location: 'numbers.csv:15', reason: 'valueCount is hexadecimal', raw: '0x1' },
    ]);
  });

  it('numbers NDJSON rejects by line (blank lines counted) and keeps JSON numbers only when they are non-negative safe integers', async () => {
    const row = (minute: number, valueSum: unknown, valueCount: unknown = 1): string =>
      JSON.stringify({ timestamp: `2026-10-05T10:${String(minute).padStart(2, '0')}:00Z`, name: 'Prompt Tokens', valueSum, valueCount, customDimensions: { UserId: ALICE, Model: 'm', Tier: 't' } });
    const lines = [row(0, 100), '', row(1, 12.5), row(2, -7), row(3, 1e20), '   ', row(4, '0x10'), row(5, '+7'), row(6, true), row(7, '1234.0'), row(8, 5, 2.5), row(9, 9007199254740993)];
    const path = await fixture('numbers.ndjson', lines.join('\n'));
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });

    expect([...result.rows].map((r) => [r.tokens.input, r.requests])).toEqual([[1334, 2]]);
    expect(result.rejects.all).toEqual([
      { location: 'numbers.ndjson:3', reason: 'valueSum is not an integer', raw: '12.5' },
      { location: 'numbers.ndjson:4', reason: 'valueSum is negative', raw: '-7' },
      { location: 'numbers.ndjson:5', reason: 'valueSum is over 1e12 in one sample', raw: '100000000000000000000' },
      { location: 'numbers.ndjson:7', reason: 'valueSum is hexadecimal', raw: '0x10' },
      { location: 'numbers.ndjson:8', reason: 'valueSum has a sign', raw: '+7' },
      { location: 'numbers.ndjson:9', reason: 'valueSum is not a number', raw: 'true' },
      { location: 'numbers.ndjson:11', reason: 'valueCount is not an integer', raw: '2.5' },
      { location: 'numbers.ndjson:12', reason: 'valueSum is over 1e12 in one sample', raw: '9007199254740992' },
    ]);
    expect(result.inputs).toEqual([{ name: 'numbers.ndjson', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), rows: 10 }]);
  });

  it('rejects a 1,107-character Model and a control character as rows, and reads the rest', async () => {
    const longModel = 'claude-'.padEnd(1107, 'z');
    const path = await fixture(
      'dimensions.csv',
      [
        header,
        `2026-10-05T10:00:00Z,Prompt Tokens,10,1,${dims()}`,
        `2026-10-05T10:00:00Z,Prompt Tokens,20,1,${dims(longModel)}`,
        `2026-10-05T10:00:00Z,Prompt Tokens,30,1,${dims('claude\u0007bell')}`,
        `2026-10-05T10:01:00Z,Prompt Tokens,40,1,${dims()}`,
      ].join('\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect([...result.rows].map((row) => [row.model, row.tokens.input])).toEqual([['claude-sonnet-4-5', 50]]);
    expect(result.rejects.count).toBe(2);
    expect(result.rejects.all).toEqual([
      { location: 'dimensions.csv:3', reason: 'Model is longer than 100 bytes, more than a storage key can hold', raw: `${longModel.slice(0, 120)}… (1,107 characters)` },
      { location: 'dimensions.csv:4', reason: 'Model contains a control character', raw: 'claude\\u0007bell' },
    ]);
  });
});

describe('FileUsageSource: European exports', () => {
  const bag = (model: string): string => JSON.stringify({ UserId: ALICE, Model: model, Tier: 'Claude.Standard' });

  it("reads a ';'-separated file with day-first dates and decimal commas", async () => {
    const path = await fixture(
      'european.csv',
      [
        'timestamp [UTC];name;valueSum;valueCount;customDimensions',
        `25/10/2026 01:30:00;Prompt Tokens;1234,0;2;${quoted(bag('claude-sonnet-4-5'))}`,
        `03/10/2026 14:05:00;Prompt Tokens;100;1;${quoted(bag('claude-sonnet-4-5'))}`,
        `03/10/2026 14:05:00;Completion Tokens;7;1;${quoted(bag('claude-sonnet-4-5'))}`,
        `03/10/2026 14:06:00;Prompt Tokens;1.000;1;${quoted(bag('claude-sonnet-4-5'))}`,
      ].join('\r\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect([...result.rows].map((row) => [row.day, row.tokens.input, row.tokens.output])).toEqual([
      ['2026-10-03', 100, 7],
      ['2026-10-25', 1234, 0],
    ]);
    // '.' groups thousands where ',' is the decimal separator: refused, never read as 1.
    expect(result.rejects.all).toEqual([{ location: 'european.csv:5', reason: 'valueSum has digit grouping', raw: '1.000' }]);
  });

  it('refuses a comma file whose dates are day first, naming the line, instead of swapping days 1 to 12', async () => {
    const path = await fixture(
      'swapped.csv',
      [
        'timestamp [UTC],name,valueSum,valueCount,customDimensions',
        `"03/10/2026, 01:30:00",Prompt Tokens,100,1,${quoted(bag('m'))}`,
        `"10/10/2026, 01:30:00",Prompt Tokens,100,1,${quoted(bag('m'))}`,
        `"25/10/2026, 01:30:00",Prompt Tokens,100,1,${quoted(bag('m'))}`,
      ].join('\n'),
    );
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.code).toBe('USAGE_INPUT_INVALID');
    expect(error.message).toContain('swapped.csv: dates look like D/M/YYYY (line 4: "25/10/2026, 01:30:00")');
  });

  it("refuses a ';' file whose dates are month first", async () => {
    const path = await fixture('us-dates.csv', ['timestamp [UTC];name;valueSum;valueCount;customDimensions', `10/25/2026 01:30:00;Prompt Tokens;1;1;${quoted(bag('m'))}`].join('\n'));
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.message).toContain('us-dates.csv: dates look like M/D/YYYY (line 2: "10/25/2026 01:30:00")');
  });

  it('rejects a stray day-first date as one row when the rest of the file is month first', async () => {
    const path = await fixture(
      'one-bad-date.csv',
      [
        'timestamp [UTC],name,valueSum,valueCount,customDimensions',
        `"10/25/2026, 1:30:00.000 AM",Prompt Tokens,100,1,${quoted(bag('m'))}`,
        `"25/10/2026, 1:31:00.000 AM",Prompt Tokens,100,1,${quoted(bag('m'))}`,
      ].join('\n'),
    );
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect(result.rejects.all).toEqual([{ location: 'one-bad-date.csv:3', reason: 'timestamp is neither ISO 8601 nor M/D/YYYY, h:mm:ss AM', raw: '25/10/2026, 1:31:00.000 AM' }]);
    expect([...result.rows][0]!.tokens.input).toBe(100);
  });

  it('reads dotted dates day first', async () => {
    const path = await fixture('dotted.csv', ['timestamp [UTC],name,valueSum,valueCount,customDimensions', `03.10.2026 01:30:00,Prompt Tokens,5,1,${quoted(bag('m'))}`].join('\n'));
    const result = await new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect([...result.rows].map((row) => [row.day, row.tokens.input])).toEqual([['2026-10-03', 5]]);
  });

  it('names another delimiter instead of listing missing columns', async () => {
    const path = await fixture('tabs.csv', 'timestamp [UTC]\tname\tvalueSum\tvalueCount\tcustomDimensions\n');
    const error = await readError(new FileUsageSource({ files: [path] }).read(OCTOBER_UTC, { timeZone: 'UTC' }));
    expect(error.message).toContain('tabs.csv: this file uses a tab as its delimiter');
    expect(error.message).not.toMatch(/missing/);
  });
});

describe('FileUsageSource: the same data twice', () => {
  const header = 'timestamp [UTC],name,valueSum,valueCount,customDimensions';
  const bag = (userId: string): string => quoted(JSON.stringify({ UserId: userId, Model: 'claude-sonnet-4-5', Tier: 'Claude.Standard' }));
  const exportOf = (days: number[]): string => {
    const lines = [header];
    for (const day of days) {
      const at = `2026-10-${String(day).padStart(2, '0')}T09:00:00Z`;
      lines.push(`${at},Prompt Tokens,${day * 100},1,${bag(ALICE)}`, `${at},Completion Tokens,${day},1,${bag(ALICE)}`, `${at},Prompt Tokens,${day * 1000},2,${bag(BOB)}`);
    }
    return lines.join('\n');
  };
  const inputOf = (days: number[]) => days.reduce((sum, day) => sum + day * 100 + day * 1000, 0);

  it('sums a file copied under another name once, and names the copy with its sha256', async () => {
    const content = exportOf([1, 2, 3]);
    const a = await fixture('a.csv', content);
    const b = await fixture('b.csv', content);
    const result = await new FileUsageSource({ files: [a, b] }).read(OCTOBER_UTC, { timeZone: 'UTC' });

    expect(sumTokens([...result.rows].map((row) => row.tokens)).input).toBe(inputOf([1, 2, 3]));
    expect([...result.rows].reduce((sum, row) => sum + row.requests, 0)).toBe(9);
    const sha = result.inputs![0]!.sha256!;
    expect(result.inputs).toEqual([
      { name: 'a.csv', sha256: sha, rows: 9 },
      { name: 'b.csv', sha256: sha, rows: 9 },
    ]);
    expect(result.duplicates!.files).toEqual([`b.csv is the same file as a.csv (sha256 ${sha.slice(0, 16)}…)`]);
    expect(result.duplicates!.count).toBe(9);
    expect(result.duplicates!.samples[0]).toBe(`b.csv:2 repeats a.csv:2 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-01T09:00Z)`);
  });

  it('says so when one path is given twice', async () => {
    const a = await fixture('twice.csv', exportOf([4]));
    const result = await new FileUsageSource({ files: [a, a] }).read(OCTOBER_UTC, { timeZone: 'UTC' });
    expect(sumTokens([...result.rows].map((row) => row.tokens)).input).toBe(inputOf([4]));
    expect(result.duplicates!.files).toEqual([expect.stringMatching(/^twice\.csv was given twice \(sha256 [0-9a-f]{16}…\)$/)]);
  });

  it('sums an overlapping second export once, naming where each repeated sample was first read', async () => {
    const first = await fixture('oct-1-10.csv', exportOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    // Another export, as NDJSON, of days 8 to 15: days 8 to 10 are in both.
    const ndjson: string[] = [];
    for (let day = 8; day <= 15; day += 1) {
      const timestamp = `2026-10-${String(day).padStart(2, '0')}T09:00:00.000Z`;
      const customDimensions = (userId: string) => ({ UserId: userId, Model: 'claude-sonnet-4-5', Tier: 'Claude.Standard' });
      ndjson.push(JSON.stringify({ timestamp, name: 'Prompt Tokens', valueSum: day * 100, valueCount: 1, customDimensions: customDimensions(ALICE) }));
      ndjson.push(JSON.stringify({ timestamp, name: 'Completion Tokens', valueSum: day, valueCount: 1, customDimensions: customDimensions(ALICE) }));
      ndjson.push(JSON.stringify({ timestamp, name: 'Prompt Tokens', valueSum: day * 1000, valueCount: 2, customDimensions: customDimensions(BOB) }));
    }
    const second = await fixture('oct-8-15.ndjson', ndjson.join('\n'));
    const result = await new FileUsageSource({ files: [first, second] }).read(OCTOBER_UTC, { timeZone: 'UTC' });

    const days = Array.from({ length: 15 }, (_, i) => i + 1);
    expect(sumTokens([...result.rows].map((row) => row.tokens))).toEqual({ ...zeroTokens(), input: inputOf(days), output: days.reduce((a, b) => a + b, 0) });
    expect(result.duplicates!.count).toBe(9);
    expect(result.duplicates!.files).toEqual([]);
    expect(result.duplicates!.samples.slice(0, 3)).toEqual([
      `oct-8-15.ndjson:1 repeats oct-1-10.csv:23 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-08T09:00Z)`,
      `oct-8-15.ndjson:2 repeats oct-1-10.csv:24 (Completion Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-08T09:00Z)`,
      `oct-8-15.ndjson:3 repeats oct-1-10.csv:25 (Prompt Tokens, ${BOB}, claude-sonnet-4-5, Claude.Standard, 2026-10-08T09:00Z)`,
    ]);
  });
});
