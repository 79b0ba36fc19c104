import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { buildMonthReport, buildMonthReportFromTotals, buildTeamReport, previousMonthFigures, type ReportContext } from '../../shared/domain/report.js';
import { revisionChanges } from '../../shared/domain/revisions.js';
import { buildMonthlyLines, totalsOf } from '../../shared/domain/rollup.js';
import { totalTokens } from '../../shared/domain/tokens.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';

const teams = [
  { id: 'alpha', name: 'Alpha', leads: ['a@contoso.example'] },
  { id: 'beta', name: 'Beta', leads: ['b@contoso.example'] },
  { id: 'gamma', name: 'Gamma', leads: [] },
];
const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'alpha' },
    { userId: 'u2', teamId: 'alpha' },
    { userId: 'u3', teamId: 'beta' },
    { userId: 'u4', teamId: 'gamma' },
  ],
  teams,
);
const priceBook = testPriceBook();

function context(): ReportContext {
  return {
    month: '2026-10',
    timeZone: 'UTC',
    window: { start: new Date('2026-10-01T00:00:00Z'), end: new Date('2026-11-01T00:00:00Z') },
    generatedAt: new Date('2026-11-03T00:00:00Z'),
    revision: 1,
    priceBook,
    teams: directory.teams,
    sourceDescription: 'test',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  };
}

const rowArbitrary = fc.record({
  day: fc.integer({ min: 1, max: 31 }).map((d) => `2026-10-${String(d).padStart(2, '0')}`),
  userId: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'stranger', ''),
  model: fc.constantFrom('claude-sonnet-4-6', 'claude-haiku-4-5', 'unknown-model'),
  input: fc.integer({ min: 0, max: 3_333_333 }),
  output: fc.integer({ min: 0, max: 777_777 }),
  cacheRead: fc.integer({ min: 0, max: 9_999_999 }),
});

const toRows = (records: Array<typeof rowArbitrary extends fc.Arbitrary<infer T> ? T : never>): UsageRow[] =>
  records.map((r) => usageRow({ day: r.day, userId: r.userId, model: r.model, tokens: tokens({ input: r.input, output: r.output, cacheRead: r.cacheRead }) }));

describe('a team\u2019s own report', () => {
  it('totals exactly the team\u2019s amount in the finance report, with the same user amounts, whatever the rounding', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { minLength: 1, maxLength: 40 }), (records) => {
        const lines = buildMonthlyLines('2026-10', toRows(records), directory, priceBook);
        const finance = buildMonthReport(lines, context());
        for (const team of finance.teams) {
          const own = buildTeamReport(lines, finance, team.teamId, context());
          expect(own.grandTotal).toBe(team.amount);
          expect(own.scope).toEqual({ teamId: team.teamId, teamName: team.teamName });
          expect(own.lines.every((line) => line.teamId === team.teamId)).toBe(true);
          expect(own.users).toEqual(finance.users.filter((user) => user.teamId === team.teamId));
          expect(own.daily!.reduce((sum, day) => sum + day.amount, 0n)).toBe(team.amount);
          expect(own.models.reduce((sum, model) => sum + model.amount, 0n)).toBe(team.amount);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('has daily amounts that add up to the grand total and daily tokens that add up to the month', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { minLength: 1, maxLength: 40 }), (records) => {
        const lines = buildMonthlyLines('2026-10', toRows(records), directory, priceBook);
        const report = buildMonthReport(lines, context());
        expect(report.daily!.reduce((sum, day) => sum + day.amount, 0n)).toBe(report.grandTotal);
        expect(report.daily!.reduce((sum, day) => sum + totalTokens(day.tokens), 0)).toBe(totalTokens(report.tokens));
        expect(report.daily!.map((day) => day.day)).toEqual([...new Set(records.map((r) => r.day))].sort());
      }),
      { numRuns: 100 },
    );
  });
});

