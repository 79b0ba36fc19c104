/**
 * What the cost lookup reads, one load per method, each turned once into the views it needs
 * (shared/domain/cost-views.ts). Every method's result is what one cache entry holds: the HTTP edge wraps
 * these reads in a short-TTL cache (shared/adapters/http/cached-cost-reads.ts); the use case itself caches
 * nothing.
 *
 * Every storage and directory call gets a deadline (`callTimeoutMs`) and an AbortSignal the adapters pass to
 * their SDKs; past it the call fails with TIMEOUT (retryable: the API answers 503) instead of hanging.
 */
import type { BudgetPlan } from '../domain/budgets.js';
import {
  currencyOf,
  inReportOrder,
  monthViewFromDailyTotals,
  monthViewOf,
  openTeamMonthView,
  storedRollupsContext,
  teamMonthView,
  type FiguresSource,
  type MonthView,
  type TeamMonthView,
} from '../domain/cost-views.js';
import { monthlyLinesFromDayLines } from '../domain/daily.js';
import { UNALLOCATED_TEAM, type DirectoryResolution, type Team } from '../domain/directory.js';
import { AppError, isAppError } from '../domain/errors.js';
import { dayInZone, monthWindow } from '../domain/periods.js';
import { buildMonthReport, buildTeamReport, type MonthReport, type ReportContext } from '../domain/report.js';
import type { MonthlyLine } from '../domain/rollup.js';
import type { BudgetSource } from '../ports/budget-source.js';
import type { DailyRollupStore } from '../ports/daily-rollup-store.js';
import type { Directory } from '../ports/directory.js';
import type { CloseRegistry, MonthClose } from '../ports/ledger.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock } from '../ports/runtime.js';

/** A closed month as its close reported it: the finance report and the lines it was built from. */
export class ClosedMonth {
  private readonly teamSlices = new Map<string, TeamMonthView>();

  constructor(
    readonly close: MonthClose,
    readonly lines: readonly MonthlyLine[],
    readonly report: MonthReport,
    readonly context: ReportContext,
    readonly view: MonthView,
    readonly asOf: Date,
  ) {}

  hasTeam(teamId: string): boolean {
    return this.report.teams.some((team) => team.teamId === teamId);
  }

  /** The team's slice of the finance report (buildTeamReport, as the close built the team's workbook and mail), built once. */
  teamView(teamId: string): TeamMonthView {
    let view = this.teamSlices.get(teamId);
    if (view === undefined) {
      const teamLines = this.lines.filter((line) => line.teamId === teamId);
      view = teamMonthView(buildTeamReport(this.lines, this.report, teamId, this.context), teamLines, closedSource(this.close), this.asOf);
      this.teamSlices.set(teamId, view);
    }
    return view;
  }
}

export interface CostReads {
  closeOf(month: string): Promise<MonthClose | undefined>;
  /** A closed month's finance report from every stored line; null when the close stored no lines. */
  closedMonth(month: string, close: MonthClose): Promise<ClosedMonth | null>;
  /** A team-month from the daily rollups through today: an open month, or a team the close did not roll up. */
  dailyTeamView(month: string, teamId: string, close: MonthClose | undefined): Promise<TeamMonthView>;
  /** Every team's month to date from the per-team daily totals. */
  dailyMonthView(month: string, close: MonthClose | undefined): Promise<MonthView>;
  resolve(userIds: readonly string[]): Promise<DirectoryResolution>;
  /** The directory's record of one team; undefined when it does not know the team. */
  teamRecord(teamId: string): Promise<Team | undefined>;
  budgetPlan(): Promise<BudgetPlan | undefined>;
}

export interface StoredCostReadsDeps {
  /** Closed months: the rollups the close wrote. */
  readonly rollups: RollupStore;
  /** Which months are closed (and at which revision). */
  readonly closes: Pick<CloseRegistry, 'get'>;
  /** Open months: the daily rollups the daily ingest keeps current. */
  readonly dailyRollups: Pick<DailyRollupStore, 'readTeamDays' | 'readMonthDailySeries'>;
  /**
   * The teams' budgets, loaded in the price book's currency (as the budget alerts load them); absent when no
   * budgets are configured, and then every budget and forecast is null.
   */
  readonly budgets?: { readonly source: BudgetSource; readonly priceBooks: Pick<PriceBookSource, 'load'> };
  readonly directory: Directory;
  readonly clock: Clock;
  readonly settings: {
    readonly timeZone: string;
    /** Deadline of each storage or directory call; default DEFAULT_CALL_TIMEOUT_MS. */
    readonly callTimeoutMs?: number;
  };
}

