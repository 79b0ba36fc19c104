import type ExcelJS from 'exceljs';
import type { Cell, Style, Worksheet } from 'exceljs';
import { AppError } from '../../domain/errors.js';

/** The parts of a cell the sheets set. */
export type CellSlot = Pick<Cell, 'value' | 'font' | 'fill' | 'border' | 'alignment' | 'numFmt' | 'style'>;

/** Where a sheet's cells go. Cells are asked for in row order, never going back to an earlier row. */
export interface SheetTarget {
  cell(row: number, column: number): CellSlot;
  /**
   * The cells of a table's data row, each given a value and, with it, a shared style (or a null value), then
   * handed back to `tableRowDone`: the bulk of a workbook's cells.
   */
  tableRow(row: number, columns: number): CellSlot[];
  tableRowDone(row: number, cells: CellSlot[]): void;
}

/** The measuring pass keeps nothing: every cell is the same scratch object. */
const SCRATCH_CELL = {} as CellSlot;
const SCRATCH_ROW: CellSlot[] = [];
export const MEASURING_TARGET: SheetTarget = {
  cell: () => SCRATCH_CELL,
  tableRow: (_row, columns) => {
    while (SCRATCH_ROW.length < columns) SCRATCH_ROW.push({} as CellSlot);
    return SCRATCH_ROW;
  },
  tableRowDone: () => undefined,
};

/**
 * The style of every row: exceljs gives each new row a style object of its own and renders it to XML to look it
 * up when the row is written (one lookup per row, some 50,000 at 10,000 users). No sheet styles a whole row.
 */
const ROW_STYLE: Partial<Style> = Object.freeze({});

/**
 * How a table's data rows reach the sheet: `exceljs` through its row and cell objects, `direct` as the same XML
 * written by us (exceljs's per-cell objects and rendering were most of a workbook's cost). Both give the same
 * bytes: test/adapters/excel-workbook.test.ts compares them.
 */
export type TableRowsMode = 'exceljs' | 'direct';

/** Rows of a streamed worksheet, each committed (written out and released) once the next row starts. */
export class StreamedRows implements SheetTarget {
  private open: ExcelJS.Row | undefined;
  private readonly slots: CellSlot[] = [];
  private readonly direct: DirectRowWriter | null;

  constructor(
    private readonly sheet: Worksheet,
    mode: TableRowsMode,
  ) {
    this.direct = mode === 'direct' ? new DirectRowWriter(sheet) : null;
  }

  cell(row: number, column: number): CellSlot {
    if (this.open?.number !== row) {
      this.open?.commit();
      this.open = this.sheet.getRow(row);
      // Row has a style at run time; its typings leave it out.
      (this.open as ExcelJS.Row & { style: Partial<Style> }).style = ROW_STYLE;
    }
    return this.open.getCell(column);
  }

  tableRow(row: number, columns: number): CellSlot[] {
    if (this.direct === null) return Array.from({ length: columns }, (_, index) => this.cell(row, index + 1));
    while (this.slots.length < columns) this.slots.push({} as CellSlot);
    this.slots.length = columns;
    for (const slot of this.slots) {
      slot.value = null;
      slot.style = NO_STYLE;
    }
    return this.slots;
  }

  tableRowDone(row: number, cells: CellSlot[]): void {
    if (this.direct === null) return;
    this.open?.commit();
    this.open = undefined;
    this.direct.write(row, cells);
  }
}

/** A direct slot's style until `write` sets one: a null value keeps it, as an exceljs cell keeps its own. */
const NO_STYLE = Object.freeze({}) as Partial<Style>;

/** What DirectRowWriter uses of exceljs 4.4's streaming worksheet: the parts its own `_writeRow` uses. */
interface StreamingWorksheet {
  _rowZero: number;
  _rows: unknown[] | null;
  startedData: boolean;
  _writeColumns(): void;
  _writeOpenSheetData(): void;
  readonly stream: { write(text: string): unknown };
  readonly _workbook: { readonly styles: { addStyleModel(style: Partial<Style>, cellType?: number): number } };
}

/** exceljs's ValueType numbers (Enums.ValueType). */
const NULL_TYPE = 0;
const NUMBER_TYPE = 2;
const STRING_TYPE = 3;

