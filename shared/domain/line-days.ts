import { fixedPointText, fromFixedPoint, money, type ExactSum, type Money } from './money.js';
import { SUMS_PER_DAY, type TokenCounts } from './tokens.js';

/** One day inside a monthly line: the daily rollup, priced by the price in force that day. */
export interface DayUsage {
  readonly day: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  /** Exact cost; null when no price was in force for the model that day (an unpriced day). */
  readonly cost: Money | null;
  readonly priceEntryId: string | null;
}

/**
 * A day as the stored rollups and the fingerprints spell it: [day, input, output, cacheRead, cacheWrite5m,
 * cacheWrite1h, requests, cost as cost.toFixed() or null, price entry id or null].
 */
export type DayTuple = [string, number, number, number, number, number, number, string | null, string | null];

/** A day's place in `units` when the day has no price. Costs are never negative. */
const UNPRICED = -1;

/**
 * A line's days as columns: the day names, one flat array of counts and one of costs in whole units of one
 * scale, instead of an object, a tokens object and a decimal per day. A 100,000-user month has 2.6 million
 * line-days; as objects they held about 900 MB of the close's heap, as columns about a fifth of that.
 * `toDays()` gives them back as DayUsage objects, made afresh on every call (a reader's short-lived garbage).
 */
export class DayColumns {
  /** @internal built by DayColumnsBuilder */
  constructor(
    readonly length: number,
    private readonly names: readonly string[],
    private readonly sums: readonly number[],
    /** Cost per day in 10^-digits units, UNPRICED for a day without a price; null when `exact` holds them. */
    private readonly units: readonly number[] | null,
    private readonly digits: number,
    /** Cost per day as decimals: only when the days' costs are not safe integers of one scale. */
    private readonly exact: readonly (Money | null)[] | null,
    /** Price entry per day; null when every priced day has `entryId` and every unpriced one none. */
    private readonly entryIds: readonly (string | null)[] | null,
    private readonly entryId: string | null,
  ) {}

  /** Day `index`'s name (YYYY-MM-DD). */
  dayName(index: number): string {
    return this.names[index]!;
  }

  /** Every day's counts, SUMS_PER_DAY a day from index × SUMS_PER_DAY: the token kinds in TOKEN_KINDS order, then requests. */
  get counts(): readonly number[] {
    return this.sums;
  }

  /** Adds day `index`'s cost into `sum`, exactly and without a decimal per day; false for an unpriced day. */
  addCostInto(index: number, sum: ExactSum): boolean {
    if (this.exact !== null) {
      const cost = this.exact[index]!;
      if (cost === null) return false;
      sum.addMoney(cost);
      return true;
    }
    const units = this.units![index]!;
    if (units === UNPRICED) return false;
    sum.add(units, this.digits);
    return true;
  }

  toDays(): DayUsage[] {
    const { names, sums } = this;
    const days: DayUsage[] = new Array<DayUsage>(this.length);
    for (let index = 0, at = 0; index < this.length; index++, at += SUMS_PER_DAY) {
      const cost = this.costAt(index);
      days[index] = {
        day: names[index]!,
        tokens: { input: sums[at]!, output: sums[at + 1]!, cacheRead: sums[at + 2]!, cacheWrite5m: sums[at + 3]!, cacheWrite1h: sums[at + 4]! },
        requests: sums[at + 5]!,
        cost,
        priceEntryId: this.entryIdAt(index, cost !== null),
      };
    }
    return days;
  }

  /** The days as tuples, the cost's text made from its units directly (fixedPointText), without a decimal. */
  toTuples(): DayTuple[] {
    const { names, sums } = this;
    const tuples: DayTuple[] = new Array<DayTuple>(this.length);
    for (let index = 0, at = 0; index < this.length; index++, at += SUMS_PER_DAY) {
      const cost = this.costTextAt(index);
      tuples[index] = [names[index]!, sums[at]!, sums[at + 1]!, sums[at + 2]!, sums[at + 3]!, sums[at + 4]!, sums[at + 5]!, cost, this.entryIdAt(index, cost !== null)];
    }
    return tuples;
  }

