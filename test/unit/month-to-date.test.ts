import { describe, expect, it } from 'vitest';
import { buildDayLines, monthlyLinesFromDayLines, type DayLine } from '../../shared/domain/daily.js';
import { money, sumMoney, ZERO } from '../../shared/domain/money.js';
import { buildMonthlyLines, lineKey } from '../../shared/domain/rollup.js';
import { sumTokens, totalTokens, TOKEN_KINDS } from '../../shared/domain/tokens.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';

function dayLine(overrides: Partial<DayLine> & Pick<DayLine, 'day'>): DayLine {
  return {
    teamId: 'platform',
    userId: 'u1',
    model: 'claude-sonnet-4-6',
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: 'Ada',
    upn: 'ada@contoso.example',
    pricedModel: 'claude-sonnet-4-6',
    tokens: tokens({ input: 1000, output: 20 }),
    requests: 2,
    cost: money('0.0123456789'),
    priceEntryId: 'sonnet@2026-01-01',
    currency: 'USD',
    ...overrides,
  };
}

/** A deterministic spread of day lines: several users, models and days, some unpriced, one price change. */
function sampleDayLines(): DayLine[] {
  const lines: DayLine[] = [];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let day = 1; day <= 20; day += 1) {
    for (const userId of ['u1', 'u2', 'u3']) {
      for (const model of ['claude-sonnet-4-6', 'claude-haiku-4-5', 'mystery-model']) {
        if (next() % 3 === 0) continue;
        const unpriced = model === 'mystery-model';
        lines.push(
          dayLine({
            day: `2026-11-${String(day).padStart(2, '0')}`,
            teamId: userId === 'u3' ? '_unallocated' : 'platform',
            userId,
            model,
            allocation: userId === 'u3' ? 'unknown-user' : 'team',
            pricedModel: unpriced ? null : model,
            tokens: tokens({ input: next() % 5_000_000, output: next() % 200_000, cacheRead: next() % 9_000_000 }),
            requests: 1 + (next() % 50),
            cost: unpriced ? null : money(next() % 10_000_000_000).dividedBy(1_000_000_000_000),
            priceEntryId: unpriced ? null : `${model}@${day < 10 ? '2026-01-01' : '2026-11-10'}`,
          }),
        );
      }
    }
  }
  return lines;
}

describe('monthlyLinesFromDayLines', () => {
  it('conserves every token, request and the exact cost, and keeps unpriced tokens apart', () => {
    const dayLines = sampleDayLines();
    const monthly = monthlyLinesFromDayLines('2026-11', dayLines);

    for (const kind of TOKEN_KINDS) {
      expect(monthly.reduce((sum, line) => sum + line.tokens[kind], 0)).toBe(dayLines.reduce((sum, line) => sum + line.tokens[kind], 0));
    }
    expect(monthly.reduce((sum, line) => sum + line.requests, 0)).toBe(dayLines.reduce((sum, line) => sum + line.requests, 0));
    const exactDays = sumMoney(dayLines.map((line) => line.cost ?? ZERO));
    expect(sumMoney(monthly.map((line) => line.cost)).eq(exactDays)).toBe(true);
    expect(sumMoney(monthly.map((line) => line.cost)).toFixed()).toBe(exactDays.toFixed());
    expect(totalTokens(sumTokens(monthly.map((line) => line.unpricedTokens)))).toBe(
      totalTokens(sumTokens(dayLines.filter((line) => line.cost === null).map((line) => line.tokens))),
    );
    // One line per team x user x model x tier, each holding exactly its days in order.
    expect(new Set(monthly.map(lineKey)).size).toBe(monthly.length);
    expect(monthly.reduce((sum, line) => sum + line.days.length, 0)).toBe(dayLines.length);
    for (const line of monthly) {
      expect(line.days.map((day) => day.day)).toEqual([...line.days.map((day) => day.day)].sort());
      expect(line.cost.eq(sumMoney(line.days.map((day) => day.cost ?? ZERO)))).toBe(true);
    }
    const sonnet = monthly.find((line) => line.userId === 'u1' && line.model === 'claude-sonnet-4-6')!;
    expect(sonnet.priceEntryIds).toEqual(['claude-sonnet-4-6@2026-01-01', 'claude-sonnet-4-6@2026-11-10']);
    const mystery = monthly.find((line) => line.model === 'mystery-model')!;
    expect(mystery).toMatchObject({ pricedModel: null, priceEntryIds: [] });
    expect(mystery.cost.isZero()).toBe(true);
    expect(mystery.unpricedTokens).toEqual(mystery.tokens);
  });

  it('gives the same lines as rolling the month up from the usage rows at once', () => {
    const directory = testDirectory([{ userId: 'u1', teamId: 'platform' }, { userId: 'u2', teamId: 'platform' }], [{ id: 'platform', name: 'Platform', leads: [] }]);
    const priceBook = testPriceBook();
    const rows: UsageRow[] = [];
    for (const day of ['2026-10-01', '2026-10-02', '2026-10-05']) {
      for (const userId of ['u1', 'u2', 'ghost']) rows.push(usageRow({ day, userId, tokens: tokens({ input: 123_457, output: 9_876 }), requests: 3 }));
      rows.push(usageRow({ day, userId: 'u1', model: 'unknown-model', tokens: tokens({ input: 50 }), requests: 1 }));
    }
    const days = ['2026-10-01', '2026-10-02', '2026-10-05'].flatMap((day) => buildDayLines(day, rows.filter((row) => row.day === day), directory, priceBook));
    const fromDays = monthlyLinesFromDayLines('2026-10', days);
    const direct = buildMonthlyLines('2026-10', rows, directory, priceBook);
    // Through JSON: decimals become their text, and a line with its days in columns a plain line.
    expect(JSON.parse(JSON.stringify(fromDays))).toEqual(JSON.parse(JSON.stringify(direct)));
  });

  it('takes names and allocation from the latest day, and refuses a day of another month or a repeated day', () => {
    const [line] = monthlyLinesFromDayLines('2026-11', [
      dayLine({ day: '2026-11-03', userName: 'Ada Lovelace', allocation: 'unknown-user' }),
      dayLine({ day: '2026-11-01', userName: 'Ada', allocation: 'team' }),
    ]);
    expect(line).toMatchObject({ userName: 'Ada Lovelace', allocation: 'unknown-user', requests: 4 });
    expect(() => monthlyLinesFromDayLines('2026-11', [dayLine({ day: '2026-10-31' })])).toThrow(/2026-10-31/);
    expect(() => monthlyLinesFromDayLines('2026-11', [dayLine({ day: '2026-11-02' }), dayLine({ day: '2026-11-02' })])).toThrow(/share/);
    expect(monthlyLinesFromDayLines('2026-11', [])).toEqual([]);
  });
});
