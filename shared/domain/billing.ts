import { UNALLOCATED_TEAM } from './directory.js';
import { allocateMinorUnits, sumMoney, toMinorUnits, ZERO, type Money } from './money.js';
import { lineKey, type MonthlyLine } from './rollup.js';
import { totalTokens } from './tokens.js';

/**
 * What Azure invoiced, and how it is shared out. The gateway's metrics give a list-price estimate per team,
 * user, line and day; Cost Management gives what was billed per resource and day, with no users. The true-up
 * spreads the billed amount over the lines in proportion to their list-price cost (which already weighs model
 * and token kind), so that the chargeback adds up to the invoice.
 */

/** One row of a cost export, as read: every service, not only Claude's. */
export interface BilledCharge {
  /** The UTC calendar day the charge period starts on (Azure's charge periods are UTC days). */
  readonly day: string;
  /** The amount in the configured cost column (EffectiveCost or BilledCost), exactly as exported. */
  readonly amount: Money;
  readonly currency: string;
  readonly resourceId: string;
  readonly publisher: string;
  readonly meter: string;
  readonly service: string;
  readonly chargeCategory: string;
  readonly consumedQuantity: string;
  readonly consumedUnit: string;
}

/** Which rows are Claude's: the Foundry resource ids (compared without case, as ARM ids are) or the publisher. */
export interface ClaudeChargeRule {
  readonly resourceIds: readonly string[];
  readonly publishers: readonly string[];
}

export const DEFAULT_CLAUDE_PUBLISHERS: readonly string[] = ['Anthropic'];

export interface LeftOutService {
  readonly service: string;
  readonly currency: string;
  readonly rows: number;
  readonly amount: Money;
}

export interface LeftOutCharges {
  readonly rows: number;
  /** Per service and currency, largest amount first. */
  readonly byService: readonly LeftOutService[];
}

export function isClaudeCharge(charge: BilledCharge, rule: ClaudeChargeRule): boolean {
  const resourceId = charge.resourceId.toLowerCase();
  if (resourceId !== '' && rule.resourceIds.some((id) => id.toLowerCase() === resourceId)) return true;
  const publisher = charge.publisher.toLowerCase();
  return publisher !== '' && rule.publishers.some((name) => name.toLowerCase() === publisher);
}

/**
 * Splits the charges of a month into Claude's and the rest, which are counted per service so that the Run and
 * Reconciliation sheets can say what was left out. Charges outside the month (by their day) are ignored here:
 * an export file holds the whole billing period, and daily exports overlap. Built to be fed row by row, so an
 * adapter can stream a large export through it without holding the other services' rows.
 */
export function chargeSelection(rule: ClaudeChargeRule, month: string): { add(charge: BilledCharge): void; result(): { claude: BilledCharge[]; leftOut: LeftOutCharges } } {
  const claude: BilledCharge[] = [];
  const services = new Map<string, { service: string; currency: string; rows: number; amount: Money }>();
  let rows = 0;
  return {
    add(charge) {
      if (!charge.day.startsWith(`${month}-`)) return;
      if (isClaudeCharge(charge, rule)) {
        claude.push(charge);
        return;
      }
      rows += 1;
      const key = `${charge.service}\u0000${charge.currency}`;
      const service = services.get(key);
      if (service) {
        service.rows += 1;
        service.amount = service.amount.plus(charge.amount);
      } else {
        services.set(key, { service: charge.service || '(no service name)', currency: charge.currency, rows: 1, amount: charge.amount });
      }
    },
    result() {
      const byService = [...services.values()]
        .map((service) => ({ ...service }))
        .sort((a, b) => b.amount.comparedTo(a.amount) || a.service.localeCompare(b.service));
      return { claude: [...claude], leftOut: { rows, byService } };
    },
  };
}

export function selectClaudeCharges(charges: Iterable<BilledCharge>, rule: ClaudeChargeRule, month: string): { claude: BilledCharge[]; leftOut: LeftOutCharges } {
  const selection = chargeSelection(rule, month);
  for (const charge of charges) selection.add(charge);
  return selection.result();
}

/**
 * What to do with billed cost that no metered, priced usage explains: billed on a day without priced usage
 * (traffic that bypassed the gateway, or only unpriced models that day). 'proportional' shares it over every
 * line like the rest of the month; 'bucket' keeps it apart as "Unattributed billed cost" for finance to place.
 */
export type ResiduePolicy = 'proportional' | 'bucket';

export const UNATTRIBUTED_BILLED_LABEL = 'Unattributed billed cost';

export interface TrueUpDay {
  readonly day: string;
  readonly meteredTokens: number;
  /** The list-price estimate of the day's priced usage, exact. */
  readonly list: Money;
  /** Claude's billed amount for the day, exact. */
  readonly billed: Money;
  /** billed / list; null when the day has no list-price cost. */
  readonly ratio: Money | null;
}

