import { describe, expect, it } from 'vitest';
import {
  DEFAULT_METRIC_MAPPING,
  MAX_TOKENS_PER_SAMPLE,
  UsageAggregator,
  metricMappingProblems,
  type MetricMapping,
  type MetricSample,
} from '../../shared/domain/metric-mapping.js';
import { dayWindow, monthWindow } from '../../shared/domain/periods.js';
import { zeroTokens } from '../../shared/domain/tokens.js';

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

function aggregate(samples: MetricSample[], mapping: MetricMapping = DEFAULT_METRIC_MAPPING, window = OCTOBER_PARIS, zone = PARIS) {
  const aggregator = new UsageAggregator(mapping, window, zone);
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
    expect(result.rows.map((row) => [row.day, row.tokens.input, row.requests])).toEqual([
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
    expect(backward.rows).toEqual(forward.rows);
    expect(forward.rows.map((row) => [row.day, row.userId, row.model, row.tier, row.tokens.input, row.tokens.output])).toEqual([
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
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]!.requests).toBe(7);
    expect(result.rows[0]!.tokens).toEqual({ ...zeroTokens(), input: 1300, output: 300 });
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
    expect(result.rows.map((row) => row.userId)).toEqual([ALICE]);
    expect(result.rows[0]!.tokens).toEqual({ ...zeroTokens(), input: 1000, output: 250 });
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
    expect(result.rows.map((row) => row.tokens.input)).toEqual([3]);
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
    expect(result.rejects.samples[0]).toEqual({ location: 'a.csv:2', reason: 'valueSum is negative' });
    // A sample of exactly the maximum is plausible and kept.
    expect(result.rows.map((row) => row.tokens.input)).toEqual([MAX_TOKENS_PER_SAMPLE]);
    expect(result.reportedTotalTokens).toBeNull();
  });

  it('rejects a sample whose sum would leave the safe integer range instead of losing precision', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    const at = '2026-10-10T10:00:00Z';
    const perSample = MAX_TOKENS_PER_SAMPLE;
    const fits = Math.floor(Number.MAX_SAFE_INTEGER / perSample);
    for (let i = 0; i < fits + 1; i += 1) aggregator.add(sample({ at, valueSum: perSample, valueCount: 0 }), `big:${i}`);
    const result = aggregator.result('test');
    expect(result.rows[0]!.tokens.input).toBe(fits * perSample);
    expect(Number.isSafeInteger(result.rows[0]!.tokens.input)).toBe(true);
    expect(result.rejects.byReason).toEqual({ 'the row sum would exceed the safe integer range': 1 });
  });

  it('keeps a sample with no UserId under an empty user, and names a missing model or tier "unknown"', () => {
    const result = aggregate([
      sample({ at: '2026-10-10T10:00:00Z', userId: '', model: '', tier: '', valueSum: 11 }),
      sample({ at: '2026-10-10T11:00:00Z', userId: '  ', model: ' ', tier: '', valueSum: 4 }),
    ]);
    expect(result.rejects.count).toBe(0);
    expect(result.rows).toEqual([
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
    expect(result.rows[0]!.tokens).toEqual({ ...zeroTokens(), input: 10, cacheRead: 500 });
    expect(result.rows[0]!.requests).toBe(2);
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
  it('keeps rows apart whose dimensions only differ in where a NUL character falls', () => {
    const { rows } = aggregate([
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a\u0000b', model: 'm' }),
      sample({ at: '2026-10-05T10:00:00Z', userId: 'a', model: 'b\u0000m' }),
    ]);
    expect(rows.map((row) => [row.userId, row.model, row.tokens.input])).toEqual([
      ['a', 'b\u0000m', 100],
      ['a\u0000b', 'm', 100],
    ]);
  });

  it('ends the aggregation when its result is taken, so the rows handed over never change', () => {
    const aggregator = new UsageAggregator(DEFAULT_METRIC_MAPPING, OCTOBER_PARIS, PARIS);
    aggregator.add(sample({ at: '2026-10-05T10:00:00Z' }), 'test:1');
    const { rows } = aggregator.result('test');
    expect(() => aggregator.add(sample({ at: '2026-10-05T10:00:00Z' }), 'test:2')).toThrow(/after the aggregation result/);
    expect(rows[0]!.tokens.input).toBe(100);
  });
});
