/**
 * Team cost lookups for the HTTP API: a team's month, every team's month (finance), the caller's own usage.
 * This use case decides who may see what (shared/domain/access.ts) and which store answers; the figures are
 * built by shared/domain/cost-views.ts from the same reports the close mails.
 *
 * Authorization first, from the directory only. A caller who is not finance is judged on the directory's
 * answer for their own oid and for the asked team's record (its lead oids) before anything of the team is
 * read from storage: a team that does not exist and a team the caller may not see cost the same work and get
 * the same 403, and ids nobody may see never load (or evict) a cached view.
 *
 * Sources. A month with a close record (CloseRegistry) is answered from its monthly rollups, the numbers
 * finance was sent: the month's finance report (buildMonthReport over every stored line), and a team's slice
 * of it (buildTeamReport), exactly as the close built the workbooks and mails. A month without one (the
 * current month, or the previous one before the close ran) is answered from the daily rollups the daily
 * ingest keeps current. Every answer says which (`source`).
 *
 * The caller's own usage: a user's month lives in exactly one team partition (the team they were allocated to
 * when the month was rolled up). We look in the caller's current team and the unallocated team first, and
 * only when neither holds the caller in the month-wide view.
 *
 * Caching: loads are memoised for a short TTL (COST_CACHE_TTL_SECONDS), so a lead refreshing a dashboard
 * costs no storage query. Deadlines: every storage and directory call gets `callTimeoutMs` and an AbortSignal;
 * past it the request fails with TIMEOUT (retryable, 503) instead of hanging.
 */
import { authorizeAllTeams, authorizeOwnCosts, authorizeTeamCosts, isFinance, type AccessRoles, type Caller, type CallerTeamFacts } from '../domain/access.js';
import type { BudgetPlan } from '../domain/budgets.js';
import {
  budgetAndForecast,
  callerBreakdown,
  combinedSource,
  currencyOf,
  figuresOf,
  inReportOrder,
  monthViewFromDailyTotals,
  monthViewOf,
  openTeamMonthView,
  storedRollupsContext,
  teamMonthView,
  type BudgetStatus,
  type CostBreakdown,
  type CostFigures,
  type DayCosts,
  type FiguresSource,
  type Forecast,
  type LineCosts,
  type ModelCosts,
  type MonthView,
  type TeamMonthView,
  type TeamTotal,
  type TierCosts,
} from '../domain/cost-views.js';
import { monthlyLinesFromDayLines } from '../domain/daily.js';
import { allocate, isLeadOf, isValidTeamId, UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME, type Allocation, type DirectoryResolution, type Team } from '../domain/directory.js';
import { AppError, isAppError } from '../domain/errors.js';
import { money } from '../domain/money.js';
import { dayInZone, monthInZone, monthWindow, parseMonth } from '../domain/periods.js';
import { buildMonthReport, buildTeamReport, type MonthReport, type ReportContext } from '../domain/report.js';
import type { MonthlyLine } from '../domain/rollup.js';
import type { BudgetSource } from '../ports/budget-source.js';
import type { DailyRollupStore } from '../ports/daily-rollup-store.js';
import type { Directory } from '../ports/directory.js';
import type { CloseRegistry, MonthClose } from '../ports/ledger.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock } from '../ports/runtime.js';
import { TtlCache } from './ttl-cache.js';

export type { BudgetStatus, CostBreakdown, CostFigures, DayCosts, FiguresSource, Forecast, LineCosts, ModelCosts, TeamTotal, TierCosts };
export type { UserCosts } from '../domain/cost-views.js';

export interface LookupCostsDeps {
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
    readonly roles: AccessRoles;
    /** 0 disables the cache. */
    readonly cacheTtlSeconds: number;
    /** Deadline of each storage or directory call; default DEFAULT_CALL_TIMEOUT_MS. */
    readonly callTimeoutMs?: number;
  };
}

