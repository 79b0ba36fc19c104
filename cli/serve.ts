/**
 * `serve`: the team cost API on localhost, running the Azure Functions handlers themselves over node:http,
 * against the local stack (Azurite under --out when no storage is configured, the directory file).
 * `token`: test tokens for it, signed with a local key kept in --out. Neither involves Entra; in Azure the
 * handlers check real Entra tokens (AUTH_TENANT_ID, AUTH_AUDIENCE).
 */
import { access, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { costApiRoutes, startLocalHost, type LocalHost, type LocalRoute } from '../shared/adapters/http/local-host.js';
import { webAppHandler, type WebSignIn } from '../shared/adapters/http/web-app.js';
import { FileDirectory } from '../shared/adapters/local/file-directory.js';
import {
  LOCAL_AUDIENCE,
  LOCAL_TENANT_ID,
  loadOrCreateLocalSigningKey,
  localVerifier,
  mintLocalToken,
  type LocalSigningKey,
} from '../shared/adapters/local/local-token-issuer.js';
import { createServices, type Services } from '../shared/composition-root.js';
import { FINANCE_ROLE } from '../shared/domain/access.js';
import { AppError } from '../shared/domain/errors.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING, type Settings } from '../shared/config/settings.js';
import type { Clock, Logger } from '../shared/ports/runtime.js';
import { withStorage } from './storage.js';
import { assertDevelopmentSignInAllowed, demoPeople, DEVELOPMENT_SIGN_IN, developmentSignInRoutes, type DemoPerson } from './dev-sign-in.js';
import { demoFileDefaults, environmentWith, positiveIntegerArgument, timeZoneArgument, withDefaults } from './options.js';

export const DEFAULT_API_PORT = 7071;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ServeOptions {
  port: number;
  directory?: string;
  storage?: string;
  timeZone?: string;
  out: string;
  /** Offer the cost page's development sign-in (default on; refused where the settings look like Azure). */
  devSignIn?: boolean;
  logger: Logger;
}

/** The page's path on the local host, as on the Functions app (route `web/{*path}` under `api/`). */
export const WEB_PAGE_PATH = '/api/web/';

export interface TokenOptions {
  user: string;
  role: string[];
  upn?: string;
  name?: string;
  expiresIn: number;
  directory?: string;
  out: string;
}

export function registerServeCommands(program: Command, loggerFor: (command: Command) => Logger): void {
  program
    .command('serve')
    .description('serve the team cost API on localhost (the Azure Functions handlers themselves), for tokens from `token`')
    .addOption(new Option('--port <n>', 'port on 127.0.0.1').argParser(portNumber).default(DEFAULT_API_PORT))
    .option('--directory <file>', 'directory file (teams, members, leads); default DIRECTORY_FILE, else <out>/demo/directory.json')
    .option('--storage <connection-string>', 'table storage; default STORAGE_CONNECTION_STRING, else a local Azurite under --out')
    .option('--time-zone <zone>', 'IANA time zone of the reporting months (the default month); default REPORTING_TIME_ZONE or UTC', timeZoneArgument)
    .option('--out <dir>', 'where the local Azurite data and the local signing key live', 'out')
    .option('--no-dev-sign-in', "don't offer the cost page's development sign-in (a demo lead, member or finance)")
    .action(async (options, command: Command) => {
      await runServe({ ...options, out: path.resolve(options.out), logger: loggerFor(command) });
    });

  program
    .command('token')
    .description('print a test access token for `serve`, signed with the local key under --out (never accepted in Azure)')
    .requiredOption('--user <oid>', "the caller's Entra object id (a GUID), e.g. a userId from out/demo/directory.json", guid)
    .option('--role <role>', 'an app role, e.g. Chargeback.Finance (repeat for several)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--upn <address>', "the caller's sign-in name (display only: leads are recognised by their oid); default: the user's upn in the directory file")
    .option('--name <name>', "the caller's display name; default: from the directory file")
    .addOption(new Option('--expires-in <seconds>', 'lifetime of the token').argParser(positiveIntegerArgument).default(3600))
    .option('--directory <file>', 'directory file to take the upn and name from; default DIRECTORY_FILE, else <out>/demo/directory.json')
    .option('--out <dir>', 'where the local signing key lives', 'out')
    .action(async (options) => {
      await runToken({ ...options, out: path.resolve(options.out) });
    });
}

export async function runServe(options: ServeOptions): Promise<void> {
  const devSignIn = options.devSignIn !== false;
  // Before anything else: a development sign-in where the settings look like Azure is a configuration error.
  if (devSignIn) assertDevelopmentSignInAllowed(process.env);
  const settings = serveSettings(options);
  const key = await loadOrCreateLocalSigningKey(options.out);
  const people = devSignIn && settings.directory.kind === 'file' ? await demoPeople(settings.directory.path, settings.api.financeRole) : undefined;
  const defaultMonth = await latestDemoMonth(options.out);
  await withStorage(settings, options.out, options.logger, async (settings) => {
    const page: CostPageOptions = {
      signIn: people === undefined ? { kind: 'unconfigured', message: 'Sign in with a token from `npm run chargeback -- token` (development sign-in is off)' } : DEVELOPMENT_SIGN_IN,
      ...(people === undefined ? {} : { people }),
      ...(defaultMonth === undefined ? {} : { defaultMonth }),
    };
    const host = await startCostApiServer({ settings, key, port: options.port, logger: options.logger, page });
    process.stdout.write(
      [
        `Cost page on ${host.url}${WEB_PAGE_PATH}${people === undefined ? '' : '  (development sign-in: a demo lead, member or finance)'}`,
        `Team cost API on ${host.url}/api (Ctrl+C to stop)`,
        `  GET ${host.url}/api/teams/{team}/costs?month=YYYY-MM`,
        `  GET ${host.url}/api/teams?month=YYYY-MM          (finance)`,
        `  GET ${host.url}/api/me/costs?month=YYYY-MM`,
        `Directory: ${settings.directory.kind === 'file' ? settings.directory.path : settings.directory.kind}`,
        `Tokens:    npm run chargeback -- token --user <oid> [--role Chargeback.Finance]   (see docs/api.md)`,
        '',
      ].join('\n'),
    );
    const signal = await untilStopped();
    options.logger.progress('serve', `${signal}: stopping`);
    await host.close();
  });
}

export interface CostPageOptions {
  readonly signIn: WebSignIn;
  /** The people the development sign-in offers (only with `signIn.kind === 'development'`). */
  readonly people?: readonly DemoPerson[];
  readonly defaultMonth?: string;
  /** The built page; default dist/web. */
  readonly root?: string;
}

/**
 * The API over node:http on the given settings (storage must be set), accepting tokens signed with `key`;
 * with `page`, also the cost page at /api/web/ (and `/` sends a browser there).
 */
export async function startCostApiServer(options: {
  settings: Settings;
  key: LocalSigningKey;
  port: number;
  logger: Logger;
  clock?: Clock;
  page?: CostPageOptions;
}): Promise<LocalHost & { services: Services }> {
  const accessTokens = localVerifier(options.key, {
    tenantId: LOCAL_TENANT_ID,
    audience: LOCAL_AUDIENCE,
    ...(options.clock === undefined ? {} : { now: () => options.clock!.now() }),
  });
  const services = await createServices(options.settings, { logger: options.logger, accessTokens, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  const routes: LocalRoute[] = costApiRoutes(async () => services);
  const page = options.page;
  if (page !== undefined) {
    const config = { signIn: page.signIn, ...(page.defaultMonth === undefined ? {} : { defaultMonth: page.defaultMonth }) };
    routes.push({ name: 'web', segments: ['web', '{*path}'], methods: ['GET', 'HEAD'], handler: webAppHandler({ root: page.root ?? path.join(PROJECT_ROOT, 'dist', 'web'), config: () => config }) });
    if (page.signIn.kind === 'development') {
      assertDevelopmentSignInAllowed(process.env);
      routes.push(...developmentSignInRoutes({ key: options.key, people: page.people ?? [], ...(options.clock === undefined ? {} : { now: () => options.clock!.now() }) }));
    }
  }
  const host = await startLocalHost({ port: options.port, routes, logger: options.logger, ...(page === undefined ? {} : { rootRedirect: WEB_PAGE_PATH }) });
  return { ...host, close: () => host.close(), services };
}

export async function runToken(options: TokenOptions): Promise<void> {
  const roles = knownRoles();
  const unknown = options.role.filter((role) => !roles.includes(role));
  if (unknown.length > 0) {
    throw new AppError('INVALID_ARGUMENT', `--role ${unknown.map((role) => `"${role}"`).join(', ')}: not a role the API checks; use ${roles.join(' or ')} (${SETTING.authFinanceRole}, ${SETTING.authLeadRole}), or no --role for a lead or member`);
  }
  const key = await loadOrCreateLocalSigningKey(options.out);
  const known = options.upn !== undefined && options.name !== undefined ? undefined : await directoryEntry(options);
  const upn = options.upn ?? known?.upn;
  const name = options.name ?? known?.displayName;
  const token = await mintLocalToken(key, {
    userId: options.user.toLowerCase(),
    roles: options.role,
    tenantId: LOCAL_TENANT_ID,
    audience: LOCAL_AUDIENCE,
    expiresInSeconds: options.expiresIn,
    ...(upn === undefined ? {} : { upn }),
    ...(name === undefined ? {} : { name }),
  });
  process.stdout.write(`${token}\n`);
}

/** The app roles `serve` (and the API) look at: a typo'd role would mint a token that silently grants nothing. */
function knownRoles(): string[] {
  const finance = process.env[SETTING.authFinanceRole]?.trim() || FINANCE_ROLE;
  const lead = process.env[SETTING.authLeadRole]?.trim();
  return lead ? [finance, lead] : [finance];
}

/** The settings `serve` runs on: the shared ones, with local defaults for what the API does not read. */
function serveSettings(options: ServeOptions): Settings {
  const env = process.env;
  const usesFiles = (env[SETTING.usageSource]?.trim() || 'file') === 'file';
  const overrides: Record<string, string | undefined> = {
    [SETTING.directoryFile]: options.directory ? path.resolve(options.directory) : env[SETTING.directoryFile] ? undefined : path.join(options.out, 'demo', 'directory.json'),
    // The API reads rollups, never usage; the shared loader still wants a usage file named.
    [SETTING.usageFiles]: usesFiles && !env[SETTING.usageFiles] ? path.join(options.out, 'demo', 'usage-not-read-by-serve.ndjson') : undefined,
    [SETTING.storageConnection]: options.storage,
    [SETTING.timeZone]: options.timeZone,
    // The demo's budgets, so the page shows budgets and forecasts after `npm start`.
    [SETTING.budgetsFile]: env[SETTING.budgetsFile] ? undefined : existsSync(path.join(options.out, 'demo', 'budgets.json')) ? path.join(options.out, 'demo', 'budgets.json') : undefined,
    [SETTING.outboxDir]: path.join(options.out, 'outbox'),
    [SETTING.artifactsDir]: path.join(options.out, 'reports'),
  };
  return loadSettings(environmentWith(withDefaults(overrides, { [SETTING.budgetsFile]: demoFileDefaults(options.out)[SETTING.budgetsFile] })), { projectRoot: PROJECT_ROOT });
}

async function directoryEntry(options: TokenOptions): Promise<{ upn: string; displayName: string } | undefined> {
  const file = options.directory ? path.resolve(options.directory) : process.env[SETTING.directoryFile] ? path.resolve(PROJECT_ROOT, process.env[SETTING.directoryFile]!) : path.join(options.out, 'demo', 'directory.json');
  try {
    await access(file);
  } catch {
    return undefined;
  }
  const resolution = await new FileDirectory(file).resolve([options.user, options.user.toLowerCase()]);
  return resolution.users.get(options.user) ?? resolution.users.get(options.user.toLowerCase());
}

/** The latest month the demo generated usage for (out/demo/usage-YYYY-MM.ndjson), the page's opening month. */
async function latestDemoMonth(out: string): Promise<string | undefined> {
  try {
    const months = (await readdir(path.join(out, 'demo'))).map((name) => /^usage-(\d{4}-\d{2})\.ndjson$/.exec(name)?.[1]).filter((month) => month !== undefined);
    return months.sort().at(-1);
  } catch {
    return undefined;
  }
}

function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535)`);
  return port;
}

function guid(value: string): string {
  if (!GUID.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not an Entra object id (a GUID)`);
  return value.trim();
}
