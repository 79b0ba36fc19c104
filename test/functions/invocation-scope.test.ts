import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dailyIngestHandler } from '../../functions/daily-ingest.js';
import { processServices } from '../../shared/composition-root.js';
import { FAKE_TOKEN, fakeObjectId, graphStub } from '../support/graph-stub.js';
import { fixedClock } from '../support/in-memory.js';
import { stubRemoteHttp } from '../support/msw.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const server = stubRemoteHttp();
const credential: TokenCredential = { getToken: async () => ({ token: FAKE_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };

function invocation(invocationId: string) {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId, functionName: 'dailyIngest', logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')) });
  return { context, logs };
}

describe('services built once per process', () => {
  it('log into the invocation that is running, not into the one that built them', async () => {
    const ada = fakeObjectId(1, 1);
    server.use(
      ...graphStub({
        users: [{ id: ada, displayName: 'Ada', userPrincipalName: 'ada@contoso.example' }],
        groups: [{ id: fakeObjectId(2, 1), displayName: 'team-payments', members: [ada], owners: [] }],
      }).handlers,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'invocation-scope-'));
    const usage = path.join(dir, 'usage.ndjson');
    const dimensions = { UserId: ada, Model: 'claude-sonnet-4-6', Tier: 'Claude.Standard' };
    await writeFile(usage, `${JSON.stringify({ timestamp: '2026-10-19T10:00:00Z', name: 'Prompt Tokens', valueSum: 1000, valueCount: 1, customDimensions: dimensions })}\n`);
    const getServices = processServices(
      {
        USAGE_FILES: usage,
        DIRECTORY_SOURCE: 'graph',
        STORAGE_CONNECTION_STRING: azuriteConnectionString(),
        TABLE_PREFIX: uniqueTableName('scope'),
        ARTIFACTS_DIR: dir,
        OUTBOX_DIR: dir,
      },
      // The directory cache is asked on every run and says so in the log, through the process's logger.
      { credential, clock: fixedClock('2026-10-20T05:30:00Z') },
    );
    const handler = dailyIngestHandler(getServices);

    const first = invocation('first');
    await handler(timer, first.context);
    const directoryLines = (logs: string[]) => logs.filter((line) => line.includes('directory cache:')).length;
    const firstRun = directoryLines(first.logs);
    const second = invocation('second');
    await handler(timer, second.context);

    expect(await getServices()).toBe(await getServices());
    expect(firstRun).toBeGreaterThan(0);
    expect(directoryLines(second.logs)).toBe(firstRun);
    expect(directoryLines(first.logs)).toBe(firstRun);
  });
});
