import { LogsQueryResultStatus, type LogsQueryResult, type LogsTable } from '@azure/monitor-query-logs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDoctor, runUsage } from '../../cli/usage.js';
import { AppInsightsDiscovery } from '../../shared/adapters/azure/app-insights-discovery.js';
import type { LogsQueryPort } from '../../shared/adapters/azure/app-insights-usage-source.js';
import { FileUsageDiscovery } from '../../shared/adapters/local/file-usage-discovery.js';
import { DEFAULT_METRIC_MAPPING } from '../../shared/domain/metric-mapping.js';
import { silentLogger } from '../../shared/ports/runtime.js';

function sample(time: string, name: string, valueSum: number, userId: string, model: string, tier = 'Claude.Standard', valueCount = 1) {
  return JSON.stringify({ timestamp: time, name, valueSum, valueCount, customDimensions: { UserId: userId, Model: model, Tier: tier } });
}

async function exportFile(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'usage-'));
  const file = path.join(dir, 'usage.ndjson');
  const lines = [
    sample('2026-10-03T08:00:00Z', 'Prompt Tokens', 100, 'u1', 'claude-sonnet-4-6', 'Claude.Standard', 2),
    sample('2026-10-03T08:00:00Z', 'Completion Tokens', 10, 'u1', 'claude-sonnet-4-6'),
    sample('2026-10-03T08:00:00Z', 'Total Tokens', 110, 'u1', 'claude-sonnet-4-6'),
    sample('2026-10-03T09:00:00Z', 'Prompt Tokens', 50, 'u2', 'claude-haiku-4-5', 'Claude.Premium'),
    sample('2026-10-03T09:00:00Z', 'Total Tokens', 50, 'u2', 'claude-haiku-4-5', 'Claude.Premium'),
    sample('2026-10-04T09:00:00Z', 'Prompt Tokens', 7, 'u2', 'claude-haiku-4-5', 'Claude.Premium'),
    sample('2026-10-04T09:00:00Z', 'Cache Read Tokens', 999, 'u2', 'claude-haiku-4-5', 'Claude.Premium'),
  ];
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

function collector() {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

const WHOLE = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2027-01-01T00:00:00Z') };

describe('FileUsageDiscovery', () => {
  it('lists every metric name with its samples and the busiest day dimensions', async () => {
    const report = await new FileUsageDiscovery({ files: [await exportFile()], mapping: DEFAULT_METRIC_MAPPING }).discover(WHOLE, { timeZone: 'UTC' });
    expect(report.metrics).toEqual([
      { name: 'Prompt Tokens', namespace: '', samples: 3, valueSum: null },
      { name: 'Total Tokens', namespace: '', samples: 2, valueSum: null },
      { name: 'Cache Read Tokens', namespace: '', samples: 1, valueSum: null },
      { name: 'Completion Tokens', namespace: '', samples: 1, valueSum: null },
    ]);
    expect(report.dimensions).toEqual({
      combinations: 2,
      users: 2,
      models: 2,
      tiers: 2,
      modelValues: ['claude-haiku-4-5', 'claude-sonnet-4-6'],
      tierValues: ['Claude.Premium', 'Claude.Standard'],
    });
  });
});

describe('AppInsightsDiscovery', () => {
  function table(columns: string[], rows: unknown[][]): LogsTable {
    return { name: 'PrimaryResult', columnDescriptors: columns.map((name) => ({ name, type: 'string' })), rows: rows as LogsTable['rows'] };
  }

  it('runs its queries on the target and reads the results', async () => {
    const queries: string[] = [];
    const client: LogsQueryPort = {
      queryWorkspace: async () => {
        throw new Error('not a workspace');
      },
      queryResource: async (resourceId, query): Promise<LogsQueryResult> => {
        expect(resourceId).toBe('subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/appi');
        queries.push(query);
        if (query.includes('| count')) return { status: LogsQueryResultStatus.Success, tables: [table(['Count'], [[0]])] };
        if (query.includes('RecentSamples =')) {
          const columns = ['MetricName', 'Samples', 'Requests', 'ValueSum', 'RecentSamples', 'WithUserId', 'WithModel', 'WithTier'];
          return { status: LogsQueryResultStatus.Success, tables: [table(columns, [['Prompt Tokens', 40, 55, 1234, 3, 40, 39, 38]])] };
        }
        if (query.includes('by MetricName =')) {
          return { status: LogsQueryResultStatus.Success, tables: [table(['MetricName', 'Namespace', 'Samples', 'ValueSum'], [['Prompt Tokens', 'claudecode', 40, 1234]])] };
        }
        return {
          status: LogsQueryResultStatus.Success,
          tables: [table(['Combinations', 'Users', 'Models', 'Tiers', 'ModelValues', 'TierValues'], [[3, 2, 2, 1, '["b","a"]', ['Claude.Standard']]])],
        };
      },
    };
    const discovery = new AppInsightsDiscovery({
      client,
      target: { kind: 'resource', resourceId: '/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/appi' },
      settings: { ...DEFAULT_METRIC_MAPPING, mode: 'classic', metricNamespace: 'claudecode' },
    });
    await expect(discovery.checkAccess(WHOLE)).resolves.toContain('answered');
    const report = await discovery.discover(WHOLE);
    expect(report.metrics).toEqual([{ name: 'Prompt Tokens', namespace: 'claudecode', samples: 40, valueSum: 1234 }]);
    expect(report.dimensions).toEqual({ combinations: 3, users: 2, models: 2, tiers: 1, modelValues: ['a', 'b'], tierValues: ['Claude.Standard'] });
    expect(report.contract).toEqual([{ name: 'Prompt Tokens', samples: 40, requests: 55, valueSum: 1234, recentSamples: 3, withUserId: 40, withModel: 39, withTier: 38 }]);
    expect(queries).toHaveLength(4);
  });

  it('explains a refused query', async () => {
    const refused = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    const client: LogsQueryPort = { queryWorkspace: async () => Promise.reject(refused), queryResource: async () => Promise.reject(refused) };
    const discovery = new AppInsightsDiscovery({ client, target: { kind: 'workspace', workspaceId: 'w' }, settings: { ...DEFAULT_METRIC_MAPPING, mode: 'workspace', metricNamespace: null } });
    await expect(discovery.checkAccess(WHOLE)).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('Log Analytics Reader') });
  });
});

