import path from 'node:path';
import { DEFAULT_CLOSE_CONTROL_LIMITS, type CloseControlLimits } from '../domain/close-controls.js';
import { AppError } from '../domain/errors.js';
import { DEFAULT_METRIC_MAPPING, metricMappingProblems, type MetricMapping } from '../domain/metric-mapping.js';
import { assertTimeZone } from '../domain/periods.js';
import { isTokenKind, type TokenKind } from '../domain/tokens.js';
import { DEFAULT_NAMESPACE_PROPERTY, usageQuerySettingsProblems, type UsageTableMode } from '../adapters/azure/kql.js';
import type { AppInsightsQuerySettings, LogsQueryTarget } from '../adapters/azure/app-insights-usage-source.js';
import { readBillingSettings, type BillingSettings } from './billing-settings.js';
import { readArtifactSettings, type ArtifactSettings } from './artifact-settings.js';

/**
 * Every setting the product reads, validated once. Values come from app settings in Azure (environment
 * variables) or from the command line, which maps its options onto the same names.
 */
export interface Settings {
  readonly timeZone: string;
  readonly usage: UsageSettings;
  readonly metricMapping: MetricMapping;
  readonly ingest: IngestSettings;
  readonly directory: DirectorySettings;
  readonly priceBookPath: string;
  readonly storage: StorageSettings;
  readonly mail: MailSettings;
  readonly artifactsDir: string;
  /** Days after the 1st before the previous month is closed, so late-arriving usage is in it. */
  readonly monthlyClose: { readonly graceDays: number };
  /** The checks a close runs before anything is mailed, who hears of a held or refused close, and its lease. */
  readonly closeControls: CloseControlSettings;
  /** The team cost lookup API: who may call it (Entra tokens) and how long reads are cached. */
  readonly api: ApiSettings;
  /** Team budgets and the alerts they (and unpriced or unallocated usage) raise. */
  readonly budgets: BudgetSettings;
  /** The true-up to Azure's bill: where the FOCUS export is, which rows are Claude's, the controls (billing-settings.ts). */
  readonly billing: BillingSettings;
  /** Where workbooks and exports are kept (a folder or a Blob container) and when mails link them (artifact-settings.ts). */
  readonly artifacts: ArtifactSettings;
}

export interface CloseControlSettings {
  readonly limits: CloseControlLimits;
  readonly operatorRecipients: readonly string[];
  readonly leaseSeconds: number;
}

/**
 * Table Storage: a connection string (Azurite, or an account with keys), or the account's table endpoint
 * reached with the managed identity (what the deployed app uses: the account allows no shared keys).
 */
export interface StorageSettings {
  readonly connectionString: string | null;
  readonly tableEndpoint: string | null;
  readonly tablePrefix: string;
}

export function isStorageConfigured(storage: StorageSettings): boolean {
  return storage.connectionString !== null || storage.tableEndpoint !== null;
}

/** Reads the storage settings; an endpoint must be https, since the identity's token would travel with it. */
function readStorageSettings(source: SettingsSource, tablePrefix: string, problems: string[]): StorageSettings {
  const connectionString = source[SETTING.storageConnection]?.trim() || null;
  const tableEndpoint = source[SETTING.storageTableEndpoint]?.trim() || null;
  if (tableEndpoint !== null && !/^https:\/\/[^/\s]+\/?$/.test(tableEndpoint)) {
    problems.push(`${SETTING.storageTableEndpoint}: "${tableEndpoint}" must be an https table endpoint such as https://account.table.core.windows.net`);
  }
  return Object.freeze({ connectionString, tableEndpoint, tablePrefix });
}

export type SettingsSource = Readonly<Record<string, string | undefined>>;