/** Long enough for a cold month read, short enough that a paused store answers 503 before a client gives up. */
export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export type AccessBasis = 'finance' | 'lead' | 'member';

export interface TeamIdentity {
  readonly id: string;
  readonly name: string;
  /** The directory's cost center of the team (what finance posts the charge to); null when it has none. */
  readonly costCenter: string | null;
}

export interface TeamCosts {
  readonly month: string;
  readonly team: TeamIdentity;
  /** null when the team has no usage in the month (nothing to take a currency from). */
  readonly currency: string | null;
  readonly access: AccessBasis;
  readonly view: 'full' | 'own-lines-and-team-total';
  readonly total: TeamTotal;
  readonly source: FiguresSource;
  readonly budget: BudgetStatus | null;
  readonly forecast: Forecast | null;
  readonly breakdown: CostBreakdown;
  /** When the figures were read from the rollup store; a cached read is at most the cache TTL old. */
  readonly asOf: Date;
}

export interface TeamListEntry extends TeamTotal {
  readonly teamId: string;
  readonly teamName: string;
  readonly costCenter: string | null;
  readonly budget: BudgetStatus | null;
  readonly forecast: Forecast | null;
}

export interface AllTeamsCosts {
  readonly month: string;
  readonly currency: string | null;
  readonly source: FiguresSource;
  readonly total: TeamTotal;
  readonly teams: readonly TeamListEntry[];
  readonly asOf: Date;
}

export interface TeamShare extends CostFigures {
  readonly teamId: string;
  readonly teamName: string;
  readonly costCenter: string | null;
  readonly allocation: Allocation;
}

export interface MyCosts {
  readonly month: string;
  readonly user: { readonly id: string; readonly name: string; readonly upn: string };
  readonly currency: string | null;
  readonly source: FiguresSource;
  readonly total: CostFigures;
  /** Always null: budgets are per team, not per person. */
  readonly budget: null;
  readonly byTeam: readonly TeamShare[];
  readonly byModel: readonly ModelCosts[];
  readonly byTier: readonly TierCosts[];
  readonly byDay: readonly DayCosts[];
  readonly lines: readonly LineCosts[];
  readonly asOf: Date;
}

export interface MonthQuery {
  /** YYYY-MM; the current month in the reporting time zone when absent. */
  readonly month?: string | undefined;
}

export interface TeamCostsQuery extends MonthQuery {
  readonly teamId: string;
}

// A cached team-month of ~200 users holds ~1.5 MB; 128 keeps a 50-team org's current and previous month.
const VIEW_CACHE_MAX_ENTRIES = 128;
const MONTH_CACHE_MAX_ENTRIES = 4;
const DIRECTORY_CACHE_MAX_ENTRIES = 4096;
const MAX_TEAM_ID_LENGTH = 63;

export const TEAM_ID_RULE = 'team must be a team id: 1-63 characters of lowercase letters, digits, ".", "_" or "-", starting with a letter or digit';
export const MONTH_RULE = 'month must be YYYY-MM, for example 2026-10';

/** A closed month as its close reported it: the finance report and the lines it was built from. */
interface ClosedMonth {
  readonly close: MonthClose;
  readonly lines: readonly MonthlyLine[];
  readonly report: MonthReport;
  readonly context: ReportContext;
  readonly view: MonthView;
  readonly asOf: Date;
}

type FullResultMemo = Map<'finance' | 'lead', { teamName: string; costCenter: string | null; plan: BudgetPlan | undefined; today: string; result: TeamCosts }>;

export class CostLookup {
  private readonly teamViews: TtlCache<TeamMonthView>;
  private readonly closedMonths: TtlCache<ClosedMonth | null>;
  private readonly openMonthViews: TtlCache<MonthView>;
  private readonly resolutions: TtlCache<DirectoryResolution>;
  private readonly teamRecords: TtlCache<Team | null>;
  private readonly closeRecords: TtlCache<MonthClose | undefined>;
  private readonly budgetPlans: TtlCache<BudgetPlan>;
  /** A full view's result per access basis, kept with the view it was built from (and dropped with it). */
  private readonly fullResults = new WeakMap<TeamMonthView, FullResultMemo>();
  private readonly callTimeoutMs: number;

