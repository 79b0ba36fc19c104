import { allocate, type Allocation, type DirectoryResolution } from './directory.js';
import { AppError } from './errors.js';
import { fromFixedPoint, ZERO, type Money } from './money.js';
import { costOf, fixedPointCostOf, perTokenFixedPoint, type PriceBook, type PriceEntry } from './price-book.js';
import { addTokensInto, zeroTokens, type TokenCounts } from './tokens.js';
import type { UsageRow } from './usage.js';

/** One day inside a monthly line: the daily rollup, priced by the price in force that day. */
export interface DayUsage {
  readonly day: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  /** Exact cost; null when no price was in force for the model that day (an unpriced day). */
  readonly cost: Money | null;
  readonly priceEntryId: string | null;
}

/** What a rollup line (monthly or daily) is about: its team x user x model x tier, and who the user is. */
export interface LineSubject {
  readonly teamId: string;
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  readonly allocation: Allocation;
  readonly userName: string;
  readonly upn: string;
  /** The priced model the gateway's model id resolved to, or null when the price book does not know it. */
  readonly pricedModel: string | null;
}

/**
 * The monthly rollup of one team x user x model x tier, with its daily rollups inside. Tokens are all the
 * tokens read; cost covers the priced days only, and the tokens of unpriced days are kept apart so that a
 * report shows them as an explicit unpriced line rather than a silent zero.
 */
export interface MonthlyLine extends LineSubject {
  readonly month: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly cost: Money;
  readonly unpricedTokens: TokenCounts;
  readonly currency: string;
  /** Every price entry used by a day of this line, in day order without repeats. */
  readonly priceEntryIds: readonly string[];
  readonly days: readonly DayUsage[];
}

export function lineKey(line: Pick<MonthlyLine, 'teamId' | 'userId' | 'model' | 'tier'>): string {
  return `${line.teamId}\u0000${line.userId}\u0000${line.model}\u0000${line.tier}`;
}

interface LineBuilder {
  month: string;
  teamId: string;
  userId: string;
  model: string;
  tier: string;
  allocation: Allocation;
  userName: string;
  upn: string;
  days: Map<string, { tokens: TokenCounts; requests: number }>;
}

/**
 * Rolls a month of usage rows up to monthly lines: resolve each user's team, sum tokens per day as integers,
 * then price each day's aggregate with the price in force that day. Every token of every row lands in
 * exactly one line; nothing is filtered here.
 */
export function buildMonthlyLines(
  month: string,
  rows: Iterable<UsageRow>,
  directory: DirectoryResolution,
  priceBook: PriceBook,
): MonthlyLine[] {
  return priceMonthlyUsage(groupMonthlyUsage(month, rows, directory), priceBook);
}

/**
 * A month's usage summed per line and day but not yet priced: the first half of buildMonthlyLines, for a
 * caller that wants to let go of the usage rows before the lines are priced. It is priced once.
 */
export class MonthlyUsage {
  private builders: Map<string, LineBuilder> | undefined;

  /** @internal built by groupMonthlyUsage */
  constructor(builders: Map<string, LineBuilder>) {
    this.builders = builders;
  }

  /** Hands the line builders over, once. */
  take(): Map<string, LineBuilder> {
    const builders = this.builders;
    if (!builders) throw new AppError('INTERNAL', 'this month of usage was already priced');
    this.builders = undefined;
    return builders;
  }
}

/**
 * Resolves each row's team and sums its tokens into its line's day, as integers. Nothing is filtered. This is
 * the per-row hot path (a month is millions of rows): a row finds its line among its user's few lines (one per
 * model and tier used), without building a key string per row, and the team is resolved once per line.
 */
export function groupMonthlyUsage(month: string, rows: Iterable<UsageRow>, directory: DirectoryResolution): MonthlyUsage {
  const builders = new Map<string, LineBuilder>();
  // A short array per user rather than a map per user and model: a Map is far larger than a few-slot array.
  const linesOfUser = new Map<string, LineBuilder[]>();
  for (const row of rows) {
    let userLines = linesOfUser.get(row.userId);
    if (!userLines) {
      userLines = [];
      linesOfUser.set(row.userId, userLines);
    }
    let builder: LineBuilder | undefined;
    for (const candidate of userLines) {
      if (candidate.model === row.model && candidate.tier === row.tier) {
        builder = candidate;
        break;
      }
    }
    if (!builder) {
      const placed = allocate(row.userId, directory);
      builder = {
        month,
        teamId: placed.teamId,
        userId: row.userId,
        model: row.model,
        tier: row.tier,
        allocation: placed.allocation,
        userName: placed.user?.displayName ?? '',
        upn: placed.user?.upn ?? '',
        days: new Map(),
      };
      userLines.push(builder);
      builders.set(lineKey(builder), builder);
    }
    const day = builder.days.get(row.day);
    if (day) {
      // Spelled out rather than a loop over TOKEN_KINDS (measurably faster per row); the literal below makes
      // the type checker name any kind added to TokenCounts and missing here.
      const into = day.tokens;
      const from = row.tokens;
      into.input += from.input;
      into.output += from.output;
      into.cacheRead += from.cacheRead;
      into.cacheWrite5m += from.cacheWrite5m;
      into.cacheWrite1h += from.cacheWrite1h;
      day.requests += row.requests;
    } else {
      const from = row.tokens;
      const tokens: TokenCounts = { input: from.input, output: from.output, cacheRead: from.cacheRead, cacheWrite5m: from.cacheWrite5m, cacheWrite1h: from.cacheWrite1h };
      builder.days.set(row.day, { tokens, requests: row.requests });
    }
  }
  return new MonthlyUsage(builders);
}

