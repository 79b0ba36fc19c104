import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DayColumnsBuilder, dayTuple, type DayUsage } from '../../shared/domain/line-days.js';
import { money } from '../../shared/domain/money.js';

/** How a day's cost is handed to the builder: units of a scale, 10^-18 units, a decimal, or the stored text. */
type CostInput = { kind: 'units'; units: number; digits: number } | { kind: 'bigint'; units: bigint } | { kind: 'decimal'; text: string } | { kind: 'text'; text: string } | null;

interface DayInput {
  readonly counts: readonly [number, number, number, number, number, number];
  readonly cost: CostInput;
  readonly entryId: string | null;
}

/** The decimal a cost input stands for, built the slow way (text through decimal.js) as the reference. */
function expectedCost(cost: CostInput): string | null {
  if (cost === null) return null;
  switch (cost.kind) {
    case 'units':
      return money(`${cost.units}e-${cost.digits}`).toFixed();
    case 'bigint':
      return money(`${cost.units}e-18`).toFixed();
    default:
      return money(cost.text).toFixed();
  }
}

const count = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.constant(Number.MAX_SAFE_INTEGER));
const decimalText = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 22n }), fc.integer({ min: 0, max: 18 }))
  .map(([digits, scale]) => money(`${digits}e-${scale}`).toFixed());
const costInput: fc.Arbitrary<CostInput> = fc.oneof(
  fc.constant(null),
  fc.record({ kind: fc.constant('units' as const), units: fc.oneof(fc.integer({ min: 0, max: 10 ** 9 }), fc.constant(Number.MAX_SAFE_INTEGER)), digits: fc.integer({ min: 0, max: 18 }) }),
  fc.record({ kind: fc.constant('bigint' as const), units: fc.bigInt({ min: 0n, max: 10n ** 30n }) }),
  fc.record({ kind: fc.constant('decimal' as const), text: decimalText }),
  fc.record({ kind: fc.constant('text' as const), text: decimalText }),
);
const dayInput: fc.Arbitrary<DayInput> = fc.record({
  counts: fc.tuple(count, count, count, count, count, count),
  cost: costInput,
  entryId: fc.constantFrom('sonnet@2026-01-01', 'sonnet@2026-10-15', null),
});

function build(days: readonly DayInput[]) {
  const builder = new DayColumnsBuilder();
  days.forEach((input, index) => {
    const day = `2026-10-${String(index + 1).padStart(2, '0')}`;
    const [inputTokens, output, cacheRead, cacheWrite5m, cacheWrite1h, requests] = input.counts;
    builder.addCounts({ input: inputTokens, output, cacheRead, cacheWrite5m, cacheWrite1h }, requests);
    const cost = input.cost;
    if (cost === null) builder.unpriced(day, input.entryId);
    else if (cost.kind === 'text') builder.pricedText(day, cost.text, input.entryId);
    else if (cost.kind === 'units') builder.pricedUnits(day, cost.units, cost.digits, input.entryId ?? 'sonnet@2026-01-01');
    else builder.priced(day, cost.kind === 'bigint' ? cost.units : money(cost.text), input.entryId ?? 'sonnet@2026-01-01');
  });
  return builder.build();
}

describe('a line kept as day columns', () => {
  it('gives back every day exactly as it was added: counts, the exact cost at any mix of scales, and its price entry', () => {
    fc.assert(
      fc.property(fc.array(dayInput, { maxLength: 31 }), (inputs) => {
        const columns = build(inputs);
        const days = columns.toDays();
        expect(days).toHaveLength(inputs.length);
        days.forEach((day, index) => {
          const input = inputs[index]!;
          expect(day.day).toBe(`2026-10-${String(index + 1).padStart(2, '0')}`);
          expect([day.tokens.input, day.tokens.output, day.tokens.cacheRead, day.tokens.cacheWrite5m, day.tokens.cacheWrite1h, day.requests]).toEqual(input.counts);
          expect(day.cost?.toFixed() ?? null).toBe(expectedCost(input.cost));
          const entryId = input.cost === null || input.cost.kind === 'text' ? input.entryId : (input.entryId ?? 'sonnet@2026-01-01');
          expect(day.priceEntryId).toBe(entryId);
        });
        // The tuples spell the same days, the cost's text without a decimal in between.
        expect(columns.toTuples()).toEqual(days.map(dayTuple));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a line of one scale in whole units and a line whose units would pass 2^53 as decimals, both exact', () => {
    const fine = new DayColumnsBuilder();
    fine.addCounts({ input: 1, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 1).pricedUnits('2026-10-01', 375, 8, 'a');
    fine.addCounts({ input: 1, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 1).pricedUnits('2026-10-02', 3, 6, 'a');
    expect(fine.build().toTuples().map((day) => day[7])).toEqual(['0.00000375', '0.000003']);

    const coarse = new DayColumnsBuilder();
    coarse.addCounts({ input: 1, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 1).pricedUnits('2026-10-01', Number.MAX_SAFE_INTEGER, 2, 'a');
    // Moving the first day to 18 digits would pass 2^53: the line goes to decimals, still exact.
    coarse.addCounts({ input: 1, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 1).pricedUnits('2026-10-02', 1, 18, 'a');
    expect(coarse.build().toTuples().map((day) => day[7])).toEqual(['90071992547409.91', '0.000000000000000001']);
  });

  it('throws on a stored cost that is not a number, so a reader can call the row corrupt', () => {
    const builder = new DayColumnsBuilder();
    builder.addCounts({ input: 1, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 1);
    expect(() => builder.pricedText('2026-10-01', 'twelve', 'a')).toThrow();
  });

  it('keeps the days a line was given, unpriced ones with no entry', () => {
    const builder = new DayColumnsBuilder();
    builder.addCounts({ input: 5, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, 2).unpriced('2026-10-03');
    const [day] = builder.build().toDays() as [DayUsage];
    expect(day).toEqual({ day: '2026-10-03', tokens: { input: 5, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, requests: 2, cost: null, priceEntryId: null });
  });
});
