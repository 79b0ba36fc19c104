import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { money, sumMoney } from '../../shared/domain/money.js';
import { costOf, parsePriceBook, type PriceBook, type PriceEntry } from '../../shared/domain/price-book.js';
import { buildMonthReport } from '../../shared/domain/report.js';
import { buildMonthlyLines, groupMonthlyUsage, priceMonthlyUsage } from '../../shared/domain/rollup.js';
import { sumTokens, TOKEN_KINDS, totalTokens } from '../../shared/domain/tokens.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';

const teams = [
  { id: 'payments', name: 'Payments', leads: ['pay-lead@contoso.example'] },
  { id: 'platform', name: 'Platform', leads: ['plat-lead@contoso.example'] },
];
const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'payments' },
    { userId: 'u2', teamId: 'platform' },
    { userId: 'gone', teamId: 'platform', status: 'former' },
  ],
  teams,
);

describe('monthly rollups', () => {
  it('prices each day by the price in force that day and records every price entry used', () => {
    const rows = [
      usageRow({ day: '2026-10-15', tokens: tokens({ input: 1_000_000 }) }),
      usageRow({ day: '2026-10-16', tokens: tokens({ input: 1_000_000 }) }),
    ];
    const [line] = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
    expect(line!.cost.toFixed()).toBe('5');
    expect(line!.priceEntryIds).toEqual(['claude-sonnet-4-6@2026-01-01', 'claude-sonnet-4-6@2026-10-16']);
    expect(line!.days.map((d) => d.cost?.toFixed())).toEqual(['3', '2']);
  });

  it('sends rows with no user, unknown users and former users to the unallocated team, keeping the oid', () => {
    const rows = [
      usageRow({ day: '2026-10-01', userId: '' }),
      usageRow({ day: '2026-10-01', userId: 'stranger' }),
      usageRow({ day: '2026-10-01', userId: 'gone' }),
    ];
    const lines = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
    expect(lines.map((l) => [l.teamId, l.userId, l.allocation])).toEqual([
      [UNALLOCATED_TEAM, '', 'no-user-id'],
      [UNALLOCATED_TEAM, 'gone', 'former-user'],
      [UNALLOCATED_TEAM, 'stranger', 'unknown-user'],
    ]);
  });

  it('keeps tokens of a model with no price on an explicit unpriced line, never a silent zero', () => {
    const rows = [usageRow({ day: '2026-10-02', model: 'claude-3-unreleased-preview', tokens: tokens({ input: 500, output: 20 }) })];
    const [line] = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
    expect(line!.pricedModel).toBeNull();
    expect(line!.unpricedTokens.input).toBe(500);
    expect(line!.tokens.input).toBe(500);
    expect(line!.cost.isZero()).toBe(true);
    const report = buildMonthReport([line!], reportContext());
    expect(report.unpriced).toHaveLength(1);
  });

  it('maps dated snapshot ids and aliases to the priced model', () => {
    const rows = [
      usageRow({ day: '2026-10-02', model: 'claude-haiku-4-5-20251001', tokens: tokens({ output: 1_000_000 }) }),
      usageRow({ day: '2026-10-02', model: 'sonnet-prod', tokens: tokens({ output: 1_000_000 }) }),
    ];
    const lines = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
    expect(lines.map((l) => [l.model, l.pricedModel, l.cost.toFixed()])).toEqual([
      ['claude-haiku-4-5-20251001', 'claude-haiku-4-5', '5'],
      ['sonnet-prod', 'claude-sonnet-4-6', '15'],
    ]);
  });
});

function reportContext() {
  return {
    month: '2026-10',
    timeZone: 'UTC',
    window: { start: new Date('2026-10-01T00:00:00Z'), end: new Date('2026-11-01T00:00:00Z') },
    generatedAt: new Date('2026-11-03T06:00:00Z'),
    revision: 1,
    priceBook: testPriceBook(),
    teams: new Map(teams.map((t) => [t.id, t])),
    sourceDescription: 'test',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  };
}

const arbitraryRow: fc.Arbitrary<UsageRow> = fc.record({
  day: fc.integer({ min: 1, max: 31 }).map((d) => `2026-10-${String(d).padStart(2, '0')}`),
  userId: fc.constantFrom('', 'u1', 'u2', 'gone', 'stranger'),
  model: fc.constantFrom('claude-sonnet-4-6', 'claude-haiku-4-5-20251001', 'mystery-model'),
  tier: fc.constantFrom('Claude.Standard', 'Claude.Premium'),
  tokens: fc.record({
    input: fc.integer({ min: 0, max: 50_000_000 }),
    output: fc.integer({ min: 0, max: 5_000_000 }),
    cacheRead: fc.integer({ min: 0, max: 50_000_000 }),
    cacheWrite5m: fc.integer({ min: 0, max: 5_000_000 }),
    cacheWrite1h: fc.integer({ min: 0, max: 5_000_000 }),
  }),
  requests: fc.integer({ min: 0, max: 1000 }),
});

