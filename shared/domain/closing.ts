import { AppError } from './errors.js';
import { addMonths, dayInZone, monthOfDay } from './periods.js';

/** Grace is counted in whole days after the 1st; a month always has at least 28 days to close within. */
export const MAX_CLOSE_GRACE_DAYS = 27;

export function assertGraceDays(graceDays: number): number {
  if (!Number.isInteger(graceDays) || graceDays < 0 || graceDays > MAX_CLOSE_GRACE_DAYS) {
    throw new AppError('INVALID_ARGUMENT', `the close grace period must be a whole number of days from 0 to ${MAX_CLOSE_GRACE_DAYS}, got ${graceDays}`);
  }
  return graceDays;
}

/**
 * The month a scheduled close run at `now` should close, or null while the previous month is still inside
 * its grace period (usage arrives in the source with some latency, so closing on the 1st would miss the last
 * hours of the month). With a grace of 2 days the previous month is closed from local day 3 on; every later
 * run of that month closes it again, which changes nothing unless late data or a failed mail is pending.
 */
export function monthToClose(now: Date, zone: string, graceDays: number): string | null {
  assertGraceDays(graceDays);
  const today = dayInZone(now, zone);
  const dayOfMonth = Number(today.slice(8, 10));
  return dayOfMonth >= 1 + graceDays ? addMonths(monthOfDay(today), -1) : null;
}

/** The first local calendar day on which `month` is closed, YYYY-MM-DD. */
export function firstCloseDay(month: string, graceDays: number): string {
  assertGraceDays(graceDays);
  return `${addMonths(month, 1)}-${String(1 + graceDays).padStart(2, '0')}`;
}
