import { addDays } from '../domain/daily.js';
import { dayInZone, startOfDayInZone } from '../domain/periods.js';
import { evaluateBudgetsAfterIngest, type EvaluateBudgetsDeps, type EvaluateBudgetsResult } from './evaluate-budgets.js';
import { ingestDaily, type IngestDailyDeps, type IngestDailyResult } from './ingest-daily.js';

/**
 * How long after midnight (in the reporting zone) the hourly run still re-reads yesterday: late metrics of the
 * evening land then, and the daily ingest (the source of truth for closed days) has not run yet.
 */
export const YESTERDAY_REREAD_HOURS = 6;

export interface IngestHourlyDeps {
  readonly ingest: IngestDailyDeps;
  readonly budgets: EvaluateBudgetsDeps;
}

export interface IngestHourlyResult {
  readonly ingest: IngestDailyResult;
  readonly budgets: readonly EvaluateBudgetsResult[];
}

/** The days an hourly run reads at `now`: today so far, and yesterday during its first hours. */
export function hourlyDays(now: Date, timeZone: string, rereadYesterdayHours: number = YESTERDAY_REREAD_HOURS): { from: string; to: string } {
  const today = dayInZone(now, timeZone);
  const sinceMidnightMs = now.getTime() - startOfDayInZone(today, timeZone).getTime();
  return { from: sinceMidnightMs < rereadYesterdayHours * 3_600_000 ? addDays(today, -1) : today, to: today };
}

/**
 * So a budget crossing reaches a lead within the hour: replaces the daily rollups of today so far (and of
 * yesterday until it settles) from the usage source, then evaluates the budgets of the months touched and
 * sends what is due. The alert ledger keeps every alert to once per team, month and threshold, whichever of
 * the hourly or daily runs sees the crossing first. Today's rows are partial until the daily ingest restates
 * the day after it has closed.
 */
export async function ingestHourly(deps: IngestHourlyDeps, request: { readonly trigger?: string } = {}): Promise<IngestHourlyResult> {
  const range = hourlyDays(deps.ingest.clock.now(), deps.ingest.settings.timeZone);
  const ingest = await ingestDaily(deps.ingest, { trigger: request.trigger ?? 'hourly', range });
  const budgets = await evaluateBudgetsAfterIngest(deps.budgets, ingest.months);
  return { ingest, budgets };
}
