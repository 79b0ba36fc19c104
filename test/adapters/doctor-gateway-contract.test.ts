import type { AccessToken, TokenCredential } from '@azure/identity';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runDoctor } from '../../cli/usage.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { analyzeKql, APP_METRICS_COLUMNS, createKustoSchema } from '../support/kusto.js';

/**
 * `doctor` after a deployment, against a stubbed Logs query API that answers from a small fake of what the
 * gateway wrote into AppMetrics. Every query the doctor sends is checked with the Kusto language service.
 */

const ENDPOINT = 'https://logs.test/v1';
const WORKSPACE = '00000000-1111-2222-3333-444444444444';
const NOW = new Date('2026-10-20T10:30:00Z');
const schema = createKustoSchema({ AppMetrics: APP_METRICS_COLUMNS });

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'fake-token', expiresOnTimestamp: NOW.getTime() + 3_600_000 };
  },
};

/** One metric as the gateway wrote it in the last 24 hours. */
interface FakeMetric {
  name: string;
  namespace?: string;
  samples: number;
  requests?: number;
  valueSum: number;
  recentSamples?: number;
  withUserId?: number;
  withModel?: number;
  withTier?: number;
}

interface Gateway {
  metrics: FakeMetric[];
  users?: number;
  models?: number;
  tiers?: number;
}

function healthy(): Gateway {
  return {
    metrics: [
      { name: 'Prompt Tokens', samples: 400, requests: 1000, valueSum: 9_000_000, recentSamples: 20 },
      { name: 'Completion Tokens', samples: 400, requests: 1000, valueSum: 600_000, recentSamples: 20 },
      { name: 'Total Tokens', samples: 400, requests: 1000, valueSum: 9_600_000, recentSamples: 20 },
    ],
    users: 120,
    models: 3,
    tiers: 2,
  };
}

function table(columns: [string, string][], rows: unknown[][]) {
  return { tables: [{ name: 'PrimaryResult', columns: columns.map(([name, type]) => ({ name, type })), rows }] };
}

let queries: string[] = [];

/** Answers the doctor's four queries from `gateway`, told apart by what each one computes. */
function serve(gateway: Gateway): void {
  server.use(
    http.post(`${ENDPOINT}/workspaces/:workspaceId/query`, async ({ request }) => {
      const { query } = (await request.json()) as { query: string };
      queries.push(query);
      const inNamespace = gateway.metrics.filter((m) => (m.namespace ?? 'claudecode') === 'claudecode');
      if (query.includes('| count')) return HttpResponse.json(table([['Count', 'long']], [[1]]));
      if (query.includes('Namespace = tostring')) {
        return HttpResponse.json(
          table(
            [['MetricName', 'string'], ['Namespace', 'string'], ['Samples', 'long'], ['ValueSum', 'real']],
            gateway.metrics.map((m) => [m.name, m.namespace ?? 'claudecode', m.samples, m.valueSum]),
          ),
        );
      }
      if (query.includes('Combinations =')) {
        const { users = 0, models = 0, tiers = 0 } = gateway;
        return HttpResponse.json(
          table(
            [['Combinations', 'long'], ['Users', 'long'], ['Models', 'long'], ['Tiers', 'long'], ['ModelValues', 'dynamic'], ['TierValues', 'dynamic']],
            [[users * models, users, models, tiers, JSON.stringify(['claude-sonnet-4-6']), JSON.stringify(['Claude.Standard'])]],
          ),
        );
      }
      if (query.includes('RecentSamples =')) {
        return HttpResponse.json(
          table(
            [['MetricName', 'string'], ['Samples', 'long'], ['Requests', 'long'], ['ValueSum', 'real'], ['RecentSamples', 'long'], ['WithUserId', 'long'], ['WithModel', 'long'], ['WithTier', 'long']],
            inNamespace.map((m) => [m.name, m.samples, m.requests ?? m.samples, m.valueSum, m.recentSamples ?? 0, m.withUserId ?? m.samples, m.withModel ?? m.samples, m.withTier ?? m.samples]),
          ),
        );
      }
      return HttpResponse.json({ error: { code: 'BadArgumentError', message: `unexpected query ${query}` } }, { status: 400 });
    }),
  );
}

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
beforeEach(() => {
  queries = [];
  vi.stubEnv('USAGE_SOURCE', 'app-insights');
  vi.stubEnv('APPINSIGHTS_WORKSPACE_ID', WORKSPACE);
  vi.stubEnv('APPINSIGHTS_RESOURCE_ID', '');
  vi.stubEnv('APPINSIGHTS_MODE', 'workspace');
  vi.stubEnv('LOGS_ENDPOINT', ENDPOINT);
  vi.stubEnv('METRIC_TOKEN_KINDS', '');
  vi.stubEnv('METRIC_NAMESPACE', 'claudecode');
});
afterEach(() => {
  server.resetHandlers();
  vi.unstubAllEnvs();
});
afterAll(() => server.close());

