import { describe, expect, it } from 'vitest';
import { rollupRowKey } from '../../shared/adapters/azure/table-rollup-store.js';
import { dayLinePartitionKey } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { MAX_KEY_BYTES } from '../../shared/adapters/azure/table-keys.js';
import {
  DEFAULT_METRIC_MAPPING,
  MAX_DIMENSION_BYTES,
  MAX_TOKENS_PER_SAMPLE,
  RowLocation,
  SourceDayTotalsCollector,
  UsageAggregator,
  metricMappingProblems,
  readCount,
  type MetricMapping,
  type MetricSample,
} from '../../shared/domain/metric-mapping.js';
import { dayWindow, monthWindow } from '../../shared/domain/periods.js';
import { SeenSamplePairs } from '../../shared/domain/sample-repeats.js';
import { zeroTokens } from '../../shared/domain/tokens.js';
import { MAX_REJECT_SAMPLES } from '../../shared/domain/usage.js';

const PARIS = 'Europe/Paris';
const OCTOBER_PARIS = monthWindow('2026-10', PARIS);
const ALICE = '11111111-1111-1111-1111-111111111111';
const BOB = '22222222-2222-2222-2222-222222222222';

function sample(overrides: Partial<MetricSample> & { at: string }): MetricSample {
  const { at, ...rest } = overrides;
  return {
    timestamp: new Date(at),
    name: 'Prompt Tokens',
    valueSum: 100,
    valueCount: 1,
    userId: ALICE,
    model: 'claude-sonnet-4-5',
    tier: 'Claude.Standard',
    ...rest,
  };
}

function aggregate(samples: MetricSample[], mapping: MetricMapping = DEFAULT_METRIC_MAPPING, window = OCTOBER_PARIS, zone = PARIS, detectRepeats = false) {
  const aggregator = new UsageAggregator(mapping, window, zone, { detectRepeats });
  samples.forEach((s, index) => aggregator.add(s, `test:${index + 1}`));
  return aggregator.result('test samples');
}