/**
 * Writes a data row as exceljs's streaming worksheet writes it (`_writeRow`: row and cell xforms, style ids
 * from the workbook's styles in the same order), from plain slots instead of row and cell objects.
 */
class DirectRowWriter {
  private readonly sheet: StreamingWorksheet;

  constructor(worksheet: Worksheet) {
    const sheet = worksheet as unknown as StreamingWorksheet;
    if (
      typeof sheet._rowZero !== 'number' ||
      typeof sheet._writeColumns !== 'function' ||
      typeof sheet._writeOpenSheetData !== 'function' ||
      typeof sheet._workbook?.styles?.addStyleModel !== 'function'
    ) {
      throw new AppError('INTERNAL', 'exceljs\u2019s streaming worksheet is not the one the direct row writer was made for (exceljs 4.4)');
    }
    this.sheet = sheet;
  }

  write(row: number, cells: readonly CellSlot[]): void {
    const sheet = this.sheet;
    if (sheet._rows === null || sheet._rows.length > 0 || row < sheet._rowZero) {
      throw new AppError('INTERNAL', `row ${row} cannot be written directly: the sheet has rows before it still open, or was committed`);
    }
    sheet._rowZero = row + 1;
    if (!cells.some((cell) => cell.value !== null && cell.value !== undefined)) return;
    const styles = sheet._workbook.styles;
    const rowStyleId = styles.addStyleModel(ROW_STYLE);
    let xml = `<row r="${row}" spans="1:${cells.length}"${rowStyleId ? ` s="${rowStyleId}" customFormat="1"` : ''} x14ac:dyDescent="0.25">`;
    for (let index = 0; index < cells.length; index++) {
      const { value, style } = cells[index]!;
      const address = `${columnLetters(index + 1)}${row}`;
      if (value === null || value === undefined) {
        // An exceljs cell left empty has a style object of its own, looked up afresh.
        const styleId = styles.addStyleModel({}, NULL_TYPE);
        if (styleId) xml += `<c r="${address}" s="${styleId}"/>`;
      } else if (typeof value === 'number') {
        const styleId = styles.addStyleModel(style, NUMBER_TYPE);
        xml += `<c r="${address}"${styleId ? ` s="${styleId}"` : ''}><v>${xmlText(String(value))}</v></c>`;
      } else if (typeof value === 'string') {
        const styleId = styles.addStyleModel(style, STRING_TYPE);
        xml += `<c r="${address}"${styleId ? ` s="${styleId}"` : ''} t="str"><v>${xmlText(value)}</v></c>`;
      } else {
        throw new AppError('INTERNAL', `a table cell at ${address} holds a ${typeof value}, which the direct row writer does not write`);
      }
    }
    if (!sheet.startedData) {
      sheet._writeColumns();
      sheet._writeOpenSheetData();
      sheet.startedData = true;
    }
    sheet.stream.write(`${xml}</row>`);
  }
}

const letters: string[] = [];
/** A column's letters: 1 is A, 27 is AA. */
function columnLetters(column: number): string {
  let known = letters[column];
  if (known === undefined) {
    known = '';
    for (let rest = column; rest > 0; rest = Math.floor((rest - 1) / 26)) known = String.fromCharCode(65 + ((rest - 1) % 26)) + known;
    letters[column] = known;
  }
  return known;
}

const XML_SPECIAL = /[<>&'"\x7F\x00-\x08\x0B\x0C\x0E-\x1F]/;

/** Text as exceljs escapes it: the five XML entities, and the control characters XML cannot hold left out. */
function xmlText(text: string): string {
  if (!XML_SPECIAL.test(text)) return text;
  let escaped = '';
  let from = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    let replacement: string;
    if (code === 34) replacement = '&quot;';
    else if (code === 38) replacement = '&amp;';
    else if (code === 39) replacement = '&apos;';
    else if (code === 60) replacement = '&lt;';
    else if (code === 62) replacement = '&gt;';
    else if (code === 127 || code <= 8 || code === 11 || code === 12 || (code >= 14 && code <= 31)) replacement = '';
    else continue;
    escaped += text.substring(from, index) + replacement;
    from = index + 1;
  }
  return escaped + text.substring(from);
}
