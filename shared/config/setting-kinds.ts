import path from 'node:path';
import { z } from 'zod';
import { assertTimeZone } from '../domain/periods.js';

/**
 * The kinds of value a setting can hold, as zod schemas over the raw app setting (a string, or nothing).
 * Each reports its problem as an issue that lets the others be checked too (`continue`), and stands in a
 * fallback value, so one start-up lists every problem at once. A new setting is one line in settings.ts
 * with one of these.
 */

/** Records a problem with the setting being parsed; the setting's name is added from the issue's path. */
export function problem(ctx: { issues: z.core.$ZodRawIssue[] }, input: unknown, message: string): void {
  ctx.issues.push({ code: 'custom', message, input, continue: true });
}

const raw = z.string().optional();

/** Trimmed text; unset and blank are the same (undefined). */
const trimmed = raw.transform((value) => {
  const text = value?.trim();
  return text === undefined || text === '' ? undefined : text;
});

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAIL_ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function text(fallback: string) {
  return trimmed.transform((value) => value ?? fallback);
}

export function optionalText() {
  return trimmed.transform((value) => value ?? null);
}

/** Untrimmed, for values where blanks matter; undefined when unset. */
export function verbatim() {
  return raw;
}

export function requiredText(missing: string) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) problem(ctx, value, missing);
    return value ?? '';
  });
}

/** Text that must match `shape`; `describe` completes the sentence `"value" ...`. */
export function matching(shape: RegExp, describe: string) {
  return trimmed.transform((value, ctx) => {
    if (value !== undefined && !shape.test(value)) problem(ctx, value, `"${value}" ${describe}`);
    return value ?? null;
  });
}

export function oneOf<const T extends string>(values: readonly T[], fallback: T, describe?: (value: string) => string) {
  return trimmed.transform((value, ctx): T => {
    if (value === undefined) return fallback;
    if ((values as readonly string[]).includes(value)) return value as T;
    problem(ctx, value, describe ? describe(value) : `"${value}" is not one of ${values.join(', ')}`);
    return fallback;
  });
}

export function integer(fallback: number, min: number, max: number) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min || number > max) {
      problem(ctx, value, `"${value}" must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return number;
  });
}

/** A non-negative decimal number (e.g. hours: 24 or 0.5). */
export function decimal(fallback: number, describe: string) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const number = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) {
      problem(ctx, value, `"${value}" is not ${describe}`);
      return fallback;
    }
    return number;
  });
}

/** The one yes/no reading of every switch: true/false, yes/no, 1/0 in any case; null when unset. */
export function yesNo() {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return null;
    const lower = value.toLowerCase();
    if (['true', '1', 'yes'].includes(lower)) return true;
    if (['false', '0', 'no'].includes(lower)) return false;
    problem(ctx, value, `"${value}" is neither true nor false`);
    return null;
  });
}

/** Items separated by ; or , (or only by `separator`) with blanks dropped. */
export function list(separator: RegExp = /[;,]/) {
  return raw.transform((value) =>
    (value ?? '')
      .split(separator)
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );
}

export function mailAddress(fallback: string) {
  return trimmed.transform((value, ctx) => {
    if (value !== undefined && !MAIL_ADDRESS.test(value)) problem(ctx, value, `"${value}" is not a mail address`);
    return value ?? fallback;
  });
}

export function mailAddresses() {
  return list().transform((addresses, ctx) => {
    for (const address of addresses) if (!MAIL_ADDRESS.test(address)) problem(ctx, address, `"${address}" is not a mail address`);
    return addresses;
  });
}

/** A path relative to the project root (or absolute); `fallback` when unset. */
export function filePath(projectRoot: string, fallback: string) {
  return trimmed.transform((value) => path.resolve(projectRoot, value ?? fallback));
}

/** A path relative to the project root (or absolute); null when unset. */
export function optionalFilePath(projectRoot: string) {
  return trimmed.transform((value) => (value === undefined ? null : path.resolve(projectRoot, value)));
}

/** An IANA zone; an unknown one is reported and UTC stands in, so the other settings are still checked. */
export function timeZone() {
  return trimmed.transform((value, ctx) => {
    const zone = value ?? 'UTC';
    try {
      return assertTimeZone(zone);
    } catch (error) {
      problem(ctx, value, (error as Error).message);
      return 'UTC';
    }
  });
}

/**
 * The root of a service the app sends a token to, parsed once: https, or plain http towards localhost only
 * (tests, emulators). `rootOnly` refuses a path (`/v1.0`): clients add their own. Null when unset.
 */
export function serviceRoot(options: { rootOnly: boolean; describe?: string }) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return null;
    const url = URL.parse(value);
    if (url === null) {
      problem(ctx, value, `"${value}" is not a URL`);
      return null;
    }
    let valid = true;
    if (url.protocol !== 'https:' && !LOCAL_HOSTS.has(url.hostname)) {
      problem(ctx, value, `"${value}" must use https (plain http only towards localhost)`);
      valid = false;
    }
    if (options.rootOnly && url.pathname !== '/' && url.pathname !== '') {
      problem(ctx, value, `"${value}" must be ${options.describe ?? 'the service root'}, without /v1.0 or another path`);
      valid = false;
    }
    return valid ? value.replace(/\/+$/, '') : null;
  });
}

/** An https URL, which may hold `{name}` placeholders filled in later. Null when unset. */
export function httpsUrl(placeholders: Readonly<Record<string, string>> = {}) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return null;
    const filled = Object.entries(placeholders).reduce((url, [name, example]) => url.replaceAll(`{${name}}`, example), value);
    if (URL.parse(filled)?.protocol === 'https:') return value;
    problem(ctx, value, 'must be an https:// URL');
    return null;
  });
}

/** Whole percentages, sorted without repeats; `fallback` when unset (set but empty means none). */
export function percentages(fallback: string) {
  return raw.transform((value, ctx) => {
    const levels: number[] = [];
    for (const item of (value ?? fallback).split(/[;,]/).map((part) => part.trim()).filter((part) => part !== '')) {
      const level = Number(item);
      if (!Number.isInteger(level) || level < 1 || level > 100) problem(ctx, item, `"${item}" is not a whole percentage from 1 to 100`);
      else if (!levels.includes(level)) levels.push(level);
    }
    return levels.sort((a, b) => a - b);
  });
}

/** A plain decimal number (no sign, exponent or hex) within [min, max]. */
export function boundedDecimal(fallback: number, min: number, max: number) {
  return trimmed.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const number = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || number < min || number > max) {
      problem(ctx, value, `"${value}" must be a number from ${min} to ${max}`);
      return fallback;
    }
    return number;
  });
}
