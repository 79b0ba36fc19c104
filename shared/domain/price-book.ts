import { createHash } from 'node:crypto';
import { isIsoCurrency } from './currency.js';
import { AppError } from './errors.js';
import { FIXED_POINT_DIGITS, money, priceTokens, scaledInteger, sumMoney, type Money } from './money.js';
import { TOKEN_KINDS, type TokenCounts, type TokenKind } from './tokens.js';

/** One price in force for one model from `effectiveFrom` (a calendar day, inclusive) until the next one. */
export interface PriceEntry {
  /** Stable id recorded on every rollup priced with it: `<model>@<effectiveFrom>`. */
  readonly id: string;
  readonly model: string;
  readonly effectiveFrom: string;
  readonly currency: string;
  readonly perMillion: Readonly<Record<TokenKind, Money>>;
  readonly note?: string;
}

export interface PricedModel {
  readonly model: string;
  readonly displayName: string;
  readonly aliases: readonly string[];
  readonly patterns: readonly string[];
  /** Sorted by effectiveFrom, oldest first. */
  readonly prices: readonly PriceEntry[];
}

export interface PriceBook {
  /** Content hash of the file, so a report can say exactly which book priced it. */
  readonly version: string;
  readonly source: string;
  readonly currency: string;
  readonly models: readonly PricedModel[];
  /** The priced model a gateway model id maps to (exact id, alias, then the most specific pattern). */
  resolveModel(modelId: string): PricedModel | undefined;
  /** The price in force on `day` (YYYY-MM-DD, as every domain day is) for a gateway model id; undefined means unpriced. */
  priceFor(modelId: string, day: string): PriceEntry | undefined;
}

export function costOf(tokens: TokenCounts, entry: PriceEntry): Money {
  return sumMoney(TOKEN_KINDS.map((kind) => priceTokens(tokens[kind], entry.perMillion[kind])));
}

const PER_MILLION_DIGITS = 6;
const perTokenCache = new WeakMap<PriceEntry, readonly bigint[] | null>();

/**
 * The entry's price per token of each kind (in TOKEN_KINDS order) as whole 10^-18 currency units, or null when
 * a price has more decimals than that holds (a parsed book never has; an entry built by hand might), in which
 * case the caller prices with costOf. Worked out once per entry.
 */
export function perTokenFixedPoint(entry: PriceEntry): readonly bigint[] | null {
  let prices = perTokenCache.get(entry);
  if (prices === undefined) {
    const scaled = TOKEN_KINDS.map((kind) => scaledInteger(entry.perMillion[kind], FIXED_POINT_DIGITS - PER_MILLION_DIGITS));
    prices = scaled.every((price) => price !== null) ? (scaled as bigint[]) : null;
    perTokenCache.set(entry, prices);
  }
  return prices;
}

/**
 * The entry's prices per token as whole 10^-digits currency units in plain numbers, with `digits` as few as the
 * prices allow (a price of 3.75 per million tokens is 375 units of 10^-8 per token), so that a day's tokens x
 * prices usually stays below 2^53 and is priced without BigInt. Null when a price is not a safe integer at 18
 * digits (then perTokenFixedPoint, or costOf, prices it).
 */
export interface ScaledPrices {
  readonly digits: number;
  /** In TOKEN_KINDS order. */
  readonly perToken: readonly number[];
}

const scaledCache = new WeakMap<PriceEntry, ScaledPrices | null>();

export function perTokenScaled(entry: PriceEntry): ScaledPrices | null {
  let scaled = scaledCache.get(entry);
  if (scaled === undefined) {
    scaled = null;
    for (let digits = 0; digits <= FIXED_POINT_DIGITS; digits++) {
      const prices = TOKEN_KINDS.map((kind) => scaledInteger(entry.perMillion[kind], digits - PER_MILLION_DIGITS));
      if (prices.every((price) => price !== null)) {
        if (prices.every((price) => price! <= BigInt(Number.MAX_SAFE_INTEGER))) scaled = { digits, perToken: prices.map(Number) };
        break;
      }
    }
    scaledCache.set(entry, scaled);
  }
  return scaled;
}

