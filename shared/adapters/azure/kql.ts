import { AppError } from '../../domain/errors.js';
import { assertTimeZone, type TimeWindow } from '../../domain/periods.js';
import {
  CONTROL_CHARACTER,
  DEFAULT_NAMESPACE_PROPERTY,
  PROPERTY_NAME,
  queriedMetricNames,
  usageQuerySettingsProblems,
  type AppInsightsQuerySettings,
  type UsageTableMode,
} from '../../config/usage-query.js';

// The query settings are configuration (shared/config/usage-query.ts); these names stay importable from here.
export { DEFAULT_NAMESPACE_PROPERTY, queriedMetricNames, usageQuerySettingsProblems, type UsageTableMode };

/** What the usage query needs to know: the configured query settings and the zone days are cut in. */
export interface UsageQuerySettings extends AppInsightsQuerySettings {
  /** IANA zone the calendar days are cut in. */
  readonly timeZone: string;
}

/** Keeps only the users whose UserId hashes to `bucket` out of `buckets`. */
export interface HashSplit {
  readonly buckets: number;
  readonly bucket: number;
}

export const MAX_HASH_BUCKETS = 1024;

/** Column names of the query result, one row per day x user x model x tier x metric. */
export const USAGE_RESULT_COLUMNS = {
  day: 'Day',
  userId: 'UserId',
  model: 'Model',
  tier: 'Tier',
  metric: 'MetricName',
  valueSum: 'ValueSum',
  valueCount: 'ValueCount',
} as const;

interface TableShape {
  readonly table: string;
  readonly time: string;
  readonly name: string;
  readonly sum: string;
  readonly count: string;
  readonly bag: string;
}

const TABLE_SHAPES: Readonly<Record<UsageTableMode, TableShape>> = {
  classic: { table: 'customMetrics', time: 'timestamp', name: 'name', sum: 'valueSum', count: 'valueCount', bag: 'customDimensions' },
  workspace: { table: 'AppMetrics', time: 'TimeGenerated', name: 'Name', sum: 'Sum', count: 'ItemCount', bag: 'Properties' },
};

const TIME_ZONE_TEXT = /^[A-Za-z0-9_+\-/]{1,64}$/;

/**
 * A KQL verbatim string literal. Inside @'...' a backslash is an ordinary character and the only escape is a
 * doubled quote; a verbatim literal cannot hold a line break, so control characters are refused.
 */
export function kqlString(value: string): string {
  if (CONTROL_CHARACTER.test(value)) {
    throw new AppError('CONFIG_INVALID', `${JSON.stringify(value)} contains a control character and cannot be used in a query`);
  }
  return `@'${value.replaceAll("'", "''")}'`;
}

function kqlDatetime(instant: Date, label: string): string {
  if (!(instant instanceof Date) || Number.isNaN(instant.getTime())) {
    throw new AppError('INVALID_ARGUMENT', `the query window ${label} is not a valid instant`);
  }
  return `datetime(${instant.toISOString()})`;
}

function checkTimeZone(zone: string): string {
  if (!TIME_ZONE_TEXT.test(zone)) throw new AppError('CONFIG_INVALID', `"${zone}" is not an IANA time zone (for example UTC or Europe/Paris)`);
  return assertTimeZone(zone);
}

function checkSplit(split: HashSplit | undefined): HashSplit | null {
  if (split === undefined || split.buckets === 1) return null;
  const { buckets, bucket } = split;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_HASH_BUCKETS) {
    throw new AppError('INVALID_ARGUMENT', `a UserId split needs 1-${MAX_HASH_BUCKETS} buckets, not ${buckets}`);
  }
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= buckets) {
    throw new AppError('INVALID_ARGUMENT', `bucket ${bucket} is not one of 0..${buckets - 1}`);
  }
  return split;
}

/**
 * The KQL that sums the gateway's token metrics for [window.start, window.end) on the server, one row per
 * calendar day (in settings.timeZone) x UserId x Model x Tier x metric name, with the columns named in
 * USAGE_RESULT_COLUMNS. With `split`, only the UserIds whose hash falls in that bucket are read.
 *
 * hash_xxhash64 rather than hash(): hash() documents that its algorithm may change and should only be
 * compared within one query, while the buckets of a split are separate queries. Because hash(x, 2N) is the
 * same 64-bit hash modulo 2N, bucket k of N is exactly buckets k and k + N of 2N, so a heavy bucket can be
 * split on its own.
 */