describe('UsageAggregator', () => {
  it('cuts days at midnight in the reporting zone, not at UTC midnight', () => {
    // Paris is UTC+2 in summer time: 21:59Z is 23:59 on the 5th, 22:00Z is midnight of the 6th.
    const result = aggregate([
      sample({ at: '2026-10-05T21:59:00Z', valueSum: 10 }),
      sample({ at: '2026-10-05T22:00:00Z', valueSum: 20 }),
      sample({ at: '2026-10-06T08:00:00Z', valueSum: 30 }),
    ]);
    expect([...result.rows].map((row) => [row.day, row.tokens.input, row.requests])).toEqual([
      ['2026-10-05', 10, 1],
      ['2026-10-06', 50, 2],
    ]);
  });

  it('sums per day x user x model x tier and sorts the rows deterministically', () => {
    const samples = [
      sample({ at: '2026-10-07T10:00:00Z', userId: BOB, valueSum: 5 }),
      sample({ at: '2026-10-07T10:00:00Z', userId: ALICE, tier: 'Claude.Premium', valueSum: 7 }),
      sample({ at: '2026-10-07T11:00:00Z', userId: ALICE, valueSum: 3 }),
      sample({ at: '2026-10-07T11:00:00Z', userId: ALICE, name: 'Completion Tokens', valueSum: 40 }),
      sample({ at: '2026-10-03T11:00:00Z', userId: BOB, model: 'claude-opus-4-1', valueSum: 9 }),
    ];
    const forward = aggregate(samples);
    const backward = aggregate([...samples].reverse());
    expect([...backward.rows]).toEqual([...forward.rows]);
    expect([...forward.rows].map((row) => [row.day, row.userId, row.model, row.tier, row.tokens.input, row.tokens.output])).toEqual([
      ['2026-10-03', BOB, 'claude-opus-4-1', 'Claude.Standard', 9, 0],
      ['2026-10-07', ALICE, 'claude-sonnet-4-5', 'Claude.Premium', 7, 0],
      ['2026-10-07', ALICE, 'claude-sonnet-4-5', 'Claude.Standard', 3, 40],
      ['2026-10-07', BOB, 'claude-sonnet-4-5', 'Claude.Standard', 5, 0],
    ]);
  });

  it('counts requests from the valueCount of the request metric only', () => {
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', name: 'Prompt Tokens', valueSum: 1200, valueCount: 4 }),
      sample({ at: '2026-10-10T10:00:00Z', name: 'Completion Tokens', valueSum: 300, valueCount: 4 }),
      sample({ at: '2026-10-10T10:00:00Z', name: 'Total Tokens', valueSum: 1500, valueCount: 4 }),
      sample({ at: '2026-10-10T10:01:00Z', name: 'Prompt Tokens', valueSum: 100, valueCount: 3 }),
    ]);
    expect([...result.rows]).toHaveLength(1);
    expect([...result.rows][0]!.requests).toBe(7);
    expect([...result.rows][0]!.tokens).toEqual({ ...zeroTokens(), input: 1300, output: 300 });
  });

  it('keeps Total Tokens apart as a cross-check and never prices it', () => {
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', name: 'Prompt Tokens', valueSum: 1000 }),
      sample({ at: '2026-10-10T10:00:00Z', name: 'Completion Tokens', valueSum: 250 }),
      sample({ at: '2026-10-10T10:00:00Z', name: 'Total Tokens', valueSum: 1250 }),
      sample({ at: '2026-10-11T10:00:00Z', userId: BOB, name: 'Total Tokens', valueSum: 77 }),
    ]);
    expect(result.reportedTotalTokens).toBe(1327);
    // BOB only reported a total: no priced row appears for him.
    expect([...result.rows].map((row) => row.userId)).toEqual([ALICE]);
    expect([...result.rows][0]!.tokens).toEqual({ ...zeroTokens(), input: 1000, output: 250 });
  });

  it('reports no total when the source emitted none', () => {
    expect(aggregate([sample({ at: '2026-10-10T10:00:00Z' })]).reportedTotalTokens).toBeNull();
  });

  it('skips samples outside the half-open window and unmapped metrics, counting each by reason', () => {
    const window = dayWindow('2026-10-10', 'UTC');
    const result = aggregate(
      [
        sample({ at: '2026-10-09T23:59:59.999Z' }),
        sample({ at: '2026-10-10T00:00:00Z', valueSum: 1 }),
        sample({ at: '2026-10-10T23:59:59.999Z', valueSum: 2 }),
        sample({ at: '2026-10-11T00:00:00Z' }),
        sample({ at: '2026-10-10T12:00:00Z', name: 'Reasoning Tokens' }),
        sample({ at: '2026-10-10T12:00:00Z', name: 'Reasoning Tokens' }),
        sample({ at: '2026-10-10T12:00:00Z', name: 'constructor' }),
      ],
      DEFAULT_METRIC_MAPPING,
      window,
      'UTC',
    );
    expect(result.skipped).toEqual({
      'outside window': 2,
      'metric not used: Reasoning Tokens': 2,
      'metric not used: constructor': 1,
    });
    expect([...result.rows].map((row) => row.tokens.input)).toEqual([3]);
    expect(result.rejects.count).toBe(0);
  });

  it('rejects impossible values with a reason and a location, and counts them by reason', () => {
    const at = '2026-10-10T10:00:00Z';
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    aggregator.add(sample({ at, valueSum: -5 }), 'a.csv:2');
    aggregator.add(sample({ at, valueSum: Number.NaN }), 'a.csv:3');
    aggregator.add(sample({ at, valueSum: Number.POSITIVE_INFINITY }), 'a.csv:4');
    aggregator.add(sample({ at, valueSum: 12.5 }), 'a.csv:5');
    aggregator.add(sample({ at, valueSum: MAX_TOKENS_PER_SAMPLE + 1 }), 'a.csv:6');
    aggregator.add(sample({ at, valueCount: -1 }), 'a.csv:7');
    aggregator.add(sample({ at, valueCount: 1.5 }), 'a.csv:8');
    aggregator.add(sample({ at, name: 'Total Tokens', valueSum: -1 }), 'a.csv:9');
    aggregator.add(sample({ at: 'not a date' }), 'a.csv:10');
    aggregator.reject('a.csv:11', 'wrong number of fields');
    aggregator.add(sample({ at, valueSum: MAX_TOKENS_PER_SAMPLE }), 'a.csv:12');
    const result = aggregator.result('test');

    expect(result.rejects.count).toBe(10);
    expect(result.rejects.byReason).toEqual({
      'valueSum is negative': 2,
      'valueSum is not a finite number': 2,
      'valueSum is not an integer': 1,
      'valueSum is over 1e12 in one sample': 1,
      'valueCount is negative': 1,
      'valueCount is not an integer': 1,
      'timestamp is not a valid date': 1,
      'wrong number of fields': 1,
    });
    expect(result.rejects.samples[0]).toEqual({ location: 'a.csv:2', reason: 'valueSum is negative', raw: '-5' });
    expect(result.rejects.all?.map((reject) => reject.raw)).toEqual(['-5', 'NaN', 'Infinity', '12.5', '1000000000001', '-1', '1.5', '-1', undefined, undefined]);
    // A sample of exactly the maximum is plausible and kept.
    expect([...result.rows].map((row) => row.tokens.input)).toEqual([MAX_TOKENS_PER_SAMPLE]);
    expect(result.reportedTotalTokens).toBeNull();
  });

  it('rejects a sample whose sum would leave the safe integer range instead of losing precision', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    const at = '2026-10-10T10:00:00Z';
    const perSample = MAX_TOKENS_PER_SAMPLE;
    const fits = Math.floor(Number.MAX_SAFE_INTEGER / perSample);
    for (let i = 0; i < fits + 1; i += 1) aggregator.add(sample({ at, valueSum: perSample, valueCount: 0 }), `big:${i}`);
    const result = aggregator.result('test');
    expect([...result.rows][0]!.tokens.input).toBe(fits * perSample);
    expect(Number.isSafeInteger([...result.rows][0]!.tokens.input)).toBe(true);
    expect(result.rejects.byReason).toEqual({ 'the total of everything read would exceed the safe integer range': 1 });
  });

  it('keeps a sample with no UserId under an empty user, and names a missing model or tier "unknown"', () => {
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', userId: '', model: '', tier: '', valueSum: 11 }),
      sample({ at: '2026-10-10T11:00:00Z', userId: '  ', model: ' ', tier: '', valueSum: 4 }),
    ]);
    expect(result.rejects.count).toBe(0);
    expect([...result.rows]).toEqual([
      { day: '2026-10-10', userId: '', model: 'unknown', tier: 'unknown', tokens: { ...zeroTokens(), input: 15 }, requests: 2 },
    ]);
  });

  it('follows a custom mapping: cache metrics become their token kinds and another metric counts requests', () => {
    const mapping: MetricMapping = {
      tokenKinds: { 'Input Tokens': 'input', 'Output Tokens': 'output', 'Cache Read Tokens': 'cacheRead' },
      totalTokensMetric: null,
      requestCountMetric: 'Requests',
      dimensions: { userId: 'oid', model: 'model', tier: 'role' },
    };
    const result = aggregate(
      [
        sample({ at: '2026-10-10T10:00:00Z', name: 'Input Tokens', valueSum: 10, valueCount: 9 }),
        sample({ at: '2026-10-10T10:00:00Z', name: 'Cache Read Tokens', valueSum: 500, valueCount: 9 }),
        sample({ at: '2026-10-10T10:00:00Z', name: 'Requests', valueSum: 2, valueCount: 2 }),
        sample({ at: '2026-10-10T10:00:00Z', name: 'Total Tokens', valueSum: 999 }),
      ],
      mapping,
    );
    expect([...result.rows][0]!.tokens).toEqual({ ...zeroTokens(), input: 10, cacheRead: 500 });
    expect([...result.rows][0]!.requests).toBe(2);
    expect(result.reportedTotalTokens).toBeNull();
    expect(result.skipped).toEqual({ 'metric not used: Total Tokens': 1 });
  });

  it('accepts the default mapping and names the problems of a broken one', () => {
    expect(metricMappingProblems(DEFAULT_METRIC_MAPPING)).toEqual([]);
    const broken = {
      tokenKinds: { 'Total Tokens': 'input', Odd: 'reasoning' },
      totalTokensMetric: 'Total Tokens',
      requestCountMetric: '',
      dimensions: { userId: 'UserId', model: '', tier: 'Tier' },
    } as unknown as MetricMapping;
    const problems = metricMappingProblems(broken);
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/"Odd" maps to "reasoning"/);
    expect(problems.join('\n')).toMatch(/counted twice/);
  });
});

