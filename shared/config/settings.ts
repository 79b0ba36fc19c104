import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_CLOSE_CONTROL_LIMITS, type CloseControlLimits } from '../domain/close-controls.js';
import { AppError } from '../domain/errors.js';
import { DEFAULT_METRIC_MAPPING, metricMappingProblems, type MetricMapping } from '../domain/metric-mapping.js';
import { isTokenKind, type TokenKind } from '../domain/tokens.js';
import { billingOf, billingSections, type BillingSettings } from './billing-settings.js';
import { artifactSections, artifactsOf, type ArtifactSettings } from './artifact-settings.js';
import { workQueueSections, workQueuesOf, type WorkQueueSettings } from './work-queue-settings.js';
import {
  boundedDecimal,
  decimal,
  filePath,
  optionalFilePath,
  GUID,
  httpsUrl,
  integer,
  list,
  MAIL_ADDRESS,
  mailAddress,
  mailAddresses,
  matching,
  oneOf,
  optionalText,
  percentages,
  problem,
  requiredText,
  serviceRoot,
  text,
  timeZone,
  verbatim,
  yesNo,
} from './setting-kinds.js';
import { DEFAULT_NAMESPACE_PROPERTY, USAGE_TABLE_MODES, usageQuerySettingsProblems, type AppInsightsQuerySettings, type LogsQueryTarget, type UsageTableMode } from './usage-query.js';

/**
 * Every setting the product reads, validated once against one schema (zod). Values come from app settings
 * in Azure (environment variables) or from the command line, which maps its options onto the same names.
 *
 * How it is built: SECTIONS below holds one schema per part of the settings, each an object whose keys are
 * the settings' names (a choice of source is a discriminated union on its setting). Every problem of every
 * section is collected and reported at once, each under its setting's name (and the command-line flag that
 * set it). `assemble` then turns the parsed values into the frozen `Settings` the composition root reads.
 * Adding a setting: its name in SETTING, one line in its section (setting-kinds.ts has the kinds), its
 * field in the interface, and a row in local.settings.sample.json and the README (a test checks both).
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
  /** Where the close takes the month's usage from (docs/close-from-daily.md). */
  readonly closeUsageFrom: CloseUsageFrom;
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
  /** Where a close's work items are queued and how many a local run works on at once (work-queue-settings.ts). */
  readonly workQueues: WorkQueueSettings;
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

export type MailTransport = 'outbox' | 'smtp' | 'graph';

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

/** Set by the command line: which flag gave a setting its value, so a problem names the flag too. */
export const COMMAND_LINE_FLAGS: unique symbol = Symbol('command-line flags');

export type SettingsSource = Readonly<Record<string, string | undefined>> & { readonly [COMMAND_LINE_FLAGS]?: Readonly<Record<string, string>> };

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
  // Where the close reads the month (docs/close-from-daily.md): the stored daily rollups or the usage source.
  closeUsageFrom: 'CLOSE_USAGE_FROM',
} as const;

/** daily-rollups: the close builds the month from the days the ingest stored (the ingest is the only reader of the source). */
export type CloseUsageFrom = 'daily-rollups' | 'usage-source';
export const CLOSE_USAGE_FROM_CHOICES: readonly CloseUsageFrom[] = ['daily-rollups', 'usage-source'];

/**
 * The connection the close's queue triggers name (`connection: 'WorkQueues'`): a connection string locally,
 * and in Azure the identity-based settings under this prefix (WorkQueues__queueServiceUri, __credential,
 * __clientId; docs/fan-out.md).
 */
export const WORK_QUEUES_CONNECTION = 'WorkQueues';

/**
 * Settings the Functions host reads itself (the worker runtime, its own storage, the timers' schedules as
 * `%NAME%` bindings): never read by this code, but part of what an operator sets and the docs list.
 */
export const HOST_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage', 'MONTHLY_CLOSE_SCHEDULE', 'DAILY_INGEST_SCHEDULE', 'HOURLY_INGEST_SCHEDULE', WORK_QUEUES_CONNECTION] as const;

const S = SETTING;
const TABLE_PREFIX = /^[A-Za-z][A-Za-z0-9]{0,29}$/;
const RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i;
/** The service runs 5 queries per user at once and queues (then throttles) the rest. */
const MAX_LOGS_CONCURRENCY = 5;
/** App Insights keeps 90 days by default: a catch-up past it would read days that are gone. */
const MAX_CATCH_UP_DAYS = 90;