async function doctor(gateway: Gateway): Promise<{ problems: number; text: string }> {
  queries = [];
  server.resetHandlers();
  serve(gateway);
  let text = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const problems = await runDoctor({ logger: silentLogger, credential }, out, NOW);
  // Every query the doctor sent is valid KQL against AppMetrics.
  expect(queries.length).toBe(4);
  for (const query of queries) expect(analyzeKql(query, schema), query).toEqual([]);
  return { problems, text };
}

function withMetric(gateway: Gateway, name: string, change: Partial<FakeMetric>): Gateway {
  return { ...gateway, metrics: gateway.metrics.map((m) => (m.name === name ? { ...m, ...change } : m)) };
}

describe('doctor against the live data of a deployed gateway', () => {
  it('passes a gateway that keeps the contract, and reports what it saw', async () => {
    const { problems, text } = await doctor(healthy());
    expect(problems).toBe(0);
    expect(text).toContain('Dimensions present (share of samples of the read metrics): UserId 100.0%, Model 100.0%, Tier 100.0%');
    expect(text).toContain('Last hour (samples): Completion Tokens 20, Prompt Tokens 20, Total Tokens 20');
    expect(text).toContain('Cache metrics: none mapped in METRIC_TOKEN_KINDS');
    expect(text).toContain('Total vs priced kinds: Total Tokens 9600000, mapped kinds 9600000, gap 0 (0.0% of the total)');
    expect(text).toContain('OK: the usage source looks usable.');
  });

  it('fails when the gateway writes another namespace', async () => {
    const gateway = healthy();
    const { problems, text } = await doctor({ ...gateway, metrics: gateway.metrics.map((m) => ({ ...m, namespace: 'API Management' })) });
    expect(problems).toBeGreaterThanOrEqual(3);
    expect(text).toContain('problem: metric "Prompt Tokens" (input) was not seen in namespace "claudecode"');
    expect(text).toContain('(namespace is not "claudecode": not read)');
  });

  it('fails when a dimension is on none of the samples ("custom metrics with dimensions" off, or another name)', async () => {
    const gateway = healthy();
    const { problems, text } = await doctor({ ...gateway, metrics: gateway.metrics.map((m) => ({ ...m, withUserId: 0 })) });
    expect(problems).toBe(1);
    expect(text).toContain('problem: dimension "UserId" is on none of the 1200 samples: enable "custom metrics with dimensions"');
  });

  it('fails when count_tokens calls are metered: requests with prompt tokens but no completion', async () => {
    const { problems, text } = await doctor(withMetric(healthy(), 'Prompt Tokens', { requests: 1400 }));
    expect(problems).toBe(1);
    expect(text).toContain('Requests: 1400 with Prompt Tokens, 1000 with Completion Tokens');
    expect(text).toContain('problem: 400 of 1400 requests (28.6%) have Prompt Tokens but no Completion Tokens: count_tokens calls are probably metered');
  });

  it('fails over the 50,000 active series, naming the remedy, and warns near it', async () => {
    const over = await doctor({ ...healthy(), users: 9_000, models: 3, tiers: 2 });
    expect(over.problems).toBe(1);
    expect(over.text).toContain('problem: 9000 users x 3 models x 2 tiers = 54000 time series');
    expect(over.text).toContain('derive the tier from app-role assignments in Graph');
    const near = await doctor({ ...healthy(), users: 7_000, models: 3, tiers: 2 });
    expect(near.problems).toBe(0);
    expect(near.text).toContain('warning: 7000 users x 3 models x 2 tiers = 42000 time series');
  });

  it('warns about unpriced cache metrics, a silent last hour and the Total vs Prompt+Completion gap, without failing', async () => {
    let gateway = healthy();
    gateway = withMetric(gateway, 'Total Tokens', { valueSum: 12_000_000 });
    gateway = { ...gateway, metrics: gateway.metrics.map((m) => ({ ...m, recentSamples: 0 })) };
    gateway.metrics.push({ name: 'Cache Read Tokens', samples: 50, valueSum: 2_000_000 });
    const { problems, text } = await doctor(gateway);
    expect(problems).toBe(0);
    expect(text).toContain('warning: cache metrics arrive but are not priced: add "Cache Read Tokens=<kind>" to METRIC_TOKEN_KINDS');
    expect(text).toContain('warning: no usage samples in the last hour');
    expect(text).toContain('gap 2400000 (20.0% of the total)');
    expect(text).toContain("warning: the gateway's total is 20.0% above the priced kinds");
  });

  it('says whether mapped cache metrics arrive', async () => {
    vi.stubEnv('METRIC_TOKEN_KINDS', 'Prompt Tokens=input;Completion Tokens=output;Cache Read Tokens=cacheRead;Cache Write 5m Tokens=cacheWrite5m');
    const gateway = healthy();
    gateway.metrics.push({ name: 'Cache Read Tokens', samples: 50, valueSum: 2_000_000 });
    const { problems, text } = await doctor(withMetric(gateway, 'Total Tokens', { valueSum: 11_600_000 }));
    expect(problems).toBe(0);
    expect(text).toContain('Cache metrics: Cache Read Tokens 50 samples, Cache Write 5m Tokens 0 samples');
    expect(text).toContain('warning: cache metric "Cache Write 5m Tokens" was not seen in namespace "claudecode"');
  });
});
