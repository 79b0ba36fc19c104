import type { TokenCredential } from '@azure/identity';
import { Command } from 'commander';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { ResolutionOrigin } from '../shared/adapters/azure/cached-directory.js';
import { startAzurite, type RunningAzurite } from '../shared/adapters/local/azurite.js';
import { createDirectory, type DirectoryServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { isStorageConfigured, loadDirectorySettings, SETTING, type Settings } from '../shared/config/settings.js';
import { allocate, UNALLOCATED_TEAM, type DirectoryResolution } from '../shared/domain/directory.js';
import type { Logger } from '../shared/ports/runtime.js';
import { demoFileDefaults, environmentWith, withDefaults } from './options.js';

export interface DirectoryCommandOptions {
  directory?: string;
  storage?: string;
  out: string;
  logger: Logger;
  /** Where the result is printed (default stdout). */
  output?: Writable;
  clock?: { now(): Date };
  /** Instead of the process's DefaultAzureCredential (tests). */
  credential?: TokenCredential;
}

const NOTE_SAMPLE = 20;

/** `directory refresh` and `directory show`; `loggerFor` is the program's, so -q / -v work here too. */
export function buildDirectoryCommand(loggerFor: (command: Command) => Logger): Command {
  const directory = new Command('directory').description('look at and refresh the directory (users to teams) the runs use');
  const common = (command: Command) =>
    command
      .option('--directory <file>', 'directory file when DIRECTORY_SOURCE=file; default DIRECTORY_FILE')
      .option('--storage <connection-string>', 'table storage holding the directory cache; default STORAGE_CONNECTION_STRING, else a local Azurite under --out')
      .option('--out <dir>', 'where the local Azurite data go when no storage is configured', 'out');

  common(
    directory
      .command('refresh')
      .description('resolve every cached user again through Microsoft Graph (or only the given oids) and rewrite the cache')
      .argument('[oids...]', 'only these Entra object ids'),
  ).action(async (oids: string[], options, command: Command) => {
    await runDirectoryRefresh(oids, { ...options, out: path.resolve(options.out), logger: loggerFor(command) });
  });

  common(
    directory
      .command('show')
      .description('print how an oid resolves: team, status, and whether the answer came from the cache or the directory')
      .argument('<oid>', 'an Entra object id (the UserId the gateway emits)'),
  ).action(async (oid: string, options, command: Command) => {
    await runDirectoryShow(oid, { ...options, out: path.resolve(options.out), logger: loggerFor(command) });
  });
  return directory;
}

export async function runDirectoryRefresh(oids: readonly string[], options: DirectoryCommandOptions): Promise<void> {
  const output = options.output ?? process.stdout;
  const settings = settingsFor(options);
  if (settings.directory.kind === 'file') {
    output.write(`DIRECTORY_SOURCE is "file": ${settings.directory.path} is read on every run, so there is no cache to refresh.\n`);
    return;
  }
  await withDirectory(settings, options, async ({ cache, description }) => {
    if (cache === null) return;
    const result = await cache.refresh(oids.length > 0 ? oids : undefined);
    const { record } = result;
    output.write(`${description}\n`);
    output.write(
      `refreshed ${record.resolved} of ${record.requested} ${record.full ? 'cached ' : ''}user(s) and ${record.teams} team(s) at ${record.refreshedAt.toISOString()}\n`,
    );
    if (record.requested === 0) output.write('the cache is empty: the next run fills it (or name oids to refresh)\n');
    if (result.unresolved.length > 0) {
      output.write(`not resolved (unknown to the directory, or still throttled; known users keep their older entry): ${sample(result.unresolved)}\n`);
    }
    for (const note of result.notes) output.write(`note: ${note}\n`);
  });
}

export async function runDirectoryShow(oid: string, options: DirectoryCommandOptions): Promise<void> {
  const output = options.output ?? process.stdout;
  const settings = settingsFor(options);
  await withDirectory(settings, options, async ({ directory, cache, description }) => {
    let resolution: DirectoryResolution;
    let origin: ResolutionOrigin | undefined;
    if (cache !== null) {
      const detailed = await cache.resolveDetailed([oid]);
      resolution = detailed;
      origin = detailed.origins.get(oid);
    } else {
      resolution = await directory.resolve([oid]);
    }
    output.write(describeLookup(oid, resolution, { description, origin, expiresAt: cache === null ? undefined : (at: Date) => cache.expiresAt(at) }));
    if (cache !== null) {
      const last = await cache.lastRefresh();
      output.write(`last refresh: ${last === undefined ? 'never' : `${last.refreshedAt.toISOString()} (${last.full ? 'all cached users' : 'chosen oids'}: ${last.resolved}/${last.requested} resolved)`}\n`);
    }
  });
}

/** How one oid resolves, for people; every line a run's charge depends on. */
function describeLookup(
  oid: string,
  resolution: DirectoryResolution,
  context: { description: string; origin?: ResolutionOrigin | undefined; expiresAt?: ((resolvedAt: Date) => Date) | undefined },
): string {
  const lines: string[] = [oid];
  const user = resolution.users.get(oid) ?? resolution.users.get(oid.toLowerCase());
  const charge = allocate(oid, resolution);
  if (user === undefined) {
    lines.push('  not in the directory: usage is charged to the unallocated team');
  } else {
    lines.push(`  name:    ${user.displayName || '(no name)'}${user.upn ? ` <${user.upn}>` : ''}`);
    lines.push(`  status:  ${user.status}`);
    const team = resolution.teams.get(user.teamId);
    if (user.teamId === UNALLOCATED_TEAM) lines.push('  team:    none (unallocated)');
    else if (team === undefined) lines.push(`  team:    ${user.teamId} (unknown team)`);
    else {
      lines.push(`  team:    ${team.id} (${team.name})${team.costCenter ? `, cost center ${team.costCenter}` : ''}`);
      lines.push(`  leads:   ${team.leads.length === 0 ? 'none' : team.leads.join(', ')}`);
    }
    lines.push(`  charged: ${charge.teamId === UNALLOCATED_TEAM ? `unallocated (${charge.allocation})` : `team ${charge.teamId}`}`);
  }
  lines.push(`  source:  ${sourceOf(context)}`);
  for (const note of resolution.notes) lines.push(`  note:    ${note}`);
  return `${lines.join('\n')}\n`;
}

function sourceOf(context: { description: string; origin?: ResolutionOrigin | undefined; expiresAt?: ((resolvedAt: Date) => Date) | undefined }): string {
  const origin = context.origin;
  if (origin === undefined) return context.description;
  const until = context.expiresAt ? `, trusted until ${context.expiresAt(origin.resolvedAt).toISOString()}` : '';
  switch (origin.source) {
    case 'cache':
      return `cache (resolved ${origin.resolvedAt.toISOString()}${until}); ${context.description}`;
    case 'directory':
      return `fresh from the directory, now cached (${origin.resolvedAt.toISOString()}${until}); ${context.description}`;
    case 'expired-cache':
      return `expired cache entry from ${origin.resolvedAt.toISOString()}: the directory did not answer this time; ${context.description}`;
  }
}

function settingsFor(options: DirectoryCommandOptions): Pick<Settings, 'directory' | 'storage'> {
  const overrides: Record<string, string | undefined> = {
    [SETTING.directoryFile]: options.directory && path.resolve(options.directory),
    [SETTING.storageConnection]: options.storage,
  };
  return loadDirectorySettings(environmentWith(withDefaults(overrides, demoFileDefaults(options.out))), { projectRoot: PROJECT_ROOT });
}

/** Builds the directory; for the Graph source without configured storage, on a local Azurite like `close` does. */
async function withDirectory(
  settings: Pick<Settings, 'directory' | 'storage'>,
  options: DirectoryCommandOptions,
  run: (services: DirectoryServices) => Promise<void>,
): Promise<void> {
  const runtime = { logger: options.logger, ...(options.clock ? { clock: options.clock } : {}), ...(options.credential ? { credential: options.credential } : {}) };
  if (settings.directory.kind === 'file' || isStorageConfigured(settings.storage)) {
    await run(await createDirectory(settings, runtime));
    return;
  }
  options.logger.progress('storage', `no storage configured: starting a local Azurite (data in ${path.join(options.out, 'azurite')})`);
  let azurite: RunningAzurite | undefined;
  try {
    azurite = await startAzurite({ location: path.join(options.out, 'azurite') });
    await run(await createDirectory({ ...settings, storage: { ...settings.storage, connectionString: azurite.connectionString } }, runtime));
  } finally {
    await azurite?.stop();
  }
}

function sample(items: readonly string[]): string {
  const shown = items.slice(0, NOTE_SAMPLE).join(', ');
  return items.length > NOTE_SAMPLE ? `${shown} and ${items.length - NOTE_SAMPLE} more` : shown;
}