  constructor(private readonly deps: LookupCostsDeps) {
    const ttlSeconds = deps.settings.cacheTtlSeconds;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new AppError('CONFIG_INVALID', `the cost cache TTL must be 0 or more seconds, got ${ttlSeconds}`);
    this.callTimeoutMs = deps.settings.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    if (!Number.isFinite(this.callTimeoutMs) || this.callTimeoutMs <= 0) throw new AppError('CONFIG_INVALID', `the cost API call timeout must be more than 0 ms, got ${this.callTimeoutMs}`);
    const options = (maxEntries: number) => ({ ttlMs: ttlSeconds * 1000, maxEntries, now: () => deps.clock.now().getTime() });
    this.teamViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.closedMonths = new TtlCache(options(MONTH_CACHE_MAX_ENTRIES));
    this.openMonthViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.resolutions = new TtlCache(options(DIRECTORY_CACHE_MAX_ENTRIES));
    this.teamRecords = new TtlCache(options(DIRECTORY_CACHE_MAX_ENTRIES));
    this.closeRecords = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.budgetPlans = new TtlCache(options(1));
  }

  /** A team's month: in full for finance and the team's leads, the team total plus own lines for its members. */
  async teamCosts(caller: Caller, query: TeamCostsQuery): Promise<TeamCosts> {
    const teamId = requireTeamId(query.teamId);
    const month = this.monthOf(query.month);
    const roles = this.deps.settings.roles;
    const finance = isFinance(caller, roles);
    if (!finance && teamId === UNALLOCATED_TEAM) throw forbidden();

    // The same two directory reads whether or not the team exists, and nothing of the team's costs yet.
    const [resolution, record] = await Promise.all([this.resolve(finance ? [] : [caller.userId]), this.teamRecord(teamId)]);
    const decision = authorizeTeamCosts(caller, teamId, callerFacts(caller, resolution, record), roles);
    if ('denied' in decision) throw forbidden();

    const view = await this.teamView(month, teamId);
    if (decision.basis === 'finance' && record === undefined && view.lineCount === 0 && teamId !== UNALLOCATED_TEAM) {
      throw new AppError('NOT_FOUND', `No usage is recorded for this team in ${month} and the directory does not know it`);
    }

    const plan = await this.budgetPlan();
    const team: TeamIdentity = { id: teamId, name: teamNameOf(teamId, record), costCenter: record?.costCenter ?? null };
    const today = this.today();
    // A full view depends on nothing about the caller but the basis of their access: while its inputs are the
    // same, every such caller gets the same result object, so its wire form is built once (cost-responses.ts).
    let memo = this.fullResults.get(view);
    const remembered = decision.view === 'full' ? memo?.get(decision.basis) : undefined;
    if (remembered !== undefined && remembered.teamName === team.name && remembered.costCenter === team.costCenter && remembered.plan === plan && remembered.today === today) {
      return remembered.result;
    }

    const planned = plan?.budgetsFor(month).find((budget) => budget.teamId === teamId);
    const { budget, forecast } = budgetAndForecast(planned, {
      month,
      today,
      source: view.source,
      currency: view.currency,
      amount: view.total.amount,
      exactAmount: money(view.total.exactAmount),
      dailyCosts: view.dailyCosts,
    });
    const common = { month, team, currency: view.currency, source: view.source, total: view.total, budget, forecast, asOf: view.asOf };
    if (decision.view === 'full') {
      const result: TeamCosts = {
        ...common,
        access: decision.basis,
        view: 'full',
        breakdown: { scope: 'team', total: view.total, byModel: view.models, byTier: view.tiers, byUser: view.users, byDay: view.days, lines: null },
      };
      if (memo === undefined) this.fullResults.set(view, (memo = new Map()));
      memo.set(decision.basis, { teamName: team.name, costCenter: team.costCenter, plan, today, result });
      return result;
    }
    const slice = view.slices.get(caller.userId);
    const own = callerBreakdown(slice ? [slice] : []);
    return {
      ...common,
      access: decision.basis,
      view: 'own-lines-and-team-total',
      breakdown: { scope: 'caller', total: own.total, byModel: own.byModel, byTier: own.byTier, byUser: slice ? [slice.summary] : [], byDay: own.byDay, lines: own.lines },
    };
  }