/** A source whose setting is unset (or blank) takes its default, so the union can tell the branches apart. */
function withChoice<const Name extends string>(name: Name, choices: readonly string[], fallback: string, describe: (value: string) => string) {
  return { name, fallback, error: (issue: { input?: unknown }) => describe(String((issue.input as Record<string, unknown> | undefined)?.[name])), choices };
}

const USAGE_SOURCE = withChoice(S.usageSource, ['file', 'app-insights'], 'file', (value) => `"${value}" is not supported (expected "file" or "app-insights")`);
const DIRECTORY_SOURCE = withChoice(S.directorySource, ['file', 'graph'], 'file', (value) => `"${value}" is not supported (expected "file" or "graph")`);
const MAIL_TRANSPORT = withChoice(S.mailTransport, ['outbox', 'smtp', 'graph'], 'outbox', (value) => `"${value}" is not one of outbox, smtp, graph`);
const CHOICES = [USAGE_SOURCE, DIRECTORY_SOURCE, MAIL_TRANSPORT];

/** The Graph root, for the directory and for mail alike: https (or localhost), without /v1.0. */
const graphRoot = () => serviceRoot({ rootOnly: true, describe: 'the Graph root' });

/** METRIC_TOKEN_KINDS: "Prompt Tokens=input;Completion Tokens=output;Cache Read Tokens=cacheRead". */
function tokenKinds() {
  return verbatim().transform((value, ctx) => {
    const raw = value?.trim();
    if (!raw) return { ...DEFAULT_METRIC_MAPPING.tokenKinds };
    const kinds: Record<string, TokenKind> = {};
    for (const pair of raw.split(';').filter((part) => part.trim() !== '')) {
      const [name, kind] = pair.split('=').map((part) => part.trim());
      if (!name || !kind || !isTokenKind(kind)) problem(ctx, pair, `"${pair}" is not "Metric Name=tokenKind"`);
      else kinds[name] = kind;
    }
    return kinds;
  });
}

/**
 * Every part of the settings, by what it configures. The keys of each object are the settings' names.
 * `mapping` is the parsed metric mapping, which the App Insights query settings are checked with.
 */
