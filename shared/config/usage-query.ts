import type { MetricMapping } from '../domain/metric-mapping.js';

/**
 * The settings of the App Insights usage query. They are configuration, validated with the other settings
 * (shared/config/settings.ts), and the KQL builder (shared/adapters/azure/kql.ts) takes them as they are.
 */

/** classic: an App Insights resource's `customMetrics`; workspace: a Log Analytics workspace's `AppMetrics`. */
export const USAGE_TABLE_MODES = ['classic', 'workspace'] as const;
export type UsageTableMode = (typeof USAGE_TABLE_MODES)[number];

/** Which logs the queries read: a Log Analytics workspace by id, or an App Insights resource by resource id. */
export type LogsQueryTarget = { readonly kind: 'workspace'; readonly workspaceId: string } | { readonly kind: 'resource'; readonly resourceId: string };

/**
 * What the usage queries need to know, whatever the day's zone. The metric names and dimension names come from
 * the shared MetricMapping (`tokenKinds` is the metric name -> token kind map).
 */
export interface AppInsightsQuerySettings extends MetricMapping {
  readonly mode: UsageTableMode;
  /** The policy's `namespace` attribute (e.g. "claudecode"); null queries every namespace. */
  readonly metricNamespace: string | null;
  /**
   * The customDimensions/Properties key the namespace is stored under. App Insights keeps a custom metric's
   * namespace in `_MS.MetricNamespace`; some community queries use `namespace` instead, so it is a setting.
   */
  readonly namespaceProperty?: string;
}

export const DEFAULT_NAMESPACE_PROPERTY = '_MS.MetricNamespace';

/** Property names go inside a string literal anyway; the pattern keeps configuration typos out early. */
export const PROPERTY_NAME = /^[A-Za-z_](?:[A-Za-z0-9_.\- ]{0,126}[A-Za-z0-9_])?$/;
const MAX_NAME_LENGTH = 256;
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Every metric the query must read: the priced kinds, the cross-check total and the request counter. */
export function queriedMetricNames(settings: MetricMapping): string[] {
  const names = new Set<string>(Object.keys(settings.tokenKinds));
  if (settings.totalTokensMetric !== null) names.add(settings.totalTokensMetric);
  names.add(settings.requestCountMetric);
  return [...names].sort();
}

/** Every problem with the settings as one sentence each; empty when a query can be built from them. */
export function usageQuerySettingsProblems(settings: AppInsightsQuerySettings): string[] {
  const problems: string[] = [];
  if (!USAGE_TABLE_MODES.includes(settings.mode)) problems.push(`mode "${String(settings.mode)}" is neither classic nor workspace`);
  for (const name of queriedMetricNames(settings)) {
    if (name.trim() === '') problems.push('a metric name is empty');
    else if (name.length > MAX_NAME_LENGTH) problems.push(`metric name "${name.slice(0, 40)}..." is longer than ${MAX_NAME_LENGTH} characters`);
    else if (CONTROL_CHARACTER.test(name)) problems.push(`metric name ${JSON.stringify(name)} contains a control character`);
  }
  const properties: [string, string][] = [
    ['userId dimension', settings.dimensions.userId],
    ['model dimension', settings.dimensions.model],
    ['tier dimension', settings.dimensions.tier],
    ['namespace property', settings.namespaceProperty ?? DEFAULT_NAMESPACE_PROPERTY],
  ];
  for (const [role, name] of properties) {
    if (!PROPERTY_NAME.test(name)) {
      problems.push(`${role} "${name}" is not a plain name (letters, digits, _ . - and inner spaces, at most 128 characters)`);
    }
  }
  const namespace = settings.metricNamespace;
  if (namespace !== null && (namespace.trim() === '' || namespace.length > MAX_NAME_LENGTH || CONTROL_CHARACTER.test(namespace))) {
    problems.push(`metric namespace ${JSON.stringify(namespace)} must be 1-${MAX_NAME_LENGTH} printable characters (or null for every namespace)`);
  }
  return problems;
}
