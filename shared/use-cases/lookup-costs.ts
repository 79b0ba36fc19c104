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
import { allocateMinorUnits, ZERO, type Money } from '../domain/money.js';
import { monthInZone, monthWindow, parseMonth } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import { buildMonthReport } from '../domain/report.js';
import { lineKey, type MonthlyLine } from '../domain/rollup.js';
import { addTokensInto, totalTokens, zeroTokens, type TokenCounts } from '../domain/tokens.js';
import type { Directory } from '../ports/directory.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock } from '../ports/runtime.js';
import { TtlCache } from './ttl-cache.js';

export interface LookupCostsDeps {
  readonly rollups: RollupStore;
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
  readonly users: number;
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
 * Placeholders until budgets land (another issue): the fields are part of the response now, always null, so
 * clients and the CSV layout do not change shape when they are filled in.
 */
export type BudgetStatus = null;
export type Forecast = null;

export type AccessBasis = 'finance' | 'lead' | 'member';

export interface TeamCosts {
  readonly month: string;
  readonly team: { readonly id: string; readonly name: string };
  /** null when the team has no usage in the month (nothing to take a currency from). */
  readonly currency: string | null;
  readonly access: AccessBasis;
  readonly view: 'full' | 'own-lines-and-team-total';
  readonly total: TeamTotal;
  readonly budget: BudgetStatus;
  readonly forecast: Forecast;
  readonly breakdown: CostBreakdown;
  /** When the figures were read from the rollup store; a cached read is at most the cache TTL old. */
  readonly asOf: Date;
}

export interface TeamListEntry extends TeamTotal {
  readonly teamId: string;
  readonly teamName: string;
  readonly budget: BudgetStatus;
  readonly forecast: Forecast;
}

export interface AllTeamsCosts {
  readonly month: string;
  readonly currency: string | null;
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
  readonly total: CostFigures;
  readonly budget: BudgetStatus;
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

  constructor(private readonly deps: LookupCostsDeps) {
    const ttlSeconds = deps.settings.cacheTtlSeconds;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new AppError('CONFIG_INVALID', `the cost cache TTL must be 0 or more seconds, got ${ttlSeconds}`);
    const options = (maxEntries: number) => ({ ttlMs: ttlSeconds * 1000, maxEntries, now: () => deps.clock.now().getTime() });
    this.teamViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.monthViews = new TtlCache(options(VIEW_CACHE_MAX_ENTRIES));
    this.resolutions = new TtlCache(options(DIRECTORY_CACHE_MAX_ENTRIES));
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

    const common = {
      month,
      team: { id: teamId, name: teamNameOf(teamId, resolution.teams) },
      currency: view.currency,
      total: view.total,
      budget: null,
      forecast: null,
      asOf: view.asOf,
    };
    if (decision.view === 'full') {
      return {
        ...common,
        access: decision.basis,
        view: 'full',
        breakdown: { scope: 'team', total: view.total, byModel: view.models, byTier: view.tiers, byUser: view.users, byDay: view.days, lines: null },
      };
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
    const resolution = await this.resolve([...view.sampleMembers.values()]);
    return {
      month,
      currency: view.currency,
      total: view.total,
      teams: view.teams.map((team) => ({ ...team, teamName: teamNameOf(team.teamId, resolution.teams), budget: null, forecast: null })),
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
  }

  private monthOf(text: string | undefined): string {
    if (text === undefined) return monthInZone(this.deps.clock.now(), this.deps.settings.timeZone);
    try {
      return parseMonth(text);
    } catch {
      throw new AppError('BAD_REQUEST', MONTH_RULE);
    }
  }

  private teamView(month: string, teamId: string): Promise<TeamMonthView> {
    return this.teamViews.getOrLoad(`${month}|${teamId}`, async () => {
      const asOf = this.deps.clock.now();
      const lines = await this.deps.rollups.readTeamMonth(month, teamId);
      return buildTeamView(month, teamId, lines, asOf, this.deps.settings.timeZone);
    });
  }

  private monthView(month: string): Promise<MonthView> {
    return this.monthViews.getOrLoad(month, async () => {
      const asOf = this.deps.clock.now();
      const lines = await this.deps.rollups.readMonth(month);
      return buildMonthView(month, lines, asOf, this.deps.settings.timeZone);
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
  readonly lineCount: number;
  readonly total: TeamTotal;
  readonly models: readonly ModelCosts[];
  readonly tiers: readonly TierCosts[];
  readonly users: readonly UserCosts[];
  readonly days: readonly DayCosts[];
  readonly slices: ReadonlyMap<string, UserSlice>;
  /** A user the directory places in this team, to look the team up by (undefined for an empty team). */
  readonly memberSample: string | undefined;
}

interface MonthView {
  readonly currency: string | null;
  readonly asOf: Date;
  readonly total: TeamTotal;
  readonly teams: readonly (TeamTotal & { readonly teamId: string })[];
  /** userId -> the team partitions holding that user's lines. */
  readonly userTeams: ReadonlyMap<string, readonly string[]>;
  readonly sampleMembers: ReadonlyMap<string, string>;
}

function buildTeamView(month: string, teamId: string, lines: readonly MonthlyLine[], asOf: Date, timeZone: string): TeamMonthView {
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
  };
}

function buildMonthView(month: string, lines: readonly MonthlyLine[], asOf: Date, timeZone: string): MonthView {
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