function sections(projectRoot: string, mapping: MetricMapping | null) {
  return {
    time: z.object({ [S.timeZone]: timeZone() }),
    general: z.object({
      [S.priceBookFile]: filePath(projectRoot, 'data/price-book.json'),
      [S.artifactsDir]: filePath(projectRoot, 'out/reports'),
      [S.monthlyCloseGraceDays]: integer(2, 0, 27),
      [S.closeUsageFrom]: oneOf(CLOSE_USAGE_FROM_CHOICES, 'daily-rollups'),
    }),
    metricMapping: z
      .object({
        [S.metricTokenKinds]: tokenKinds(),
        // Unset means the gateway's "Total Tokens"; set but empty means the gateway sends no total.
        [S.metricTotal]: verbatim().transform((value) => (value === undefined ? DEFAULT_METRIC_MAPPING.totalTokensMetric : value.trim() === '' ? null : value.trim())),
        [S.metricRequests]: text(DEFAULT_METRIC_MAPPING.requestCountMetric),
        [S.dimensionUserId]: text(DEFAULT_METRIC_MAPPING.dimensions.userId),
        [S.dimensionModel]: text(DEFAULT_METRIC_MAPPING.dimensions.model),
        [S.dimensionTier]: text(DEFAULT_METRIC_MAPPING.dimensions.tier),
      })
      .check((ctx) => {
        for (const message of metricMappingProblems(metricMappingOf(ctx.value))) problem(ctx, ctx.value, `metric mapping: ${message}`);
      }),
    usage: z.discriminatedUnion(
      S.usageSource,
      [
        z.object({
          [S.usageSource]: z.literal('file'),
          [S.usageFiles]: list().transform((files, ctx) => {
            if (files.length === 0) problem(ctx, files, 'name at least one usage export file (.csv or .ndjson)');
            return files.map((file) => path.resolve(projectRoot, file));
          }),
        }),
        z
          .object({
            [S.usageSource]: z.literal('app-insights'),
            [S.appInsightsWorkspaceId]: matching(GUID, 'is not a workspace id (a GUID)'),
            [S.appInsightsResourceId]: matching(RESOURCE_ID, 'is not a resource id (/subscriptions/.../resourceGroups/.../providers/microsoft.insights/components/...)'),
            // A workspace holds AppMetrics; an App Insights resource answers customMetrics. Either can be set explicitly.
            // Null when unset; undefined when unusable (reported here, so the query checks skip it).
            [S.appInsightsMode]: optionalText().transform((mode, ctx) => {
              if (mode === null || (USAGE_TABLE_MODES as readonly string[]).includes(mode)) return mode as UsageTableMode | null;
              problem(ctx, mode, `"${mode}" is neither classic (customMetrics) nor workspace (AppMetrics)`);
              return undefined;
            }),
            // Unset means the gateway guide's namespace; set but empty means every namespace.
            [S.metricNamespace]: verbatim().transform((value) => (value === undefined ? 'claudecode' : value.trim() === '' ? null : value.trim())),
            [S.metricNamespaceProperty]: text(DEFAULT_NAMESPACE_PROPERTY),
            [S.logsMaxConcurrency]: integer(3, 1, MAX_LOGS_CONCURRENCY),
            [S.logsEndpoint]: serviceRoot({ rootOnly: false }),
          })
          .check((ctx) => {
            const workspace = ctx.value[S.appInsightsWorkspaceId];
            const resource = ctx.value[S.appInsightsResourceId];
            if (workspace === null && resource === null) {
              problem(
                ctx,
                null,
                `${S.appInsightsWorkspaceId} or ${S.appInsightsResourceId}: name the Log Analytics workspace (its id) or the Application Insights resource (its resource id)`,
              );
            } else if (workspace !== null && resource !== null) {
              problem(ctx, null, `${S.appInsightsWorkspaceId} and ${S.appInsightsResourceId} are both set: set only one`);
            }
            // The query builder's own checks, on the settings as the queries would use them.
            if (mapping !== null && ctx.value[S.appInsightsMode] !== undefined) for (const message of usageQuerySettingsProblems(appInsightsQueryOf(ctx.value, mapping))) problem(ctx, null, `usage query: ${message}`);
          }),
      ],
      { error: USAGE_SOURCE.error },
    ),
    ingest: z
      .object({
        [S.ingestTrailingDays]: integer(3, 1, 31),
        [S.ingestMaxCatchUpDays]: integer(31, 1, MAX_CATCH_UP_DAYS),
      })
      .check((ctx) => {
        const trailing = ctx.value[S.ingestTrailingDays];
        const catchUp = ctx.value[S.ingestMaxCatchUpDays];
        if (catchUp < trailing) ctx.issues.push({ code: 'custom', path: [S.ingestMaxCatchUpDays], message: `${catchUp} is shorter than ${S.ingestTrailingDays} (${trailing})`, input: catchUp, continue: true });
      }),
    directory: z.discriminatedUnion(
      S.directorySource,
      [
        z.object({
          [S.directorySource]: z.literal('file'),
          [S.directoryFile]: requiredText('name the directory file (users to teams)').transform((file) => path.resolve(projectRoot, file)),
        }),
        z.object({
          [S.directorySource]: z.literal('graph'),
          [S.graphTeamStrategy]: oneOf(GRAPH_TEAM_STRATEGIES, 'group-prefix'),
          // A prefix may end in a space ("Team "), so it is not trimmed; an all-blank one would match every group.
          [S.graphTeamGroupPrefix]: verbatim().transform((value, ctx) => {
            const prefix = value === undefined || value === '' ? 'team-' : value;
            if (prefix.trim() === '') problem(ctx, value, 'the group name prefix must not be blank');
            return prefix;
          }),
          [S.directoryOverridesFile]: optionalFilePath(projectRoot),
          [S.graphBaseUrl]: graphRoot(),
          [S.directoryCacheTtlHours]: decimal(24, 'a number of hours (0 or more, e.g. 24 or 0.5)'),
        }),
      ],
      { error: DIRECTORY_SOURCE.error },
    ),
    storage: z.object({
      [S.storageConnection]: optionalText(),
      // An endpoint must be https: the identity's token travels with every request.
      [S.storageTableEndpoint]: matching(/^https:\/\/[^/\s]+\/?$/, 'must be an https table endpoint such as https://account.table.core.windows.net'),
      [S.tablePrefix]: matching(TABLE_PREFIX, 'must be 1-30 letters and digits, starting with a letter').transform((prefix) => prefix ?? 'chargeback'),
    }),
    mail: z.object({
      [S.mailFrom]: mailAddress('chargeback@contoso.example'),
      [S.financeRecipients]: mailAddresses(),
      [S.outboxDir]: filePath(projectRoot, 'out/outbox'),
      [S.mailMessagesPerMinute]: integer(30, 1, 10_000),
    }),
    mailTransport: z.discriminatedUnion(
      S.mailTransport,
      [
        z.object({ [S.mailTransport]: z.literal('outbox') }),
        z
          .object({
            [S.mailTransport]: z.literal('smtp'),
            [S.smtpHost]: requiredText(`name the SMTP server (e.g. smtp.office365.com) when ${S.mailTransport} is smtp`),
            [S.smtpPort]: integer(587, 1, 65_535),
            [S.smtpSecure]: yesNo(),
            [S.smtpRequireTls]: yesNo(),
            [S.smtpUser]: optionalText(),
            [S.smtpPassword]: verbatim().transform((value) => (value === undefined || value === '' ? null : value)),
          })
          .check((ctx) => {
            if ((ctx.value[S.smtpUser] === null) !== (ctx.value[S.smtpPassword] === null)) problem(ctx, null, `${S.smtpUser} and ${S.smtpPassword}: set both or neither`);
          }),
        z.object({
          [S.mailTransport]: z.literal('graph'),
          [S.mailSenderMailbox]: requiredText(`name the mailbox Graph sends as (its UPN or object id) when ${S.mailTransport} is graph`).transform((mailbox, ctx) => {
            if (mailbox !== '' && !MAIL_ADDRESS.test(mailbox) && !GUID.test(mailbox)) problem(ctx, mailbox, `"${mailbox}" is neither a UPN nor an object id`);
            return mailbox;
          }),
          [S.graphBaseUrl]: graphRoot(),
        }),
      ],
      { error: MAIL_TRANSPORT.error },
    ),
    api: z
      .object({
        [S.authTenantId]: matching(GUID, 'is not a tenant id (a GUID)').transform((tenant) => tenant?.toLowerCase() ?? null),
        [S.authAudience]: list(),
        [S.authFinanceRole]: text('Chargeback.Finance'),
        [S.authLeadRole]: optionalText(),
        [S.costCacheTtlSeconds]: integer(60, 0, 3600),
        [S.costCallTimeoutMs]: integer(5000, 100, 60_000),
      })
      .check((ctx) => {
        if (ctx.value[S.authTenantId] !== null && ctx.value[S.authAudience].length === 0) {
          ctx.issues.push({ code: 'custom', path: [S.authAudience], message: "name the API's client id or application ID URI (api://...) that tokens are issued for", input: '', continue: true });
        }
      }),
    budgets: z.object({
      [S.budgetsFile]: optionalFilePath(projectRoot),
      [S.alertCcFinance]: yesNo(),
      [S.teamsWebhookUrl]: httpsUrl(),
      [S.costLookupUrl]: httpsUrl({ teamId: 'team', month: '2026-01' }),
      [S.unallocatedAlertPercents]: percentages('10;25;50'),
      [S.budgetBlockAtPercent]: verbatim().transform((value, ctx) => {
        const level = value?.trim() ?? '';
        if (level === '') return null;
        if (!/^\d+$/.test(level) || Number(level) < 1 || Number(level) > 1000) {
          problem(ctx, level, `"${level}" is not a whole percentage from 1 to 1000`);
          // Set, though wrong: still counts as set for the pairing below (the problem stops the start).
          return Number.NaN;
        }
        return Number(level);
      }),
      [S.gatewayBlockedOidsNamedValueId]: optionalText(),
    }).check((ctx) => {
      if ((ctx.value[S.budgetBlockAtPercent] === null) !== (ctx.value[S.gatewayBlockedOidsNamedValueId] === null)) {
        problem(ctx, null, `${S.budgetBlockAtPercent} and ${S.gatewayBlockedOidsNamedValueId} go together: set both for budget actions, or neither`);
      }
    }),
    closeControls: z.object({
      [S.operatorRecipients]: mailAddresses(),
      // Percentages in the settings, ratios in the domain.
      [S.closeMaxRejectPercent]: boundedDecimal(DEFAULT_CLOSE_CONTROL_LIMITS.maxRejectRatio * 100, 0, 100),
      [S.closeTotalTokensTolerancePercent]: boundedDecimal(DEFAULT_CLOSE_CONTROL_LIMITS.totalTokensTolerance * 100, 0, 100),
      [S.closeWarnMonthChangePercent]: boundedDecimal(DEFAULT_CLOSE_CONTROL_LIMITS.monthChangeWarnRatio * 100, 0, 10_000),
      [S.closeWarnTeamGrowthFactor]: boundedDecimal(DEFAULT_CLOSE_CONTROL_LIMITS.teamGrowthWarnFactor, 1, 1000),
      [S.closeLeaseSeconds]: integer(120, 10, 3600),
    }),
    web: z.object({
      [S.webClientId]: matching(GUID, 'is not an application (client) id (a GUID)'),
      [S.webApiScope]: optionalText(),
    }),
    ...billingSections(projectRoot),
    ...artifactSections(),
    ...workQueueSections(),
  };
}

