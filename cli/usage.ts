import type { TokenCredential } from '@azure/identity';
import { csvNumber, csvText } from '../shared/adapters/reports/csv-writer.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import path from 'node:path';
import { createServices, createUsageDiscovery, createUsageSource } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, loadUsageSettings, SETTING, type Settings } from '../shared/config/settings.js';
import { AppError } from '../shared/domain/errors.js';
import { formatMinorUnits, sumMoney, toMinorUnits } from '../shared/domain/money.js';
import { assessGatewayContract } from '../shared/domain/gateway-contract.js';
import { assessSeries } from '../shared/domain/metric-series.js';
import { nextDay, parseDay, startOfDayInZone, type TimeWindow } from '../shared/domain/periods.js';
import { TOKEN_KINDS, totalTokens, zeroTokens, type TokenCounts } from '../shared/domain/tokens.js';
import type { UsageRow } from '../shared/domain/usage.js';
import type { Logger } from '../shared/ports/runtime.js';
import { ingestDaily } from '../shared/use-cases/ingest-daily.js';
import { withStorage } from './storage.js';
import { dayArgument, demoFileDefaults, environmentWith, timeZoneArgument, withDefaults } from './options.js';

type Out = NodeJS.WritableStream;

interface UsageSourceOptions {
  usage?: string[];
  timeZone?: string;
}

/** The usage settings from the environment, with --usage files switching to the file source. */
function usageSettingsFor(options: UsageSourceOptions) {
  const overrides: Record<string, string | undefined> = {
    [SETTING.usageSource]: options.usage ? 'file' : undefined,
    [SETTING.usageFiles]: options.usage?.map((file) => path.resolve(file)).join(';'),
    [SETTING.timeZone]: options.timeZone,
  };
  return loadUsageSettings(environmentWith(withDefaults(overrides, demoFileDefaults(path.resolve('out')))), { projectRoot: PROJECT_ROOT });
}

function dayRangeWindow(from: string, to: string, zone: string): TimeWindow {
  const first = parseDay(from);
  const last = parseDay(to);
  if (first > last) throw new AppError('INVALID_ARGUMENT', `--from ${first} is after --to ${last}`);
  return { start: startOfDayInZone(first, zone), end: startOfDayInZone(nextDay(last), zone) };
}

export interface UsageCommandOptions extends UsageSourceOptions {
  from: string;
  to: string;
  byUser?: boolean;
  top: number;
  format: 'table' | 'csv';
  logger: Logger;
}

interface Totals {
  users: Set<string>;
  tokens: TokenCounts;
  requests: number;
}

/** Prints what the usage source returns for the days, so an operator can check the gateway emits what we expect. */
export async function runUsage(options: UsageCommandOptions, out: Out = process.stdout): Promise<void> {
  const settings = usageSettingsFor(options);
  const window = dayRangeWindow(options.from, options.to, settings.timeZone);
  const source = createUsageSource(settings);
  const result = await source.read(window, { timeZone: settings.timeZone, onProgress: (m) => options.logger.progress('usage', m) });

  const table = options.byUser ? byUserTable(result.rows, options.top) : byDayModelTierTable(result.rows);
  out.write(options.format === 'csv' ? toCsv(table) : toAligned(table));
  if (options.format === 'csv') return;

  let priced = 0;
  for (const row of result.rows) priced += totalTokens(row.tokens);
  const lines = [
    '',
    `Source:        ${result.sourceDescription}`,
    `Window:        ${window.start.toISOString()} to ${window.end.toISOString()} (${settings.timeZone})`,
    `Rows:          ${result.rows.count} (day x user x model x tier)`,
    `Tokens:        ${priced} in the mapped kinds` +
      (result.reportedTotalTokens === null ? '' : `; the gateway's total metric says ${result.reportedTotalTokens}${result.reportedTotalTokens === priced ? ' (equal)' : ` (differs by ${result.reportedTotalTokens - priced})`}`),
    `Rejected:      ${result.rejects.count}${Object.entries(result.rejects.byReason).map(([reason, n]) => `\n  ${n} x ${reason}`).join('')}`,
    `Skipped:       ${Object.entries(result.skipped).map(([reason, n]) => `${n} x ${reason}`).join('; ') || 'none'}`,
    '',
  ];
  out.write(lines.join('\n'));
}

interface TextTable {
  header: string[];
  rows: (string | number)[][];
}

function tokenColumns(tokens: TokenCounts): number[] {
  return [...TOKEN_KINDS.map((kind) => tokens[kind]), totalTokens(tokens)];
}

