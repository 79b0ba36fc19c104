import { formatMinorUnits, sumMoney, toMinorUnits } from './money.js';
import type { ControlOutcome, ControlResult } from './controls.js';
import { billedRatio, type BilledCharge, type TrueUp } from './billing.js';

/** How the bill is checked against the usage before anyone sees trued-up figures. */
export interface BillingControlSettings {
  /** billed / list must lie in [min, max]; outside it the close is held. */
  readonly ratioBand: { readonly min: number; readonly max: number };
  /** What billed cost on a day without metered usage (gateway bypass) does to the close. */
  readonly unmeteredDays: Extract<ControlOutcome, 'warn' | 'hold'>;
}

export const DEFAULT_BILLING_CONTROLS: BillingControlSettings = { ratioBand: { min: 0.5, max: 1.05 }, unmeteredDays: 'hold' };

const MAX_DETAILS = 31;

/**
 * The checks a bill must pass before the chargeback is trued up to it: the ratio of billed to list within the
 * band, no billed cost on days the gateway metered nothing, and the bill in the price book's currency. With no
 * bill there is nothing to check (the close stays an estimate).
 */
export function billingControls(
  input: {
    readonly trueUp: TrueUp;
    readonly charges: readonly BilledCharge[];
    readonly priceBookCurrency: string;
    /** The last day the bill reaches: a bill still arriving is compared with the usage of the days it covers. */
    readonly billedThrough?: string | null;
  },
  settings: BillingControlSettings = DEFAULT_BILLING_CONTROLS,
): ControlResult[] {
  if (input.charges.length === 0) return [];
  return [currencyControl(input.charges, input.priceBookCurrency), ratioControl(input.trueUp, settings, input.billedThrough ?? null), unmeteredDaysControl(input.trueUp, settings)];
}

function currencyControl(charges: readonly BilledCharge[], priceBookCurrency: string): ControlResult {
  const others = [...new Set(charges.map((charge) => charge.currency))].filter((currency) => currency.toUpperCase() !== priceBookCurrency.toUpperCase()).sort();
  if (others.length === 0) return { id: 'billed.currency', outcome: 'pass', message: `the bill is in ${priceBookCurrency}, as the price book` };
  return {
    id: 'billed.currency',
    outcome: 'hold',
    message: `the bill is in ${others.join(', ')} but the price book is in ${priceBookCurrency}: billed and list amounts cannot be compared`,
  };
}

function ratioControl(trueUp: TrueUp, settings: BillingControlSettings, billedThrough: string | null): ControlResult {
  const { min, max } = settings.ratioBand;
  const band = `${min}–${max}`;
  const days = billedThrough === null ? trueUp.days : trueUp.days.filter((day) => day.day <= billedThrough);
  const billedExact = sumMoney(days.map((day) => day.billed));
  const listExact = sumMoney(days.map((day) => day.list));
  const billed = `${trueUp.currency} ${formatMinorUnits(toMinorUnits(billedExact))}`;
  const list = formatMinorUnits(toMinorUnits(listExact));
  const through = billedThrough === null || days.length === trueUp.days.length ? '' : ` through ${billedThrough}`;
  const details = days.map((day) => `${day.day}: list ${day.list.toFixed(2)}, billed ${day.billed.toFixed(2)}, ratio ${day.ratio?.toFixed(3) ?? 'n/a'}`).slice(0, MAX_DETAILS);
  const ratio = billedRatio(billedExact, listExact);
  if (ratio === null) {
    if (billedExact.isZero()) return { id: 'billed.ratio', outcome: 'pass', message: 'nothing billed and nothing priced' };
    return { id: 'billed.ratio', outcome: 'hold', message: `billed ${billed}${through} against no list-price usage: the bill does not fit the metered usage`, details };
  }
  const text = ratio.toFixed(3);
  if (ratio.lessThan(min) || ratio.greaterThan(max)) {
    return { id: 'billed.ratio', outcome: 'hold', message: `billed/list is ${text} (billed ${billed}, list ${list}${through}), outside the band ${band}`, details };
  }
  return { id: 'billed.ratio', outcome: 'pass', message: `billed/list is ${text}${through}, inside the band ${band}` };
}

function unmeteredDaysControl(trueUp: TrueUp, settings: BillingControlSettings): ControlResult {
  const days = trueUp.days.filter((day) => day.meteredTokens === 0 && !day.billed.isZero());
  if (days.length === 0) return { id: 'billed.unmetered-days', outcome: 'pass', message: 'every billed day has metered usage' };
  const amount = sumMoney(days.map((day) => day.billed));
  return {
    id: 'billed.unmetered-days',
    outcome: settings.unmeteredDays,
    message: `${days.length} day(s) billed ${trueUp.currency} ${amount.toFixed(2)} with no usage metered by the gateway (traffic bypassing it?)`,
    details: days.slice(0, MAX_DETAILS).map((day) => `${day.day}: billed ${day.billed.toFixed(2)}`),
  };
}