type Sections = ReturnType<typeof sections>;
type SectionName = keyof Sections;
type Parsed<N extends SectionName> = z.output<Sections[N]>;
type AppInsightsValues = Extract<Parsed<'usage'>, { [S.usageSource]: 'app-insights' }>;

function appInsightsQueryOf(values: AppInsightsValues, mapping: MetricMapping): AppInsightsQuerySettings {
  const mode = values[S.appInsightsMode] ?? (values[S.appInsightsWorkspaceId] !== null ? 'workspace' : 'classic');
  return { ...mapping, mode, metricNamespace: values[S.metricNamespace], namespaceProperty: values[S.metricNamespaceProperty] };
}

function metricMappingOf(values: Parsed<'metricMapping'>): MetricMapping {
  return {
    tokenKinds: values[S.metricTokenKinds],
    totalTokensMetric: values[S.metricTotal],
    requestCountMetric: values[S.metricRequests],
    dimensions: { userId: values[S.dimensionUserId], model: values[S.dimensionModel], tier: values[S.dimensionTier] },
  };
}

/** Every setting name the schema reads, and the host's own: what the sample settings and the README must list. */
export function settingNames(): string[] {
  const names = new Set<string>(HOST_SETTINGS);
  for (const section of Object.values(sections('/', null))) {
    // A section whose values are assembled in the schema (billingLocation) is a pipe from its object.
    const schema: unknown = section instanceof z.ZodPipe ? section.in : section;
    const objects: z.ZodObject[] = schema instanceof z.ZodDiscriminatedUnion ? (schema.options as z.ZodObject[]) : [schema as z.ZodObject];
    for (const object of objects) for (const name of Object.keys(object.shape)) names.add(name);
  }
  return [...names];
}

