import { describe, expect, it } from 'vitest';
import { loadSettings, loadUsageSettings, SETTING } from '../../shared/config/settings.js';
import { AppError } from '../../shared/domain/errors.js';

const ROOT = '/project';
const BASE = { [SETTING.directoryFile]: 'out/demo/directory.json' };
const WORKSPACE = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const RESOURCE = '/subscriptions/0000/resourceGroups/rg-gw/providers/microsoft.insights/components/appi-gateway';

function problemsOf(source: Record<string, string>): readonly string[] {
  try {
    loadSettings({ ...BASE, ...source }, { projectRoot: ROOT });
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).details;
  }
  throw new Error('expected the settings to be refused');
}

describe('usage source settings', () => {
  it('keeps the file source as the default, with the ingest defaults', () => {
    const settings = loadSettings({ ...BASE, [SETTING.usageFiles]: 'a.ndjson;b.csv' }, { projectRoot: ROOT });
    expect(settings.usage).toEqual({ kind: 'file', files: ['/project/a.ndjson', '/project/b.csv'] });
    expect(settings.ingest).toEqual({ trailingDays: 3, maxCatchUpDays: 31 });
  });

  it('builds App Insights settings from a workspace id with the gateway guide defaults', () => {
    const settings = loadSettings({ ...BASE, [SETTING.usageSource]: 'app-insights', [SETTING.appInsightsWorkspaceId]: WORKSPACE }, { projectRoot: ROOT });
    expect(settings.usage).toMatchObject({
      kind: 'app-insights',
      target: { kind: 'workspace', workspaceId: WORKSPACE },
      query: { mode: 'workspace', metricNamespace: 'claudecode', namespaceProperty: '_MS.MetricNamespace', tokenKinds: { 'Prompt Tokens': 'input', 'Completion Tokens': 'output' } },
      maxConcurrency: 3,
      endpoint: null,
    });
  });

  it('reads a resource id as classic, an empty namespace as no filter, cache metrics, concurrency and an endpoint', () => {
    const settings = loadUsageSettings(
      {
        [SETTING.usageSource]: 'app-insights',
        [SETTING.appInsightsResourceId]: RESOURCE,
        [SETTING.metricNamespace]: '',
        [SETTING.metricNamespaceProperty]: 'namespace',
        [SETTING.metricTokenKinds]: 'Prompt Tokens=input;Completion Tokens=output;Cache Read Tokens=cacheRead',
        [SETTING.logsMaxConcurrency]: '5',
        [SETTING.logsEndpoint]: 'https://api.loganalytics.azure.cn/v1/',
      },
      { projectRoot: ROOT },
    );
    expect(settings.usage).toMatchObject({
      kind: 'app-insights',
      target: { kind: 'resource', resourceId: RESOURCE },
      query: { mode: 'classic', metricNamespace: null, namespaceProperty: 'namespace', tokenKinds: { 'Cache Read Tokens': 'cacheRead' } },
      maxConcurrency: 5,
      endpoint: 'https://api.loganalytics.azure.cn/v1',
    });
  });

  it('needs no usage files, directory or mail settings to read usage alone', () => {
    expect(loadUsageSettings({ [SETTING.usageSource]: 'app-insights', [SETTING.appInsightsWorkspaceId]: WORKSPACE }, { projectRoot: ROOT }).usage.kind).toBe('app-insights');
  });

  it('reports every App Insights problem at once', () => {
    const problems = problemsOf({
      [SETTING.usageSource]: 'app-insights',
      [SETTING.appInsightsWorkspaceId]: 'not-a-guid',
      [SETTING.appInsightsResourceId]: 'appi-gateway',
      [SETTING.appInsightsMode]: 'modern',
      [SETTING.logsMaxConcurrency]: '12',
      [SETTING.logsEndpoint]: 'http://logs.example.com',
      [SETTING.ingestTrailingDays]: 'three',
      [SETTING.ingestMaxCatchUpDays]: '400',
    });
    expect(problems).toEqual([
      expect.stringContaining(`${SETTING.appInsightsWorkspaceId}: "not-a-guid" is not a workspace id`),
      expect.stringContaining(`${SETTING.appInsightsResourceId}: "appi-gateway" is not a resource id`),
      expect.stringContaining(`${SETTING.appInsightsMode}: "modern"`),
      expect.stringContaining(`${SETTING.logsMaxConcurrency}: "12" must be a whole number from 1 to 5`),
      expect.stringContaining(`${SETTING.logsEndpoint}: "http://logs.example.com" must use https`),
      // What concerns more than one setting comes after the settings' own problems.
      expect.stringContaining(`${SETTING.appInsightsWorkspaceId} and ${SETTING.appInsightsResourceId} are both set`),
      expect.stringContaining(`${SETTING.ingestTrailingDays}: "three"`),
      expect.stringContaining(`${SETTING.ingestMaxCatchUpDays}: "400"`),
    ]);
  });

  it('asks for a target, and passes the query settings through the query builder checks', () => {
    const problems = problemsOf({
      [SETTING.usageSource]: 'app-insights',
      [SETTING.dimensionUserId]: "User'Id",
      [SETTING.metricNamespaceProperty]: 'bad\\property',
    });
    expect(problems).toEqual([
      expect.stringContaining(`${SETTING.appInsightsWorkspaceId} or ${SETTING.appInsightsResourceId}: name the`),
      expect.stringMatching(/^usage query: userId dimension "User'Id" is not a plain name/),
      expect.stringMatching(/^usage query: namespace property "bad\\property" is not a plain name/),
    ]);
  });

  it('refuses an unknown source and a catch-up shorter than the trailing window', () => {
    expect(problemsOf({ [SETTING.usageSource]: 'kafka', [SETTING.appInsightsWorkspaceId]: WORKSPACE })).toEqual([
      `${SETTING.usageSource}: "kafka" is not supported (expected "file" or "app-insights")`,
    ]);
    expect(problemsOf({ [SETTING.usageFiles]: 'a.csv', [SETTING.ingestTrailingDays]: '7', [SETTING.ingestMaxCatchUpDays]: '5' })).toEqual([
      `${SETTING.ingestMaxCatchUpDays}: 5 is shorter than ${SETTING.ingestTrailingDays} (7)`,
    ]);
  });
});