  /**
   * The days' JSON text, written straight from the columns: per day [day, five counts, requests, cost text or
   * null, price entry or null] (`JSON.stringify(toTuples())`, what a stored rollup holds), or with the five
   * counts in an array of their own (`countsApart`: what a line's identity spells, line-identity.ts). Every line
   * of a close is spelled three times. A cost's text is a plain decimal, which JSON quotes as it is.
   */
  tuplesJson(countsApart = false): string {
    const { names, sums } = this;
    const [open, close] = countsApart ? ['[', ']'] : ['', ''];
    let text = '[';
    for (let index = 0, at = 0; index < this.length; index++, at += SUMS_PER_DAY) {
      const cost = this.costTextAt(index);
      const entryId = this.entryIdAt(index, cost !== null);
      text +=
        `${index === 0 ? '' : ','}[${jsonString(names[index]!)},${open}${jsonNumber(sums[at]!)},${jsonNumber(sums[at + 1]!)},${jsonNumber(sums[at + 2]!)},` +
        `${jsonNumber(sums[at + 3]!)},${jsonNumber(sums[at + 4]!)}${close},${jsonNumber(sums[at + 5]!)},${cost === null ? 'null' : `"${cost}"`},${entryId === null ? 'null' : jsonString(entryId)}]`;
    }
    return `${text}]`;
  }

  private costAt(index: number): Money | null {
    if (this.exact !== null) return this.exact[index]!;
    const units = this.units![index]!;
    return units === UNPRICED ? null : fromFixedPoint(units, this.digits);
  }

  /** costAt(index)?.toFixed(), without making the decimal when the cost is in units. */
  private costTextAt(index: number): string | null {
    if (this.exact !== null) return this.exact[index]?.toFixed() ?? null;
    const units = this.units![index]!;
    return units === UNPRICED ? null : fixedPointText(units, this.digits);
  }

  private entryIdAt(index: number, priced: boolean): string | null {
    if (this.entryIds !== null) return this.entryIds[index]!;
    return priced ? this.entryId : null;
  }
}

/** A number as JSON writes it: its shortest text, and null for what JSON cannot hold. */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/** Day names and price entry ids repeat across a month's lines: each is quoted once. */
const quoted = new Map<string, string>();
const MAX_QUOTED = 10_000;

/** JSON.stringify of a text, remembered for the texts that repeat. */
function jsonString(text: string): string {
  let json = quoted.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    if (quoted.size < MAX_QUOTED) quoted.set(text, json);
  }
  return json;
}

/** A DayUsage as a DayTuple. */
export function dayTuple(day: DayUsage): DayTuple {
  const { input, output, cacheRead, cacheWrite5m, cacheWrite1h } = day.tokens;
  return [day.day, input, output, cacheRead, cacheWrite5m, cacheWrite1h, day.requests, day.cost === null ? null : day.cost.toFixed(), day.priceEntryId];
}

/** A decimal text of a non-negative cost: digits, optionally a point and more digits. */
const PLAIN_DECIMAL = /^(\d+)(?:\.(\d+))?$/;
/** Digits that always make a safe integer (2^53 has 16). */
const SAFE_DIGITS = 15;

/**
 * Collects a line's days in day order. Costs stay whole units of one scale (the finer of the days' scales)
 * while every day's cost is a safe integer at that scale, and become decimals for the whole line otherwise,
 * so no cost is ever rounded.
 */
export class DayColumnsBuilder {
  private readonly names: string[] = [];
  private readonly sums: number[];
  private units: number[] | null = [];
  private digits = 0;
  private exact: (Money | null)[] | null = null;
  private readonly entryIds: (string | null)[] = [];
  private entryId: string | null = null;
  /** False once a day's entry is not "the line's one entry when priced, none when not". */
  private uniformEntries = true;

  /** `sums`: the days' counts already laid out (SUMS_PER_DAY per day, in the order the days will be added). */
  constructor(sums?: number[]) {
    this.sums = sums ?? [];
  }

