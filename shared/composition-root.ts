import path from 'node:path';
import { HtmlReportMails } from './adapters/reports/report-mails.js';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { CachedDirectory, TableDirectoryCacheStore } from './adapters/azure/cached-directory.js';
import { graphClientFor } from './adapters/azure/graph-client.js';
import { GraphDirectory, type TeamStrategy } from './adapters/azure/graph-directory.js';
import { TableCloseRegistry, TableDeliveryLedger } from './adapters/azure/table-ledger.js';
import { tableClientFor, tableClientWithCredential } from './adapters/azure/table-client.js';
import { TableLeases } from './adapters/azure/table-leases.js';
import { TableRollupStore } from './adapters/azure/table-rollup-store.js';
import { AppInsightsUsageSource, createLogsQueryPort } from './adapters/azure/app-insights-usage-source.js';
import { TableDailyRollupStore } from './adapters/azure/table-daily-rollup-store.js';
import { TableIngestRunLog } from './adapters/azure/table-ingest-runs.js';
import { AppInsightsDiscovery } from './adapters/azure/app-insights-discovery.js';
import { FileUsageDiscovery } from './adapters/local/file-usage-discovery.js';
import type { UsageDiscovery } from './ports/usage-discovery.js';
import { DirectoryArtifactStore } from './adapters/local/directory-artifacts.js';
import { BlobArtifactStore } from './adapters/azure/blob-artifacts.js';
import type { ArtifactStore } from './ports/artifacts.js';
import { loadDirectoryOverridesFile } from './adapters/local/directory-overrides-file.js';
import { FileDirectory } from './adapters/local/file-directory.js';
import { FilePriceBookSource } from './adapters/local/file-price-book.js';
import { FileUsageSource } from './adapters/local/file-usage-source.js';
import { expandUsageFilePatterns } from './adapters/local/usage-file-patterns.js';
import { OutboxMailer } from './adapters/local/outbox-mailer.js';
import { dryRunDeps } from './use-cases/dry-run.js';
import { GraphMailer } from './adapters/azure/graph-mailer.js';
import { PacedMailer } from './adapters/paced-mailer.js';
import { SmtpMailer } from './adapters/smtp-mailer.js';
import type { Mailer } from './ports/mailer.js';
import { ExcelReportRenderer } from './adapters/reports/excel-workbook.js';
import { FocusCsvExporter } from './adapters/reports/focus-csv.js';
import { PROJECT_ROOT } from './config/project-root.js';
import { loadSettings, loadWebSignInSettings, type DirectorySettings, type Settings, type SettingsSource, type StorageSettings } from './config/settings.js';
import { invocationScopedLogger } from './adapters/functions-logger.js';
import { consoleLogger } from './adapters/local/console-logger.js';
import type { TableClient } from '@azure/data-tables';
import { TableCloseProgress } from './adapters/azure/table-close-progress.js';
import type { CloseWorkDeps } from './use-cases/close-work.js';
import { AppError } from './domain/errors.js';
import type { Directory } from './ports/directory.js';
import type { Clock, Logger } from './ports/runtime.js';
import type { CloseMonthDeps } from './use-cases/close-month.js';
import type { UsageSource } from './ports/usage-source.js';
import type { IngestDailyDeps } from './use-cases/ingest-daily.js';
import { monthUsageFromDailyRollups } from './use-cases/month-from-daily.js';
import type { CostLookup } from './use-cases/lookup-costs.js';
import { cachedCostLookup } from './adapters/http/cached-cost-reads.js';
import type { AccessTokenVerifier } from './adapters/azure/entra-token-verifier.js';
import { accessTokenVerifierFor } from './adapters/http/access-tokens.js';
import { msalPageConfig, type WebPageConfig } from './adapters/http/web-app.js';
import { TableAlertLedger } from './adapters/azure/table-alert-ledger.js';
import { DailyStoreTeamSpendSource, PreferredSpendSource } from './adapters/daily-store-spend.js';
import { FileBudgetSource, noBudgets } from './adapters/local/file-budgets.js';
import { RollupTeamSpendSource } from './adapters/rollup-team-spend.js';
import { TeamsWebhookNotifier } from './adapters/teams-webhook.js';
import type { EvaluateBudgetsDeps } from './use-cases/evaluate-budgets.js';
import { ApimNamedValueBlockList } from './adapters/azure/apim-named-value-block-list.js';
import type { BudgetActionsDeps } from './use-cases/ingest-hourly.js';
import { BlobBilledCostSource } from './adapters/billing/blob-billed-cost-source.js';
import { FileBilledCostSource } from './adapters/billing/file-billed-cost-source.js';
import type { BilledCostSource } from './ports/billed-cost-source.js';
import { queueServiceFromConnectionString, queueServiceWithCredential, StorageWorkQueues } from './adapters/azure/storage-work-queues.js';
import { TableMailPacer } from './adapters/azure/table-mail-pacer.js';
import { drainWorkQueues, type DrainableWorkQueues, type DrainOptions, type DrainResult } from './adapters/local/queue-drain.js';
import type { MailPacer, WorkHandler, WorkQueueName, WorkQueues } from './ports/work-queues.js';

