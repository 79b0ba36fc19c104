import { describe, expect, it } from 'vitest';
import { UsageAggregator, type MetricMapping, type MetricSample } from '../../shared/domain/metric-mapping.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { usageRowsOf, type UsageRow } from '../../shared/domain/usage.js';
import { UsageSeriesSet } from '../../shared/domain/usage-series.js';

const MAPPING: MetricMapping = {
  tokenKinds: {
    'Prompt Tokens': 'input',
    'Completion Tokens': 'output',
    'Cache Read Tokens': 'cacheRead',
    'Cache Write 5m Tokens': 'cacheWrite5m',
    'Cache Write 1h Tokens': 'cacheWrite1h',
  },
  totalTokensMetric: null,
  requestCountMetric: 'Prompt Tokens',
  dimensions: { userId: 'UserId', model: 'Model', tier: 'Tier' },
};
const METRICS = Object.keys(MAPPING.tokenKinds);
// Upper case sorts before lower case in code unit order, and the empty UserId before every other.
const USERS = ['', 'alice', 'Bob', 'zed', 'Zoë', 'bob'];
const MODELS = ['claude-sonnet-4-5', 'Claude-opus', 'gpt-4o'];
const TIERS = ['Standard', 'premium'];

/** A small deterministic generator (xorshift32), so a failure repeats. */
function randomSource(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
}

function randomSamples(count: number, seed: number): MetricSample[] {
  const random = randomSource(seed);
  const start = Date.UTC(2026, 9, 1);
  return Array.from({ length: count }, () => ({
    timestamp: new Date(start + random(31 * 24 * 60) * 60_000),
    name: METRICS[random(METRICS.length)]!,
    valueSum: random(5) === 0 ? 0 : random(100_000),
    valueCount: 1 + random(3),
    userId: USERS[random(USERS.length)]!,
    model: MODELS[random(MODELS.length)]!,
    tier: TIERS[random(TIERS.length)]!,
  }));
}

/** The rows as the aggregator made them before it kept series: one object per row, sorted in code unit order. */
function referenceRows(samples: readonly MetricSample[]): UsageRow[] {
  const byKey = new Map<string, { day: string; userId: string; model: string; tier: string; tokens: Record<string, number>; requests: number }>();
  for (const sample of samples) {
    const day = sample.timestamp.toISOString().slice(0, 10);
    const key = JSON.stringify([day, sample.userId, sample.model, sample.tier]);
    let row = byKey.get(key);
    if (!row) {
      row = { day, userId: sample.userId, model: sample.model, tier: sample.tier, tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, requests: 0 };
      byKey.set(key, row);
    }
    const kind = MAPPING.tokenKinds[sample.name]!;
    row.tokens[kind] = row.tokens[kind]! + (sample.valueSum as number);
    if (sample.name === MAPPING.requestCountMetric) row.requests += sample.valueCount as number;
  }
  const before = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return ([...byKey.values()] as unknown as UsageRow[]).sort(
    (a, b) => before(a.day, b.day) || before(a.userId, b.userId) || before(a.model, b.model) || before(a.tier, b.tier),
  );
}

function read(samples: readonly MetricSample[]) {
  const aggregator = new UsageAggregator(MAPPING, monthWindow('2026-10', 'UTC'), 'UTC');
  samples.forEach((sample, index) => aggregator.add(sample, `test:${index + 1}`));
  return aggregator.result('random samples');
}

describe('UsageRows of an aggregated read', () => {
  const samples = randomSamples(5_000, 0x5eed);
  const expected = referenceRows(samples);

  it('yields the rows day by day, then by user, model and tier, with the sums of a row per object', () => {
    const { rows } = read(samples);
    // Every user, model and tier on most days: the rows are far fewer than the samples, and many.
    expect(expected.length).toBeGreaterThan(500);
    expect(expected.length).toBeLessThan(samples.length);
    expect(rows.count).toBe(expected.length);
    expect([...rows]).toEqual(expected);
    expect(rows.users()).toEqual([...new Set(expected.map((row) => row.userId))].filter((userId) => userId !== '').sort());
  });

  it('gives the same rows when iterated twice, each a fresh object', () => {
    const { rows } = read(samples);
    const first = [...rows];
    (first[0]!.tokens as { input: number }).input = -1;
    const second = [...rows];
    expect(second).toEqual(expected);
    expect(second[0]).not.toBe(first[0]);
  });

  it('gives the same rows whatever order the samples came in', () => {
    const reversed = read([...samples].reverse());
    expect([...reversed.rows]).toEqual(expected);
  });

  it('drains every row once and cannot be read afterwards', () => {
    const { rows } = read(samples);
    const drained = [...rows.drain()];
    const key = (row: UsageRow) => JSON.stringify([row.day, row.userId, row.model, row.tier]);
    expect(drained.map(key).sort()).toEqual(expected.map(key).sort());
    expect(new Map(drained.map((row) => [key(row), row]))).toEqual(new Map(expected.map((row) => [key(row), row])));
    expect(() => [...rows]).toThrow(/after they were drained/);
    expect(() => rows.drain()).toThrow(/after they were drained/);
    expect(() => rows.users()).toThrow(/after they were drained/);
  });

  it('is empty for a read with no usage', () => {
    const { rows } = read([]);
    expect(rows.count).toBe(0);
    expect([...rows]).toEqual([]);
  });
});

describe('usageRowsOf', () => {
  it('hands out an array as it is, as often as asked', () => {
    const list = referenceRows(randomSamples(50, 7));
    const rows = usageRowsOf(list);
    expect(rows.count).toBe(list.length);
    expect([...rows]).toEqual(list);
    expect([...rows]).toEqual(list);
    expect(rows.users()).toEqual([...new Set(list.map((row) => row.userId))].filter((userId) => userId !== '').sort());
    expect([...rows.drain()]).toEqual(list);
  });
});

describe('UsageSeriesSet', () => {
  it('sums a day added twice and keeps a series in day order when its days come out of order', () => {
    const usage = new UsageSeriesSet();
    const tokens = (input: number) => ({ input, output: 2 * input, cacheRead: 3, cacheWrite5m: 4, cacheWrite1h: 5 });
    usage.add('u', 'm', 't', '2026-10-03', tokens(10), 1);
    usage.add('u', 'm', 't', '2026-10-01', tokens(20), 2);
    usage.add('v', 'm', 't', '2026-10-02', tokens(30), 3);
    usage.add('u', 'm', 't', '2026-10-02', tokens(40), 4);
    usage.add('u', 'm', 't', '2026-10-01', tokens(50), 5);
    expect(usage.count).toBe(4);
    expect(usage.users()).toEqual(['u', 'v']);
    const rows = usage.rows();
    expect([...rows].map((row) => [row.day, row.userId, row.tokens.input, row.tokens.output, row.tokens.cacheRead, row.requests])).toEqual([
      ['2026-10-01', 'u', 70, 140, 6, 7],
      ['2026-10-02', 'u', 40, 80, 3, 4],
      ['2026-10-02', 'v', 30, 60, 3, 3],
      ['2026-10-03', 'u', 10, 20, 3, 1],
    ]);
    expect([...rows.drain()].map((row) => [row.userId, row.day])).toEqual([
      ['u', '2026-10-01'],
      ['u', '2026-10-02'],
      ['u', '2026-10-03'],
      ['v', '2026-10-02'],
    ]);
    expect(() => usage.add('u', 'm', 't', '2026-10-04', tokens(1), 1)).toThrow(/after its rows were taken/);
  });
});
