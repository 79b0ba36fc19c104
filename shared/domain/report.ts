import type { ControlResult } from './controls.js';
import { currencyMinorUnits } from './currency.js';
import { UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME, type Allocation, type Team } from './directory.js';
import { allocateMinorUnits, ExactSum, sumMoney, toMinorUnits, type Money } from './money.js';
import type { PriceBook, PriceEntry } from './price-book.js';
import { dayColumnsOf, hasUnpricedTokens, type LineTotals, type MonthlyLine } from './rollup.js';
import { AppError } from './errors.js';
import { addTokensInto, sumTokens, totalTokens, zeroTokens, SUMS_PER_DAY, TOKEN_KINDS, type TokenCounts, type TokenKind } from './tokens.js';
import type { RejectSummary } from './usage.js';
import type { TimeWindow } from './periods.js';
import type { BillingReconciliation } from './billing.js';

/**
 * What a month's chargeback shows, already rounded for people. Amounts are whole minor units (cents) as
 * bigint; every list's amounts sum exactly to the total it sits under (largest-remainder rounding), and the
 * grand total is the exact total rounded once.
 */
/** A report's figures without its lines: what a mail shows, and what a close keeps of a team's report until then. */
export type ReportWithoutLines = Omit<MonthReport, 'lines' | 'unallocated' | 'unpriced'>;

export interface MonthReport {
  readonly month: string;
  readonly currency: string;
  readonly timeZone: string;
  readonly window: TimeWindow;
  readonly generatedAt: Date;
  readonly revision: number;
  readonly priceBookVersion: string;
  readonly priceBookSource: string;
  readonly sourceDescription: string;
  readonly grandTotal: bigint;
  readonly exactTotal: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly teams: readonly TeamSummary[];
  readonly users: readonly UserSummary[];
  readonly models: readonly ModelSummary[];
  readonly tiers: readonly TierSummary[];
  readonly lines: readonly ReportLine[];
  readonly unallocated: readonly ReportLine[];
  readonly unpriced: readonly ReportLine[];
  readonly prices: readonly PriceUsed[];
  readonly rejects: RejectSummary;
  /** The gateway's own "Total Tokens" figure beside the sum of the token kinds we priced, when it was read. */
  readonly crossCheck: { readonly reportedTotalTokens: number | null; readonly countedTokens: number };
  /** Totals per calendar day (in the report's zone); the amounts share out the grand total. */
  readonly daily?: readonly DaySummary[];
  /** What the month before showed, for "change from last month"; absent when that month was never closed. */
  readonly previousMonth?: PreviousMonthFigures;
  /** Set on a team's own report: only this team's lines are in it. */
  readonly scope?: ReportScope;
  /** On a revision: what changed against the revision before it. */
  readonly changes?: RevisionChanges;
  /** The close's controls: what was checked before anything was mailed, and what it found. */
  readonly controls?: readonly ControlResult[];
  /** Set when a person released a held close: who, why and when. */
  readonly release?: { readonly by: string; readonly reason: string; readonly at: Date };
  /** Azure's bill for the month and its true-up, when a billed-cost source is configured (domain/billing.ts). */
  readonly billing?: BillingReconciliation;
}

export interface DaySummary {
  readonly day: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly unpricedTokens: number;
  readonly exactCost: string;
  readonly amount: bigint;
}

export interface PreviousMonthFigures {
  readonly month: string;
  readonly grandTotal: bigint;
  /** Team amounts as that month's report showed them (same rounding), so last month's workbook and this one agree. */
  readonly teams: readonly { readonly teamId: string; readonly teamName: string; readonly amount: bigint }[];
}

export interface ReportScope {
  readonly teamId: string;
  readonly teamName: string;
}

/** One figure's old and new amount, in minor units. */
export interface AmountChange {
  readonly key: string;
  readonly label: string;
  readonly teamId: string;
  readonly previous: bigint;
  readonly current: bigint;
  readonly difference: bigint;
}