/** The names of the settings, as app settings / environment variables. */
export const SETTING = {
  timeZone: 'REPORTING_TIME_ZONE',
  usageSource: 'USAGE_SOURCE',
  usageFiles: 'USAGE_FILES',
  appInsightsMode: 'APPINSIGHTS_MODE',
  appInsightsWorkspaceId: 'APPINSIGHTS_WORKSPACE_ID',
  appInsightsResourceId: 'APPINSIGHTS_RESOURCE_ID',
  metricNamespace: 'METRIC_NAMESPACE',
  metricNamespaceProperty: 'METRIC_NAMESPACE_PROPERTY',
  logsMaxConcurrency: 'LOGS_MAX_CONCURRENCY',
  logsEndpoint: 'LOGS_ENDPOINT',
  ingestTrailingDays: 'INGEST_TRAILING_DAYS',
  ingestMaxCatchUpDays: 'INGEST_MAX_CATCH_UP_DAYS',
  metricTokenKinds: 'METRIC_TOKEN_KINDS',
  metricTotal: 'METRIC_TOTAL_TOKENS',
  metricRequests: 'METRIC_REQUEST_COUNT',
  dimensionUserId: 'DIMENSION_USER_ID',
  dimensionModel: 'DIMENSION_MODEL',
  dimensionTier: 'DIMENSION_TIER',
  directorySource: 'DIRECTORY_SOURCE',
  directoryFile: 'DIRECTORY_FILE',
  directoryOverridesFile: 'DIRECTORY_OVERRIDES_FILE',
  directoryCacheTtlHours: 'DIRECTORY_CACHE_TTL_HOURS',
  graphTeamStrategy: 'GRAPH_TEAM_STRATEGY',
  graphTeamGroupPrefix: 'GRAPH_TEAM_GROUP_PREFIX',
  graphBaseUrl: 'GRAPH_BASE_URL',
  priceBookFile: 'PRICE_BOOK_FILE',
  storageConnection: 'STORAGE_CONNECTION_STRING',
  storageTableEndpoint: 'STORAGE_TABLE_ENDPOINT',
  tablePrefix: 'TABLE_PREFIX',
  mailTransport: 'MAIL_TRANSPORT',
  outboxDir: 'OUTBOX_DIR',
  mailFrom: 'MAIL_FROM',
  financeRecipients: 'FINANCE_RECIPIENTS',
  smtpHost: 'SMTP_HOST',
  smtpPort: 'SMTP_PORT',
  smtpSecure: 'SMTP_SECURE',
  smtpRequireTls: 'SMTP_REQUIRE_TLS',
  smtpUser: 'SMTP_USER',
  smtpPassword: 'SMTP_PASSWORD',
  mailSenderMailbox: 'MAIL_SENDER_MAILBOX',
  mailMessagesPerMinute: 'MAIL_MESSAGES_PER_MINUTE',
  artifactsDir: 'ARTIFACTS_DIR',
  monthlyCloseGraceDays: 'MONTHLY_CLOSE_GRACE_DAYS',
  authTenantId: 'AUTH_TENANT_ID',
  authAudience: 'AUTH_AUDIENCE',
  authFinanceRole: 'AUTH_FINANCE_ROLE',
  authLeadRole: 'AUTH_LEAD_ROLE',
  costCacheTtlSeconds: 'COST_CACHE_TTL_SECONDS',
  // The cost page (web/): how its MSAL sign-in reaches the API's app registration.
  webClientId: 'WEB_CLIENT_ID',
  webApiScope: 'WEB_API_SCOPE',
  costCallTimeoutMs: 'COST_CALL_TIMEOUT_MS',
  budgetsFile: 'BUDGETS_FILE',
  alertCcFinance: 'ALERT_CC_FINANCE',
  teamsWebhookUrl: 'TEAMS_WEBHOOK_URL',
  costLookupUrl: 'COST_LOOKUP_URL',
  unallocatedAlertPercents: 'UNALLOCATED_ALERT_PERCENTS',
  operatorRecipients: 'OPERATOR_RECIPIENTS',
  closeMaxRejectPercent: 'CLOSE_MAX_REJECT_PERCENT',
  closeTotalTokensTolerancePercent: 'CLOSE_TOTAL_TOKENS_TOLERANCE_PERCENT',
  closeWarnMonthChangePercent: 'CLOSE_WARN_MONTH_CHANGE_PERCENT',
  closeWarnTeamGrowthFactor: 'CLOSE_WARN_TEAM_GROWTH_FACTOR',
  closeLeaseSeconds: 'CLOSE_LEASE_SECONDS',
  // Budget actions at the gateway (docs/gateway.md); off unless both are set.
  budgetBlockAtPercent: 'BUDGET_BLOCK_AT_PERCENT',
  gatewayBlockedOidsNamedValueId: 'GATEWAY_BLOCKED_OIDS_NAMED_VALUE_ID',
} as const;

const MAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
const TABLE_PREFIX = /^[A-Za-z][A-Za-z0-9]{0,29}$/;

/** Every problem is reported at once, so one deployment fixes them all. */
function throwIfProblems(problems: readonly string[]): void {
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `the settings have ${problems.length} problem(s)`, { details: problems });
  }
}

/** An unknown zone is reported and UTC stands in, so the other settings are still checked. */
function readTimeZone(source: SettingsSource, problems: string[]): string {
  const timeZone = source[SETTING.timeZone]?.trim() || 'UTC';
  try {
    assertTimeZone(timeZone);
    return timeZone;
  } catch (error) {
    problems.push(`${SETTING.timeZone}: ${(error as Error).message}`);
    return 'UTC';
  }
}