function byDayModelTierTable(rows: Iterable<UsageRow>): TextTable {
  const groups = new Map<string, Totals & { day: string; model: string; tier: string }>();
  for (const row of rows) {
    const key = `${row.day}\u0000${row.model}\u0000${row.tier}`;
    let group = groups.get(key);
    if (!group) {
      group = { day: row.day, model: row.model, tier: row.tier, users: new Set(), tokens: zeroTokens(), requests: 0 };
      groups.set(key, group);
    }
    group.users.add(row.userId);
    for (const kind of TOKEN_KINDS) group.tokens[kind] += row.tokens[kind];
    group.requests += row.requests;
  }
  return {
    header: ['day', 'model', 'tier', 'users', 'requests', ...TOKEN_KINDS, 'total'],
    rows: [...groups.values()]
      .sort((a, b) => a.day.localeCompare(b.day) || a.model.localeCompare(b.model) || a.tier.localeCompare(b.tier))
      .map((g) => [g.day, g.model, g.tier, g.users.size, g.requests, ...tokenColumns(g.tokens)]),
  };
}

function byUserTable(rows: Iterable<UsageRow>, top: number): TextTable {
  const users = new Map<string, { userId: string; models: Set<string>; tokens: TokenCounts; requests: number }>();
  for (const row of rows) {
    let user = users.get(row.userId);
    if (!user) {
      user = { userId: row.userId, models: new Set(), tokens: zeroTokens(), requests: 0 };
      users.set(row.userId, user);
    }
    user.models.add(row.model);
    for (const kind of TOKEN_KINDS) user.tokens[kind] += row.tokens[kind];
    user.requests += row.requests;
  }
  return {
    header: ['userId', 'models', 'requests', ...TOKEN_KINDS, 'total'],
    rows: [...users.values()]
      .sort((a, b) => totalTokens(b.tokens) - totalTokens(a.tokens) || a.userId.localeCompare(b.userId))
      .slice(0, top)
      .map((u) => [u.userId === '' ? '(no UserId)' : u.userId, [...u.models].sort().join(' '), u.requests, ...tokenColumns(u.tokens)]),
  };
}

/** Model and user ids come from the gateway: text cells go through the shared writer's formula guard. */
function csvField(value: string | number): string {
  return typeof value === 'number' ? csvNumber(value) : csvText(value);
}

