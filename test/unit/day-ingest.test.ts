import { describe, expect, it } from 'vitest';
import {
  consecutiveRuns,
  daysToReingest,
  monthUsageFromSummaries,
  sourceDayFingerprint,
  summarizeIngestedDays,
  type DayIngestSummary,
} from '../../shared/domain/day-ingest.js';
import { nextDay } from '../../shared/domain/periods.js';
import { usageRowsOf, type UsageReadResult } from '../../shared/domain/usage.js';

const RUN = { id: 'run-1', at: new Date('2026-10-20T05:30:00Z') };
const NO_REJECTS = { count: 0, samples: [], byReason: {} };

/** A read of three days of one file: two rejects dated to the 18th, one line that could not be dated. */
function fileRead(): UsageReadResult {
  return {
    rows: usageRowsOf([]),
    rejects: {
      count: 3,
      samples: [
        { location: 'a.ndjson:1', reason: 'line is not JSON', raw: 'x' },
        { location: 'a.ndjson:7', reason: 'valueSum is negative', raw: '-1' },
        { location: 'a.ndjson:9', reason: 'valueSum is negative', raw: '-2' },
      ],
      byReason: { 'line is not JSON': 1, 'valueSum is negative': 2 },
    },
    skipped: { 'outside window': 40 },
    reportedTotalTokens: 900,
    sourceDescription: 'file export: a.ndjson',
    duplicates: { count: 1, samples: ['a.ndjson:12 repeats a.ndjson:11'], files: [] },
    inputs: [{ name: 'a.ndjson', sha256: 'ab'.repeat(32), rows: 120 }],
    days: new Map([
      ['2026-10-17', { rejects: NO_REJECTS, reportedTotalTokens: 400, duplicates: 1 }],
      [
        '2026-10-18',
        {
          rejects: {
            count: 2,
            samples: [
              { location: 'a.ndjson:7', reason: 'valueSum is negative', raw: '-1' },
              { location: 'a.ndjson:9', reason: 'valueSum is negative', raw: '-2' },
            ],
            byReason: { 'valueSum is negative': 2 },
          },
          reportedTotalTokens: 500,
          duplicates: 0,
        },
      ],
    ]),
    dayTotals: [
      { day: '2026-10-17', metric: 'Prompt Tokens', valueSum: 400, valueCount: 2 },
      { day: '2026-10-18', metric: 'Prompt Tokens', valueSum: 499, valueCount: 3 },
    ],
  };
}

const DAYS = ['2026-10-17', '2026-10-18', '2026-10-19'];
const ROWS = new Map([
  ['2026-10-17', 4],
  ['2026-10-18', 6],
]);

describe('summarizeIngestedDays', () => {
  it('puts dated figures on their days and keeps only the undated ones with the read', () => {
    const [d17, d18, d19] = summarizeIngestedDays(fileRead(), DAYS, ROWS, RUN);
    expect([d17!.rows, d18!.rows, d19!.rows]).toEqual([4, 6, 0]);
    expect([d17!.reportedTotalTokens, d18!.reportedTotalTokens, d19!.reportedTotalTokens]).toEqual([400, 500, null]);
    expect([d17!.duplicates, d18!.duplicates, d19!.duplicates]).toEqual([1, 0, 0]);
    expect(d18!.rejects.byReason).toEqual({ 'valueSum is negative': 2 });
    expect(d17!.read).toEqual({
      key: d19!.read.key,
      rejects: { count: 1, samples: [{ location: 'a.ndjson:1', reason: 'line is not JSON', raw: 'x' }], byReason: { 'line is not JSON': 1 } },
      reportedTotalTokens: null,
      duplicates: 0,
      duplicateFiles: [],
      skipped: { 'outside window': 40 },
      inputs: [{ name: 'a.ndjson', sha256: 'ab'.repeat(32), rows: 120 }],
    });
    // A day the source holds nothing for has the fingerprint of nothing, not "unknown".
    expect(d19!.sourceFingerprint).toBe(sourceDayFingerprint([]));
    expect(d17!.sourceFingerprint).not.toBe(d18!.sourceFingerprint);
  });

  it('gives a source without per-day figures the whole read on the day when it read one day, and to the read otherwise', () => {
    const { days: _days, dayTotals: _totals, ...undated } = fileRead();
    const [single] = summarizeIngestedDays(undated, ['2026-10-18'], ROWS, RUN);
    expect(single!.rejects.count).toBe(3);
    expect(single!.reportedTotalTokens).toBe(900);
    expect(single!.read.rejects.count).toBe(0);
    expect(single!.sourceFingerprint).toBeNull();

    const several = summarizeIngestedDays(undated, DAYS, ROWS, RUN);
    expect(several.map((summary) => summary.rejects.count)).toEqual([0, 0, 0]);
    expect(several[0]!.read).toMatchObject({ rejects: { count: 3 }, reportedTotalTokens: 900, duplicates: 1 });
  });
});