function readTablePrefix(source: SettingsSource, problems: string[]): string {
  const tablePrefix = source[SETTING.tablePrefix]?.trim() || 'chargeback';
  if (!TABLE_PREFIX.test(tablePrefix)) problems.push(`${SETTING.tablePrefix}: "${tablePrefix}" must be 1-30 letters and digits, starting with a letter`);
  return tablePrefix;
}

/** A service root the app will send a token to: https, or plain http towards localhost only (tests, emulators). */
function serviceUrl(name: string, value: string, problems: string[]): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name}: "${value}" is not a URL`);
    return undefined;
  }
  if (url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    problems.push(`${name}: "${value}" must use https (plain http only towards localhost)`);
  }
  return url;
}

export function loadSettings(source: SettingsSource, options: { projectRoot: string }): Settings {
  const problems: string[] = [];
  const text = (name: string, fallback: string) => {
    const value = source[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  };
  const list = (name: string) =>
    (source[name] ?? '')
      .split(/[;,]/)
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const resolvePath = (value: string) => path.resolve(options.projectRoot, value);

  const timeZone = readTimeZone(source, problems);

  const metricMapping = readMetricMapping(source, problems);
  const usage = readUsageSettings(source, problems, resolvePath, metricMapping);
  const ingest = readIngestSettings(source, problems);
  const monthlyCloseGraceDays = integerSetting(source, SETTING.monthlyCloseGraceDays, 2, 0, 27, problems);

  const directory = readDirectorySettings(source, problems, resolvePath);

  const tablePrefix = readTablePrefix(source, problems);

  const mailDelivery = readMailDelivery(source, problems);
  const mailFrom = text(SETTING.mailFrom, 'chargeback@contoso.example');
  if (!MAIL.test(mailFrom)) problems.push(`${SETTING.mailFrom}: "${mailFrom}" is not a mail address`);
  const financeRecipients = list(SETTING.financeRecipients);
  for (const address of financeRecipients) {
    if (!MAIL.test(address)) problems.push(`${SETTING.financeRecipients}: "${address}" is not a mail address`);
  }
  const api = readApiSettings(source, problems);
  const budgets = readBudgetSettings(source, problems, resolvePath);
  const closeControls = readCloseControlSettings(source, problems, list);

  const storage = readStorageSettings(source, tablePrefix, problems);
  const billing = readBillingSettings(source, problems, options.projectRoot);
  const artifacts = readArtifactSettings(source, problems);
  throwIfProblems(problems);
  return Object.freeze({
    timeZone,
    usage,
    metricMapping,
    ingest,
    directory,
    priceBookPath: resolvePath(text(SETTING.priceBookFile, 'data/price-book.json')),
    storage,
    mail: Object.freeze({
      ...mailDelivery,
      outboxDir: resolvePath(text(SETTING.outboxDir, 'out/outbox')),
      from: mailFrom,
      financeRecipients: Object.freeze(financeRecipients),
    }),
    artifactsDir: resolvePath(text(SETTING.artifactsDir, 'out/reports')),
    monthlyClose: Object.freeze({ graceDays: monthlyCloseGraceDays }),
    closeControls,
    api,
    budgets,
    billing,
    artifacts,
  });
}

/**
 * METRIC_TOKEN_KINDS maps metric names to token kinds, e.g.
 * "Prompt Tokens=input;Completion Tokens=output;Cache Read Tokens=cacheRead".
 */
function readMetricMapping(source: SettingsSource, problems: string[]): MetricMapping {
  const raw = source[SETTING.metricTokenKinds]?.trim();
  let tokenKinds: Record<string, TokenKind> = { ...DEFAULT_METRIC_MAPPING.tokenKinds };
  if (raw) {
    tokenKinds = {};
    for (const pair of raw.split(';').filter((p) => p.trim() !== '')) {
      const [name, kind] = pair.split('=').map((part) => part.trim());
      if (!name || !kind || !isTokenKind(kind)) problems.push(`${SETTING.metricTokenKinds}: "${pair}" is not "Metric Name=tokenKind"`);
      else tokenKinds[name] = kind;
    }
  }
  const total = source[SETTING.metricTotal];
  const mapping: MetricMapping = {
    tokenKinds,
    totalTokensMetric: total === undefined ? DEFAULT_METRIC_MAPPING.totalTokensMetric : total.trim() === '' ? null : total.trim(),
    requestCountMetric: source[SETTING.metricRequests]?.trim() || DEFAULT_METRIC_MAPPING.requestCountMetric,
    dimensions: {
      userId: source[SETTING.dimensionUserId]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.userId,
      model: source[SETTING.dimensionModel]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.model,
      tier: source[SETTING.dimensionTier]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.tier,
    },
  };
  problems.push(...metricMappingProblems(mapping).map((p) => `metric mapping: ${p}`));
  return Object.freeze(mapping);
}

export type MailTransport = 'outbox' | 'smtp' | 'graph';
const MAIL_TRANSPORTS: readonly MailTransport[] = ['outbox', 'smtp', 'graph'];

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS. */
  readonly secure: boolean;
  /** Refuse to send unless the server upgrades with STARTTLS (default on). */
  readonly requireTLS: boolean;
  readonly user: string | null;
  readonly password: string | null;
}

/**
 * How reports are mailed. `outbox` (the demo's default) writes .eml files; `smtp` sends through a relay;
 * `graph` sends as `senderMailbox` through Microsoft Graph with the process's one Azure credential. Both real
 * transports are paced to `messagesPerMinute` per mailbox (Exchange Online accepts about 30).
 */
export interface MailSettings {
  readonly transport: MailTransport;
  readonly outboxDir: string;
  /** The From address of SMTP and outbox mail; Graph always sends as `senderMailbox`. */
  readonly from: string;
  readonly financeRecipients: readonly string[];
  /** Set when transport is smtp. */
  readonly smtp: SmtpSettings | null;
  /** Set when transport is graph: the mailbox's user id or UPN. */
  readonly senderMailbox: string | null;
  /** Graph root for national clouds (GRAPH_BASE_URL); null for https://graph.microsoft.com. */
  readonly graphBaseUrl: string | null;
  readonly messagesPerMinute: number;
}

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readMailDelivery(source: SettingsSource, problems: string[]): Omit<MailSettings, 'outboxDir' | 'from' | 'financeRecipients'> {
  const text = (name: string) => source[name]?.trim() ?? '';
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = text(name).toLowerCase();
    if (raw === '') return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${name}: "${text(name)}" is neither true nor false`);
    return fallback;
  };
  const transport = text(SETTING.mailTransport) || 'outbox';
  if (!(MAIL_TRANSPORTS as readonly string[]).includes(transport)) {
    problems.push(`${SETTING.mailTransport}: "${transport}" is not one of ${MAIL_TRANSPORTS.join(', ')}`);
  }
  const messagesPerMinute = integerSetting(source, SETTING.mailMessagesPerMinute, 30, 1, 10_000, problems);

  let smtp: SmtpSettings | null = null;
  if (transport === 'smtp') {
    const host = text(SETTING.smtpHost);
    if (host === '') problems.push(`${SETTING.smtpHost}: name the SMTP server (e.g. smtp.office365.com) when ${SETTING.mailTransport} is smtp`);
    const port = integerSetting(source, SETTING.smtpPort, 587, 1, 65_535, problems);
    const secure = flag(SETTING.smtpSecure, port === 465);
    const requireTLS = flag(SETTING.smtpRequireTls, true);
    const user = text(SETTING.smtpUser);
    const password = source[SETTING.smtpPassword] ?? '';
    if ((user === '') !== (password === '')) problems.push(`${SETTING.smtpUser} and ${SETTING.smtpPassword}: set both or neither`);
    smtp = Object.freeze({ host, port, secure, requireTLS, user: user === '' ? null : user, password: password === '' ? null : password });
  }

  let senderMailbox: string | null = null;
  let graphBaseUrl: string | null = null;
  if (transport === 'graph') {
    senderMailbox = text(SETTING.mailSenderMailbox);
    if (senderMailbox === '') {
      problems.push(`${SETTING.mailSenderMailbox}: name the mailbox Graph sends as (its UPN or object id) when ${SETTING.mailTransport} is graph`);
    } else if (!MAIL.test(senderMailbox) && !OBJECT_ID.test(senderMailbox)) {
      problems.push(`${SETTING.mailSenderMailbox}: "${senderMailbox}" is neither a UPN nor an object id`);
    }
    const baseUrl = text(SETTING.graphBaseUrl).replace(/\/+$/, '');
    if (baseUrl !== '') {
      if (!URL.canParse(baseUrl)) problems.push(`${SETTING.graphBaseUrl}: "${baseUrl}" is not a URL`);
      else graphBaseUrl = baseUrl;
    }
  }
  return { transport: transport as MailTransport, smtp, senderMailbox, graphBaseUrl, messagesPerMinute };
}

