import { AppError } from './errors.js';
import { createDayResolver, type TimeWindow } from './periods.js';
import { isTokenKind, REQUESTS_SLOT, TOKEN_KINDS, type TokenKind } from './tokens.js';
import { UsageSeriesSet, type UsageSeries } from './usage-series.js';
import { SeenSamplePairs } from './sample-repeats.js';
import {
  MAX_REJECT_SAMPLES,
  rawValueForReport,
  RejectCollector,
  type RejectedRow,
  type RejectSummary,
  type SourceDayTotal,
  type DuplicateSummary,
  type UsageInput,
  type UsageReadResult,
} from './usage.js';

/**
 * How the gateway's custom metrics become token kinds. The names are settings because newer versions of the
 * APIM policy add token categories (cache reads, cache writes) under names that are not firmly documented.
 */
export interface MetricMapping {
  /** Metric name -> the token kind its valueSum counts. */
  readonly tokenKinds: Readonly<Record<string, TokenKind>>;
  /** The gateway's own total, summed only to cross-check the priced kinds; never priced. */
  readonly totalTokensMetric: string | null;
  /** The metric whose valueCount is the number of requests: the gateway emits it once per request. */
  readonly requestCountMetric: string;
  /** Names of the custom dimensions carrying the Entra oid, the model id and the app-role tier. */
  readonly dimensions: { readonly userId: string; readonly model: string; readonly tier: string };
}

export const DEFAULT_METRIC_MAPPING: MetricMapping = Object.freeze({
  tokenKinds: Object.freeze({ 'Prompt Tokens': 'input', 'Completion Tokens': 'output' } as Record<string, TokenKind>),
  totalTokensMetric: 'Total Tokens',
  requestCountMetric: 'Prompt Tokens',
  dimensions: Object.freeze({ userId: 'UserId', model: 'Model', tier: 'Tier' }),
});

/** A value a source could not read as a count: why (e.g. "is hexadecimal") and the text as it was. */
export interface UnreadableValue {
  readonly problem: string;
  readonly raw: string;
}

/** A count as the source read it: a number (checked by the aggregator) or the reason it is not one. */
export type SampleValue = number | UnreadableValue;

/** One customMetrics row after its dimensions were picked out; values are validated by the aggregator. */
export interface MetricSample {
  timestamp: Date;
  name: string;
  valueSum: SampleValue;
  valueCount: SampleValue;
  /** '' when the gateway emitted no UserId: kept, and later allocated to the unallocated team. */
  userId: string;
  /** '' becomes "unknown", as the gateway policy itself does for a request without a model. */
  model: string;
  tier: string;
}

/**
 * Where a sample was read, shown as `source:line`. A source reading millions of rows passes the two apart, so
 * that the text is only made for the few rows that are rejected or repeated.
 */
export class RowLocation {
  constructor(
    readonly source: string,
    readonly line: number,
  ) {}

  toString(): string {
    return `${this.source}:${this.line}`;
  }
}

/** `file:line`, a query's row, or the same as a RowLocation. */
export type SampleLocation = string | RowLocation;

/** No single pre-aggregated sample of a gateway metric comes near this; a bigger one is corrupt input. */
export const MAX_TOKENS_PER_SAMPLE = 1e12;
export const UNKNOWN_DIMENSION = 'unknown';
/**
 * The longest UserId, Model or Tier (in UTF-8 bytes) a row may carry. The rollup stores key a line by
 * `user~model~tier`, each part escaped to at most 3 ASCII characters per UTF-8 byte (table-keys.ts), and Table
 * Storage refuses keys over 1,024 bytes: 3 x 3 x 100 + 2 = 902 leaves room for one more short key part. Real
 * values are far shorter (an oid is 36 bytes, a model id ~30).
 */
export const MAX_DIMENSION_BYTES = 100;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export const SKIPPED_OUTSIDE_WINDOW = 'outside window';
export function skippedMetricReason(name: string): string {
  return `metric not used: ${name}`;
}

