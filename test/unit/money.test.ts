import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateMinorUnits, ExactSum, fixedPointText, formatMinorUnits, money, priceTokens, roundForDisplay, sumMoney, toMinorUnits } from '../../shared/domain/money.js';

const exactAmount = fc
  .tuple(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 999_999 }))
  .map(([whole, micro]) => money(`${whole}.${String(micro).padStart(6, '0')}`));

describe('money', () => {
  it('prices tokens exactly, with no binary floating point', () => {
    expect(priceTokens(1, money('3')).toFixed()).toBe('0.000003');
    expect(priceTokens(3, money('0.1')).toFixed()).toBe('0.0000003');
    expect(sumMoney([money('0.1'), money('0.2')]).toFixed()).toBe('0.3');
  });

  it('writes whole units of 10^-digits as decimal.js writes the same value', () => {
    expect(fixedPointText(375, 8)).toBe('0.00000375');
    expect(fixedPointText(1_500, 3)).toBe('1.5');
    expect(fixedPointText(42_000, 3)).toBe('42');
    expect(fixedPointText(0, 12)).toBe('0');
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.maxSafeNat()), fc.integer({ min: 0, max: 18 }), (units, digits) => {
        expect(fixedPointText(units, digits)).toBe(money(`${units}e-${digits}`).toFixed());
      }),
    );
  });

  it('rounds half away from zero to minor units', () => {
    expect(toMinorUnits(money('1.005'))).toBe(101n);
    expect(toMinorUnits(money('1.00499999'))).toBe(100n);
    expect(formatMinorUnits(123456n)).toBe('1234.56');
    expect(formatMinorUnits(5n)).toBe('0.05');
    expect(formatMinorUnits(-5n)).toBe('-0.05');
  });

  it('shares three equal thirds of a cent-rounded total so that the lines add up', () => {
    const third = money(1).dividedBy(3);
    const { lines, total } = roundForDisplay([third, third, third]);
    expect(total).toBe(100n);
    expect(lines).toEqual([34n, 33n, 33n]);
  });

  it('reconciles: the rounded lines always sum to the rounded exact total, each within a cent of its exact value', () => {
    fc.assert(
      fc.property(fc.array(exactAmount, { minLength: 1, maxLength: 60 }), (parts) => {
        const { lines, total } = roundForDisplay(parts);
        expect(lines.reduce((a, b) => a + b, 0n)).toBe(total);
        expect(total).toBe(toMinorUnits(sumMoney(parts)));
        parts.forEach((part, i) => {
          const shown = money(lines[i]!.toString()).dividedBy(100);
          expect(shown.minus(part).abs().lessThan(money('0.01'))).toBe(true);
        });
      }),
    );
  });

  it('can share out a target a few cents away from the sum, as a nested level of a report does', () => {
    fc.assert(
      fc.property(fc.array(exactAmount, { minLength: 1, maxLength: 20 }), fc.integer({ min: -1, max: 1 }), (parts, nudge) => {
        const target = toMinorUnits(sumMoney(parts)) + BigInt(nudge);
        if (target < 0n) return;
        const lines = allocateMinorUnits(parts, target);
        expect(lines.reduce((a, b) => a + b, 0n)).toBe(target);
      }),
    );
  });
});

describe('ExactSum', () => {
  it('sums amounts of any mix of scales, 10^-18 units and decimals exactly, past 2^53 included', () => {
    const amount = fc.oneof(
      fc.record({ kind: fc.constant('units' as const), units: fc.oneof(fc.integer({ min: 0, max: 10 ** 6 }), fc.constant(Number.MAX_SAFE_INTEGER)), digits: fc.integer({ min: 0, max: 18 }) }),
      fc.record({ kind: fc.constant('fixed' as const), units: fc.bigInt({ min: 0n, max: 10n ** 30n }) }),
      // Below 10^19 at scales up to 18, forty of these sum within Money's 40 significant digits (4·10^20 to 10^-18:
      // 39 digits), as every real amount does. Beyond it both the sum and the reference round, at different points.
      fc.record({ kind: fc.constant('decimal' as const), text: fc.tuple(fc.bigInt({ min: -(10n ** 19n), max: 10n ** 19n }), fc.integer({ min: 0, max: 18 })).map(([digits, scale]) => `${digits}e-${scale}`) }),
    );
    fc.assert(
      fc.property(fc.array(amount, { maxLength: 40 }), (amounts) => {
        const sum = new ExactSum();
        let reference = money(0);
        for (const item of amounts) {
          if (item.kind === 'units') {
            sum.add(item.units, item.digits);
            reference = reference.plus(money(`${item.units}e-${item.digits}`));
          } else if (item.kind === 'fixed') {
            sum.addFixedPoint(item.units);
            reference = reference.plus(money(`${item.units}e-18`));
          } else {
            sum.addMoney(money(item.text));
            reference = reference.plus(money(item.text));
          }
        }
        expect(sum.total().toFixed()).toBe(reference.toFixed());
      }),
      { numRuns: 300 },
    );
  });
});