export interface RevisionChanges {
  readonly previousRevision: number;
  /**
   * False when the previous revision's lines were no longer stored (a rerun after the new revision was already
   * recorded): the sheet then says so instead of showing differences it cannot know.
   */
  readonly detailAvailable: boolean;
  readonly grandTotal: { readonly previous: bigint | null; readonly current: bigint };
  /** Every team of either revision. */
  readonly teams: readonly AmountChange[];
  /** Only users and models whose amount changed. */
  readonly users: readonly AmountChange[];
  readonly models: readonly AmountChange[];
  /** Teams whose lines differ in any way (tokens, prices, amounts): their leads hear about the revision. */
  readonly changedTeams: readonly string[];
}

export interface TeamSummary {
  readonly teamId: string;
  readonly teamName: string;
  readonly leads: readonly string[];
  /** The cost center finance posts the team's charges to, from the directory; absent when it has none. */
  readonly costCenter?: string;
  /** Users with a user id: usage the gateway sent without one is not a user. */
  readonly users: number;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly amount: bigint;
  readonly unpricedTokens: number;
  /** The team's budget for the month against its amount; present only when the team has a budget. */
  readonly budget?: BudgetFigures;
}

/** A budget the report is told about, exact as the budget file holds it. */
export interface ReportBudget {
  readonly amount: Money;
  /**
   * The month-end forecast, for a report of a month still running. A closed month has none to give: its
   * forecast is what was spent.
   */
  readonly forecast?: Money;
}

/** Budget, actual, forecast and remaining in minor units; remaining is negative when the budget is overspent. */
export interface BudgetFigures {
  readonly amount: bigint;
  readonly actual: bigint;
  readonly forecast: bigint;
  readonly remaining: bigint;
}

/** One cost center's part of the month: the journal line finance posts. */
export interface CostCenterTotal {
  /** Null for teams without a cost center (and the unallocated team). */
  readonly costCenter: string | null;
  readonly teamIds: readonly string[];
  readonly tokens: number;
  readonly amount: bigint;
}

export interface UserSummary {
  readonly teamId: string;
  readonly teamName: string;
  readonly userId: string;
  readonly userName: string;
  readonly upn: string;
  readonly allocation: Allocation;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly amount: bigint;
}

export interface ModelSummary {
  readonly model: string;
  readonly pricedModel: string | null;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly amount: bigint;
  readonly unpricedTokens: number;
}

export interface TierSummary {
  readonly tier: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly amount: bigint;
}

export interface ReportLine {
  readonly teamId: string;
  readonly teamName: string;
  readonly userId: string;
  readonly userName: string;
  readonly allocation: Allocation;
  readonly model: string;
  readonly pricedModel: string | null;
  readonly tier: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly unpricedTokens: TokenCounts;
  readonly amount: bigint;
  readonly priceEntryIds: readonly string[];
}

export interface PriceUsed {
  readonly entryId: string;
  readonly model: string;
  readonly effectiveFrom: string;
  readonly currency: string;
  readonly perMillion: Readonly<Record<TokenKind, string>>;
}

export interface ReportContext {
  readonly month: string;
  readonly timeZone: string;
  readonly window: TimeWindow;
  readonly generatedAt: Date;
  readonly revision: number;
  /** Only what a report shows of the book: a lookup of stored rollups passes the version its close recorded. */
  readonly priceBook: ReportPriceBook;
  readonly teams: ReadonlyMap<string, Team>;
  readonly sourceDescription: string;
  readonly rejects: RejectSummary;
  readonly reportedTotalTokens: number | null;
  /**
   * The total this report must show, when it is one part of a larger report whose rounding it has to agree
   * with (a team's workbook shows exactly the team's amount in the finance workbook). Default: the exact
   * total rounded.
   */
  readonly shownTotal?: bigint;
  readonly scope?: ReportScope;
  readonly previousMonth?: PreviousMonthFigures;
  /** Team id to the team's budget for the month; teams without a budget are absent (and show none). */
  readonly budgets?: ReadonlyMap<string, ReportBudget>;
}

export type ReportPriceBook = Pick<PriceBook, 'version' | 'source' | 'currency' | 'models'>;

