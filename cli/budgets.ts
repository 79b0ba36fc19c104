import { Option, type Command } from 'commander';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING, type Settings } from '../shared/config/settings.js';
import { UNALLOCATED_TEAM } from '../shared/domain/directory.js';
import { money, sumMoney, type Money } from '../shared/domain/money.js';
import type { Logger } from '../shared/ports/runtime.js';
import type { TeamSpendSource } from '../shared/ports/team-spend.js';
import { money2, percent1 } from '../shared/use-cases/budget-alert-mail.js';
import { describeAlertCounts, evaluateBudgets, type EvaluateBudgetsResult } from '../shared/use-cases/evaluate-budgets.js';
import { withStorage } from './storage.js';
import { dayArgument, demoFileDefaults, environmentWith, monthArgument, stackOverrides, timeZoneArgument, withDefaults } from './options.js';

type Out = NodeJS.WritableStream;

export interface BudgetsCheckOptions {
  month?: string;
  asOf?: string;
  budgets?: string;
  directory?: string;
  prices?: string;
  timeZone?: string;
  finance?: string;
  storage?: string;
  out: string;
  logger: Logger;
}

/**
 * Settings for a budget check. Budgets read the stored rollups, never the usage source, so when no usage
 * source is configured a placeholder file name stands in for it (it is never opened).
 */
function settingsFor(options: BudgetsCheckOptions): Settings {
  const usageConfigured = (process.env[SETTING.usageFiles] ?? '').trim() !== '' || (process.env[SETTING.usageSource] ?? 'file') !== 'file';
  const overrides = {
    ...stackOverrides(options),
    [SETTING.usageFiles]: usageConfigured ? undefined : path.join(options.out, 'no-usage-needed.ndjson'),
    [SETTING.budgetsFile]: options.budgets && path.resolve(options.budgets),
  };
  return loadSettings(environmentWith(withDefaults(overrides, demoFileDefaults(options.out))), { projectRoot: PROJECT_ROOT });
}

/** Evaluates the budgets of a month on the configured (or local) stack, sends what is due and prints the standing. */
export async function runBudgetsCheck(options: BudgetsCheckOptions, out: Out = process.stdout): Promise<EvaluateBudgetsResult> {
  const settings = settingsFor(options);
  if (settings.budgets.file === null) options.logger.warn(`no ${SETTING.budgetsFile} given: no team has a budget (finance alerts are still checked)`);
  return withStorage(settings, options.out, options.logger, async (settings) => {
    const services = await createServices(settings, { logger: options.logger });
    const result = await evaluateBudgets(services.evaluateBudgets, {
      ...(options.month ? { month: options.month } : {}),
      ...(options.asOf ? { today: options.asOf } : {}),
    });
    printBudgetsSummary(result, settings.budgets.teamsWebhookUrl !== null, out);
    return result;
  });
}

function printBudgetsSummary(result: EvaluateBudgetsResult, teamsConfigured: boolean, out: Out): void {
  const lines = [`Budgets for ${result.month} as of ${result.today} (${result.budgetSource})`];
  if (result.teams.length > 0) {
    lines.push(`  ${'team'.padEnd(24)} ${'budget'.padStart(16)} ${'spent'.padStart(16)} ${'%'.padStart(7)} ${'forecast'.padStart(16)} ${'%'.padStart(7)}  days left`);
    for (const status of result.teams) {
      const currency = status.budget.currency;
      lines.push(
        `  ${status.budget.teamId.padEnd(24)} ${money2(status.budget.amount, currency).padStart(16)} ${money2(status.forecast.actual, currency).padStart(16)} ${percent1(status.actualPercent).padStart(7)} ${money2(status.forecast.forecast, currency).padStart(16)} ${percent1(status.forecastPercent).padStart(7)}  ${status.daysLeft}`,
      );
    }
  }
  lines.push(`Alerts: ${describeAlertCounts(result.alerts)}${teamsConfigured ? '' : ' (mail only: TEAMS_WEBHOOK_URL is not set)'}`);
  for (const alert of result.alerts.filter((a) => a.status === 'sent' || a.status === 'failed')) {
    lines.push(`  ${alert.status.padEnd(7)} ${alert.channel.padEnd(6)} ${alert.subject ?? alert.key}${alert.error ? ` -- ${alert.error.split('\n')[0]}` : ''}`);
  }
  out.write(`${lines.join('\n')}\n`);
}

