import type { MonthlyLine } from '../domain/rollup.js';
import type { CallOptions } from './directory.js';

export interface ReplaceMonthResult {
  readonly written: number;
  readonly deleted: number;
}

/** The system of record for rollups (Azure Table Storage). */
export interface RollupStore {
  /**
   * Makes the stored month exactly `lines`: upserts every line under its deterministic key, then deletes
   * lines of that month that are no longer produced (a user who moved team). Safe to repeat after a crash.
   */
  replaceMonth(month: string, lines: readonly MonthlyLine[], onProgress?: (done: number, total: number) => void): Promise<ReplaceMonthResult>;
  /** One team's month: a single-partition query. */
  readTeamMonth(month: string, teamId: string, options?: CallOptions): Promise<MonthlyLine[]>;
  /** Every team's month. */
  readMonth(month: string, options?: CallOptions): Promise<MonthlyLine[]>;
}
