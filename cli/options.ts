import { InvalidArgumentError } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { COMMAND_LINE_FLAGS, SETTING, type SettingsSource } from '../shared/config/settings.js';
import { isAppError } from '../shared/domain/errors.js';
import { parseDay, parseMonth } from '../shared/domain/periods.js';

/** The command-line option that sets each setting, so that a problem with its value names the option too. */
export const FLAG_OF_SETTING: Readonly<Partial<Record<string, string>>> = {
  [SETTING.usageSource]: '--usage',
  [SETTING.usageFiles]: '--usage',
  [SETTING.directoryFile]: '--directory',
  [SETTING.priceBookFile]: '--prices',
  [SETTING.timeZone]: '--time-zone',
  [SETTING.financeRecipients]: '--finance',
  [SETTING.storageConnection]: '--storage',
  [SETTING.budgetsFile]: '--budgets',
  [SETTING.outboxDir]: '--out',
  [SETTING.artifactsDir]: '--out',
};

/** The app settings from the environment, with the command-line values that were given taking precedence. */
export function environmentWith(overrides: Record<string, string | undefined>): SettingsSource {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const flags = Object.fromEntries(Object.keys(given).flatMap((name) => (FLAG_OF_SETTING[name] === undefined ? [] : [[name, FLAG_OF_SETTING[name]]])));
  return { ...process.env, ...given, [COMMAND_LINE_FLAGS]: flags };
}

export interface StackOptions {
  directory?: string;
  prices?: string;
  timeZone?: string;
  finance?: string;
  storage?: string;
  out: string;
}

/** What the commands running the whole stack share: files as the caller named them, every output under --out. */
export function stackOverrides(options: StackOptions): Record<string, string | undefined> {
  return {
    [SETTING.directoryFile]: options.directory && path.resolve(options.directory),
    [SETTING.priceBookFile]: options.prices && path.resolve(options.prices),
    [SETTING.timeZone]: options.timeZone,
    [SETTING.financeRecipients]: options.finance,
    [SETTING.storageConnection]: options.storage,
    [SETTING.outboxDir]: path.join(options.out, 'outbox'),
    [SETTING.artifactsDir]: path.join(options.out, 'reports'),
  };
}

/**
 * What `npm start` left under --out, for whatever the environment does not name: the demo's directory file,
 * its budgets and its usage exports. So `directory show`, `budgets check`, `usage`, `ingest` and `serve` work
 * on a fresh clone right after `npm start`, as `serve` always did. A setting or a flag still wins.
 */
export function demoFileDefaults(out: string, env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const demo = path.join(out, 'demo');
  const unset = (name: string) => (env[name] ?? '').trim() === '';
  const existing = (file: string) => (existsSync(file) ? file : undefined);
  let usage: string | undefined;
  if (unset(SETTING.usageFiles) && (env[SETTING.usageSource] ?? 'file').trim() === 'file' && existsSync(demo)) {
    const files = readdirSync(demo)
      .filter((name) => /^usage-\d{4}-\d{2}\.(ndjson|csv)$/.test(name))
      .sort()
      .map((name) => path.join(demo, name));
    usage = files.length > 0 ? files.join(';') : undefined;
  }
  return {
    [SETTING.directoryFile]: unset(SETTING.directoryFile) ? existing(path.join(demo, 'directory.json')) : undefined,
    [SETTING.budgetsFile]: unset(SETTING.budgetsFile) ? existing(path.join(demo, 'budgets.json')) : undefined,
    [SETTING.usageFiles]: usage,
  };
}

/** `overrides` with `defaults` filling the values it leaves undefined. */
export function withDefaults(overrides: Record<string, string | undefined>, defaults: Record<string, string | undefined>): Record<string, string | undefined> {
  const merged = { ...overrides };
  for (const [name, value] of Object.entries(defaults)) if (merged[name] === undefined) merged[name] = value;
  return merged;
}

/** Commander argument parsers: a domain parse error becomes commander's usage error, with the same message. */
export function monthArgument(value: string): string {
  return asArgumentError(() => parseMonth(value));
}

export function dayArgument(value: string): string {
  return asArgumentError(() => parseDay(value));
}

function asArgumentError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError(isAppError(error) ? error.message : String(error));
  }
}

/** An IANA zone; a bad one is reported against the flag (`--time-zone`), not the setting it overrides. */
export function timeZoneArgument(value: string): string {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    throw new InvalidArgumentError(`"${value}" is not an IANA time zone (for example UTC or Europe/Paris)`);
  }
  return value;
}

export function positiveIntegerArgument(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return number;
}