/**
 * costOf in whole 10^-scaled.digits units, or undefined when the exact result might not be a safe integer
 * (then the caller prices in BigInt). Exact when defined: a floating-point product or sum of non-negative
 * integers that comes out below 2^53 is the exact one (rounding is monotonic and 2^53 is representable, so an
 * exact value at or above it never rounds below it, and every partial result is at most the final one).
 */
export function scaledCostOf(tokens: TokenCounts, scaled: ScaledPrices): number | undefined {
  return scaledCostOfCounts(tokens.input, tokens.output, tokens.cacheRead, tokens.cacheWrite5m, tokens.cacheWrite1h, scaled);
}

/** scaledCostOf of the counts in TOKEN_KINDS order, for a caller that holds them without a TokenCounts object. */
export function scaledCostOfCounts(input: number, output: number, cacheRead: number, cacheWrite5m: number, cacheWrite1h: number, scaled: ScaledPrices): number | undefined {
  // The argument holds for non-negative counts only (a negative one could cancel a rounded product).
  if (input < 0 || output < 0 || cacheRead < 0 || cacheWrite5m < 0 || cacheWrite1h < 0) return undefined;
  const prices = scaled.perToken;
  const units = input * prices[0]! + output * prices[1]! + cacheRead * prices[2]! + cacheWrite5m * prices[3]! + cacheWrite1h * prices[4]!;
  return Number.isSafeInteger(units) ? units : undefined;
}

/** costOf in fixed point (10^-18 currency units), exact: see perTokenFixedPoint. */
export function fixedPointCostOf(tokens: TokenCounts, perToken: readonly bigint[]): bigint {
  let units = 0n;
  for (let kind = 0; kind < TOKEN_KINDS.length; kind++) {
    const count = tokens[TOKEN_KINDS[kind]!];
    if (count !== 0) units += BigInt(count) * perToken[kind]!;
  }
  return units;
}

const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const CURRENCY = /^[A-Z]{3}$/;

/** Three capital letters that ISO 4217 lists as a current currency (shared/domain/currency.ts). */
function isCurrencyCode(value: unknown): value is string {
  return typeof value === 'string' && CURRENCY.test(value) && isIsoCurrency(value);
}

function currencyProblem(value: unknown): string {
  return typeof value === 'string' && CURRENCY.test(value)
    ? `${JSON.stringify(value)} is not a current ISO 4217 currency code (such as "USD", "EUR", "JPY")`
    : `must be an ISO 4217 code such as "USD", got ${JSON.stringify(value)}`;
}
const PRICE = /^\d{1,9}(\.\d{1,12})?$/;
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const PATTERN = /^[A-Za-z0-9*][A-Za-z0-9._:@*-]{0,127}$/;

function normalizeModelId(id: string): string {
  return id.trim().toLowerCase();
}