export interface Services {
  readonly settings: Settings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly closeMonth: CloseMonthDeps;
  readonly ingestDaily: IngestDailyDeps;
  readonly evaluateBudgets: EvaluateBudgetsDeps;
  /** Budget actions at the gateway (BUDGET_BLOCK_AT_PERCENT); absent when off. */
  readonly budgetActions?: BudgetActionsDeps;
  /** The team cost lookup behind the HTTP API (one per process: it holds the short-TTL read cache). */
  readonly costLookup: CostLookup;
  /** Checks the API's bearer tokens: Entra from AUTH_* settings, or the local signing key under `serve`. */
  readonly accessTokens: AccessTokenVerifier;
  /**
   * The queues a close fans its work items out on (docs/fan-out.md): WORK_QUEUES_URL / _CONNECTION_STRING, or
   * the local queue service the command line starts on first use; absent when neither is there.
   */
  readonly workQueues?: WorkQueues & DrainableWorkQueues;
  /** Runs handlers over the work queues with CLOSE_WORKERS workers until they are empty (local runs); with workQueues. */
  readonly drainWorkQueues?: (handlers: Partial<Record<WorkQueueName, WorkHandler>>, options?: LocalDrainOptions) => Promise<DrainResult>;
  /** Send slots of a mailbox shared by every worker and instance, at MAIL_MESSAGES_PER_MINUTE (table MailSlots). */
  readonly mailPacer: MailPacer;
  /** The close's work items (team, finance, mail) on Storage queues; absent when the close delivers inline. */
  readonly closeWork?: CloseWorkDeps;
}

/** What a local drain may set beyond the queues and handlers; workers default to CLOSE_WORKERS. */
export type LocalDrainOptions = Omit<DrainOptions, 'queues' | 'handlers' | 'workers'> & { readonly workers?: number };

export const systemClock: Clock = { now: () => new Date() };

/**
 * Clients for the product's tables: through the connection string when there is one (Azurite, local
 * runs), otherwise through the table endpoint with the managed identity (the deployed app).
 */
export function tableFactory(storage: StorageSettings, credential?: TokenCredential): (name: string) => TableClient {
  const { connectionString, tableEndpoint, tablePrefix } = storage;
  if (connectionString) return (name) => tableClientFor(connectionString, `${tablePrefix}${name}`);
  if (tableEndpoint) return (name) => tableClientWithCredential(tableEndpoint, `${tablePrefix}${name}`, credential ?? azureCredential());
  throw new AppError(
    'CONFIG_INVALID',
    'no table storage is configured: set STORAGE_TABLE_ENDPOINT (managed identity) or STORAGE_CONNECTION_STRING (the CLI starts Azurite itself when neither is set)',
  );
}

/**
 * The one place that turns settings into adapters and clients. The CLI and the Azure Functions triggers
 * both come through here, so they run the same use cases on the same wiring.
 */
