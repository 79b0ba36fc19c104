import { describe, expect, it } from 'vitest';
import { buildAccessCheckQuery, buildContractCheckQuery, buildDimensionDiscoveryQuery, buildMetricNamesQuery, type UsageTableMode } from '../../shared/adapters/azure/kql.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { assessSeries } from '../../shared/domain/metric-series.js';
import type { TimeWindow } from '../../shared/domain/periods.js';
import { analyzeKql, APP_METRICS_COLUMNS, createKustoSchema, CUSTOM_METRICS_COLUMNS } from '../support/kusto.js';

const schema = createKustoSchema({ customMetrics: CUSTOM_METRICS_COLUMNS, AppMetrics: APP_METRICS_COLUMNS });
const LAST_DAY: TimeWindow = { start: new Date('2026-10-19T08:00:00Z'), end: new Date('2026-10-20T08:00:00Z') };
const modes: UsageTableMode[] = ['classic', 'workspace'];

describe('doctor queries against the Kusto language service', () => {
  it.each(modes)('%s: the access check, metric names and dimension queries have no diagnostics', (mode) => {
    const cacheKinds = { ...DEFAULT_METRIC_MAPPING.tokenKinds, 'Cache Read Tokens': 'cacheRead' as const };
    const queries = [
      buildAccessCheckQuery(mode, LAST_DAY),
      buildMetricNamesQuery({ mode }, LAST_DAY),
      buildMetricNamesQuery({ mode, namespaceProperty: 'namespace' }, LAST_DAY),
      buildDimensionDiscoveryQuery({ ...DEFAULT_METRIC_MAPPING, mode, metricNamespace: 'claudecode' }, LAST_DAY),
      buildDimensionDiscoveryQuery({ ...DEFAULT_METRIC_MAPPING, tokenKinds: cacheKinds, mode, metricNamespace: null }, LAST_DAY),
      buildContractCheckQuery({ ...DEFAULT_METRIC_MAPPING, mode, metricNamespace: 'claudecode' }, LAST_DAY, new Date('2026-10-20T07:00:00Z')),
      buildContractCheckQuery({ ...DEFAULT_METRIC_MAPPING, tokenKinds: cacheKinds, mode, metricNamespace: null }, LAST_DAY, new Date('2026-10-20T07:00:00Z')),
    ];
    for (const query of queries) expect(analyzeKql(query, schema), query).toEqual([]);
  });

  it('lists names unfiltered but counts dimensions only over the usage metrics of the namespace, in the window', () => {
    const names = buildMetricNamesQuery({ mode: 'classic' }, LAST_DAY);
    expect(names).not.toContain('| where name in');
    expect(names).toContain("by MetricName = name, Namespace = tostring(customDimensions[@'_MS.MetricNamespace'])");
    const dims = buildDimensionDiscoveryQuery({ ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode' }, LAST_DAY);
    expect(dims).toContain('timestamp >= datetime(2026-10-19T08:00:00.000Z) and timestamp < datetime(2026-10-20T08:00:00.000Z)');
    expect(dims).toContain("| where name in (@'Completion Tokens', @'Prompt Tokens', @'Total Tokens')");
    expect(dims).toContain("== @'claudecode'");
    expect(dims).toContain('| summarize by UserId = ');
  });

  it('a misspelt column is caught, so the check can fail', () => {
    const query = buildDimensionDiscoveryQuery({ ...DEFAULT_METRIC_MAPPING, mode: 'workspace', metricNamespace: null }, LAST_DAY).replace('Properties', 'Propertiez');
    expect(analyzeKql(query, schema).length).toBeGreaterThan(0);
  });

  it('refuses an empty window', () => {
    expect(() => buildAccessCheckQuery('classic', { start: LAST_DAY.end, end: LAST_DAY.start })).toThrow(/empty/);
  });
});

describe('assessSeries', () => {
  it('is ok below 70% of the 50,000 limit, warns from 70% and reports over the limit', () => {
    expect(assessSeries({ users: 1000, models: 4, tiers: 2, combinations: 2100 })).toMatchObject({ level: 'ok', product: 8000 });
    expect(assessSeries({ users: 8750, models: 2, tiers: 2, combinations: 9000 })).toMatchObject({ level: 'warning', product: 35000 });
    expect(assessSeries({ users: 12500, models: 2, tiers: 2, combinations: 13000 })).toMatchObject({ level: 'over', product: 50000 });
  });
});

describe('the gateway contract check query', () => {
  it('counts per metric of the namespace the recent samples and the samples carrying each configured dimension', () => {
    const query = buildContractCheckQuery(
      { ...DEFAULT_METRIC_MAPPING, dimensions: { userId: 'Caller', model: 'Model', tier: 'Tier' }, mode: 'classic', metricNamespace: 'claudecode' },
      LAST_DAY,
      new Date('2026-10-20T07:00:00Z'),
    );
    expect(query).not.toContain('| where name in');
    expect(query).toContain("== @'claudecode'");
    expect(query).toContain('RecentSamples = countif(timestamp >= datetime(2026-10-20T07:00:00.000Z))');
    expect(query).toContain("WithUserId = countif(isnotempty(tostring(customDimensions[@'Caller'])))");
    expect(query).toContain('Requests = sum(valueCount)');
    expect(query).toContain('by MetricName = name');
  });
});
