/**
 * Numbers in the reader's locale, money in the report's currency. The API sends amounts as exact decimal
 * strings; they are shown as they come (rounded to cents by the API), never re-added here.
 */
const locale = navigator.languages?.[0] ?? navigator.language ?? 'en-US';
const moneyFormats = new Map<string, Intl.NumberFormat>();
const plainAmount = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(locale, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
const signedPercent = new Intl.NumberFormat(locale, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero' });

export function money(amount: string | number | null | undefined, currency: string | null): string {
  if (amount === null || amount === undefined) return '–';
  const value = typeof amount === 'number' ? amount : Number(amount);
  if (currency === null) return plainAmount.format(value);
  let format = moneyFormats.get(currency);
  if (format === undefined) moneyFormats.set(currency, (format = new Intl.NumberFormat(locale, { style: 'currency', currency })));
  return format.format(value);
}

/** Whole currency units, for chart axes. */
export function wholeMoney(amount: number, currency: string | null): string {
  return currency === null ? integer.format(amount) : new Intl.NumberFormat(locale, { style: 'currency', currency, maximumFractionDigits: 0, minimumFractionDigits: 0 }).format(amount);
}

export function signedMoney(amount: number, currency: string | null): string {
  const text = money(Math.abs(amount), currency);
  return amount > 0 ? `+${text}` : amount < 0 ? `−${text}` : text;
}

export const count = (value: number): string => integer.format(value);
export const compactCount = (value: number): string => compact.format(value);
/** The API's percentages are strings such as "99.3" (percent, cut to one decimal). */
export const percentText = (value: string | number | null | undefined): string => (value === null || value === undefined ? '–' : percent.format(Number(value) / 100));
export const change = (ratio: number): string => signedPercent.format(ratio);

export function monthName(month: string): string {
  const [year, monthNumber] = month.split('-').map(Number);
  return new Intl.DateTimeFormat(locale, { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(Date.UTC(year!, monthNumber! - 1, 1));
}

export function dayLabel(day: string): string {
  const [year, month, date] = day.split('-').map(Number);
  return new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(Date.UTC(year!, month! - 1, date!));
}

export function dateTime(iso: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}