export async function createServices(
  settings: Settings,
  runtime: {
    logger: Logger;
    clock?: Clock;
    accessTokens?: AccessTokenVerifier;
    credential?: TokenCredential;
    /** With no work queues configured: the connection string of a local queue service, started on the first call (the CLI's Azurite). */
    localWorkQueues?: () => Promise<string>;
    /**
     * Whether a close hands its workbooks and mails to work items on the queues (docs/fan-out.md). Default:
     * when work queues are configured (WORK_QUEUES_URL in Azure); the CLI's `close --workers N` asks for it.
     */
    fanOutClose?: boolean;
  },
): Promise<Services> {
  const clock = runtime.clock ?? systemClock;
  const credential = runtime.credential;
  const table = tableFactory(settings.storage, credential);
  const [rollups, closes, deliveries, leases, directory, dailyRollups, ingestRuns] = await Promise.all([
    TableRollupStore.create(table('Rollups')),
    TableCloseRegistry.create(table('Closes')),
    TableDeliveryLedger.create(table('Deliveries')),
    TableLeases.create(table('Leases'), { durationMs: settings.closeControls.leaseSeconds * 1000 }),
    createDirectory(settings, { clock, logger: runtime.logger, ...(credential ? { credential } : {}) }),
    TableDailyRollupStore.create(table('DailyRollups'), table('DailyTotals')),
    TableIngestRunLog.create(table('IngestRuns')),
  ]);
  const usageSource = createUsageSource(settings, credential ? { credential } : {});
  const priceBooks = new FilePriceBookSource(settings.priceBookPath);

  let closeMonth: CloseMonthDeps = {
    usageSource,
    directory: directory.directory,
    priceBooks,
    rollups,
    closes,
    deliveries,
    leases,
    renderer: new ExcelReportRenderer(),
    reportMails: new HtmlReportMails({ urlTemplate: settings.budgets.costLookupUrl }),
    costExport: new FocusCsvExporter(),
    artifacts: createArtifactStore(settings, { clock, ...(credential ? { credential } : {}) }),
    mailer: createMailer(settings, { logger: runtime.logger, ...(credential ? { credential } : {}) }),
    clock,
    logger: runtime.logger,
    ...(settings.budgets.file === null ? {} : { budgets: new FileBudgetSource(settings.budgets.file) }),
    settings: {
      timeZone: settings.timeZone,
      financeRecipients: settings.mail.financeRecipients,
      mailFrom: settings.mail.from,
      operatorRecipients: settings.closeControls.operatorRecipients,
      graceDays: settings.monthlyClose.graceDays,
      controls: settings.closeControls.limits,
      billing: { rule: settings.billing.rule, residue: settings.billing.residue, controls: settings.billing.controls, costColumn: settings.billing.costColumn },
      artifactMail: settings.artifacts.mail,
    },
    billedCosts: createBilledCostSource(settings, credential ? { credential } : {}),
  };
  const ingestDaily: IngestDailyDeps = {
    usageSource,
    directory: directory.directory,
    priceBooks,
    dailyRollups,
    ingestRuns,
    clock,
    logger: runtime.logger,
    settings: { timeZone: settings.timeZone, ...settings.ingest },
  };
  // The daily ingest stays the only reader of the usage source: the close builds the month from its days.
  if (settings.closeUsageFrom === 'daily-rollups') closeMonth = { ...closeMonth, monthUsage: monthUsageFromDailyRollups(ingestDaily) };
  const spend = new PreferredSpendSource(new DailyStoreTeamSpendSource(dailyRollups), new RollupTeamSpendSource(rollups));
  const budgets = settings.budgets;
  const evaluateBudgets: EvaluateBudgetsDeps = {
    budgets: budgets.file === null ? noBudgets : new FileBudgetSource(budgets.file),
    priceBooks,
    spend,
    details: spend,
    directory: directory.directory,
    alerts: await TableAlertLedger.create(table('Alerts')),
    mailer: closeMonth.mailer,
    ...(budgets.teamsWebhookUrl === null ? {} : { chat: new TeamsWebhookNotifier(budgets.teamsWebhookUrl) }),
    clock,
    logger: runtime.logger,
    settings: {
      timeZone: settings.timeZone,
      mailFrom: settings.mail.from,
      financeRecipients: settings.mail.financeRecipients,
      ccFinance: budgets.ccFinance,
      costLookupUrl: budgets.costLookupUrl,
      unallocatedAlertPercents: budgets.unallocatedAlertPercents,
    },
  };
  const costLookup = cachedCostLookup({
    rollups,
    closes,
    dailyRollups,
    ...(budgets.file === null ? {} : { budgets: { source: evaluateBudgets.budgets, priceBooks } }),
    directory: directory.directory,
    clock,
    settings: {
      timeZone: settings.timeZone,
      roles: { finance: settings.api.financeRole, ...(settings.api.leadRole === null ? {} : { lead: settings.api.leadRole }) },
      cacheTtlSeconds: settings.api.cacheTtlSeconds,
      callTimeoutMs: settings.api.callTimeoutMs,
    },
  });
  const accessTokens = runtime.accessTokens ?? accessTokenVerifierFor(settings.api, clock);
  const budgetActions: BudgetActionsDeps | undefined =
    budgets.blockAtPercent === null || budgets.blockListNamedValueId === null
      ? undefined
      : { blockAtPercent: budgets.blockAtPercent, blockList: new ApimNamedValueBlockList({ namedValueId: budgets.blockListNamedValueId, credential: credential ?? azureCredential() }) };
  const workQueues = createWorkQueues(settings, { ...(credential ? { credential } : {}), ...(runtime.localWorkQueues ? { local: runtime.localWorkQueues } : {}) });
  const drain = workQueues === undefined ? undefined : localDrain(workQueues, settings.workQueues.closeWorkers);
  const mailPacer = new TableMailPacer(table('MailSlots'), { messagesPerMinute: settings.mail.messagesPerMinute });
  const closeWork = workQueues === undefined ? undefined : closeWorkDeps(closeMonth, { queues: workQueues, pacer: mailPacer, progress: table('CloseProgress') });
  const fanOut = closeWork !== undefined && (runtime.fanOutClose ?? settings.workQueues.location.kind !== 'none');
  return {
    settings,
    clock,
    logger: runtime.logger,
    closeMonth: fanOut && closeWork ? { ...closeMonth, fanOut: { queues: closeWork.queues, progress: closeWork.progress } } : closeMonth,
    ...(closeWork ? { closeWork } : {}),
    ingestDaily,
    evaluateBudgets,
    ...(budgetActions ? { budgetActions } : {}),
    costLookup,
    accessTokens,
    ...(workQueues ? { workQueues } : {}),
    ...(drain ? { drainWorkQueues: drain } : {}),
    mailPacer,
  };
}

