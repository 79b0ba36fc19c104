import type { AccessToken, TokenCredential } from '@azure/identity';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AppInsightsUsageSource,
  createLogsQueryPort,
  type AppInsightsUsageSourceOptions,
} from '../../shared/adapters/azure/app-insights-usage-source.js';
import { AppError } from '../../shared/domain/errors.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { dayWindow, startOfDayInZone, type TimeWindow } from '../../shared/domain/periods.js';
import { zeroTokens } from '../../shared/domain/tokens.js';

const ENDPOINT = 'https://logs.test/v1';
const WORKSPACE = '00000000-1111-2222-3333-444444444444';
const ZONE = 'Europe/Paris';
const OCTOBER_3 = dayWindow('2026-10-03', ZONE);

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'fake-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

const COLUMNS = [
  { name: 'Day', type: 'string' },
  { name: 'UserId', type: 'string' },
  { name: 'Model', type: 'string' },
  { name: 'Tier', type: 'string' },
  { name: 'MetricName', type: 'string' },
  { name: 'ValueSum', type: 'real' },
  { name: 'ValueCount', type: 'long' },
];

type Row = [string, string, string, string, string, unknown, unknown];

function result(rows: Row[]) {
  return { tables: [{ name: 'PrimaryResult', columns: COLUMNS, rows }] };
}

/** The Log Analytics API's answer to a truncated result: HTTP 200, the rows it had, and a PartialError. */
function tooLarge(rows: Row[]) {
  return {
    ...result(rows),
    error: {
      code: 'PartialError',
      message: 'There were some errors when processing your query.',
      details: [
        {
          code: 'EngineError',
          message: 'Something went wrong processing your query on the server.',
          innererror: {
            code: '-2133196797',
            message: 'The results of this query exceed the set limit of 500000 records.',
            severity: 2,
            severityName: 'Error',
          },
        },
      ],
    },
  };
}

function user(id: string, prompt: number, completion: number, requests: number, day = '2026-10-03'): Row[] {
  return [
    [day, id, 'claude-sonnet-4-6', 'Claude.Standard', 'Prompt Tokens', prompt, requests],
    [day, id, 'claude-sonnet-4-6', 'Claude.Standard', 'Completion Tokens', completion, requests],
    [day, id, 'claude-sonnet-4-6', 'Claude.Standard', 'Total Tokens', prompt + completion, requests],
  ];
}

interface SeenRequest {
  readonly url: string;
  readonly query: string;
  readonly timespan: string;
  readonly authorization: string | null;
  readonly prefer: string | null;
}

const server = setupServer();
let seen: SeenRequest[] = [];

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  seen = [];
});
afterAll(() => server.close());

/** Answers every query of the workspace with `answer(query)`. */
function serveQueries(answer: (query: string, attempt: number) => Response | Promise<Response>): void {
  server.use(
    http.post(`${ENDPOINT}/workspaces/:workspaceId/query`, async ({ request, params }) => {
      const body = (await request.json()) as { query: string; timespan: string };
      expect(params.workspaceId).toBe(WORKSPACE);
      seen.push({
        url: request.url,
        query: body.query,
        timespan: body.timespan,
        authorization: request.headers.get('authorization'),
        prefer: request.headers.get('prefer'),
      });
      return answer(body.query, seen.filter((s) => s.query === body.query).length);
    }),
  );
}

interface Clock {
  now: number;
  readonly sleeps: number[];
}

