import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  LogsQueryClient,
  LogsQueryResultStatus,
  type LogsQueryOptions,
  type LogsQueryResult,
  type LogsTable,
  type QueryTimeInterval,
} from '@azure/monitor-query-logs';
import { AppError, isAppError, type ErrorCode } from '../../domain/errors.js';
import { SourceDayTotalsCollector, UsageAggregator, type SampleValue } from '../../domain/metric-mapping.js';
import { dayInZone, dayWindow, nextDay, startOfDayInZone, type TimeWindow } from '../../domain/periods.js';
import type { SourceDayTotal, UsageReadResult } from '../../domain/usage.js';
import type { ReadUsageOptions, UsageSource } from '../../ports/usage-source.js';
import type { AppInsightsQuerySettings, LogsQueryTarget } from '../../config/usage-query.js';
import { buildDayTotalsQuery, buildUsageQuery, DAY_TOTALS_RESULT_COLUMNS, USAGE_RESULT_COLUMNS, usageQuerySettingsProblems, type HashSplit, type UsageQuerySettings } from './kql.js';

/** The two LogsQueryClient calls this adapter makes; tests pass the real client pointed at a stub. */
export interface LogsQueryPort {
  queryWorkspace(workspaceId: string, query: string, timespan: QueryTimeInterval, options?: LogsQueryOptions): Promise<LogsQueryResult>;
  queryResource(resourceId: string, query: string, timespan: QueryTimeInterval, options?: LogsQueryOptions): Promise<LogsQueryResult>;
}

// The zone comes from each read (ReadUsageOptions.timeZone), so it is not part of the adapter's settings.
export type { AppInsightsQuerySettings, LogsQueryTarget };