/**
 * The work queues: the queue service with the managed identity (WORK_QUEUES_URL), a connection string
 * (WORK_QUEUES_CONNECTION_STRING), or, when neither is set, the local queue service `local` starts on the
 * first send (nothing is started for a close that never fans out); undefined without any of them.
 */
export function createWorkQueues(settings: Pick<Settings, 'workQueues'>, runtime: { credential?: TokenCredential; local?: () => Promise<string> } = {}): StorageWorkQueues | undefined {
  const { location } = settings.workQueues;
  switch (location.kind) {
    case 'url':
      return new StorageWorkQueues(queueServiceWithCredential(location.url, runtime.credential ?? azureCredential()));
    case 'connection':
      return new StorageWorkQueues(queueServiceFromConnectionString(location.connectionString));
    case 'none': {
      const local = runtime.local;
      return local === undefined ? undefined : new StorageWorkQueues(async () => queueServiceFromConnectionString(await local()));
    }
  }
}

/** The close's work items run on the close's own adapters, with the queues, the shared mail pacer and their progress table. */
function closeWorkDeps(close: CloseMonthDeps, work: { queues: WorkQueues; pacer: MailPacer; progress: TableClient }): CloseWorkDeps {
  return {
    rollups: close.rollups,
    deliveries: close.deliveries,
    leases: close.leases,
    renderer: close.renderer,
    reportMails: close.reportMails,
    costExport: close.costExport,
    artifacts: close.artifacts,
    mailer: close.mailer,
    priceBooks: close.priceBooks,
    queues: work.queues,
    progress: new TableCloseProgress(work.progress),
    pacer: work.pacer,
    clock: close.clock,
    logger: close.logger,
    settings: {
      timeZone: close.settings.timeZone,
      mailFrom: close.settings.mailFrom,
      financeRecipients: close.settings.financeRecipients,
      ...(close.settings.artifactMail ? { artifactMail: close.settings.artifactMail } : {}),
    },
  };
}

function localDrain(queues: DrainableWorkQueues, closeWorkers: number): NonNullable<Services['drainWorkQueues']> {
  return (handlers, options = {}) => drainWorkQueues({ ...options, queues, handlers, workers: options.workers ?? closeWorkers });
}

/**
 * The configured usage source: export files, or App Insights through the Logs query API with the process's
 * one Azure credential (built only when App Insights is configured). Exported for the `usage` and `doctor`
 * commands, which need no storage.
 */
export function createUsageSource(settings: Pick<Settings, 'usage' | 'metricMapping'>, runtime: { credential?: TokenCredential } = {}): UsageSource {
  const usage = settings.usage;
  if (usage.kind === 'file') return new FileUsageSource({ files: expandUsageFilePatterns(usage.files), mapping: settings.metricMapping });
  return new AppInsightsUsageSource({
    client: createLogsQueryPort(runtime.credential ?? azureCredential(), usage.endpoint === null ? {} : { endpoint: usage.endpoint }),
    target: usage.target,
    settings: usage.query,
    maxConcurrency: usage.maxConcurrency,
  });
}

