import { isValidTeamId } from './directory.js';
import { AppError } from './errors.js';
import { money, sumMoney, ZERO, type Money } from './money.js';
import { daysOfMonth, parseDay, parseMonth } from './periods.js';

/**
 * Budgets per team per calendar month (in the reporting time zone, so there is nothing to "reset": a new
 * month is simply a new period), the month-end forecast, and which alert thresholds a month's spend crosses.
 */

export type ThresholdKind = 'actual' | 'forecast';

export const DEFAULT_ACTUAL_THRESHOLDS: readonly number[] = Object.freeze([50, 80, 100]);
export const DEFAULT_FORECAST_THRESHOLDS: readonly number[] = Object.freeze([100]);
export const MIN_THRESHOLD_PERCENT = 1;
export const MAX_THRESHOLD_PERCENT = 1000;

export interface TeamBudget {
  readonly teamId: string;
  readonly month: string;
  readonly amount: Money;
  readonly currency: string;
  /** Percent of the budget that month-to-date spend must reach, ascending. */
  readonly actualThresholds: readonly number[];
  /** Percent of the budget that the month-end forecast must reach, ascending. */
  readonly forecastThresholds: readonly number[];
}

export interface BudgetPlan {
  readonly currency: string;
  readonly source: string;
  /** Every team with a budget in `month`, by team id. */
  budgetsFor(month: string): TeamBudget[];
}

export const EMPTY_BUDGET_PLAN = (currency: string): BudgetPlan => ({ currency, source: 'no budgets configured', budgetsFor: () => [] });

/**
 * The budgets file:
 *
 * ```json
 * {
 *   "currency": "USD",
 *   "defaults": { "actualThresholds": [50, 80, 100], "forecastThresholds": [100] },
 *   "teams": [
 *     { "teamId": "payments", "amount": "1500.00" },
 *     { "teamId": "platform", "amount": "800", "actualThresholds": [90, 100], "forecastThresholds": [], "months": { "2026-12": "400" } }
 *   ]
 * }
 * ```
 *
 * `amount` is the monthly budget (a decimal string, or a plain number); `months` overrides it for chosen
 * months; an empty threshold list switches that kind of alert off for the team.
 */
export interface BudgetDocument {
  readonly currency: string;
  readonly defaults?: { readonly actualThresholds?: readonly number[]; readonly forecastThresholds?: readonly number[] };
  readonly teams: readonly {
    readonly teamId: string;
    readonly amount: string | number;
    readonly actualThresholds?: readonly number[];
    readonly forecastThresholds?: readonly number[];
    readonly months?: Readonly<Record<string, string | number>>;
  }[];
}

const AMOUNT = /^\d{1,12}(\.\d{1,6})?$/;
const CURRENCY = /^[A-Z]{3}$/;
type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value);

