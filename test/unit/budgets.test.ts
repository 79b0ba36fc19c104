import { describe, expect, it } from 'vitest';
import {
  crossedThresholds,
  evaluateTeamBudgets,
  forecastMonthEnd,
  hasReached,
  isWeekendDay,
  parseBudgetDocument,
  unallocatedCrossings,
  type DailyAmount,
  type TeamBudget,
} from '../../shared/domain/budgets.js';
import { AppError } from '../../shared/domain/errors.js';
import { money } from '../../shared/domain/money.js';
import { daysOfMonth } from '../../shared/domain/periods.js';

// October 2026 starts on a Thursday: weekends are 3-4, 10-11, 17-18, 24-25, 31.
const OCTOBER = daysOfMonth('2026-10');
const series = (costOf: (day: string, index: number) => number | string, until = '2026-10-31'): DailyAmount[] =>
  OCTOBER.filter((day) => day <= until).map((day, index) => ({ day, cost: money(costOf(day, index)) }));

function budget(partial: Partial<TeamBudget> = {}): TeamBudget {
  return { teamId: 'payments', month: '2026-10', amount: money(100), currency: 'USD', actualThresholds: [50, 80, 100], forecastThresholds: [100], ...partial };
}

describe('month-end forecast', () => {
  it('knows weekends from the calendar day alone', () => {
    expect(['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05'].map(isWeekendDay)).toEqual([false, false, true, true, false]);
  });

  it('projects a flat series to the same daily amount for every day of the month', () => {
    const forecast = forecastMonthEnd('2026-10', '2026-10-15', series(() => 10, '2026-10-14'));
    expect(forecast.actual.toFixed()).toBe('140');
    expect(forecast.forecast.toFixed()).toBe('310');
    expect(forecast.basis).toBe('working-and-weekend');
    // 15th (Thu) to 31st (Sat): 12 working days and 5 weekend days, today included.
    expect([forecast.remainingWorkingDays, forecast.remainingWeekendDays]).toEqual([12, 5]);
  });

  it('uses the trailing working days, so a ramping team is projected at its current pace', () => {
    // Working days cost 1, 2, 3, ... in order; weekends nothing.
    let working = 0;
    const ramp = series((day) => (isWeekendDay(day) ? 0 : ++working), '2026-10-14');
    const forecast = forecastMonthEnd('2026-10', '2026-10-15', ramp);
    // Working days 1..10 before the 15th: the last five cost 6..10, mean 8; weekends mean 0.
    expect(forecast.workingDayRate.toFixed()).toBe('8');
    expect(forecast.weekendDayRate.toFixed()).toBe('0');
    expect(forecast.actual.toFixed()).toBe('55');
    expect(forecast.forecast.toFixed()).toBe(String(55 + 12 * 8));
  });

  it('does not let quiet weekends drag a Monday forecast down', () => {
    const quiet = series((day) => (isWeekendDay(day) ? 0 : 20), '2026-10-11');
    const monday = forecastMonthEnd('2026-10', '2026-10-12', quiet);
    // 22 working days in October x 20, weekends 0. A calendar-day average would say 140 / 11 x 31, about 395.
    expect(monday.actual.toFixed()).toBe('140');
    expect([monday.workingDayRate.toFixed(), monday.weekendDayRate.toFixed()]).toEqual(['20', '0']);
    expect(monday.forecast.toFixed()).toBe('440');
  });

  it('forecasts nothing beyond the actual on an empty series and on the first day', () => {
    expect(forecastMonthEnd('2026-10', '2026-10-20', []).forecast.toFixed()).toBe('0');
    const first = forecastMonthEnd('2026-10', '2026-10-01', [{ day: '2026-10-01', cost: money('3.5') }]);
    expect(first.basis).toBe('no-complete-day');
    expect(first.forecast.toFixed()).toBe('3.5');
  });

  it('falls back to the working-day rate for weekends not seen yet, and never forecasts below the actual', () => {
    // Thursday 1st and Friday 2nd complete, today Saturday 3rd with a big partial day already.
    const early = forecastMonthEnd('2026-10', '2026-10-03', [
      { day: '2026-10-01', cost: money(10) },
      { day: '2026-10-02', cost: money(10) },
      { day: '2026-10-03', cost: money(50) },
    ]);
    expect(early.basis).toBe('working-only');
    expect(early.weekendDayRate.toFixed()).toBe('10');
    // 20 complete + today max(50, 10) + 28 more days at 10.
    expect(early.forecast.toFixed()).toBe(String(20 + 50 + 28 * 10));
    expect(early.forecast.gte(early.actual)).toBe(true);
  });

  it('equals the actual once the month is over, and ignores spend of other months', () => {
    const over = forecastMonthEnd('2026-10', '2026-11-03', [...series(() => '1.25'), { day: '2026-11-01', cost: money(1000) }]);
    expect(over.basis).toBe('month-over');
    expect(over.actual.toFixed()).toBe('38.75');
    expect(over.forecast.toFixed()).toBe('38.75');
  });

  it('sees only the spend up to today when replayed as of a past day', () => {
    const replay = forecastMonthEnd('2026-10', '2026-10-02', series(() => 10));
    expect(replay.actual.toFixed()).toBe('20');
  });
});

