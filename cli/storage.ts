import path from 'node:path';
import { startAzurite, type RunningAzurite } from '../shared/adapters/local/azurite.js';
import { isStorageConfigured, type Settings } from '../shared/config/settings.js';
import type { Logger } from '../shared/ports/runtime.js';

/** With no storage configured, the CLI runs its own Azurite, keeping its tables under the output folder. */
export async function withStorage<T>(settings: Settings, out: string, logger: Logger, run: (settings: Settings) => Promise<T>): Promise<T> {
  if (isStorageConfigured(settings.storage)) return run(settings);
  logger.progress('storage', `no storage configured: starting a local Azurite (data in ${path.join(out, 'azurite')})`);
  let azurite: RunningAzurite | undefined;
  try {
    azurite = await startAzurite({ location: path.join(out, 'azurite') });
    return await run({ ...settings, storage: { ...settings.storage, connectionString: azurite.connectionString } });
  } finally {
    await azurite?.stop();
  }
}