describe('the finance report from lines without their days', () => {
  it('is the report of the lines with their days, given the days the close made from them', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { minLength: 1, maxLength: 40 }), (records) => {
        const lines = buildMonthlyLines('2026-10', toRows(records), directory, priceBook);
        const whole = buildMonthReport(lines, context());
        const fromTotals = buildMonthReportFromTotals(lines.map(totalsOf), context(), whole.daily!);
        expect(fromTotals).toEqual(whole);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses daily figures that do not share out the lines\' grand total', () => {
    const lines = buildMonthlyLines('2026-10', [usageRow({ day: '2026-10-03', userId: 'u1', tokens: tokens({ input: 3_000_000 }) })], directory, priceBook);
    const whole = buildMonthReport(lines, context());
    const otherDays = whole.daily!.map((day) => ({ ...day, amount: day.amount + 1n }));
    expect(() => buildMonthReportFromTotals(lines.map(totalsOf), context(), otherDays)).toThrow(/daily figures of 2026-10 add up to \d+ minor units, the lines to \d+/);
  });
});

describe('last month and revisions', () => {
  const rows = [
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 1_000_001 }) }),
    usageRow({ day: '2026-10-02', userId: 'u3', tokens: tokens({ input: 1_000_001 }) }),
    usageRow({ day: '2026-10-02', userId: '', tokens: tokens({ input: 1_000_001 }) }),
  ];

  it('rounds last month\u2019s team amounts as its own report did', () => {
    const lines = buildMonthlyLines('2026-10', rows, directory, priceBook);
    const report = buildMonthReport(lines, context());
    const figures = previousMonthFigures('2026-10', lines, directory.teams);
    expect(figures.grandTotal).toBe(report.grandTotal);
    expect(figures.teams).toEqual(report.teams.map((team) => ({ teamId: team.teamId, teamName: team.teamName, amount: team.amount })));
  });

  it('lists every team\u2019s old and new amount, and only the users and models that changed', () => {
    const before = buildMonthlyLines('2026-10', rows, directory, priceBook);
    const after = buildMonthlyLines('2026-10', [...rows, usageRow({ day: '2026-10-20', userId: 'u1', tokens: tokens({ output: 100_000 }) }) /* $10 per 1M after the 16th: +1.00 */], directory, priceBook);
    const current = buildMonthReport(after, { ...context(), revision: 2 });
    const changes = revisionChanges(before, after, 1, current, { ...context(), revision: 2 });
    expect(changes.detailAvailable).toBe(true);
    expect(changes.changedTeams).toEqual(['alpha']);
    expect(changes.teams.map((team) => [team.teamId, team.previous, team.current, team.difference])).toEqual([
      [UNALLOCATED_TEAM, 300n, 300n, 0n],
      ['alpha', 300n, 400n, 100n],
      ['beta', 300n, 300n, 0n],
    ]);
    expect(changes.users.map((user) => [user.teamId, user.label, user.difference])).toEqual([['alpha', 'u1', 100n]]);
    expect(changes.models.map((model) => [model.label, model.difference])).toEqual([['claude-sonnet-4-6', 100n]]);
    expect(changes.grandTotal).toEqual({ previous: 900n, current: 1000n });
  });

  it('notices a team whose tokens changed even when its amount did not (an unpriced model)', () => {
    const before = buildMonthlyLines('2026-10', rows, directory, priceBook);
    const after = buildMonthlyLines('2026-10', [...rows, usageRow({ day: '2026-10-20', userId: 'u3', model: 'unknown-model', tokens: tokens({ input: 5 }) })], directory, priceBook);
    const changed = (from: typeof before, to: typeof after) => revisionChanges(from, to, 1, buildMonthReport(to, { ...context(), revision: 2 }), { ...context(), revision: 2 }).changedTeams;
    expect(changed(before, after)).toEqual(['beta']);
    expect(changed(after, after)).toEqual([]);
  });
});
