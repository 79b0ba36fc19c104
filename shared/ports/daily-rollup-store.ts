import type { CallOptions } from './directory.js';
import type { DayLine, TeamDayTotal } from '../domain/daily.js';
import type { DayIngestSummary } from '../domain/day-ingest.js';

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
   * to, so reingesting a day with late data gives the new totals; safe to repeat after a crash. The day's
   * ingest summary is removed before any line is written: until putDaySummary records the new one (or after a
   * crash half-way), the day reads as not completely ingested.
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
  /** Records what the ingest read for a day, after its lines were replaced (it replaces an earlier summary). */
  putDaySummary(summary: DayIngestSummary): Promise<void>;
  /** The ingest summaries of a month's days, in day order: one small query. */
  readDaySummaries(month: string): Promise<DayIngestSummary[]>;
}
