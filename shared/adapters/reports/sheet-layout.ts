/**
 * The shape of a workbook sheet's content, apart from how it is written: the columns of a table and the
 * writer the sheet functions (excel-workbook.ts, reconciliation-sheet.ts) fill in, so a sheet module needs
 * no import of the workbook that uses it.
 */
export type CellKind = 'text' | 'tokens' | 'integer' | 'amount' | 'share' | 'change' | 'price';

export interface Column<Row> {
  readonly header: string;
  readonly kind: CellKind;
  readonly value: (row: Row) => string | number | bigint | null;
}

export interface TableSpec<Row> {
  readonly columns: readonly Column<Row>[];
  readonly rows: readonly Row[];
  /** Shown as the only data row when `rows` is empty, so an empty table never looks like a broken one. */
  readonly noneText?: string;
  /** Cells of the closing Total row, by column header; a totals row is written only when given. */
  readonly totals?: Readonly<Record<string, string | number | bigint>>;
  /** Price cells carry their own currency per row. */
  readonly currencyOf?: (row: Row) => string;
}

/** What a sheet's content is written with (MeasuringSheetWriter in excel-workbook.ts). */
export interface SheetWriter {
  title(text: string, description: string): void;
  /** A label in column A and its value in column B: the headline figures finance reads first. */
  figure(label: string, value: string | number | bigint | null, kind?: CellKind): void;
  subheading(text: string): void;
  gap(): void;
  /** Writes a table with a bold header and returns the header's row number. */
  table<Row>(spec: TableSpec<Row>, options: { filter: boolean; freeze: boolean }): number;
}
