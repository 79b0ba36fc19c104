import { allocate, type Allocation, type DirectoryResolution } from './directory.js';
import { AppError } from './errors.js';
import { ExactSum, type Money } from './money.js';
import { costOf, fixedPointCostOf, perTokenFixedPoint, perTokenScaled, scaledCostOfCounts, type PriceBook, type PriceEntry, type ScaledPrices } from './price-book.js';
import { SUMS_PER_DAY, zeroTokens, type TokenCounts } from './tokens.js';
import type { UsageRow } from './usage.js';
import { dayTuple, DayColumnsBuilder, type DayColumns, type DayTuple, type DayUsage } from './line-days.js';

export { DayColumnsBuilder, type DayColumns, type DayTuple, type DayUsage } from './line-days.js';

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

/**
 * A monthly line without its days: what a report needs when its daily figures come from elsewhere (the
 * finance work item reads the month's lines without their days; the close run summed the days). A type of
 * its own so that nothing that needs the days (the FOCUS export) can be handed one.
 */
export type LineTotals = Omit<MonthlyLine, 'days'>;

/** Whose usage a line is, as a plain object (a columnar line's own fields are getters: a spread loses them). */
export function subjectOf(line: LineSubject): LineSubject {
  return {
    teamId: line.teamId,
    userId: line.userId,
    model: line.model,
    tier: line.tier,
    allocation: line.allocation,
    userName: line.userName,
    upn: line.upn,
    pricedModel: line.pricedModel,
  };
}

/** A line's figures without its days. */
export function totalsOf(line: MonthlyLine): LineTotals {
  return {
    month: line.month,
    ...subjectOf(line),
    tokens: line.tokens,
    requests: line.requests,
    cost: line.cost,
    unpricedTokens: line.unpricedTokens,
    currency: line.currency,
    priceEntryIds: line.priceEntryIds,
  };
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
  /** Bit d-1 is set when day d of the month has usage; `sums` holds those days in day order. */
  daysOfMonth: number;
  /** SUMS_PER_DAY numbers per day of `daysOfMonth`: one flat array of numbers rather than two objects per day. */
  sums: number[];
  /** Days that are not a YYYY-MM-DD day of `month`, by day (never in a close, which reads only its month). */
  otherDays: Map<string, number[]> | undefined;
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
  private builders: LineBuilder[] | undefined;

  /** @internal built by groupMonthlyUsage */
  constructor(builders: LineBuilder[]) {
    this.builders = builders;
  }

  /** Hands the line builders over, once. */
  take(): LineBuilder[] {
    const builders = this.builders;
    if (!builders) throw new AppError('INTERNAL', 'this month of usage was already priced');
    this.builders = undefined;
    return builders;
  }
}

/**
 * A monthly line whose days are kept as DayColumns (see there): what pricing and the stored rollups' reader
 * build, so that a month of lines holds its days compactly. `days` makes the DayUsage objects on each read:
 * a reader takes it once per line. JSON gives the line as a plain MonthlyLine.
 */
class ColumnarLine implements MonthlyLine {
  readonly month: string;
  readonly teamId: string;
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  readonly allocation: Allocation;
  readonly userName: string;
  readonly upn: string;
  readonly pricedModel: string | null;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly cost: Money;
  readonly unpricedTokens: TokenCounts;
  readonly currency: string;
  readonly priceEntryIds: readonly string[];
  private readonly dayColumns: DayColumns;

  constructor(line: Omit<MonthlyLine, 'days'>, dayColumns: DayColumns) {
    this.month = line.month;
    this.teamId = line.teamId;
    this.userId = line.userId;
    this.model = line.model;
    this.tier = line.tier;
    this.allocation = line.allocation;
    this.userName = line.userName;
    this.upn = line.upn;
    this.pricedModel = line.pricedModel;
    this.tokens = line.tokens;
    this.requests = line.requests;
    this.cost = line.cost;
    this.unpricedTokens = line.unpricedTokens;
    this.currency = line.currency;
    this.priceEntryIds = line.priceEntryIds;
    this.dayColumns = dayColumns;
  }

  get days(): DayUsage[] {
    return this.dayColumns.toDays();
  }

  get columns(): DayColumns {
    return this.dayColumns;
  }

  dayTuples(): DayTuple[] {
    return this.dayColumns.toTuples();
  }

  toJSON(): MonthlyLine {
    const { dayColumns: _columns, ...fields } = this;
    return { ...fields, days: this.days };
  }
}

