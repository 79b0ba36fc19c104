import type { AccessToken, TokenCredential } from '@azure/identity';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDirectoryRefresh, runDirectoryShow, type DirectoryCommandOptions } from '../../cli/directory.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { FAKE_TOKEN, fakeObjectId, graphStub, type FakeTenant } from '../support/graph-stub.js';
import { fixedClock } from '../support/in-memory.js';
import { stubRemoteHttp } from '../support/msw.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const server = stubRemoteHttp();
afterEach(() => vi.unstubAllEnvs());

const GRAPH = 'https://graph.example.test';
const credential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: FAKE_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const member = fakeObjectId(1, 1);
const deleted = fakeObjectId(1, 2);
const tenant: FakeTenant = {
  users: [
    { id: member, displayName: 'Ada Lovelace', userPrincipalName: 'ada@contoso.example', mail: 'ada@contoso.example' },
    { id: fakeObjectId(3, 1), displayName: 'Lead', userPrincipalName: 'lead@contoso.example', mail: 'lead@contoso.example' },
  ],
  groups: [{ id: fakeObjectId(2, 1), displayName: 'team-Platform', members: [member], owners: [fakeObjectId(3, 1)] }],
  deletedUsers: [{ id: deleted, displayName: 'Gone Person', userPrincipalName: 'gone@contoso.example' }],
};

function graphSettings() {
  vi.stubEnv('DIRECTORY_SOURCE', 'graph');
  vi.stubEnv('GRAPH_BASE_URL', GRAPH);
  vi.stubEnv('GRAPH_TEAM_STRATEGY', 'group-prefix');
  vi.stubEnv('TABLE_PREFIX', uniqueTableName('cli'));
  const stub = graphStub(tenant, { origin: GRAPH });
  server.use(...stub.handlers);
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const clock = fixedClock('2026-11-03T06:00:00Z');
  const options: DirectoryCommandOptions = { storage: azuriteConnectionString(), out: '/tmp/unused', logger: silentLogger, output, credential, clock };
  return { stub, options, clock, printed: () => text, clear: () => (text = '') };
}

describe('chargeback directory show / refresh (Graph source)', () => {
  it('shows an oid fresh from Graph first, then from the cache without asking Graph', async () => {
    const { stub, options, printed, clear } = graphSettings();

    await runDirectoryShow(member, options);
    expect(printed()).toContain(`${member}\n  name:    Ada Lovelace <ada@contoso.example>\n  status:  member\n  team:    platform (team-Platform)\n  leads:   lead@contoso.example\n  charged: team platform\n`);
    expect(printed()).toContain('source:  fresh from the directory, now cached (2026-11-03T06:00:00.000Z, trusted until 2026-11-04T06:00:00.000Z)');
    expect(printed()).toContain('Microsoft Graph (group-prefix "team-"), cached 24 h');
    expect(printed()).toContain('last refresh: never');
    const calls = stub.counts.http;
    clear();

    await runDirectoryShow(member, options);
    expect(stub.counts.http).toBe(calls);
    expect(printed()).toContain('source:  cache (resolved 2026-11-03T06:00:00.000Z, trusted until 2026-11-04T06:00:00.000Z)');
  });

  it('shows a deleted user as former and charged to unallocated; refresh rewrites the cache', async () => {
    const { stub, options, printed, clear } = graphSettings();
    await runDirectoryShow(deleted, options);
    expect(printed()).toContain('status:  former');
    expect(printed()).toContain('charged: unallocated (former-user)');
    clear();

    const before = stub.counts.http;
    await runDirectoryRefresh([], options);
    expect(stub.counts.http).toBeGreaterThan(before);
    expect(printed()).toContain('refreshed 1 of 1 cached user(s) and 0 team(s) at 2026-11-03T06:00:00.000Z');
    clear();

    await runDirectoryShow(deleted, options);
    expect(printed()).toContain('last refresh: 2026-11-03T06:00:00.000Z (all cached users: 1/1 resolved)');
  });

  it('says there is nothing to refresh for the file source', async () => {
    const { options, printed } = graphSettings();
    vi.stubEnv('DIRECTORY_SOURCE', 'file');
    await runDirectoryRefresh([], { ...options, directory: 'data/directory.json' });
    expect(printed()).toMatch(/DIRECTORY_SOURCE is "file": .*directory\.json is read on every run/);
  });
});