/** Problems with a mapping, one sentence each (empty when it is usable), for the config loader to report. */
export function metricMappingProblems(mapping: MetricMapping): string[] {
  const problems: string[] = [];
  const names = Object.keys(mapping.tokenKinds);
  if (names.length === 0) problems.push('no metric is mapped to a token kind');
  for (const name of names) {
    if (name.trim() === '') problems.push('a token metric name is empty');
    const kind = mapping.tokenKinds[name] as string;
    if (!isTokenKind(kind)) problems.push(`metric "${name}" maps to "${kind}", which is not a token kind`);
  }
  if (mapping.totalTokensMetric !== null && Object.hasOwn(mapping.tokenKinds, mapping.totalTokensMetric)) {
    problems.push(`"${mapping.totalTokensMetric}" is both the total metric and a priced token kind: it would be counted twice`);
  }
  if (mapping.requestCountMetric.trim() === '') problems.push('the request count metric name is empty');
  for (const [role, name] of Object.entries(mapping.dimensions)) {
    if (name.trim() === '') problems.push(`the ${role} dimension name is empty`);
  }
  return problems;
}

export interface UsageAggregatorOptions {
  /**
   * Treat a second sample of one series (metric, UserId, Model, Tier) at one minute as a repeat: not summed,
   * counted in `duplicates`. For raw metric rows (APIM pre-aggregates one row per series per minute), not for
   * results a query already summed.
   */
  readonly detectRepeats?: boolean;
}

/** What a source adds to the aggregator's result: the inputs it read and the files it found repeated. */
export interface UsageResultExtras {
  readonly inputs?: readonly UsageInput[];
  readonly duplicateFiles?: readonly string[];
  readonly dayTotals?: readonly SourceDayTotal[];
}

interface DayFiguresBuilder {
  readonly rejects: DayRejects;
  reportedTotalTokens: number | null;
  duplicates: number;
}

/** A day's rejects: the count and reasons in full, only the first few rows (the read keeps them all). */
class DayRejects {
  private count = 0;
  private readonly samples: RejectedRow[] = [];
  private readonly byReason: Record<string, number> = {};

  add(location: string, reason: string, raw?: string): void {
    this.count += 1;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    if (this.samples.length < MAX_REJECT_SAMPLES) this.samples.push(raw === undefined ? { location, reason } : { location, reason, raw: rawValueForReport(raw) });
  }

  summary(): RejectSummary {
    return { count: this.count, samples: [...this.samples], byReason: { ...this.byReason } };
  }
}

/**
 * Sums what a source holds per calendar day and metric, before any validation (UsageSource.dayTotals): a
 * value that is not a number adds nothing but its presence is still counted in `valueCount`'s day entry.
 */
export class SourceDayTotalsCollector {
  /** By day, then metric: rows come in time order, so a row finds its day's sums without building a key. */
  private readonly byDay = new Map<string, Map<string, { day: string; metric: string; valueSum: number; valueCount: number }>>();
  private lastDay: string | null = null;
  private lastDaySums = new Map<string, { day: string; metric: string; valueSum: number; valueCount: number }>();

  add(day: string, metric: string, valueSum: unknown, valueCount: unknown): void {
    let daySums = this.lastDaySums;
    if (day !== this.lastDay) {
      const known = this.byDay.get(day);
      daySums = known ?? new Map();
      if (known === undefined) this.byDay.set(day, daySums);
      this.lastDay = day;
      this.lastDaySums = daySums;
    }
    let sum = daySums.get(metric);
    if (sum === undefined) {
      sum = { day, metric, valueSum: 0, valueCount: 0 };
      daySums.set(metric, sum);
    }
    if (typeof valueSum === 'number' && Number.isFinite(valueSum)) sum.valueSum += valueSum;
    if (typeof valueCount === 'number' && Number.isFinite(valueCount)) sum.valueCount += valueCount;
  }

  result(): SourceDayTotal[] {
    const sums = [...this.byDay.values()].flatMap((daySums) => [...daySums.values()]);
    return sums.sort((a, b) => compareText(a.day, b.day) || compareText(a.metric, b.metric));
  }
}

/**
 * Reads a count from text the way finance can trust it: unsigned decimal digits, optionally followed by a
 * zero fraction (the portal writes valueSum as `1234.0`). Hexadecimal, binary, signs, exponents, a trailing
 * separator, digit grouping, spaces and an empty field are refused with the reason, never guessed at.
 * `decimalSeparator` is ',' for a ';'-separated file (European exports), where '.' groups digits.
 */
