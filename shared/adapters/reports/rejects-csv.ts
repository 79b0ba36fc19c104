import type { RejectedRow } from '../../domain/usage.js';
import { csvRecord } from './csv-writer.js';

/**
 * Rejected source rows as CSV (location, reason, raw value), for a person to find and fix each one. Raw
 * values come from the input as they were: the shared writer defuses any that a spreadsheet would run.
 */
export function rejectsCsv(rows: readonly RejectedRow[]): Buffer {
  const records = [csvRecord(['location', 'reason', 'raw value']), ...rows.map((row) => csvRecord([row.location, row.reason, row.raw ?? '']))];
  return Buffer.from(records.join(''), 'utf8');
}