interface Group<K> {
  key: K;
  exact: Money[];
  tokens: TokenCounts;
  requests: number;
  unpriced: number;
  members: Set<string>;
}

/** The lines of each key, in the order they came. */
export function bucketBy<L extends LineTotals>(lines: readonly L[], keyOf: (line: L) => string): Map<string, L[]> {
  const buckets = new Map<string, L[]>();
  for (const line of lines) {
    const key = keyOf(line);
    const bucket = buckets.get(key);
    if (bucket) bucket.push(line);
    else buckets.set(key, [line]);
  }
  return buckets;
}

function groupBy<K>(lines: readonly LineTotals[], keyOf: (line: LineTotals) => K, id: (key: K) => string): Group<K>[] {
  const groups = new Map<string, Group<K>>();
  for (const line of lines) {
    const key = keyOf(line);
    const name = id(key);
    let group = groups.get(name);
    if (!group) {
      group = { key, exact: [], tokens: zeroTokens(), requests: 0, unpriced: 0, members: new Set() };
      groups.set(name, group);
    }
    group.exact.push(line.cost);
    addTokensInto(group.tokens, line.tokens);
    group.requests += line.requests;
    group.unpriced += totalTokens(line.unpricedTokens);
    group.members.add(line.userId);
  }
  return [...groups.values()];
}

/** Splits `target` across groups by their exact totals (largest remainder) and pairs each with its share. */
function shareOut<K>(groups: readonly Group<K>[], target: bigint, decimals: number): bigint[] {
  return allocateMinorUnits(groups.map((group) => sumMoney(group.exact)), target, decimals);
}

export function buildMonthReport(lines: readonly MonthlyLine[], context: ReportContext): MonthReport {
  return monthReportOf(lines, context, (grandTotal, decimals) => dailySummaries(lines, grandTotal, decimals));
}

/**
 * The same report from lines read without their days, with the daily figures the close run made from the
 * same lines (the finance work item's way: the days are most of a stored line). The days must share out this
 * report's grand total, else the figures come from two different months and nothing is built.
 */
export function buildMonthReportFromTotals(lines: readonly LineTotals[], context: ReportContext, daily: readonly DaySummary[]): MonthReport {
  return monthReportOf(lines, context, (grandTotal) => {
    const dailyTotal = daily.reduce((sum, day) => sum + day.amount, 0n);
    if (dailyTotal !== grandTotal) {
      throw new AppError('INTERNAL', `the daily figures of ${context.month} add up to ${dailyTotal} minor units, the lines to ${grandTotal}: they are not the same month's`);
    }
    return daily;
  });
}