export interface AppInsightsUsageSourceOptions {
  readonly client: LogsQueryPort;
  readonly target: LogsQueryTarget;
  readonly settings: AppInsightsQuerySettings;
  /** Queries in flight at once; the service runs 5 per user and queues (then 429s) the rest. Default 3. */
  readonly maxConcurrency?: number;
  /** Attempts per query for 429, 5xx, timeouts and network errors. Default 5. */
  readonly maxAttempts?: number;
  /** Query requests (retries included) allowed per sliding window. Default 200 per 30 s, the service limit. */
  readonly requestBudget?: { readonly requests: number; readonly perMs: number };
  /** Largest UserId split tried before a day is declared too big. Default 64. */
  readonly maxBuckets?: number;
  /** Server-side limit (Prefer: wait); the client gives up 30 s after it. Default 180, the service default. */
  readonly serverTimeoutSeconds?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

const DEFAULT_MAX_CONCURRENCY = 3;
const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_MAX_BUCKETS = 64;
const DEFAULT_SERVER_TIMEOUT_SECONDS = 180;
const CLIENT_TIMEOUT_MARGIN_MS = 30_000;
const BACKOFF_BASE_MS = 2_000;
const BACKOFF_CAP_MS = 60_000;
const RETRY_AFTER_CAP_MS = 5 * 60_000;
const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * E_QUERY_RESULT_SET_TOO_LARGE (0x80DA0003, i.e. -2133196797 as the signed code the API puts in innererror) is
 * how Kusto reports the 500,000-record / 64 MB result truncation; the Log Analytics API wraps it in a
 * PartialError next to the truncated tables. Message texts seen for it are matched too.
 */
const TOO_LARGE_CODES = new Set(['E_QUERY_RESULT_SET_TOO_LARGE', '-2133196797', '0x80DA0003', 'ResponsePayloadTooLarge']);
const TOO_LARGE_MESSAGE = /E_QUERY_RESULT_SET_TOO_LARGE|0x80DA0003|result set has exceeded the internal|results of this query exceed the set limit/i;

/** Set on each request so the pipeline policy can hand the raw partial error back to the right call. */
const CORRELATION_HEADER = 'x-ms-client-request-id';

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Builds the real LogsQueryClient for this adapter around a credential made elsewhere (the composition root's
 * one cached credential). The SDK's own retries are switched off because the adapter retries itself: with
 * both, every 429 would be retried maxAttempts x 3 times, outside the request budget and the injected clock.
 * The returned port also keeps the raw `error` of partial results: the SDK drops `details[].innererror`,
 * which is where the service says "result set too large".
 */
export function createLogsQueryPort(credential: TokenCredential, options: { endpoint?: string } = {}): LogsQueryPort {
  const rawErrors = new Map<string, unknown>();
  const client = new LogsQueryClient(credential, {
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    retryOptions: { maxRetries: 0 },
  });
  client.pipeline.addPolicy({
    name: 'keepPartialErrorDetails',
    async sendRequest(request, next) {
      const response = await next(request);
      const id = request.headers.get(CORRELATION_HEADER);
      if (id !== undefined && response.status === 200 && response.bodyAsText) {
        try {
          const body = JSON.parse(response.bodyAsText) as { error?: unknown };
          if (body.error !== undefined && body.error !== null) rawErrors.set(id, body.error);
        } catch {
          // Not JSON: the SDK reports that itself.
        }
      }
      return response;
    },
  });
  const withRawError = async (call: (options: LogsQueryOptions) => Promise<LogsQueryResult>, options?: LogsQueryOptions) => {
    const id = randomUUID();
    const headers = { ...options?.requestOptions?.headers, [CORRELATION_HEADER]: id };
    try {
      const result = await call({ ...options, requestOptions: { ...options?.requestOptions, headers } });
      const raw = rawErrors.get(id);
      if (result.status === LogsQueryResultStatus.PartialFailure && raw !== undefined) {
        return { ...result, partialError: raw as typeof result.partialError };
      }
      return result;
    } finally {
      rawErrors.delete(id);
    }
  };
  return {
    queryWorkspace: (workspaceId, query, timespan, opts) => withRawError((o) => client.queryWorkspace(workspaceId, query, timespan, o), opts),
    queryResource: (resourceId, query, timespan, opts) => withRawError((o) => client.queryResource(resourceId, query, timespan, o), opts),
  };
}

/** One query of the plan: a calendar day, possibly narrowed to one UserId hash bucket. */
interface QueryUnit {
  readonly day: string;
  readonly window: TimeWindow;
  readonly split: HashSplit;
}

function describeUnit(unit: QueryUnit): string {
  return unit.split.buckets === 1 ? `query ${unit.day}` : `query ${unit.day} bucket ${unit.split.bucket}/${unit.split.buckets}`;
}

/** Where a rejected row came from: the query window (day, and bucket when the day was split). */
function rejectLocation(unit: QueryUnit): string {
  return unit.split.buckets === 1 ? `query window ${unit.day}` : `query window ${unit.day} bucket ${unit.split.bucket}/${unit.split.buckets}`;
}

class ResultTooLarge extends Error {}

/**
 * Usage from the gateway's token metrics in App Insights / Log Analytics. Each calendar day (in the read's
 * zone) is one query summed on the server; a day whose result hits the service's size limit is split by
 * UserId hash, the heavy bucket in two each time, up to maxBuckets. Rows reach the aggregator only from
 * complete results: a partial result fails the read and names its day.
 */
export class AppInsightsUsageSource implements UsageSource {
  private readonly client: LogsQueryPort;
  private readonly target: LogsQueryTarget;
  private readonly settings: AppInsightsQuerySettings;
  private readonly maxConcurrency: number;
  private readonly maxAttempts: number;
  private readonly maxBuckets: number;
  private readonly serverTimeoutSeconds: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly slots: Semaphore;
  private readonly budget: RequestBudget;

