/**
 * What the cost API shows of a month, built from a MonthReport: pure, no I/O.
 *
 * One set of figures: a closed month's views are slices of the month's finance report (buildMonthReport over
 * every stored line, then buildTeamReport for a team), the very path the close took for the workbooks and the
 * mails. So a team, a user and a line show the same cents in the finance workbook, the team workbook, the
 * team mail and every API answer. An open month has no finance report: a team's view rounds the team alone
 * (buildMonthReport over its lines), and the all-teams list shares the rounded grand total out of the daily
 * totals the way the finance report would.
 *
 * Budget and forecast: when the team has a budget, the answer carries it with the percentage used, and the
 * month-end forecast (forecastMonthEnd over the team's daily costs; a closed month's forecast is its total).
 */
import { forecastMonthEnd, percentOf, type DailyAmount, type MonthForecast, type TeamBudget } from './budgets.js';
import { UNALLOCATED_TEAM, type Allocation } from './directory.js';
import { AppError } from './errors.js';
import { allocateMinorUnits, Money, sumMoney, toMinorUnits, ZERO } from './money.js';
import type { TimeWindow } from './periods.js';
import { buildMonthReport, type MonthReport, type ReportContext } from './report.js';
import { compareLines, lineKey, type MonthlyLine } from './rollup.js';
import type { TeamDayTotal } from './daily.js';
import { addTokensInto, totalTokens, zeroTokens, type TokenCounts } from './tokens.js';

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

export interface Accumulator {
  exact: Money;
  tokens: TokenCounts;
  requests: number;
  unpricedTokens: number;
}

/** One user's part of a team-month, enough to answer that user's own questions without the raw lines. */
export interface UserSlice {
  readonly teamId: string;
  readonly summary: UserCosts;
  readonly lines: readonly { readonly costs: LineCosts; readonly exact: Money }[];
  readonly days: ReadonlyMap<string, Accumulator>;
}

export interface TeamMonthView {
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
}

export interface MonthView {
  readonly currency: string | null;
  readonly asOf: Date;
  readonly source: FiguresSource;
  /** Each team's exact cost per day (open months only: a closed month's forecast is its total). */
  readonly dailyCosts: ReadonlyMap<string, readonly DailyAmount[]>;
  readonly total: TeamTotal;
  readonly teams: readonly (TeamTotal & { readonly teamId: string })[];
  /** userId -> the team partitions holding that user's lines. */
  readonly userTeams: ReadonlyMap<string, readonly string[]>;
}

/**
 * The report context for figures read back from the rollup store. The stored lines carry their own costs, so
 * no prices are needed: the book is named by the version the close recorded and lists no entries.
 */
export function storedRollupsContext(input: {
  month: string;
  timeZone: string;
  window: TimeWindow;
  currency: string | null;
  asOf: Date;
  revision: number;
  priceBookVersion: string;
}): ReportContext {
  return {
    month: input.month,
    timeZone: input.timeZone,
    window: input.window,
    generatedAt: input.asOf,
    revision: input.revision,
    priceBook: { version: input.priceBookVersion, source: 'rollup store', currency: input.currency ?? '', models: [] },
    teams: new Map(),
    sourceDescription: 'rollup store',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  };
}

/** The single currency of a set of stored lines (null when there are none); mixed currencies cannot be added. */
export function currencyOf(lines: readonly MonthlyLine[]): string | null {
  const currencies = new Set(lines.map((line) => line.currency));
  if (currencies.size > 1) {
    throw new AppError('STORAGE_FAILED', `The stored rollups mix currencies (${[...currencies].sort().join(', ')}); they cannot be added up`);
  }
  return lines[0]?.currency ?? null;
}

/** Lines in the order the close reported them, so ties in largest-remainder rounding fall the same way. */
export function inReportOrder(lines: readonly MonthlyLine[]): MonthlyLine[] {
  return [...lines].sort(compareLines);
}

/**
 * A team's view from the team's report: `report` is either a slice of the finance report (buildTeamReport, a
 * closed month) or the team's own (an open month); `lines` are the team's lines it was built from.
 */
export function teamMonthView(report: MonthReport, lines: readonly MonthlyLine[], source: FiguresSource, asOf: Date): TeamMonthView {
  const currency = currencyOf(lines);
  const summary = report.teams[0];
  const amount = report.grandTotal;
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
    const stored = exactByLine.get(lineKey(reportLine))!;
    const list = linesByUser.get(reportLine.userId) ?? [];
    list.push({
      exact: stored.cost,
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
  const teamId = summary?.teamId ?? '';
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
    // The report's own days, as the team workbook's Daily sheet shows them.
    days: (report.daily ?? []).map((day) => ({ day: day.day, amount: day.amount, tokens: day.tokens, requests: day.requests, unpricedTokens: day.unpricedTokens })),
    slices,
  };
}

/** An open month's team view: no finance report exists yet, so the team's exact total is rounded alone. */
export function openTeamMonthView(lines: readonly MonthlyLine[], context: ReportContext, source: FiguresSource, asOf: Date): TeamMonthView {
  const ordered = inReportOrder(lines);
  return teamMonthView(buildMonthReport(ordered, context), ordered, source, asOf);
}

/** Every team's total from the month's finance report (or any report over every team's lines). */
export function monthViewOf(report: MonthReport, lines: readonly MonthlyLine[], source: FiguresSource, asOf: Date): MonthView {
  const userTeams = new Map<string, string[]>();
  const exactByTeam = new Map<string, Money[]>();
  for (const line of lines) {
    const teams = userTeams.get(line.userId) ?? [];
    if (!teams.includes(line.teamId)) teams.push(line.teamId);
    userTeams.set(line.userId, teams);
    const exact = exactByTeam.get(line.teamId) ?? [];
    exact.push(line.cost);
    exactByTeam.set(line.teamId, exact);
  }
  const teams = report.teams.map((team) => ({
    teamId: team.teamId,
    amount: team.amount,
    exactAmount: sumMoney(exactByTeam.get(team.teamId) ?? []).toFixed(),
    tokens: team.tokens,
    requests: team.requests,
    unpricedTokens: team.unpricedTokens,
    users: team.users,
  }));
  return {
    currency: currencyOf(lines),
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
  };
}

/**
 * An open month's all-teams list from the per-team daily totals: one small query instead of every line. The
 * team amounts share the rounded grand total by largest remainder, as the closed month's list does. The
 * totals do not say who the users were, so `users` is null.
 */
export function monthViewFromDailyTotals(series: readonly TeamDayTotal[], asOf: Date): MonthView {
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
  };
}

/** The caller's figures may come from several team partitions: open if any of them is, as of the latest day. */
export function combinedSource(sources: readonly FiguresSource[]): FiguresSource {
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
export function budgetAndForecast(
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
 * their teams (the same amounts a lead and the workbooks show for them); the lines are the report's lines;
 * the other breakdowns share that total out by exact cost.
 */
export function callerBreakdown(slices: readonly UserSlice[]): {
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

export function figuresOf(figures: CostFigures): CostFigures {
  return { amount: figures.amount, tokens: figures.tokens, requests: figures.requests, unpricedTokens: figures.unpricedTokens };
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
