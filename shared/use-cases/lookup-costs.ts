/**
 * Team cost lookups for the HTTP API: a team's month, every team's month (finance), the caller's own usage.
 *
 * How it reads:
 * - A team-month is one single-partition query (`readTeamMonth`), turned once into a rounded, reconciled view
 *   (buildMonthReport) and kept in a short-TTL in-process cache keyed by month + team. Rollups change at most a
 *   few times a day, so a lead refreshing a dashboard costs no storage query for the TTL (COST_CACHE_TTL_SECONDS).
 * - The caller's own usage: the rollup store has no per-user index, and a user's month lives in exactly one
 *   team partition (the team they were allocated to when the month was rolled up). We read the partition of
 *   the caller's current team and the unallocated partition (two single-partition queries, both usually cached
 *   already for other callers). Only when neither holds the caller (they changed team after the rollup, or have
 *   no usage) do we fall back to the month-wide view, which is cached and shared with finance's all-teams list.
 *   That keeps the store's write path unchanged; a per-user index table would make the fallback a point read.
 *
 * Open and closed months: a month with a close record (CloseRegistry) is answered from its monthly rollups,
 * the numbers finance was sent. A month without one (the current month, or the previous one before the close
 * ran) is answered from the daily rollups the daily ingest keeps current: a team's day partitions from the
 * 1st through today, folded into monthly lines (monthlyLinesFromDayLines) so the same view code serves both,
 * and the month's per-team daily totals for the all-teams list. A closed month whose monthly rollups lack the
 * team falls back to the daily store too. Every answer says which (`source`).
 *
 * Budget and forecast: when the team has a budget (BudgetSource), the answer carries it with the percentage
 * used, and the month-end forecast (forecastMonthEnd over the team's daily costs; a closed month's forecast
 * is its total). Without a budget both stay null.
 *
 * Rounding: a team view rounds the team's exact total once and shares it out (users, models, tiers, days) by
 * largest remainder, so every list sums to the total above it. The all-teams list shares the month's rounded
 * grand total across teams the way the finance workbook does; a team's amount there can therefore differ by at
 * most one cent from the same team's standalone total. Both carry the identical exact amount.
 *
 * Authorization uses shared/domain/access.ts. Non-finance callers get the same FORBIDDEN for a team that does
 * not exist as for someone else's team, so the answer never reveals which team ids exist.
 */
import { authorizeAllTeams, authorizeOwnCosts, authorizeTeamCosts, isFinance, type AccessRoles, type Caller, type CallerTeamFacts } from '../domain/access.js';
import { allocate, isValidTeamId, UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME, type Allocation, type DirectoryResolution, type Team } from '../domain/directory.js';
import { AppError } from '../domain/errors.js';
import { forecastMonthEnd, percentOf, type DailyAmount, type MonthForecast, type TeamBudget, type BudgetPlan } from '../domain/budgets.js';
import { monthlyLinesFromDayLines, type TeamDayTotal } from '../domain/daily.js';
import { allocateMinorUnits, Money, money, sumMoney, toMinorUnits, ZERO } from '../domain/money.js';
import { dayInZone, monthInZone, monthWindow, parseMonth } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import { buildMonthReport } from '../domain/report.js';
import { lineKey, type MonthlyLine } from '../domain/rollup.js';
import { addTokensInto, totalTokens, zeroTokens, type TokenCounts } from '../domain/tokens.js';
import type { BudgetSource } from '../ports/budget-source.js';
import type { DailyRollupStore } from '../ports/daily-rollup-store.js';
import type { Directory } from '../ports/directory.js';
import type { CloseRegistry, MonthClose } from '../ports/ledger.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock } from '../ports/runtime.js';
import { TtlCache } from './ttl-cache.js';

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
  };
}

/** Amounts are whole minor units (cents); every list's amounts sum exactly to the total it belongs to. */
export interface CostFigures {
  readonly amount: bigint;
  readonly tokens: TokenCounts;
  readonly requests: number;
  /** Tokens of days no price was in force for: shown apart, never priced as a silent zero. */
  readonly unpricedTokens: number;
}