export function readCount(text: string, decimalSeparator: '.' | ',' = '.'): SampleValue {
  if (PLAIN_DIGITS.test(text)) return countFromDigits(text, text);
  const zeroFraction = decimalSeparator === '.' ? ZERO_FRACTION_DOT.exec(text) : ZERO_FRACTION_COMMA.exec(text);
  if (zeroFraction !== null) return countFromDigits(zeroFraction[1]!, text);
  return { problem: countTextProblem(text, decimalSeparator), raw: text };
}

const PLAIN_DIGITS = /^\d+$/;
const ZERO_FRACTION_DOT = /^(\d+)\.0+$/;
const ZERO_FRACTION_COMMA = /^(\d+),0+$/;

function countFromDigits(digits: string, raw: string): SampleValue {
  // Past 13 significant digits a count is over the per-sample bound: say so before Number() rounds it.
  const significant = digits.length <= 13 ? digits : digits.replace(/^0+(?=\d)/, '');
  if (significant.length > 13) return { problem: 'is over 1e12 in one sample', raw };
  const value = Number(significant);
  return value > MAX_TOKENS_PER_SAMPLE ? { problem: 'is over 1e12 in one sample', raw } : value;
}

function countTextProblem(text: string, decimalSeparator: '.' | ','): string {
  if (text === '') return 'is empty';
  if (/\s/.test(text)) return 'has spaces';
  if (/^-\d/.test(text)) return 'is negative';
  if (/^[+-]/.test(text)) return 'has a sign';
  if (/^0[xX]/.test(text)) return 'is hexadecimal';
  if (/^0[bB]/.test(text)) return 'is binary';
  if (/^0[oO]/.test(text)) return 'is octal';
  if (/^\d*[.,]?\d*[eE]/.test(text) && /\d/.test(text)) return 'has an exponent';
  const separator = decimalSeparator === '.' ? '\\.' : ',';
  if (new RegExp(`^\\d+${separator}$`).test(text)) return 'ends in a decimal separator';
  if (new RegExp(`^\\d+${separator}\\d+$`).test(text)) return 'is not an integer';
  if (/^\d{1,3}([.,]\d{3})+$/.test(text)) return 'has digit grouping';
  return 'is not a decimal integer';
}

/**
 * Validates metric samples and sums them per day x user x model x tier. Pure: the caller feeds samples in any
 * order and gets the same rows. Every sample ends up used, skipped (counted by reason) or rejected (counted
 * by reason, with a location), so a run report can account for all of them.
 */
export class UsageAggregator {
  /** A metric's token kind as its place in TOKEN_KINDS, the slot of its sums in a day of a series. */
  private readonly kindByMetric: Map<string, number>;
  private readonly totalMetric: string | null;
  private readonly requestMetric: string;
  private readonly dimensionNames: MetricMapping['dimensions'];
  private readonly startMs: number;
  private readonly endMs: number;
  private readonly dayOf: (instant: Date) => string;
  /** The sums per user, model, tier and day: one series per user, model and tier with a flat array of sums. */
  private readonly usage = new UsageSeriesSet();
  private finished = false;
  private readonly rejects = new RejectCollector();
  /** The same figures per day, for the days a sample's time placed it in (rare: rejects, totals, repeats). */
  private readonly dayFigures = new Map<string, DayFiguresBuilder>();
  private readonly skipped: Record<string, number> = {};
  private reportedTotal: number | null = null;
  /** All tokens and all requests summed so far: every total built from the rows is at most these. */
  private tokensRead = 0;
  private requestsRead = 0;
  private readonly repeats: RepeatCheck | null;
  /** Every user, model and tier seen with keyable dimensions: a user's newest series, linked to the others. */
  private readonly seriesOfUser = new Map<string, KnownSeries>();
  private seriesCount = 0;
  /** The last series: a series' metrics arrive one after another with the same texts. */
  private lastSeries: KnownSeries | null = null;

  constructor(mapping: MetricMapping, window: TimeWindow, timeZone: string, options: UsageAggregatorOptions = {}) {
    // A Map, not the record: a metric named "constructor" must not hit Object.prototype.
    this.kindByMetric = new Map();
    for (const [name, kind] of Object.entries(mapping.tokenKinds)) {
      const slot = TOKEN_KINDS.indexOf(kind);
      if (slot === -1) throw new AppError('CONFIG_INVALID', `metric "${name}" maps to "${kind}", which is not a token kind`);
      this.kindByMetric.set(name, slot);
    }
    this.totalMetric = mapping.totalTokensMetric;
    this.requestMetric = mapping.requestCountMetric;
    this.dimensionNames = mapping.dimensions;
    this.startMs = window.start.getTime();
    this.endMs = window.end.getTime();
    this.dayOf = createDayResolver(timeZone);
    this.repeats = options.detectRepeats === true ? new RepeatCheck(mapping, window) : null;
  }

