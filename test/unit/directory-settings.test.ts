import { describe, expect, it } from 'vitest';
import { loadDirectorySettings, loadSettings } from '../../shared/config/settings.js';
import { AppError } from '../../shared/domain/errors.js';

const root = { projectRoot: '/project' };

function problems(source: Record<string, string>): readonly string[] {
  try {
    loadDirectorySettings(source, root);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
    return (error as AppError).details;
  }
  throw new Error('expected the settings to be rejected');
}

describe('directory settings', () => {
  it('default to the directory file, as the local demo needs', () => {
    const settings = loadSettings({ USAGE_FILES: 'usage.ndjson', DIRECTORY_FILE: 'dir.json' }, root);
    expect(settings.directory).toEqual({ kind: 'file', path: '/project/dir.json' });
  });

  it('give the Graph source its defaults: group-prefix "team-", 24 hours of cache, no overrides', () => {
    expect(loadDirectorySettings({ DIRECTORY_SOURCE: 'graph' }, root)).toEqual({
      directory: { kind: 'graph', teamStrategy: 'group-prefix', groupPrefix: 'team-', overridesFile: null, baseUrl: null, cacheTtlHours: 24 },
      storage: { connectionString: null, tableEndpoint: null, tablePrefix: 'chargeback' },
    });
  });

  it('read every Graph setting', () => {
    const { directory } = loadDirectorySettings(
      {
        DIRECTORY_SOURCE: 'graph',
        GRAPH_TEAM_STRATEGY: 'cost-center',
        GRAPH_TEAM_GROUP_PREFIX: 'Team ',
        DIRECTORY_OVERRIDES_FILE: 'overrides.json',
        GRAPH_BASE_URL: 'https://graph.microsoft.us/',
        DIRECTORY_CACHE_TTL_HOURS: '0.5',
      },
      root,
    );
    expect(directory).toEqual({ kind: 'graph', teamStrategy: 'cost-center', groupPrefix: 'Team ', overridesFile: '/project/overrides.json', baseUrl: 'https://graph.microsoft.us', cacheTtlHours: 0.5 });
  });

  it('report every problem at once', () => {
    expect(problems({ DIRECTORY_SOURCE: 'graph', GRAPH_TEAM_STRATEGY: 'manager', GRAPH_TEAM_GROUP_PREFIX: '  ', GRAPH_BASE_URL: 'http://graph.example/v1.0', DIRECTORY_CACHE_TTL_HOURS: '-1' })).toEqual([
      'GRAPH_TEAM_STRATEGY: "manager" is not one of group-prefix, department, cost-center',
      'GRAPH_TEAM_GROUP_PREFIX: the group name prefix must not be blank',
      'GRAPH_BASE_URL: "http://graph.example/v1.0" must use https (plain http only towards localhost)',
      'GRAPH_BASE_URL: "http://graph.example/v1.0" must be the Graph root, without /v1.0 or another path',
      'DIRECTORY_CACHE_TTL_HOURS: "-1" is not a number of hours (0 or more, e.g. 24 or 0.5)',
    ]);
    expect(problems({ DIRECTORY_SOURCE: 'ldap' })).toEqual(['DIRECTORY_SOURCE: "ldap" is not supported (expected "file" or "graph")']);
    expect(problems({})).toEqual(['DIRECTORY_FILE: name the directory file (users to teams)']);
  });
});