export interface TeamTotal extends CostFigures {
  /** The exact decimal total before rounding. */
  readonly exactAmount: string;
  /** Distinct users; null in an open month's all-teams list (the daily totals it reads do not count users). */
  readonly users: number | null;
}

export interface ModelCosts extends CostFigures {
  readonly model: string;
  readonly pricedModel: string | null;
}

export interface TierCosts extends CostFigures {
  readonly tier: string;
}

export interface UserCosts extends CostFigures {
  readonly userId: string;
  readonly userName: string;
  readonly upn: string;
  readonly allocation: Allocation;
}

export interface DayCosts extends CostFigures {
  readonly day: string;
}

export interface LineCosts extends CostFigures {
  readonly teamId: string;
  readonly model: string;
  readonly pricedModel: string | null;
  readonly tier: string;
  readonly allocation: Allocation;
}

export interface CostBreakdown {
  /** 'team': the whole team; 'caller': only the caller's own usage (a member looking at their team). */
  readonly scope: 'team' | 'caller';
  readonly total: CostFigures;
  readonly byModel: readonly ModelCosts[];
  readonly byTier: readonly TierCosts[];
  readonly byUser: readonly UserCosts[];
  readonly byDay: readonly DayCosts[];
  /** The caller's own lines (user x model x tier) in the caller scope; null in the team scope. */
  readonly lines: readonly LineCosts[] | null;
}

/**
 * Which store answered. closed: the month's rollups as closed (revision 1, or later when numbers changed
 * after the close). open: the daily rollups, month to date; `asOf` is the latest day they hold usage for in
 * what was read (null when there is none yet).
 */
export type FiguresSource =
  | { readonly status: 'closed'; readonly revision: number; readonly closedAt: Date }
  | { readonly status: 'open'; readonly asOf: string | null };

/** A team's budget for the month against what it has spent. Amounts are whole minor units (cents). */
export interface BudgetStatus {
  readonly amount: bigint;
  readonly currency: string;
  /** The team's total (the same figure as `total.amount`). */
  readonly used: bigint;
  /** amount - used; negative when the budget is overspent. */
  readonly remaining: bigint;
  /** Exact spend over the exact budget, in percent, cut (not rounded) to one decimal: "99.9" until it is 100. */
  readonly usedPercent: string;
}

/** The month-end projection; given with a budget only. */
export interface Forecast {
  readonly amount: bigint;
  readonly exactAmount: string;
  /** The forecast as a percentage of the budget, cut to one decimal. */
  readonly budgetPercent: string;
  /** How it was projected (see forecastMonthEnd); 'closed': a closed month's forecast is its total. */
  readonly basis: MonthForecast['basis'] | 'closed';
  /** The day the projection was made for (the reporting zone's today); null for a closed month. */
  readonly today: string | null;
  readonly workingDayRate: bigint | null;
  readonly weekendDayRate: bigint | null;
  readonly remainingWorkingDays: number;
  readonly remainingWeekendDays: number;
}

export type AccessBasis = 'finance' | 'lead' | 'member';

export interface TeamCosts {
  readonly month: string;
  readonly team: { readonly id: string; readonly name: string };
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
const DIRECTORY_CACHE_MAX_ENTRIES = 4096;
const MAX_TEAM_ID_LENGTH = 63;

export const TEAM_ID_RULE = 'team must be a team id: 1-63 characters of lowercase letters, digits, ".", "_" or "-", starting with a letter or digit';
export const MONTH_RULE = 'month must be YYYY-MM, for example 2026-10';

export class CostLookup {
  private readonly teamViews: TtlCache<TeamMonthView>;
  private readonly monthViews: TtlCache<MonthView>;
  private readonly resolutions: TtlCache<DirectoryResolution>;
  private readonly closeRecords: TtlCache<MonthClose | undefined>;
  private readonly budgetPlans: TtlCache<BudgetPlan>;