  add(sample: MetricSample, location: SampleLocation): void {
    this.assertOpen();
    const instant = sample.timestamp.getTime();
    if (Number.isNaN(instant)) return this.reject(location, 'timestamp is not a valid date');
    if (instant < this.startMs || instant >= this.endMs) return this.skip(SKIPPED_OUTSIDE_WINDOW);

    const kind = this.kindByMetric.get(sample.name);
    const isTotal = sample.name === this.totalMetric;
    const countsRequests = sample.name === this.requestMetric;
    if (kind === undefined && !isTotal && !countsRequests) return this.skip(skippedMetricReason(sample.name));

    const day = this.dayOf(sample.timestamp);
    const problem = valueProblem(sample.valueSum, 'valueSum') ?? valueProblem(sample.valueCount, 'valueCount');
    if (problem !== null) return this.reject(location, problem.reason, problem.raw, day);
    const valueSum = sample.valueSum as number;
    const valueCount = sample.valueCount as number;

    const userId = sample.userId.trim();
    const model = sample.model.trim() || UNKNOWN_DIMENSION;
    const tier = sample.tier.trim() || UNKNOWN_DIMENSION;
    let known = this.lastSeries;
    if (known === null || known.userId !== userId || known.model !== model || known.tier !== tier) {
      known = this.knownSeries(userId, model, tier);
      if (known === null) {
        const names = this.dimensionNames;
        const badDimension = (dimensionProblem(names.userId, userId) ?? dimensionProblem(names.model, model) ?? dimensionProblem(names.tier, tier))!;
        return this.reject(location, badDimension.reason, badDimension.raw, day);
      }
      this.lastSeries = known;
    }

    if (this.repeats !== null && this.repeats.isRepeat(sample.name, instant, known.id, userId, model, tier, location)) {
      this.figuresOf(day).duplicates += 1;
      return;
    }

    if (isTotal) {
      const total = (this.reportedTotal ?? 0) + valueSum;
      if (!Number.isSafeInteger(total)) return this.reject(location, 'the Total Tokens sum would exceed the safe integer range', String(valueSum), day);
      this.reportedTotal = total;
      const figures = this.figuresOf(day);
      figures.reportedTotalTokens = (figures.reportedTotalTokens ?? 0) + valueSum;
      if (kind === undefined && !countsRequests) return;
    }

    const addedTokens = kind === undefined ? 0 : valueSum;
    const addedRequests = countsRequests ? valueCount : 0;
    // Any total a report builds (a team, a model, the month, all kinds together) is a sum of these rows, so
    // keeping the sum of everything read a safe integer keeps every one of them exact.
    const tokensRead = this.tokensRead + addedTokens;
    const requestsRead = this.requestsRead + addedRequests;
    if (!Number.isSafeInteger(tokensRead) || !Number.isSafeInteger(requestsRead)) {
      const raw = String(kind === undefined ? valueCount : valueSum);
      return this.reject(location, 'the total of everything read would exceed the safe integer range', raw, day);
    }
    const series = (known.sums ??= this.usage.seriesOf(userId, model, tier));
    const at = this.usage.daySlot(series, day);
    const sums = series.sums;
    this.tokensRead = tokensRead;
    this.requestsRead = requestsRead;
    if (kind !== undefined) sums[at + kind] = sums[at + kind]! + addedTokens;
    sums[at + REQUESTS_SLOT] = sums[at + REQUESTS_SLOT]! + addedRequests;
  }

  /** `day`: the calendar day the rejected row belongs to, when the source knows it. */
  reject(location: SampleLocation, reason: string, raw?: string, day?: string): void {
    this.assertOpen();
    const text = String(location);
    this.rejects.add(text, reason, raw);
    if (day !== undefined) this.figuresOf(day).rejects.add(text, reason, raw);
  }

