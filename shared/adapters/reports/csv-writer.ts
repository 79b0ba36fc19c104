/**
 * The one way this project writes CSV (docs/csv.md). Two kinds of cell, kept apart on purpose:
 *
 * - text cells carry words that came from outside (team names are Entra group names any group owner can
 *   rename, model ids come from the gateway's request bodies, user ids from tokens). A spreadsheet runs a cell
 *   that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula, so such a cell gets a single
 *   quote in front (OWASP's CSV injection guidance; Excel and LibreOffice show the rest as text);
 * - number cells carry figures we computed ourselves (amounts, token counts, unit prices). They are checked
 *   to be plain decimal numbers and written as they are, so a negative amount stays a number a spreadsheet can
 *   add up rather than becoming the text `'-1.00`.
 *
 * Both are quoted as RFC 4180 asks when they hold a comma, a quote, CR or LF (quotes doubled).
 */

/** Characters that make Excel, LibreOffice Calc and Google Sheets read a cell as a formula. */
const FORMULA_LEADING = /^[=+\-@\t\r]/;
/** What a number cell may hold: an optional minus, digits, an optional fraction. No exponent, no spaces. */
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

export type CsvNumber = number | bigint | { toFixed(): string };

/** RFC 4180 quoting only: a field with a comma, quote, CR or LF is quoted, and quotes inside are doubled. */
function quoted(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** A text cell: defused when a spreadsheet would run it, then quoted as RFC 4180 asks. */
export function csvText(value: string): string {
  return quoted(FORMULA_LEADING.test(value) ? `'${value}` : value);
}

/**
 * A number cell, written as it is. Anything that is not a plain decimal number is refused: a number cell
 * is never a way around the text guard.
 */
export function csvNumber(value: CsvNumber | string): string {
  const text = typeof value === 'string' ? value : typeof value === 'object' ? value.toFixed() : String(value);
  if (!PLAIN_NUMBER.test(text)) throw new Error(`CSV number cell is not a plain decimal number: ${JSON.stringify(text)}`);
  return text;
}

/** One record from cells: strings are text cells (guarded), numbers, bigints and decimals are number cells. */
export function csvRecord(cells: readonly (string | CsvNumber)[]): string {
  return `${cells.map((cell) => (typeof cell === 'string' ? csvText(cell) : csvNumber(cell))).join(',')}\r\n`;
}
