import { AppError } from './errors.js';
import { createDayResolver, type TimeWindow } from './periods.js';
import { isTokenKind, zeroTokens, type TokenCounts, type TokenKind } from './tokens.js';
import { RejectCollector, type UsageReadResult, type UsageRow } from './usage.js';

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

/** One customMetrics row after its dimensions were picked out; values are validated by the aggregator. */
export interface MetricSample {
  timestamp: Date;
  name: string;
  valueSum: number;
  valueCount: number;
  /** '' when the gateway emitted no UserId: kept, and later allocated to the unallocated team. */
  userId: string;
  /** '' becomes "unknown", as the gateway policy itself does for a request without a model. */
  model: string;
  tier: string;
}

/** No single pre-aggregated sample of a gateway metric comes near this; a bigger one is corrupt input. */
export const MAX_TOKENS_PER_SAMPLE = 1e12;
export const UNKNOWN_DIMENSION = 'unknown';

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

interface RowBuilder {
  readonly day: string;
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  readonly tokens: TokenCounts;
  requests: number;
}

/**
 * Validates metric samples and sums them per day x user x model x tier. Pure: the caller feeds samples in any
 * order and gets the same rows. Every sample ends up used, skipped (counted by reason) or rejected (counted
 * by reason, with a location), so a run report can account for all of them.
 */
export class UsageAggregator {
  private readonly kindByMetric: Map<string, TokenKind>;
  private readonly totalMetric: string | null;
  private readonly requestMetric: string;
  private readonly startMs: number;
  private readonly endMs: number;
  private readonly dayOf: (instant: Date) => string;
  /**
   * One flat map keyed by day, user, model and tier. A month holds hundreds of thousands of rows; maps nested
   * per dimension cost a small Map per day x user and per day x user x model, several times the rows' own
   * size, while building one key per sample is cheap.
   */
  private readonly builders = new Map<string, RowBuilder>();
  /** One string per day for all of its rows, rather than one per row. */
  private readonly days = new Map<string, string>();
  private finished = false;
  private readonly rejects = new RejectCollector();
  private readonly skipped: Record<string, number> = {};
  private reportedTotal: number | null = null;

  constructor(mapping: MetricMapping, window: TimeWindow, timeZone: string) {
    // A Map, not the record: a metric named "constructor" must not hit Object.prototype.
    this.kindByMetric = new Map(Object.entries(mapping.tokenKinds));
    this.totalMetric = mapping.totalTokensMetric;
    this.requestMetric = mapping.requestCountMetric;
    this.startMs = window.start.getTime();
    this.endMs = window.end.getTime();
    this.dayOf = createDayResolver(timeZone);
  }

  add(sample: MetricSample, location: string): void {
    this.assertOpen();
    const instant = sample.timestamp.getTime();
    if (Number.isNaN(instant)) return this.reject(location, 'timestamp is not a valid date');
    if (instant < this.startMs || instant >= this.endMs) return this.skip(SKIPPED_OUTSIDE_WINDOW);

    const kind = this.kindByMetric.get(sample.name);
    const isTotal = sample.name === this.totalMetric;
    const countsRequests = sample.name === this.requestMetric;
    if (kind === undefined && !isTotal && !countsRequests) return this.skip(skippedMetricReason(sample.name));

    const problem = valueProblem(sample.valueSum, 'valueSum') ?? valueProblem(sample.valueCount, 'valueCount');
    if (problem !== null) return this.reject(location, problem);

    if (isTotal) {
      const total = (this.reportedTotal ?? 0) + sample.valueSum;
      if (!Number.isSafeInteger(total)) return this.reject(location, 'the Total Tokens sum would exceed the safe integer range');
      this.reportedTotal = total;
      if (kind === undefined && !countsRequests) return;
    }

    const day = this.dayOf(sample.timestamp);
    const userId = sample.userId.trim();
    const model = sample.model.trim() || UNKNOWN_DIMENSION;
    const tier = sample.tier.trim() || UNKNOWN_DIMENSION;
    const builder = this.builderFor(day, userId, model, tier);
    const tokens = kind === undefined ? 0 : builder.tokens[kind] + sample.valueSum;
    const requests = countsRequests ? builder.requests + sample.valueCount : builder.requests;
    if (!Number.isSafeInteger(tokens) || !Number.isSafeInteger(requests)) {
      return this.reject(location, 'the row sum would exceed the safe integer range');
    }
    if (kind !== undefined) builder.tokens[kind] = tokens;
    builder.requests = requests;
  }

  reject(location: string, reason: string): void {
    this.assertOpen();
    this.rejects.add(location, reason);
  }

  /**
   * The rows in a stable order (day, user, model, tier) so reruns produce identical output. Taking the result
   * ends the aggregation: the rows are the sums themselves, handed over rather than copied, so a month's rows
   * exist once.
   */
  result(sourceDescription: string): UsageReadResult {
    this.assertOpen();
    this.finished = true;
    const rows: UsageRow[] = [...this.builders.values()].sort(compareRows);
    this.builders.clear();
    return {
      rows,
      rejects: this.rejects.summary(),
      skipped: { ...this.skipped },
      reportedTotalTokens: this.reportedTotal,
      sourceDescription,
    };
  }

  private builderFor(day: string, userId: string, model: string, tier: string): RowBuilder {
    const key = rowKey(day, userId, model, tier);
    let builder = this.builders.get(key);
    if (builder === undefined) {
      let sharedDay = this.days.get(day);
      if (sharedDay === undefined) {
        sharedDay = day;
        this.days.set(day, day);
      }
      builder = { day: sharedDay, userId, model, tier, tokens: zeroTokens(), requests: 0 };
      this.builders.set(key, builder);
    }
    return builder;
  }

  private assertOpen(): void {
    if (this.finished) throw new AppError('INTERNAL', 'usage samples were added after the aggregation result was taken');
  }

  private skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }
}

/**
 * The separator cannot occur in a day (YYYY-MM-DD); a dimension holding it is keyed by its JSON form instead,
 * which starts with "[" where a plain key starts with a digit, so two different rows never share a key.
 */
function rowKey(day: string, userId: string, model: string, tier: string): string {
  if (userId.includes('\u0000') || model.includes('\u0000') || tier.includes('\u0000')) return JSON.stringify([day, userId, model, tier]);
  return `${day}\u0000${userId}\u0000${model}\u0000${tier}`;
}

function valueProblem(value: number, field: 'valueSum' | 'valueCount'): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${field} is not a finite number`;
  if (value < 0) return `${field} is negative`;
  if (!Number.isInteger(value)) return `${field} is not an integer`;
  if (value > MAX_TOKENS_PER_SAMPLE) return `${field} is over 1e12 in one sample`;
  return null;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRows(a: RowBuilder, b: RowBuilder): number {
  return compareText(a.day, b.day) || compareText(a.userId, b.userId) || compareText(a.model, b.model) || compareText(a.tier, b.tier);
}
