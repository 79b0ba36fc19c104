import path from 'node:path';
import { startAzurite, startAzuriteQueue, type RunningAzurite } from '../shared/adapters/local/azurite.js';
import { isStorageConfigured, type Settings } from '../shared/config/settings.js';
import type { Logger } from '../shared/ports/runtime.js';

/** Local stand-ins for what the settings leave out, for createServices (its `localWorkQueues`). */
export interface LocalStorage {
  /** With no work queues configured: starts Azurite's queue service on the first call, and answers its connection string. */
  readonly localWorkQueues?: () => Promise<string>;
}

/**
 * With no storage configured, the CLI runs its own Azurite, keeping its tables under the output folder. With no
 * work queues configured, it offers Azurite's queue service too (data in the same folder), started only when a
 * close first fans out, so a run that never queues anything never starts it. Both stop when `run` ends.
 */
export async function withStorage<T>(settings: Settings, out: string, logger: Logger, run: (settings: Settings, local: LocalStorage) => Promise<T>): Promise<T> {
  const folder = path.join(out, 'azurite');
  let tables: RunningAzurite | undefined;
  let queues: Promise<RunningAzurite> | undefined;
  const local: LocalStorage =
    settings.workQueues.location.kind !== 'none'
      ? {}
      : {
          localWorkQueues: async () => {
            queues ??= (async () => {
              logger.progress('storage', `no work queues configured: starting a local Azurite queue service (data in ${folder})`);
              return startAzuriteQueue({ location: folder });
            })();
            queues.catch(() => (queues = undefined));
            return (await queues).connectionString;
          },
        };
  try {
    if (isStorageConfigured(settings.storage)) return await run(settings, local);
    logger.progress('storage', `no storage configured: starting a local Azurite (data in ${folder})`);
    tables = await startAzurite({ location: folder });
    return await run({ ...settings, storage: { ...settings.storage, connectionString: tables.connectionString } }, local);
  } finally {
    await Promise.all([tables?.stop(), queues?.then((azurite) => azurite.stop(), () => undefined)]);
  }
}
