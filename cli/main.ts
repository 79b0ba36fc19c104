import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { describeError, isAppError } from '../shared/domain/errors.js';
import { previousMonth } from '../shared/domain/periods.js';
import { consoleLogger } from '../shared/adapters/local/console-logger.js';
import { DEMO_DEFAULTS } from './demo-generator.js';
import { runClose, runDemo, runGenerate } from './commands.js';
import { buildDirectoryCommand } from './directory.js';
import { registerUsageCommands } from './usage.js';
import { registerBudgetsCommands } from './budgets.js';
import { registerServeCommands } from './serve.js';
import { monthArgument, positiveIntegerArgument, timeZoneArgument } from './options.js';
import { EXIT, ExitCode } from './exit-codes.js';

const INPUT_ERRORS = new Set(['INVALID_ARGUMENT', 'CONFIG_INVALID', 'PRICE_BOOK_INVALID', 'DIRECTORY_INVALID', 'USAGE_INPUT_INVALID', 'CLOSE_REFUSED', 'BILLED_INPUT_INVALID']);

export function buildProgram(): Command {
  const program = new Command()
    .name('chargeback')
    .description('Turns LLM gateway token metrics into team chargeback: rollups in Table Storage, a finance workbook, mail.')
    .showHelpAfterError('(run with --help for usage)')
    // Usage errors throw instead of exiting, so they get the same exit code as other bad input.
    .exitOverride()
    .option('-q, --quiet', 'only print the result and warnings')
    .option('-v, --verbose', 'print details with warnings');

  program
    .command('demo')
    .description('generate a demo organization and a month of gateway metrics (once), then close that month on the local stack')
    .addOption(new Option('--month <YYYY-MM>', 'the demo month (default: the previous calendar month)').argParser(monthArgument))
    .addOption(new Option('--users <n>', 'users in the demo organization').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.users))
    .addOption(new Option('--teams <n>', 'teams in the demo organization').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.teams))
    .addOption(new Option('--seed <n>', 'seed of the demo data').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.seed))
    .option('--out <dir>', 'where outputs, demo data and the local Azurite data go', 'out')
    .option('--force', 'send the finance mail and the team mails of this revision again even if they were already sent')
    .action(async (options, command: Command) => {
      const month = options.month ?? previousMonth(new Date(), 'UTC');
      exitWith(await runDemo({ ...options, month, out: path.resolve(options.out), logger: loggerFor(command) }));
    });

  program
    .command('close')
    .description(
      'close a month: read usage, resolve teams, price, check the controls, store rollups, build and mail the workbooks.\n' +
        'Exit codes: 0 closed, 2 refused or bad input (nothing stored or sent), 3 held for review (a draft stored, only the operator told),\n' +
        '4 closed but some mails are uncertain (see --resend-uncertain), 75 another close of the month is running.',
    )
    .requiredOption('--month <YYYY-MM>', 'the month to close', monthArgument)
    .option('--usage <files...>', 'usage export files (.csv as the portal exports it, or .ndjson); default USAGE_FILES')
    .option('--billed-costs <files...>', "Cost Management 'Cost and usage details (FOCUS)' export files (.csv or .csv.gz) to true the month up to; default BILLED_COST_SOURCE")
    .option('--directory <file>', 'directory file (users to teams, team leads); default DIRECTORY_FILE')
    .option('--prices <file>', 'price book file; default PRICE_BOOK_FILE or the shipped data/price-book.json')
    .option('--time-zone <zone>', 'IANA time zone of the reporting months; default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .option('--finance <addresses>', 'finance recipients, comma separated; default FINANCE_RECIPIENTS')
    .option('--storage <connection-string>', 'table storage; default STORAGE_CONNECTION_STRING, else a local Azurite under --out')
    .option('--out <dir>', 'where workbooks, the outbox and the local Azurite data go', 'out')
    .option('--operator <addresses>', 'who hears of held and refused closes, comma separated; default OPERATOR_RECIPIENTS')
    .option('--force', 'send the finance mail and the team mails of this revision again even if they were already sent')
    .option('--dry-run', 'run every step and write the workbooks and mails into <out>/preview/<month>; store and send nothing')
    .option('--preview', 'like --dry-run, and allowed for a month that is not over yet (month to date)')
    .option('--release-hold', 'accept the held close of this month exactly as it was held (needs --reason), then publish and mail it')
    .option('--reason <text>', 'why a held close is released; recorded on the Run sheet')
    .option('--resend-uncertain', 'send mails claimed by a run that died before recording them (check first that they did not arrive)')
    .addOption(
      new Option('--workers <n>', 'fan the workbooks and mails out as work items on queues (a local Azurite queue service unless WORK_QUEUES_* is set) and run them with n workers, as the queue-triggered functions do in Azure').argParser(
        positiveIntegerArgument,
      ),
    )
    .action(async (options, command: Command) => {
      exitWith(await runClose({ ...options, out: path.resolve(options.out), logger: loggerFor(command) }));
    });

  program
    .command('generate')
    .description('write demo data (a directory file and a month of usage) without closing anything')
    .requiredOption('--month <YYYY-MM>', 'the month to generate', monthArgument)
    .addOption(new Option('--users <n>', 'users').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.users))
    .addOption(new Option('--teams <n>', 'teams').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.teams))
    .addOption(new Option('--seed <n>', 'seed').argParser(positiveIntegerArgument).default(DEMO_DEFAULTS.seed))
    .addOption(new Option('--format <format>', 'usage file format').choices(['ndjson', 'csv']).default('ndjson'))
    .option('--models <ids>', 'comma-separated gateway model ids to use (default: the demo mix, with one unpriced model)')
    .option('--time-zone <zone>', 'IANA time zone the month is cut in', timeZoneArgument, 'UTC')
    .option('--out <dir>', 'output directory', 'out/demo')
    .action(async (options, command: Command) => {
      await runGenerate({ ...options, out: path.resolve(options.out), logger: loggerFor(command) });
    });

  program.addCommand(buildDirectoryCommand(loggerFor));
  registerUsageCommands(program, loggerFor);
  registerBudgetsCommands(program, loggerFor);
  registerServeCommands(program, loggerFor);

  return program;
}

function exitWith(code: number): void {
  if (code !== EXIT.ok) throw new ExitCode(code);
}

function loggerFor(command: Command) {
  const globals = command.optsWithGlobals() as { quiet?: boolean; verbose?: boolean };
  return consoleLogger({ quiet: globals.quiet ?? false, verbose: globals.verbose ?? false });
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ExitCode) return error.exitCode;
    process.stderr.write(`\n${describeError(error)}\n`);
    if (isAppError(error) && error.retryable) process.stderr.write('(this may succeed if you run it again)\n');
    if (isAppError(error) && error.code === 'BUSY') return EXIT.busy;
    return isAppError(error) && INPUT_ERRORS.has(error.code) ? EXIT.badInput : EXIT.failed;
  }
}

process.exitCode = await main(process.argv.slice(2));