/**
 * A line's days as tuples (the cost as its text): what the store writes and the fingerprints hash. For a line
 * with its days in columns, made without a decimal per day.
 */
export function dayTuplesOf(line: MonthlyLine): DayTuple[] {
  return line instanceof ColumnarLine ? line.dayTuples() : line.days.map(dayTuple);
}

/** JSON.stringify(dayTuplesOf(line)), straight from a columnar line's days (DayColumns.tuplesJson). */
export function dayTuplesJson(line: MonthlyLine): string {
  return line instanceof ColumnarLine ? line.columns.tuplesJson() : JSON.stringify(dayTuplesOf(line));
}

/** A line's days as its identity spells them: each day's five counts in an array of their own. */
export function daysIdentityJson(line: MonthlyLine): string {
  if (line instanceof ColumnarLine) return line.columns.tuplesJson(true);
  return JSON.stringify(dayTuplesOf(line).map(([day, input, output, cacheRead, cacheWrite5m, cacheWrite1h, requests, cost, entryId]) => [day, [input, output, cacheRead, cacheWrite5m, cacheWrite1h], requests, cost, entryId]));
}

/** A line's days as columns: a columnar line's own, or made from a plain line's days. */
export function dayColumnsOf(line: MonthlyLine): DayColumns {
  if (line instanceof ColumnarLine) return line.columns;
  const columns = new DayColumnsBuilder();
  for (const day of line.days) {
    columns.addCounts(day.tokens, day.requests);
    if (day.cost === null) columns.unpriced(day.day, day.priceEntryId);
    else columns.priced(day.day, day.cost, day.priceEntryId);
  }
  return columns.build();
}

/** A monthly line with its days as columns (DayColumnsBuilder): how a month of lines fits a bounded heap. */
export function lineWithDayColumns(line: Omit<MonthlyLine, 'days'>, days: DayColumns): MonthlyLine {
  return new ColumnarLine(line, days);
}

/** The day of the month (1-31) of a YYYY-MM-DD `day` that starts with `monthPrefix` ("2026-10-"), or 0. */
function dayOfMonth(day: string, monthPrefix: string): number {
  if (day.length !== 10 || !day.startsWith(monthPrefix)) return 0;
  const tens = day.charCodeAt(8) - 48;
  const units = day.charCodeAt(9) - 48;
  if (tens < 0 || tens > 3 || units < 0 || units > 9) return 0;
  const dayNumber = tens * 10 + units;
  return dayNumber >= 1 && dayNumber <= 31 ? dayNumber : 0;
}

