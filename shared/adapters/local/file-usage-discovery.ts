import type { MetricMapping } from '../../domain/metric-mapping.js';
import { skippedMetricReason } from '../../domain/metric-mapping.js';
import type { TimeWindow } from '../../domain/periods.js';
import type { MetricNameSeen, UsageDiscovery, UsageDiscoveryReport } from '../../ports/usage-discovery.js';
import { FileUsageSource } from './file-usage-source.js';

/**
 * The doctor's view of usage export files. The metric names come from a pass that maps no metric, so the
 * aggregator counts every sample under "metric not used: <name>"; the dimensions from a pass with the real
 * mapping, busiest day of the window (a day is the closest a file gets to Azure Monitor's 12-hour window).
 */
export class FileUsageDiscovery implements UsageDiscovery {
  constructor(private readonly options: { readonly files: readonly string[]; readonly mapping: MetricMapping }) {}

  async checkAccess(window: TimeWindow): Promise<string> {
    // Reading checks every file exists and parses; the window keeps the work small.
    const result = await new FileUsageSource({ files: this.options.files, mapping: this.options.mapping }).read(window, { timeZone: 'UTC' });
    return `${result.sourceDescription}: readable`;
  }

  async discover(window: TimeWindow, options: { timeZone: string }): Promise<UsageDiscoveryReport> {
    const namesOnly: MetricMapping = { ...this.options.mapping, tokenKinds: {}, totalTokensMetric: null, requestCountMetric: '\u0000' };
    const [names, usage] = await Promise.all([
      new FileUsageSource({ files: this.options.files, mapping: namesOnly }).read(window, options),
      new FileUsageSource({ files: this.options.files, mapping: this.options.mapping }).read(window, options),
    ]);
    const prefix = skippedMetricReason('');
    const metrics: MetricNameSeen[] = Object.entries(names.skipped)
      .filter(([reason]) => reason.startsWith(prefix))
      .map(([reason, samples]) => ({ name: reason.slice(prefix.length), namespace: '', samples, valueSum: null }))
      .sort((a, b) => b.samples - a.samples || (a.name < b.name ? -1 : 1));

    const byDay = new Map<string, { combos: Set<string>; users: Set<string>; models: Set<string>; tiers: Set<string> }>();
    for (const row of usage.rows) {
      let day = byDay.get(row.day);
      if (day === undefined) {
        day = { combos: new Set(), users: new Set(), models: new Set(), tiers: new Set() };
        byDay.set(row.day, day);
      }
      day.combos.add(`${row.userId}\u0000${row.model}\u0000${row.tier}`);
      day.users.add(row.userId);
      day.models.add(row.model);
      day.tiers.add(row.tier);
    }
    const busiest = [...byDay.values()].sort((a, b) => b.users.size * b.models.size * b.tiers.size - a.users.size * a.models.size * a.tiers.size)[0];
    return {
      sourceDescription: `${usage.sourceDescription} (dimensions of the busiest day)`,
      window,
      metrics,
      dimensions: {
        combinations: busiest?.combos.size ?? 0,
        users: busiest?.users.size ?? 0,
        models: busiest?.models.size ?? 0,
        tiers: busiest?.tiers.size ?? 0,
        modelValues: [...(busiest?.models ?? [])].sort(),
        tierValues: [...(busiest?.tiers ?? [])].sort(),
      },
    };
  }
}