/** Prices each day with the price in force that day. Each builder is let go of once its line is priced. */
export function priceMonthlyUsage(usage: MonthlyUsage, priceBook: PriceBook): MonthlyLine[] {
  const builders = usage.take();
  const lines: MonthlyLine[] = [];
  const prices = priceLookup(priceBook);
  for (const [key, builder] of builders) {
    lines.push(priceLine(builder, priceBook, prices));
    builders.delete(key);
  }
  return lines.sort(compareLines);
}

type PriceLookup = (model: string, day: string) => PriceEntry | undefined;

/** The price book asked once per (model, day): a month has a few models and 31 days, and many lines. */
function priceLookup(priceBook: PriceBook): PriceLookup {
  const byModel = new Map<string, Map<string, PriceEntry | undefined>>();
  return (model, day) => {
    let byDay = byModel.get(model);
    if (!byDay) {
      byDay = new Map();
      byModel.set(model, byDay);
    }
    if (byDay.has(day)) return byDay.get(day);
    const entry = priceBook.priceFor(model, day);
    byDay.set(day, entry);
    return entry;
  };
}

const byDay = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Prices a line day by day. Each day is priced in fixed point (BigInt tokens x price per token) and turned into
 * a decimal once; the line's cost is the fixed-point sum turned into a decimal once. Both are exactly what
 * costOf and Money addition give (test/unit/rollup.test.ts checks it on random input): a price book price has
 * at most 12 decimals per million tokens, so every product is a whole number of 10^-18 units.
 */
function priceLine(builder: LineBuilder, priceBook: PriceBook, priceOf: PriceLookup): MonthlyLine {
  const tokens = zeroTokens();
  const unpricedTokens = zeroTokens();
  const priceEntryIds: string[] = [];
  let requests = 0;
  let fixedPointCost = 0n;
  // Days priced by an entry whose prices do not fit the fixed point (only a hand-built entry can have those).
  let decimalCost = ZERO;
  const days: DayUsage[] = [];
  for (const [day, usage] of [...builder.days.entries()].sort(byDay)) {
    const entry = priceOf(builder.model, day);
    addTokensInto(tokens, usage.tokens);
    requests += usage.requests;
    if (entry) {
      const perToken = perTokenFixedPoint(entry);
      let dayCost: Money;
      if (perToken) {
        const units = fixedPointCostOf(usage.tokens, perToken);
        fixedPointCost += units;
        dayCost = fromFixedPoint(units);
      } else {
        dayCost = costOf(usage.tokens, entry);
        decimalCost = decimalCost.plus(dayCost);
      }
      if (!priceEntryIds.includes(entry.id)) priceEntryIds.push(entry.id);
      days.push({ day, tokens: usage.tokens, requests: usage.requests, cost: dayCost, priceEntryId: entry.id });
    } else {
      addTokensInto(unpricedTokens, usage.tokens);
      days.push({ day, tokens: usage.tokens, requests: usage.requests, cost: null, priceEntryId: null });
    }
  }
  const cost = decimalCost.isZero() ? fromFixedPoint(fixedPointCost) : fromFixedPoint(fixedPointCost).plus(decimalCost);
  return {
    month: builder.month,
    teamId: builder.teamId,
    userId: builder.userId,
    model: builder.model,
    tier: builder.tier,
    allocation: builder.allocation,
    userName: builder.userName,
    upn: builder.upn,
    pricedModel: priceBook.resolveModel(builder.model)?.model ?? null,
    tokens,
    requests,
    cost,
    unpricedTokens,
    currency: priceBook.currency,
    priceEntryIds,
    days,
  };
}

/** The order String.prototype.localeCompare gives, from one collator rather than one per comparison (far faster). */
const collate = new Intl.Collator().compare;

export function compareLines(a: MonthlyLine, b: MonthlyLine): number {
  return collate(a.teamId, b.teamId) || collate(a.userId, b.userId) || collate(a.model, b.model) || collate(a.tier, b.tier);
}

export function hasUnpricedTokens(line: Pick<MonthlyLine, 'unpricedTokens'>): boolean {
  return Object.values(line.unpricedTokens).some((count) => count > 0);
}
