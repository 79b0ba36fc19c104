import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withStorage } from '../../cli/storage.js';
import { canConnect } from '../../shared/adapters/local/azurite.js';
import { createWorkQueues } from '../../shared/composition-root.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';
import { WORK_QUEUE_SETTING } from '../../shared/config/work-queue-settings.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { azuriteConnectionString, azuriteQueueConnectionString } from '../support/tables.js';

const settingsWith = (extra: Record<string, string> = {}) =>
  loadSettings({ [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json', [SETTING.storageConnection]: azuriteConnectionString(), ...extra }, { projectRoot: '/app' });

/** The command line's local queue service: started on the first send only, kept with the tables, stopped with the run. */
describe('withStorage and the local work queues', () => {
  it('starts no queue service for a run that sends nothing', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'cli-queues-'));
    await withStorage(settingsWith(), out, silentLogger, async (_settings, local) => expect(local.localWorkQueues).toBeTypeOf('function'));
    expect(existsSync(path.join(out, 'azurite', '__azurite_db_queue__.json'))).toBe(false);
  });

  it('starts one under the output folder on the first send, keeps what was queued for the next run, and stops it at the end', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'cli-queues-'));
    const connection = await withStorage(settingsWith(), out, silentLogger, async (settings, local) => {
      const queues = createWorkQueues(settings, { local: local.localWorkQueues! })!;
      await queues.send('close-team', { team: 'a' });
      await queues.send('close-team', { team: 'b' });
      return local.localWorkQueues!();
    });
    const port = Number(/QueueEndpoint=http:\/\/127\.0\.0\.1:(\d+)\//.exec(connection)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(await canConnect(port)).toBe(false);

    const pending = await withStorage(settingsWith(), out, silentLogger, async (settings, local) => createWorkQueues(settings, { local: local.localWorkQueues! })!.pending('close-team'));
    expect(pending).toBe(2);
  });

  it('offers none when work queues are configured', async () => {
    const settings = settingsWith({ [WORK_QUEUE_SETTING.connectionString]: azuriteQueueConnectionString() });
    await withStorage(settings, '/tmp/unused', silentLogger, async (_settings, local) => expect(local.localWorkQueues).toBeUndefined());
  });
});