export type GraphTeamStrategyName = 'group-prefix' | 'department' | 'cost-center';
const GRAPH_TEAM_STRATEGIES: readonly GraphTeamStrategyName[] = ['group-prefix', 'department', 'cost-center'];

/**
 * Where users' teams come from. `file`: the local directory file (the demo's default). `graph`: Microsoft Graph
 * through the app's managed identity, cached in Table Storage for `cacheTtlHours`.
 */
export type DirectorySettings =
  | { readonly kind: 'file'; readonly path: string }
  | {
      readonly kind: 'graph';
      readonly teamStrategy: GraphTeamStrategyName;
      /** group-prefix only: groups named "<prefix><team name>" are teams. */
      readonly groupPrefix: string;
      readonly overridesFile: string | null;
      /** Graph root for national clouds or tests; null for https://graph.microsoft.com. */
      readonly baseUrl: string | null;
      readonly cacheTtlHours: number;
    };

function readDirectorySettings(source: SettingsSource, problems: string[], resolvePath: (value: string) => string): DirectorySettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const kind = text(SETTING.directorySource) || 'file';
  if (kind === 'file') {
    const file = text(SETTING.directoryFile);
    if (file === '') problems.push(`${SETTING.directoryFile}: name the directory file (users to teams)`);
    return Object.freeze({ kind: 'file' as const, path: resolvePath(file) });
  }
  if (kind !== 'graph') problems.push(`${SETTING.directorySource}: "${kind}" is not supported (expected "file" or "graph")`);

  const strategy = text(SETTING.graphTeamStrategy) || 'group-prefix';
  if (!(GRAPH_TEAM_STRATEGIES as readonly string[]).includes(strategy)) {
    problems.push(`${SETTING.graphTeamStrategy}: "${strategy}" is not one of ${GRAPH_TEAM_STRATEGIES.join(', ')}`);
  }
  // A prefix may end in a space ("Team "), so it is not trimmed; an all-blank one would match every group.
  const rawPrefix = source[SETTING.graphTeamGroupPrefix];
  const groupPrefix = rawPrefix === undefined || rawPrefix === '' ? 'team-' : rawPrefix;
  if (groupPrefix.trim() === '') problems.push(`${SETTING.graphTeamGroupPrefix}: the group name prefix must not be blank`);

  const overridesFile = text(SETTING.directoryOverridesFile);
  const baseUrl = text(SETTING.graphBaseUrl).replace(/\/+$/, '');
  if (baseUrl !== '') {
    const url = serviceUrl(SETTING.graphBaseUrl, baseUrl, problems);
    if (url !== undefined && url.pathname !== '/' && url.pathname !== '') problems.push(`${SETTING.graphBaseUrl}: "${baseUrl}" must be the Graph root, without /v1.0 or another path`);
  }

  const ttlText = text(SETTING.directoryCacheTtlHours) || '24';
  const cacheTtlHours = Number(ttlText);
  if (!/^\d+(\.\d+)?$/.test(ttlText) || !Number.isFinite(cacheTtlHours)) {
    problems.push(`${SETTING.directoryCacheTtlHours}: "${ttlText}" is not a number of hours (0 or more, e.g. 24 or 0.5)`);
  }

  return Object.freeze({
    kind: 'graph' as const,
    teamStrategy: strategy as GraphTeamStrategyName,
    groupPrefix,
    overridesFile: overridesFile === '' ? null : resolvePath(overridesFile),
    baseUrl: baseUrl === '' ? null : baseUrl,
    cacheTtlHours: Number.isFinite(cacheTtlHours) ? cacheTtlHours : 24,
  });
}

