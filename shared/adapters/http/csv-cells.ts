/**
 * CSV cells for the cost API (RFC 4180), safe to open in a spreadsheet.
 *
 * Text cells come from people and systems we do not control (team names are Entra group names their owners
 * can rename, model ids come from the gateway's requests), so a text cell that starts with `=`, `+`, `-`, `@`,
 * a tab or a carriage return gets a leading `'`: spreadsheets then show it as text instead of running it as a
 * formula (OWASP "CSV injection"). Number cells are written by us from numbers and are left as they are, so a
 * negative amount stays a number.
 *
 * (The reports helper is writing one CSV writer for FOCUS, rejects and the API in
 * shared/adapters/reports/csv-writer.ts; when it lands this file should give way to it.)
 */
const FORMULA_LEADING = /^[=+\-@\t\r]/;

export function textCell(value: string): string {
  const defused = FORMULA_LEADING.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

export function numberCell(value: number | bigint | string): string {
  const text = String(value);
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`not a number cell: ${text}`);
  return text;
}

export type CsvCell = { readonly text: string } | { readonly number: number | bigint | string } | null;

/** One header row and the rows under it, CRLF line ends, the last line ended too. */
export function csvTable(headers: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  const lines = [headers.map(textCell).join(',')];
  for (const row of rows) {
    if (row.length !== headers.length) throw new Error(`a CSV row has ${row.length} cells for ${headers.length} columns`);
    lines.push(row.map((cell) => (cell === null ? '' : 'text' in cell ? textCell(cell.text) : numberCell(cell.number))).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