  /** Every team's total for the month: finance only. */
  async allTeams(caller: Caller, query: MonthQuery): Promise<AllTeamsCosts> {
    const month = this.monthOf(query.month);
    if ('denied' in authorizeAllTeams(caller, this.deps.settings.roles)) throw forbidden();
    const view = await this.monthView(month);
    const teamIds = view.teams.map((team) => team.teamId).filter((teamId) => teamId !== UNALLOCATED_TEAM);
    const [records, plan] = await Promise.all([this.teamRecords_(teamIds), this.budgetPlan()]);
    const budgets = new Map((plan?.budgetsFor(month) ?? []).map((budget) => [budget.teamId, budget]));
    const today = this.today();
    return {
      month,
      currency: view.currency,
      source: view.source,
      total: view.total,
      teams: view.teams.map((team) => ({
        ...team,
        teamName: teamNameOf(team.teamId, records.get(team.teamId)),
        costCenter: records.get(team.teamId)?.costCenter ?? null,
        ...budgetAndForecast(budgets.get(team.teamId), {
          month,
          today,
          source: view.source,
          currency: view.currency,
          amount: team.amount,
          exactAmount: money(team.exactAmount),
          dailyCosts: view.dailyCosts.get(team.teamId) ?? [],
        }),
      })),
      asOf: view.asOf,
    };
  }

  /** The caller's own usage in the month, across the teams it was charged to. */
  async myCosts(caller: Caller, query: MonthQuery): Promise<MyCosts> {
    const month = this.monthOf(query.month);
    const decision = authorizeOwnCosts(caller);
    if ('denied' in decision) throw forbidden();
    const userId = decision.userId;

    const resolution = await this.resolve([userId]);
    const placed = allocate(userId, resolution);
    const likely = [...new Set([placed.teamId, UNALLOCATED_TEAM])];
    let views = (await Promise.all(likely.map((teamId) => this.teamView(month, teamId)))).filter((view) => view.slices.has(userId));
    if (views.length === 0) {
      const elsewhere = ((await this.monthView(month)).userTeams.get(userId) ?? []).filter((teamId) => !likely.includes(teamId));
      views = (await Promise.all(elsewhere.map((teamId) => this.teamView(month, teamId)))).filter((view) => view.slices.has(userId));
    }

    const slices = views.map((view) => view.slices.get(userId)!);
    const records = await this.teamRecords_(slices.map((slice) => slice.teamId).filter((teamId) => teamId !== UNALLOCATED_TEAM));
    const own = callerBreakdown(slices);
    const self = placed.user;
    const firstSummary = slices[0]?.summary;
    return {
      month,
      user: {
        id: userId,
        name: self?.displayName || firstSummary?.userName || caller.name || '',
        upn: self?.upn || firstSummary?.upn || caller.upn || '',
      },
      currency: views.find((view) => view.currency !== null)?.currency ?? null,
      source: views.length > 0 ? combinedSource(views.map((view) => view.source)) : await this.emptySource(month),
      total: own.total,
      budget: null,
      byTeam: slices.map((slice) => ({
        ...figuresOf(slice.summary),
        teamId: slice.teamId,
        teamName: teamNameOf(slice.teamId, records.get(slice.teamId)),
        costCenter: records.get(slice.teamId)?.costCenter ?? null,
        allocation: slice.summary.allocation,
      })),
      byModel: own.byModel,
      byTier: own.byTier,
      byDay: own.byDay,
      lines: own.lines,
      asOf: views.reduce<Date>((oldest, view) => (view.asOf < oldest ? view.asOf : oldest), this.deps.clock.now()),
    };
  }

