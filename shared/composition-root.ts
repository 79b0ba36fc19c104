import { TableCloseRegistry, TableDeliveryLedger } from './adapters/azure/table-ledger.js';
import { tableClientFor } from './adapters/azure/table-client.js';
import { TableRollupStore } from './adapters/azure/table-rollup-store.js';
import { DirectoryArtifactStore } from './adapters/local/directory-artifacts.js';
import { FileDirectory } from './adapters/local/file-directory.js';
import { FilePriceBookSource } from './adapters/local/file-price-book.js';
import { FileUsageSource } from './adapters/local/file-usage-source.js';
import { OutboxMailer } from './adapters/local/outbox-mailer.js';
import { ExcelReportRenderer } from './adapters/reports/excel-workbook.js';
import { PROJECT_ROOT } from './config/project-root.js';
import { loadSettings, type Settings } from './config/settings.js';
import { AppError } from './domain/errors.js';
import type { Clock, Logger } from './ports/runtime.js';
import type { CloseMonthDeps } from './use-cases/close-month.js';

export interface Services {
  readonly settings: Settings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly closeMonth: CloseMonthDeps;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * The one place that turns settings into adapters and clients. The CLI and the Azure Functions triggers
 * both come through here, so they run the same use cases on the same wiring.
 */
export async function createServices(settings: Settings, runtime: { logger: Logger; clock?: Clock }): Promise<Services> {
  const clock = runtime.clock ?? systemClock;
  const connectionString = settings.storage.connectionString;
  if (!connectionString) {
    throw new AppError('CONFIG_INVALID', 'no table storage is configured: set STORAGE_CONNECTION_STRING (the CLI starts Azurite itself when it is unset)');
  }
  const table = (name: string) => tableClientFor(connectionString, `${settings.storage.tablePrefix}${name}`);
  const [rollups, closes, deliveries] = await Promise.all([
    TableRollupStore.create(table('Rollups')),
    TableCloseRegistry.create(table('Closes')),
    TableDeliveryLedger.create(table('Deliveries')),
  ]);

  const closeMonth: CloseMonthDeps = {
    usageSource: new FileUsageSource({ files: settings.usage.files, mapping: settings.metricMapping }),
    directory: new FileDirectory(settings.directory.path),
    priceBooks: new FilePriceBookSource(settings.priceBookPath),
    rollups,
    closes,
    deliveries,
    renderer: new ExcelReportRenderer(),
    artifacts: new DirectoryArtifactStore(settings.artifactsDir),
    mailer: new OutboxMailer(settings.mail.outboxDir),
    clock,
    logger: runtime.logger,
    settings: { timeZone: settings.timeZone, financeRecipients: settings.mail.financeRecipients, mailFrom: settings.mail.from },
  };
  return { settings, clock, logger: runtime.logger, closeMonth };
}

let cached: Promise<Services> | undefined;

/**
 * Services for the Azure Functions host, built once per worker from app settings. A failed build is not
 * cached, so fixing a setting and the next invocation recover without a restart.
 */
export function servicesFromEnvironment(logger: Logger): Promise<Services> {
  if (!cached) {
    cached = createServices(loadSettings(process.env, { projectRoot: PROJECT_ROOT }), { logger }).catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
  }
  return cached;
}
