import type { CallOptions } from './directory.js';
import type { DayLine, TeamDayTotal } from '../domain/daily.js';

export interface ReplaceDayResult {
  readonly lines: number;
  readonly deletedLines: number;
  readonly totals: number;
  readonly deletedTotals: number;
}

/** Daily rollups (Azure Table Storage): the grain late data restates and budgets read. */
export interface DailyRollupStore {
  /**
   * Makes the stored day exactly `lines`, and its per-team totals exactly summarizeTeamDays(day, lines):
   * upserts both under deterministic keys, then deletes what that day no longer has. Replaces, never adds
   * to, so reingesting a day with late data gives the new totals; safe to repeat after a crash.
   */
  replaceDay(day: string, lines: readonly DayLine[]): Promise<ReplaceDayResult>;
  /** Every line of one day. */
  readDay(day: string): Promise<DayLine[]>;
  /**
   * One team's day lines of a month, from the month's first day through `throughDay` (a later day is cut to
   * the month's last): one single-partition query per day, a few at a time. A day before the month reads
   * nothing. In day order, then user, model, tier.
   */
  readTeamDays(month: string, teamId: string, throughDay: string, options?: CallOptions): Promise<DayLine[]>;
  /** One team's daily totals of a month, in day order: a single small query. */
  readTeamDailySeries(month: string, teamId: string): Promise<TeamDayTotal[]>;
  /** Every team's daily totals of a month, by team then day. */
  readMonthDailySeries(month: string, options?: CallOptions): Promise<TeamDayTotal[]>;
}