  /** Appends a day's counts to the sums (when the builder was not given them). */
  addCounts(tokens: TokenCounts, requests: number): this {
    this.sums.push(tokens.input, tokens.output, tokens.cacheRead, tokens.cacheWrite5m, tokens.cacheWrite1h, requests);
    return this;
  }

  /** A priced day whose cost is `units` whole 10^-digits currency units, a safe integer. */
  pricedUnits(day: string, units: number, digits: number, entryId: string): void {
    this.names.push(day);
    this.noteEntry(entryId, false);
    this.addUnits(units, digits);
  }

  /** A priced day whose cost is a count of 10^-18 currency units (bigint) or a decimal. */
  priced(day: string, cost: bigint | Money, entryId: string | null): void {
    this.names.push(day);
    this.noteEntry(entryId, false);
    this.addExact(typeof cost === 'bigint' ? fromFixedPoint(cost) : cost);
  }

  /**
   * A priced day whose cost is a decimal text as stored (toFixed()); a text that is not a plain decimal is
   * read by the decimal library, which throws on anything that is not a number.
   */
  pricedText(day: string, text: string, entryId: string | null): void {
    this.names.push(day);
    this.noteEntry(entryId, false);
    const parts = PLAIN_DECIMAL.exec(text);
    if (parts !== null) {
      const fraction = parts[2] ?? '';
      const digitsText = parts[1]! + fraction;
      if (digitsText.length <= SAFE_DIGITS) return this.addUnits(Number(digitsText), fraction.length);
    }
    this.addExact(money(text));
  }

  unpriced(day: string, entryId: string | null = null): void {
    this.names.push(day);
    this.noteEntry(entryId, true);
    if (this.exact !== null) this.exact.push(null);
    else this.units!.push(UNPRICED);
  }

  /**
   * The columns, each copied to its exact length: arrays that grew by pushing keep up to half again their length
   * in spare slots, which a month of lines would hold for as long as it lives.
   */
  build(): DayColumns {
    return new DayColumns(
      this.names.length,
      this.names.slice(),
      this.sums.slice(),
      this.units?.slice() ?? null,
      this.digits,
      this.exact?.slice() ?? null,
      this.uniformEntries ? null : this.entryIds.slice(),
      this.entryId,
    );
  }

  private noteEntry(entryId: string | null, unpriced: boolean): void {
    this.entryIds.push(entryId);
    if (!this.uniformEntries) return;
    if (unpriced) {
      if (entryId !== null) this.uniformEntries = false;
    } else if (entryId === null || (this.entryId !== null && this.entryId !== entryId)) this.uniformEntries = false;
    else this.entryId = entryId;
  }

  private addUnits(units: number, digits: number): void {
    if (this.exact !== null) return void this.exact.push(fromFixedPoint(units, digits));
    const known = this.units!;
    if (digits !== this.digits && !this.rescale(digits)) return this.addExact(fromFixedPoint(units, digits));
    const scaled = digits === this.digits ? units : units * 10 ** (this.digits - digits);
    if (!Number.isSafeInteger(scaled)) return this.addExact(fromFixedPoint(units, digits));
    known.push(scaled);
  }

  /** Moves the units known so far to `digits` when that is finer; false when one would not be a safe integer. */
  private rescale(digits: number): boolean {
    if (digits < this.digits) return true;
    const factor = 10 ** (digits - this.digits);
    const known = this.units!;
    for (const units of known) if (units !== UNPRICED && !Number.isSafeInteger(units * factor)) return false;
    for (let index = 0; index < known.length; index++) if (known[index] !== UNPRICED) known[index] = known[index]! * factor;
    this.digits = digits;
    return true;
  }

  private addExact(cost: Money): void {
    if (this.exact === null) {
      const digits = this.digits;
      this.exact = this.units!.map((units) => (units === UNPRICED ? null : fromFixedPoint(units, digits)));
      this.units = null;
    }
    this.exact.push(cost);
  }
}