/**
 * Parses the named sections of the settings, collecting every problem of all of them before failing, each
 * as "SETTING (--flag): what is wrong".
 */
function parseSections<const N extends SectionName>(source: SettingsSource, names: readonly N[], projectRoot: string, problems: string[]): { [K in N]: Parsed<K> } {
  const flags = source[COMMAND_LINE_FLAGS] ?? {};
  const input: Record<string, string | undefined> = { ...source };
  for (const choice of CHOICES) input[choice.name] = input[choice.name]?.trim() || choice.fallback;
  const mapping = sections(projectRoot, null).metricMapping.safeParse(input);
  const all = sections(projectRoot, mapping.success ? metricMappingOf(mapping.data) : null);
  const parsed: Partial<{ [K in N]: Parsed<K> }> = {};
  for (const name of names) {
    const result = all[name].safeParse(input);
    if (result.success) parsed[name] = result.data as Parsed<N>;
    else {
      for (const issue of result.error.issues) {
        const setting = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
        const flag = setting === undefined ? undefined : flags[setting];
        const line = setting === undefined ? issue.message : `${setting}${flag === undefined ? '' : ` (${flag})`}: ${issue.message}`;
        if (!problems.includes(line)) problems.push(line);
      }
    }
  }
  return parsed as { [K in N]: Parsed<K> };
}

