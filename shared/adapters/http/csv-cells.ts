/**
 * The cost API's CSV tables, written through the project's one CSV writer (shared/adapters/reports/csv-writer.ts,
 * docs/csv.md): text cells that a spreadsheet would run as formulas are defused, number cells stay numbers.
 */
import { csvNumber, csvText } from '../reports/csv-writer.js';

export type CsvCell = { readonly text: string } | { readonly number: number | bigint | string } | null;

/** One header row and the rows under it, CRLF line ends, the last line ended too. */
export function csvTable(headers: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  const lines = [headers.map(csvText).join(',')];
  for (const row of rows) {
    if (row.length !== headers.length) throw new Error(`a CSV row has ${row.length} cells for ${headers.length} columns`);
    lines.push(row.map((cell) => (cell === null ? '' : 'text' in cell ? csvText(cell.text) : csvNumber(cell.number))).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
