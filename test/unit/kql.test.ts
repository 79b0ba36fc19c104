import { describe, expect, it } from 'vitest';
import {
  buildUsageQuery,
  kqlString,
  queriedMetricNames,
  usageQuerySettingsProblems,
  type HashSplit,
  type UsageQuerySettings,
  type UsageTableMode,
} from '../../shared/adapters/azure/kql.js';
import { AppError } from '../../shared/domain/errors.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { dayWindow, type TimeWindow } from '../../shared/domain/periods.js';
import type { TokenKind } from '../../shared/domain/tokens.js';
import { analyzeKql, APP_METRICS_COLUMNS, createKustoSchema, CUSTOM_METRICS_COLUMNS } from '../support/kusto.js';

const schema = createKustoSchema({ customMetrics: CUSTOM_METRICS_COLUMNS, AppMetrics: APP_METRICS_COLUMNS });

const CACHE_METRICS: Record<string, TokenKind> = {
  'Cache Read Tokens': 'cacheRead',
  'Cache Creation Tokens': 'cacheWrite5m',
  'Cache Creation 1h Tokens': 'cacheWrite1h',
};

function settings(overrides: Partial<UsageQuerySettings> = {}): UsageQuerySettings {
  return { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode', timeZone: 'UTC', ...overrides };
}

const OCTOBER_3: TimeWindow = dayWindow('2026-10-03', 'UTC');

describe('buildUsageQuery against the Kusto language service', () => {
  const modes: UsageTableMode[] = ['classic', 'workspace'];
  const zones = ['UTC', 'Europe/Paris'];
  const tokenMaps: [string, Record<string, TokenKind>][] = [
    ['prompt and completion', { ...DEFAULT_METRIC_MAPPING.tokenKinds }],
    ['with cache metrics', { ...DEFAULT_METRIC_MAPPING.tokenKinds, ...CACHE_METRICS }],
  ];
  const namespaces = ['claudecode', null];
  const splits: (HashSplit | undefined)[] = [undefined, { buckets: 1, bucket: 0 }, { buckets: 8, bucket: 5 }];

  const cases = modes.flatMap((mode) =>
    zones.flatMap((timeZone) =>
      tokenMaps.flatMap(([kinds, tokenKinds]) =>
        namespaces.flatMap((metricNamespace) =>
          splits.map((split) => ({ mode, timeZone, kinds, tokenKinds, metricNamespace, split })),
        ),
      ),
    ),
  );

  it.each(cases)('$mode, $timeZone, $kinds, namespace $metricNamespace, split $split: no diagnostics', (c) => {
    const window = dayWindow('2026-10-25', c.timeZone); // the autumn DST change in Paris
    const query = buildUsageQuery(settings(c), window, c.split);
    expect(analyzeKql(query, schema)).toEqual([]);
  });

  it('also accepts a null total metric, a request counter outside the priced kinds and a custom namespace property', () => {
    const query = buildUsageQuery(
      settings({ totalTokensMetric: null, requestCountMetric: 'Requests', namespaceProperty: 'namespace', mode: 'workspace' }),
      OCTOBER_3,
    );
    expect(analyzeKql(query, schema)).toEqual([]);
  });

  it('reports an unknown column, so the check above can fail', () => {
    const query = buildUsageQuery(settings(), OCTOBER_3).replace('sum(valueSum)', 'sum(valueSums)');
    const diagnostics = analyzeKql(query, schema);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics[0]).toMatchObject({ severity: 'Error', text: 'valueSums' });
  });

  it('reports a workspace column used against the classic table', () => {
    const query = buildUsageQuery(settings({ mode: 'workspace' }), OCTOBER_3).replace('AppMetrics', 'customMetrics');
    expect(analyzeKql(query, schema).map((d) => d.text)).toContain('TimeGenerated');
  });
});