/** Set bits of a 32-bit mask. */
function bitCount(mask: number): number {
  let bits = mask - ((mask >>> 1) & 0x55555555);
  bits = (bits & 0x33333333) + ((bits >>> 2) & 0x33333333);
  return (((bits + (bits >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Adds a row's counts into `sums` at `at`, or inserts them there (`insert`). */
function addRowInto(sums: number[], at: number, row: UsageRow, insert: boolean): void {
  // Spelled out rather than a loop over TOKEN_KINDS (measurably faster per row).
  const from = row.tokens;
  if (insert) {
    // Appending is the usual case (a month's rows come in day order); pushed directly, without a temporary array.
    if (at === sums.length) sums.push(from.input, from.output, from.cacheRead, from.cacheWrite5m, from.cacheWrite1h, row.requests);
    else sums.splice(at, 0, from.input, from.output, from.cacheRead, from.cacheWrite5m, from.cacheWrite1h, row.requests);
    return;
  }
  sums[at] = sums[at]! + from.input;
  sums[at + 1] = sums[at + 1]! + from.output;
  sums[at + 2] = sums[at + 2]! + from.cacheRead;
  sums[at + 3] = sums[at + 3]! + from.cacheWrite5m;
  sums[at + 4] = sums[at + 4]! + from.cacheWrite1h;
  sums[at + 5] = sums[at + 5]! + row.requests;
}

/** One copy of each of a few distinct texts (models, tiers); past a bound, texts are kept as they come. */
function sharedTexts(bound = 10_000): (text: string) => string {
  const texts = new Map<string, string>();
  return (text) => {
    const known = texts.get(text);
    if (known !== undefined) return known;
    if (texts.size < bound) texts.set(text, text);
    return text;
  };
}

/**
 * Resolves each row's team and sums its tokens into its line's day, as integers. Nothing is filtered. This is
 * the per-row hot path (a month is millions of rows): a row finds its line among its user's few lines (one per
 * model and tier used), without building a key string per row, and its day by the day of the month (a bit of
 * the line's day mask and a slot of its flat array of sums), so a row allocates nothing once its line-day exists.
 */
export function groupMonthlyUsage(month: string, rows: Iterable<UsageRow>, directory: DirectoryResolution): MonthlyUsage {
  const builders: LineBuilder[] = [];
  // A short array per user rather than a map per user and model: a Map is far larger than a few-slot array.
  const linesOfUser = new Map<string, LineBuilder[]>();
  const monthPrefix = `${month}-`;
  const shared = sharedTexts();
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
        // Each row's texts are its own copies (parsed apart): a line keeps one copy of its user's id per user
        // and of each model and tier per month, not one per line (at 100,000 users, tens of megabytes).
        userId: userLines[0]?.userId ?? row.userId,
        model: shared(row.model),
        tier: shared(row.tier),
        allocation: placed.allocation,
        userName: placed.user?.displayName ?? '',
        upn: placed.user?.upn ?? '',
        daysOfMonth: 0,
        sums: [],
        otherDays: undefined,
      };
      userLines.push(builder);
      builders.push(builder);
    }
    const dayNumber = dayOfMonth(row.day, monthPrefix);
    if (dayNumber === 0) {
      builder.otherDays ??= new Map();
      const sums = builder.otherDays.get(row.day);
      if (sums) addRowInto(sums, 0, row, false);
      else {
        const fresh: number[] = [];
        addRowInto(fresh, 0, row, true);
        builder.otherDays.set(row.day, fresh);
      }
      continue;
    }
    const bit = 1 << (dayNumber - 1);
    const at = bitCount(builder.daysOfMonth & (bit - 1)) * SUMS_PER_DAY;
    addRowInto(builder.sums, at, row, (builder.daysOfMonth & bit) === 0);
    builder.daysOfMonth |= bit;
  }
  return new MonthlyUsage(builders);
}

/** Prices each day with the price in force that day. Each builder is let go of once its line is priced. */
export function priceMonthlyUsage(usage: MonthlyUsage, priceBook: PriceBook): MonthlyLine[] {
  const builders = usage.take();
  const lines: MonthlyLine[] = [];
  const prices = priceLookup(priceBook);
  const dayNames = new Map<string, readonly string[]>();
  for (let index = 0; index < builders.length; index++) {
    const builder = builders[index]!;
    let names = dayNames.get(builder.month);
    if (!names) {
      names = dayNamesOf(builder.month);
      dayNames.set(builder.month, names);
    }
    lines.push(priceLine(builder, names, priceBook, prices));
    // Let go of the builder (its sums) as soon as its line exists.
    builders[index] = undefined as unknown as LineBuilder;
  }
  return lines.sort(compareLines);
}

/** Index d (1-31) holds day d of the month as YYYY-MM-DD: one string per day shared by every line. */
function dayNamesOf(month: string): string[] {
  return Array.from({ length: 32 }, (_, day) => `${month}-${String(day).padStart(2, '0')}`);
}

/** The price in force for a model on a day, with its per-token prices worked out; null when unpriced. */
type DayPrice = { readonly entry: PriceEntry; readonly scaled: ScaledPrices | null; readonly perToken: readonly bigint[] | null } | null;
type PriceLookup = (model: string) => (day: string) => DayPrice;

/** The price book asked once per (model, day): a month has a few models and 31 days, and many lines. */
function priceLookup(priceBook: PriceBook): PriceLookup {
  const byModel = new Map<string, (day: string) => DayPrice>();
  return (model) => {
    let ofDay = byModel.get(model);
    if (!ofDay) {
      const byDay = new Map<string, DayPrice>();
      ofDay = (day) => {
        let price = byDay.get(day);
        if (price === undefined) {
          const entry = priceBook.priceFor(model, day);
          price = entry ? { entry, scaled: perTokenScaled(entry), perToken: perTokenFixedPoint(entry) } : null;
          byDay.set(day, price);
        }
        return price;
      };
      byModel.set(model, ofDay);
    }
    return ofDay;
  };
}

/**
 * The line's days in day order: their names and their sums, SUMS_PER_DAY a day. Without days outside the month
 * (a close never has them) the grouped sums are already in day order and are handed over as they are.
 */
function daysInOrder(builder: LineBuilder, dayNames: readonly string[]): { names: string[]; sums: number[] } {
  const names: string[] = [];
  for (let rest = builder.daysOfMonth, dayNumber = 1; rest !== 0; rest >>>= 1, dayNumber++) {
    if ((rest & 1) !== 0) names.push(dayNames[dayNumber]!);
  }
  if (!builder.otherDays) return { names, sums: builder.sums };
  const days = names.map((day, index) => ({ day, sums: builder.sums, at: index * SUMS_PER_DAY }));
  for (const [day, sums] of builder.otherDays) days.push({ day, sums, at: 0 });
  days.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  const sums: number[] = [];
  for (const day of days) for (let offset = 0; offset < SUMS_PER_DAY; offset++) sums.push(day.sums[day.at + offset]!);
  return { names: days.map((day) => day.day), sums };
}

/**
 * Prices a line day by day, in integers: each day's cost stays whole units in the line's day columns and only
 * the line's cost becomes a decimal. A day
 * is priced in plain numbers at the entry's own scale (perTokenScaled) while that is exact, else in BigInt
 * 10^-18 units; both are exactly what costOf and Money addition give (test/unit/rollup.test.ts checks it on
 * random input): a price book price has at most 12 decimals per million tokens, so every product is a whole
 * number of 10^-18 units.
 */
function priceLine(builder: LineBuilder, dayNames: readonly string[], priceBook: PriceBook, priceOf: PriceLookup): MonthlyLine {
  const tokens = zeroTokens();
  const unpricedTokens = zeroTokens();
  const priceEntryIds: string[] = [];
  let requests = 0;
  const lineCost = new ExactSum();
  const { names, sums } = daysInOrder(builder, dayNames);
  const columns = new DayColumnsBuilder(sums);
  const priceOfDay = priceOf(builder.model);
  // Counts read straight from the flat sums: a day allocates nothing unless its price needs BigInt or decimals.
  for (let index = 0, at = 0; index < names.length; index++, at += SUMS_PER_DAY) {
    const day = names[index]!;
    const input = sums[at]!;
    const output = sums[at + 1]!;
    const cacheRead = sums[at + 2]!;
    const cacheWrite5m = sums[at + 3]!;
    const cacheWrite1h = sums[at + 4]!;
    tokens.input += input;
    tokens.output += output;
    tokens.cacheRead += cacheRead;
    tokens.cacheWrite5m += cacheWrite5m;
    tokens.cacheWrite1h += cacheWrite1h;
    requests += sums[at + 5]!;
    const price = priceOfDay(day);
    if (!price) {
      unpricedTokens.input += input;
      unpricedTokens.output += output;
      unpricedTokens.cacheRead += cacheRead;
      unpricedTokens.cacheWrite5m += cacheWrite5m;
      unpricedTokens.cacheWrite1h += cacheWrite1h;
      columns.unpriced(day);
      continue;
    }
    const { entry, scaled, perToken } = price;
    const scaledUnits = scaled ? scaledCostOfCounts(input, output, cacheRead, cacheWrite5m, cacheWrite1h, scaled) : undefined;
    if (scaledUnits !== undefined) {
      lineCost.add(scaledUnits, scaled!.digits);
      columns.pricedUnits(day, scaledUnits, scaled!.digits, entry.id);
    } else {
      const dayTokens: TokenCounts = { input, output, cacheRead, cacheWrite5m, cacheWrite1h };
      if (perToken) {
        const units = fixedPointCostOf(dayTokens, perToken);
        lineCost.addFixedPoint(units);
        columns.priced(day, units, entry.id);
      } else {
        // Prices that do not fit the fixed point (only a hand-built entry can have those).
        const dayCost = costOf(dayTokens, entry);
        lineCost.addMoney(dayCost);
        columns.priced(day, dayCost, entry.id);
      }
    }
    if (!priceEntryIds.includes(entry.id)) priceEntryIds.push(entry.id);
  }
  const cost = lineCost.total();
  return lineWithDayColumns(
    {
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
    },
    columns.build(),
  );
}

export function compareLines(a: LineSubject, b: LineSubject): number {
  return compareField(a.teamId, b.teamId) || compareField(a.userId, b.userId) || compareField(a.model, b.model) || compareField(a.tier, b.tier);
}

/** Team ids in the order of `compareLines`: the order of a month's export, team by team. */
export function compareTeamIds(a: string, b: string): number {
  return compareField(a, b);
}

/**
 * localeCompare, skipped for equal texts (most teams, models and tiers of two lines compared). On Node 20 it
 * sorted the 10k month's lines in half the time of one shared Intl.Collator, in the same order.
 */
function compareField(a: string, b: string): number {
  return a === b ? 0 : a.localeCompare(b);
}

export function hasUnpricedTokens(line: Pick<MonthlyLine, 'unpricedTokens'>): boolean {
  return Object.values(line.unpricedTokens).some((count) => count > 0);
}