/**
 * Only what the directory commands need (directory source and table storage), so `directory show` works
 * without usage files or mail settings. Problems are reported like loadSettings does.
 */
export function loadDirectorySettings(source: SettingsSource, options: { projectRoot: string }): Pick<Settings, 'directory' | 'storage'> {
  const problems: string[] = [];
  const directory = readDirectorySettings(source, problems, (value) => path.resolve(options.projectRoot, value));
  const tablePrefix = readTablePrefix(source, problems);
  const storage = readStorageSettings(source, tablePrefix, problems);
  throwIfProblems(problems);
  return Object.freeze({ directory, storage });
}

/**
 * Where usage comes from. `file`: exports of customMetrics/AppMetrics (the demo's default). `app-insights`:
 * the Logs query API, read with the composition root's one Azure credential.
 */
export type UsageSettings =
  | { readonly kind: 'file'; readonly files: readonly string[] }
  | {
      readonly kind: 'app-insights';
      readonly target: LogsQueryTarget;
      /** The table, namespace filter and metric mapping the queries use. */
      readonly query: AppInsightsQuerySettings;
      readonly maxConcurrency: number;
      /** The Logs query API root for sovereign clouds; null for the public cloud's default. */
      readonly endpoint: string | null;
    };

export interface IngestSettings {
  /** Complete days before today that every daily ingest reads again for late data. */
  readonly trailingDays: number;
  /** How many days back a daily ingest catches up days missed since the last successful run. */
  readonly maxCatchUpDays: number;
}

const WORKSPACE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i;
/** The service runs 5 queries per user at once and queues (then throttles) the rest. */
const MAX_LOGS_CONCURRENCY = 5;
/** App Insights keeps 90 days by default: a catch-up past it would read days that are gone. */
const MAX_CATCH_UP_DAYS = 90;

