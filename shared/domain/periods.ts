import { TZDate } from '@date-fns/tz';
import { AppError } from './errors.js';

/** A half-open interval of instants, [start, end). */
export interface TimeWindow {
  readonly start: Date;
  readonly end: Date;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const DAY = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export function parseMonth(text: string): string {
  const match = MONTH.exec(text.trim());
  if (!match || Number(match[1]) < 2000 || Number(match[1]) > 2999) {
    throw new AppError('INVALID_ARGUMENT', `"${text}" is not a month: expected YYYY-MM, for example 2026-10`);
  }
  return `${match[1]}-${match[2]}`;
}

export function parseDay(text: string): string {
  const match = DAY.exec(text.trim());
  if (!match || dayCount(`${match[1]}-${match[2]}`) < Number(match[3])) {
    throw new AppError('INVALID_ARGUMENT', `"${text}" is not a calendar day: expected YYYY-MM-DD, for example 2026-10-05`);
  }
  return text.trim();
}

export function assertTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    throw new AppError('CONFIG_INVALID', `"${zone}" is not an IANA time zone (for example UTC or Europe/Paris)`);
  }
}

function dayCount(month: string): number {
  const [year, mon] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(year, mon, 0)).getUTCDate();
}

/** Every calendar day of a month, YYYY-MM-DD. */
export function daysOfMonth(month: string): string[] {
  const count = dayCount(parseMonth(month));
  return Array.from({ length: count }, (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`);
}

export function monthOfDay(day: string): string {
  return day.slice(0, 7);
}

export function addMonths(month: string, delta: number): string {
  const [year, mon] = parseMonth(month).split('-').map(Number) as [number, number];
  const index = year * 12 + (mon - 1) + delta;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/** The instant local midnight starts `day` in `zone` (the first instant of the day if midnight is skipped). */
export function startOfDayInZone(day: string, zone: string): Date {
  const [year, mon, date] = parseDay(day).split('-').map(Number) as [number, number, number];
  if (zone === 'UTC') return new Date(Date.UTC(year, mon - 1, date));
  return new Date(new TZDate(year, mon - 1, date, 0, 0, 0, 0, zone).getTime());
}

/** The month as instants: from local midnight of the 1st to local midnight of the next month's 1st. */
export function monthWindow(month: string, zone: string): TimeWindow {
  const first = `${parseMonth(month)}-01`;
  const next = `${addMonths(month, 1)}-01`;
  return { start: startOfDayInZone(first, zone), end: startOfDayInZone(next, zone) };
}

export function nextDay(day: string): string {
  const date = new Date(`${parseDay(day)}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

export function dayWindow(day: string, zone: string): TimeWindow {
  return { start: startOfDayInZone(day, zone), end: startOfDayInZone(nextDay(day), zone) };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const QUARTER_HOUR = 15 * 60 * 1000;
const UTC_DAY = 24 * 60 * 60 * 1000;

/**
 * The calendar day (YYYY-MM-DD) an instant falls on in `zone`. Every real zone offset is a multiple of 15
 * minutes, so the answer is cached per quarter hour: a month of rows costs a few thousand Intl calls.
 */
export function createDayResolver(zone: string): (instant: Date) => string {
  if (zone === 'UTC') {
    // Rows come mostly in time order: the day of the last instant is usually the answer, without formatting a date.
    let lastDayNumber = NaN;
    let lastDay = '';
    return (instant) => {
      const dayNumber = Math.floor(instant.getTime() / UTC_DAY);
      if (dayNumber !== lastDayNumber) {
        lastDay = instant.toISOString().slice(0, 10);
        lastDayNumber = dayNumber;
      }
      return lastDay;
    };
  }
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(zone, formatter);
  }
  const format = formatter;
  const cache = new Map<number, string>();
  return (instant) => {
    const bucket = Math.floor(instant.getTime() / QUARTER_HOUR);
    let day = cache.get(bucket);
    if (day === undefined) {
      day = format.format(new Date(bucket * QUARTER_HOUR));
      cache.set(bucket, day);
    }
    return day;
  };
}

export function dayInZone(instant: Date, zone: string): string {
  return createDayResolver(zone)(instant);
}

/** The month `instant` falls in, in `zone`. */
export function monthInZone(instant: Date, zone: string): string {
  return monthOfDay(dayInZone(instant, zone));
}

/** The month before the one `now` falls in: what a monthly close on `now` closes. */
export function previousMonth(now: Date, zone: string): string {
  return addMonths(monthInZone(now, zone), -1);
}