export function buildUsageQuery(settings: UsageQuerySettings, window: TimeWindow, split?: HashSplit): string {
  const problems = usageQuerySettingsProblems(settings);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', 'the usage query settings are not usable', { details: problems });
  const zone = checkTimeZone(settings.timeZone);
  const start = kqlDatetime(window.start, 'start');
  const end = kqlDatetime(window.end, 'end');
  if (window.start.getTime() >= window.end.getTime()) {
    throw new AppError('INVALID_ARGUMENT', `the query window is empty: ${window.start.toISOString()} is not before ${window.end.toISOString()}`);
  }
  const bucketFilter = checkSplit(split);
  const shape = TABLE_SHAPES[settings.mode];
  const column = USAGE_RESULT_COLUMNS;
  const property = (name: string) => `tostring(${shape.bag}[${kqlString(name)}])`;
  const localTime = zone === 'UTC' ? shape.time : `datetime_utc_to_local(${shape.time}, ${kqlString(zone)})`;

  const lines = [
    shape.table,
    `| where ${shape.time} >= ${start} and ${shape.time} < ${end}`,
    `| where ${shape.name} in (${queriedMetricNames(settings).map(kqlString).join(', ')})`,
  ];
  if (settings.metricNamespace !== null) {
    lines.push(`| where ${property(settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY)} == ${kqlString(settings.metricNamespace)}`);
  }
  lines.push(
    `| extend ${column.userId} = ${property(settings.dimensions.userId)}, ${column.model} = ${property(settings.dimensions.model)}, ` +
      `${column.tier} = ${property(settings.dimensions.tier)}`,
  );
  if (bucketFilter !== null) {
    lines.push(`| where hash_xxhash64(${column.userId}, ${bucketFilter.buckets}) == ${bucketFilter.bucket}`);
  }
  lines.push(
    `| summarize ${column.valueSum} = sum(${shape.sum}), ${column.valueCount} = sum(${shape.count}) ` +
      `by ${column.day} = format_datetime(startofday(${localTime}), 'yyyy-MM-dd'), ` +
      `${column.userId}, ${column.model}, ${column.tier}, ${column.metric} = ${shape.name}`,
  );
  return lines.join('\n');
}

/** Column names of the day totals query: one row per calendar day x metric name. */
export const DAY_TOTALS_RESULT_COLUMNS = { day: 'Day', metric: 'MetricName', valueSum: 'ValueSum', valueCount: 'ValueCount' } as const;

/**
 * What the usage query reads, summed per calendar day (in settings.timeZone) and metric name only: a few
 * rows per day, cheap for a whole month. Summed over its users, models and tiers, the usage query of the same
 * window gives the same sums, so a close compares the two to see which days changed since they were ingested.
 */
export function buildDayTotalsQuery(settings: UsageQuerySettings, window: TimeWindow): string {
  const problems = usageQuerySettingsProblems(settings);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', 'the usage query settings are not usable', { details: problems });
  const zone = checkTimeZone(settings.timeZone);
  const shape = shapeFor(settings.mode);
  const column = DAY_TOTALS_RESULT_COLUMNS;
  const localTime = zone === 'UTC' ? shape.time : `datetime_utc_to_local(${shape.time}, ${kqlString(zone)})`;
  const lines = [shape.table, windowFilter(shape, window), `| where ${shape.name} in (${queriedMetricNames(settings).map(kqlString).join(', ')})`];
  if (settings.metricNamespace !== null) {
    lines.push(`| where tostring(${shape.bag}[${kqlString(settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY)}]) == ${kqlString(settings.metricNamespace)}`);
  }
  lines.push(
    `| summarize ${column.valueSum} = sum(${shape.sum}), ${column.valueCount} = sum(${shape.count}) ` +
      `by ${column.day} = format_datetime(startofday(${localTime}), 'yyyy-MM-dd'), ${column.metric} = ${shape.name}`,
  );
  return lines.join('\n');
}

/** Column names of the metric-name discovery query: one row per metric name x namespace. */
export const METRIC_NAMES_RESULT_COLUMNS = { metric: 'MetricName', namespace: 'Namespace', samples: 'Samples', valueSum: 'ValueSum' } as const;

/** Column names of the dimension discovery query: a single row. */
export const DIMENSIONS_RESULT_COLUMNS = {
  combinations: 'Combinations',
  users: 'Users',
  models: 'Models',
  tiers: 'Tiers',
  modelValues: 'ModelValues',
  tierValues: 'TierValues',
} as const;

/** Most metric names the discovery lists; an App Insights resource shared with other apps can hold many. */
export const MAX_DISCOVERED_METRICS = 200;
/** Most model and tier values the discovery lists (their counts are exact regardless). */
export const MAX_DISCOVERED_VALUES = 100;

function windowFilter(shape: TableShape, window: TimeWindow): string {
  const start = kqlDatetime(window.start, 'start');
  const end = kqlDatetime(window.end, 'end');
  if (window.start.getTime() >= window.end.getTime()) {
    throw new AppError('INVALID_ARGUMENT', `the query window is empty: ${window.start.toISOString()} is not before ${window.end.toISOString()}`);
  }
  return `| where ${shape.time} >= ${start} and ${shape.time} < ${end}`;
}

function shapeFor(mode: UsageTableMode): TableShape {
  if (!Object.hasOwn(TABLE_SHAPES, mode)) throw new AppError('CONFIG_INVALID', `mode "${String(mode)}" is neither classic nor workspace`);
  return TABLE_SHAPES[mode];
}

