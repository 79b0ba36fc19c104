import type { DirectoryResolution, Team } from '../domain/directory.js';

/** Lets a caller give up on a call: the adapter passes the signal on to its SDK or fetch. */
export interface CallOptions {
  readonly signal?: AbortSignal;
  /**
   * Called by a long read as results arrive (e.g. per page), so a deadline can mean "no answer for that long"
   * rather than "not finished in that long": a big month still reads, a store that stopped answering does not.
   */
  readonly onProgress?: () => void;
}

/** Who a user is and which team pays for them: a local file, or Microsoft Graph in Azure. */
export interface Directory {
  /** Resolves these oids (unknown ones are simply absent from `users`) and returns every team they belong to. */
  resolve(userIds: readonly string[], options?: CallOptions): Promise<DirectoryResolution>;
  /**
   * The records of these teams (name, leads and their oids, cost center), whoever is in them; ids the
   * directory does not know are absent. The cost API decides a lead's rights with it before reading any costs.
   */
  lookUpTeams(teamIds: readonly string[], options?: CallOptions): Promise<ReadonlyMap<string, Team>>;
}
