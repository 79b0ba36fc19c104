import type { AccessToken, TokenCredential } from '@azure/identity';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppInsightsUsageSource, createLogsQueryPort } from '../../shared/adapters/azure/app-insights-usage-source.js';
import { fingerprintsByDay } from '../../shared/domain/day-ingest.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { startOfDayInZone, type TimeWindow } from '../../shared/domain/periods.js';

const ENDPOINT = 'https://logs.test/v1';
const WORKSPACE = '00000000-1111-2222-3333-444444444444';
const ZONE = 'Europe/Berlin';
const TWO_DAYS: TimeWindow = { start: startOfDayInZone('2026-10-25', ZONE), end: startOfDayInZone('2026-10-27', ZONE) };

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'fake-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

const USAGE_COLUMNS = ['Day', 'UserId', 'Model', 'Tier', 'MetricName', 'ValueSum', 'ValueCount'].map((name) => ({ name, type: name.startsWith('Value') ? 'real' : 'string' }));
const TOTALS_COLUMNS = ['Day', 'MetricName', 'ValueSum', 'ValueCount'].map((name) => ({ name, type: name.startsWith('Value') ? 'real' : 'string' }));

/** What the workspace holds, as the usage query sums it per day, user, model, tier and metric. */
const USAGE_ROWS: Record<string, unknown[][]> = {
  '2026-10-25': [
    ['2026-10-25', 'oid-a', 'claude-sonnet-4-6', 'Claude.Standard', 'Prompt Tokens', 1000, 2],
    ['2026-10-25', 'oid-a', 'claude-sonnet-4-6', 'Claude.Standard', 'Total Tokens', 1000, 2],
    ['2026-10-25', 'oid-b', 'claude-sonnet-4-6', 'Claude.Standard', 'Prompt Tokens', 500, 1],
    ['2026-10-25', 'oid-b', 'claude-sonnet-4-6', 'Claude.Standard', 'Total Tokens', 500, 1],
  ],
  '2026-10-26': [
    ['2026-10-26', 'oid-a', 'claude-haiku-4-5', 'Claude.Standard', 'Prompt Tokens', 70, 1],
    ['2026-10-26', 'oid-a', 'claude-haiku-4-5', 'Claude.Standard', 'Completion Tokens', -5, 1],
  ],
};
/** The same, as the day totals query sums it: worked out by hand. */
const TOTALS_ROWS = [
  ['2026-10-25', 'Prompt Tokens', 1500, 3],
  ['2026-10-25', 'Total Tokens', 1500, 3],
  ['2026-10-26', 'Prompt Tokens', 70, 1],
  ['2026-10-26', 'Completion Tokens', -5, 1],
];

const server = setupServer();
const queries: string[] = [];
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  queries.length = 0;
});
afterAll(() => server.close());

function serve(): void {
  server.use(
    http.post(`${ENDPOINT}/workspaces/:workspaceId/query`, async ({ request }) => {
      const { query } = (await request.json()) as { query: string };
      queries.push(query);
      if (!query.includes('UserId')) return HttpResponse.json({ tables: [{ name: 'PrimaryResult', columns: TOTALS_COLUMNS, rows: TOTALS_ROWS }] });
      const day = Object.keys(USAGE_ROWS).find((candidate) => query.includes(startOfDayInZone(candidate, ZONE).toISOString()))!;
      return HttpResponse.json({ tables: [{ name: 'PrimaryResult', columns: USAGE_COLUMNS, rows: USAGE_ROWS[day] }] });
    }),
  );
}

function source() {
  return new AppInsightsUsageSource({
    client: createLogsQueryPort(credential, { endpoint: ENDPOINT }),
    target: { kind: 'workspace', workspaceId: WORKSPACE },
    settings: { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode' },
    sleep: async () => undefined,
  });
}

describe('AppInsightsUsageSource day totals', () => {
  it('asks one small query for the whole window and reads its sums per day and metric', async () => {
    serve();
    const totals = await source().dayTotals(TWO_DAYS, { timeZone: ZONE });
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/\| summarize ValueSum = sum\(valueSum\), ValueCount = sum\(valueCount\) by Day = format_datetime\(startofday\(datetime_utc_to_local\(timestamp, @'Europe\/Berlin'\)\), 'yyyy-MM-dd'\), MetricName = name$/);
    expect(totals).toEqual([
      { day: '2026-10-25', metric: 'Prompt Tokens', valueSum: 1500, valueCount: 3 },
      { day: '2026-10-25', metric: 'Total Tokens', valueSum: 1500, valueCount: 3 },
      { day: '2026-10-26', metric: 'Completion Tokens', valueSum: -5, valueCount: 1 },
      { day: '2026-10-26', metric: 'Prompt Tokens', valueSum: 70, valueCount: 1 },
    ]);
  });

  it('returns the same totals from a read, with its rejects and gateway total dated to their days', async () => {
    serve();
    const read = await source().read(TWO_DAYS, { timeZone: ZONE });
    expect(queries).toHaveLength(2);
    const cheap = await source().dayTotals(TWO_DAYS, { timeZone: ZONE });
    expect(fingerprintsByDay(read.dayTotals)).toEqual(fingerprintsByDay(cheap));
    expect(read.days?.get('2026-10-25')).toEqual({ rejects: { count: 0, samples: [], byReason: {} }, reportedTotalTokens: 1500, duplicates: 0 });
    expect(read.days?.get('2026-10-26')?.rejects).toMatchObject({ count: 1, byReason: { 'valueSum is negative': 1 } });
    expect(read.days?.get('2026-10-26')?.reportedTotalTokens).toBeNull();
  });
});