describe('conservation and reconciliation (property-based)', () => {
  it('every token read lands in exactly one line, and the lines hold no token that was not read', () => {
    fc.assert(
      fc.property(fc.array(arbitraryRow, { maxLength: 200 }), (rows) => {
        const lines = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
        const read = sumTokens(rows.map((r) => r.tokens));
        const rolled = sumTokens(lines.map((l) => l.tokens));
        expect(rolled).toEqual(read);
        const unpriced = sumTokens(lines.map((l) => l.unpricedTokens));
        const pricedModelTokens = sumTokens(rows.filter((r) => r.model === 'mystery-model').map((r) => r.tokens));
        expect(unpriced).toEqual(pricedModelTokens);
        expect(lines.reduce((s, l) => s + l.requests, 0)).toBe(rows.reduce((s, r) => s + r.requests, 0));
      }),
    );
  });

  it('every total shown equals the sum of the lines under it, and the grand total is the exact total rounded', () => {
    fc.assert(
      fc.property(fc.array(arbitraryRow, { minLength: 1, maxLength: 200 }), (rows) => {
        const lines = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
        const report = buildMonthReport(lines, reportContext());
        const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
        const exact = sumMoney(lines.map((l) => l.cost));
        expect(report.grandTotal).toBe(BigInt(exact.times(100).toDecimalPlaces(0).toFixed(0)));
        expect(sum(report.teams.map((t) => t.amount))).toBe(report.grandTotal);
        expect(sum(report.models.map((m) => m.amount))).toBe(report.grandTotal);
        expect(sum(report.tiers.map((t) => t.amount))).toBe(report.grandTotal);
        expect(sum(report.lines.map((l) => l.amount))).toBe(report.grandTotal);
        for (const team of report.teams) {
          expect(sum(report.users.filter((u) => u.teamId === team.teamId).map((u) => u.amount))).toBe(team.amount);
        }
        for (const user of report.users) {
          expect(sum(report.lines.filter((l) => l.teamId === user.teamId && l.userId === user.userId).map((l) => l.amount))).toBe(user.amount);
        }
        for (const kind of TOKEN_KINDS) {
          expect(report.teams.reduce((s, t) => s + t.tokens[kind], 0)).toBe(report.tokens[kind]);
        }
        expect(report.crossCheck.countedTokens).toBe(rows.reduce((s, r) => s + totalTokens(r.tokens), 0));
      }),
      { numRuns: 60 },
    );
  });
});

describe('grouping and pricing a month in two steps', () => {
  it('gives the lines buildMonthlyLines gives, and prices a grouped month only once', () => {
    const directory = testDirectory([{ userId: 'u1', teamId: 'payments' }], teams);
    const priceBook = testPriceBook();
    const rows = [
      usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 1_000, output: 10 }) }),
      usageRow({ day: '2026-10-20', userId: 'u1', tokens: tokens({ input: 7, cacheRead: 3 }) }),
      usageRow({ day: '2026-10-20', userId: 'stranger', model: 'mystery-model', tokens: tokens({ output: 5 }) }),
    ];
    const grouped = groupMonthlyUsage('2026-10', rows, directory);
    expect(priceMonthlyUsage(grouped, priceBook)).toEqual(buildMonthlyLines('2026-10', rows, directory, priceBook));
    expect(() => priceMonthlyUsage(grouped, priceBook)).toThrow(/already priced/);
  });

  it('keeps days outside the month as they are, summed, in day order with the days of the month', () => {
    const directory = testDirectory([{ userId: 'u1', teamId: 'payments' }], teams);
    const rows = [
      usageRow({ day: '2026-11-01', userId: 'u1', tokens: tokens({ input: 5 }) }),
      usageRow({ day: '2026-10-20', userId: 'u1', tokens: tokens({ input: 3 }) }),
      usageRow({ day: '2026-09-30', userId: 'u1', tokens: tokens({ input: 1 }) }),
      usageRow({ day: '2026-10-05', userId: 'u1', tokens: tokens({ input: 2 }) }),
      usageRow({ day: '2026-11-01', userId: 'u1', tokens: tokens({ input: 10 }) }),
      usageRow({ day: '2026-10-05', userId: 'u1', tokens: tokens({ input: 20 }) }),
    ];
    const [line] = buildMonthlyLines('2026-10', rows, directory, testPriceBook());
    expect(line!.days.map((day) => [day.day, day.tokens.input, day.requests])).toEqual([
      ['2026-09-30', 1, 1],
      ['2026-10-05', 22, 2],
      ['2026-10-20', 3, 1],
      ['2026-11-01', 15, 2],
    ]);
    expect(line!.tokens.input).toBe(41);
  });
});

