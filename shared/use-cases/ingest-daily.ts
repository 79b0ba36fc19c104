import { randomBytes } from 'node:crypto';
import { addDays, buildDayLines, daysBetween } from '../domain/daily.js';
import { summarizeIngestedDays } from '../domain/day-ingest.js';
import { describeError, AppError } from '../domain/errors.js';
import { dayInZone, monthOfDay, nextDay, parseDay, startOfDayInZone, type TimeWindow } from '../domain/periods.js';
import type { UsageReadResult, UsageRow } from '../domain/usage.js';
import type { DailyRollupStore } from '../ports/daily-rollup-store.js';
import type { Directory } from '../ports/directory.js';
import type { IngestRun, IngestRunLog } from '../ports/ingest-runs.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { Clock, Logger } from '../ports/runtime.js';
import type { UsageSource } from '../ports/usage-source.js';

export interface IngestDailySettings {
  readonly timeZone: string;
  /** Complete days before today read on every run, so late-arriving metrics restate them. */
  readonly trailingDays: number;
  /** How far back a run catches up missed days; older gaps need an explicit backfill (a range). */
  readonly maxCatchUpDays: number;
}

export interface IngestDailyDeps {
  readonly usageSource: UsageSource;
  readonly directory: Directory;
  readonly priceBooks: PriceBookSource;
  readonly dailyRollups: DailyRollupStore;
  readonly ingestRuns: IngestRunLog;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: IngestDailySettings;
}

export interface IngestDailyRequest {
  /** Who started the run, recorded with it: "timer", "cli". */
  readonly trigger?: string;
  /** Overrides settings.trailingDays for this run. */
  readonly trailingDays?: number;
  /** An explicit backfill of these days (first and last included) instead of the trailing window and catch-up. */
  readonly range?: { readonly from: string; readonly to: string };
}

export interface IngestPlan {
  readonly firstDay: string;
  readonly lastDay: string;
  /** Days before the trailing window read because earlier runs missed them. */
  readonly catchUpDays: number;
  /** Missed days older than the catch-up limit, not read by this run (first and last), or null. */
  readonly notCaughtUp: { readonly from: string; readonly to: string } | null;
}

export interface IngestDailyResult {
  readonly run: IngestRun;
  readonly plan: IngestPlan;
  readonly window: TimeWindow;
  readonly days: readonly string[];
  /** The months whose daily series this run changed (or confirmed): budget evaluation reads these. */
  readonly months: readonly string[];
  readonly usage: Pick<UsageReadResult, 'rejects' | 'skipped' | 'sourceDescription' | 'reportedTotalTokens'> & { readonly rows: number };
  readonly directoryNotes: readonly string[];
  readonly stored: { readonly lines: number; readonly deletedLines: number; readonly totals: number; readonly deletedTotals: number };
}

/** A backfill range longer than this is refused: split it. */
export const MAX_RANGE_DAYS = 366;

/**
 * Which complete days a scheduled run reads: the trailing `trailingDays` days before `today`, extended back
 * to the day after `coveredThrough` when earlier runs missed days, but never more than `maxCatchUpDays`
 * before today. Today itself is never read by a scheduled run: a partial day would show budgets a low figure
 * until the next run restated it.
 */
export function planIngest(today: string, options: { trailingDays: number; maxCatchUpDays: number; coveredThrough: string | null }): IngestPlan {
  const { trailingDays } = options;
  if (!Number.isInteger(trailingDays) || trailingDays < 1) throw new AppError('INVALID_ARGUMENT', `trailingDays must be a positive integer, got ${trailingDays}`);
  const maxCatchUpDays = Math.max(options.maxCatchUpDays, trailingDays);
  const lastDay = addDays(today, -1);
  const trailingFirst = addDays(today, -trailingDays);
  if (options.coveredThrough === null || options.coveredThrough >= addDays(trailingFirst, -1)) {
    return { firstDay: trailingFirst, lastDay, catchUpDays: 0, notCaughtUp: null };
  }
  const firstMissed = nextDay(options.coveredThrough);
  const earliest = addDays(today, -maxCatchUpDays);
  const firstDay = firstMissed > earliest ? firstMissed : earliest;
  return {
    firstDay,
    lastDay,
    catchUpDays: daysBetween(firstDay, addDays(trailingFirst, -1)).length,
    notCaughtUp: firstMissed < earliest ? { from: firstMissed, to: addDays(earliest, -1) } : null,
  };
}