function readUsageSettings(source: SettingsSource, problems: string[], resolvePath: (value: string) => string, mapping: MetricMapping): UsageSettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const kind = text(SETTING.usageSource) || 'file';
  if (kind === 'file') {
    const files = (source[SETTING.usageFiles] ?? '')
      .split(/[;,]/)
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map(resolvePath);
    if (files.length === 0) problems.push(`${SETTING.usageFiles}: name at least one usage export file (.csv or .ndjson)`);
    return Object.freeze({ kind: 'file' as const, files: Object.freeze(files) });
  }
  if (kind !== 'app-insights') problems.push(`${SETTING.usageSource}: "${kind}" is not supported (expected "file" or "app-insights")`);

  const workspaceId = text(SETTING.appInsightsWorkspaceId);
  const resourceId = text(SETTING.appInsightsResourceId);
  if (workspaceId === '' && resourceId === '') {
    problems.push(`${SETTING.appInsightsWorkspaceId} or ${SETTING.appInsightsResourceId}: name the Log Analytics workspace (its id) or the Application Insights resource (its resource id)`);
  } else if (workspaceId !== '' && resourceId !== '') {
    problems.push(`${SETTING.appInsightsWorkspaceId} and ${SETTING.appInsightsResourceId} are both set: set only one`);
  }
  if (workspaceId !== '' && !WORKSPACE_ID.test(workspaceId)) problems.push(`${SETTING.appInsightsWorkspaceId}: "${workspaceId}" is not a workspace id (a GUID)`);
  if (resourceId !== '' && !RESOURCE_ID.test(resourceId)) {
    problems.push(`${SETTING.appInsightsResourceId}: "${resourceId}" is not a resource id (/subscriptions/.../resourceGroups/.../providers/microsoft.insights/components/...)`);
  }
  const target: LogsQueryTarget = workspaceId !== '' ? { kind: 'workspace', workspaceId } : { kind: 'resource', resourceId };

  // A workspace holds AppMetrics; an App Insights resource answers customMetrics. Either can be set explicitly.
  const mode = text(SETTING.appInsightsMode) || (target.kind === 'workspace' ? 'workspace' : 'classic');
  if (mode !== 'classic' && mode !== 'workspace') problems.push(`${SETTING.appInsightsMode}: "${mode}" is neither classic (customMetrics) nor workspace (AppMetrics)`);

  // Unset means the gateway guide's namespace; set but empty means every namespace.
  const rawNamespace = source[SETTING.metricNamespace];
  const metricNamespace = rawNamespace === undefined ? 'claudecode' : rawNamespace.trim() === '' ? null : rawNamespace.trim();
  const namespaceProperty = text(SETTING.metricNamespaceProperty) || DEFAULT_NAMESPACE_PROPERTY;
  const query: AppInsightsQuerySettings = { ...mapping, mode: mode as UsageTableMode, metricNamespace, namespaceProperty };
  if (mode === 'classic' || mode === 'workspace') problems.push(...usageQuerySettingsProblems(query).map((p) => `usage query: ${p}`));

  const maxConcurrency = integerSetting(source, SETTING.logsMaxConcurrency, 3, 1, MAX_LOGS_CONCURRENCY, problems);
  const endpoint = text(SETTING.logsEndpoint).replace(/\/+$/, '');
  if (endpoint !== '') serviceUrl(SETTING.logsEndpoint, endpoint, problems);
  return Object.freeze({
    kind: 'app-insights' as const,
    target: Object.freeze(target),
    query: Object.freeze(query),
    maxConcurrency,
    endpoint: endpoint === '' ? null : endpoint,
  });
}

function readIngestSettings(source: SettingsSource, problems: string[]): IngestSettings {
  const trailingDays = integerSetting(source, SETTING.ingestTrailingDays, 3, 1, 31, problems);
  const maxCatchUpDays = integerSetting(source, SETTING.ingestMaxCatchUpDays, 31, 1, MAX_CATCH_UP_DAYS, problems);
  if (maxCatchUpDays < trailingDays) {
    problems.push(`${SETTING.ingestMaxCatchUpDays}: ${maxCatchUpDays} is shorter than ${SETTING.ingestTrailingDays} (${trailingDays})`);
  }
  return Object.freeze({ trailingDays, maxCatchUpDays });
}

