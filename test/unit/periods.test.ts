import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/domain/errors.js';
import { addMonths, createDayResolver, daysOfMonth, monthWindow, parseMonth, previousMonth } from '../../shared/domain/periods.js';

describe('periods', () => {
  it('accepts YYYY-MM and rejects anything else with a clear error', () => {
    expect(parseMonth('2026-10')).toBe('2026-10');
    for (const bad of ['2026-13', '2026-1', '26-10', 'October', '2026/10', '']) {
      expect(() => parseMonth(bad)).toThrow(AppError);
      expect(() => parseMonth(bad)).toThrow(/expected YYYY-MM/);
    }
  });

  it('cuts months at local midnight across DST changes', () => {
    // Paris leaves summer time on 2026-10-25: October is 31 days and one hour long there.
    const october = monthWindow('2026-10', 'Europe/Paris');
    expect(october.start.toISOString()).toBe('2026-09-30T22:00:00.000Z');
    expect(october.end.toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect((october.end.getTime() - october.start.getTime()) / 3_600_000).toBe(31 * 24 + 1);
    const march = monthWindow('2026-03', 'America/New_York');
    expect(march.start.toISOString()).toBe('2026-03-01T05:00:00.000Z');
    expect(march.end.toISOString()).toBe('2026-04-01T04:00:00.000Z');
  });

  it('defaults to UTC boundaries', () => {
    const window = monthWindow('2024-02', 'UTC');
    expect(window.start.toISOString()).toBe('2024-02-01T00:00:00.000Z');
    expect(window.end.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(daysOfMonth('2024-02')).toHaveLength(29);
  });

  it('puts an instant on the local calendar day, including half-hour zones', () => {
    const paris = createDayResolver('Europe/Paris');
    expect(paris(new Date('2026-10-31T22:59:59Z'))).toBe('2026-10-31');
    expect(paris(new Date('2026-10-31T23:00:00Z'))).toBe('2026-11-01');
    const kolkata = createDayResolver('Asia/Kolkata');
    expect(kolkata(new Date('2026-10-31T18:29:59Z'))).toBe('2026-10-31');
    expect(kolkata(new Date('2026-10-31T18:30:00Z'))).toBe('2026-11-01');
  });

  it('puts UTC instants on their day in any order, across midnight and before 1970', () => {
    const utc = createDayResolver('UTC');
    const instants = ['2026-10-31T23:59:59.999Z', '2026-11-01T00:00:00Z', '2026-10-31T12:00:00Z', '2026-10-31T12:00:01Z', '1969-12-31T23:59:59Z', '1970-01-01T00:00:00Z', '2026-11-01T00:00:00Z'];
    expect(instants.map((text) => utc(new Date(text)))).toEqual(['2026-10-31', '2026-11-01', '2026-10-31', '2026-10-31', '1969-12-31', '1970-01-01', '2026-11-01']);
  });

  it('knows which month a close on a given day closes', () => {
    expect(previousMonth(new Date('2026-11-03T06:00:00Z'), 'UTC')).toBe('2026-10');
    expect(previousMonth(new Date('2027-01-01T00:30:00Z'), 'Europe/Paris')).toBe('2026-12');
    expect(previousMonth(new Date('2026-12-31T23:30:00Z'), 'Europe/Paris')).toBe('2026-12');
    expect(addMonths('2026-12', 1)).toBe('2027-01');
    expect(addMonths('2026-01', -1)).toBe('2025-12');
  });
});