function planRange(range: { from: string; to: string }, today: string): IngestPlan {
  const from = parseDay(range.from);
  const to = parseDay(range.to);
  if (from > to) throw new AppError('INVALID_ARGUMENT', `the range ${from} to ${to} is empty: ${from} is after ${to}`);
  if (to > today) throw new AppError('INVALID_ARGUMENT', `${to} has not started yet in the reporting time zone (today is ${today})`);
  const length = daysBetween(from, to).length;
  if (length > MAX_RANGE_DAYS) throw new AppError('INVALID_ARGUMENT', `the range ${from} to ${to} is ${length} days; ingest at most ${MAX_RANGE_DAYS} at a time`);
  return { firstDay: from, lastDay: to, catchUpDays: 0, notCaughtUp: null };
}

/**
 * Ingests daily usage: reads the planned days from the usage source in one window, resolves teams, prices
 * each day and replaces each day's stored lines and team totals. A day's stored rows are replaced, never
 * added to, so a rerun gives identical rows and late data restates a day to its new totals. The read comes
 * before any write, so a failing read writes nothing; a failure while writing leaves days that a rerun
 * completes exactly. Every run, failed or not, is recorded with what it did.
 */
export async function ingestDaily(deps: IngestDailyDeps, request: IngestDailyRequest = {}): Promise<IngestDailyResult> {
  const { logger, settings, clock } = deps;
  const startedAt = clock.now();
  const today = dayInZone(startedAt, settings.timeZone);
  const previous = await deps.ingestRuns.lastSucceeded();
  const coveredBefore = previous?.coveredThrough ?? null;
  const plan = request.range
    ? planRange(request.range, today)
    : planIngest(today, { trailingDays: request.trailingDays ?? settings.trailingDays, maxCatchUpDays: settings.maxCatchUpDays, coveredThrough: coveredBefore });
  const days = daysBetween(plan.firstDay, plan.lastDay);
  const window: TimeWindow = { start: startOfDayInZone(plan.firstDay, settings.timeZone), end: startOfDayInZone(nextDay(plan.lastDay), settings.timeZone) };
  const base = {
    id: `${startedAt.toISOString()}-${randomBytes(3).toString('hex')}`,
    trigger: request.trigger ?? 'manual',
    startedAt,
    firstDay: plan.firstDay,
    lastDay: plan.lastDay,
    dayCount: days.length,
    windowStart: window.start,
    windowEnd: window.end,
  };
  if (plan.catchUpDays > 0) logger.info(`catching up ${plan.catchUpDays} day(s) missed since the last successful ingest (covered through ${coveredBefore})`);
  if (plan.notCaughtUp) {
    logger.warn(
      `days ${plan.notCaughtUp.from} to ${plan.notCaughtUp.to} were missed and are older than the ${settings.maxCatchUpDays}-day catch-up limit: ` +
        'backfill them with an explicit range (chargeback ingest --from ... --to ...)',
    );
  }
  if (plan.lastDay === today) logger.warn(`${today} is still running: its rows are partial until a later run restates them`);

  const progress = { rows: 0, lines: 0, rejects: 0 };
  const stored = { lines: 0, deletedLines: 0, totals: 0, deletedTotals: 0 };
  try {
    logger.progress('prices', 'loading the price book');
    const priceBook = await deps.priceBooks.load();

    logger.progress('usage', `reading usage for ${plan.firstDay} to ${plan.lastDay} (${days.length} day(s))`);
    const usage = await deps.usageSource.read(window, { timeZone: settings.timeZone, onProgress: (m) => logger.progress('usage', m) });
    progress.rows = usage.rows.count;
    progress.rejects = usage.rejects.count;
    if (usage.rejects.count > 0) logger.warn(`${usage.rejects.count} usage row(s) rejected`, { byReason: usage.rejects.byReason });

    const rowsByDay = groupByDay(usage.rows, days, logger);
    logger.progress('directory', 'resolving users to teams');
    const directory = await deps.directory.resolve(usage.rows.users());

    // Each day's summary is written after its lines: a day a crash left half-written has none, so a close
    // built from the daily rollups ingests it again.
    const rowsPerDay = new Map([...rowsByDay].map(([day, rows]) => [day, rows.length]));
    const summaries = new Map(summarizeIngestedDays(usage, days, rowsPerDay, { id: base.id, at: startedAt }).map((summary) => [summary.day, summary]));
    for (const day of days) {
      const lines = buildDayLines(day, rowsByDay.get(day) ?? [], directory, priceBook);
      const result = await deps.dailyRollups.replaceDay(day, lines);
      await deps.dailyRollups.putDaySummary(summaries.get(day)!);
      progress.lines += result.lines;
      stored.lines += result.lines;
      stored.deletedLines += result.deletedLines;
      stored.totals += result.totals;
      stored.deletedTotals += result.deletedTotals;
      logger.progress('store', `${day}: ${result.lines} line(s), ${result.totals} team total(s)${result.deletedLines > 0 ? `, ${result.deletedLines} stale line(s) removed` : ''}`);
    }

    const finishedAt = clock.now();
    const run: IngestRun = {
      ...base,
      status: 'succeeded',
      finishedAt,
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      ...progress,
      coveredThrough: advanceCoverage(coveredBefore, plan, addDays(today, -1)),
    };
    await deps.ingestRuns.record(run);
    return {
      run,
      plan,
      window,
      days,
      months: [...new Set(days.map(monthOfDay))],
      usage: {
        rows: usage.rows.count,
        rejects: usage.rejects,
        skipped: usage.skipped,
        sourceDescription: usage.sourceDescription,
        reportedTotalTokens: usage.reportedTotalTokens,
      },
      directoryNotes: directory.notes,
      stored,
    };
  } catch (error) {
    const finishedAt = clock.now();
    const failed: IngestRun = {
      ...base,
      status: 'failed',
      finishedAt,
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      ...progress,
      coveredThrough: coveredBefore,
      error: describeError(error),
    };
    try {
      await deps.ingestRuns.record(failed);
    } catch (recordError) {
      logger.error(`could not record the failed ingest run: ${describeError(recordError)}`);
    }
    throw error;
  }
}

/**
 * The catch-up mark only moves over days that join what was covered (no gap), and never onto today,
 * which is not complete yet.
 */
function advanceCoverage(coveredBefore: string | null, plan: IngestPlan, yesterday: string): string | null {
  const lastComplete = plan.lastDay < yesterday ? plan.lastDay : yesterday;
  if (coveredBefore === null) return lastComplete;
  if (plan.firstDay > nextDay(coveredBefore)) return coveredBefore;
  return lastComplete > coveredBefore ? lastComplete : coveredBefore;
}

function groupByDay(rows: Iterable<UsageRow>, days: readonly string[], logger: Logger): Map<string, UsageRow[]> {
  const wanted = new Set(days);
  const byDay = new Map<string, UsageRow[]>();
  let outside = 0;
  for (const row of rows) {
    if (!wanted.has(row.day)) {
      outside += 1;
      continue;
    }
    const list = byDay.get(row.day) ?? [];
    list.push(row);
    byDay.set(row.day, list);
  }
  // The sources filter by window already; a row outside it belongs to a day this run does not replace.
  if (outside > 0) logger.warn(`${outside} usage row(s) fell outside the days being ingested and were left out`);
  return byDay;
}