/**
 * The demo's budgets, written once next to its data: the two teams that spent most get budgets they have
 * outrun (about 111% and 85% spent), every other team a comfortable one, so the demo's outbox shows what a
 * lead receives whatever the seed. Derived from the closed month's spend because the demo's scale varies.
 */
async function ensureDemoBudgets(file: string, month: string, spend: TeamSpendSource, currency: string): Promise<boolean> {
  try {
    await access(file);
    return false;
  } catch {
    // not there yet: write it
  }
  const totals = new Map<string, Money[]>();
  for (const entry of await spend.monthToDate(month)) {
    if (entry.teamId === UNALLOCATED_TEAM) continue;
    totals.set(entry.teamId, [...(totals.get(entry.teamId) ?? []), entry.cost]);
  }
  const ranked = [...totals.entries()].map(([teamId, costs]) => ({ teamId, spent: sumMoney(costs) })).sort((a, b) => b.spent.comparedTo(a.spent) || a.teamId.localeCompare(b.teamId));
  const whole = (value: Money) => money(Math.max(1, value.ceil().toNumber())).toFixed(0);
  const teams = ranked.map((team, index) => ({
    teamId: team.teamId,
    amount: index === 0 ? whole(team.spent.times(0.9).floor()) : index === 1 ? whole(team.spent.dividedBy(0.85)) : whole(team.spent.times(2).dividedBy(100).ceil().times(100)),
  }));
  await mkdir(path.dirname(file), { recursive: true });
  const document = {
    description: `Demo budgets for ${month}: the top-spending team is over budget, the next one past 80%.`,
    currency,
    defaults: { actualThresholds: [50, 80, 100], forecastThresholds: [100] },
    teams,
  };
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`, 'utf8');
  return true;
}

export interface DemoBudgetsOptions {
  month: string;
  demoDir: string;
  directoryFile: string;
  finance: string;
  out: string;
  logger: Logger;
}

/** The demo's last step: budgets (BUDGETS_FILE, or the demo's own) checked against the month just closed. */
export async function runDemoBudgets(options: DemoBudgetsOptions, out: Out = process.stdout): Promise<void> {
  const budgetsFile = process.env[SETTING.budgetsFile]?.trim() || path.join(options.demoDir, 'budgets.json');
  const settings = settingsFor({ budgets: budgetsFile, directory: options.directoryFile, finance: options.finance, out: options.out, logger: options.logger });
  await withStorage(settings, options.out, options.logger, async (settings) => {
    const services = await createServices(settings, { logger: options.logger });
    const priceBook = await services.evaluateBudgets.priceBooks.load();
    if (await ensureDemoBudgets(budgetsFile, options.month, services.evaluateBudgets.spend, priceBook.currency)) {
      options.logger.progress('budgets', `wrote demo budgets ${budgetsFile}`);
    }
    const result = await evaluateBudgets(services.evaluateBudgets, { month: options.month });
    printBudgetsSummary(result, settings.budgets.teamsWebhookUrl !== null, out);
  });
}

export function registerBudgetsCommands(program: Command, loggerFor: (command: Command) => Logger): void {
  const budgets = program.command('budgets').description('team budgets and their alerts');
  budgets
    .command('check')
    .description('evaluate the budgets of a month: spend so far, forecast, and send the alerts that are due (each once)')
    .addOption(new Option('--month <YYYY-MM>', 'the month (default: the current month in the reporting time zone)').argParser(monthArgument))
    .addOption(new Option('--as-of <YYYY-MM-DD>', 'evaluate as if today were this day (default: today in the reporting time zone)').argParser(dayArgument))
    .option('--budgets <file>', 'budgets file; default BUDGETS_FILE')
    .option('--directory <file>', 'directory file (team leads); default DIRECTORY_FILE')
    .option('--prices <file>', 'price book file (its currency); default PRICE_BOOK_FILE or the shipped data/price-book.json')
    .option('--time-zone <zone>', 'IANA time zone of the reporting months; default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .option('--finance <addresses>', 'finance recipients, comma separated; default FINANCE_RECIPIENTS')
    .option('--storage <connection-string>', 'table storage; default STORAGE_CONNECTION_STRING, else a local Azurite under --out')
    .option('--out <dir>', 'where the outbox and the local Azurite data go', 'out')
    .action(async (options, command: Command) => {
      const result = await runBudgetsCheck({ ...options, out: path.resolve(options.out), logger: loggerFor(command) });
      if (result.alerts.some((alert) => alert.status === 'failed')) process.exitCode = 1;
    });
}