describe('UsageAggregator keys and hand-over', () => {
  it('rejects a NUL (or any control character) in a dimension rather than keying it', () => {
    const result = aggregate([
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a\u0000b', model: 'm' }),
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a', model: 'b\u0000m' }),
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a', model: 'm', tier: 'Claude.\u0085Standard' }),
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a', model: 'm' }),
    ]);
    expect([...result.rows].map((row) => [row.userId, row.model, row.tokens.input])).toEqual([['a', 'm', 100]]);
    expect(result.rejects.all).toEqual([
      { location: 'test:1', reason: 'UserId contains a control character', raw: 'a\\u0000b' },
      { location: 'test:2', reason: 'Model contains a control character', raw: 'b\\u0000m' },
      { location: 'test:3', reason: 'Tier contains a control character', raw: 'Claude.\u0085Standard' },
    ]);
  });

  it('ends the aggregation when its result is taken, so the rows handed over never change', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    aggregator.add(sample({ at: '2026-10-05T10:00:00Z' }), 'test:1');
    const { rows } = aggregator.result('test');
    expect(() => aggregator.add(sample({ at: '2026-10-05T10:00:00Z' }), 'test:2')).toThrow(/after the aggregation result/);
    expect([...rows][0]!.tokens.input).toBe(100);
  });
});