export interface TrueUpShare {
  /** lineKey of the monthly line, or the team id / team+user for the summaries. */
  readonly key: string;
  readonly exact: Money;
  /** Whole minor units: the shares of one level add up to the billed total exactly. */
  readonly amount: bigint;
}

export interface TrueUpTeam extends TrueUpShare {
  readonly teamId: string;
}

export interface TrueUpUser extends TrueUpShare {
  readonly teamId: string;
  readonly userId: string;
}

export interface TrueUp {
  readonly currency: string;
  readonly policy: ResiduePolicy;
  readonly listTotal: Money;
  readonly billedExact: Money;
  /** The billed total rounded once: what the trued-up teams, users and lines add up to. */
  readonly billedTotal: bigint;
  /** billed / list for the month; null when nothing was priced. */
  readonly ratio: Money | null;
  readonly days: readonly TrueUpDay[];
  /** Per monthly line (by lineKey), in the order of the lines given. */
  readonly lines: ReadonlyMap<string, TrueUpShare>;
  readonly teams: readonly TrueUpTeam[];
  readonly users: readonly TrueUpUser[];
  /** Billed cost no priced usage explains: its amount under 'bucket' (else 0) and the days it came from. */
  readonly unattributed: { readonly exact: Money; readonly amount: bigint; readonly days: readonly string[] };
}

/** billed / list, or null when list is zero (a ratio of nothing is not a number finance should see). */
export function billedRatio(billed: Money, list: Money): Money | null {
  return list.isZero() ? null : billed.dividedBy(list);
}

/**
 * Trues the month's lines up to the bill. Each day's billed amount goes to that day's lines in proportion to
 * their list-price cost that day, so a discount that changed mid-month or a day of heavy cache use lands on
 * the people of that day. Billed days with no priced usage are the residue, shared by the month's list cost
 * or kept apart, by `policy`. When nothing at all was priced, everything billed is residue.
 *
 * Rounding: exact shares are computed first, then teams get largest-remainder whole units of the rounded
 * billed total, users of their team's amount and lines of their user's, so every level adds up to the one
 * above it and each share is within one minor unit of its exact value.
 */
export function trueUp(lines: readonly MonthlyLine[], charges: readonly BilledCharge[], options: { currency: string; policy: ResiduePolicy }): TrueUp {
  const billedByDay = new Map<string, Money[]>();
  for (const charge of charges) {
    let amounts = billedByDay.get(charge.day);
    if (!amounts) billedByDay.set(charge.day, (amounts = []));
    amounts.push(charge.amount);
  }
  const listByDay = new Map<string, Money[]>();
  const tokensByDay = new Map<string, number>();
  for (const line of lines) {
    for (const usage of line.days) {
      tokensByDay.set(usage.day, (tokensByDay.get(usage.day) ?? 0) + totalTokens(usage.tokens));
      if (usage.cost === null) continue;
      let costs = listByDay.get(usage.day);
      if (!costs) listByDay.set(usage.day, (costs = []));
      costs.push(usage.cost);
    }
  }

  const dayKeys = [...new Set([...billedByDay.keys(), ...tokensByDay.keys()])].sort();
  const days: TrueUpDay[] = dayKeys.map((day) => {
    const list = sumMoney(listByDay.get(day) ?? []);
    const billed = sumMoney(billedByDay.get(day) ?? []);
    return { day, meteredTokens: tokensByDay.get(day) ?? 0, list, billed, ratio: billedRatio(billed, list) };
  });
  const residueDays = days.filter((day) => day.list.isZero() && !day.billed.isZero());
  const residue = sumMoney(residueDays.map((day) => day.billed));
  const listTotal = sumMoney(days.map((day) => day.list));
  const billedExact = sumMoney(days.map((day) => day.billed));
  const billedTotal = toMinorUnits(billedExact);

  // Residue is shared by the month's list cost only when there is a list cost to share it by. One rate per
  // day (billed per unit of list cost, residue included) keeps the per-line work to multiplications.
  const shareResidue = options.policy === 'proportional' && !listTotal.isZero();
  const rates = dayRates(days, shareResidue ? residue.dividedBy(listTotal) : ZERO);
  const exactByLine = new Map<string, Money>();
  for (const line of lines) {
    let exact = ZERO;
    for (const usage of line.days) {
      if (usage.cost === null || usage.cost.isZero()) continue;
      exact = exact.plus(usage.cost.times(rates.get(usage.day)!));
    }
    exactByLine.set(lineKey(line), exact);
  }
  const unattributedExact = shareResidue ? ZERO : residue;

  // Lines grouped once by team and user, in the report's order (teams by id with Unallocated last, users by id).
  const byTeam = new Map<string, Map<string, MonthlyLine[]>>();
  for (const teamId of orderedTeams(lines)) byTeam.set(teamId, new Map());
  for (const line of lines) {
    const users = byTeam.get(line.teamId)!;
    let userLines = users.get(line.userId);
    if (!userLines) users.set(line.userId, (userLines = []));
    userLines.push(line);
  }
  const exactOf = (group: readonly MonthlyLine[]) => sumMoney(group.map((line) => exactByLine.get(lineKey(line))!));

  // The bucket sits beside the teams, so it takes its whole units from the same rounding as they do.
  const teamIds = [...byTeam.keys()];
  const teamExacts = teamIds.map((teamId) => sumMoney([...byTeam.get(teamId)!.values()].map(exactOf)));
  const shares = allocateMinorUnits([...teamExacts, unattributedExact], billedTotal);
  const unattributedAmount = shares[teamIds.length]!;

  const teams: TrueUpTeam[] = [];
  const users: TrueUpUser[] = [];
  const lineShares = new Map<string, TrueUpShare>();
  teamIds.forEach((teamId, teamIndex) => {
    const teamUsers = byTeam.get(teamId)!;
    teams.push({ key: teamId, teamId, exact: teamExacts[teamIndex]!, amount: shares[teamIndex]! });
    const userIds = [...teamUsers.keys()].sort();
    const userExacts = userIds.map((userId) => exactOf(teamUsers.get(userId)!));
    const userAmounts = allocateMinorUnits(userExacts, shares[teamIndex]!);
    userIds.forEach((userId, userIndex) => {
      users.push({ key: `${teamId}\u0000${userId}`, teamId, userId, exact: userExacts[userIndex]!, amount: userAmounts[userIndex]! });
      const userLines = teamUsers.get(userId)!;
      const lineExacts = userLines.map((line) => exactByLine.get(lineKey(line))!);
      const lineAmounts = allocateMinorUnits(lineExacts, userAmounts[userIndex]!);
      userLines.forEach((line, index) => lineShares.set(lineKey(line), { key: lineKey(line), exact: lineExacts[index]!, amount: lineAmounts[index]! }));
    });
  });

  return {
    currency: options.currency,
    policy: options.policy,
    listTotal,
    billedExact,
    billedTotal,
    ratio: billedRatio(billedExact, listTotal),
    days,
    lines: lineShares,
    teams,
    users,
    unattributed: { exact: unattributedExact, amount: unattributedAmount, days: residueDays.map((day) => day.day) },
  };
}