/** What the `doctor` command checks: the same source as createUsageSource, asked what it holds. */
export function createUsageDiscovery(settings: Pick<Settings, 'usage' | 'metricMapping'>, runtime: { credential?: TokenCredential } = {}): UsageDiscovery {
  const usage = settings.usage;
  if (usage.kind === 'file') return new FileUsageDiscovery({ files: expandUsageFilePatterns(usage.files), mapping: settings.metricMapping });
  return new AppInsightsDiscovery({
    client: createLogsQueryPort(runtime.credential ?? azureCredential(), usage.endpoint === null ? {} : { endpoint: usage.endpoint }),
    target: usage.target,
    settings: usage.query,
  });
}

/** Where Azure's bill is read from, or undefined when none is configured (every close is then an estimate). */
export function createBilledCostSource(settings: Pick<Settings, 'billing'>, runtime: { credential?: TokenCredential } = {}): BilledCostSource | undefined {
  const { location, costColumn } = settings.billing;
  switch (location.kind) {
    case 'none':
      return undefined;
    case 'file':
      return new FileBilledCostSource(location.files, costColumn);
    case 'blob':
      return BlobBilledCostSource.withCredential(location.containerUrl, runtime.credential ?? azureCredential(), location.prefix, costColumn);
    case 'blob-connection':
      return BlobBilledCostSource.fromConnectionString(location.connectionString, location.container, location.prefix, costColumn);
  }
}

/** Where workbooks and exports are kept: the folder ARTIFACTS_DIR, or a Blob container that can hand out links. */
export function createArtifactStore(settings: Pick<Settings, 'artifacts' | 'artifactsDir'>, runtime: { clock?: Clock; credential?: TokenCredential } = {}): ArtifactStore {
  const { location } = settings.artifacts;
  const clock = runtime.clock ?? systemClock;
  const options = { now: () => clock.now() };
  switch (location.kind) {
    case 'directory':
      return new DirectoryArtifactStore(settings.artifactsDir);
    case 'blob':
      return BlobArtifactStore.withCredential(location.containerUrl, runtime.credential ?? azureCredential(), options);
    case 'blob-connection':
      return BlobArtifactStore.fromConnectionString(location.connectionString, location.container, options);
  }
}

/**
 * Services for the Azure Functions host: built once per process from `env` on the first call, so clients, the
 * credential and the caches (directory, cost lookup, verified tokens) outlive an invocation. Their logger
 * is the invocation that is running (see `inInvocationScope`), never the one that happened to build them.
 * A failed build is not kept, so fixing a setting lets the next invocation recover without a restart.
 */
