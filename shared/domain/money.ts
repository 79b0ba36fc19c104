import { Decimal } from 'decimal.js';

/**
 * Exact decimal arithmetic for money. A private Decimal constructor so that no other module's settings
 * can change ours; 40 significant digits is far beyond any token bill.
 */
export const Money = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -30, toExpPos: 40 });
export type Money = Decimal;

export const ZERO = new Money(0);
const MILLION = new Money(1_000_000);

export function money(value: Decimal.Value): Money {
  return new Money(value);
}

export function sumMoney(values: Iterable<Money>): Money {
  let total = ZERO;
  for (const value of values) total = total.plus(value);
  return total;
}

/** Tokens times a price per million tokens, exactly. */
export function priceTokens(tokens: number, pricePerMillion: Money): Money {
  if (tokens === 0) return ZERO;
  return pricePerMillion.times(tokens).dividedBy(MILLION);
}

/**
 * Fixed point for the pricing hot path: an amount as an integer count of 10^-18 currency units. A price per
 * million tokens with up to 12 decimals (all a price book allows) is a whole number of these units per token,
 * so tokens x price sums exactly in BigInt, and only the sum is turned into a decimal.
 */
export const FIXED_POINT_DIGITS = 18;

/** Whole 10^-digits units (10^-18 by default) as a decimal. */
export function fromFixedPoint(units: bigint | number, digits = FIXED_POINT_DIGITS): Money {
  // `${units}` is every digit of a bigint or of a safe integer number (never an exponent below 10^21).
  return units === 0n || units === 0 ? ZERO : new Money(`${units}e-${digits}`);
}

/** 10^n as a BigInt, n from 0 to 18. */
const POWERS_OF_TEN = Array.from({ length: FIXED_POINT_DIGITS + 1 }, (_, n) => 10n ** BigInt(n));

/**
 * An exact sum of amounts handed over as whole units of a scale (the pricing's and the day columns' costs):
 * plain-number units of one scale while the sum stays a safe integer (usually every amount has the same
 * scale), moved into a BigInt of 10^-18 units when the scale changes or the sum would pass 2^53; decimals
 * kept apart. One decimal is made at the end instead of one per amount.
 */
export class ExactSum {
  private units = 0;
  private digits = FIXED_POINT_DIGITS;
  private fixedPoint = 0n;
  private decimal: Money = ZERO;

  /** Adds `units` whole 10^-digits units (a safe integer, digits 0 to 18). */
  add(units: number, digits: number): void {
    if (digits === this.digits) {
      const next = this.units + units;
      if (Number.isSafeInteger(next)) {
        this.units = next;
        return;
      }
    }
    this.flush();
    this.units = units;
    this.digits = digits;
  }

  /** Adds whole 10^-18 units. */
  addFixedPoint(units: bigint): void {
    this.fixedPoint += units;
  }

  addMoney(amount: Money): void {
    this.decimal = this.decimal.plus(amount);
  }

  total(): Money {
    let total: Money;
    if (this.fixedPoint === 0n) total = fromFixedPoint(this.units, this.digits);
    else {
      this.flush();
      total = fromFixedPoint(this.fixedPoint);
    }
    return this.decimal.isZero() ? total : total.plus(this.decimal);
  }

  private flush(): void {
    if (this.units !== 0) this.fixedPoint += BigInt(this.units) * POWERS_OF_TEN[FIXED_POINT_DIGITS - this.digits]!;
    this.units = 0;
  }
}

/**
 * fromFixedPoint(units, digits).toFixed() without the decimal: the digits of a non-negative safe integer with the
 * point moved `digits` places left, no trailing zeros after the point (test/unit/money.test.ts compares them).
 */
export function fixedPointText(units: number, digits: number): string {
  if (!Number.isSafeInteger(units) || units < 0) return fromFixedPoint(BigInt(units), digits).toFixed();
  if (units === 0 || digits === 0) return String(units);
  const text = String(units).padStart(digits + 1, '0');
  const point = text.length - digits;
  let end = text.length;
  while (end > point && text.charCodeAt(end - 1) === 48) end--;
  return end === point ? text.slice(0, point) : `${text.slice(0, point)}.${text.slice(point, end)}`;
}

/** The value times 10^digits as an integer, or null when that is not a whole number. */
export function scaledInteger(value: Money, digits: number): bigint | null {
  const scaled = value.times(new Money(10).pow(digits));
  return scaled.isInteger() ? BigInt(scaled.toFixed(0)) : null;
}

/** Rounds to whole minor units (cents for USD), half away from zero, returned as an integer count of them. */
export function toMinorUnits(value: Money, decimals = 2): bigint {
  return BigInt(value.times(new Money(10).pow(decimals)).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0));
}

export function minorUnitsToNumber(units: bigint, decimals = 2): number {
  return Number(units) / 10 ** decimals;
}

export function formatMinorUnits(units: bigint, decimals = 2): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals);
  return `${negative ? '-' : ''}${whole}${decimals > 0 ? `.${fraction}` : ''}`;
}

const minorUnitScales: Money[] = [];
/** 10^decimals as a decimal, made once per number of decimals (a report shares out thousands of amounts). */
function minorUnitScale(decimals: number): Money {
  return (minorUnitScales[decimals] ??= new Money(10).pow(decimals));
}

/**
 * Largest-remainder rounding: splits `targetUnits` minor units across `parts` in proportion to their exact
 * values, so that the rounded parts add up to the target exactly. With the target the exact total rounded,
 * every shown line is within one minor unit of its exact value and the lines sum to the shown total.
 * Ties are broken by the caller's order, so the result is deterministic.
 */
export function allocateMinorUnits(parts: readonly Money[], targetUnits: bigint, decimals = 2): bigint[] {
  if (parts.length === 0) return [];
  const scale = minorUnitScale(decimals);
  const floors: bigint[] = [];
  const remainders: { index: number; remainder: Money }[] = [];
  let allocated = 0n;
  parts.forEach((part, index) => {
    const scaled = part.times(scale);
    const floor = scaled.floor();
    const units = BigInt(floor.toFixed(0));
    floors.push(units);
    allocated += units;
    remainders.push({ index, remainder: scaled.minus(floor) });
  });
  let leftover = targetUnits - allocated;
  // Hand out whole units to the largest remainders first (or take them back from the smallest when the
  // target is below the sum of floors, which only happens with negative parts).
  const order = [...remainders].sort((a, b) => b.remainder.comparedTo(a.remainder) || a.index - b.index);
  const step = leftover >= 0n ? 1n : -1n;
  let cursor = leftover >= 0n ? 0 : order.length - 1;
  while (leftover !== 0n) {
    const slot = order[((cursor % order.length) + order.length) % order.length]!;
    floors[slot.index] = floors[slot.index]! + step;
    leftover -= step;
    cursor += leftover >= 0n ? 1 : -1;
  }
  return floors;
}

/** Rounds a set of exact amounts for display: the shown total is the exact total rounded, lines sum to it. */
export function roundForDisplay(parts: readonly Money[], decimals = 2): { lines: bigint[]; total: bigint } {
  const total = toMinorUnits(sumMoney(parts), decimals);
  return { lines: allocateMinorUnits(parts, total, decimals), total };
}
