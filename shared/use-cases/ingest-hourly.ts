import { usersToBlock } from '../domain/budget-actions.js';
import { addDays } from '../domain/daily.js';
import { describeError } from '../domain/errors.js';
import { dayInZone, monthOfDay, startOfDayInZone } from '../domain/periods.js';
import type { GatewayBlockList } from '../ports/gateway-block-list.js';
import { evaluateBudgetsAfterIngest, type EvaluateBudgetsDeps, type EvaluateBudgetsResult } from './evaluate-budgets.js';
import { ingestDaily, type IngestDailyDeps, type IngestDailyResult } from './ingest-daily.js';

/**
 * How long after midnight (in the reporting zone) the hourly run still re-reads yesterday: late metrics of the
 * evening land then, and the daily ingest (the source of truth for closed days) has not run yet.
 */
export const YESTERDAY_REREAD_HOURS = 6;

/** Budget actions (off unless configured): block a team's callers at the gateway past a share of its budget. */
export interface BudgetActionsDeps {
  readonly blockAtPercent: number;
  readonly blockList: GatewayBlockList;
}

export interface IngestHourlyDeps {
  readonly ingest: IngestDailyDeps;
  readonly budgets: EvaluateBudgetsDeps;
  readonly budgetActions?: BudgetActionsDeps;
}

export interface IngestHourlyResult {
  readonly ingest: IngestDailyResult;
  readonly budgets: readonly EvaluateBudgetsResult[];
  /** The teams and oids blocked now (budget actions), or null when off or not evaluated this run. */
  readonly blocked: { readonly teams: readonly string[]; readonly userIds: readonly string[]; readonly changed: boolean } | null;
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
  const blocked = deps.budgetActions ? await applyBudgetActions(deps, deps.budgetActions, budgets) : null;
  return { ingest, budgets, blocked };
}

/**
 * Publishes the oids of the teams at or past the block level this month. The month is the clock's, so the
 * first run of a new month (no spend yet) publishes an empty list: the block lifts with the period. A failure
 * is logged, not thrown: the ingest and the alerts already happened, and the next run publishes again.
 */
async function applyBudgetActions(deps: IngestHourlyDeps, actions: BudgetActionsDeps, results: readonly EvaluateBudgetsResult[]): Promise<IngestHourlyResult['blocked']> {
  const logger = deps.ingest.logger;
  const month = monthOfDay(dayInZone(deps.ingest.clock.now(), deps.ingest.settings.timeZone));
  const current = results.find((result) => result.month === month);
  if (current === undefined) {
    logger.warn(`budget actions skipped: the budgets of ${month} were not evaluated this run`);
    return null;
  }
  try {
    const lines = await deps.budgets.details.monthLines(month);
    const { teams, userIds } = usersToBlock(current.teams, lines, actions.blockAtPercent);
    const { changed } = await actions.blockList.publish(userIds);
    if (changed) logger.info(`gateway block list now holds ${userIds.length} oid(s) of ${teams.length} team(s) at or past ${actions.blockAtPercent}% of budget`, { teams });
    return { teams, userIds, changed };
  } catch (error) {
    logger.error(`budget actions failed (the next run tries again): ${describeError(error)}`);
    return null;
  }
}