  /**
   * The rows in a stable order (day, user, model, tier) so reruns produce identical output. Taking the result
   * ends the aggregation: the rows are the sums themselves, handed over rather than copied, so a month's sums
   * exist once.
   */
  result(sourceDescription: string, extras: UsageResultExtras = {}): UsageReadResult {
    this.assertOpen();
    this.finished = true;
    const rows = this.usage.rows();
    const duplicates = this.repeats?.summary(extras.duplicateFiles ?? []);
    return {
      rows,
      rejects: this.rejects.summary(),
      skipped: { ...this.skipped },
      reportedTotalTokens: this.reportedTotal,
      sourceDescription,
      ...(duplicates === undefined ? {} : { duplicates }),
      ...(extras.inputs === undefined ? {} : { inputs: [...extras.inputs] }),
      days: new Map(
        [...this.dayFigures.entries()].map(([day, figures]) => [day, { rejects: figures.rejects.summary(), reportedTotalTokens: figures.reportedTotalTokens, duplicates: figures.duplicates }]),
      ),
      ...(extras.dayTotals === undefined ? {} : { dayTotals: extras.dayTotals }),
    };
  }

  /**
   * The series of these dimensions, made when it is new and every dimension can be keyed; null when one cannot
   * (the caller rejects the row). One lookup per series serves the dimension check, the repeat check and the sums.
   */
  private knownSeries(userId: string, model: string, tier: string): KnownSeries | null {
    const first = this.seriesOfUser.get(userId);
    for (let known = first; known !== undefined; known = known.next) {
      if (known.model === model && known.tier === tier) return known;
    }
    const names = this.dimensionNames;
    if ((dimensionProblem(names.userId, userId) ?? dimensionProblem(names.model, model) ?? dimensionProblem(names.tier, tier)) !== null) return null;
    const known: KnownSeries = { userId, model, tier, id: this.seriesCount, sums: null, next: first };
    this.seriesCount += 1;
    this.seriesOfUser.set(userId, known);
    return known;
  }

  private figuresOf(day: string): DayFiguresBuilder {
    let figures = this.dayFigures.get(day);
    if (figures === undefined) {
      figures = { rejects: new DayRejects(), reportedTotalTokens: null, duplicates: 0 };
      this.dayFigures.set(day, figures);
    }
    return figures;
  }

  private assertOpen(): void {
    if (this.finished) throw new AppError('INTERNAL', 'usage samples were added after the aggregation result was taken');
  }

  private skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }
}

/** A user, model and tier whose dimensions can be keyed: its repeat-check id, and its sums once it has some. */
interface KnownSeries {
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  readonly id: number;
  sums: UsageSeries | null;
  /** The user's series seen before this one. */
  readonly next: KnownSeries | undefined;
}

function valueProblem(value: SampleValue, field: 'valueSum' | 'valueCount'): { reason: string; raw: string } | null {
  if (typeof value !== 'number') {
    if (typeof value === 'object' && value !== null && typeof value.problem === 'string') return { reason: `${field} ${value.problem}`, raw: value.raw };
    return { reason: `${field} is not a finite number`, raw: String(value) };
  }
  if (!Number.isFinite(value)) return { reason: `${field} is not a finite number`, raw: String(value) };
  if (value < 0) return { reason: `${field} is negative`, raw: String(value) };
  if (!Number.isInteger(value)) return { reason: `${field} is not an integer`, raw: String(value) };
  if (value > MAX_TOKENS_PER_SAMPLE) return { reason: `${field} is over 1e12 in one sample`, raw: String(value) };
  return null;
}

/** A dimension value no store can key: too long once escaped, or holding control characters. */
function dimensionProblem(name: string, value: string): { reason: string; raw: string } | null {
  if (CONTROL_CHARACTER.test(value)) return { reason: `${name} contains a control character`, raw: JSON.stringify(value).slice(1, -1) };
  // Each UTF-16 unit is at most 3 UTF-8 bytes: only a long value needs counting.
  if (value.length * 3 > MAX_DIMENSION_BYTES && utf8Length(value) > MAX_DIMENSION_BYTES) {
    return { reason: `${name} is longer than ${MAX_DIMENSION_BYTES} bytes, more than a storage key can hold`, raw: value };
  }
  return null;
}

