import path from 'node:path';
import { ensureDemoData } from './demo-generator.js';
import { directoryDocumentOf, generateOrganization, writeDemoUsage } from './demo-generator.js';
import { createServices, dryRunCloseDeps } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING, type Settings } from '../shared/config/settings.js';
import { BILLING_SETTING } from '../shared/config/billing-settings.js';
import type { Logger } from '../shared/ports/runtime.js';
import { closeMonth } from '../shared/use-cases/close-month.js';
import { AppError } from '../shared/domain/errors.js';
import { hostname, userInfo } from 'node:os';
import { closeExitCode, EXIT } from './exit-codes.js';
import { printCloseSummary } from './summary.js';
import { dailyListCost, ensureDemoBill } from './demo-bill.js';
import { FileUsageSource } from '../shared/adapters/local/file-usage-source.js';
import { FilePriceBookSource } from '../shared/adapters/local/file-price-book.js';
import { runDemoBudgets } from './budgets.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { demoFileDefaults, environmentWith, stackOverrides, withDefaults } from './options.js';
import { withStorage } from './storage.js';
import { drainClose } from './fan-out.js';

export interface CloseOptions {
  month: string;
  usage?: string[];
  /** Cost Management FOCUS export files of the month's Azure bill. */
  billedCosts?: string[];
  directory?: string;
  prices?: string;
  timeZone?: string;
  finance?: string;
  storage?: string;
  out: string;
  force?: boolean;
  dryRun?: boolean;
  preview?: boolean;
  releaseHold?: boolean;
  reason?: string;
  resendUncertain?: boolean;
  operator?: string;
  /** Fan the workbooks and mails out as work items on queues and drain them with this many workers. */
  workers?: number;
  /** The demo's month is generated whole, so it needs no grace period for late data. */
  graceDays?: number;
  logger: Logger;
}

const DEMO_FINANCE = 'finance@contoso.example';
const DEMO_OPERATOR = 'chargeback-ops@contoso.example';

/** Command-line options win over app settings from the environment; paths given here are the caller's. */
function settingsFor(options: CloseOptions): Settings {
  const overrides = {
    ...stackOverrides(options),
    [SETTING.usageFiles]: options.usage?.map((file) => path.resolve(file)).join(';'),
    [SETTING.operatorRecipients]: options.operator,
    [SETTING.monthlyCloseGraceDays]: options.graceDays === undefined ? undefined : String(options.graceDays),
    ...(options.billedCosts ? { [BILLING_SETTING.source]: 'file', [BILLING_SETTING.files]: options.billedCosts.map((file) => path.resolve(file)).join(';') } : {}),
  };
  return loadSettings(environmentWith(withDefaults(overrides, demoFileDefaults(options.out))), { projectRoot: PROJECT_ROOT });
}

/**
 * Closes a month from the command line and answers the exit code: 0 closed, 3 held for review, 4 closed with
 * mails whose sending is uncertain. Refused (exit 2) and busy (exit 75) closes throw.
 */
export async function runClose(options: CloseOptions): Promise<number> {
  const dryRun = (options.dryRun ?? false) || (options.preview ?? false);
  if (options.releaseHold && dryRun) throw new AppError('INVALID_ARGUMENT', '--release-hold cannot be combined with --dry-run or --preview: a release sends what was held');
  if (options.releaseHold && !options.reason?.trim()) throw new AppError('INVALID_ARGUMENT', '--release-hold needs --reason "<why the held figures are right>" (it is recorded on the Run sheet)');
  const settings = settingsFor(options);
  return withStorage(settings, options.out, options.logger, async (settings, local) => {
    // --workers fans out; resending is a step of the inline close, so --force and --resend-uncertain run
    // inline even where work queues are configured; otherwise the settings decide (docs/fan-out.md).
    const fanOutClose = options.workers !== undefined && !dryRun ? true : options.force || options.resendUncertain ? false : undefined;
    const services = await createServices(settings, { logger: options.logger, ...local, ...(fanOutClose === undefined ? {} : { fanOutClose }) });
    const previewDir = path.join(options.out, 'preview', options.month);
    const deps = dryRun ? dryRunCloseDeps(services.closeMonth, previewDir) : services.closeMonth;
    const since = services.clock.now();
    const result = await closeMonth(deps, {
      month: options.month,
      resend: options.force ?? false,
      resendUncertain: options.resendUncertain ?? false,
      preview: options.preview ?? false,
      runId: `cli ${userInfo().username}@${hostname()} pid ${process.pid}`,
      ...(options.releaseHold ? { releaseHold: { by: userInfo().username, reason: options.reason ?? '' } } : {}),
    });
    if (!result.dispatched) {
      printCloseSummary(result, process.stdout, dryRun ? { previewDir } : {});
      return closeExitCode(result);
    }
    options.logger.progress('work', `draining the work items with ${options.workers ?? settings.workQueues.closeWorkers} worker(s)`);
    const drained = await drainClose(services, result, { workers: options.workers ?? settings.workQueues.closeWorkers, logger: options.logger, since });
    printCloseSummary(drained.result, process.stdout);
    process.stdout.write(`${drained.summary}\n`);
    return drained.stuck.length > 0 ? EXIT.failed : closeExitCode(drained.result);
  });
}

