import { describe, expect, it } from 'vitest';
import { buildDayTotalsQuery, type UsageQuerySettings, type UsageTableMode } from '../../shared/adapters/azure/kql.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { analyzeKql, APP_METRICS_COLUMNS, createKustoSchema, CUSTOM_METRICS_COLUMNS } from '../support/kusto.js';

const schema = createKustoSchema({ customMetrics: CUSTOM_METRICS_COLUMNS, AppMetrics: APP_METRICS_COLUMNS });

function settings(overrides: Partial<UsageQuerySettings> = {}): UsageQuerySettings {
  return { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode', timeZone: 'UTC', ...overrides };
}

describe('buildDayTotalsQuery against the Kusto language service', () => {
  const modes: UsageTableMode[] = ['classic', 'workspace'];
  const cases = modes.flatMap((mode) => ['UTC', 'Europe/Berlin'].flatMap((timeZone) => ['claudecode', null].map((metricNamespace) => ({ mode, timeZone, metricNamespace }))));

  it.each(cases)('$mode, $timeZone, namespace $metricNamespace: no diagnostics', (c) => {
    const query = buildDayTotalsQuery(settings(c), monthWindow('2026-10', c.timeZone));
    expect(analyzeKql(query, schema)).toEqual([]);
  });

  it('reports an unknown column, so the check above can fail', () => {
    const query = buildDayTotalsQuery(settings({ mode: 'workspace' }), monthWindow('2026-10', 'UTC')).replace('sum(ItemCount)', 'sum(ItemCounts)');
    expect(analyzeKql(query, schema).map((diagnostic) => diagnostic.text)).toContain('ItemCounts');
  });

  it('sums the metrics the usage query reads, in the namespace, per day in the zone and metric only', () => {
    const query = buildDayTotalsQuery(settings({ timeZone: 'Europe/Berlin' }), monthWindow('2026-10', 'Europe/Berlin'));
    expect(query.split('\n')).toEqual([
      'customMetrics',
      '| where timestamp >= datetime(2026-09-30T22:00:00.000Z) and timestamp < datetime(2026-10-31T23:00:00.000Z)',
      "| where name in (@'Completion Tokens', @'Prompt Tokens', @'Total Tokens')",
      "| where tostring(customDimensions[@'_MS.MetricNamespace']) == @'claudecode'",
      "| summarize ValueSum = sum(valueSum), ValueCount = sum(valueCount) by Day = format_datetime(startofday(datetime_utc_to_local(timestamp, @'Europe/Berlin')), 'yyyy-MM-dd'), MetricName = name",
    ]);
  });
});