/** UTF-8 length; a lone surrogate counts as the 3 bytes of the replacement character. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      index += 1;
    } else bytes += 3;
  }
  return bytes;
}

/** Up to 62 inputs and 2^26 lines each fit the 32-bit origin; anything else is remembered as "an earlier row". */
const ORIGIN_LINE_BITS = 2 ** 26;
const MAX_ORIGIN_PREFIXES = 62;
const UNKNOWN_ORIGIN = 0xffff_ffff;

/**
 * Finds the same series at the same minute read twice (two overlapping exports, or one file given twice).
 * The aggregator numbers series with small integers, so one (series, metric, minute) is one integer in SeenSamplePairs.
 */
class RepeatCheck {
  private readonly metricIds = new Map<string, number>();
  private readonly seen = new SeenSamplePairs(1 << 16);
  private readonly startMinute: number;
  private readonly windowMinutes: number;
  private readonly prefixes: string[] = [];
  private readonly prefixIds = new Map<string, number>();
  private count = 0;
  private readonly samples: string[] = [];
  private lastPrefix: string | null = null;
  private lastPrefixId = -1;

  constructor(mapping: MetricMapping, window: TimeWindow) {
    const names = [...Object.keys(mapping.tokenKinds), mapping.requestCountMetric];
    if (mapping.totalTokensMetric !== null) names.push(mapping.totalTokensMetric);
    for (const name of names) if (!this.metricIds.has(name)) this.metricIds.set(name, this.metricIds.size);
    this.startMinute = Math.floor(window.start.getTime() / 60_000);
    this.windowMinutes = Math.ceil(window.end.getTime() / 60_000) - this.startMinute + 1;
  }

  /** `seriesId`: the same small integer for every sample of one user, model and tier, given by the caller. */
  isRepeat(metric: string, instant: number, seriesId: number, userId: string, model: string, tier: string, location: SampleLocation): boolean {
    const metricId = this.metricIds.get(metric)!;
    const minute = Math.floor(instant / 60_000) - this.startMinute;
    const key = (seriesId * this.metricIds.size + metricId) * this.windowMinutes + minute;
    const first = this.seen.addOrFind(key, this.origin(location));
    if (first === -1) return false;
    this.count += 1;
    if (this.samples.length < MAX_REJECT_SAMPLES) {
      const at = new Date((this.startMinute + minute) * 60_000).toISOString().slice(0, 16);
      const user = userId === '' ? '(no UserId)' : userId;
      this.samples.push(`${location} repeats ${this.describeOrigin(first)} (${metric}, ${user}, ${model}, ${tier}, ${at}Z)`);
    }
    return true;
  }

  summary(files: readonly string[]): DuplicateSummary {
    return { count: this.count, samples: [...this.samples], files: [...files] };
  }

  /** "name:line" packed into 32 bits: the prefix (a file name) interned, the line number as it is. */
  private origin(location: SampleLocation): number {
    if (typeof location !== 'string') return this.originOf(location.source, location.line);
    const colon = location.lastIndexOf(':');
    if (colon <= 0) return UNKNOWN_ORIGIN;
    const last = this.lastPrefix;
    const prefix = last !== null && colon === last.length && location.startsWith(last) ? last : location.slice(0, colon);
    return this.originOf(prefix, Number(location.slice(colon + 1)));
  }

  private originOf(prefix: string, line: number): number {
    if (prefix === '' || !Number.isInteger(line) || line < 0 || line >= ORIGIN_LINE_BITS) return UNKNOWN_ORIGIN;
    if (prefix === this.lastPrefix) return this.lastPrefixId * ORIGIN_LINE_BITS + line;
    let prefixId = this.prefixIds.get(prefix);
    if (prefixId === undefined) {
      if (this.prefixes.length >= MAX_ORIGIN_PREFIXES) return UNKNOWN_ORIGIN;
      prefixId = this.prefixes.length;
      this.prefixes.push(prefix);
      this.prefixIds.set(prefix, prefixId);
    }
    this.lastPrefix = prefix;
    this.lastPrefixId = prefixId;
    return prefixId * ORIGIN_LINE_BITS + line;
  }

  private describeOrigin(origin: number): string {
    if (origin === UNKNOWN_ORIGIN) return 'an earlier row';
    return `${this.prefixes[Math.floor(origin / ORIGIN_LINE_BITS)]}:${origin % ORIGIN_LINE_BITS}`;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
