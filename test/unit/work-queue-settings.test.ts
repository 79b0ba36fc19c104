import type { TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { StorageWorkQueues } from '../../shared/adapters/azure/storage-work-queues.js';
import { createWorkQueues } from '../../shared/composition-root.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';
import { WORK_QUEUE_SETTING } from '../../shared/config/work-queue-settings.js';
import { azuriteQueueConnectionString } from '../support/tables.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const credential: TokenCredential = { getToken: async () => ({ token: 'test', expiresOnTimestamp: Date.now() + 60_000 }) };
const W = WORK_QUEUE_SETTING;

describe('work queue settings', () => {
  it('default to no queues (the CLI offers a local one) and four local workers', () => {
    const settings = loadSettings(base, { projectRoot: '/app' });
    expect(settings.workQueues).toEqual({ location: { kind: 'none' }, closeWorkers: 4 });
    expect(createWorkQueues(settings)).toBeUndefined();
  });

  it('read the queue service URL for the identity, or a connection string', () => {
    const identity = loadSettings({ ...base, [W.url]: 'https://acct.queue.core.windows.net/', [W.closeWorkers]: '8' }, { projectRoot: '/app' });
    expect(identity.workQueues).toEqual({ location: { kind: 'url', url: 'https://acct.queue.core.windows.net' }, closeWorkers: 8 });
    expect(createWorkQueues(identity, { credential })).toBeInstanceOf(StorageWorkQueues);

    const local = loadSettings({ ...base, [W.connectionString]: 'UseDevelopmentStorage=true' }, { projectRoot: '/app' });
    expect(local.workQueues.location).toEqual({ kind: 'connection', connectionString: 'UseDevelopmentStorage=true' });
    expect(createWorkQueues(local)).toBeInstanceOf(StorageWorkQueues);
  });

  it('name every problem at once', () => {
    expect(() => loadSettings({ ...base, [W.url]: 'http://acct.queue.core.windows.net', [W.closeWorkers]: '0' }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: expect.arrayContaining([expect.stringMatching(/^WORK_QUEUES_URL: .*https queue service URL/), expect.stringMatching(/^CLOSE_WORKERS: "0" must be a whole number from 1 to 64/)]),
      }),
    );
  });

  it('start the local queue service only when something is first sent, and only once', async () => {
    let started = 0;
    const queues = createWorkQueues(loadSettings(base, { projectRoot: '/app' }), {
      local: async () => {
        started += 1;
        return azuriteQueueConnectionString();
      },
    });
    expect(started).toBe(0);
    await queues!.send('close-finance', { month: '2026-11', test: 'lazy' });
    await queues!.send('close-finance', { month: '2026-11', test: 'lazy' });
    expect(started).toBe(1);
  });
});