function readCloseControlSettings(source: SettingsSource, problems: string[], list: (name: string) => string[]): CloseControlSettings {
  const operatorRecipients = list(SETTING.operatorRecipients);
  for (const address of operatorRecipients) {
    if (!MAIL.test(address)) problems.push(`${SETTING.operatorRecipients}: "${address}" is not a mail address`);
  }
  const defaults = DEFAULT_CLOSE_CONTROL_LIMITS;
  const percent = (name: string, fallback: number, max: number) => decimalSetting(source, name, fallback * 100, 0, max, problems) / 100;
  return Object.freeze({
    limits: Object.freeze({
      maxRejectRatio: percent(SETTING.closeMaxRejectPercent, defaults.maxRejectRatio, 100),
      totalTokensTolerance: percent(SETTING.closeTotalTokensTolerancePercent, defaults.totalTokensTolerance, 100),
      monthChangeWarnRatio: percent(SETTING.closeWarnMonthChangePercent, defaults.monthChangeWarnRatio, 10_000),
      teamGrowthWarnFactor: decimalSetting(source, SETTING.closeWarnTeamGrowthFactor, defaults.teamGrowthWarnFactor, 1, 1000, problems),
    }),
    operatorRecipients: Object.freeze(operatorRecipients),
    leaseSeconds: integerSetting(source, SETTING.closeLeaseSeconds, 120, 10, 3600, problems),
  });
}