  /** Forgets every cached read, e.g. right after this process wrote new rollups. */
  clearCache(): void {
    this.teamViews.clear();
    this.closedMonths.clear();
    this.openMonthViews.clear();
    this.resolutions.clear();
    this.teamRecords.clear();
    this.closeRecords.clear();
    this.budgetPlans.clear();
  }

  private monthOf(text: string | undefined): string {
    if (text === undefined) return monthInZone(this.deps.clock.now(), this.deps.settings.timeZone);
    try {
      return parseMonth(text);
    } catch {
      throw new AppError('BAD_REQUEST', MONTH_RULE);
    }
  }

  /** The calendar day in the reporting zone: the last day an open month is read through. */
  private today(): string {
    return dayInZone(this.deps.clock.now(), this.deps.settings.timeZone);
  }

  /**
   * Runs one storage or directory call with a deadline: the signal tells the adapter to give up, and the
   * race makes sure the request does not wait longer even if an adapter ignores it.
   */
  private async call<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new AppError('TIMEOUT', `${what} did not answer within ${this.callTimeoutMs} ms`, { retryable: true });
        controller.abort(error);
        reject(error);
      }, this.callTimeoutMs);
    });
    try {
      return await Promise.race([run(controller.signal), deadline]);
    } catch (error) {
      if (controller.signal.aborted && !isAppError(error)) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private closeOf(month: string): Promise<MonthClose | undefined> {
    return this.closeRecords.getOrLoad(month, () => this.call('the close registry', (signal) => this.deps.closes.get(month, { signal })));
  }

  private async emptySource(month: string): Promise<FiguresSource> {
    const close = await this.closeOf(month);
    return close ? closedSource(close) : { status: 'open', asOf: null };
  }

  private budgetPlan(): Promise<BudgetPlan | undefined> {
    const budgets = this.deps.budgets;
    if (budgets === undefined) return Promise.resolve(undefined);
    return this.budgetPlans.getOrLoad('plan', async () => budgets.source.load({ currency: (await budgets.priceBooks.load()).currency }));
  }

  /** A closed month's finance report, built once per TTL from every stored line; null when nothing is stored. */
  private closedMonth(month: string, close: MonthClose): Promise<ClosedMonth | null> {
    return this.closedMonths.getOrLoad(`${month}|${close.revision}`, async () => {
      const asOf = this.deps.clock.now();
      const lines = inReportOrder(await this.call('the rollup store', (signal) => this.deps.rollups.readMonth(month, { signal })));
      if (lines.length === 0) return null;
      const context = storedRollupsContext({
        month,
        timeZone: this.deps.settings.timeZone,
        window: monthWindow(month, this.deps.settings.timeZone),
        currency: currencyOf(lines),
        asOf,
        revision: close.revision,
        priceBookVersion: close.priceBookVersion,
      });
      const report = buildMonthReport(lines, context);
      return { close, lines, report, context, view: monthViewOf(report, lines, closedSource(close), asOf), asOf };
    });
  }

  /**
   * A closed month with the team in its rollups is the team's slice of the finance report; anything else
   * reads the team's day partitions through today. A closed month where neither store has the team is the
   * closed month's zero.
   */
  private teamView(month: string, teamId: string): Promise<TeamMonthView> {
    return this.teamViews.getOrLoad(`${month}|${teamId}`, async () => {
      const asOf = this.deps.clock.now();
      const timeZone = this.deps.settings.timeZone;
      const close = await this.closeOf(month);
      if (close) {
        const closed = await this.closedMonth(month, close);
        if (closed !== null && closed.report.teams.some((team) => team.teamId === teamId)) {
          const teamLines = closed.lines.filter((line) => line.teamId === teamId);
          return teamMonthView(buildTeamReport(closed.lines, closed.report, teamId, closed.context), teamLines, closedSource(close), closed.asOf);
        }
      }
      const dayLines = await this.call('the daily rollup store', (signal) => this.deps.dailyRollups.readTeamDays(month, teamId, this.today(), { signal }));
      const closedZero = close !== undefined && dayLines.length === 0;
      const source: FiguresSource = closedZero
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
    });
  }

  private async monthView(month: string): Promise<MonthView> {
    const close = await this.closeOf(month);
    if (close) {
      const closed = await this.closedMonth(month, close);
      if (closed !== null) return closed.view;
    }
    return this.openMonthViews.getOrLoad(month, async () => {
      const asOf = this.deps.clock.now();
      const today = this.today();
      const series = (await this.call('the daily rollup store', (signal) => this.deps.dailyRollups.readMonthDailySeries(month, { signal }))).filter((total) => total.day <= today);
      if (close && series.length === 0) {
        const context = storedRollupsContext({ month, timeZone: this.deps.settings.timeZone, window: monthWindow(month, this.deps.settings.timeZone), currency: null, asOf, revision: close.revision, priceBookVersion: close.priceBookVersion });
        return monthViewOf(buildMonthReport([], context), [], closedSource(close), asOf);
      }
      return monthViewFromDailyTotals(series, asOf);
    });
  }

  private resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    const ids = [...new Set(userIds)].sort();
    return this.resolutions.getOrLoad(ids.join(','), () => this.call('the directory', (signal) => this.deps.directory.resolve(ids, { signal })));
  }

  /** The directory's record of one team (undefined when it does not know the team). */
  private async teamRecord(teamId: string): Promise<Team | undefined> {
    if (teamId === UNALLOCATED_TEAM) return undefined;
    const record = await this.teamRecords.getOrLoad(teamId, async () => (await this.call('the directory', (signal) => this.deps.directory.lookUpTeams([teamId], { signal }))).get(teamId) ?? null);
    return record ?? undefined;
  }

  private async teamRecords_(teamIds: readonly string[]): Promise<Map<string, Team>> {
    const records = await Promise.all(teamIds.map(async (teamId) => [teamId, await this.teamRecord(teamId)] as const));
    return new Map(records.filter((entry): entry is readonly [string, Team] => entry[1] !== undefined));
  }
}

