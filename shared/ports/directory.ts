import type { DirectoryResolution } from '../domain/directory.js';

/** Who a user is and which team pays for them: a local file, or Microsoft Graph in Azure. */
export interface Directory {
  /** Resolves these oids (unknown ones are simply absent from `users`) and returns every team they belong to. */
  resolve(userIds: readonly string[]): Promise<DirectoryResolution>;
}
