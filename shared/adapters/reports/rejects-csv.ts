import type { RejectedRow } from '../../domain/usage.js';
import { csvRecord } from './focus-csv.js';

/**
 * Rejected source rows as CSV (location, reason, raw value), for a person to find and fix each one. Raw
 * values come from the input as they were, so a cell that a spreadsheet would run as a formula is prefixed
 * with an apostrophe.
 */
export function rejectsCsv(rows: readonly RejectedRow[]): Buffer {
  const records = [csvRecord(['location', 'reason', 'raw value']), ...rows.map((row) => csvRecord([row.location, row.reason, row.raw ?? ''].map(inert)))];
  return Buffer.from(`${records.join('')}`, 'utf8');
}

function inert(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}