describe('strict counts', () => {
  it('reads unsigned decimal integers and the portal zero fraction, nothing else', () => {
    expect(readCount('0')).toBe(0);
    expect(readCount('1234')).toBe(1234);
    expect(readCount('1234.0')).toBe(1234);
    expect(readCount('1234.00')).toBe(1234);
    expect(readCount('007')).toBe(7);
    expect(readCount('1000000000000')).toBe(MAX_TOKENS_PER_SAMPLE);
    // In a ';'-separated export the comma is the decimal separator and '.' groups digits.
    expect(readCount('1234,0', ',')).toBe(1234);
    const refused: [string, string][] = [
      ['0x10', 'is hexadecimal'],
      ['0b11', 'is binary'],
      ['0o17', 'is octal'],
      ['+7', 'has a sign'],
      ['-7', 'is negative'],
      ['7.', 'ends in a decimal separator'],
      ['7.5', 'is not an integer'],
      ['1.5e3', 'has an exponent'],
      ['1e3', 'has an exponent'],
      [' 7', 'has spaces'],
      ['7 ', 'has spaces'],
      ['1 234', 'has spaces'],
      ['', 'is empty'],
      ['1,234', 'has digit grouping'],
      ['Infinity', 'is not a decimal integer'],
      ['NaN', 'is not a decimal integer'],
      ['١٢', 'is not a decimal integer'],
      ['1000000000001', 'is over 1e12 in one sample'],
      ['123456789012345678901234567890', 'is over 1e12 in one sample'],
    ];
    for (const [text, problem] of refused) expect(readCount(text), text).toEqual({ problem, raw: text });
    expect(readCount('1.000', ',')).toEqual({ problem: 'has digit grouping', raw: '1.000' });
    expect(readCount('1234.0', ',')).toEqual({ problem: 'is not a decimal integer', raw: '1234.0' });
  });

  it('rejects an unreadable count with its reason and raw text, after the window and metric checks', () => {
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', valueSum: readCount('0x10') }),
      sample({ at: '2026-10-10T10:01:00Z', valueCount: readCount('+1') }),
      // Outside the window or not a used metric: skipped as before, not rejected.
      sample({ at: '2026-09-10T10:00:00Z', valueSum: readCount('0x10') }),
      sample({ at: '2026-10-10T10:00:00Z', name: 'Other', valueSum: readCount('0x10') }),
      sample({ at: '2026-10-10T10:02:00Z', valueSum: readCount('1234.0') }),
    ]);
    expect(result.rejects.all).toEqual([
      { location: 'test:1', reason: 'valueSum is hexadecimal', raw: '0x10' },
      { location: 'test:2', reason: 'valueCount has a sign', raw: '+1' },
    ]);
    expect(result.skipped).toEqual({ 'outside window': 1, 'metric not used: Other': 1 });
    expect([...result.rows][0]!.tokens.input).toBe(1234);
  });

  it('keeps the sum of everything read a safe integer, so no total built from the rows can lose precision', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    const perSample = MAX_TOKENS_PER_SAMPLE;
    const fits = Math.floor(Number.MAX_SAFE_INTEGER / perSample);
    // Every sample on a row of its own (a user each): no row comes near the limit, only their total does.
    for (let i = 0; i < fits + 1; i += 1) aggregator.add(sample({ at: '2026-10-10T10:00:00Z', userId: `user-${i}`, valueSum: perSample, valueCount: 0 }), `big:${i}`);
    const result = aggregator.result('test');
    const total = [...result.rows].reduce((sum, row) => sum + row.tokens.input, 0);
    expect([...result.rows]).toHaveLength(fits);
    expect(total).toBe(fits * perSample);
    expect(total).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    expect(result.rejects.all).toEqual([{ location: `big:${fits}`, reason: 'the total of everything read would exceed the safe integer range', raw: String(perSample) }]);
  });

  it('keeps every reject up to the limit in `all`, and the first few as samples', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    for (let i = 0; i < MAX_REJECT_SAMPLES + 5; i += 1) aggregator.add(sample({ at: '2026-10-10T10:00:00Z', valueSum: readCount(`${i}x`) }), `a.csv:${i + 2}`);
    const { rejects } = aggregator.result('test');
    expect(rejects.count).toBe(MAX_REJECT_SAMPLES + 5);
    expect(rejects.samples).toHaveLength(MAX_REJECT_SAMPLES);
    expect(rejects.all).toHaveLength(MAX_REJECT_SAMPLES + 5);
    expect(rejects.all?.at(-1)).toEqual({ location: `a.csv:${MAX_REJECT_SAMPLES + 6}`, reason: 'valueSum is not a decimal integer', raw: `${MAX_REJECT_SAMPLES + 4}x` });
  });
});