describe('the usage and doctor commands on export files', () => {
  it('prints totals per day x model x tier, top users, and CSV', async () => {
    const file = await exportFile();
    const table = collector();
    await runUsage({ from: '2026-10-03', to: '2026-10-04', usage: [file], top: 20, format: 'table', logger: silentLogger }, table.stream);
    expect(table.text()).toMatch(/2026-10-03\s+claude-haiku-4-5\s+Claude.Premium\s+1\s+1\s+50\s+0\s+0\s+0\s+0\s+50/);
    expect(table.text()).toMatch(/2026-10-03\s+claude-sonnet-4-6\s+Claude.Standard\s+1\s+2\s+100\s+10\s+0\s+0\s+0\s+110/);
    expect(table.text()).toContain("the gateway's total metric says 160 (differs by -7)");

    const users = collector();
    await runUsage({ from: '2026-10-03', to: '2026-10-03', usage: [file], byUser: true, top: 1, format: 'csv', logger: silentLogger }, users.stream);
    expect(users.text()).toBe('userId,models,requests,input,output,cacheRead,cacheWrite5m,cacheWrite1h,total\nu1,claude-sonnet-4-6,2,100,10,0,0,0,110\n');
  });

  it('doctor flags an expected metric the files do not have and reports the series estimate', async () => {
    const file = await exportFile();
    const out = collector();
    const problems = await runDoctor({ usage: [file], logger: silentLogger }, out.stream, new Date('2026-10-05T00:00:00Z'));
    expect(problems).toBe(0);
    expect(out.text()).toMatch(/Cache Read Tokens\s+-\s+1\s+not used/);
    expect(out.text()).toContain('2 users x 2 models x 2 tiers = 8 time series');
    expect(out.text()).toContain('OK: the usage source looks usable.');

    const narrow = collector();
    const missing = await runDoctor({ usage: [file], from: '2026-10-04', to: '2026-10-04', logger: silentLogger }, narrow.stream);
    expect(missing).toBe(2);
    expect(narrow.text()).toContain('problem: metric "Completion Tokens" (output) was not seen');
    expect(narrow.text()).toContain('problem: metric "Total Tokens" (cross-check total) was not seen');
  });
});