describe('monthUsageFromSummaries', () => {
  it('adds up the days and counts each read once, however many of its days the month holds', () => {
    const first = summarizeIngestedDays(fileRead(), DAYS, ROWS, RUN);
    // The same file read again later for the 19th alone (same inputs: the same read key): its window leaves
    // the rows of the 17th and 18th out unchecked, so only the line that cannot be dated is rejected again.
    const undatedOnly = { count: 1, samples: [{ location: 'a.ndjson:1', reason: 'line is not JSON', raw: 'x' }], byReason: { 'line is not JSON': 1 } };
    const again = summarizeIngestedDays({ ...fileRead(), rejects: undatedOnly, reportedTotalTokens: null, duplicates: { count: 0, samples: [], files: [] }, days: new Map() }, ['2026-10-19'], new Map(), { id: 'run-2', at: RUN.at });
    expect(again[0]!.read.key).toBe(first[0]!.read.key);
    const month = monthUsageFromSummaries([...again, first[1]!, first[0]!]);
    expect(month.rows).toBe(10);
    expect(month.rejects.count).toBe(3);
    expect(month.rejects.byReason).toEqual({ 'line is not JSON': 1, 'valueSum is negative': 2 });
    expect(month.reportedTotalTokens).toBe(900);
    expect(month.duplicates).toEqual({ count: 1, samples: [], files: [] });
    expect(month.skipped).toEqual({ 'outside window': 40 });
    expect(month.inputs).toEqual([{ name: 'a.ndjson', sha256: 'ab'.repeat(32), rows: 120 }]);
    expect(month.sourceDescription).toBe('daily rollups of 3 day(s) from file export: a.ndjson');
  });

  it('has no gateway total when no day and no read had one, and no duplicates when nothing repeated', () => {
    const read: UsageReadResult = { rows: usageRowsOf([]), rejects: NO_REJECTS, skipped: {}, reportedTotalTokens: null, sourceDescription: 'rows' };
    const month = monthUsageFromSummaries(summarizeIngestedDays(read, DAYS, ROWS, RUN));
    expect(month.reportedTotalTokens).toBeNull();
    expect(month).not.toHaveProperty('duplicates');
    expect(month.rejects.count).toBe(0);
  });
});

describe('daysToReingest', () => {
  const stored = (day: string, sourceFingerprint: string | null): [string, DayIngestSummary] => [day, { ...summarizeIngestedDays(fileRead(), [day], ROWS, RUN)[0]!, sourceFingerprint }];

  it('with source totals: the days without a summary and those whose totals differ', () => {
    const summaries = new Map([stored('2026-10-01', 'same'), stored('2026-10-02', 'old'), stored('2026-10-04', sourceDayFingerprint([]))]);
    const sourceFingerprints = new Map([
      ['2026-10-01', 'same'],
      ['2026-10-02', 'new'],
    ]);
    expect(daysToReingest({ days: ['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04'], summaries, sourceFingerprints, coveredThrough: null })).toEqual([
      { day: '2026-10-02', reason: 'changed' },
      { day: '2026-10-03', reason: 'missing' },
    ]);
  });

  it('without: the days without a summary and those after the catch-up mark', () => {
    const summaries = new Map([stored('2026-10-01', null), stored('2026-10-03', null), stored('2026-10-04', null)]);
    expect(daysToReingest({ days: ['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04'], summaries, sourceFingerprints: null, coveredThrough: '2026-10-03' })).toEqual([
      { day: '2026-10-02', reason: 'missing' },
      { day: '2026-10-04', reason: 'not covered' },
    ]);
  });
});

describe('consecutiveRuns', () => {
  it('reads each run of consecutive days once, across a month end', () => {
    expect(consecutiveRuns(['2026-10-31', '2026-10-02', '2026-11-01', '2026-10-03', '2026-10-05'], nextDay)).toEqual([
      { from: '2026-10-02', to: '2026-10-03' },
      { from: '2026-10-05', to: '2026-10-05' },
      { from: '2026-10-31', to: '2026-11-01' },
    ]);
  });
});