function toCsv(table: TextTable): string {
  return [table.header, ...table.rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

function toAligned(table: TextTable): string {
  if (table.rows.length === 0) return '(no usage in the window)\n';
  const cells = [table.header, ...table.rows.map((row) => row.map(String))];
  const widths = table.header.map((_, column) => Math.max(...cells.map((row) => String(row[column]).length)));
  const numeric = table.header.map((_, column) => table.rows.every((row) => typeof row[column] === 'number'));
  return (
    cells
      .map((row) => row.map((cell, column) => (numeric[column] ? String(cell).padStart(widths[column]!) : String(cell).padEnd(widths[column]!))).join('  ').trimEnd())
      .join('\n') + '\n'
  );
}

export interface DoctorOptions extends UsageSourceOptions {
  from?: string;
  to?: string;
  logger: Logger;
  /** Tests hand in a fake; otherwise the shared Azure credential. */
  credential?: TokenCredential;
}

const CACHE_TOKEN_KINDS: readonly string[] = ['cacheRead', 'cacheWrite5m', 'cacheWrite1h'];

/**
 * Checks the usage source end to end: access, the metric names and namespace the gateway emits, the
 * dimension values, and the custom-metric time series against Azure Monitor's limit. Returns the number of
 * problems found (the CLI exits non-zero when there are any).
 */
export async function runDoctor(options: DoctorOptions, out: Out = process.stdout, now: Date = new Date()): Promise<number> {
  const settings = usageSettingsFor(options);
  const window =
    options.from !== undefined || options.to !== undefined
      ? dayRangeWindow(options.from ?? options.to!, options.to ?? options.from!, settings.timeZone)
      : settings.usage.kind === 'file'
        ? { start: new Date(Date.UTC(2000, 0, 1)), end: new Date(now.getTime() + 86_400_000) }
        : { start: new Date(now.getTime() - 86_400_000), end: now };
  const discovery = createUsageDiscovery(settings, options.credential === undefined ? {} : { credential: options.credential });
  const recentSince = new Date(now.getTime() - 3_600_000);
  const problems: string[] = [];
  const warnings: string[] = [];
  const say = (line = '') => out.write(`${line}\n`);

  options.logger.progress('doctor', 'checking access');
  say(`Access:      ${await discovery.checkAccess(window)}`);
  options.logger.progress('doctor', 'discovering metric names and dimensions');
  const report = await discovery.discover(window, { timeZone: settings.timeZone, recentSince });
  say(`Source:      ${report.sourceDescription}`);
  say(`Window:      ${report.window.start.toISOString()} to ${report.window.end.toISOString()}`);
  say();

  const expected = new Map<string, string>(Object.entries(settings.metricMapping.tokenKinds));
  if (settings.metricMapping.totalTokensMetric !== null) expected.set(settings.metricMapping.totalTokensMetric, 'cross-check total');
  if (!expected.has(settings.metricMapping.requestCountMetric)) expected.set(settings.metricMapping.requestCountMetric, 'request count');
  const namespace = settings.usage.kind === 'app-insights' ? settings.usage.query.metricNamespace : null;
  say('Metrics seen (name, namespace, samples, used as):');
  if (report.metrics.length === 0) say('  none');
  for (const metric of report.metrics) {
    const role = expected.get(metric.name);
    const namespaceNote = namespace !== null && role !== undefined && metric.namespace !== namespace ? `  (namespace is not "${namespace}": not read)` : '';
    say(`  ${metric.name.padEnd(28)} ${(metric.namespace || '-').padEnd(14)} ${String(metric.samples).padStart(10)}  ${role ?? 'not used'}${namespaceNote}`);
  }
  for (const [name, role] of expected) {
    const seen = report.metrics.filter((m) => m.name === name && (namespace === null || m.namespace === namespace));
    // Cache metrics come only from non-streamed responses that used the cache: absent is worth a look, not broken.
    const isCache = CACHE_TOKEN_KINDS.includes(settings.metricMapping.tokenKinds[name] ?? '');
    if (seen.length === 0 && isCache) warnings.push(`cache metric "${name}" was not seen${namespace === null ? '' : ` in namespace "${namespace}"`}`);
    else if (seen.length === 0) problems.push(`metric "${name}" (${role}) was not seen${namespace === null ? '' : ` in namespace "${namespace}"`}: check METRIC_TOKEN_KINDS / METRIC_NAMESPACE against the gateway policy`);
  }
  say();

  const dims = report.dimensions;
  say(`Dimensions:  ${dims.users} users, ${dims.models} models, ${dims.tiers} tiers`);
  say(`  models:    ${dims.modelValues.join(', ') || '-'}`);
  say(`  tiers:     ${dims.tierValues.join(', ') || '-'}`);
  if (dims.modelValues.includes('unknown')) warnings.push('some requests carry Model "unknown": the policy found no model in the request body');
  if (dims.tierValues.includes('') || dims.tierValues.includes('unknown')) warnings.push('some requests carry no Tier: check the app-role claim in the policy');
  const series = assessSeries(dims);
  say(`Series:      ${series.message}`);
  if (series.level === 'warning') warnings.push(series.message);
  if (series.level === 'over') problems.push(series.message);
  say();

  if (report.contract !== undefined) {
    const contract = assessGatewayContract({
      mapping: settings.metricMapping,
      metrics: report.contract,
      coversLastHour: report.window.end.getTime() > recentSince.getTime() && report.window.start.getTime() <= recentSince.getTime(),
    });
    say('Gateway contract (docs/gateway.md):');
    for (const line of contract.lines) say(`  ${line}`);
    say();
    warnings.push(...contract.warnings);
    problems.push(...contract.problems);
  }

  for (const warning of warnings) say(`warning: ${warning}`);
  for (const problem of problems) say(`problem: ${problem}`);
  say(problems.length === 0 ? 'OK: the usage source looks usable.' : `${problems.length} problem(s) found.`);
  return problems.length;
}

export interface IngestCommandOptions extends UsageSourceOptions {
  days?: number;
  from?: string;
  to?: string;
  directory?: string;
  prices?: string;
  storage?: string;
  out: string;
  logger: Logger;
}

/** Runs the daily ingest on this machine: the trailing days (and catch-up), or an explicit --from/--to backfill. */
export async function runIngest(options: IngestCommandOptions, out: Out = process.stdout): Promise<void> {
  if ((options.from === undefined) !== (options.to === undefined)) throw new AppError('INVALID_ARGUMENT', 'give both --from and --to, or neither');
  if (options.from !== undefined && options.days !== undefined) throw new AppError('INVALID_ARGUMENT', '--days and --from/--to exclude each other');
  const overrides: Record<string, string | undefined> = {
    [SETTING.usageSource]: options.usage ? 'file' : undefined,
    [SETTING.usageFiles]: options.usage?.map((file) => path.resolve(file)).join(';'),
    [SETTING.directoryFile]: options.directory && path.resolve(options.directory),
    [SETTING.priceBookFile]: options.prices && path.resolve(options.prices),
    [SETTING.timeZone]: options.timeZone,
    [SETTING.storageConnection]: options.storage,
  };
  const settings: Settings = loadSettings(environmentWith(withDefaults(overrides, demoFileDefaults(options.out))), { projectRoot: PROJECT_ROOT });
  await withStorage(settings, options.out, options.logger, async (settings) => {
    const services = await createServices(settings, { logger: options.logger });
    const result = await ingestDaily(services.ingestDaily, {
      trigger: 'cli',
      ...(options.days === undefined ? {} : { trailingDays: options.days }),
      ...(options.from !== undefined && options.to !== undefined ? { range: { from: options.from, to: options.to } } : {}),
    });
    const series = await Promise.all(result.months.map((month) => services.ingestDaily.dailyRollups.readMonthDailySeries(month)));
    const totals = series.flat().filter((total) => result.days.includes(total.day));
    const cost = sumMoney(totals.map((total) => total.cost));
    const unpriced = totals.reduce((sum, total) => sum + totalTokens(total.unpricedTokens), 0);
    out.write(
      [
        '',
        `Ingested:        ${result.plan.firstDay} to ${result.plan.lastDay} (${result.days.length} day(s)${result.plan.catchUpDays > 0 ? `, ${result.plan.catchUpDays} caught up` : ''})`,
        ...(result.plan.notCaughtUp ? [`Not caught up:   ${result.plan.notCaughtUp.from} to ${result.plan.notCaughtUp.to} (older than the catch-up limit)`] : []),
        `Source:          ${result.usage.sourceDescription}`,
        `Usage rows:      ${result.usage.rows} (${result.usage.rejects.count} rejected)`,
        `Day lines:       ${result.stored.lines} stored${result.stored.deletedLines > 0 ? `, ${result.stored.deletedLines} stale removed` : ''}`,
        `Team-day totals: ${result.stored.totals}`,
        `Cost:            ${formatMinorUnits(toMinorUnits(cost))}${unpriced > 0 ? ` (+ ${unpriced} unpriced tokens)` : ''}`,
        `Months touched:  ${result.months.join(', ')}`,
        `Covered through: ${result.run.coveredThrough ?? '-'} (run ${result.run.id})`,
        '',
      ].join('\n'),
    );
  });
}

function count(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return number;
}

/** Adds `usage`, `doctor` and `ingest` to the program. */
export function registerUsageCommands(program: Command, loggerFor: (command: Command) => Logger): void {
  program
    .command('usage')
    .description('print what the usage source returns for some days: totals per day x model x tier, or the top users')
    .requiredOption('--from <YYYY-MM-DD>', 'first day (in the reporting time zone)', dayArgument)
    .requiredOption('--to <YYYY-MM-DD>', 'last day, included', dayArgument)
    .option('--by-user', 'totals per user instead, the heaviest first')
    .addOption(new Option('--top <n>', 'with --by-user: how many users').argParser(count).default(20))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv']).default('table'))
    .option('--usage <files...>', 'read these export files instead of the configured source (USAGE_SOURCE)')
    .option('--time-zone <zone>', 'IANA time zone the days are cut in; default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .action(async (options, command: Command) => {
      await runUsage({ ...options, logger: loggerFor(command) });
    });

  program
    .command('doctor')
    .description('check the usage source: access, metric names and namespace, dimension values, time series against the Azure Monitor limit')
    .option('--from <YYYY-MM-DD>', 'first day to look at (default: the last 24 hours; for files, everything)', dayArgument)
    .option('--to <YYYY-MM-DD>', 'last day to look at, included', dayArgument)
    .option('--usage <files...>', 'check these export files instead of the configured source (USAGE_SOURCE)')
    .option('--time-zone <zone>', 'IANA time zone the days are cut in; default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .action(async (options, command: Command) => {
      const problems = await runDoctor({ ...options, logger: loggerFor(command) });
      if (problems > 0) process.exitCode = 1;
    });

  program
    .command('ingest')
    .description('run the daily ingest here: the trailing complete days plus missed days, or a --from/--to backfill, into the daily rollups')
    .addOption(new Option('--days <n>', 'trailing complete days to read (default INGEST_TRAILING_DAYS or 3)').argParser(count))
    .option('--from <YYYY-MM-DD>', 'backfill from this day (with --to) instead of the trailing window', dayArgument)
    .option('--to <YYYY-MM-DD>', 'last day of the backfill, included', dayArgument)
    .option('--usage <files...>', 'usage export files (switches to the file source); default the configured source')
    .option('--directory <file>', 'directory file (users to teams); default DIRECTORY_FILE')
    .option('--prices <file>', 'price book file; default PRICE_BOOK_FILE or the shipped data/price-book.json')
    .option('--time-zone <zone>', 'IANA time zone of the reporting days; default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .option('--storage <connection-string>', 'table storage; default STORAGE_CONNECTION_STRING, else a local Azurite under --out')
    .option('--out <dir>', 'where the local Azurite data go', 'out')
    .action(async (options, command: Command) => {
      await runIngest({ ...options, out: path.resolve(options.out), logger: loggerFor(command) });
    });
}