function requireTeamId(text: string | undefined): string {
  // The length check comes first so no pattern ever runs over an oversized input.
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEAM_ID_LENGTH) throw new AppError('BAD_REQUEST', TEAM_ID_RULE);
  if (text !== UNALLOCATED_TEAM && !isValidTeamId(text)) throw new AppError('BAD_REQUEST', TEAM_ID_RULE);
  return text;
}

function forbidden(): AppError {
  return new AppError('FORBIDDEN', 'You are not allowed to see these costs');
}

function closedSource(close: MonthClose): FiguresSource {
  return { status: 'closed', revision: close.revision, closedAt: close.closedAt };
}

function teamNameOf(teamId: string, record: Team | undefined): string {
  if (teamId === UNALLOCATED_TEAM) return UNALLOCATED_TEAM_NAME;
  return record?.name ?? teamId;
}

/**
 * What the directory says about the caller: the team it places their oid in, and whether their oid is one of
 * the asked team's lead oids. Names and mail addresses in the token are never compared: their owners can
 * change them.
 */
function callerFacts(caller: Caller, resolution: DirectoryResolution, team: Team | undefined): CallerTeamFacts {
  const placed = allocate(caller.userId, resolution);
  const teamsLed = team !== undefined && isLeadOf(team, caller.userId) ? [team.id] : [];
  return { teamsLed, ownTeam: placed.allocation === 'team' ? placed.teamId : undefined };
}