describe('thresholds', () => {
  it('compares exactly: one hundredth of a cent short is not reached', () => {
    expect(hasReached(money('49.9999'), money(100), 50)).toBe(false);
    expect(hasReached(money('50'), money(100), 50)).toBe(true);
    expect(hasReached(money('0.1').plus(money('0.2')), money('0.6'), 50)).toBe(true);
  });

  it.each([
    ['49.99', [], []],
    ['50', [50], []],
    ['80', [80], [50]],
    ['100', [100], [50, 80]],
  ])('spend %s of 100 crosses the actual thresholds %j as headline (and %j under it)', (spent, headline, under) => {
    const crossings = crossedThresholds(budget({ forecastThresholds: [] }), money(spent), money(spent));
    expect(crossings.filter((c) => c.headline).map((c) => c.threshold)).toEqual(headline);
    expect(crossings.filter((c) => !c.headline).map((c) => c.threshold)).toEqual(under);
    expect(crossings.every((c) => c.kind === 'actual')).toBe(true);
  });

  it('raises the forecast threshold only while spend itself has not reached it', () => {
    const early = crossedThresholds(budget(), money(40), money(120));
    expect(early.map((c) => [c.kind, c.threshold, c.headline])).toEqual([['forecast', 100, true]]);
    const reached = crossedThresholds(budget(), money(101), money(130));
    expect(reached.filter((c) => c.headline).map((c) => [c.kind, c.threshold])).toEqual([['actual', 100]]);
    expect(reached.find((c) => c.kind === 'forecast')?.headline).toBe(false);
  });

  it('evaluates each team against its own budget with its percentages and days left', () => {
    const [status] = evaluateTeamBudgets({
      month: '2026-10',
      today: '2026-10-29',
      budgets: [budget({ amount: money(300) })],
      spend: new Map([['payments', series(() => 10, '2026-10-28')]]),
    });
    expect(status!.actualPercent.toFixed(2)).toBe('93.33');
    expect(status!.forecastPercent.toFixed(2)).toBe('103.33');
    expect(status!.daysLeft).toBe(3);
    expect(status!.crossings.filter((c) => c.headline).map((c) => `${c.kind}:${c.threshold}`)).toEqual(['actual:80', 'forecast:100']);
  });

  it('marks the highest unallocated level reached as the headline', () => {
    expect(unallocatedCrossings('2026-10', 30, 100, [10, 25, 50]).map((c) => [c.level, c.headline])).toEqual([
      [10, false],
      [25, true],
    ]);
    expect(unallocatedCrossings('2026-10', 0, 100, [10])).toEqual([]);
    expect(unallocatedCrossings('2026-10', 0, 0, [10])).toEqual([]);
  });
});

describe('budget documents', () => {
  it('reads amounts, defaults, per-team thresholds and monthly overrides', () => {
    const plan = parseBudgetDocument(
      {
        currency: 'USD',
        defaults: { actualThresholds: [100, 75] },
        teams: [
          { teamId: 'payments', amount: '1500.50' },
          { teamId: 'platform', amount: 800, forecastThresholds: [], months: { '2026-12': '400' } },
        ],
      },
      'budgets.json',
      { currency: 'USD' },
    );
    const october = plan.budgetsFor('2026-10');
    expect(october.map((b) => [b.teamId, b.amount.toFixed(), b.actualThresholds, b.forecastThresholds])).toEqual([
      ['payments', '1500.5', [75, 100], [100]],
      ['platform', '800', [75, 100], []],
    ]);
    expect(plan.budgetsFor('2026-12')[1]!.amount.toFixed()).toBe('400');
  });

  it('reports every problem at once', () => {
    let caught: unknown;
    try {
      parseBudgetDocument(
        {
          currency: 'EUR',
          teams: [
            { teamId: 'Payments!', amount: '10' },
            { teamId: 'platform', amount: '-5' },
            { teamId: 'search', amount: '0' },
            { teamId: 'growth', amount: '12', actualThresholds: [0, 50, 1001] },
            { teamId: 'growth', amount: '12' },
            { teamId: 'mobile', amount: 'lots', months: { '2026-13': '5' } },
          ],
        },
        'budgets.json',
        { currency: 'USD' },
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    const details = (caught as AppError).details.join('\n');
    expect((caught as AppError).code).toBe('CONFIG_INVALID');
    for (const expected of [
      'budgets.json: currency: is EUR but the price book prices in USD',
      'teams[0].teamId: "Payments!" is not a team id',
      'teams[1].amount: must be a positive decimal amount',
      'teams[2].amount: must be more than zero',
      'teams[3].actualThresholds[0]: must be a whole percentage from 1 to 1000',
      'teams[3].actualThresholds[2]',
      'teams[4].teamId: team "growth" has a budget earlier in the file already',
      'teams[5].amount',
      'teams[5].months.2026-13: "2026-13" is not a month',
    ]) {
      expect(details).toContain(expected);
    }
    expect((caught as AppError).details).toHaveLength(9);
  });
});