  constructor(options: AppInsightsUsageSourceOptions) {
    const problems = usageQuerySettingsProblems(options.settings);
    if (problems.length > 0) throw new AppError('CONFIG_INVALID', 'the App Insights usage settings are not usable', { details: problems });
    this.client = options.client;
    this.target = options.target;
    this.settings = options.settings;
    this.maxConcurrency = positiveInteger(options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY, 'maxConcurrency');
    this.maxAttempts = positiveInteger(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 'maxAttempts');
    this.maxBuckets = positiveInteger(options.maxBuckets ?? DEFAULT_MAX_BUCKETS, 'maxBuckets');
    this.serverTimeoutSeconds = positiveInteger(options.serverTimeoutSeconds ?? DEFAULT_SERVER_TIMEOUT_SECONDS, 'serverTimeoutSeconds');
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
    this.slots = new Semaphore(this.maxConcurrency);
    const budget = options.requestBudget ?? { requests: 200, perMs: 30_000 };
    this.budget = new RequestBudget(positiveInteger(budget.requests, 'requestBudget.requests'), budget.perMs, this.now, this.sleep);
  }

  async read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult> {
    const zone = options.timeZone;
    const units = planDays(window, zone);
    const aggregator = new UsageAggregator(this.settings, window, zone);
    const totals = new SourceDayTotalsCollector();
    const run = { failed: false };
    const readUnit = async (unit: QueryUnit): Promise<void> => {
      try {
        await readOrSplit(unit);
      } catch (error) {
        run.failed = true;
        throw error;
      }
    };
    const readOrSplit = async (unit: QueryUnit): Promise<void> => {
      if (run.failed) return;
      let table: LogsTable | null;
      try {
        table = await this.queryUnit(unit, buildUsageQuery({ ...this.settings, timeZone: zone }, unit.window, unit.split), run, options.onProgress);
      } catch (error) {
        if (!(error instanceof ResultTooLarge)) throw error;
        if (unit.split.buckets * 2 > this.maxBuckets) {
          throw new AppError(
            'USAGE_PARTIAL_RESULT',
            `${describeUnit(unit)} still exceeds the query result limit after splitting users into ${unit.split.buckets} buckets; ` +
              `nothing from ${unit.day} was used (raise maxBuckets or shorten the window)`,
            { cause: error },
          );
        }
        const buckets = unit.split.buckets * 2;
        options.onProgress?.(`${describeUnit(unit)}: result too large, splitting into buckets of ${buckets}`);
        await settleAll([
          readUnit({ ...unit, split: { buckets, bucket: unit.split.bucket } }),
          readUnit({ ...unit, split: { buckets, bucket: unit.split.bucket + unit.split.buckets } }),
        ]);
        return;
      }
      if (table !== null) this.addRows(table, unit, zone, aggregator, totals);
    };
    await settleAll(units.map((unit) => readUnit(unit)));
    return aggregator.result(this.describeSource(), { dayTotals: totals.result() });
  }

  /** One small query for the whole window: per day and metric, the sums read() would read. */
  async dayTotals(window: TimeWindow, options: ReadUsageOptions): Promise<SourceDayTotal[]> {
    const zone = options.timeZone;
    const first = dayInZone(window.start, zone);
    const unit: QueryUnit = { day: `${first} to ${dayInZone(new Date(window.end.getTime() - 1), zone)} (day totals)`, window, split: { buckets: 1, bucket: 0 } };
    let table: LogsTable | null;
    try {
      table = await this.queryUnit(unit, buildDayTotalsQuery({ ...this.settings, timeZone: zone }, window), { failed: false }, options.onProgress);
    } catch (error) {
      if (error instanceof ResultTooLarge) throw new AppError('USAGE_PARTIAL_RESULT', `${describeUnit(unit)} exceeded the query result limit`, { cause: error });
      throw error;
    }
    const totals = new SourceDayTotalsCollector();
    if (table === null) return totals.result();
    const names = table.columnDescriptors.map((c) => c.name);
    const index = { day: names.indexOf(DAY_TOTALS_RESULT_COLUMNS.day), metric: names.indexOf(DAY_TOTALS_RESULT_COLUMNS.metric), valueSum: names.indexOf(DAY_TOTALS_RESULT_COLUMNS.valueSum), valueCount: names.indexOf(DAY_TOTALS_RESULT_COLUMNS.valueCount) };
    if (Object.values(index).some((at) => at < 0)) throw new AppError('USAGE_SOURCE_UNAVAILABLE', `${describeUnit(unit)} returned a table without the columns ${Object.values(DAY_TOTALS_RESULT_COLUMNS).join(', ')}`);
    for (const row of table.rows) {
      const day = row[index.day];
      if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
      totals.add(day, text(row[index.metric]), row[index.valueSum], row[index.valueCount]);
    }
    return totals.result();
  }