/** A plain decimal number (no sign, exponent or hex) within [min, max]. */
function decimalSetting(source: SettingsSource, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = source[name]?.trim() ?? '';
  if (raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
    problems.push(`${name}: "${raw}" must be a number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

function integerSetting(source: SettingsSource, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = source[name]?.trim() ?? '';
  if (raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    problems.push(`${name}: "${raw}" must be a whole number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

/**
 * Only what reading usage needs (time zone, usage source, metric mapping), so `usage` and `doctor` work
 * without a directory, storage or mail settings. Problems are reported like loadSettings does.
 */
export function loadUsageSettings(source: SettingsSource, options: { projectRoot: string }): Pick<Settings, 'timeZone' | 'usage' | 'metricMapping'> {
  const problems: string[] = [];
  const timeZone = readTimeZone(source, problems);
  const metricMapping = readMetricMapping(source, problems);
  const usage = readUsageSettings(source, problems, (value) => path.resolve(options.projectRoot, value), metricMapping);
  throwIfProblems(problems);
  return Object.freeze({ timeZone, usage, metricMapping });
}

/**
 * The cost lookup API. Without AUTH_TENANT_ID the HTTP functions answer 500 (not configured) rather than
 * trusting any token; the local `serve` command brings its own signing key instead.
 */
export interface ApiSettings {
  /** The Entra tenant whose tokens are accepted (a GUID), or null when the API is not configured. */
  readonly tenantId: string | null;
  /** The API's client id and/or application ID URI, as tokens carry them in `aud`. */
  readonly audiences: readonly string[];
  readonly financeRole: string;
  /** When set, a team lead must also hold this app role to see their team in full. */
  readonly leadRole: string | null;
  /** How long team-month reads are kept in memory; 0 disables the cache. */
  readonly cacheTtlSeconds: number;
  /** Deadline of each storage or directory call the API makes; past it the request answers 503 (retryable). */
  readonly callTimeoutMs: number;
}

const TENANT_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readApiSettings(source: SettingsSource, problems: string[]): ApiSettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const tenantId = text(SETTING.authTenantId);
  if (tenantId !== '' && !TENANT_GUID.test(tenantId)) problems.push(`${SETTING.authTenantId}: "${tenantId}" is not a tenant id (a GUID)`);
  const audiences = text(SETTING.authAudience)
    .split(/[;,]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (tenantId !== '' && audiences.length === 0) problems.push(`${SETTING.authAudience}: name the API's client id or application ID URI (api://...) that tokens are issued for`);
  return Object.freeze({
    tenantId: tenantId === '' ? null : tenantId.toLowerCase(),
    audiences: Object.freeze(audiences),
    financeRole: text(SETTING.authFinanceRole) || 'Chargeback.Finance',
    leadRole: text(SETTING.authLeadRole) || null,
    cacheTtlSeconds: integerSetting(source, SETTING.costCacheTtlSeconds, 60, 0, 3600, problems),
    callTimeoutMs: integerSetting(source, SETTING.costCallTimeoutMs, 5000, 100, 60000, problems),
  });
}

// ---------------------------------------------------------------------------------------------------------
// The cost page's sign-in (functions/http-web.ts). Read on its own, not part of Settings: the page needs the
// tenant and the app registration only, never storage or mail.

/** What the page's MSAL sign-in needs; `null` fields mean the page cannot sign anyone in (it says so). */
export interface WebSignInSettings {
  readonly tenantId: string | null;
  /** The SPA's client id: the API's own app registration (WEB_CLIENT_ID, else the GUID in AUTH_AUDIENCE). */
  readonly clientId: string | null;
  /** The scope the page asks tokens for (WEB_API_SCOPE, else `<application ID URI>/Costs.Read`). */
  readonly apiScope: string | null;
}

export function loadWebSignInSettings(source: SettingsSource): WebSignInSettings {
  const problems: string[] = [];
  const api = readApiSettings(source, problems);
  const text = (name: string) => source[name]?.trim() ?? '';
  const clientId = text(SETTING.webClientId) || api.audiences.find((audience) => TENANT_GUID.test(audience)) || null;
  if (clientId !== null && !TENANT_GUID.test(clientId)) problems.push(`${SETTING.webClientId}: "${clientId}" is not an application (client) id (a GUID)`);
  throwIfProblems(problems);
  const identifierUri = api.audiences.find((audience) => audience.startsWith('api://')) ?? (clientId === null ? null : `api://${clientId}`);
  const apiScope = text(SETTING.webApiScope) || (identifierUri === null ? null : `${identifierUri.replace(/\/+$/, '')}/Costs.Read`);
  return Object.freeze({ tenantId: api.tenantId, clientId: clientId?.toLowerCase() ?? null, apiScope });
}

/**
 * Budgets and alerts. Without BUDGETS_FILE no team has a budget and no budget alert fires; finance alerts
 * (unpriced models, unallocated usage) still go to FINANCE_RECIPIENTS.
 */
export interface BudgetSettings {
  readonly file: string | null;
  /** Copy finance on the team leads' budget alerts (default true). */
  readonly ccFinance: boolean;
  /** A Microsoft Teams incoming (or Workflows) webhook that gets every alert as an Adaptive Card. */
  readonly teamsWebhookUrl: string | null;
  /** Where an alert tells a lead to look the numbers up; {teamId} and {month} are filled in. */
  readonly costLookupUrl: string | null;
  /** Levels (percent of the month's tokens) of unallocated usage that alert finance, once each per month. */
  readonly unallocatedAlertPercents: readonly number[];
  /** Budget actions: block a team's callers at the gateway from this percent of its budget; null: off. */
  readonly blockAtPercent: number | null;
  /** The APIM named value (resource id) the gateway policy reads the blocked oids from. */
  readonly blockListNamedValueId: string | null;
}

function readBudgetSettings(source: SettingsSource, problems: string[], resolvePath: (value: string) => string): BudgetSettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const file = text(SETTING.budgetsFile);
  const cc = text(SETTING.alertCcFinance).toLowerCase();
  if (cc !== '' && !['true', 'false', '1', '0', 'yes', 'no'].includes(cc)) problems.push(`${SETTING.alertCcFinance}: "${cc}" is not true or false`);
  const httpsUrl = (name: string): string | null => {
    const value = text(name);
    if (value === '') return null;
    try {
      if (new URL(value.replaceAll('{teamId}', 'team').replaceAll('{month}', '2026-01')).protocol === 'https:') return value;
    } catch {
      // reported below
    }
    problems.push(`${name}: must be an https:// URL`);
    return null;
  };
  const levels: number[] = [];
  const rawLevels = source[SETTING.unallocatedAlertPercents];
  for (const item of (rawLevels === undefined ? '10;25;50' : rawLevels).split(/[;,]/).map((part) => part.trim()).filter((part) => part !== '')) {
    const level = Number(item);
    if (!Number.isInteger(level) || level < 1 || level > 100) problems.push(`${SETTING.unallocatedAlertPercents}: "${item}" is not a whole percentage from 1 to 100`);
    else if (!levels.includes(level)) levels.push(level);
  }
  const blockAt = text(SETTING.budgetBlockAtPercent);
  const blockListId = text(SETTING.gatewayBlockedOidsNamedValueId);
  if (blockAt !== '' && (!/^\d+$/.test(blockAt) || Number(blockAt) < 1 || Number(blockAt) > 1000)) problems.push(`${SETTING.budgetBlockAtPercent}: "${blockAt}" is not a whole percentage from 1 to 1000`);
  if ((blockAt === '') !== (blockListId === '')) problems.push(`${SETTING.budgetBlockAtPercent} and ${SETTING.gatewayBlockedOidsNamedValueId} go together: set both for budget actions, or neither`);
  return Object.freeze({
    blockAtPercent: blockAt === '' || blockListId === '' ? null : Number(blockAt),
    blockListNamedValueId: blockAt === '' || blockListId === '' ? null : blockListId,
    file: file === '' ? null : resolvePath(file),
    ccFinance: !['false', '0', 'no'].includes(cc),
    teamsWebhookUrl: httpsUrl(SETTING.teamsWebhookUrl),
    costLookupUrl: httpsUrl(SETTING.costLookupUrl),
    unallocatedAlertPercents: Object.freeze(levels.sort((a, b) => a - b)),
  });
}
