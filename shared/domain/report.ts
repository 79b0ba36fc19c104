import { UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME, type Allocation, type Team } from './directory.js';
import { allocateMinorUnits, sumMoney, toMinorUnits, type Money } from './money.js';
import type { PriceBook, PriceEntry } from './price-book.js';
import { hasUnpricedTokens, type MonthlyLine } from './rollup.js';
import { addTokensInto, sumTokens, totalTokens, zeroTokens, TOKEN_KINDS, type TokenCounts, type TokenKind } from './tokens.js';
import type { RejectSummary } from './usage.js';
import type { TimeWindow } from './periods.js';

/**
 * What a month's chargeback shows, already rounded for people. Amounts are whole minor units (cents) as
 * bigint; every list's amounts sum exactly to the total it sits under (largest-remainder rounding), and the
 * grand total is the exact total rounded once.
 */
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
}

export interface TeamSummary {
  readonly teamId: string;
  readonly teamName: string;
  readonly leads: readonly string[];
  readonly users: number;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly amount: bigint;
  readonly unpricedTokens: number;
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
  readonly priceBook: PriceBook;
  readonly teams: ReadonlyMap<string, Team>;
  readonly sourceDescription: string;
  readonly rejects: RejectSummary;
  readonly reportedTotalTokens: number | null;
}

interface Group<K> {
  key: K;
  exact: Money[];
  tokens: TokenCounts;
  requests: number;
  unpriced: number;
  members: Set<string>;
}

function groupBy<K>(lines: readonly MonthlyLine[], keyOf: (line: MonthlyLine) => K, id: (key: K) => string): Group<K>[] {
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
function shareOut<K>(groups: readonly Group<K>[], target: bigint): bigint[] {
  return allocateMinorUnits(groups.map((group) => sumMoney(group.exact)), target);
}

export function buildMonthReport(lines: readonly MonthlyLine[], context: ReportContext): MonthReport {
  const exactTotal = sumMoney(lines.map((line) => line.cost));
  const grandTotal = toMinorUnits(exactTotal);
  const teamName = (teamId: string) =>
    teamId === UNALLOCATED_TEAM ? UNALLOCATED_TEAM_NAME : (context.teams.get(teamId)?.name ?? teamId);

  // Teams by id, with the unallocated bucket last where finance looks for what nobody was charged.
  const teamGroups = groupBy(lines, (line) => line.teamId, (key) => key).sort(
    (a, b) => Number(a.key === UNALLOCATED_TEAM) - Number(b.key === UNALLOCATED_TEAM) || a.key.localeCompare(b.key),
  );
  const teamAmounts = shareOut(teamGroups, grandTotal);
  const teams: TeamSummary[] = teamGroups.map((group, index) => ({
    teamId: group.key,
    teamName: teamName(group.key),
    leads: context.teams.get(group.key)?.leads ?? [],
    users: group.members.size,
    tokens: group.tokens,
    requests: group.requests,
    amount: teamAmounts[index]!,
    unpricedTokens: group.unpriced,
  }));

  // Users are shared out of their team's shown amount, and lines out of their user's, so every level
  // of the workbook adds up to the level above it.
  const users: UserSummary[] = [];
  const reportLines: ReportLine[] = [];
  teamGroups.forEach((teamGroup, teamIndex) => {
    const teamLines = lines.filter((line) => line.teamId === teamGroup.key);
    const userGroups = groupBy(teamLines, (line) => line.userId, (key) => key).sort((a, b) => a.key.localeCompare(b.key));
    const userAmounts = shareOut(userGroups, teamAmounts[teamIndex]!);
    userGroups.forEach((userGroup, userIndex) => {
      const userLines = teamLines.filter((line) => line.userId === userGroup.key);
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
      const lineAmounts = allocateMinorUnits(userLines.map((line) => line.cost), userAmounts[userIndex]!);
      userLines.forEach((line, lineIndex) => reportLines.push(toReportLine(line, teamName(line.teamId), lineAmounts[lineIndex]!)));
    });
  });

  const modelGroups = groupBy(lines, (line) => line.model, (key) => key).sort((a, b) => a.key.localeCompare(b.key));
  const modelAmounts = shareOut(modelGroups, grandTotal);
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
  const tierAmounts = shareOut(tierGroups, grandTotal);
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
  };
}

function toReportLine(line: MonthlyLine, teamName: string, amount: bigint): ReportLine {
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

function pricesUsed(lines: readonly MonthlyLine[], priceBook: PriceBook): PriceUsed[] {
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