function monthReportOf(lines: readonly LineTotals[], context: ReportContext, dailyOf: (grandTotal: bigint, decimals: number) => readonly DaySummary[]): MonthReport {
  const exactTotal = sumMoney(lines.map((line) => line.cost));
  // Minor units of the book's currency (JPY 0, USD 2, BHD 3): every amount below is a whole number of them.
  const decimals = currencyMinorUnits(context.priceBook.currency);
  const grandTotal = context.shownTotal ?? toMinorUnits(exactTotal, decimals);
  const teamName = teamNamer(context.teams);

  const teamGroups = sortedTeamGroups(lines);
  const teamAmounts = shareOut(teamGroups, grandTotal, decimals);
  const teams: TeamSummary[] = teamGroups.map((group, index) => {
    const costCenter = group.key === UNALLOCATED_TEAM ? undefined : context.teams.get(group.key)?.costCenter;
    const budget = context.budgets?.get(group.key);
    return {
      teamId: group.key,
      teamName: teamName(group.key),
      leads: context.teams.get(group.key)?.leads ?? [],
      ...(costCenter === undefined ? {} : { costCenter }),
      users: [...group.members].filter((userId) => userId !== '').length,
      tokens: group.tokens,
      requests: group.requests,
      amount: teamAmounts[index]!,
      unpricedTokens: group.unpriced,
      ...(budget === undefined ? {} : { budget: budgetFigures(budget, teamAmounts[index]!, decimals) }),
    };
  });

  // Users are shared out of their team's shown amount, and lines out of their user's, so every level
  // of the workbook adds up to the level above it.
  const users: UserSummary[] = [];
  const reportLines: ReportLine[] = [];
  // Lines are bucketed once (keeping their order), not filtered once per team and per user: at 500 teams and
  // 100,000 users those scans were teams x lines and users x team lines.
  const linesOfTeam = bucketBy(lines, (line) => line.teamId);
  teamGroups.forEach((teamGroup, teamIndex) => {
    const teamLines = linesOfTeam.get(teamGroup.key) ?? [];
    const userGroups = groupBy(teamLines, (line) => line.userId, (key) => key).sort((a, b) => a.key.localeCompare(b.key));
    const userAmounts = shareOut(userGroups, teamAmounts[teamIndex]!, decimals);
    const linesOfUser = bucketBy(teamLines, (line) => line.userId);
    userGroups.forEach((userGroup, userIndex) => {
      const userLines = linesOfUser.get(userGroup.key)!;
      const first = userLines[0]!;
      users.push({
        teamId: teamGroup.key,
        teamName: teamName(teamGroup.key),
        userId: userGroup.key,
        userName: first.userName,
        upn: first.upn,
        allocation: first.allocation,
        tokens: userGroup.tokens,
        requests: userGroup.requests,
        amount: userAmounts[userIndex]!,
      });
      const lineAmounts = allocateMinorUnits(userLines.map((line) => line.cost), userAmounts[userIndex]!, decimals);
      userLines.forEach((line, lineIndex) => reportLines.push(toReportLine(line, teamName(line.teamId), lineAmounts[lineIndex]!)));
    });
  });

  const modelGroups = groupBy(lines, (line) => line.model, (key) => key).sort((a, b) => a.key.localeCompare(b.key));
  const modelAmounts = shareOut(modelGroups, grandTotal, decimals);
  const pricedModelOf = new Map(lines.map((line) => [line.model, line.pricedModel]));
  const models: ModelSummary[] = modelGroups.map((group, index) => ({
    model: group.key,
    pricedModel: pricedModelOf.get(group.key) ?? null,
    tokens: group.tokens,
    requests: group.requests,
    amount: modelAmounts[index]!,
    unpricedTokens: group.unpriced,
  }));

  const tierGroups = groupBy(lines, (line) => line.tier, (key) => key).sort((a, b) => a.key.localeCompare(b.key));
  const tierAmounts = shareOut(tierGroups, grandTotal, decimals);
  const tiers: TierSummary[] = tierGroups.map((group, index) => ({
    tier: group.key,
    tokens: group.tokens,
    requests: group.requests,
    amount: tierAmounts[index]!,
  }));

  return {
    month: context.month,
    currency: context.priceBook.currency,
    timeZone: context.timeZone,
    window: context.window,
    generatedAt: context.generatedAt,
    revision: context.revision,
    priceBookVersion: context.priceBook.version,
    priceBookSource: context.priceBook.source,
    sourceDescription: context.sourceDescription,
    grandTotal,
    exactTotal: exactTotal.toFixed(),
    tokens: sumTokens(lines.map((line) => line.tokens)),
    requests: lines.reduce((sum, line) => sum + line.requests, 0),
    teams,
    users,
    models,
    tiers,
    lines: reportLines,
    unallocated: reportLines.filter((line) => line.teamId === UNALLOCATED_TEAM),
    unpriced: reportLines.filter((line) => hasUnpricedTokens(line)),
    prices: pricesUsed(lines, context.priceBook),
    rejects: context.rejects,
    crossCheck: {
      reportedTotalTokens: context.reportedTotalTokens,
      countedTokens: lines.reduce((sum, line) => sum + totalTokens(line.tokens), 0),
    },
    daily: dailyOf(grandTotal, decimals),
    ...(context.previousMonth ? { previousMonth: context.previousMonth } : {}),
    ...(context.scope ? { scope: context.scope } : {}),
  };
}