  private describeSource(): string {
    const where = this.target.kind === 'workspace' ? `workspace ${this.target.workspaceId}` : `resource ${this.target.resourceId}`;
    return `App Insights ${this.settings.mode === 'classic' ? 'customMetrics' : 'AppMetrics'} query on ${where}`;
  }

  /** The complete result table of one unit, or ResultTooLarge; retries transient failures. */
  private async queryUnit(unit: QueryUnit, query: string, run: { failed: boolean }, onProgress?: (message: string) => void): Promise<LogsTable | null> {
    const timespan = { startTime: unit.window.start, endTime: unit.window.end };
    const queryOptions: LogsQueryOptions = {
      serverTimeoutInSeconds: this.serverTimeoutSeconds,
      requestOptions: { timeout: this.serverTimeoutSeconds * 1000 + CLIENT_TIMEOUT_MARGIN_MS },
    };
    for (let attempt = 1; ; attempt += 1) {
      if (run.failed) return null;
      let result: LogsQueryResult;
      try {
        result = await this.slots.run(async () => {
          await this.budget.take();
          return this.target.kind === 'workspace'
            ? this.client.queryWorkspace(this.target.workspaceId, query, timespan, queryOptions)
            : this.client.queryResource(resourcePath(this.target.resourceId), query, timespan, queryOptions);
        });
      } catch (error) {
        if (isResultTooLarge(errorTree(error))) throw new ResultTooLarge(describeUnit(unit));
        const failure = classifyFailure(error);
        if (!failure.transient || attempt >= this.maxAttempts) {
          throw new AppError(
            failure.code,
            `${describeUnit(unit)} failed${failure.transient ? ` after ${attempt} attempts` : ''}: ${failure.summary}`,
            { retryable: failure.transient, cause: error },
          );
        }
        const waitMs = retryAfterMs(error, this.now()) ?? Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
        onProgress?.(`${describeUnit(unit)}: ${failure.summary}; retrying in ${Math.round(waitMs / 1000)} s (attempt ${attempt + 1} of ${this.maxAttempts})`);
        await this.sleep(waitMs);
        continue;
      }
      if (result.status === LogsQueryResultStatus.PartialFailure) {
        if (isResultTooLarge(result.partialError)) throw new ResultTooLarge(describeUnit(unit));
        throw new AppError(
          'USAGE_PARTIAL_RESULT',
          `${describeUnit(unit)} returned a partial result (${summarizeError(result.partialError)}); nothing from ${unit.day} was used`,
          { details: errorMessages(result.partialError) },
        );
      }
      const table = result.tables.find((t) => t.name === 'PrimaryResult') ?? result.tables[0];
      if (table === undefined) {
        throw new AppError('USAGE_SOURCE_UNAVAILABLE', `${describeUnit(unit)} returned no result table`);
      }
      onProgress?.(`${describeUnit(unit)}: ${table.rows.length} rows`);
      return table;
    }
  }

