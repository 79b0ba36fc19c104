import type { DirectoryResolution } from './directory.js';
import { AppError } from './errors.js';
import { ZERO, type Money } from './money.js';
import { monthOfDay, nextDay, parseDay } from './periods.js';
import type { PriceBook } from './price-book.js';
import { buildMonthlyLines, compareLines, lineKey, subjectOf, type DayUsage, type LineSubject, type MonthlyLine } from './rollup.js';
import { addTokensInto, zeroTokens, type TokenCounts } from './tokens.js';
import type { UsageRow } from './usage.js';

/**
 * The daily rollup of one team x user x model x tier on one calendar day (in the reporting zone), priced
 * with the price in force that day. `cost` is null when no price was in force: the line's tokens are then
 * unpriced, never a silent zero.
 */
export interface DayLine extends LineSubject {
  readonly day: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly cost: Money | null;
  readonly priceEntryId: string | null;
  readonly currency: string;
}

/**
 * One team's day, summed from its day lines: what budgets and forecasts read as a month-to-date series.
 * `cost` is the exact (unrounded) cost of the priced lines; `unpricedTokens` are the tokens of the others.
 */
export interface TeamDayTotal {
  readonly month: string;
  readonly day: string;
  readonly teamId: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
  readonly cost: Money;
  readonly unpricedTokens: TokenCounts;
  readonly currency: string;
  /** How many day lines (users x models x tiers) the total sums. */
  readonly lines: number;
}

/**
 * Prices one day of usage rows exactly as a month is priced: the rows go through buildMonthlyLines, so the
 * team allocation (unallocated team, former users) and the unpriced rules are the monthly ones, and a month
 * of day lines sums to the month's lines.
 */
export function buildDayLines(day: string, rows: Iterable<UsageRow>, directory: DirectoryResolution, priceBook: PriceBook): DayLine[] {
  const dayRows: UsageRow[] = [];
  for (const row of rows) {
    if (row.day !== day) throw new AppError('INVALID_ARGUMENT', `a usage row of ${row.day} was given to the rollup of ${day}`);
    dayRows.push(row);
  }
  return buildMonthlyLines(monthOfDay(day), dayRows, directory, priceBook).map((line) => toDayLine(day, line));
}

function toDayLine(day: string, line: MonthlyLine): DayLine {
  const [usage, ...more] = line.days;
  if (usage === undefined || more.length > 0 || usage.day !== day) {
    throw new AppError('INTERNAL', `the rollup of ${day} produced a line spanning ${line.days.map((d) => d.day).join(', ') || 'no day'}`);
  }
  return {
    day,
    ...subjectOf(line),
    tokens: { ...usage.tokens },
    requests: usage.requests,
    cost: usage.cost,
    priceEntryId: usage.priceEntryId,
    currency: line.currency,
  };
}

/** The per-team totals of one day's lines, sorted by team. Teams without lines have no total (zero). */
export function summarizeTeamDays(day: string, lines: readonly DayLine[]): TeamDayTotal[] {
  const byTeam = new Map<string, { tokens: TokenCounts; unpriced: TokenCounts; requests: number; cost: Money; currency: string; lines: number }>();
  for (const line of lines) {
    if (line.day !== day) throw new AppError('INVALID_ARGUMENT', `a day line of ${line.day} was given to the totals of ${day}`);
    let total = byTeam.get(line.teamId);
    if (total === undefined) {
      total = { tokens: zeroTokens(), unpriced: zeroTokens(), requests: 0, cost: ZERO, currency: line.currency, lines: 0 };
      byTeam.set(line.teamId, total);
    }
    if (total.currency !== line.currency) {
      throw new AppError('INVALID_ARGUMENT', `team ${line.teamId} has lines in ${total.currency} and ${line.currency} on ${day}`);
    }
    addTokensInto(total.tokens, line.tokens);
    if (line.cost === null) addTokensInto(total.unpriced, line.tokens);
    else total.cost = total.cost.plus(line.cost);
    total.requests += line.requests;
    total.lines += 1;
  }
  return [...byTeam.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([teamId, total]) => ({
      month: monthOfDay(day),
      day,
      teamId,
      tokens: total.tokens,
      requests: total.requests,
      cost: total.cost,
      unpricedTokens: total.unpriced,
      currency: total.currency,
      lines: total.lines,
    }));
}

/**
 * Folds a month's day lines back into monthly lines: the month-to-date figures of a month that is not closed
 * yet, in the shape the closed month's rollups have. Day lines were priced day by day exactly as a close
 * prices them, so this only adds up: tokens and requests as integers, the exact costs of the priced days, the
 * tokens of the unpriced days apart, and the price entries used in day order. Names, allocation and priced
 * model come from the latest day (the directory and price book as they stand now).
 */
export function monthlyLinesFromDayLines(month: string, dayLines: Iterable<DayLine>): MonthlyLine[] {
  const groups = new Map<string, DayLine[]>();
  for (const line of dayLines) {
    if (monthOfDay(line.day) !== month) throw new AppError('INVALID_ARGUMENT', `a day line of ${line.day} was given to the month ${month}`);
    const key = lineKey(line);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [line]);
    else group.push(line);
  }
  const lines: MonthlyLine[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
    const latest = group[group.length - 1]!;
    const tokens = zeroTokens();
    const unpricedTokens = zeroTokens();
    const priceEntryIds: string[] = [];
    const days: DayUsage[] = [];
    let requests = 0;
    let cost = ZERO;
    let pricedModel: string | null = null;
    for (const [index, line] of group.entries()) {
      if (index > 0 && group[index - 1]!.day === line.day) {
        throw new AppError('INVALID_ARGUMENT', `two day lines of ${line.day} share team "${line.teamId}", user, model "${line.model}" and tier "${line.tier}"`);
      }
      if (line.currency !== latest.currency) {
        throw new AppError('INVALID_ARGUMENT', `team ${line.teamId} model ${line.model} has day lines in ${line.currency} and ${latest.currency} in ${month}`);
      }
      addTokensInto(tokens, line.tokens);
      requests += line.requests;
      if (line.cost === null) addTokensInto(unpricedTokens, line.tokens);
      else cost = cost.plus(line.cost);
      if (line.priceEntryId !== null && !priceEntryIds.includes(line.priceEntryId)) priceEntryIds.push(line.priceEntryId);
      pricedModel = line.pricedModel ?? pricedModel;
      days.push({ day: line.day, tokens: { ...line.tokens }, requests: line.requests, cost: line.cost, priceEntryId: line.priceEntryId });
    }
    lines.push({
      month,
      teamId: latest.teamId,
      userId: latest.userId,
      model: latest.model,
      tier: latest.tier,
      allocation: latest.allocation,
      userName: latest.userName,
      upn: latest.upn,
      pricedModel,
      tokens,
      requests,
      cost,
      unpricedTokens,
      currency: latest.currency,
      priceEntryIds,
      days,
    });
  }
  return lines.sort(compareLines);
}

/** Every day from `first` to `last`, both included. */
export function daysBetween(first: string, last: string): string[] {
  const days: string[] = [];
  for (let day = parseDay(first); day <= last; day = nextDay(day)) days.push(day);
  return days;
}

/** `day` moved by `delta` calendar days (negative goes back). */
export function addDays(day: string, delta: number): string {
  const date = new Date(`${parseDay(day)}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + delta);
  return date.toISOString().slice(0, 10);
}