export interface DemoCommandOptions {
  month: string;
  users: number;
  teams: number;
  seed: number;
  out: string;
  force?: boolean;
  logger: Logger;
}

export async function runDemo(options: DemoCommandOptions): Promise<number> {
  const demoDir = path.join(options.out, 'demo');
  options.logger.progress('demo', `demo month ${options.month}: ${options.users} users in ${options.teams} teams (seed ${options.seed})`);
  const demo = await ensureDemoData(demoDir, { month: options.month, users: options.users, teams: options.teams, seed: options.seed });
  options.logger.progress('demo', demo.generated ? `generated ${demo.usageFile}` : `reusing ${demo.usageFile}`);
  const bill = await ensureDemoBill(demoDir, { month: options.month, seed: options.seed }, async () =>
    dailyListCost(
      options.month,
      new FileUsageSource({ files: [demo.usageFile] }),
      await new FilePriceBookSource(settingsFor({ month: options.month, usage: [demo.usageFile], directory: demo.directoryFile, out: options.out, logger: options.logger }).priceBookPath).load(),
    ),
  );
  options.logger.progress('demo', bill.generated ? `generated the Azure bill ${bill.file}` : `reusing the Azure bill ${bill.file}`);
  const closed = await runClose({
    month: options.month,
    usage: [demo.usageFile],
    billedCosts: [bill.file],
    directory: demo.directoryFile,
    finance: process.env[SETTING.financeRecipients] ?? DEMO_FINANCE,
    operator: process.env[SETTING.operatorRecipients] ?? DEMO_OPERATOR,
    graceDays: 0,
    out: options.out,
    ...(options.force ? { force: true } : {}),
    logger: options.logger,
  });
  if (closed !== EXIT.ok) return closed;
  await runDemoBudgets({
    month: options.month,
    demoDir,
    directoryFile: demo.directoryFile,
    finance: process.env[SETTING.financeRecipients] ?? DEMO_FINANCE,
    out: options.out,
    logger: options.logger,
  });
  const outOption = path.resolve(options.out) === path.resolve('out') ? '' : ` --out ${options.out}`;
  process.stdout.write(`\nCost page: run \`npm run chargeback -- serve${outOption}\`, then open http://127.0.0.1:7071/ (sign in as a demo lead, member or finance; it opens on ${options.month})\n`);
  return EXIT.ok;
}

export interface GenerateOptions {
  month: string;
  users: number;
  teams: number;
  seed: number;
  format: 'ndjson' | 'csv';
  timeZone: string;
  models?: string;
  out: string;
  logger: Logger;
}

export async function runGenerate(options: GenerateOptions): Promise<void> {
  const models = options.models?.split(',').map((model) => model.trim()).filter((model) => model !== '');
  const demoOptions = { month: options.month, users: options.users, teams: options.teams, seed: options.seed, timeZone: options.timeZone, ...(models ? { models } : {}) };
  const org = generateOrganization(demoOptions);
  await mkdir(options.out, { recursive: true });
  const directoryFile = path.join(options.out, 'directory.json');
  await writeFile(directoryFile, `${JSON.stringify(directoryDocumentOf(org), null, 2)}\n`);
  const usageFile = path.join(options.out, `usage-${options.month}.${options.format}`);
  const summary = await writeDemoUsage(demoOptions, org, usageFile, options.format);
  process.stdout.write(`${directoryFile}\n${usageFile}: ${summary.rows} metric rows, ${summary.users} users\n`);
}