/** Every problem is reported at once, so one deployment fixes them all. */
function throwIfProblems(problems: readonly string[]): void {
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `the settings have ${problems.length} problem(s)`, { details: problems });
  }
}

function usageOf(values: Parsed<'usage'>, mapping: MetricMapping): UsageSettings {
  if (values.USAGE_SOURCE === 'file') return Object.freeze({ kind: 'file' as const, files: Object.freeze(values[S.usageFiles]) });
  const workspaceId = values[S.appInsightsWorkspaceId];
  const target: LogsQueryTarget = workspaceId !== null ? { kind: 'workspace', workspaceId } : { kind: 'resource', resourceId: values[S.appInsightsResourceId] ?? '' };
  return Object.freeze({
    kind: 'app-insights' as const,
    target: Object.freeze(target),
    query: Object.freeze(appInsightsQueryOf(values, mapping)),
    maxConcurrency: values[S.logsMaxConcurrency],
    endpoint: values[S.logsEndpoint],
  });
}

function directoryOf(values: Parsed<'directory'>): DirectorySettings {
  if (values.DIRECTORY_SOURCE === 'file') return Object.freeze({ kind: 'file' as const, path: values[S.directoryFile] });
  return Object.freeze({
    kind: 'graph' as const,
    teamStrategy: values[S.graphTeamStrategy],
    groupPrefix: values[S.graphTeamGroupPrefix],
    overridesFile: values[S.directoryOverridesFile],
    baseUrl: values[S.graphBaseUrl],
    cacheTtlHours: values[S.directoryCacheTtlHours],
  });
}

function storageOf(values: Parsed<'storage'>): StorageSettings {
  return Object.freeze({ connectionString: values[S.storageConnection], tableEndpoint: values[S.storageTableEndpoint], tablePrefix: values[S.tablePrefix] });
}

function mailOf(common: Parsed<'mail'>, transport: Parsed<'mailTransport'>): MailSettings {
  const shared = {
    outboxDir: common[S.outboxDir],
    from: common[S.mailFrom],
    financeRecipients: Object.freeze(common[S.financeRecipients]),
    messagesPerMinute: common[S.mailMessagesPerMinute],
  };
  switch (transport.MAIL_TRANSPORT) {
    case 'outbox':
      return Object.freeze({ ...shared, transport: 'outbox', smtp: null, senderMailbox: null, graphBaseUrl: null });
    case 'smtp': {
      const port = transport[S.smtpPort];
      const smtp: SmtpSettings = Object.freeze({
        host: transport[S.smtpHost],
        port,
        secure: transport[S.smtpSecure] ?? port === 465,
        requireTLS: transport[S.smtpRequireTls] ?? true,
        user: transport[S.smtpUser],
        password: transport[S.smtpPassword],
      });
      return Object.freeze({ ...shared, transport: 'smtp', smtp, senderMailbox: null, graphBaseUrl: null });
    }
    case 'graph':
      return Object.freeze({ ...shared, transport: 'graph', smtp: null, senderMailbox: transport[S.mailSenderMailbox], graphBaseUrl: transport[S.graphBaseUrl] });
  }
}

