import { currencyMinorUnits } from './currency.js';
import { formatMinorUnits } from './money.js';

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "October 2026" for "2026-10". */
export function monthLabel(month: string): string {
  const [year, mon] = month.split('-');
  return `${MONTH_NAMES[Number(mon) - 1]} ${year}`;
}

/** "USD 1,234.50", "JPY 1,235", "BHD 12.345": as many decimals as the currency's minor units. */
export function formatAmount(units: bigint, currency: string): string {
  const [whole, fraction] = formatMinorUnits(units, currencyMinorUnits(currency)).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${currency} ${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

/** A signed difference with its percentage, e.g. "+USD 12.30 (+4.1%)"; the percentage is left out from zero. */
export function formatChange(previous: bigint, current: bigint, currency: string): string {
  const difference = current - previous;
  const sign = difference > 0n ? '+' : difference < 0n ? '-' : '\u00b1';
  const amount = `${sign}${formatAmount(difference < 0n ? -difference : difference, currency)}`;
  if (previous === 0n) return amount;
  const percent = (Number(difference) / Number(previous)) * 100;
  return `${amount} (${percent > 0 ? '+' : ''}${percent.toFixed(1)}%)`;
}