  constructor(private readonly deps: LookupCostsDeps) {
    const ttlSeconds = deps.settings.cacheTtlSeconds;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new AppError('CONFIG_INVALID', `the cost cache TTL must be 0 or more seconds, got ${ttlSeconds}`);
    const options = (maxEntries: number) => ({ ttlMs: ttlSeconds * 1000, maxEntries, now: () => deps.clock.now().getTime() });
    this.teamViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.monthViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.resolutions = new TtlCache(options(DIRECTORY_CACHE_MAX_ENTRIES));
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

    let resolution = await this.resolve(finance ? [] : [caller.userId]);
    let decision = authorizeTeamCosts(caller, teamId, callerFacts(caller, resolution), roles);
    if ('denied' in decision && !resolution.teams.has(teamId)) {
      // A directory may answer only with the teams of the users asked about (Graph does): one member of the
      // team, taken from its rollups, brings the team's record and so its leads.
      const sample = (await this.teamView(month, teamId)).memberSample;
      if (sample !== undefined) {
        resolution = await this.resolve([caller.userId, sample]);
        decision = authorizeTeamCosts(caller, teamId, callerFacts(caller, resolution), roles);
      }
    }
    if ('denied' in decision) throw forbidden();

    const view = await this.teamView(month, teamId);
    if (!resolution.teams.has(teamId) && view.memberSample !== undefined) resolution = await this.resolve([caller.userId, view.memberSample]);
    const team = resolution.teams.get(teamId);
    if (decision.basis === 'finance' && team === undefined && view.lineCount === 0 && teamId !== UNALLOCATED_TEAM) {
      throw new AppError('NOT_FOUND', `No usage is recorded for this team in ${month} and the directory does not know it`);
    }

    const plan = await this.budgetPlan();
    const teamName = teamNameOf(teamId, resolution.teams);
    const today = this.today();
    // A full view depends on nothing about the caller but the basis of their access: while its inputs are the
    // same, every such caller gets the same result object, so its wire form is built once (cost-responses.ts).
    const memoKey = decision.view === 'full' ? decision.basis : undefined;
    const memo = memoKey === undefined ? undefined : view.fullResults.get(memoKey);
    if (memo !== undefined && memo.teamName === teamName && memo.plan === plan && memo.today === today) return memo.result;

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
    const common = {
      month,
      team: { id: teamId, name: teamName },
      currency: view.currency,
      source: view.source,
      total: view.total,
      budget,
      forecast,
      asOf: view.asOf,
    };
    if (decision.view === 'full') {
      const result: TeamCosts = {
        ...common,
        access: decision.basis,
        view: 'full',
        breakdown: { scope: 'team', total: view.total, byModel: view.models, byTier: view.tiers, byUser: view.users, byDay: view.days, lines: null },
      };
      view.fullResults.set(decision.basis, { teamName, plan, today, result });
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
    const [resolution, plan] = await Promise.all([this.resolve([...view.sampleMembers.values()]), this.budgetPlan()]);
    const budgets = new Map((plan?.budgetsFor(month) ?? []).map((budget) => [budget.teamId, budget]));
    const today = this.today();
    return {
      month,
      currency: view.currency,
      source: view.source,
      total: view.total,
      teams: view.teams.map((team) => ({
        ...team,
        teamName: teamNameOf(team.teamId, resolution.teams),
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
      byTeam: slices.map((slice) => ({ ...figuresOf(slice.summary), teamId: slice.teamId, teamName: teamNameOf(slice.teamId, resolution.teams), allocation: slice.summary.allocation })),
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
    this.monthViews.clear();
    this.resolutions.clear();
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

  private closeOf(month: string): Promise<MonthClose | undefined> {
    return this.closeRecords.getOrLoad(month, () => this.deps.closes.get(month));
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

  /**
   * A closed month with the team in its rollups reads those; anything else reads the team's day partitions
   * through today. A closed month where neither store has the team is the closed month's zero.
   */
  private teamView(month: string, teamId: string): Promise<TeamMonthView> {
    return this.teamViews.getOrLoad(`${month}|${teamId}`, async () => {
      const asOf = this.deps.clock.now();
      const timeZone = this.deps.settings.timeZone;
      const close = await this.closeOf(month);
      if (close) {
        const lines = await this.deps.rollups.readTeamMonth(month, teamId);
        if (lines.length > 0) return buildTeamView(month, teamId, lines, asOf, timeZone, closedSource(close));
      }
      const dayLines = await this.deps.dailyRollups.readTeamDays(month, teamId, this.today());
      if (close && dayLines.length === 0) return buildTeamView(month, teamId, [], asOf, timeZone, closedSource(close));
      const lastDay = dayLines.reduce<string | null>((latest, line) => (latest === null || line.day > latest ? line.day : latest), null);
      return buildTeamView(month, teamId, monthlyLinesFromDayLines(month, dayLines), asOf, timeZone, { status: 'open', asOf: lastDay });
    });
  }

  private monthView(month: string): Promise<MonthView> {
    return this.monthViews.getOrLoad(month, async () => {
      const asOf = this.deps.clock.now();
      const close = await this.closeOf(month);
      if (close) {
        const lines = await this.deps.rollups.readMonth(month);
        if (lines.length > 0) return buildMonthView(month, lines, asOf, this.deps.settings.timeZone, closedSource(close));
      }
      const today = this.today();
      const series = (await this.deps.dailyRollups.readMonthDailySeries(month)).filter((total) => total.day <= today);
      if (close && series.length === 0) return buildMonthView(month, [], asOf, this.deps.settings.timeZone, closedSource(close));
      return buildMonthViewFromDailyTotals(series, asOf);
    });
  }

  private resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    const ids = [...new Set(userIds)].sort();
    return this.resolutions.getOrLoad(ids.join(','), () => this.deps.directory.resolve(ids));
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

function teamNameOf(teamId: string, teams: ReadonlyMap<string, Team>): string {
  if (teamId === UNALLOCATED_TEAM) return UNALLOCATED_TEAM_NAME;
  return teams.get(teamId)?.name ?? teamId;
}

/** Leads are mail addresses in the directory; tokens carry the caller's UPN, compared without case. */
function callerFacts(caller: Caller, resolution: DirectoryResolution): CallerTeamFacts {
  const placed = allocate(caller.userId, resolution);
  const upn = caller.upn?.trim().toLowerCase();
  const teamsLed =
    upn === undefined || upn === ''
      ? []
      : [...resolution.teams.values()].filter((team) => team.leads.some((lead) => lead.trim().toLowerCase() === upn)).map((team) => team.id);
  return { teamsLed, ownTeam: placed.allocation === 'team' ? placed.teamId : undefined };
}

// ---------------------------------------------------------------------------------------------------------
// Views: what one read of the store turns into, computed once per cache entry.

interface Accumulator {
  exact: Money;
  tokens: TokenCounts;
  requests: number;
  unpricedTokens: number;
}

/** One user's part of a team-month, enough to answer that user's own questions without the raw lines. */
interface UserSlice {
  readonly teamId: string;
  readonly summary: UserCosts;
  readonly lines: readonly { readonly costs: LineCosts; readonly exact: Money }[];
  readonly days: ReadonlyMap<string, Accumulator>;
}

interface TeamMonthView {
  readonly currency: string | null;
  readonly asOf: Date;
  readonly source: FiguresSource;
  /** The team's exact cost per day, for the forecast. */
  readonly dailyCosts: readonly DailyAmount[];
  readonly lineCount: number;
  readonly total: TeamTotal;
  readonly models: readonly ModelCosts[];
  readonly tiers: readonly TierCosts[];
  readonly users: readonly UserCosts[];
  readonly days: readonly DayCosts[];
  readonly slices: ReadonlyMap<string, UserSlice>;
  /** A user the directory places in this team, to look the team up by (undefined for an empty team). */
  readonly memberSample: string | undefined;
  /** The last full result per access basis and what it was built from; dropped with the view. */
  readonly fullResults: Map<'finance' | 'lead', { teamName: string; plan: BudgetPlan | undefined; today: string; result: TeamCosts }>;
}

interface MonthView {
  readonly currency: string | null;
  readonly asOf: Date;
  readonly source: FiguresSource;
  /** Each team's exact cost per day (open months only: a closed month's forecast is its total). */
  readonly dailyCosts: ReadonlyMap<string, readonly DailyAmount[]>;
  readonly total: TeamTotal;
  readonly teams: readonly (TeamTotal & { readonly teamId: string })[];
  /** userId -> the team partitions holding that user's lines. */
  readonly userTeams: ReadonlyMap<string, readonly string[]>;
  readonly sampleMembers: ReadonlyMap<string, string>;
}

function buildTeamView(month: string, teamId: string, lines: readonly MonthlyLine[], asOf: Date, timeZone: string, source: FiguresSource): TeamMonthView {
  const currency = currencyOf(lines);
  const report = buildMonthReport(lines, reportContext(month, currency, asOf, timeZone));
  const summary = report.teams[0];
  const amount = summary?.amount ?? 0n;
  const exactByLine = new Map(lines.map((line) => [lineKey(line), line]));

  const tierUnpriced = new Map<string, number>();
  const teamDays = new Map<string, Accumulator>();
  const userDays = new Map<string, Map<string, Accumulator>>();
  for (const line of lines) {
    tierUnpriced.set(line.tier, (tierUnpriced.get(line.tier) ?? 0) + totalTokens(line.unpricedTokens));
    let days = userDays.get(line.userId);
    if (!days) userDays.set(line.userId, (days = new Map()));
    for (const day of line.days) {
      const unpriced = day.cost === null ? totalTokens(day.tokens) : 0;
      accumulate(teamDays, day.day, day.cost ?? ZERO, day.tokens, day.requests, unpriced);
      accumulate(days, day.day, day.cost ?? ZERO, day.tokens, day.requests, unpriced);
    }
  }

  const linesByUser = new Map<string, { costs: LineCosts; exact: Money }[]>();
  for (const reportLine of report.lines) {
    const source = exactByLine.get(lineKey(reportLine))!;
    const list = linesByUser.get(reportLine.userId) ?? [];
    list.push({
      exact: source.cost,
      costs: {
        teamId: reportLine.teamId,
        model: reportLine.model,
        pricedModel: reportLine.pricedModel,
        tier: reportLine.tier,
        allocation: reportLine.allocation,
        amount: reportLine.amount,
        tokens: reportLine.tokens,
        requests: reportLine.requests,
        unpricedTokens: totalTokens(reportLine.unpricedTokens),
      },
    });
    linesByUser.set(reportLine.userId, list);
  }

  const users: UserCosts[] = report.users.map((user) => ({
    userId: user.userId,
    userName: user.userName,
    upn: user.upn,
    allocation: user.allocation,
    amount: user.amount,
    tokens: user.tokens,
    requests: user.requests,
    unpricedTokens: (linesByUser.get(user.userId) ?? []).reduce((sum, line) => sum + line.costs.unpricedTokens, 0),
  }));
  const slices = new Map<string, UserSlice>(
    users.map((user) => [user.userId, { teamId, summary: user, lines: linesByUser.get(user.userId) ?? [], days: userDays.get(user.userId) ?? new Map() }]),
  );

  return {
    currency,
    asOf,
    source,
    dailyCosts: [...teamDays.entries()].map(([day, figures]) => ({ day, cost: figures.exact })),
    lineCount: lines.length,
    total: {
      amount,
      exactAmount: report.exactTotal,
      tokens: report.tokens,
      requests: report.requests,
      unpricedTokens: summary?.unpricedTokens ?? 0,
      users: summary?.users ?? 0,
    },
    models: report.models.map((model) => ({
      model: model.model,
      pricedModel: model.pricedModel,
      amount: model.amount,
      tokens: model.tokens,
      requests: model.requests,
      unpricedTokens: model.unpricedTokens,
    })),
    tiers: report.tiers.map((tier) => ({ tier: tier.tier, amount: tier.amount, tokens: tier.tokens, requests: tier.requests, unpricedTokens: tierUnpriced.get(tier.tier) ?? 0 })),
    users,
    days: shareOut(teamDays, amount).map(([day, figures]) => ({ day, ...figures })),
    slices,
    memberSample: lines.find((line) => line.allocation === 'team')?.userId,
    fullResults: new Map(),
  };
}

function buildMonthView(month: string, lines: readonly MonthlyLine[], asOf: Date, timeZone: string, source: FiguresSource): MonthView {
  const currency = currencyOf(lines);
  const report = buildMonthReport(lines, reportContext(month, currency, asOf, timeZone));
  const userTeams = new Map<string, string[]>();
  const sampleMembers = new Map<string, string>();
  for (const line of lines) {
    const teams = userTeams.get(line.userId) ?? [];
    if (!teams.includes(line.teamId)) teams.push(line.teamId);
    userTeams.set(line.userId, teams);
    if (line.allocation === 'team' && !sampleMembers.has(line.teamId)) sampleMembers.set(line.teamId, line.userId);
  }
  const teams = report.teams.map((team) => ({
    teamId: team.teamId,
    amount: team.amount,
    exactAmount: sumExact(lines.filter((line) => line.teamId === team.teamId)),
    tokens: team.tokens,
    requests: team.requests,
    unpricedTokens: team.unpricedTokens,
    users: team.users,
  }));
  return {
    currency,
    asOf,
    source,
    dailyCosts: new Map(),
    total: {
      amount: report.grandTotal,
      exactAmount: report.exactTotal,
      tokens: report.tokens,
      requests: report.requests,
      unpricedTokens: teams.reduce((sum, team) => sum + team.unpricedTokens, 0),
      users: userTeams.size,
    },
    teams,
    userTeams,
    sampleMembers,
  };
}

/**
 * An open month's all-teams list from the per-team daily totals: one small query instead of every line. The
 * team amounts share the rounded grand total by largest remainder, as the closed month's list does. The
 * totals do not say who the users were, so `users` is null and no member sample names the teams.
 */
function buildMonthViewFromDailyTotals(series: readonly TeamDayTotal[], asOf: Date): MonthView {
  const currencies = new Set(series.map((total) => total.currency));
  if (currencies.size > 1) throw new AppError('STORAGE_FAILED', `The stored daily totals mix currencies (${[...currencies].sort().join(', ')}); they cannot be added up`);
  const groups = new Map<string, Accumulator>();
  const dailyCosts = new Map<string, DailyAmount[]>();
  let lastDay: string | null = null;
  for (const total of series) {
    accumulate(groups, total.teamId, total.cost, total.tokens, total.requests, totalTokens(total.unpricedTokens));
    const days = dailyCosts.get(total.teamId) ?? [];
    days.push({ day: total.day, cost: total.cost });
    dailyCosts.set(total.teamId, days);
    if (lastDay === null || total.day > lastDay) lastDay = total.day;
  }
  const exactTotal = sumMoney([...groups.values()].map((group) => group.exact));
  const grandTotal = toMinorUnits(exactTotal);
  const shares = shareOut(groups, grandTotal);
  const tokens = zeroTokens();
  for (const [, figures] of shares) addTokensInto(tokens, figures.tokens);
  // The closed month's list order: teams by id, the unallocated bucket last.
  const teams = shares
    .map(([teamId, figures]) => ({ teamId, ...figures, exactAmount: groups.get(teamId)!.exact.toFixed(), users: null }))
    .sort((a, b) => Number(a.teamId === UNALLOCATED_TEAM) - Number(b.teamId === UNALLOCATED_TEAM) || a.teamId.localeCompare(b.teamId));
  return {
    currency: series[0]?.currency ?? null,
    asOf,
    source: { status: 'open', asOf: lastDay },
    dailyCosts,
    total: {
      amount: grandTotal,
      exactAmount: exactTotal.toFixed(),
      tokens,
      requests: teams.reduce((sum, team) => sum + team.requests, 0),
      unpricedTokens: teams.reduce((sum, team) => sum + team.unpricedTokens, 0),
      users: null,
    },
    teams,
    userTeams: new Map(),
    sampleMembers: new Map(),
  };
}

function closedSource(close: MonthClose): FiguresSource {
  return { status: 'closed', revision: close.revision, closedAt: close.closedAt };
}

/** The caller's figures may come from several team partitions: open if any of them is, as of the latest day. */
function combinedSource(sources: readonly FiguresSource[]): FiguresSource {
  const open = sources.filter((source): source is Extract<FiguresSource, { status: 'open' }> => source.status === 'open');
  if (open.length === 0) return sources[0]!;
  const days = open.map((source) => source.asOf).filter((day): day is string => day !== null).sort();
  return { status: 'open', asOf: days.at(-1) ?? null };
}

const PERCENT_DECIMALS = 1;

function percentText(amount: Money, budget: Money): string {
  return percentOf(amount, budget).toDecimalPlaces(PERCENT_DECIMALS, Money.ROUND_DOWN).toFixed(PERCENT_DECIMALS);
}

/**
 * The budget standing and forecast of one team: null both when the team has no budget. An open month is
 * projected from its daily costs as of `today`; a closed month's forecast is its total.
 */
function budgetAndForecast(
  budget: TeamBudget | undefined,
  figures: {
    month: string;
    today: string;
    source: FiguresSource;
    currency: string | null;
    amount: bigint;
    exactAmount: Money;
    dailyCosts: readonly DailyAmount[];
  },
): { budget: BudgetStatus | null; forecast: Forecast | null } {
  if (budget === undefined) return { budget: null, forecast: null };
  if (figures.currency !== null && figures.currency !== budget.currency) {
    throw new AppError('CONFIG_INVALID', `The budget of team ${budget.teamId} is in ${budget.currency} but its costs are in ${figures.currency}`);
  }
  const budgetAmount = toMinorUnits(budget.amount);
  const status: BudgetStatus = {
    amount: budgetAmount,
    currency: budget.currency,
    used: figures.amount,
    remaining: budgetAmount - figures.amount,
    usedPercent: percentText(figures.exactAmount, budget.amount),
  };
  if (figures.source.status === 'closed') {
    return {
      budget: status,
      forecast: {
        amount: figures.amount,
        exactAmount: figures.exactAmount.toFixed(),
        budgetPercent: percentText(figures.exactAmount, budget.amount),
        basis: 'closed',
        today: null,
        workingDayRate: null,
        weekendDayRate: null,
        remainingWorkingDays: 0,
        remainingWeekendDays: 0,
      },
    };
  }
  const projected = forecastMonthEnd(figures.month, figures.today, figures.dailyCosts);
  return {
    budget: status,
    forecast: {
      amount: toMinorUnits(projected.forecast),
      exactAmount: projected.forecast.toFixed(),
      budgetPercent: percentText(projected.forecast, budget.amount),
      basis: projected.basis,
      today: projected.today,
      workingDayRate: toMinorUnits(projected.workingDayRate),
      weekendDayRate: toMinorUnits(projected.weekendDayRate),
      remainingWorkingDays: projected.remainingWorkingDays,
      remainingWeekendDays: projected.remainingWeekendDays,
    },
  };
}

/**
 * The caller's own figures across one or more team slices. The total is the sum of the caller's shares of
 * their teams (the same amounts a lead sees for them); the breakdowns share that total out by exact cost.
 */
function callerBreakdown(slices: readonly UserSlice[]): {
  total: CostFigures;
  byModel: ModelCosts[];
  byTier: TierCosts[];
  byDay: DayCosts[];
  lines: LineCosts[];
} {
  const amount = slices.reduce((sum, slice) => sum + slice.summary.amount, 0n);
  const tokens = zeroTokens();
  let requests = 0;
  let unpricedTokens = 0;
  const models = new Map<string, Accumulator>();
  const pricedModels = new Map<string, string | null>();
  const tiers = new Map<string, Accumulator>();
  const days = new Map<string, Accumulator>();
  const lines: LineCosts[] = [];
  for (const slice of slices) {
    addTokensInto(tokens, slice.summary.tokens);
    requests += slice.summary.requests;
    unpricedTokens += slice.summary.unpricedTokens;
    for (const line of slice.lines) {
      lines.push(line.costs);
      accumulate(models, line.costs.model, line.exact, line.costs.tokens, line.costs.requests, line.costs.unpricedTokens);
      if (!pricedModels.has(line.costs.model)) pricedModels.set(line.costs.model, line.costs.pricedModel);
      accumulate(tiers, line.costs.tier, line.exact, line.costs.tokens, line.costs.requests, line.costs.unpricedTokens);
    }
    for (const [day, figures] of slice.days) accumulate(days, day, figures.exact, figures.tokens, figures.requests, figures.unpricedTokens);
  }
  const total: CostFigures = { amount, tokens, requests, unpricedTokens };
  return {
    total,
    byModel: shareOut(models, total.amount).map(([model, figures]) => ({ model, pricedModel: pricedModels.get(model) ?? null, ...figures })),
    byTier: shareOut(tiers, total.amount).map(([tier, figures]) => ({ tier, ...figures })),
    byDay: shareOut(days, total.amount).map(([day, figures]) => ({ day, ...figures })),
    lines,
  };
}

function accumulate(groups: Map<string, Accumulator>, key: string, exact: Money, tokens: TokenCounts, requests: number, unpricedTokens: number): void {
  let group = groups.get(key);
  if (!group) groups.set(key, (group = { exact: ZERO, tokens: zeroTokens(), requests: 0, unpricedTokens: 0 }));
  group.exact = group.exact.plus(exact);
  addTokensInto(group.tokens, tokens);
  group.requests += requests;
  group.unpricedTokens += unpricedTokens;
}

/** Splits `target` over the groups in key order by their exact totals (largest remainder), as reports do. */
function shareOut(groups: ReadonlyMap<string, Accumulator>, target: bigint): [string, CostFigures][] {
  const keys = [...groups.keys()].sort((a, b) => a.localeCompare(b));
  const amounts = allocateMinorUnits(
    keys.map((key) => groups.get(key)!.exact),
    target,
  );
  return keys.map((key, index) => {
    const group = groups.get(key)!;
    return [key, { amount: amounts[index]!, tokens: group.tokens, requests: group.requests, unpricedTokens: group.unpricedTokens }];
  });
}

function figuresOf(figures: CostFigures): CostFigures {
  return { amount: figures.amount, tokens: figures.tokens, requests: figures.requests, unpricedTokens: figures.unpricedTokens };
}

function sumExact(lines: readonly MonthlyLine[]): string {
  return lines.reduce((sum, line) => sum.plus(line.cost), ZERO).toFixed();
}

function currencyOf(lines: readonly MonthlyLine[]): string | null {
  const currencies = new Set(lines.map((line) => line.currency));
  if (currencies.size > 1) {
    throw new AppError('STORAGE_FAILED', `The stored rollups mix currencies (${[...currencies].sort().join(', ')}); they cannot be added up`);
  }
  return lines[0]?.currency ?? null;
}

/**
 * buildMonthReport wants a price book for the currency and the prices-used list. Rollups carry their own
 * costs and price entry ids, so a lookup needs neither: an empty book in the rollups' currency does.
 */
function reportContext(month: string, currency: string | null, asOf: Date, timeZone: string) {
  const priceBook: PriceBook = {
    version: 'stored-rollups',
    source: 'rollup store',
    currency: currency ?? '',
    models: [],
    resolveModel: () => undefined,
    priceFor: () => undefined,
  };
  return {
    month,
    timeZone,
    window: monthWindow(month, timeZone),
    generatedAt: asOf,
    revision: 0,
    priceBook,
    teams: new Map<string, Team>(),
    sourceDescription: 'rollup store',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  };
}