/** Long enough for a cold month read, short enough that a paused store answers 503 before a client gives up. */
export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export class StoredCostReads implements CostReads {
  private readonly callTimeoutMs: number;

  constructor(private readonly deps: StoredCostReadsDeps) {
    this.callTimeoutMs = deps.settings.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    if (!Number.isFinite(this.callTimeoutMs) || this.callTimeoutMs <= 0) {
      throw new AppError('CONFIG_INVALID', `the cost API call timeout must be more than 0 ms, got ${this.callTimeoutMs}`);
    }
  }

  closeOf(month: string): Promise<MonthClose | undefined> {
    return this.call('the close registry', (signal) => this.deps.closes.get(month, { signal }));
  }

  async closedMonth(month: string, close: MonthClose): Promise<ClosedMonth | null> {
    const asOf = this.deps.clock.now();
    const timeZone = this.deps.settings.timeZone;
    const lines = inReportOrder(await this.call('the rollup store', (signal, onProgress) => this.deps.rollups.readMonth(month, { signal, onProgress })));
    if (lines.length === 0) return null;
    const context = storedRollupsContext({
      month,
      timeZone,
      window: monthWindow(month, timeZone),
      currency: currencyOf(lines),
      asOf,
      revision: close.revision,
      priceBookVersion: close.priceBookVersion,
    });
    const report = buildMonthReport(lines, context);
    return new ClosedMonth(close, lines, report, context, monthViewOf(report, lines, closedSource(close), asOf), asOf);
  }

  async dailyTeamView(month: string, teamId: string, close: MonthClose | undefined): Promise<TeamMonthView> {
    const asOf = this.deps.clock.now();
    const timeZone = this.deps.settings.timeZone;
    const dayLines = await this.call('the daily rollup store', (signal) => this.deps.dailyRollups.readTeamDays(month, teamId, this.today(), { signal }));
    // A closed month neither store has the team in is the closed month's zero.
    const source: FiguresSource =
      close !== undefined && dayLines.length === 0
        ? closedSource(close)
        : { status: 'open', asOf: dayLines.reduce<string | null>((latest, line) => (latest === null || line.day > latest ? line.day : latest), null) };
    const lines = monthlyLinesFromDayLines(month, dayLines);
    const context = storedRollupsContext({
      month,
      timeZone,
      window: monthWindow(month, timeZone),
      currency: currencyOf(lines),
      asOf,
      revision: close?.revision ?? 0,
      priceBookVersion: close?.priceBookVersion ?? 'daily rollups',
    });
    return openTeamMonthView(lines, context, source, asOf);
  }

  async dailyMonthView(month: string, close: MonthClose | undefined): Promise<MonthView> {
    const asOf = this.deps.clock.now();
    const today = this.today();
    const timeZone = this.deps.settings.timeZone;
    const series = (await this.call('the daily rollup store', (signal) => this.deps.dailyRollups.readMonthDailySeries(month, { signal }))).filter((total) => total.day <= today);
    if (close && series.length === 0) {
      const context = storedRollupsContext({ month, timeZone, window: monthWindow(month, timeZone), currency: null, asOf, revision: close.revision, priceBookVersion: close.priceBookVersion });
      return monthViewOf(buildMonthReport([], context), [], closedSource(close), asOf);
    }
    return monthViewFromDailyTotals(series, asOf);
  }

  resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    return this.call('the directory', (signal) => this.deps.directory.resolve(userIds, { signal }));
  }

  async teamRecord(teamId: string): Promise<Team | undefined> {
    if (teamId === UNALLOCATED_TEAM) return undefined;
    return (await this.call('the directory', (signal) => this.deps.directory.lookUpTeams([teamId], { signal }))).get(teamId);
  }

  async budgetPlan(): Promise<BudgetPlan | undefined> {
    const budgets = this.deps.budgets;
    if (budgets === undefined) return undefined;
    return budgets.source.load({ currency: (await budgets.priceBooks.load()).currency });
  }

  /** The calendar day in the reporting zone: the last day an open month is read through. */
  private today(): string {
    return dayInZone(this.deps.clock.now(), this.deps.settings.timeZone);
  }

  /**
   * Runs one storage or directory call with a deadline: the signal tells the adapter to give up, and the
   * race makes sure the request does not wait longer even if an adapter ignores it. A call that reports
   * progress (a month read page by page) has the deadline moved on each time: it fails only after
   * `callTimeoutMs` without an answer.
   */
  private async call<T>(what: string, run: (signal: AbortSignal, onProgress: () => void) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let expire: () => void = () => {};
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(expire, this.callTimeoutMs);
    };
    const deadline = new Promise<never>((_, reject) => {
      expire = () => {
        const error = new AppError('TIMEOUT', `${what} did not answer within ${this.callTimeoutMs} ms`, { retryable: true });
        controller.abort(error);
        reject(error);
      };
      arm();
    });
    const onProgress = () => {
      if (!controller.signal.aborted) arm();
    };
    try {
      return await Promise.race([run(controller.signal, onProgress), deadline]);
    } catch (error) {
      if (controller.signal.aborted && !isAppError(error)) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function closedSource(close: MonthClose): FiguresSource {
  return { status: 'closed', revision: close.revision, closedAt: close.closedAt };
}