export function processServices(env: SettingsSource, runtime: { credential?: TokenCredential; clock?: Clock } = {}): () => Promise<Services> {
  let built: Promise<Services> | undefined;
  const logger = invocationScopedLogger(consoleLogger());
  return () => {
    built ??= createServices(loadSettings(env, { projectRoot: PROJECT_ROOT }), { logger, ...runtime }).catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
}

/** The Functions app's services, from its app settings. */
export const servicesFromEnvironment: () => Promise<Services> = processServices(process.env);

/**
 * The configured mailer: the outbox folder (the demo), or an SMTP relay / Graph mailbox kept under the
 * mailbox's sending rate, so a month close waits for Exchange rather than being throttled by it.
 */
export function createMailer(settings: Pick<Settings, 'mail'>, runtime: { logger: Logger; credential?: TokenCredential }): Mailer {
  const mail = settings.mail;
  const log = (message: string) => runtime.logger.progress('mail', message);
  switch (mail.transport) {
    case 'outbox':
      return new OutboxMailer(mail.outboxDir);
    case 'smtp': {
      const smtp = mail.smtp;
      if (smtp === null) throw new AppError('CONFIG_INVALID', 'MAIL_TRANSPORT is smtp but no SMTP server is configured (SMTP_HOST)');
      const inner = new SmtpMailer({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        requireTLS: smtp.requireTLS,
        ...(smtp.user !== null && smtp.password !== null ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
        log,
      });
      return new PacedMailer(inner, { messagesPerMinute: mail.messagesPerMinute, log });
    }
    case 'graph': {
      const mailbox = mail.senderMailbox;
      if (mailbox === null) throw new AppError('CONFIG_INVALID', 'MAIL_TRANSPORT is graph but MAIL_SENDER_MAILBOX is not set');
      const client = graphClientFor(runtime.credential ?? azureCredential(), mail.graphBaseUrl === null ? {} : { baseUrl: mail.graphBaseUrl });
      const inner = new GraphMailer({ client, mailbox, log });
      // Every Graph mail leaves from the one mailbox, whatever From the use case wrote.
      return new PacedMailer(inner, { messagesPerMinute: mail.messagesPerMinute, mailboxOf: () => mailbox.toLowerCase(), log });
    }
  }
}

let credential: TokenCredential | undefined;

/**
 * The one Azure credential of the process (managed identity in Azure, developer sign-in locally), created on
 * first use so that the local demo, which needs none, never builds it. Its token cache is shared by every
 * client built from it (Graph for the directory and mail, and any other Azure SDK client).
 */
export function azureCredential(): TokenCredential {
  credential ??= new DefaultAzureCredential();
  return credential;
}

/** The directory a run uses; `cache` is set when answers are kept in Table Storage (DIRECTORY_SOURCE=graph). */
export interface DirectoryServices {
  readonly directory: Directory;
  readonly cache: CachedDirectory | null;
  /** For people: where teams come from, e.g. "Microsoft Graph (group-prefix "team-"), cached 24 h". */
  readonly description: string;
}

/**
 * Builds the configured directory: the local file, or Microsoft Graph behind a Table Storage cache. Exported
 * for the `directory` CLI commands, which need the cache itself (refresh) without the rest of the services.
 */
export async function createDirectory(
  settings: Pick<Settings, 'directory' | 'storage'>,
  runtime: { logger: Logger; clock?: Clock; credential?: TokenCredential },
): Promise<DirectoryServices> {
  const directorySettings: DirectorySettings = settings.directory;
  if (directorySettings.kind === 'file') {
    return { directory: new FileDirectory(directorySettings.path), cache: null, description: `directory file ${directorySettings.path}` };
  }
  const overrides = directorySettings.overridesFile === null ? undefined : await loadDirectoryOverridesFile(directorySettings.overridesFile);
  const strategy: TeamStrategy =
    directorySettings.teamStrategy === 'group-prefix' ? { kind: 'group-prefix', prefix: directorySettings.groupPrefix } : { kind: directorySettings.teamStrategy };
  const graph = new GraphDirectory({
    client: graphClientFor(runtime.credential ?? azureCredential(), directorySettings.baseUrl === null ? {} : { baseUrl: directorySettings.baseUrl }),
    strategy,
    ...(overrides === undefined ? {} : { overrides }),
    log: (message) => runtime.logger.progress('directory', message),
  });
  const store = await TableDirectoryCacheStore.create(tableFactory(settings.storage, runtime.credential)('DirectoryCache'));
  const cache = new CachedDirectory({
    inner: graph,
    store,
    clock: runtime.clock ?? systemClock,
    ttlHours: directorySettings.cacheTtlHours,
    log: (message) => runtime.logger.progress('directory', message),
  });
  const strategyLabel = strategy.kind === 'group-prefix' ? `group-prefix "${strategy.prefix}"` : strategy.kind;
  return { directory: cache, cache, description: `Microsoft Graph (${strategyLabel}), cached ${directorySettings.cacheTtlHours} h in table storage` };
}

/**
 * The close's dependencies for `close --dry-run` and `--preview`: the same wiring, reading what is stored,
 * with workbooks written under `previewDir` and mails to `previewDir/outbox`; nothing stored or sent.
 */
export function dryRunCloseDeps(deps: CloseMonthDeps, previewDir: string): CloseMonthDeps {
  return dryRunDeps(deps, { artifacts: new DirectoryArtifactStore(previewDir), mailer: new OutboxMailer(path.join(previewDir, 'outbox')) });
}

/**
 * How a deployed cost page signs people in (functions/http-web.ts): MSAL, from AUTH_* and WEB_* settings in
 * `env`, read once per process like the other services (a problem is thrown on each call, never kept).
 */
export function processWebPageConfig(env: SettingsSource): () => WebPageConfig {
  let config: WebPageConfig | undefined;
  return () => (config ??= msalPageConfig(loadWebSignInSettings(env)));
}

/** The Functions app's cost page sign-in, from its app settings. */
export const webPageConfigFromEnvironment: () => WebPageConfig = processWebPageConfig(process.env);
