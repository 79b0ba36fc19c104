import type { LineTotals, MonthlyLine } from '../domain/rollup.js';
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
  /** One team's month (the published revision): a single-partition query. */
  readTeamMonth(month: string, teamId: string, options?: CallOptions): Promise<MonthlyLine[]>;
  /** Every team's month (the published revision). */
  readMonth(month: string, options?: CallOptions): Promise<MonthlyLine[]>;
}

/** What a close needs beyond reading and replacing: revisions written apart and published at once. */
export interface RevisionedRollupStore extends RollupStore {
  /**
   * Writes a revision's lines where readers do not see them yet (a draft, or a revision about to be
   * published). Repeatable: a rerun makes the stored revision exactly `lines`.
   */
  writeRevision(month: string, revision: number, lines: readonly MonthlyLine[], onProgress?: (done: number, total: number) => void): Promise<ReplaceMonthResult>;
  /** Makes `revision` the month's lines for every reader at once, then removes the lines of other revisions. */
  publishRevision(month: string, revision: number): Promise<void>;
  /** The revision readers see; 0 for lines written by replaceMonth, undefined when the month has none. */
  publishedRevision(month: string): Promise<number | undefined>;
  /** A revision's lines whether published or not (a held draft). */
  readRevision(month: string, revision: number): Promise<MonthlyLine[]>;
  /**
   * The published revision's lines without their days, in `compareLines` order: a fraction of the bytes of
   * `readMonth` (the days are most of a stored line), for a report whose daily figures are already made.
   */
  readMonthTotals(month: string, options?: CallOptions): Promise<LineTotals[]>;
}
