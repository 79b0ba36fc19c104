import { describe, expect, it } from 'vitest';
import { firstCloseDay, monthToClose } from '../../shared/domain/closing.js';

describe('when the previous month is closed', () => {
  it('waits for the grace period after the 1st, then closes the previous month on every run of the month', () => {
    expect(monthToClose(new Date('2026-11-01T06:00:00Z'), 'UTC', 2)).toBeNull();
    expect(monthToClose(new Date('2026-11-02T23:59:59Z'), 'UTC', 2)).toBeNull();
    expect(monthToClose(new Date('2026-11-03T00:00:00Z'), 'UTC', 2)).toBe('2026-10');
    expect(monthToClose(new Date('2026-11-30T06:00:00Z'), 'UTC', 2)).toBe('2026-10');
    expect(monthToClose(new Date('2026-12-01T06:00:00Z'), 'UTC', 2)).toBeNull();
    expect(monthToClose(new Date('2026-12-03T06:00:00Z'), 'UTC', 2)).toBe('2026-11');
  });

  it('closes on the 1st with no grace, and across a year end', () => {
    expect(monthToClose(new Date('2027-01-01T00:00:00Z'), 'UTC', 0)).toBe('2026-12');
    expect(monthToClose(new Date('2027-01-05T00:00:00Z'), 'UTC', 5)).toBeNull();
    expect(monthToClose(new Date('2027-01-06T00:00:00Z'), 'UTC', 5)).toBe('2026-12');
  });

  it('counts days in the reporting time zone', () => {
    // 23:30 UTC on the 2nd is already the 3rd in Berlin (UTC+1 in November).
    expect(monthToClose(new Date('2026-11-02T23:30:00Z'), 'Europe/Berlin', 2)).toBe('2026-10');
    expect(monthToClose(new Date('2026-11-02T23:30:00Z'), 'UTC', 2)).toBeNull();
    // 03:00 UTC on the 3rd is still the 2nd in New York.
    expect(monthToClose(new Date('2026-11-03T03:00:00Z'), 'America/New_York', 2)).toBeNull();
  });

  it('names the first close day and refuses a grace period no month can hold', () => {
    expect(firstCloseDay('2026-12', 2)).toBe('2027-01-03');
    expect(() => monthToClose(new Date('2026-11-03T00:00:00Z'), 'UTC', 28)).toThrow(/0 to 27/);
    expect(() => monthToClose(new Date('2026-11-03T00:00:00Z'), 'UTC', 1.5)).toThrow();
  });
});