/** Teams by id with the unallocated bucket last, the order the month report uses. */
function orderedTeams(lines: readonly MonthlyLine[]): string[] {
  return [...new Set(lines.map((line) => line.teamId))].sort(
    (a, b) => Number(a === UNALLOCATED_TEAM) - Number(b === UNALLOCATED_TEAM) || a.localeCompare(b),
  );
}

/**
 * Whether the export covers the whole month: some row's charge period reaches the month's last day. Rows of
 * every service count, since an export that has Storage charges for the last day has run past it even on a
 * day nobody used Claude.
 */
export function billCoversMonth(lastChargeDay: string | null, lastDayOfMonth: string): boolean {
  return lastChargeDay !== null && lastChargeDay >= lastDayOfMonth;
}

/** A stable digest input of the billed figures, so that a change in the bill makes a new revision. */
export function billedFingerprintInput(trueUpResult: TrueUp, complete: boolean): string {
  return JSON.stringify([
    complete,
    trueUpResult.currency,
    trueUpResult.policy,
    trueUpResult.days.map((day) => [day.day, day.billed.toFixed()]),
  ]);
}

/**
 * What a close knows of the bill, carried by its report. `basis` says what the charge is: 'estimate' (list
 * prices; no bill, or not yet the whole month's) or 'trued-up' (the month's complete bill, shared out).
 */
export interface BillingReconciliation {
  readonly basis: 'estimate' | 'trued-up';
  /** The bill reaches the month's last day. */
  readonly complete: boolean;
  readonly lastChargeDay: string | null;
  readonly sourceDescription: string;
  readonly costColumn: string;
  readonly rule: ClaudeChargeRule;
  readonly claudeRows: number;
  readonly trueUp: TrueUp;
  readonly leftOut: LeftOutCharges;
}

export const TRUED_UP_LABEL = 'trued up to the Azure invoice';

/**
 * Per day, the billed cost of one unit of list cost, so that any finer row (a line's day and token kind) can be
 * trued up by multiplication: the day's billed / list, plus the residue's share when it is shared over the
 * month. Days without list cost have no rate (their bill is the residue).
 */
export function billedRatesByDay(result: TrueUp): Map<string, Money> {
  const residue = sumMoney(result.days.filter((day) => day.list.isZero()).map((day) => day.billed));
  return dayRates(result.days, result.policy === 'proportional' && !result.listTotal.isZero() ? residue.dividedBy(result.listTotal) : ZERO);
}

function dayRates(days: readonly TrueUpDay[], residueRate: Money): Map<string, Money> {
  const rates = new Map<string, Money>();
  for (const day of days) if (!day.list.isZero()) rates.set(day.day, day.billed.dividedBy(day.list).plus(residueRate));
  return rates;
}