function globToRegExp(pattern: string): RegExp {
  const escaped = normalizeModelId(pattern).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function isRealDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const date = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === day;
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses and validates a price book document. Reports every problem at once, each naming the file, the
 * model entry and the field, so that whoever edits the file fixes it in one pass.
 */
export function parsePriceBook(document: unknown, source: string, rawText?: string): PriceBook {
  const problems: string[] = [];
  const at = (where: string, message: string) => problems.push(`${source}: ${where}: ${message}`);
  if (!isObject(document)) {
    throw new AppError('PRICE_BOOK_INVALID', `${source}: a price book must be a JSON object with a "models" array`);
  }
  const bookCurrency = document['currency'];
  if (bookCurrency !== undefined && !isCurrencyCode(bookCurrency)) {
    at('currency', currencyProblem(bookCurrency));
  }
  const rawModels = document['models'];
  if (!Array.isArray(rawModels) || rawModels.length === 0) {
    at('models', 'must be a non-empty array');
  }
  const models: PricedModel[] = [];
  const claimed = new Map<string, string>();
  const definedAt = new Map<string, string>();
  const patternOwners = new Map<string, string>();
  const currencies = new Set<string>();
  if (isCurrencyCode(bookCurrency)) currencies.add(bookCurrency);
  (Array.isArray(rawModels) ? rawModels : []).forEach((raw, index) => {
    const where = `models[${index}]`;
    if (!isObject(raw)) {
      at(where, 'must be an object');
      return;
    }
    const model = raw['model'];
    const name = typeof model === 'string' && MODEL_ID.test(model) ? model : undefined;
    const label = name ? `${where} (${name})` : where;
    if (!name) at(`${where}.model`, `must be a model id such as "claude-sonnet-4-6", got ${JSON.stringify(model)}`);
    const displayName = raw['displayName'] ?? name ?? '';
    if (typeof displayName !== 'string') at(`${label}.displayName`, 'must be a string');

    if (name) {
      const earlier = definedAt.get(normalizeModelId(name));
      if (earlier) at(`${label}.model`, `model "${name}" is already defined at ${earlier}`);
      else definedAt.set(normalizeModelId(name), where);
    }
    const aliases = stringList(raw['aliases'], `${label}.aliases`, MODEL_ID, at);
    const patterns = stringList(raw['patterns'], `${label}.patterns`, PATTERN, at);
    for (const pattern of patterns) {
      const owner = patternOwners.get(normalizeModelId(pattern));
      if (owner) at(`${label}.patterns`, `pattern "${pattern}" is already used by ${owner}`);
      else patternOwners.set(normalizeModelId(pattern), label);
    }
    for (const id of aliases) {
      const key = normalizeModelId(id);
      const owner = claimed.get(key) ?? (definedAt.has(key) && key !== normalizeModelId(name ?? '') ? key : undefined);
      if (owner) at(`${label}.aliases`, `alias "${id}" is already used by ${owner}`);
      else claimed.set(key, name ?? label);
    }
    if (name) {
      const owner = claimed.get(normalizeModelId(name));
      if (owner && owner !== name) at(`${label}.model`, `model id "${name}" is already an alias of ${owner}`);
    }

    const rawPrices = raw['prices'];
    const prices: PriceEntry[] = [];
    if (!Array.isArray(rawPrices) || rawPrices.length === 0) {
      at(`${label}.prices`, 'must be a non-empty array of { effectiveFrom, currency, perMillionTokens }');
    } else {
      rawPrices.forEach((rawPrice, priceIndex) => {
        // A price's currency counts towards the one-currency rule even when something else in the price is
        // wrong, so a mixed book is reported together with the other problems, not after they are fixed.
        const priceCurrency = isObject(rawPrice) ? (rawPrice['currency'] ?? bookCurrency) : undefined;
        if (isCurrencyCode(priceCurrency)) currencies.add(priceCurrency);
        const entry = parsePrice(rawPrice, `${label}.prices[${priceIndex}]`, name ?? `model${index}`, bookCurrency, at);
        if (entry) prices.push(entry);
      });
      prices.sort((a, b) => a.effectiveFrom.localeCompare(b.effectiveFrom));
      for (let i = 1; i < prices.length; i += 1) {
        if (prices[i]!.effectiveFrom === prices[i - 1]!.effectiveFrom) {
          at(`${label}.prices`, `two prices take effect on ${prices[i]!.effectiveFrom}`);
        }
      }
    }
    if (name) models.push({ model: name, displayName: typeof displayName === 'string' ? displayName : name, aliases, patterns, prices });
  });
  if (currencies.size > 1) {
    at('models', `every price must be in one currency, found ${[...currencies].sort().join(', ')}`);
  }
  if (problems.length > 0) {
    throw new AppError('PRICE_BOOK_INVALID', `${source}: the price book has ${problems.length} problem(s)`, { details: problems });
  }
  const version = createHash('sha256')
    .update(rawText ?? JSON.stringify(document))
    .digest('hex')
    .slice(0, 12);
  const currency = [...currencies][0] ?? (typeof bookCurrency === 'string' ? bookCurrency : 'USD');
  return createPriceBook(models, { version, source, currency });
}

function stringList(value: unknown, where: string, shape: RegExp, at: (where: string, message: string) => void): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    at(where, 'must be an array of strings');
    return [];
  }
  const out: string[] = [];
  value.forEach((item, i) => {
    if (typeof item !== 'string' || !shape.test(item)) at(`${where}[${i}]`, `is not a valid model id or pattern: ${JSON.stringify(item)}`);
    else out.push(item);
  });
  return out;
}