/** A price as a price book writes it: up to 9 whole digits and up to 12 decimals. */
const arbitraryPrice: fc.Arbitrary<string> = fc
  .tuple(fc.bigInt({ min: 0n, max: 999_999_999n }), fc.integer({ min: 0, max: 12 }), fc.bigInt({ min: 0n, max: 999_999_999_999n }))
  .map(([whole, decimals, fraction]) => (decimals === 0 ? `${whole}` : `${whole}.${(fraction % 10n ** BigInt(decimals)).toString().padStart(decimals, '0')}`));

const arbitraryPrices = fc.record({
  input: arbitraryPrice,
  output: arbitraryPrice,
  cacheRead: arbitraryPrice,
  cacheWrite5m: arbitraryPrice,
  cacheWrite1h: arbitraryPrice,
});

const arbitraryCount = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 2 ** 47 }));

describe('pricing in fixed point (property-based)', () => {
  it('gives every day and every line exactly the cost decimal.js gives, price entry by price entry', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryPrices, { minLength: 1, maxLength: 3 }),
        fc.array(
          fc.record({
            day: fc.integer({ min: 1, max: 31 }).map((d) => `2026-10-${String(d).padStart(2, '0')}`),
            userId: fc.constantFrom('u1', 'u2', 'stranger'),
            tokens: fc.record({ input: arbitraryCount, output: arbitraryCount, cacheRead: arbitraryCount, cacheWrite5m: arbitraryCount, cacheWrite1h: arbitraryCount }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (priceList, picks) => {
          const book = parsePriceBook(
            {
              currency: 'USD',
              models: [
                {
                  model: 'm',
                  prices: priceList.map((perMillionTokens, index) => ({ effectiveFrom: `2026-10-${String(1 + index * 10).padStart(2, '0')}`, perMillionTokens })),
                },
              ],
            },
            'random.json',
          );
          const rows = picks.map((pick): UsageRow => ({ ...pick, model: 'm', tier: 't', requests: 1 }));
          for (const line of buildMonthlyLines('2026-10', rows, directory, book)) {
            const decimalDays = line.days.map((day) => costOf(day.tokens, book.priceFor('m', day.day)!));
            expect(line.days.map((day) => day.cost!.toFixed())).toEqual(decimalDays.map((cost) => cost.toFixed()));
            expect(line.cost.toFixed()).toBe(sumMoney(decimalDays).toFixed());
          }
        },
      ),
    );
  });

  it('sums a line past 2^53 units, across price scales and through BigInt days, exactly', () => {
    // 3 per million is 3 units of 10^-6 per token; 3.75 per million is 375 units of 10^-8.
    const book = parsePriceBook(
      {
        currency: 'USD',
        models: [
          {
            model: 'm',
            prices: [
              { effectiveFrom: '2026-10-01', perMillionTokens: { input: '3', output: '15', cacheRead: '0.3', cacheWrite5m: '3.75', cacheWrite1h: '6' } },
              { effectiveFrom: '2026-10-10', perMillionTokens: { input: '3.75', output: '15', cacheRead: '0.3', cacheWrite5m: '3.75', cacheWrite1h: '6' } },
            ],
          },
        ],
      },
      'scales.json',
    );
    const row = (day: string, input: number): UsageRow => ({ day, userId: 'u1', model: 'm', tier: 't', tokens: { input, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, requests: 1 });
    const [line] = buildMonthlyLines(
      '2026-10',
      [
        // 6 * 10^15 units each: their sum passes 2^53.
        row('2026-10-01', 2_000_000_000_000_000),
        row('2026-10-02', 2_000_000_000_000_000),
        // Another scale.
        row('2026-10-10', 1_000_000),
        // 2^52 tokens at 375 units: past 2^53, priced in BigInt.
        row('2026-10-11', 4_503_599_627_370_496),
        row('2026-10-12', 7),
      ],
      directory,
      book,
    );
    expect(line!.days.map((day) => day.cost!.toFixed())).toEqual(['6000000000', '6000000000', '3.75', '16888498602.63936', '0.00002625']);
    expect(line!.cost.toFixed()).toBe('28888498606.38938625');
  });

  it('prices an entry with more decimals than the fixed point holds with decimal.js, exactly', () => {
    const book = testPriceBook();
    const entry = book.priceFor('claude-sonnet-4-6', '2026-10-01')!;
    const finer: PriceEntry = { ...entry, perMillion: { ...entry.perMillion, input: money('0.0000000000001') } };
    const finerBook: PriceBook = { ...book, priceFor: (model, day) => (day < '2026-10-16' ? finer : book.priceFor(model, day)) };
    const rows = [
      usageRow({ day: '2026-10-15', tokens: tokens({ input: 7, output: 1_000_000 }) }),
      usageRow({ day: '2026-10-16', tokens: tokens({ input: 1_000_000 }) }),
    ];
    const [line] = buildMonthlyLines('2026-10', rows, directory, finerBook);
    expect(line!.days.map((day) => day.cost?.toFixed())).toEqual(['15.0000000000000000007', '2']);
    expect(line!.cost.toFixed()).toBe('17.0000000000000000007');
  });
});