export function loadSettings(source: SettingsSource, options: { projectRoot: string }): Settings {
  const problems: string[] = [];
  const parsed = parseSections(
    source,
    ['time', 'metricMapping', 'usage', 'ingest', 'general', 'directory', 'storage', 'mail', 'mailTransport', 'api', 'budgets', 'closeControls', 'billingLocation', 'billing', 'artifactLocation', 'artifactMail', 'workQueues'],
    options.projectRoot,
    problems,
  );
  throwIfProblems(problems);
  const { time, general, metricMapping, usage, ingest, directory, storage, mail, mailTransport, api, budgets, closeControls, billingLocation, billing, artifactLocation, artifactMail, workQueues } = parsed;
  return Object.freeze({
    timeZone: time[S.timeZone],
    usage: usageOf(usage, metricMappingOf(metricMapping)),
    metricMapping: Object.freeze(metricMappingOf(metricMapping)),
    ingest: Object.freeze({ trailingDays: ingest[S.ingestTrailingDays], maxCatchUpDays: ingest[S.ingestMaxCatchUpDays] }),
    directory: directoryOf(directory),
    priceBookPath: general[S.priceBookFile],
    storage: storageOf(storage),
    mail: mailOf(mail, mailTransport),
    artifactsDir: general[S.artifactsDir],
    monthlyClose: Object.freeze({ graceDays: general[S.monthlyCloseGraceDays] }),
    closeUsageFrom: general[S.closeUsageFrom],
    closeControls: Object.freeze({
      limits: Object.freeze({
        maxRejectRatio: closeControls[S.closeMaxRejectPercent] / 100,
        totalTokensTolerance: closeControls[S.closeTotalTokensTolerancePercent] / 100,
        monthChangeWarnRatio: closeControls[S.closeWarnMonthChangePercent] / 100,
        teamGrowthWarnFactor: closeControls[S.closeWarnTeamGrowthFactor],
      }),
      operatorRecipients: Object.freeze(closeControls[S.operatorRecipients]),
      leaseSeconds: closeControls[S.closeLeaseSeconds],
    }),
    api: Object.freeze({
      tenantId: api[S.authTenantId],
      audiences: Object.freeze(api[S.authAudience]),
      financeRole: api[S.authFinanceRole],
      leadRole: api[S.authLeadRole],
      cacheTtlSeconds: api[S.costCacheTtlSeconds],
      callTimeoutMs: api[S.costCallTimeoutMs],
    }),
    budgets: Object.freeze({
      file: budgets[S.budgetsFile],
      ccFinance: budgets[S.alertCcFinance] ?? true,
      teamsWebhookUrl: budgets[S.teamsWebhookUrl],
      costLookupUrl: budgets[S.costLookupUrl],
      unallocatedAlertPercents: Object.freeze(budgets[S.unallocatedAlertPercents]),
      // Budget actions are on only with both the level and the named value (a problem above otherwise).
      blockAtPercent: budgets[S.gatewayBlockedOidsNamedValueId] === null ? null : budgets[S.budgetBlockAtPercent],
      blockListNamedValueId: budgets[S.budgetBlockAtPercent] === null ? null : budgets[S.gatewayBlockedOidsNamedValueId],
    }),
    billing: billingOf(billingLocation, billing),
    artifacts: artifactsOf(artifactLocation, artifactMail),
    workQueues: workQueuesOf(workQueues),
  });
}

/**
 * Only what the directory commands need (directory source and table storage), so `directory show` works
 * without usage files or mail settings. Problems are reported like loadSettings does.
 */
export function loadDirectorySettings(source: SettingsSource, options: { projectRoot: string }): Pick<Settings, 'directory' | 'storage'> {
  const problems: string[] = [];
  const parsed = parseSections(source, ['directory', 'storage'], options.projectRoot, problems);
  throwIfProblems(problems);
  return Object.freeze({ directory: directoryOf(parsed.directory), storage: storageOf(parsed.storage) });
}

/**
 * Only what reading usage needs (time zone, usage source, metric mapping), so `usage` and `doctor` work
 * without a directory, storage or mail settings. Problems are reported like loadSettings does.
 */
export function loadUsageSettings(source: SettingsSource, options: { projectRoot: string }): Pick<Settings, 'timeZone' | 'usage' | 'metricMapping'> {
  const problems: string[] = [];
  const parsed = parseSections(source, ['time', 'metricMapping', 'usage'], options.projectRoot, problems);
  throwIfProblems(problems);
  const metricMapping = Object.freeze(metricMappingOf(parsed.metricMapping));
  return Object.freeze({ timeZone: parsed.time[S.timeZone], usage: usageOf(parsed.usage, metricMapping), metricMapping });
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
  const { api, web } = parseSections(source, ['api', 'web'], '/', problems);
  throwIfProblems(problems);
  const audiences = api[S.authAudience];
  const clientId = web[S.webClientId] ?? audiences.find((audience) => GUID.test(audience)) ?? null;
  const identifierUri = audiences.find((audience) => audience.startsWith('api://')) ?? (clientId === null ? null : `api://${clientId}`);
  const apiScope = web[S.webApiScope] ?? (identifierUri === null ? null : `${identifierUri.replace(/\/+$/, '')}/Costs.Read`);
  return Object.freeze({ tenantId: api[S.authTenantId], clientId: clientId?.toLowerCase() ?? null, apiScope });
}