function readAmount(value: unknown, where: string, problems: string[]): Money | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || !AMOUNT.test(text.trim())) {
    problems.push(`${where}: must be a positive decimal amount such as "1500.00", got ${JSON.stringify(value)}`);
    return undefined;
  }
  const amount = money(text.trim());
  if (amount.lte(0)) {
    problems.push(`${where}: must be more than zero, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return amount;
}

function readThresholds(value: unknown, where: string, problems: string[]): number[] | undefined {
  if (!Array.isArray(value)) {
    problems.push(`${where}: must be a list of percentages such as [50, 80, 100]`);
    return undefined;
  }
  const before = problems.length;
  value.forEach((item, index) => {
    if (typeof item !== 'number' || !Number.isInteger(item) || item < MIN_THRESHOLD_PERCENT || item > MAX_THRESHOLD_PERCENT) {
      problems.push(`${where}[${index}]: must be a whole percentage from ${MIN_THRESHOLD_PERCENT} to ${MAX_THRESHOLD_PERCENT}, got ${JSON.stringify(item)}`);
    }
  });
  const numbers = value as number[];
  if (new Set(numbers).size !== numbers.length) problems.push(`${where}: lists a percentage twice`);
  return problems.length > before ? undefined : [...numbers].sort((a, b) => a - b);
}

/**
 * Validates a budgets document against the price book's currency. Reports every problem at once, each naming
 * the file and the entry, so whoever edits the file fixes it in one pass.
 */
export function parseBudgetDocument(document: unknown, source: string, options: { currency: string }): BudgetPlan {
  const problems: string[] = [];
  const at = (where: string) => `${source}: ${where}`;
  if (!isObject(document)) {
    throw new AppError('CONFIG_INVALID', `${source}: a budgets file must be a JSON object with "currency" and "teams"`);
  }
  const currency = document['currency'];
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) {
    problems.push(`${at('currency')}: must be an ISO 4217 code such as "USD", got ${JSON.stringify(currency)}`);
  } else if (currency !== options.currency) {
    problems.push(`${at('currency')}: is ${currency} but the price book prices in ${options.currency}; budgets must be in the same currency`);
  }

  let actualDefaults: readonly number[] = DEFAULT_ACTUAL_THRESHOLDS;
  let forecastDefaults: readonly number[] = DEFAULT_FORECAST_THRESHOLDS;
  const defaults = document['defaults'];
  if (defaults !== undefined) {
    if (!isObject(defaults)) problems.push(`${at('defaults')}: must be an object`);
    else {
      if (defaults['actualThresholds'] !== undefined) actualDefaults = readThresholds(defaults['actualThresholds'], at('defaults.actualThresholds'), problems) ?? actualDefaults;
      if (defaults['forecastThresholds'] !== undefined) forecastDefaults = readThresholds(defaults['forecastThresholds'], at('defaults.forecastThresholds'), problems) ?? forecastDefaults;
    }
  }

  const teams = document['teams'];
  const parsed: { teamId: string; amount: Money; months: Map<string, Money>; actual: readonly number[]; forecast: readonly number[] }[] = [];
  if (!Array.isArray(teams)) problems.push(`${at('teams')}: must be a list of { "teamId", "amount" } entries`);
  else {
    const seen = new Set<string>();
    teams.forEach((entry, index) => {
      const where = (field: string) => at(`teams[${index}]${field ? `.${field}` : ''}`);
      if (!isObject(entry)) {
        problems.push(`${where('')}: must be an object with "teamId" and "amount"`);
        return;
      }
      const before = problems.length;
      const teamId = entry['teamId'];
      if (typeof teamId !== 'string' || !isValidTeamId(teamId)) {
        problems.push(`${where('teamId')}: ${JSON.stringify(teamId)} is not a team id (lower-case letters, digits, ".", "_" or "-", starting with a letter or digit)`);
      } else if (seen.has(teamId)) {
        problems.push(`${where('teamId')}: team "${teamId}" has a budget earlier in the file already`);
      } else seen.add(teamId);
      const amount = readAmount(entry['amount'], where('amount'), problems);
      const months = new Map<string, Money>();
      const rawMonths = entry['months'];
      if (rawMonths !== undefined) {
        if (!isObject(rawMonths)) problems.push(`${where('months')}: must map months ("2026-12") to amounts`);
        else {
          for (const [month, value] of Object.entries(rawMonths)) {
            let key: string;
            try {
              key = parseMonth(month);
            } catch {
              problems.push(`${where(`months.${month}`)}: "${month}" is not a month (YYYY-MM)`);
              continue;
            }
            const monthly = readAmount(value, where(`months.${month}`), problems);
            if (monthly) months.set(key, monthly);
          }
        }
      }
      const actual = entry['actualThresholds'] === undefined ? actualDefaults : readThresholds(entry['actualThresholds'], where('actualThresholds'), problems);
      const forecast = entry['forecastThresholds'] === undefined ? forecastDefaults : readThresholds(entry['forecastThresholds'], where('forecastThresholds'), problems);
      if (problems.length === before && amount && actual && forecast) {
        parsed.push({ teamId: teamId as string, amount, months, actual, forecast });
      }
    });
  }

  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `${source}: the budgets file has ${problems.length} problem(s)`, { details: problems });
  }
  const bookCurrency = currency as string;
  return {
    currency: bookCurrency,
    source,
    budgetsFor(month: string): TeamBudget[] {
      const key = parseMonth(month);
      return parsed.map((team) => ({
        teamId: team.teamId,
        month: key,
        amount: team.months.get(key) ?? team.amount,
        currency: bookCurrency,
        actualThresholds: team.actual,
        forecastThresholds: team.forecast,
      }));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Forecast

/** Spend on one calendar day (in the reporting zone). Several entries for one day are added up. */
export interface DailyAmount {
  readonly day: string;
  readonly cost: Money;
}

export interface ForecastOptions {
  /** How many of the latest complete working days set the working-day rate. */
  readonly trailingWorkingDays?: number;
}

export const DEFAULT_TRAILING_WORKING_DAYS = 5;

export interface MonthForecast {
  readonly month: string;
  readonly today: string;
  /** Everything spent in the month up to today, today's partial day included. */
  readonly actual: Money;
  /** The projected month-end total; never below `actual`. */
  readonly forecast: Money;
  /** Average cost of a working day (Monday-Friday) over the trailing complete working days, or the fallback. */
  readonly workingDayRate: Money;
  /** Average cost of a complete weekend day this month, or the fallback. */
  readonly weekendDayRate: Money;
  /** Days of the month from today (included, since today is not over) to the month's last day. */
  readonly remainingWorkingDays: number;
  readonly remainingWeekendDays: number;
  /** How the rates were found, for the alert text and for anyone wondering why the forecast says what it says. */
  readonly basis: 'month-over' | 'no-complete-day' | 'working-and-weekend' | 'working-only' | 'weekend-only';
}

/** Saturday and Sunday; a day string is already a local calendar date, so its weekday needs no zone. */
export function isWeekendDay(day: string): boolean {
  const weekday = new Date(`${parseDay(day)}T00:00:00Z`).getUTCDay();
  return weekday === 0 || weekday === 6;
}

function average(values: readonly Money[]): Money | null {
  return values.length === 0 ? null : sumMoney(values).dividedBy(values.length);
}

/**
 * Projects a month's total from its month-to-date daily spend, so that the weekends do not drag the rate down
 * on a Monday nor push it up on a Friday:
 *
 *   forecast = spend on the complete days (days before `today`)
 *            + for each remaining day (today to the month's end): the larger of what that day already has and
 *              its expected cost, the working-day rate for Monday-Friday and the weekend-day rate otherwise.
 *
 * working-day rate = mean cost of the last N complete working days of the month (N = 5; a working day with
 *                    no spend counts as zero: a quiet day is a real day);
 * weekend-day rate = mean cost of the month's complete weekend days.
 *
 * Fallbacks for the first days of a month: with no complete working day yet the weekend rate stands in for
 * it, with no complete weekend day yet the working rate stands in (erring towards an early warning), and
 * with no complete day at all (the 1st) nothing is projected: the forecast is the actual. After the month's
 * last day the forecast is the actual. `today` is the evaluation day in the reporting zone.
 */
export function forecastMonthEnd(month: string, today: string, series: readonly DailyAmount[], options: ForecastOptions = {}): MonthForecast {
  const days = daysOfMonth(parseMonth(month));
  parseDay(today);
  const trailing = options.trailingWorkingDays ?? DEFAULT_TRAILING_WORKING_DAYS;
  if (!Number.isInteger(trailing) || trailing < 1) throw new AppError('INVALID_ARGUMENT', `trailingWorkingDays must be a positive whole number, got ${trailing}`);

  const byDay = new Map<string, Money>(days.map((day) => [day, ZERO]));
  for (const entry of series) {
    const current = byDay.get(entry.day);
    // Spend of another month is not this month's (a series may straddle a boundary), and spend dated after
    // today cannot be known yet: a replay "as of" a past day sees only what that day could see.
    if (current !== undefined && entry.day <= today) byDay.set(entry.day, current.plus(entry.cost));
  }
  const spentOn = (day: string) => byDay.get(day) ?? ZERO;
  const actual = sumMoney(byDay.values());

  const complete = days.filter((day) => day < today);
  const remaining = days.filter((day) => day >= today);
  const remainingWeekendDays = remaining.filter(isWeekendDay).length;
  const remainingWorkingDays = remaining.length - remainingWeekendDays;

  const workingHistory = complete.filter((day) => !isWeekendDay(day)).slice(-trailing).map(spentOn);
  const weekendHistory = complete.filter(isWeekendDay).map(spentOn);
  const working = average(workingHistory);
  const weekend = average(weekendHistory);

  const result = (basis: MonthForecast['basis'], workingDayRate: Money, weekendDayRate: Money, forecast: Money): MonthForecast => ({
    month,
    today,
    actual,
    forecast,
    workingDayRate,
    weekendDayRate,
    remainingWorkingDays,
    remainingWeekendDays,
    basis,
  });
  if (remaining.length === 0) return result('month-over', working ?? ZERO, weekend ?? ZERO, actual);
  if (working === null && weekend === null) return result('no-complete-day', ZERO, ZERO, actual);

  const workingRate = working ?? weekend!;
  const weekendRate = weekend ?? working!;
  const basis = working !== null && weekend !== null ? 'working-and-weekend' : working !== null ? 'working-only' : 'weekend-only';
  let forecast = sumMoney(complete.map(spentOn));
  for (const day of remaining) {
    const expected = isWeekendDay(day) ? weekendRate : workingRate;
    forecast = forecast.plus(larger(spentOn(day), expected));
  }
  return result(basis, workingRate, weekendRate, forecast);
}

function larger(a: Money, b: Money): Money {
  return a.gte(b) ? a : b;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation

export interface ThresholdCrossing {
  readonly teamId: string;
  readonly month: string;
  readonly kind: ThresholdKind;
  /** Percent of the budget. */
  readonly threshold: number;
  /** The amount compared: spend so far for 'actual', the month-end forecast for 'forecast'. */
  readonly amount: Money;
  readonly budget: Money;
  /**
   * False when a higher crossing of the same run says more: 50% and 80% under a 100% crossing, or a forecast
   * threshold that spend itself has already reached. Such crossings are recorded, not announced.
   */
  readonly headline: boolean;
}

export interface TeamBudgetStatus {
  readonly budget: TeamBudget;
  readonly forecast: MonthForecast;
  /** Spend so far as a percentage of the budget (exact). */
  readonly actualPercent: Money;
  readonly forecastPercent: Money;
  /** Days left in the month, today included. */
  readonly daysLeft: number;
  readonly crossings: readonly ThresholdCrossing[];
}

export function percentOf(amount: Money, budget: Money): Money {
  return amount.times(100).dividedBy(budget);
}

/** True when `amount` has reached `threshold` percent of `budget`, compared exactly (no rounding). */
export function hasReached(amount: Money, budget: Money, threshold: number): boolean {
  return amount.times(100).gte(budget.times(threshold));
}

/** The thresholds a team's month has reached, actual and forecast, with the headline ones marked. */
export function crossedThresholds(budget: TeamBudget, actual: Money, forecast: Money): ThresholdCrossing[] {
  const actualCrossed = budget.actualThresholds.filter((threshold) => hasReached(actual, budget.amount, threshold));
  const forecastCrossed = budget.forecastThresholds.filter((threshold) => hasReached(forecast, budget.amount, threshold));
  const highestActual = actualCrossed.length > 0 ? Math.max(...actualCrossed) : 0;
  const highestForecast = forecastCrossed.length > 0 ? Math.max(...forecastCrossed) : 0;
  const base = { teamId: budget.teamId, month: budget.month, budget: budget.amount };
  return [
    ...actualCrossed.map((threshold) => ({ ...base, kind: 'actual' as const, threshold, amount: actual, headline: threshold === highestActual })),
    ...forecastCrossed.map((threshold) => ({
      ...base,
      kind: 'forecast' as const,
      threshold,
      amount: forecast,
      headline: threshold === highestForecast && threshold > highestActual,
    })),
  ];
}

/** Every budgeted team's standing on `today`: spend, forecast and the thresholds crossed. */
export function evaluateTeamBudgets(input: {
  readonly month: string;
  readonly today: string;
  readonly budgets: readonly TeamBudget[];
  /** Daily spend per team id; a team with no entry spent nothing. */
  readonly spend: ReadonlyMap<string, readonly DailyAmount[]>;
  readonly options?: ForecastOptions;
}): TeamBudgetStatus[] {
  return input.budgets.map((budget) => {
    const forecast = forecastMonthEnd(input.month, input.today, input.spend.get(budget.teamId) ?? [], input.options);
    return {
      budget,
      forecast,
      actualPercent: percentOf(forecast.actual, budget.amount),
      forecastPercent: percentOf(forecast.forecast, budget.amount),
      daysLeft: forecast.remainingWorkingDays + forecast.remainingWeekendDays,
      crossings: crossedThresholds(budget, forecast.actual, forecast.forecast),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Finance signals

/** The unallocated share of the month's tokens has reached `level` percent. */
export interface UnallocatedCrossing {
  readonly month: string;
  readonly level: number;
  readonly unallocatedTokens: number;
  readonly totalTokens: number;
  readonly headline: boolean;
}

/** Levels (percent) of the unallocated share of tokens that are reached, the highest marked as the headline. */
export function unallocatedCrossings(month: string, unallocatedTokens: number, totalTokens: number, levels: readonly number[]): UnallocatedCrossing[] {
  if (totalTokens <= 0 || unallocatedTokens <= 0) return [];
  const reached = [...levels].sort((a, b) => a - b).filter((level) => unallocatedTokens * 100 >= level * totalTokens);
  const highest = reached.at(-1);
  return reached.map((level) => ({ month, level, unallocatedTokens, totalTokens, headline: level === highest }));
}
