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
 * What it reads comes through CostReads (cost-reads.ts: the loads, each with a deadline and an AbortSignal);
 * the HTTP edge puts its one cache in front of them (adapters/http/cached-cost-reads.ts). This file caches
 * nothing but the last full result per view, so a cached view's wire text is built once.
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
import { closedSource, type CostReads } from './cost-reads.js';

export type { BudgetStatus, CostBreakdown, CostFigures, DayCosts, FiguresSource, Forecast, LineCosts, ModelCosts, TeamTotal, TierCosts };
export type { UserCosts } from '../domain/cost-views.js';

export interface LookupCostsDeps {
  /** The reads, with their deadlines; the HTTP edge puts its cache in front (cachedCostLookup). */
  readonly reads: CostReads;
  readonly clock: Clock;
  readonly settings: {
    readonly timeZone: string;
    readonly roles: AccessRoles;
  };
}

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

const MAX_TEAM_ID_LENGTH = 63;

export const TEAM_ID_RULE = 'team must be a team id: 1-63 characters of lowercase letters, digits, ".", "_" or "-", starting with a letter or digit';
export const MONTH_RULE = 'month must be YYYY-MM, for example 2026-10';

type FullResultMemo = Map<'finance' | 'lead', { teamName: string; costCenter: string | null; plan: BudgetPlan | undefined; today: string; result: TeamCosts }>;

export class CostLookup {
  /** A full view's result per access basis, kept with the view it was built from (and dropped with it). */
  private readonly fullResults = new WeakMap<TeamMonthView, FullResultMemo>();

  constructor(private readonly deps: LookupCostsDeps) {}

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

  private monthOf(text: string | undefined): string {
    if (text === undefined) return monthInZone(this.deps.clock.now(), this.deps.settings.timeZone);
    try {
      return parseMonth(text);
    } catch {
      throw new AppError('BAD_REQUEST', MONTH_RULE);
    }
  }

  /** The calendar day in the reporting zone: the day an open month's forecast is made for. */
  private today(): string {
    return dayInZone(this.deps.clock.now(), this.deps.settings.timeZone);
  }

  private async emptySource(month: string): Promise<FiguresSource> {
    const close = await this.deps.reads.closeOf(month);
    return close ? closedSource(close) : { status: 'open', asOf: null };
  }

  private budgetPlan(): Promise<BudgetPlan | undefined> {
    return this.deps.reads.budgetPlan();
  }

  /**
   * Source selection. A closed month with the team in its rollups is the team's slice of the finance report;
   * anything else reads the team's day partitions through today (a closed month whose rollups lack the team
   * says `open`, or is the closed month's zero when the daily store has nothing either).
   */
  private async teamView(month: string, teamId: string): Promise<TeamMonthView> {
    const close = await this.deps.reads.closeOf(month);
    if (close) {
      const closed = await this.deps.reads.closedMonth(month, close);
      if (closed !== null && closed.hasTeam(teamId)) return closed.teamView(teamId);
    }
    return this.deps.reads.dailyTeamView(month, teamId, close);
  }

  private async monthView(month: string): Promise<MonthView> {
    const close = await this.deps.reads.closeOf(month);
    if (close) {
      const closed = await this.deps.reads.closedMonth(month, close);
      if (closed !== null) return closed.view;
    }
    return this.deps.reads.dailyMonthView(month, close);
  }

  private resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    return this.deps.reads.resolve(userIds);
  }

  private teamRecord(teamId: string): Promise<Team | undefined> {
    return this.deps.reads.teamRecord(teamId);
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