describe('buildUsageQuery shape', () => {
  it('filters the window with explicit datetimes, the metric names and the namespace, then sums on the server', () => {
    const query = buildUsageQuery(settings({ timeZone: 'Europe/Paris' }), dayWindow('2026-10-03', 'Europe/Paris'), { buckets: 4, bucket: 3 });
    expect(query).toBe(
      [
        'customMetrics',
        '| where timestamp >= datetime(2026-10-02T22:00:00.000Z) and timestamp < datetime(2026-10-03T22:00:00.000Z)',
        "| where name in (@'Completion Tokens', @'Prompt Tokens', @'Total Tokens')",
        "| where tostring(customDimensions[@'_MS.MetricNamespace']) == @'claudecode'",
        "| extend UserId = tostring(customDimensions[@'UserId']), Model = tostring(customDimensions[@'Model']), Tier = tostring(customDimensions[@'Tier'])",
        '| where hash_xxhash64(UserId, 4) == 3',
        "| summarize ValueSum = sum(valueSum), ValueCount = sum(valueCount) by Day = format_datetime(startofday(datetime_utc_to_local(timestamp, @'Europe/Paris')), 'yyyy-MM-dd'), UserId, Model, Tier, MetricName = name",
      ].join('\n'),
    );
  });

  it('uses the AppMetrics columns in workspace mode and plain startofday in UTC', () => {
    const query = buildUsageQuery(settings({ mode: 'workspace', metricNamespace: null }), OCTOBER_3);
    expect(query).toContain('AppMetrics\n| where TimeGenerated >= datetime(2026-10-03T00:00:00.000Z) and TimeGenerated < datetime(2026-10-04T00:00:00.000Z)');
    expect(query).toContain("tostring(Properties[@'UserId'])");
    expect(query).toContain('sum(Sum), ValueCount = sum(ItemCount)');
    expect(query).toContain("format_datetime(startofday(TimeGenerated), 'yyyy-MM-dd')");
    expect(query).not.toContain('MetricNamespace');
    expect(query).not.toContain('hash');
  });

  it('escapes quotes in names as a verbatim literal, and the result still analyses cleanly', () => {
    const query = buildUsageQuery(
      settings({ tokenKinds: { "Prompt 'Tokens'": 'input', 'C:\\Completion': 'output' }, metricNamespace: "it's" }),
      OCTOBER_3,
    );
    expect(query).toContain("@'Prompt ''Tokens'''");
    expect(query).toContain("@'C:\\Completion'");
    expect(query).toContain("== @'it''s'");
    expect(analyzeKql(query, schema)).toEqual([]);
  });

  it('names every metric once, the request counter and total included', () => {
    expect(queriedMetricNames({ ...DEFAULT_METRIC_MAPPING, requestCountMetric: 'Total Tokens' })).toEqual([
      'Completion Tokens',
      'Prompt Tokens',
      'Total Tokens',
    ]);
  });
});

describe('buildUsageQuery refuses what it cannot quote safely', () => {
  function problemOf(run: () => unknown): AppError {
    try {
      run();
    } catch (error) {
      if (error instanceof AppError) return error;
      throw error;
    }
    throw new Error('expected an AppError');
  }

  it('refuses an injected dimension name', () => {
    const error = problemOf(() =>
      buildUsageQuery(settings({ dimensions: { userId: "UserId']) | take 1 //", model: 'Model', tier: 'Tier' } }), OCTOBER_3),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details.join(' ')).toContain('userId dimension');
  });

  it('refuses control characters in a metric name or namespace', () => {
    expect(usageQuerySettingsProblems(settings({ tokenKinds: { 'Prompt\nTokens': 'input' } }))).toHaveLength(1);
    expect(usageQuerySettingsProblems(settings({ metricNamespace: 'a\u0000b' }))).toHaveLength(1);
    expect(() => kqlString('line\rbreak')).toThrow(AppError);
  });

  it('refuses a time zone Intl does not know, and one with quote characters', () => {
    expect(problemOf(() => buildUsageQuery(settings({ timeZone: 'Mars/Olympus' }), OCTOBER_3)).code).toBe('CONFIG_INVALID');
    expect(problemOf(() => buildUsageQuery(settings({ timeZone: "UTC'" }), OCTOBER_3)).code).toBe('CONFIG_INVALID');
  });

  it('refuses an empty window and a bucket outside the split', () => {
    expect(problemOf(() => buildUsageQuery(settings(), { start: OCTOBER_3.end, end: OCTOBER_3.start })).code).toBe('INVALID_ARGUMENT');
    expect(problemOf(() => buildUsageQuery(settings(), OCTOBER_3, { buckets: 4, bucket: 4 })).code).toBe('INVALID_ARGUMENT');
    expect(problemOf(() => buildUsageQuery(settings(), OCTOBER_3, { buckets: 0, bucket: 0 })).code).toBe('INVALID_ARGUMENT');
  });
});
