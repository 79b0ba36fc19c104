import { LogsQueryResultStatus, type LogsTable } from '@azure/monitor-query-logs';
import { AppError } from '../../domain/errors.js';
import type { TimeWindow } from '../../domain/periods.js';
import type { DimensionsSeen, MetricContractSeen, MetricNameSeen, UsageDiscovery, UsageDiscoveryReport } from '../../ports/usage-discovery.js';
import type { AppInsightsQuerySettings, LogsQueryPort, LogsQueryTarget } from './app-insights-usage-source.js';
import {
  buildAccessCheckQuery,
  buildContractCheckQuery,
  buildDimensionDiscoveryQuery,
  buildMetricNamesQuery,
  CONTRACT_RESULT_COLUMNS,
  DIMENSIONS_RESULT_COLUMNS,
  METRIC_NAMES_RESULT_COLUMNS,
} from './kql.js';

/**
 * The doctor's view of App Insights: four small queries (access, metric names, dimension counts, the gateway
 * contract per metric). An
 * operator runs them by hand, so a failure is reported at once rather than retried.
 */
export class AppInsightsDiscovery implements UsageDiscovery {
  constructor(
    private readonly options: { readonly client: LogsQueryPort; readonly target: LogsQueryTarget; readonly settings: AppInsightsQuerySettings },
  ) {}

  async checkAccess(window: TimeWindow): Promise<string> {
    await this.run('the access check', buildAccessCheckQuery(this.options.settings.mode, window), window);
    return `${this.describe()}: the query API answered`;
  }

  async discover(window: TimeWindow, options: { recentSince?: Date } = {}): Promise<UsageDiscoveryReport> {
    const recentSince = options.recentSince ?? new Date(window.end.getTime() - 3_600_000);
    const [names, dimensions, contract] = await Promise.all([
      this.run('the metric name discovery', buildMetricNamesQuery(this.options.settings, window), window),
      this.run('the dimension discovery', buildDimensionDiscoveryQuery(this.options.settings, window), window),
      this.run('the gateway contract check', buildContractCheckQuery(this.options.settings, window, recentSince), window),
    ]);
    return { sourceDescription: this.describe(), window, metrics: readMetricNames(names), dimensions: readDimensions(dimensions), contract: readContract(contract) };
  }

  private describe(): string {
    const { target, settings } = this.options;
    const where = target.kind === 'workspace' ? `workspace ${target.workspaceId}` : `resource ${target.resourceId}`;
    return `App Insights ${settings.mode === 'classic' ? 'customMetrics' : 'AppMetrics'} on ${where}`;
  }

  private async run(what: string, query: string, window: TimeWindow): Promise<LogsTable> {
    const { client, target } = this.options;
    const timespan = { startTime: window.start, endTime: window.end };
    let result;
    try {
      result =
        target.kind === 'workspace'
          ? await client.queryWorkspace(target.workspaceId, query, timespan)
          : await client.queryResource(target.resourceId.replace(/^\/+/, ''), query, timespan);
    } catch (error) {
      throw queryError(what, error);
    }
    if (result.status === LogsQueryResultStatus.PartialFailure) {
      throw new AppError('USAGE_PARTIAL_RESULT', `${what} returned a partial result: ${(result.partialError as { message?: string } | undefined)?.message ?? 'no message'}`);
    }
    const table = result.tables[0];
    if (table === undefined) throw new AppError('USAGE_SOURCE_UNAVAILABLE', `${what} returned no table`);
    return table;
  }
}

function queryError(what: string, error: unknown): AppError {
  const status = (error as { statusCode?: unknown }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  if (status === 401) return new AppError('UNAUTHENTICATED', `${what} was not authenticated (HTTP 401): sign in (az login) or check the managed identity`, { cause: error });
  if (status === 403) {
    return new AppError('FORBIDDEN', `${what} was refused (HTTP 403): give the identity "Log Analytics Reader" (or "Monitoring Reader") on the workspace or resource`, { cause: error });
  }
  if (status === 404) return new AppError('NOT_FOUND', `${what}: the workspace or resource was not found (HTTP 404); check its id`, { cause: error });
  if (status === 400) return new AppError('CONFIG_INVALID', `${what} was rejected (HTTP 400: ${message}); check APPINSIGHTS_MODE against the table the target holds`, { cause: error });
  const retryable = status === undefined || status === 429 || (typeof status === 'number' && status >= 500);
  return new AppError(status === 429 ? 'THROTTLED' : 'USAGE_SOURCE_UNAVAILABLE', `${what} failed: ${typeof status === 'number' ? `HTTP ${status} ` : ''}${message}`, { retryable, cause: error });
}

function columns<T extends Record<string, string>>(table: LogsTable, wanted: T): Record<keyof T, number> {
  const names = table.columnDescriptors.map((c) => c.name);
  const index = {} as Record<keyof T, number>;
  for (const [key, name] of Object.entries(wanted) as [keyof T, string][]) {
    const at = names.indexOf(name);
    if (at < 0) throw new AppError('USAGE_SOURCE_UNAVAILABLE', `the discovery result has no column ${name}`);
    index[key] = at;
  }
  return index;
}

function asNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value ?? 0);
}

function asStrings(value: unknown): string[] {
  const list = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(list) ? list.map((item) => String(item)).sort() : [];
}

function readMetricNames(table: LogsTable): MetricNameSeen[] {
  const at = columns(table, METRIC_NAMES_RESULT_COLUMNS);
  return table.rows.map((row) => ({
    name: String(row[at.metric] ?? ''),
    namespace: String(row[at.namespace] ?? ''),
    samples: asNumber(row[at.samples]),
    valueSum: row[at.valueSum] === null ? null : asNumber(row[at.valueSum]),
  }));
}

function readDimensions(table: LogsTable): DimensionsSeen {
  const at = columns(table, DIMENSIONS_RESULT_COLUMNS);
  const row = table.rows[0];
  if (row === undefined) return { combinations: 0, users: 0, models: 0, tiers: 0, modelValues: [], tierValues: [] };
  return {
    combinations: asNumber(row[at.combinations]),
    users: asNumber(row[at.users]),
    models: asNumber(row[at.models]),
    tiers: asNumber(row[at.tiers]),
    modelValues: asStrings(row[at.modelValues]),
    tierValues: asStrings(row[at.tierValues]),
  };
}

function readContract(table: LogsTable): MetricContractSeen[] {
  const at = columns(table, CONTRACT_RESULT_COLUMNS);
  return table.rows.map((row) => ({
    name: String(row[at.metric] ?? ''),
    samples: asNumber(row[at.samples]),
    requests: asNumber(row[at.requests]),
    valueSum: asNumber(row[at.valueSum]),
    recentSamples: asNumber(row[at.recentSamples]),
    withUserId: asNumber(row[at.withUserId]),
    withModel: asNumber(row[at.withModel]),
    withTier: asNumber(row[at.withTier]),
  }));
}