  private addRows(table: LogsTable, unit: QueryUnit, zone: string, aggregator: UsageAggregator, totals: SourceDayTotalsCollector): void {
    const index = columnIndexes(table, unit);
    const location = rejectLocation(unit);
    for (const row of table.rows) {
      const day = row[index.day];
      if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
        aggregator.reject(location, 'the Day column is not a YYYY-MM-DD date', text(day), unit.day);
        continue;
      }
      totals.add(day, text(row[index.metric]), row[index.valueSum], row[index.valueCount]);
      let timestamp: Date;
      try {
        // Local midnight of the day the server cut: the aggregator maps it back to the same day in `zone`.
        timestamp = startOfDayInZone(day, zone);
      } catch {
        aggregator.reject(location, 'the Day column is not a calendar day', day, unit.day);
        continue;
      }
      aggregator.add(
        {
          timestamp,
          name: text(row[index.metric]),
          valueSum: numeric(row[index.valueSum]),
          valueCount: numeric(row[index.valueCount]),
          userId: text(row[index.userId]),
          model: text(row[index.model]),
          tier: text(row[index.tier]),
        },
        location,
      );
    }
  }
}

/**
 * Waits for every task, then throws the first failure. After a failure no new query starts (run.failed), but
 * the ones in flight are let finish, so read() never returns while requests of it are still running.
 */
