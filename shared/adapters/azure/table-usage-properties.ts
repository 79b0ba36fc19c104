/**
 * How the rollup stores (monthly lines, day lines, team day totals) write and read the properties they share:
 * token counts as Edm.Int64, allocations, exact decimals as strings, and a schema version on every entity.
 */
import type { Allocation } from '../../domain/directory.js';
import { subjectOf, type LineSubject } from '../../domain/rollup.js';
import { AppError } from '../../domain/errors.js';
import { money, type Money } from '../../domain/money.js';
import { parseDay, parseMonth } from '../../domain/periods.js';
import { TOKEN_KINDS, type TokenCounts, type TokenKind } from '../../domain/tokens.js';

/** Suffix of each token kind's property, after `tokens` or `unpriced` (e.g. `tokensCacheWrite5m`). */
export const TOKEN_PROPERTY: Record<TokenKind, string> = {
  input: 'Input',
  output: 'Output',
  cacheRead: 'CacheRead',
  cacheWrite5m: 'CacheWrite5m',
  cacheWrite1h: 'CacheWrite1h',
};
const ALLOCATIONS: readonly Allocation[] = ['team', 'no-user-id', 'unknown-user', 'former-user'];

export function assertCanonicalDay(day: string): void {
  if (parseDay(day) !== day) throw new AppError('INVALID_ARGUMENT', `"${day}" is not a day: expected YYYY-MM-DD`);
}

export function assertCanonicalMonth(month: string): void {
  if (parseMonth(month) !== month) throw new AppError('INVALID_ARGUMENT', `"${month}" is not a month: expected YYYY-MM`);
}

export function safeCount(value: number, what: string, owner: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AppError('INVALID_ARGUMENT', `${owner}: ${what} must be a non-negative safe integer, got ${value}`);
  }
  return value;
}

/** Counts go out as Edm.Int64: a month of cache reads can pass 2^31, where an untyped number would become a Double. */
export function int64(value: number, what: string, owner: string): bigint {
  return BigInt(safeCount(value, what, owner));
}

/**
 * Typed reads of a stored entity's properties; anything unexpected is reported as a corrupt entity, named by
 * `what` and its keys. An entity of another schema version is refused outright.
 */
export function entityReader(entity: Record<string, unknown>, what: string, schemaVersion: number) {
  const corrupt = (why: string): AppError =>
    new AppError('STORAGE_FAILED', `Stored ${what} PartitionKey "${String(entity.partitionKey)}", RowKey "${String(entity.rowKey)}" is not readable: ${why}`);
  if (entity.schemaVersion !== schemaVersion) throw corrupt(`schemaVersion ${String(entity.schemaVersion)}, this code reads ${schemaVersion}`);
  const text = (name: string): string => {
    const value = entity[name];
    if (value === undefined) return '';
    if (typeof value !== 'string') throw corrupt(`${name} is not a string`);
    return value;
  };
  const count = (name: string): number => {
    const value = entity[name];
    const result = typeof value === 'bigint' ? Number(value) : value;
    if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < 0) throw corrupt(`${name} is not a count`);
    return result;
  };
  const decimal = (name: string): Money => {
    const value = text(name);
    try {
      return money(value);
    } catch {
      throw corrupt(`${name} "${value}" is not a decimal`);
    }
  };
  const tokens = (prefix: 'tokens' | 'unpriced'): TokenCounts => {
    const counts = {} as TokenCounts;
    for (const kind of TOKEN_KINDS) counts[kind] = count(`${prefix}${TOKEN_PROPERTY[kind]}`);
    return counts;
  };
  const allocation = (): Allocation => {
    const value = text('allocation') as Allocation;
    if (!ALLOCATIONS.includes(value)) throw corrupt(`allocation "${value}" is unknown`);
    return value;
  };
  const subject = (): LineSubject => {
    const pricedModel = text('pricedModel');
    return {
      teamId: text('teamId'),
      userId: text('userId'),
      model: text('model'),
      tier: text('tier'),
      allocation: allocation(),
      userName: text('userName'),
      upn: text('upn'),
      pricedModel: pricedModel === '' ? null : pricedModel,
    };
  };
  return { text, count, decimal, tokens, allocation, subject, corrupt };
}

/** Whose usage a stored line is, as properties; a model the price book does not know is stored as ''. */
export function subjectProperties(line: LineSubject): Record<keyof LineSubject, string> {
  return { ...subjectOf(line), pricedModel: line.pricedModel ?? '' };
}