/** The smallest query that proves the identity may read the table: one count over the window. */
export function buildAccessCheckQuery(mode: UsageTableMode, window: TimeWindow): string {
  const shape = shapeFor(mode);
  return [shape.table, windowFilter(shape, window), '| take 1', '| count'].join('\n');
}

/**
 * Every metric name and namespace seen in the window with its sample count, unfiltered: for checking that
 * the gateway emits the names (and namespace) the settings expect.
 */
export function buildMetricNamesQuery(settings: Pick<UsageQuerySettings, 'mode' | 'namespaceProperty'>, window: TimeWindow): string {
  const shape = shapeFor(settings.mode);
  const property = settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY;
  if (!PROPERTY_NAME.test(property)) throw new AppError('CONFIG_INVALID', `namespace property "${property}" is not a plain name`);
  const column = METRIC_NAMES_RESULT_COLUMNS;
  return [
    shape.table,
    windowFilter(shape, window),
    `| summarize ${column.samples} = count(), ${column.valueSum} = sum(${shape.sum}) ` +
      `by ${column.metric} = ${shape.name}, ${column.namespace} = tostring(${shape.bag}[${kqlString(property)}])`,
    `| top ${MAX_DISCOVERED_METRICS} by ${column.samples} desc`,
  ].join('\n');
}

/**
 * How many distinct UserId x Model x Tier combinations the usage query's metrics had in the window (the
 * custom-metric time series the gateway keeps active), with the distinct users, models and tiers. Users is
 * dcount at its highest accuracy level, exact for small counts and within about 0.2% beyond.
 */
export function buildDimensionDiscoveryQuery(settings: Omit<UsageQuerySettings, 'timeZone'>, window: TimeWindow): string {
  const problems = usageQuerySettingsProblems(settings);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', 'the usage query settings are not usable', { details: problems });
  const shape = shapeFor(settings.mode);
  const property = (name: string) => `tostring(${shape.bag}[${kqlString(name)}])`;
  const column = DIMENSIONS_RESULT_COLUMNS;
  const lines = [shape.table, windowFilter(shape, window), `| where ${shape.name} in (${queriedMetricNames(settings).map(kqlString).join(', ')})`];
  if (settings.metricNamespace !== null) {
    lines.push(`| where ${property(settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY)} == ${kqlString(settings.metricNamespace)}`);
  }
  lines.push(
    `| summarize by UserId = ${property(settings.dimensions.userId)}, Model = ${property(settings.dimensions.model)}, Tier = ${property(settings.dimensions.tier)}`,
    `| summarize ${column.combinations} = count(), ${column.users} = dcount(UserId, 4), ${column.models} = dcount(Model, 4), ${column.tiers} = dcount(Tier, 4), ` +
      `${column.modelValues} = make_set(Model, ${MAX_DISCOVERED_VALUES}), ${column.tierValues} = make_set(Tier, ${MAX_DISCOVERED_VALUES})`,
  );
  return lines.join('\n');
}

/** Column names of the contract check query: one row per metric name of the namespace. */
export const CONTRACT_RESULT_COLUMNS = {
  metric: 'MetricName',
  samples: 'Samples',
  requests: 'Requests',
  valueSum: 'ValueSum',
  recentSamples: 'RecentSamples',
  withUserId: 'WithUserId',
  withModel: 'WithModel',
  withTier: 'WithTier',
} as const;

/**
 * What `doctor` checks the gateway's contract with: per metric name in the namespace, its samples (and those
 * since `recentSince`), measurements (the request count), value sum, and how many samples carry each of the
 * three dimensions. Every metric of the namespace, not only the mapped ones, so unmapped cache metrics show.
 */
export function buildContractCheckQuery(settings: Omit<UsageQuerySettings, 'timeZone'>, window: TimeWindow, recentSince: Date): string {
  const problems = usageQuerySettingsProblems(settings);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', 'the usage query settings are not usable', { details: problems });
  const shape = shapeFor(settings.mode);
  const property = (name: string) => `tostring(${shape.bag}[${kqlString(name)}])`;
  const column = CONTRACT_RESULT_COLUMNS;
  const lines = [shape.table, windowFilter(shape, window)];
  if (settings.metricNamespace !== null) {
    lines.push(`| where ${property(settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY)} == ${kqlString(settings.metricNamespace)}`);
  }
  lines.push(
    `| summarize ${column.samples} = count(), ${column.requests} = sum(${shape.count}), ${column.valueSum} = sum(${shape.sum}), ` +
      `${column.recentSamples} = countif(${shape.time} >= ${kqlDatetime(recentSince, 'recent start')}), ` +
      `${column.withUserId} = countif(isnotempty(${property(settings.dimensions.userId)})), ` +
      `${column.withModel} = countif(isnotempty(${property(settings.dimensions.model)})), ` +
      `${column.withTier} = countif(isnotempty(${property(settings.dimensions.tier)})) by ${column.metric} = ${shape.name}`,
    `| top ${MAX_DISCOVERED_METRICS} by ${column.samples} desc`,
  );
  return lines.join('\n');
}