describe('dimensions a store cannot key', () => {
  it('rejects a 1,107-character Model as a row, with its raw value cut short, and keeps the rest', () => {
    const longModel = 'claude-'.padEnd(1107, 'x');
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', valueSum: 10 }),
      sample({ at: '2026-10-10T10:00:00Z', model: longModel, valueSum: 1000 }),
      sample({ at: '2026-10-10T10:01:00Z', valueSum: 5 }),
    ]);
    expect([...result.rows].map((row) => [row.model, row.tokens.input])).toEqual([['claude-sonnet-4-5', 15]]);
    expect(result.rejects.count).toBe(1);
    expect(result.rejects.all).toEqual([
      { location: 'test:2', reason: `Model is longer than ${MAX_DIMENSION_BYTES} bytes, more than a storage key can hold`, raw: `${longModel.slice(0, 120)}… (1,107 characters)` },
    ]);
  });

  it('admits the longest value in any characters with its key under 1 KiB once escaped, and refuses one byte more', () => {
    // Escaping turns every byte outside A-Za-z0-9._- into three characters: these are the worst cases.
    const worst = [
      '~'.repeat(MAX_DIMENSION_BYTES),
      '€'.repeat(Math.floor(MAX_DIMENSION_BYTES / 3)),
      '😀'.repeat(MAX_DIMENSION_BYTES / 4),
      '\ud800'.repeat(Math.floor(MAX_DIMENSION_BYTES / 3)),
    ];
    for (const value of worst) {
      const key = rollupRowKey({ userId: value, model: value, tier: value });
      expect(key.length, value.slice(0, 4)).toBeLessThan(MAX_KEY_BYTES);
      expect(key.length + dayLinePartitionKey('2026-10-10', 'team').length).toBeGreaterThan(0);
      const result = aggregate([sample({ at: '2026-10-10T10:00:00Z', userId: value, model: value, tier: value })]);
      expect(result.rejects.count, value.slice(0, 4)).toBe(0);
    }
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', userId: '~'.repeat(MAX_DIMENSION_BYTES + 1) }),
      sample({ at: '2026-10-10T10:00:00Z', tier: `${'€'.repeat(Math.floor(MAX_DIMENSION_BYTES / 3))}ab` }),
    ]);
    expect(result.rejects.byReason).toEqual({
      [`UserId is longer than ${MAX_DIMENSION_BYTES} bytes, more than a storage key can hold`]: 1,
      [`Tier is longer than ${MAX_DIMENSION_BYTES} bytes, more than a storage key can hold`]: 1,
    });
  });
});