function parsePrice(
  raw: unknown,
  where: string,
  model: string,
  bookCurrency: unknown,
  at: (where: string, message: string) => void,
): PriceEntry | undefined {
  if (!isObject(raw)) {
    at(where, 'must be an object');
    return undefined;
  }
  let ok = true;
  const effectiveFrom = raw['effectiveFrom'];
  if (typeof effectiveFrom !== 'string' || !isRealDay(effectiveFrom)) {
    at(`${where}.effectiveFrom`, `must be a calendar day YYYY-MM-DD, got ${JSON.stringify(effectiveFrom)}`);
    ok = false;
  }
  const currency = raw['currency'] ?? bookCurrency;
  if (!isCurrencyCode(currency)) {
    // A bad book-level currency is reported once, at the top, not again for every price that inherits it.
    if (raw['currency'] !== undefined || bookCurrency === undefined) {
      at(`${where}.currency`, `${currencyProblem(currency)} (here or at the top of the file)`);
    }
    ok = false;
  }
  const rates = raw['perMillionTokens'];
  const perMillion = {} as Record<TokenKind, Money>;
  if (!isObject(rates)) {
    at(`${where}.perMillionTokens`, `must be an object with a price for each of ${TOKEN_KINDS.join(', ')}`);
    return undefined;
  }
  for (const kind of TOKEN_KINDS) {
    const value = rates[kind];
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || !PRICE.test(text)) {
      at(`${where}.perMillionTokens.${kind}`, `must be a non-negative decimal price per million tokens, got ${JSON.stringify(value)}`);
      ok = false;
    } else {
      perMillion[kind] = money(text);
    }
  }
  for (const key of Object.keys(rates)) {
    if (!(TOKEN_KINDS as readonly string[]).includes(key)) {
      at(`${where}.perMillionTokens.${key}`, `is not a token kind (expected ${TOKEN_KINDS.join(', ')})`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  const note = raw['note'];
  return {
    id: `${model}@${effectiveFrom as string}`,
    model,
    effectiveFrom: effectiveFrom as string,
    currency: currency as string,
    perMillion,
    ...(typeof note === 'string' ? { note } : {}),
  };
}

export function createPriceBook(
  models: readonly PricedModel[],
  meta: { version: string; source: string; currency: string },
): PriceBook {
  const exact = new Map<string, PricedModel>();
  for (const model of models) {
    for (const id of [model.model, ...model.aliases]) exact.set(normalizeModelId(id), model);
  }
  // Most specific pattern first: the longest literal text wins, so "claude-opus-4-1*" beats "claude-opus-4*".
  const patterns = models
    .flatMap((model) => model.patterns.map((pattern) => ({ model, pattern, regex: globToRegExp(pattern) })))
    .sort((a, b) => b.pattern.replace(/\*/g, '').length - a.pattern.replace(/\*/g, '').length || a.pattern.localeCompare(b.pattern));
  const resolved = new Map<string, PricedModel | undefined>();

  function resolveModel(modelId: string): PricedModel | undefined {
    const key = normalizeModelId(modelId);
    if (resolved.has(key)) return resolved.get(key);
    const found = exact.get(key) ?? patterns.find((p) => p.regex.test(key))?.model;
    resolved.set(key, found);
    return found;
  }

  function priceFor(modelId: string, day: string): PriceEntry | undefined {
    const model = resolveModel(modelId);
    if (!model) return undefined;
    let inForce: PriceEntry | undefined;
    for (const entry of model.prices) {
      if (entry.effectiveFrom <= day) inForce = entry;
      else break;
    }
    return inForce;
  }

  return { ...meta, models, resolveModel, priceFor };
}