async function settleAll(tasks: Promise<void>[]): Promise<void> {
  const outcomes = await Promise.allSettled(tasks);
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

/**
 * The SDK appends the resource id to the endpoint as is, so the usual "/subscriptions/..." form would make
 * ".../v1//subscriptions/...": the leading slashes are dropped to get the documented ".../v1/subscriptions/...".
 */
function resourcePath(resourceId: string): string {
  return resourceId.replace(/^\/+/, '');
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new AppError('CONFIG_INVALID', `${name} must be a positive integer, not ${value}`);
  return value;
}

/** One unit per calendar day touched by the window, each clipped to the window. */
function planDays(window: TimeWindow, zone: string): QueryUnit[] {
  const start = window.start.getTime();
  const end = window.end.getTime();
  if (!(start < end)) throw new AppError('INVALID_ARGUMENT', 'the usage window is empty');
  const units: QueryUnit[] = [];
  for (let day = dayInZone(window.start, zone); ; day = nextDay(day)) {
    const whole = dayWindow(day, zone);
    if (whole.start.getTime() >= end) break;
    const clipped = {
      start: new Date(Math.max(whole.start.getTime(), start)),
      end: new Date(Math.min(whole.end.getTime(), end)),
    };
    units.push({ day, window: clipped, split: { buckets: 1, bucket: 0 } });
  }
  return units;
}

function columnIndexes(table: LogsTable, unit: QueryUnit): Record<keyof typeof USAGE_RESULT_COLUMNS, number> {
  const names = table.columnDescriptors.map((c) => c.name);
  const missing: string[] = [];
  const index = {} as Record<keyof typeof USAGE_RESULT_COLUMNS, number>;
  for (const [key, column] of Object.entries(USAGE_RESULT_COLUMNS) as [keyof typeof USAGE_RESULT_COLUMNS, string][]) {
    const at = names.indexOf(column);
    if (at < 0) missing.push(column);
    index[key] = at;
  }
  if (missing.length > 0) {
    throw new AppError('USAGE_SOURCE_UNAVAILABLE', `${describeUnit(unit)} returned a table without the columns ${missing.join(', ')}`);
  }
  return index;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : String(value);
}

/**
 * The server sums valueSum and valueCount, so they arrive as JSON numbers: a number goes to the aggregator,
 * which keeps only non-negative integers up to 1e12; anything else (a string, null) is refused with its text.
 */
function numeric(value: unknown): SampleValue {
  if (typeof value === 'number') return value;
  return { problem: 'is not a JSON number', raw: value === undefined ? 'undefined' : JSON.stringify(value) };
}

interface ErrorNode {
  code?: unknown;
  message?: unknown;
  details?: unknown;
  innererror?: unknown;
}

/** The service error inside an SDK error: a RestError carries the parsed body in `details.error`. */
function errorTree(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return null;
  const details = (error as { details?: { error?: unknown } }).details;
  return { code: (error as ErrorNode).code, message: (error as ErrorNode).message, details: details?.error ? [details.error] : undefined };
}

function* walkErrors(node: unknown, depth = 0): Generator<ErrorNode> {
  if (depth > 8 || typeof node !== 'object' || node === null) return;
  const error = node as ErrorNode;
  yield error;
  if (Array.isArray(error.details)) for (const detail of error.details) yield* walkErrors(detail, depth + 1);
  yield* walkErrors(error.innererror, depth + 1);
}

function isResultTooLarge(node: unknown): boolean {
  for (const error of walkErrors(node)) {
    if (TOO_LARGE_CODES.has(String(error.code))) return true;
    if (typeof error.message === 'string' && TOO_LARGE_MESSAGE.test(error.message)) return true;
  }
  return false;
}

function errorMessages(node: unknown): string[] {
  const messages: string[] = [];
  for (const error of walkErrors(node)) {
    const code = error.code === undefined ? '' : `${String(error.code)}: `;
    if (typeof error.message === 'string') messages.push(`${code}${error.message}`);
  }
  return messages;
}

/** The innermost message says what went wrong; the outer ones are "There were some errors...". */
function summarizeError(node: unknown): string {
  const messages = errorMessages(node);
  return messages[messages.length - 1] ?? 'no error message';
}

interface Failure {
  readonly transient: boolean;
  readonly code: ErrorCode;
  readonly summary: string;
}

/** @azure/identity's errors when no credential can sign in at all, or signing in was refused. */
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationRequiredError', 'AggregateAuthenticationError', 'AuthenticationError']);

function classifyFailure(error: unknown): Failure {
  if (isAppError(error)) return { transient: error.retryable, code: error.code, summary: error.message };
  const name = error instanceof Error ? error.name : '';
  if (CREDENTIAL_ERRORS.has(name)) {
    // Not transient: asking again runs the same chain of credentials to the same answer.
    const detail = (error as Error).message.split('\n')[0];
    return {
      transient: false,
      code: 'UNAUTHENTICATED',
      summary: `no Azure sign-in for the Logs query API: run \`az login\` on this machine, or in Azure give the app a managed identity with read access (Log Analytics Reader or Monitoring Reader) on the workspace or Application Insights resource (${name}: ${detail})`,
    };
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof status !== 'number') {
    // No HTTP status: the connection failed or the client-side timeout fired.
    return { transient: true, code: 'USAGE_SOURCE_UNAVAILABLE', summary: `no response (${message})` };
  }
  const summary = `HTTP ${status} ${message}`;
  if (status === 429) return { transient: true, code: 'THROTTLED', summary };
  if (TRANSIENT_STATUSES.has(status)) return { transient: true, code: 'USAGE_SOURCE_UNAVAILABLE', summary };
  if (status === 401) return { transient: false, code: 'UNAUTHENTICATED', summary };
  if (status === 403) return { transient: false, code: 'FORBIDDEN', summary };
  if (status === 404) return { transient: false, code: 'NOT_FOUND', summary };
  return { transient: false, code: 'USAGE_SOURCE_UNAVAILABLE', summary };
}

/** Retry-After in seconds or as an HTTP date, capped so a bad header cannot park the run for hours. */
function retryAfterMs(error: unknown, nowMs: number): number | null {
  const headers = (error as { response?: { headers?: { get?: (name: string) => string | undefined } } }).response?.headers;
  const value = typeof headers?.get === 'function' ? headers.get('retry-after') : undefined;
  if (value === undefined || value.trim() === '') return null;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(ms)) return null;
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, ms));
}

/** At most `size` callers inside run() at once; the rest wait in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/** A sliding-window request budget: take() waits until fewer than `requests` were taken in the last `perMs`. */
class RequestBudget {
  private readonly taken: number[] = [];

  constructor(
    private readonly requests: number,
    private readonly perMs: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async take(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.taken.length > 0 && (this.taken[0] as number) <= now - this.perMs) this.taken.shift();
      if (this.taken.length < this.requests) {
        this.taken.push(now);
        return;
      }
      await this.sleep((this.taken[0] as number) + this.perMs - now);
    }
  }
}