function budgetFigures(budget: ReportBudget, actual: bigint, decimals: number): BudgetFigures {
  const amount = toMinorUnits(budget.amount, decimals);
  const forecast = budget.forecast === undefined ? actual : toMinorUnits(budget.forecast, decimals);
  return { amount, actual, forecast, remaining: amount - actual };
}

/**
 * The month per cost center: the sum of its teams' shown amounts, so the cost centers add up to the grand
 * total to the minor unit with no rounding of their own. Cost centers in order, teams without one last.
 */
export function costCenterTotals(teams: readonly TeamSummary[]): CostCenterTotal[] {
  const byCenter = new Map<string | null, { teamIds: string[]; tokens: number; amount: bigint }>();
  for (const team of teams) {
    const key = team.costCenter ?? null;
    let total = byCenter.get(key);
    if (!total) byCenter.set(key, (total = { teamIds: [], tokens: 0, amount: 0n }));
    total.teamIds.push(team.teamId);
    total.tokens += totalTokens(team.tokens);
    total.amount += team.amount;
  }
  return [...byCenter.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
    .map(([costCenter, total]) => ({ costCenter, ...total }));
}

/** Team ids to the names people read; the unallocated team has its own name. */
export function teamNamer(teams: ReadonlyMap<string, Team>): (teamId: string) => string {
  return (teamId) => (teamId === UNALLOCATED_TEAM ? UNALLOCATED_TEAM_NAME : (teams.get(teamId)?.name ?? teamId));
}

/** Teams by id, with the unallocated bucket last where finance looks for what nobody was charged. */
function sortedTeamGroups(lines: readonly LineTotals[]): Group<string>[] {
  return groupBy(lines, (line) => line.teamId, (key) => key).sort(
    (a, b) => Number(a.key === UNALLOCATED_TEAM) - Number(b.key === UNALLOCATED_TEAM) || a.key.localeCompare(b.key),
  );
}

/** Days in order; each day's exact cost is the sum of its priced daily rollups, the amounts share out `target`. */
function dailySummaries(lines: readonly MonthlyLine[], target: bigint, decimals: number): DaySummary[] {
  const days = new Map<string, { tokens: TokenCounts; requests: number; unpriced: number; exact: ExactSum }>();
  for (const line of lines) {
    // The line's day columns: each day's cost is added in whole units, without a decimal per line-day.
    const columns = dayColumnsOf(line);
    const counts = columns.counts;
    for (let index = 0, at = 0; index < columns.length; index++, at += SUMS_PER_DAY) {
      const name = columns.dayName(index);
      let day = days.get(name);
      if (!day) {
        day = { tokens: zeroTokens(), requests: 0, unpriced: 0, exact: new ExactSum() };
        days.set(name, day);
      }
      const { tokens } = day;
      tokens.input += counts[at]!;
      tokens.output += counts[at + 1]!;
      tokens.cacheRead += counts[at + 2]!;
      tokens.cacheWrite5m += counts[at + 3]!;
      tokens.cacheWrite1h += counts[at + 4]!;
      day.requests += counts[at + 5]!;
      if (!columns.addCostInto(index, day.exact)) day.unpriced += counts[at]! + counts[at + 1]! + counts[at + 2]! + counts[at + 3]! + counts[at + 4]!;
    }
  }
  const ordered = [...days.entries()].sort(([a], [b]) => a.localeCompare(b));
  const exacts = ordered.map(([, day]) => day.exact.total());
  const amounts = allocateMinorUnits(exacts, target, decimals);
  return ordered.map(([day, usage], index) => ({
    day,
    tokens: usage.tokens,
    requests: usage.requests,
    unpricedTokens: usage.unpriced,
    exactCost: exacts[index]!.toFixed(),
    amount: amounts[index]!,
  }));
}

/**
 * A month's headline figures from its stored lines, rounded exactly as that month's own report rounded them,
 * so "last month" here equals what last month's workbook showed.
 */
export function previousMonthFigures(month: string, lines: readonly MonthlyLine[], teams: ReadonlyMap<string, Team>, currency = 'USD'): PreviousMonthFigures {
  const decimals = currencyMinorUnits(currency);
  const grandTotal = toMinorUnits(sumMoney(lines.map((line) => line.cost)), decimals);
  const teamGroups = sortedTeamGroups(lines);
  const amounts = shareOut(teamGroups, grandTotal, decimals);
  const teamName = teamNamer(teams);
  return {
    month,
    grandTotal,
    teams: teamGroups.map((group, index) => ({ teamId: group.key, teamName: teamName(group.key), amount: amounts[index]! })),
  };
}

/**
 * One team's report, for its leads: only that team's lines, with the team's amount from the finance report
 * as its total. Users are shared out of the same amount in the same order as in the finance report, so every
 * figure a lead sees equals the finance workbook's to the cent. `lines` may be the month's or just the team's
 * (a caller building every team's report buckets them once with bucketBy).
 */
export function buildTeamReport(
  lines: readonly MonthlyLine[],
  finance: MonthReport,
  teamId: string,
  context: Omit<ReportContext, 'shownTotal' | 'scope' | 'previousMonth'>,
): MonthReport {
  const team = finance.teams.find((candidate) => candidate.teamId === teamId);
  return buildTeamReportFrom(
    lines.filter((line) => line.teamId === teamId),
    teamShareOf(finance, teamId, team?.teamName ?? teamNamer(context.teams)(teamId)),
    context,
  );
}

/** What a team's report takes from the finance report: its name, its share of the total, its last month. */
export interface TeamShare {
  readonly teamId: string;
  readonly teamName: string;
  /** The team's amount as the finance report shows it (its part of the grand total's rounding). */
  readonly shownTotal: bigint;
  readonly previousMonth?: PreviousMonthFigures;
}

export function teamShareOf(finance: MonthReport, teamId: string, teamName: string): TeamShare {
  const previous = finance.previousMonth;
  return {
    teamId,
    teamName,
    shownTotal: finance.teams.find((candidate) => candidate.teamId === teamId)?.amount ?? 0n,
    ...(previous
      ? {
          previousMonth: {
            month: previous.month,
            grandTotal: previous.teams.find((candidate) => candidate.teamId === teamId)?.amount ?? 0n,
            teams: previous.teams.filter((candidate) => candidate.teamId === teamId),
          },
        }
      : {}),
  };
}

/** A team's report from its own lines and its share, without the finance report: what a team work item builds. */
export function buildTeamReportFrom(teamLines: readonly MonthlyLine[], share: TeamShare, context: Omit<ReportContext, 'shownTotal' | 'scope' | 'previousMonth'>): MonthReport {
  return buildMonthReport(teamLines, {
    ...context,
    shownTotal: share.shownTotal,
    scope: { teamId: share.teamId, teamName: share.teamName },
    ...(share.previousMonth ? { previousMonth: share.previousMonth } : {}),
  });
}

function toReportLine(line: LineTotals, teamName: string, amount: bigint): ReportLine {
  return {
    teamId: line.teamId,
    teamName,
    userId: line.userId,
    userName: line.userName,
    allocation: line.allocation,
    model: line.model,
    pricedModel: line.pricedModel,
    tier: line.tier,
    tokens: line.tokens,
    requests: line.requests,
    unpricedTokens: line.unpricedTokens,
    amount,
    priceEntryIds: line.priceEntryIds,
  };
}

function pricesUsed(lines: readonly LineTotals[], priceBook: ReportPriceBook): PriceUsed[] {
  const used = new Set(lines.flatMap((line) => line.priceEntryIds));
  const entries: PriceEntry[] = priceBook.models.flatMap((model) => model.prices).filter((entry) => used.has(entry.id));
  return entries
    .sort((a, b) => a.model.localeCompare(b.model) || a.effectiveFrom.localeCompare(b.effectiveFrom))
    .map((entry) => ({
      entryId: entry.id,
      model: entry.model,
      effectiveFrom: entry.effectiveFrom,
      currency: entry.currency,
      perMillion: Object.fromEntries(TOKEN_KINDS.map((kind) => [kind, entry.perMillion[kind].toFixed()])) as Record<TokenKind, string>,
    }));
}