describe('repeated samples (overlapping exports)', () => {
  const at = '2026-10-10T10:00:00Z';

  it('does not sum the same series at the same minute twice, and names both locations', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS, { detectRepeats: true });
    aggregator.add(sample({ at, valueSum: 100, valueCount: 2 }), 'a.csv:2');
    aggregator.add(sample({ at, name: 'Total Tokens', valueSum: 100 }), 'a.csv:3');
    // Another minute, another metric, another user: different series or minutes, all summed.
    aggregator.add(sample({ at: '2026-10-10T10:01:00Z', valueSum: 7 }), 'a.csv:4');
    aggregator.add(sample({ at, name: 'Completion Tokens', valueSum: 40 }), 'a.csv:5');
    aggregator.add(sample({ at, userId: BOB, valueSum: 3 }), 'a.csv:6');
    // The overlap: the same minute again, even at another second and with other values.
    aggregator.add(sample({ at: '2026-10-10T10:00:42Z', valueSum: 100, valueCount: 2 }), 'b.csv:9');
    aggregator.add(sample({ at, name: 'Total Tokens', valueSum: 100 }), 'b.csv:10');
    aggregator.add(sample({ at, valueSum: 999 }), 'b.csv:11');
    const result = aggregator.result('test');

    const alice = [...result.rows].find((row) => row.userId === ALICE)!;
    expect(alice.tokens).toEqual({ ...zeroTokens(), input: 107, output: 40 });
    expect(alice.requests).toBe(3);
    expect(result.reportedTotalTokens).toBe(100);
    expect(result.duplicates).toEqual({
      count: 3,
      samples: [
        `b.csv:9 repeats a.csv:2 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-10T10:00Z)`,
        `b.csv:10 repeats a.csv:3 (Total Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-10T10:00Z)`,
        `b.csv:11 repeats a.csv:2 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-10T10:00Z)`,
      ],
      files: [],
    });
  });

  it('finds a repeat of a series whatever other series and rejected rows came between, at file and line locations', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS, { detectRepeats: true });
    const series = [
      { userId: ALICE, model: 'claude-sonnet-4-5', tier: 'Claude.Standard' },
      { userId: ALICE, model: 'claude-opus-4-1', tier: 'Claude.Standard' },
      { userId: BOB, model: 'claude-sonnet-4-5', tier: 'Claude.Premium' },
      { userId: ALICE, model: 'claude-sonnet-4-5', tier: 'Claude.Premium' },
    ];
    let line = 0;
    for (const file of ['a.ndjson', 'b.ndjson']) {
      for (const dimensions of series) {
        line += 1;
        aggregator.add(sample({ at, ...dimensions, valueSum: 10 }), new RowLocation(file, line));
        line += 1;
        aggregator.add(sample({ at, userId: `${dimensions.userId}\u0000`, valueSum: 1 }), new RowLocation(file, line));
      }
    }
    const result = aggregator.result('test');

    expect([...result.rows].map((row) => [row.userId, row.model, row.tier, row.tokens.input])).toEqual([
      [ALICE, 'claude-opus-4-1', 'Claude.Standard', 10],
      [ALICE, 'claude-sonnet-4-5', 'Claude.Premium', 10],
      [ALICE, 'claude-sonnet-4-5', 'Claude.Standard', 10],
      [BOB, 'claude-sonnet-4-5', 'Claude.Premium', 10],
    ]);
    expect(result.rejects.count).toBe(8);
    expect(result.rejects.samples[0]).toMatchObject({ location: 'a.ndjson:2', reason: 'UserId contains a control character' });
    expect(result.duplicates!.samples).toEqual([
      `b.ndjson:9 repeats a.ndjson:1 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Standard, 2026-10-10T10:00Z)`,
      `b.ndjson:11 repeats a.ndjson:3 (Prompt Tokens, ${ALICE}, claude-opus-4-1, Claude.Standard, 2026-10-10T10:00Z)`,
      `b.ndjson:13 repeats a.ndjson:5 (Prompt Tokens, ${BOB}, claude-sonnet-4-5, Claude.Premium, 2026-10-10T10:00Z)`,
      `b.ndjson:15 repeats a.ndjson:7 (Prompt Tokens, ${ALICE}, claude-sonnet-4-5, Claude.Premium, 2026-10-10T10:00Z)`,
    ]);
  });

  it('sums every sample when the source summarized on the server (no repeat check, no duplicates field)', () => {
    const result = aggregate([sample({ at, valueSum: 100 }), sample({ at, valueSum: 100 })]);
    expect([...result.rows][0]!.tokens.input).toBe(200);
    expect(result.duplicates).toBeUndefined();
  });

  it('finds every repeat among many pairs, and only those', () => {
    const seen = new SeenSamplePairs(16);
    const keys = Array.from({ length: 50_000 }, (_, i) => i * 7919 + (i % 13) * 2 ** 40);
    keys.forEach((key, index) => expect(seen.addOrFind(key, index)).toBe(-1));
    expect(seen.size).toBe(50_000);
    keys.forEach((key, index) => {
      if (index % 1000 === 0) expect(seen.addOrFind(key, 0)).toBe(index);
    });
    expect(seen.addOrFind(Number.MAX_SAFE_INTEGER - 1, 1)).toBe(-1);
    expect(seen.size).toBe(50_001);
    expect(() => seen.addOrFind(0.5, 1)).toThrow(/safe non-negative integer/);
  });
});

describe('SourceDayTotalsCollector', () => {
  it('sums per day and metric whatever order the days come in, and lists them by day then metric', () => {
    const totals = new SourceDayTotalsCollector();
    totals.add('2026-10-02', 'Prompt Tokens', 5, 1);
    totals.add('2026-10-01', 'Total Tokens', 7, 1);
    totals.add('2026-10-01', 'Prompt Tokens', 3, 1);
    totals.add('2026-10-02', 'Prompt Tokens', 10, 2);
    totals.add('2026-10-01', 'Prompt Tokens', 'x', 1);
    totals.add('2026-10-02', 'Completion Tokens', Number.NaN, 'y');
    expect(totals.result()).toEqual([
      { day: '2026-10-01', metric: 'Prompt Tokens', valueSum: 3, valueCount: 2 },
      { day: '2026-10-01', metric: 'Total Tokens', valueSum: 7, valueCount: 1 },
      { day: '2026-10-02', metric: 'Completion Tokens', valueSum: 0, valueCount: 0 },
      { day: '2026-10-02', metric: 'Prompt Tokens', valueSum: 15, valueCount: 3 },
    ]);
  });
});
