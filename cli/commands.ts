import path from 'node:path';
import { ensureDemoData } from './demo-generator.js';
import { directoryDocumentOf, generateOrganization, writeDemoUsage } from './demo-generator.js';
import { createServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING, type Settings } from '../shared/config/settings.js';
import type { Logger } from '../shared/ports/runtime.js';
import { closeMonth } from '../shared/use-cases/close-month.js';
import { printCloseSummary } from './summary.js';
import { runDemoBudgets } from './budgets.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { environmentWith, stackOverrides } from './options.js';
import { withStorage } from './storage.js';

export interface CloseOptions {
  month: string;
  usage?: string[];
  directory?: string;
  prices?: string;
  timeZone?: string;
  finance?: string;
  storage?: string;
  out: string;
  force?: boolean;
  logger: Logger;
}

const DEMO_FINANCE = 'finance@contoso.example';

/** Command-line options win over app settings from the environment; paths given here are the caller's. */
function settingsFor(options: CloseOptions): Settings {
  const overrides = { ...stackOverrides(options), [SETTING.usageFiles]: options.usage?.map((file) => path.resolve(file)).join(';') };
  return loadSettings(environmentWith(overrides), { projectRoot: PROJECT_ROOT });
}

export async function runClose(options: CloseOptions): Promise<void> {
  const settings = settingsFor(options);
  await withStorage(settings, options.out, options.logger, async (settings) => {
    const services = await createServices(settings, { logger: options.logger });
    const result = await closeMonth(services.closeMonth, { month: options.month, resend: options.force ?? false });
    printCloseSummary(result, process.stdout);
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

export async function runDemo(options: DemoCommandOptions): Promise<void> {
  const demoDir = path.join(options.out, 'demo');
  options.logger.progress('demo', `demo month ${options.month}: ${options.users} users in ${options.teams} teams (seed ${options.seed})`);
  const demo = await ensureDemoData(demoDir, { month: options.month, users: options.users, teams: options.teams, seed: options.seed });
  options.logger.progress('demo', demo.generated ? `generated ${demo.usageFile}` : `reusing ${demo.usageFile}`);
  await runClose({
    month: options.month,
    usage: [demo.usageFile],
    directory: demo.directoryFile,
    finance: process.env[SETTING.financeRecipients] ?? DEMO_FINANCE,
    out: options.out,
    ...(options.force ? { force: true } : {}),
    logger: options.logger,
  });
  await runDemoBudgets({
    month: options.month,
    demoDir,
    directoryFile: demo.directoryFile,
    finance: process.env[SETTING.financeRecipients] ?? DEMO_FINANCE,
    out: options.out,
    logger: options.logger,
  });
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
