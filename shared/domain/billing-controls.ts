import { formatMinorUnits, sumMoney, toMinorUnits } from './money.js';
import type { ControlOutcome, ControlResult } from './controls.js';
import type { BilledCharge, TrueUp } from './billing.js';

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
  input: { readonly trueUp: TrueUp; readonly charges: readonly BilledCharge[]; readonly priceBookCurrency: string },
  settings: BillingControlSettings = DEFAULT_BILLING_CONTROLS,
): ControlResult[] {
  if (input.charges.length === 0) return [];
  return [currencyControl(input.charges, input.priceBookCurrency), ratioControl(input.trueUp, settings), unmeteredDaysControl(input.trueUp, settings)];
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

function ratioControl(trueUp: TrueUp, settings: BillingControlSettings): ControlResult {
  const { min, max } = settings.ratioBand;
  const band = `${min}–${max}`;
  const billed = `${trueUp.currency} ${formatMinorUnits(trueUp.billedTotal)}`;
  const list = `${formatMinorUnits(toMinorUnits(trueUp.listTotal))}`;
  const details = trueUp.days.map((day) => `${day.day}: list ${day.list.toFixed(2)}, billed ${day.billed.toFixed(2)}, ratio ${day.ratio?.toFixed(3) ?? 'n/a'}`).slice(0, MAX_DETAILS);
  if (trueUp.ratio === null) {
    if (trueUp.billedTotal === 0n) return { id: 'billed.ratio', outcome: 'pass', message: 'nothing billed and nothing priced' };
    return { id: 'billed.ratio', outcome: 'hold', message: `billed ${billed} against no list-price usage: the bill does not fit the metered usage`, details };
  }
  const ratio = trueUp.ratio;
  const text = ratio.toFixed(3);
  if (ratio.lessThan(min) || ratio.greaterThan(max)) {
    return { id: 'billed.ratio', outcome: 'hold', message: `billed/list is ${text} (billed ${billed}, list ${list}), outside the band ${band}`, details };
  }
  return { id: 'billed.ratio', outcome: 'pass', message: `billed/list is ${text}, inside the band ${band}` };
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