function source(overrides: Partial<AppInsightsUsageSourceOptions> = {}, clock: Clock = { now: 0, sleeps: [] }) {
  return new AppInsightsUsageSource({
    client: createLogsQueryPort(credential, { endpoint: ENDPOINT }),
    target: { kind: 'workspace', workspaceId: WORKSPACE },
    settings: { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode' },
    sleep: async (ms) => {
      clock.sleeps.push(ms);
      clock.now += ms;
    },
    now: () => clock.now,
    ...overrides,
  });
}

async function readError(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the read to fail');
}

function tokens(input: number, output: number) {
  return { ...zeroTokens(), input, output };
}

describe('AppInsightsUsageSource on the Logs query API', () => {
  it('reads a normal day: one query summed on the server, rows by user, model and tier', async () => {
    serveQueries(() =>
      HttpResponse.json(
        result([
          ...user('oid-a', 1200, 300, 3),
          ['2026-10-03', '', 'claude-haiku-4-5', 'Claude.Standard', 'Prompt Tokens', 10, 1],
          ['2026-10-03', '', 'claude-haiku-4-5', 'Claude.Standard', 'Cache Read Tokens', 99, 1],
        ]),
      ),
    );
    const read = await source().read(OCTOBER_3, { timeZone: ZONE });

    expect([...read.rows]).toEqual([
      { day: '2026-10-03', userId: '', model: 'claude-haiku-4-5', tier: 'Claude.Standard', tokens: tokens(10, 0), requests: 1 },
      { day: '2026-10-03', userId: 'oid-a', model: 'claude-sonnet-4-6', tier: 'Claude.Standard', tokens: tokens(1200, 300), requests: 3 },
    ]);
    expect(read.reportedTotalTokens).toBe(1500);
    expect(read.rejects.count).toBe(0);
    expect(read.skipped).toEqual({ 'metric not used: Cache Read Tokens': 1 });
    expect(read.sourceDescription).toContain(WORKSPACE);

    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request?.authorization).toBe('Bearer fake-token');
    expect(request?.timespan).toBe('2026-10-02T22:00:00.000Z/2026-10-03T22:00:00.000Z');
    expect(request?.prefer).toBe('wait=180');
    expect(request?.query).toContain('timestamp >= datetime(2026-10-02T22:00:00.000Z) and timestamp < datetime(2026-10-03T22:00:00.000Z)');
    expect(request?.query).toContain("datetime_utc_to_local(timestamp, @'Europe/Paris')");
    expect(request?.query).not.toContain('hash');
  });

  it('queries each calendar day of the window separately, in the read time zone', async () => {
    serveQueries((query) => {
      const day = query.includes('2026-10-02T22:00') && query.includes('timestamp >= datetime(2026-10-02T22') ? '2026-10-03' : '2026-10-04';
      return HttpResponse.json(result(user('oid-a', 100, 10, 1, day)));
    });
    const window: TimeWindow = { start: OCTOBER_3.start, end: dayWindow('2026-10-04', ZONE).end };
    const read = await source().read(window, { timeZone: ZONE });

    expect(seen.map((s) => s.timespan).sort()).toEqual([
      '2026-10-02T22:00:00.000Z/2026-10-03T22:00:00.000Z',
      '2026-10-03T22:00:00.000Z/2026-10-04T22:00:00.000Z',
    ]);
    expect([...read.rows].map((r) => r.day)).toEqual(['2026-10-03', '2026-10-04']);
  });

  it('returns nothing for an empty result', async () => {
    serveQueries(() => HttpResponse.json(result([])));
    const read = await source().read(OCTOBER_3, { timeZone: ZONE });
    expect([...read.rows]).toEqual([]);
    expect(read.rejects.count).toBe(0);
    expect(read.reportedTotalTokens).toBeNull();
  });

  it('rejects negative, non-numeric and absurd values with the query as location, and keeps the good rows', async () => {
    serveQueries(() =>
      HttpResponse.json(
        result([
          ...user('oid-a', 500, 50, 2),
          ['2026-10-03', 'oid-b', 'm', 't', 'Prompt Tokens', -5, 1],
          ['2026-10-03', 'oid-c', 'm', 't', 'Prompt Tokens', 'lots', 1],
          ['2026-10-03', 'oid-d', 'm', 't', 'Completion Tokens', 2e12, 1],
          ['2026-10-03', 'oid-e', 'm', 't', 'Prompt Tokens', 5, null],
          ['2026-10-03', 'oid-f', 'm', 't', 'Prompt Tokens', 12.5, 1],
          ['2026-10-03', 'oid-g', 'm', 't', 'Prompt Tokens', '0x10', 1],
        ]),
      ),
    );
    const read = await source().read(OCTOBER_3, { timeZone: ZONE });

    expect([...read.rows].map((r) => r.userId)).toEqual(['oid-a']);
    expect(read.rejects.count).toBe(6);
    expect(read.rejects.byReason).toEqual({
      'valueSum is negative': 1,
      'valueSum is not a JSON number': 2,
      'valueSum is over 1e12 in one sample': 1,
      'valueCount is not a JSON number': 1,
      'valueSum is not an integer': 1,
    });
    expect(read.rejects.all).toEqual([
      { location: 'query window 2026-10-03', reason: 'valueSum is negative', raw: '-5' },
      { location: 'query window 2026-10-03', reason: 'valueSum is not a JSON number', raw: '"lots"' },
      { location: 'query window 2026-10-03', reason: 'valueSum is over 1e12 in one sample', raw: '2000000000000' },
      { location: 'query window 2026-10-03', reason: 'valueCount is not a JSON number', raw: 'null' },
      { location: 'query window 2026-10-03', reason: 'valueSum is not an integer', raw: '12.5' },
      { location: 'query window 2026-10-03', reason: 'valueSum is not a JSON number', raw: '"0x10"' },
    ]);
    // A summarized query cannot repeat a series: no duplicate check, no duplicates reported.
    expect(read.duplicates).toBeUndefined();
  });

  it('fails the window on a partial result and returns nothing from it', async () => {
    serveQueries(() =>
      HttpResponse.json({
        ...result(user('oid-a', 100, 10, 1)),
        error: {
          code: 'PartialError',
          message: 'There were some errors when processing your query.',
          details: [
            {
              code: 'EngineError',
              message: 'Something went wrong processing your query on the server.',
              innererror: { code: '-2133196790', message: 'Query execution lacks memory resources', severity: 2, severityName: 'Error' },
            },
          ],
        },
      }),
    );
    const error = await readError(source().read(OCTOBER_3, { timeZone: ZONE }));

    expect(error.code).toBe('USAGE_PARTIAL_RESULT');
    expect(error.message).toContain('query 2026-10-03');
    expect(error.message).toContain('nothing from 2026-10-03 was used');
    expect(error.details.join('\n')).toContain('Query execution lacks memory resources');
    expect(seen).toHaveLength(1);
  });

  it('waits as long as Retry-After says after a 429, then succeeds', async () => {
    serveQueries((_query, attempt) =>
      attempt === 1
        ? HttpResponse.json(
            { error: { code: 'ThrottledError', message: 'Your request was throttled.' } },
            { status: 429, headers: { 'Retry-After': '7' } },
          )
        : HttpResponse.json(result(user('oid-a', 100, 10, 1))),
    );
    const clock: Clock = { now: 0, sleeps: [] };
    const progress: string[] = [];
    const read = await source({}, clock).read(OCTOBER_3, { timeZone: ZONE, onProgress: (m) => progress.push(m) });

    expect(clock.sleeps).toEqual([7000]);
    expect(seen).toHaveLength(2);
    expect([...read.rows]).toHaveLength(1);
    expect(progress.join('\n')).toContain('HTTP 429');
  });

  it('backs off exponentially on 503 without Retry-After and gives up after maxAttempts', async () => {
    serveQueries(() => HttpResponse.json({ error: { code: 'ServiceUnavailable', message: 'busy' } }, { status: 503 }));
    const clock: Clock = { now: 0, sleeps: [] };
    const error = await readError(source({ maxAttempts: 3 }, clock).read(OCTOBER_3, { timeZone: ZONE }));

    expect(error.code).toBe('USAGE_SOURCE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('after 3 attempts');
    expect(seen).toHaveLength(3);
    expect(clock.sleeps).toEqual([2000, 4000]);
  });

  it('fails at once with the fix when there is no Azure sign-in: a missing login is not transient', async () => {
    const { CredentialUnavailableError } = await import('@azure/identity');
    const signedOut = { getToken: async () => Promise.reject(new CredentialUnavailableError('DefaultAzureCredential: Please run az login to set up an account')) };
    let calls = 0;
    const counting = { getToken: async () => ((calls += 1), signedOut.getToken()) };
    const clock: Clock = { now: 0, sleeps: [] };
    const error = await readError(source({ client: createLogsQueryPort(counting, { endpoint: ENDPOINT }) }, clock).read(OCTOBER_3, { timeZone: ZONE }));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('az login');
    expect(error.message).toContain('managed identity');
    expect(clock.sleeps).toEqual([]);
    expect(calls).toBe(1);
    expect(seen).toHaveLength(0);
  });

  it('does not retry a 403', async () => {
    serveQueries(() => HttpResponse.json({ error: { code: 'InsufficientAccessError', message: 'no access' } }, { status: 403 }));
    const error = await readError(source().read(OCTOBER_3, { timeZone: ZONE }));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.retryable).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('splits a day whose result is too large by UserId hash, only the heavy bucket again, and uses no truncated rows', async () => {
    serveQueries((query) => {
      const split = /hash_xxhash64\(UserId, (\d+)\) == (\d+)/.exec(query);
      const key = split ? `${split[2]}/${split[1]}` : 'all';
      switch (key) {
        case 'all':
        case '1/2':
          return HttpResponse.json(tooLarge(user('truncated', 1, 1, 1)));
        case '0/2':
          return HttpResponse.json(result(user('oid-a', 100, 10, 1)));
        case '1/4':
          return HttpResponse.json(result(user('oid-b', 200, 20, 2)));
        case '3/4':
          return HttpResponse.json(result(user('oid-c', 300, 30, 3)));
        default:
          throw new Error(`unexpected split ${key}`);
      }
    });
    const read = await source().read(OCTOBER_3, { timeZone: ZONE });

    expect([...read.rows].map((r) => [r.userId, r.tokens.input, r.requests])).toEqual([
      ['oid-a', 100, 1],
      ['oid-b', 200, 2],
      ['oid-c', 300, 3],
    ]);
    expect(read.reportedTotalTokens).toBe(110 + 220 + 330);
    expect(seen).toHaveLength(5);
    expect(seen.every((s) => s.timespan === '2026-10-02T22:00:00.000Z/2026-10-03T22:00:00.000Z')).toBe(true);
  });

  it('fails with a clear error when even the largest split is too large', async () => {
    serveQueries(() => HttpResponse.json(tooLarge([])));
    const error = await readError(source({ maxBuckets: 4 }).read(OCTOBER_3, { timeZone: ZONE }));

    expect(error.code).toBe('USAGE_PARTIAL_RESULT');
    expect(error.message).toMatch(/query 2026-10-03 bucket \d\/4 still exceeds the query result limit after splitting users into 4 buckets/);
    expect(seen.length).toBeGreaterThanOrEqual(4); // 1 + 2 + at least one bucket of 4
  });

  it('never has more than maxConcurrency queries in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    serveQueries(async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await delay(25);
      inFlight -= 1;
      return HttpResponse.json(result([]));
    });
    const window: TimeWindow = { start: startOfDayInZone('2026-10-01', ZONE), end: startOfDayInZone('2026-10-08', ZONE) };
    await source({ maxConcurrency: 2 }).read(window, { timeZone: ZONE });

    expect(seen).toHaveLength(7);
    expect(peak).toBe(2);
  });

  it('keeps to the request budget per sliding window', async () => {
    serveQueries(() => HttpResponse.json(result([])));
    const clock: Clock = { now: 1_000_000, sleeps: [] };
    const window: TimeWindow = { start: startOfDayInZone('2026-10-01', ZONE), end: startOfDayInZone('2026-10-04', ZONE) };
    await source({ requestBudget: { requests: 2, perMs: 30_000 } }, clock).read(window, { timeZone: ZONE });

    expect(seen).toHaveLength(3);
    expect(clock.sleeps).toEqual([30_000]);
  });

  it('queries an App Insights resource on its resource-centric path', async () => {
    const resourceId = '/subscriptions/sub-1/resourceGroups/rg-1/providers/microsoft.insights/components/appi-gateway';
    const urls: string[] = [];
    server.use(
      http.post(`${ENDPOINT}/*`, ({ request }) => {
        urls.push(new URL(request.url).pathname);
        return HttpResponse.json(result(user('oid-a', 1, 1, 1)));
      }),
    );
    const read = await source({ target: { kind: 'resource', resourceId } }).read(OCTOBER_3, { timeZone: ZONE });

    expect([...read.rows]).toHaveLength(1);
    expect(urls).toHaveLength(1);
    expect(urls[0]).toBe(`/v1${resourceId}/query`);
  });

  it('refuses settings it cannot put into a query', () => {
    expect(
      () => source({ settings: { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: null, dimensions: { userId: "x']", model: 'Model', tier: 'Tier' } } }),
    ).toThrow(AppError);
  });
});
