import ExcelJS from 'exceljs';
import type { AutoFilter, HeaderFooter, PageSetup, Style, WorksheetView } from 'exceljs';
import { Writable } from 'node:stream';
import { currencyMinorUnits } from '../../domain/currency.js';
import { UNALLOCATED_TEAM, type Allocation } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import { daysOfMonth } from '../../domain/periods.js';
import { costCenterTotals, type AmountChange, type DaySummary, type MonthReport, type ReportLine, type TeamSummary } from '../../domain/report.js';
import { TOKEN_KINDS, TOKEN_KIND_LABELS, totalTokens, zeroTokens, type TokenCounts } from '../../domain/tokens.js';
import type { ReportRenderer } from '../../ports/report-renderer.js';
import type { CellKind, Column, SheetWriter, TableSpec } from './sheet-layout.js';
import { billedLineColumn, billedTeamColumn, billedUserColumn, reconciliationSheets } from './reconciliation-sheet.js';
import { MEASURING_TARGET, StreamedRows, type CellSlot, type SheetTarget, type TableRowsMode } from './streamed-rows.js';

const CREATOR = 'LLM gateway chargeback';
const TOKEN_FORMAT = '#,##0';
const INTEGER_FORMAT = '#,##0';
const SHARE_FORMAT = '0.0%';
const CHANGE_FORMAT = '+0.0%;-0.0%;0.0%';
const MIN_WIDTH = 8;
const MAX_WIDTH = 60;

const SHEETS = {
  summary: 'Summary',
  costCenters: 'Cost centers',
  users: 'Users',
  lines: 'Lines',
  models: 'Models',
  tiers: 'Tiers',
  daily: 'Daily',
  unallocated: 'Unallocated',
  unpriced: 'Unpriced',
  prices: 'Prices',
  run: 'Run',
  changes: 'Changes',
} as const;

/** The finance workbook's sheets in order; a revision adds "Changes" right after the Summary. */
export const FINANCE_WORKBOOK_SHEETS: readonly string[] = [
  SHEETS.summary, SHEETS.costCenters, SHEETS.users, SHEETS.lines, SHEETS.models, SHEETS.tiers, SHEETS.daily, SHEETS.unallocated, SHEETS.unpriced, SHEETS.prices, SHEETS.run,
];
/** A team's own workbook: only what concerns that team. */
export const TEAM_WORKBOOK_SHEETS: readonly string[] = [SHEETS.summary, SHEETS.users, SHEETS.models, SHEETS.tiers, SHEETS.daily, SHEETS.prices, SHEETS.run];

const ALLOCATION_REASONS: Record<Allocation, string> = {
  team: 'Charged to the user\u2019s team',
  'no-user-id': 'The gateway sent no user id with this usage',
  'unknown-user': 'The user id is not in the directory, or its team is unknown',
  'former-user': 'The user has left (deleted or disabled account)',
};

/**
 * Excel number format for an ISO 4217 code. US dollars get their symbol; every other code is spelled out,
 * because a bare symbol (for example "$") is ambiguous across currencies and a finance reader must never
 * have to guess. The code is reduced to letters so it cannot break out of the quoted literal.
 */
export function currencyNumberFormat(currency: string, extraOptionalDecimals = 0): string {
  const code = currency.toUpperCase().replace(/[^A-Z]/g, '') || 'XXX';
  // As many decimals as the currency's minor units (JPY none, BHD three), the amounts' own precision.
  const fixed = '0'.repeat(currencyMinorUnits(code));
  const optional = '#'.repeat(extraOptionalDecimals);
  const number = fixed === '' && optional === '' ? '#,##0' : `#,##0.${fixed}${optional}`;
  return code === 'USD' ? `"$"${number}` : `${number} "${code}"`;
}

/** How amounts in `currency` are rounded, in words: "rounded to the cent", "rounded to whole JPY". */
export function roundedTo(currency: string): string {
  const decimals = currencyMinorUnits(currency);
  if (decimals === 0) return `rounded to whole ${currency}`;
  return decimals === 2 ? 'rounded to the cent' : `rounded to ${decimals} decimals`;
}

function minorUnitsToAmount(units: bigint, currency: string): number {
  return Number(units) / 10 ** currencyMinorUnits(currency);
}

/**
 * One style object per number format (and one for text cells), shared by every cell written with it: exceljs
 * recognizes a style object it has seen by identity, while a cell's own style object is rendered to XML to be
 * looked up, once per cell. A cell styled after `write` gets a style object of its own (see `table`), never a
 * change to a shared one.
 */
const TEXT_STYLE: Partial<Style> = {};
const RIGHT_ALIGNED_TEXT_STYLE: Partial<Style> = { alignment: { horizontal: 'right' } };
const numberStyles = new Map<string, Partial<Style>>();
function numberStyle(numFmt: string): Partial<Style> {
  let style = numberStyles.get(numFmt);
  if (style === undefined) {
    style = { numFmt };
    numberStyles.set(numFmt, style);
  }
  return style;
}

/**
 * Writes one sheet at a time and remembers how wide each column's content is, so widths fit the values
 * actually shown rather than a guess, and where the sheet's filter and frozen header are.
 */
export class MeasuringSheetWriter implements SheetWriter {
  private readonly widths = new Map<number, number>();
  private nextRow = 1;
  autoFilter: AutoFilter | undefined;
  views: Partial<WorksheetView>[] = [];
  /** The header row of the sheet's main table: printed again at the top of every page. */
  printTitleRow: number | undefined;

  constructor(
    private readonly target: SheetTarget,
    private readonly currency: string,
  ) {}

  /** Column number to width, for the columns that hold measured content. */
  columnWidths(): Map<number, number> {
    return new Map([...this.widths].map(([column, width]) => [column, Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width + 2))]));
  }

  title(text: string, description: string): void {
    const titleCell = this.target.cell(this.nextRow, 1);
    titleCell.value = text;
    titleCell.font = { bold: true, size: 14 };
    this.nextRow += 1;
    // The description runs over the empty cells to its right; measuring it would widen column A for nothing.
    this.target.cell(this.nextRow, 1).value = description;
    this.target.cell(this.nextRow, 1).font = { italic: true };
    this.nextRow += 2;
  }

  /** A label in column A and its value in column B: the headline figures finance reads first. */
  figure(label: string, value: string | number | bigint | null, kind: CellKind = 'text'): void {
    const labelCell = this.target.cell(this.nextRow, 1);
    labelCell.value = label;
    labelCell.font = { bold: true };
    this.measure(1, label.length);
    this.write(this.target.cell(this.nextRow, 2), 2, value, kind, this.currency);
    this.nextRow += 1;
  }

  subheading(text: string): void {
    const cell = this.target.cell(this.nextRow, 1);
    cell.value = text;
    cell.font = { bold: true, size: 12 };
    this.nextRow += 1;
  }

  gap(): void {
    this.nextRow += 1;
  }

  /** Writes a table with a bold header and returns the header's row number. */
  table<Row>(spec: TableSpec<Row>, options: { filter: boolean; freeze: boolean }): number {
    const slices = this.tableSlices(spec, options);
    for (;;) {
      const step = slices.next();
      if (step.done) return step.value;
    }
  }

  /** table(), a slice of TABLE_SLICE_ROWS rows at a time: the sheet's writer yields to the zip between slices. */
  *tableSlices<Row>(spec: TableSpec<Row>, options: { filter: boolean; freeze: boolean }): Generator<void, number, void> {
    const headerRow = this.nextRow;
    spec.columns.forEach((column, index) => {
      const cell = this.target.cell(headerRow, index + 1);
      cell.value = column.header;
      cell.font = { bold: true };
      cell.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFE7ECF3' } };
      cell.border = { bottom: { style: 'thin' } };
      cell.alignment = { vertical: 'top', horizontal: column.kind === 'text' ? 'left' : 'right' };
      this.measure(index + 1, column.header.length);
    });
    this.nextRow += 1;

    if (spec.rows.length === 0 && spec.noneText) {
      const cell = this.target.cell(this.nextRow, 1);
      cell.value = spec.noneText;
      cell.font = { italic: true };
      this.nextRow += 1;
    }
    let rowsInSlice = 0;
    for (const row of spec.rows) {
      const currency = spec.currencyOf ? spec.currencyOf(row) : this.currency;
      const cells = this.target.tableRow(this.nextRow, spec.columns.length);
      spec.columns.forEach((column, index) => {
        this.write(cells[index]!, index + 1, column.value(row), column.kind, currency);
      });
      this.target.tableRowDone(this.nextRow, cells);
      this.nextRow += 1;
      if (++rowsInSlice === TABLE_SLICE_ROWS) {
        rowsInSlice = 0;
        yield;
      }
    }
    const lastDataRow = this.nextRow - 1;

    if (spec.totals) {
      spec.columns.forEach((column, index) => {
        const value = spec.totals![column.header];
        const cell = this.target.cell(this.nextRow, index + 1);
        if (value !== undefined) this.write(cell, index + 1, value, column.kind, this.currency);
        // A style of its own: the one `write` set may be shared.
        cell.style = { ...cell.style, font: { bold: true }, border: { top: { style: 'thin' }, bottom: { style: 'double' } } };
      });
      this.nextRow += 1;
    }

    // The filter covers the header and data only, so sorting never moves the Total row into the data.
    if (options.filter) {
      this.autoFilter = { from: { row: headerRow, column: 1 }, to: { row: Math.max(lastDataRow, headerRow), column: spec.columns.length } };
    }
    if (options.freeze) {
      this.printTitleRow = headerRow;
      this.views = [{ state: 'frozen', xSplit: 0, ySplit: headerRow, topLeftCell: `A${headerRow + 1}`, activeCell: `A${headerRow + 1}` }];
    }
    return headerRow;
  }

  private write(cell: CellSlot, column: number, value: string | number | bigint | null, kind: CellKind, currency: string): void {
    if (value === null || value === '') {
      cell.value = null;
      return;
    }
    switch (kind) {
      case 'text':
        cell.style = TEXT_STYLE;
        cell.value = String(value);
        this.measure(column, String(value).length);
        return;
      case 'tokens':
      case 'integer':
        cell.value = Number(value);
        cell.style = numberStyle(kind === 'tokens' ? TOKEN_FORMAT : INTEGER_FORMAT);
        this.measure(column, groupedLength(Math.trunc(Number(value)).toString()));
        return;
      case 'amount': {
        const units = typeof value === 'bigint' ? value : BigInt(value);
        const decimals = currencyMinorUnits(currency);
        cell.value = minorUnitsToAmount(units, currency);
        cell.style = numberStyle(currencyNumberFormat(currency));
        this.measure(column, groupedLength((units / 10n ** BigInt(decimals)).toString()) + decimals + 1 + currencyAffixLength(currency));
        return;
      }
      case 'share':
      case 'change':
        cell.value = Number(value);
        cell.style = numberStyle(kind === 'share' ? SHARE_FORMAT : CHANGE_FORMAT);
        this.measure(column, kind === 'share' ? 6 : Math.min(12, Math.abs(Math.trunc(Number(value) * 100)).toString().length + 4));
        return;
      case 'price': {
        const text = String(value);
        // Prices are exact decimal strings. A double keeps 15 significant digits, so anything longer is
        // written as text rather than silently rounded.
        if (significantDigits(text) <= 15) {
          cell.value = Number(text);
          const decimals = (text.split('.')[1] ?? '').length;
          cell.style = numberStyle(currencyNumberFormat(currency, Math.max(0, decimals - currencyMinorUnits(currency))));
        } else {
          cell.value = text;
          cell.style = RIGHT_ALIGNED_TEXT_STYLE;
        }
        this.measure(column, text.length + 4 + currencyAffixLength(currency));
        return;
      }
    }
  }

  private measure(column: number, length: number): void {
    this.widths.set(column, Math.max(this.widths.get(column) ?? 0, length));
  }
}

function groupedLength(digits: string): number {
  const unsigned = digits.replace('-', '');
  return digits.length + Math.floor((unsigned.length - 1) / 3);
}

function currencyAffixLength(currency: string): number {
  return currency.toUpperCase() === 'USD' ? 1 : 4;
}

function significantDigits(decimal: string): number {
  const digits = decimal.replace(/^[-+]/, '').replace('.', '').replace(/^0+/, '');
  return digits.length;
}

function sumAmounts<T extends { readonly amount: bigint }>(items: readonly T[]): bigint {
  return items.reduce((sum, item) => sum + item.amount, 0n);
}

function sumCounts(items: readonly TokenCounts[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const kind of TOKEN_KINDS) totals[kind] = items.reduce((sum, counts) => sum + counts[kind], 0);
  return totals;
}

function tokenColumns<Row>(tokensOf: (row: Row) => TokenCounts, prefix = ''): Column<Row>[] {
  return [
    ...TOKEN_KINDS.map((kind) => ({ header: `${prefix}${TOKEN_KIND_LABELS[kind]} tokens`, kind: 'tokens' as const, value: (row: Row) => tokensOf(row)[kind] })),
    { header: `${prefix}Total tokens`, kind: 'tokens', value: (row: Row) => totalTokens(tokensOf(row)) },
  ];
}

function tokenTotals(items: readonly TokenCounts[], prefix = ''): Record<string, number> {
  const sums = sumCounts(items);
  const totals: Record<string, number> = {};
  for (const kind of TOKEN_KINDS) totals[`${prefix}${TOKEN_KIND_LABELS[kind]} tokens`] = sums[kind]!;
  totals[`${prefix}Total tokens`] = TOKEN_KINDS.reduce((sum, kind) => sum + sums[kind]!, 0);
  return totals;
}

/**
 * Refuses to render a report whose lists do not add up to its totals: a workbook that does not reconcile
 * must never reach finance. `buildMonthReport` guarantees these; this catches a report built any other way.
 */
function assertReconciles(report: MonthReport): void {
  const problems: string[] = [];
  const lists: [string, readonly { amount: bigint; tokens: TokenCounts; requests: number }[]][] = [
    ['teams', report.teams],
    ['users', report.users],
    ['lines', report.lines],
    ['models', report.models],
    ['tiers', report.tiers],
  ];
  const expectedTokens = totalTokens(report.tokens);
  for (const [name, items] of lists) {
    const amount = sumAmounts(items);
    if (amount !== report.grandTotal) problems.push(`${name} amounts sum to ${amount} minor units, the grand total is ${report.grandTotal}`);
    const tokens = items.reduce((sum, item) => sum + totalTokens(item.tokens), 0);
    if (tokens !== expectedTokens) problems.push(`${name} tokens sum to ${tokens}, the report counts ${expectedTokens}`);
    const requests = items.reduce((sum, item) => sum + item.requests, 0);
    if (requests !== report.requests) problems.push(`${name} requests sum to ${requests}, the report counts ${report.requests}`);
  }
  if (report.daily) {
    const daily = sumAmounts(report.daily);
    if (daily !== report.grandTotal) problems.push(`daily amounts sum to ${daily} minor units, the grand total is ${report.grandTotal}`);
    const tokens = report.daily.reduce((sum, day) => sum + totalTokens(day.tokens), 0);
    if (tokens !== expectedTokens) problems.push(`daily tokens sum to ${tokens}, the report counts ${expectedTokens}`);
  }
  if (report.previousMonth) {
    const previous = sumAmounts(report.previousMonth.teams);
    if (previous !== report.previousMonth.grandTotal) {
      problems.push(`last month's team amounts sum to ${previous} minor units, its total is ${report.previousMonth.grandTotal}`);
    }
  }
  if (problems.length > 0) {
    throw new AppError('INTERNAL', `The ${report.month} report does not reconcile; no workbook was written.`, { details: problems });
  }
}

/** A team workbook goes to that team's leads: one line of another team in it would leak their usage. */
function assertSingleTeam(report: MonthReport): string {
  const teamId = report.scope?.teamId;
  if (!teamId) throw new AppError('INTERNAL', `The ${report.month} report has no team scope; a team workbook needs one.`);
  const foreign = [...report.lines, ...report.users, ...report.teams].filter((item) => item.teamId !== teamId);
  if (foreign.length > 0) {
    throw new AppError('INTERNAL', `The ${report.month} report of team ${teamId} holds ${foreign.length} row(s) of other teams; no workbook was written.`);
  }
  return teamId;
}

/**
 * What a sheet holds, written through the writer. A sheet of many rows is a generator that yields between
 * slices of rows (`tableSlices`), so that the zip takes each slice's XML before the next is made.
 */
type SheetContent = (writer: MeasuringSheetWriter) => void | Generator<void, void, void>;

/**
 * Rows written between two turns of the event loop in a long table (about 0.1 MB of sheet XML, some 10 ms):
 * the close builds workbooks while its store waits on Table Storage, whose answers are handled between slices.
 */
const TABLE_SLICE_ROWS = 250;

/** The finance workbook and the team workbooks for a closed month, rendered with exceljs. Same report in, same bytes out. */
export class ExcelReportRenderer implements ReportRenderer {
  private readonly tableRows: TableRowsMode;

  /** `tableRows`: how tables' data rows are written; `direct` unless a test compares the two. */
  constructor(options: { readonly tableRows?: TableRowsMode } = {}) {
    this.tableRows = options.tableRows ?? 'direct';
  }

  async financeWorkbook(report: MonthReport): Promise<Buffer> {
    assertReconciles(report);
    const sheets: [string, SheetContent][] = [
      [SHEETS.summary, (writer) => writeSummary(writer, report)],
      ...(report.changes ? [[SHEETS.changes, (writer: SheetWriter) => writeChanges(writer, report)] as [string, SheetContent]] : []),
      [SHEETS.costCenters, (writer) => writeCostCenters(writer, report)],
      [SHEETS.users, (writer) => writeUsers(writer, report)],
      [SHEETS.lines, (writer) => writeLines(writer, report)],
      [SHEETS.models, (writer) => writeModels(writer, report)],
      [SHEETS.tiers, (writer) => writeTiers(writer, report)],
      [SHEETS.daily, (writer) => writeDaily(writer, report)],
      [SHEETS.unallocated, (writer) => writeUnallocated(writer, report)],
      [SHEETS.unpriced, (writer) => writeUnpriced(writer, report)],
      [SHEETS.prices, (writer) => writePrices(writer, report)],
      ...reconciliationSheets(report),
      [SHEETS.run, (writer) => writeRun(writer, report)],
    ];
    return writeWorkbook(report, `LLM gateway chargeback ${report.month}`, this.tableRows, sheets);
  }

  async teamWorkbook(report: MonthReport): Promise<Buffer> {
    assertReconciles(report);
    assertSingleTeam(report);
    return writeWorkbook(report, `LLM gateway usage ${report.month}: ${report.scope!.teamName}`, this.tableRows, [
      [SHEETS.summary, (writer) => writeTeamSummary(writer, report)],
      [SHEETS.users, (writer) => writeUsers(writer, report)],
      [SHEETS.models, (writer) => writeModels(writer, report)],
      [SHEETS.tiers, (writer) => writeTiers(writer, report)],
      [SHEETS.daily, (writer) => writeDaily(writer, report)],
      [SHEETS.prices, (writer) => writePrices(writer, report)],
      [SHEETS.run, (writer) => writeRun(writer, report)],
    ]);
  }
}

/**
 * Streams the workbook: each row is written out as soon as it is complete, so a month of 20,000 lines never
 * exists as a workbook of cell objects, only as compressed bytes. A streamed sheet's frozen header and column
 * widths come before its first row, so each sheet is laid out twice: a measuring pass that keeps nothing,
 * then the writing pass.
 */
async function writeWorkbook(report: MonthReport, title: string, tableRows: TableRowsMode, sheets: readonly (readonly [string, SheetContent])[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  try {
    // Level 6, as exceljs's in-memory writer compresses: the workbook is mailed, and the streaming writer's
    // default (fastest) makes it about a fifth larger. Strings inline rather than shared: the shared-string table
    // holds every distinct text until the workbook ends (user ids, names and UPNs of 100,000 users), which put the
    // single-process close at 100k over 1 GB of RSS; the file is some 15% larger (29.3 MB instead of 25.5 MB).
    const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: sink, useStyles: true, useSharedStrings: false, zip: { zlib: { level: 6 } } });
    workbook.creator = CREATOR;
    workbook.lastModifiedBy = CREATOR;
    workbook.created = report.generatedAt;
    workbook.modified = report.generatedAt;
    workbook.title = title;
    workbook.subject = `Chargeback for ${report.month} in ${report.currency}`;
    for (const [name, content] of sheets) {
      const layout = new MeasuringSheetWriter(MEASURING_TARGET, report.currency);
      const measuring = content(layout);
      if (measuring) for (const _slice of measuring);
      const worksheet = workbook.addWorksheet(name, {
        views: layout.views,
        pageSetup: printSetup(layout.printTitleRow, name === SHEETS.summary),
        headerFooter: pageHeaderFooter(title, report),
      });
      for (const [column, width] of layout.columnWidths()) worksheet.getColumn(column).width = width;
      if (layout.autoFilter) worksheet.autoFilter = layout.autoFilter;
      // exceljs keeps a sheet's XML until the zip reads it, and the zip reads only between turns of the event
      // loop: written in one go, the finance workbook's Lines sheet at 100k users was held uncompressed.
      const writing = content(new MeasuringSheetWriter(new StreamedRows(worksheet, tableRows), report.currency));
      if (writing) for (const _slice of writing) await new Promise((resolve) => setImmediate(resolve));
      worksheet.commit();
    }
    await workbook.commit();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('INTERNAL', `Could not write the ${report.month} workbook.`, { cause: error });
  }
  return stampZipEntries(Buffer.concat(chunks), report.generatedAt);
}

/**
 * How every sheet prints: landscape, one page wide (as many pages down as the rows need), the table's header
 * row repeated on every page. The Summary is what finance reads on paper first, so it is fitted to one page.
 * Paper size is left to the printer (A4 or Letter).
 */
export function printSetup(titleRow: number | undefined, onePage: boolean): Partial<PageSetup> {
  return {
    orientation: 'landscape',
    fitToPage: true,
    fitToWidth: 1,
    // 0: as many pages down as needed (Excel's "Automatic").
    fitToHeight: onePage ? 1 : 0,
    margins: { left: 0.4, right: 0.4, top: 0.7, bottom: 0.6, header: 0.3, footer: 0.3 },
    horizontalCentered: false,
    ...(titleRow === undefined ? {} : { printTitlesRow: `${titleRow}:${titleRow}` }),
  };
}

/** Page header: what the workbook is on the left, period and revision on the right; page numbers in the footer. */
export function pageHeaderFooter(title: string, report: Pick<MonthReport, 'month' | 'revision' | 'timeZone'>): Partial<HeaderFooter> {
  // In header and footer codes `&` starts a code; a literal ampersand (a team called "R&D") is written `&&`.
  const literal = (text: string) => text.replace(/&/g, '&&');
  return {
    oddHeader: `&L${literal(title)}&R${literal(`Period ${report.month} (${report.timeZone}), revision ${report.revision}`)}`,
    oddFooter: `&L&A&RPage &P of &N`,
  };
}

function writeSummary(writer: SheetWriter, report: MonthReport): void {
  const unallocatedAmount = sumAmounts(report.unallocated);
  const unallocatedTokens = report.unallocated.reduce((sum, line) => sum + totalTokens(line.tokens), 0);
  const unpricedTokens = report.lines.reduce((sum, line) => sum + totalTokens(line.unpricedTokens), 0);

  writer.title(
    `LLM gateway chargeback \u2014 ${report.month} (${report.currency})`,
    `Amounts in ${report.currency}, ${roundedTo(report.currency)}; every total equals the sum of the rows under it. Period in time zone ${report.timeZone}. Revision 1 is the month\u2019s first close; a higher revision replaces figures sent before (see its Changes sheet).`,
  );
  writer.figure('Grand total', report.grandTotal, 'amount');
  writer.figure('Total tokens', totalTokens(report.tokens), 'tokens');
  writer.figure('Requests', report.requests, 'integer');
  writer.figure('Unallocated amount', unallocatedAmount, 'amount');
  writer.figure('Unallocated tokens', unallocatedTokens, 'tokens');
  writer.figure('Unpriced tokens (not charged)', unpricedTokens, 'tokens');
  writer.figure('Revision', report.revision, 'integer');
  writeChangeFigures(writer, report);
  writer.gap();

  const grand = report.grandTotal;
  const withBudgets = report.teams.some((team) => team.budget !== undefined);
  writer.table(
    {
      columns: [
        { header: 'Team', kind: 'text', value: (team) => team.teamId },
        { header: 'Name', kind: 'text', value: (team) => team.teamName },
        { header: 'Cost center', kind: 'text', value: (team) => team.costCenter ?? '' },
        { header: 'Users', kind: 'integer', value: (team) => team.users },
        { header: 'Input tokens', kind: 'tokens', value: (team) => team.tokens.input },
        { header: 'Output tokens', kind: 'tokens', value: (team) => team.tokens.output },
        { header: 'Cache tokens', kind: 'tokens', value: (team) => cacheTokens(team.tokens) },
        { header: 'Total tokens', kind: 'tokens', value: (team) => totalTokens(team.tokens) },
        { header: 'Requests', kind: 'integer', value: (team) => team.requests },
        { header: 'Amount', kind: 'amount', value: (team) => team.amount },
        ...billedTeamColumn(report).columns,
        { header: 'Share of total', kind: 'share', value: (team) => (grand === 0n ? null : Number(team.amount) / Number(grand)) },
        ...(withBudgets ? budgetColumns() : []),
      ],
      rows: report.teams,
      noneText: 'None: no usage in this month.',
      totals: {
        Team: 'Total',
        Users: report.teams.reduce((sum, team) => sum + team.users, 0),
        'Input tokens': report.tokens.input,
        'Output tokens': report.tokens.output,
        'Cache tokens': cacheTokens(report.tokens),
        'Total tokens': totalTokens(report.tokens),
        Requests: report.requests,
        Amount: sumAmounts(report.teams),
        ...billedTeamColumn(report).totals,
        ...(grand === 0n ? {} : { 'Share of total': 1 }),
        ...(withBudgets ? budgetTotals(report.teams) : {}),
      },
    },
    // Not frozen: the headline figures above the table are what a reader scrolls back to, and a frozen block
    // of a dozen rows leaves little room for the teams on a small screen.
    { filter: true, freeze: false },
  );
  if (withBudgets) {
    writer.gap();
    writer.figure('Budget columns', 'Budget: the team\u2019s budget for the month. Forecast: the month is over, so it is what was spent. Remaining: budget minus amount, negative when overspent. Empty: no budget set.');
  }
  writeChangeTable(writer, report);
}

function budgetColumns(): Column<TeamSummary>[] {
  return [
    { header: 'Budget', kind: 'amount', value: (team) => team.budget?.amount ?? null },
    { header: 'Forecast', kind: 'amount', value: (team) => team.budget?.forecast ?? null },
    { header: 'Remaining', kind: 'amount', value: (team) => team.budget?.remaining ?? null },
  ];
}

/** Totals over the teams that have a budget: a team without one has nothing to add to "remaining". */
function budgetTotals(teams: readonly TeamSummary[]): Record<string, bigint> {
  const budgets = teams.flatMap((team) => (team.budget ? [team.budget] : []));
  return {
    Budget: budgets.reduce((sum, budget) => sum + budget.amount, 0n),
    Forecast: budgets.reduce((sum, budget) => sum + budget.forecast, 0n),
    Remaining: budgets.reduce((sum, budget) => sum + budget.remaining, 0n),
  };
}

/** The journal finance posts: one line per cost center, adding up to the grand total to the minor unit. */
function writeCostCenters(writer: SheetWriter, report: MonthReport): void {
  writer.title(
    'Cost centers',
    `The month per cost center (from the directory), each the sum of its teams\u2019 amounts on the Summary, so the lines add up to the grand total exactly. "No cost center" holds teams without one and the unallocated usage.`,
  );
  const grand = report.grandTotal;
  const centers = costCenterTotals(report.teams);
  writer.table(
    {
      columns: [
        { header: 'Cost center', kind: 'text', value: (center) => center.costCenter ?? 'No cost center' },
        { header: 'Teams', kind: 'text', value: (center) => center.teamIds.join(', ') },
        { header: 'Total tokens', kind: 'tokens', value: (center) => center.tokens },
        { header: 'Amount', kind: 'amount', value: (center) => center.amount },
        { header: 'Share of total', kind: 'share', value: (center) => (grand === 0n ? null : Number(center.amount) / Number(grand)) },
      ],
      rows: centers,
      noneText: 'None: no usage in this month.',
      totals: {
        'Cost center': 'Total',
        'Total tokens': totalTokens(report.tokens),
        Amount: sumAmounts(centers),
        ...(grand === 0n ? {} : { 'Share of total': 1 }),
      },
    },
    { filter: true, freeze: true },
  );
}

/** Change of an amount against a base, as a fraction; none when there was nothing to compare with. */
function relativeChange(previous: bigint, current: bigint): number | null {
  return previous === 0n ? null : Number(current - previous) / Number(previous);
}

function writeChangeFigures(writer: SheetWriter, report: MonthReport): void {
  const previous = report.previousMonth;
  if (!previous) {
    writer.figure('Last month', 'not available (no closed month before this one)');
    return;
  }
  writer.figure(`Last month (${previous.month})`, previous.grandTotal, 'amount');
  writer.figure('Change from last month', report.grandTotal - previous.grandTotal, 'amount');
  const relative = relativeChange(previous.grandTotal, report.grandTotal);
  writer.figure('Change from last month (%)', relative ?? 'n/a', relative === null ? 'text' : 'change');
}

/** Every team of either month, so both columns add up to their month's total. */
function writeChangeTable(writer: SheetWriter, report: MonthReport): void {
  const previous = report.previousMonth;
  if (!previous) return;
  const rows = new Map<string, { teamId: string; teamName: string; previous: bigint; current: bigint }>();
  for (const team of previous.teams) rows.set(team.teamId, { teamId: team.teamId, teamName: team.teamName, previous: team.amount, current: 0n });
  for (const team of report.teams) {
    rows.set(team.teamId, { teamId: team.teamId, teamName: team.teamName, previous: rows.get(team.teamId)?.previous ?? 0n, current: team.amount });
  }
  const ordered = [...rows.values()].sort(
    (a, b) => Number(a.teamId === UNALLOCATED_TEAM) - Number(b.teamId === UNALLOCATED_TEAM) || a.teamId.localeCompare(b.teamId),
  );
  writer.gap();
  writer.subheading(`Change from last month (${previous.month})`);
  writer.table(
    {
      columns: [
        { header: 'Team', kind: 'text', value: (row) => row.teamId },
        { header: 'Name', kind: 'text', value: (row) => row.teamName },
        { header: 'Last month', kind: 'amount', value: (row) => row.previous },
        { header: 'This month', kind: 'amount', value: (row) => row.current },
        { header: 'Change', kind: 'amount', value: (row) => row.current - row.previous },
        { header: 'Change %', kind: 'change', value: (row) => relativeChange(row.previous, row.current) },
      ],
      rows: ordered,
      noneText: 'None: no usage in either month.',
      totals: {
        Team: 'Total',
        'Last month': previous.grandTotal,
        'This month': report.grandTotal,
        Change: report.grandTotal - previous.grandTotal,
        ...(previous.grandTotal === 0n ? {} : { 'Change %': relativeChange(previous.grandTotal, report.grandTotal)! }),
      },
    },
    { filter: false, freeze: false },
  );
}

function writeTeamSummary(writer: SheetWriter, report: MonthReport): void {
  const scope = report.scope!;
  const unpricedTokens = report.lines.reduce((sum, line) => sum + totalTokens(line.unpricedTokens), 0);
  writer.title(
    `LLM gateway usage — ${scope.teamName} (${scope.teamId}) — ${report.month}`,
    `Your team’s usage and chargeback, in ${report.currency} ${roundedTo(report.currency)}; the total equals your team’s amount in the finance workbook. Period in time zone ${report.timeZone}.`,
  );
  const team = report.teams.find((candidate) => candidate.teamId === scope.teamId);
  writer.figure('Team total', report.grandTotal, 'amount');
  if (team?.costCenter) writer.figure('Cost center', team.costCenter);
  if (team?.budget) {
    writer.figure('Budget', team.budget.amount, 'amount');
    writer.figure('Actual', team.budget.actual, 'amount');
    writer.figure('Forecast (month over: what was spent)', team.budget.forecast, 'amount');
    writer.figure(team.budget.remaining < 0n ? 'Remaining (overspent)' : 'Remaining', team.budget.remaining, 'amount');
  }
  // Usage the gateway sent without a user id is shown as "(none)" on the Users sheet; it is not a user.
  writer.figure('Users', report.users.filter((user) => user.userId !== '').length, 'integer');
  writer.figure('Total tokens', totalTokens(report.tokens), 'tokens');
  for (const kind of TOKEN_KINDS) writer.figure(`${TOKEN_KIND_LABELS[kind]} tokens`, report.tokens[kind], 'tokens');
  writer.figure('Requests', report.requests, 'integer');
  writer.figure('Unpriced tokens (not charged)', unpricedTokens, 'tokens');
  writeChangeFigures(writer, report);
  writer.figure('Revision', report.revision, 'integer');
}

/** Every calendar day of the month, a day without usage as a row of zeros: a gap in a list reads as missing data. */
function everyDay(report: MonthReport): DaySummary[] {
  if (!report.daily) return [];
  const used = new Map(report.daily.map((day) => [day.day, day]));
  return daysOfMonth(report.month).map(
    (day) => used.get(day) ?? { day, tokens: zeroTokens(), requests: 0, unpricedTokens: 0, exactCost: '0', amount: 0n },
  );
}

function writeDaily(writer: SheetWriter, report: MonthReport): void {
  const daily = everyDay(report);
  writer.title('Daily', `Totals per calendar day in ${report.timeZone}. Day amounts share out the total by largest remainder, so they add up to it exactly.`);
  writer.table(
    {
      columns: [
        { header: 'Day', kind: 'text', value: (day) => day.day },
        ...tokenColumns<(typeof daily)[number]>((day) => day.tokens),
        { header: 'Unpriced tokens', kind: 'tokens', value: (day) => day.unpricedTokens },
        { header: 'Requests', kind: 'integer', value: (day) => day.requests },
        { header: 'Amount', kind: 'amount', value: (day) => day.amount },
      ],
      rows: daily,
      noneText: 'Not available for this report.',
      totals: {
        Day: 'Total',
        ...tokenTotals(daily.map((day) => day.tokens)),
        'Unpriced tokens': daily.reduce((sum, day) => sum + day.unpricedTokens, 0),
        Requests: daily.reduce((sum, day) => sum + day.requests, 0),
        Amount: sumAmounts(daily),
      },
    },
    { filter: true, freeze: true },
  );
}

function writeChanges(writer: SheetWriter, report: MonthReport): void {
  const changes = report.changes!;
  writer.title(
    `Changes in revision ${report.revision}`,
    `What changed against revision ${changes.previousRevision}, which finance received earlier: late usage, a corrected price or a user who moved team.`,
  );
  writer.figure('Previous revision', changes.previousRevision, 'integer');
  writer.figure('Previous total', changes.grandTotal.previous ?? 'not available', changes.grandTotal.previous === null ? 'text' : 'amount');
  writer.figure('New total', changes.grandTotal.current, 'amount');
  if (changes.grandTotal.previous !== null) writer.figure('Difference', changes.grandTotal.current - changes.grandTotal.previous, 'amount');
  if (!changes.detailAvailable) {
    writer.gap();
    writer.figure('Detail', `Revision ${changes.previousRevision}'s lines were no longer stored when this workbook was rendered again; compare with its workbook.`);
      return;
  }
  const columns = (first: Column<AmountChange>[]): Column<AmountChange>[] => [
    ...first,
    { header: 'Previous amount', kind: 'amount', value: (row) => row.previous },
    { header: 'New amount', kind: 'amount', value: (row) => row.current },
    { header: 'Difference', kind: 'amount', value: (row) => row.difference },
  ];
  writer.gap();
  writer.subheading('By team (every team)');
  writer.table(
    {
      columns: columns([
        { header: 'Team', kind: 'text', value: (row) => row.teamId },
        { header: 'Name', kind: 'text', value: (row) => row.label },
      ]),
      rows: changes.teams,
      noneText: 'None.',
      totals: {
        Team: 'Total',
        'Previous amount': sumAmounts(changes.teams.map((row) => ({ amount: row.previous }))),
        'New amount': sumAmounts(changes.teams.map((row) => ({ amount: row.current }))),
        Difference: sumAmounts(changes.teams.map((row) => ({ amount: row.difference }))),
      },
    },
    { filter: false, freeze: false },
  );
  writer.gap();
  writer.subheading('By user (only users whose amount changed)');
  writer.table(
    {
      columns: columns([
        { header: 'User team', kind: 'text', value: (row) => row.teamId },
        { header: 'User', kind: 'text', value: (row) => row.label },
      ]),
      rows: changes.users,
      noneText: 'None: no user’s amount changed.',
    },
    { filter: false, freeze: false },
  );
  writer.gap();
  writer.subheading('By model (only models whose amount changed)');
  writer.table(
    {
      columns: columns([{ header: 'Model', kind: 'text', value: (row) => row.label }]),
      rows: changes.models,
      noneText: 'None: no model’s amount changed.',
    },
    { filter: false, freeze: false },
  );
}

function cacheTokens(tokens: TokenCounts): number {
  return tokens.cacheRead + tokens.cacheWrite5m + tokens.cacheWrite1h;
}

function* writeUsers(writer: MeasuringSheetWriter, report: MonthReport): Generator<void, void, void> {
  writer.title(
    'Users',
    'One row per user and team. Each team\u2019s user amounts add up to the team amount on the Summary sheet. Allocation: "team" is charged to the user\u2019s team; "no-user-id" (shown as user "(none)": the gateway sent no user id, so it is not a user), "unknown-user" and "former-user" go to the unallocated team, see the Unallocated sheet.',
  );
  yield* writer.tableSlices(
    {
      columns: [
        { header: 'Team', kind: 'text', value: (user) => user.teamId },
        { header: 'Team name', kind: 'text', value: (user) => user.teamName },
        { header: 'User id (oid)', kind: 'text', value: (user) => user.userId || '(none)' },
        { header: 'Name', kind: 'text', value: (user) => user.userName },
        { header: 'UPN', kind: 'text', value: (user) => user.upn },
        { header: 'Allocation', kind: 'text', value: (user) => user.allocation },
        ...tokenColumns<MonthReport['users'][number]>((user) => user.tokens),
        { header: 'Requests', kind: 'integer', value: (user) => user.requests },
        { header: 'Amount', kind: 'amount', value: (user) => user.amount },
        ...billedUserColumn(report).columns,
      ],
      rows: report.users,
      noneText: 'None: no usage in this month.',
      totals: { Team: 'Total', ...tokenTotals(report.users.map((user) => user.tokens)), Requests: report.requests, Amount: sumAmounts(report.users), ...billedUserColumn(report).totals },
    },
    { filter: true, freeze: true },
  );
}

function lineColumns(): Column<ReportLine>[] {
  return [
    { header: 'Team', kind: 'text', value: (line) => line.teamId },
    { header: 'User id (oid)', kind: 'text', value: (line) => line.userId || '(none)' },
    { header: 'User name', kind: 'text', value: (line) => line.userName },
    { header: 'Model', kind: 'text', value: (line) => line.model },
    { header: 'Priced as', kind: 'text', value: (line) => line.pricedModel ?? '(no price)' },
    { header: 'Tier', kind: 'text', value: (line) => line.tier },
    ...tokenColumns<ReportLine>((line) => line.tokens),
    { header: 'Unpriced tokens', kind: 'tokens', value: (line) => totalTokens(line.unpricedTokens) },
    { header: 'Requests', kind: 'integer', value: (line) => line.requests },
    { header: 'Amount', kind: 'amount', value: (line) => line.amount },
    { header: 'Price entries used', kind: 'text', value: (line) => line.priceEntryIds.join(', ') },
  ];
}

function lineTotals(lines: readonly ReportLine[]): Record<string, string | number | bigint> {
  return {
    Team: 'Total',
    ...tokenTotals(lines.map((line) => line.tokens)),
    'Unpriced tokens': lines.reduce((sum, line) => sum + totalTokens(line.unpricedTokens), 0),
    Requests: lines.reduce((sum, line) => sum + line.requests, 0),
    Amount: sumAmounts(lines),
  };
}

function* writeLines(writer: MeasuringSheetWriter, report: MonthReport): Generator<void, void, void> {
  writer.title('Lines', 'The detail: one row per team, user, model and tier for the month. Lines add up to their user\u2019s amount.');
  const billed = billedLineColumn(report, report.lines);
  const columns = lineColumns();
  columns.splice(columns.findIndex((column) => column.header === 'Amount') + 1, 0, ...billed.columns);
  yield* writer.tableSlices(
    { columns, rows: report.lines, noneText: 'None: no usage in this month.', totals: { ...lineTotals(report.lines), ...billed.totals } },
    { filter: true, freeze: true },
  );
}

function writeModels(writer: SheetWriter, report: MonthReport): void {
  writer.title('Models', 'Usage by the model the gateway reported, with the price book model it was priced as.');
  writer.table(
    {
      columns: [
        { header: 'Model', kind: 'text', value: (model) => model.model },
        { header: 'Priced as', kind: 'text', value: (model) => model.pricedModel ?? '(no price)' },
        ...tokenColumns<MonthReport['models'][number]>((model) => model.tokens),
        { header: 'Unpriced tokens', kind: 'tokens', value: (model) => model.unpricedTokens },
        { header: 'Requests', kind: 'integer', value: (model) => model.requests },
        { header: 'Amount', kind: 'amount', value: (model) => model.amount },
      ],
      rows: report.models,
      noneText: 'None: no usage in this month.',
      totals: {
        Model: 'Total',
        ...tokenTotals(report.models.map((model) => model.tokens)),
        'Unpriced tokens': report.models.reduce((sum, model) => sum + model.unpricedTokens, 0),
        Requests: report.requests,
        Amount: sumAmounts(report.models),
      },
    },
    { filter: true, freeze: true },
  );
}

function writeTiers(writer: SheetWriter, report: MonthReport): void {
  writer.title('Tiers', 'Usage by gateway tier (the app role the user called with).');
  writer.table(
    {
      columns: [
        { header: 'Tier', kind: 'text', value: (tier) => tier.tier },
        ...tokenColumns<MonthReport['tiers'][number]>((tier) => tier.tokens),
        { header: 'Requests', kind: 'integer', value: (tier) => tier.requests },
        { header: 'Amount', kind: 'amount', value: (tier) => tier.amount },
      ],
      rows: report.tiers,
      noneText: 'None: no usage in this month.',
      totals: { Tier: 'Total', ...tokenTotals(report.tiers.map((tier) => tier.tokens)), Requests: report.requests, Amount: sumAmounts(report.tiers) },
    },
    { filter: true, freeze: true },
  );
}

function writeUnallocated(writer: SheetWriter, report: MonthReport): void {
  writer.title(
    'Unallocated usage',
    `Usage no team can be charged for, kept in the "${UNALLOCATED_TEAM}" team instead of being dropped: rows without a user id, users the directory does not know, and users who have left.`,
  );
  writer.table(
    {
      columns: [
        { header: 'Allocation', kind: 'text', value: (line) => line.allocation },
        { header: 'Reason', kind: 'text', value: (line) => ALLOCATION_REASONS[line.allocation] },
        { header: 'User id (oid)', kind: 'text', value: (line) => line.userId || '(none)' },
        { header: 'User name', kind: 'text', value: (line) => line.userName },
        { header: 'Model', kind: 'text', value: (line) => line.model },
        { header: 'Tier', kind: 'text', value: (line) => line.tier },
        ...tokenColumns<ReportLine>((line) => line.tokens),
        { header: 'Requests', kind: 'integer', value: (line) => line.requests },
        { header: 'Amount', kind: 'amount', value: (line) => line.amount },
      ],
      rows: report.unallocated,
      noneText: 'None: all usage this month was charged to a team.',
      totals:
        report.unallocated.length === 0
          ? undefined
          : {
              Allocation: 'Total',
              ...tokenTotals(report.unallocated.map((line) => line.tokens)),
              Requests: report.unallocated.reduce((sum, line) => sum + line.requests, 0),
              Amount: sumAmounts(report.unallocated),
            },
    },
    { filter: true, freeze: true },
  );
}

function writeUnpriced(writer: SheetWriter, report: MonthReport): void {
  writer.title(
    'Unpriced usage',
    'Tokens of models the price book had no price for on the day they were used. They are counted but not charged; add a price to the price book to charge them.',
  );
  writer.table(
    {
      columns: [
        { header: 'Team', kind: 'text', value: (line) => line.teamId },
        { header: 'User id (oid)', kind: 'text', value: (line) => line.userId || '(none)' },
        { header: 'User name', kind: 'text', value: (line) => line.userName },
        { header: 'Model', kind: 'text', value: (line) => line.model },
        { header: 'Tier', kind: 'text', value: (line) => line.tier },
        ...tokenColumns<ReportLine>((line) => line.unpricedTokens, 'Unpriced '),
        { header: 'Requests', kind: 'integer', value: (line) => line.requests },
        { header: 'Amount charged', kind: 'amount', value: (line) => line.amount },
      ],
      rows: report.unpriced,
      noneText: 'None: every token this month had a price.',
      totals:
        report.unpriced.length === 0
          ? undefined
          : {
              Team: 'Total',
              ...tokenTotals(report.unpriced.map((line) => line.unpricedTokens), 'Unpriced '),
              Requests: report.unpriced.reduce((sum, line) => sum + line.requests, 0),
              'Amount charged': sumAmounts(report.unpriced),
            },
    },
    { filter: true, freeze: true },
  );
}

function writePrices(writer: SheetWriter, report: MonthReport): void {
  writer.title('Prices used', `Price book ${report.priceBookVersion}: the entries this month's usage was priced with, per million tokens, exactly as in the price book.`);
  writer.table(
    {
      columns: [
        { header: 'Entry id', kind: 'text', value: (price) => price.entryId },
        { header: 'Model', kind: 'text', value: (price) => price.model },
        { header: 'Effective from', kind: 'text', value: (price) => price.effectiveFrom },
        { header: 'Currency', kind: 'text', value: (price) => price.currency },
        ...TOKEN_KINDS.map((kind) => ({
          header: `${TOKEN_KIND_LABELS[kind]} per million`,
          kind: 'price' as const,
          value: (price: MonthReport['prices'][number]) => price.perMillion[kind],
        })),
      ],
      rows: report.prices,
      noneText: 'None: no usage was priced this month.',
      currencyOf: (price) => price.currency,
    },
    { filter: true, freeze: true },
  );
}

function writeRun(writer: SheetWriter, report: MonthReport): void {
  writer.title('Run', 'How this workbook was produced: the period, the inputs and the checks, for audit.');
  writer.figure('Workbook', report.scope ? `Team ${report.scope.teamName} (${report.scope.teamId}): only this team's usage` : 'Finance: every team');
  writer.figure('Month', report.month);
  writer.figure('Time zone', report.timeZone);
  writer.figure('Window start (inclusive)', report.window.start.toISOString());
  writer.figure('Window end (exclusive)', report.window.end.toISOString());
  writer.figure('Source window', `${report.window.start.toISOString()} to ${report.window.end.toISOString()} (start inclusive, end exclusive)`);
  writer.figure('Generated at', report.generatedAt.toISOString());
  writer.figure('Revision', report.revision, 'integer');
  if (report.changes) writer.figure('Replaces revision', report.changes.previousRevision, 'integer');
  writer.figure('Currency', report.currency);
  writer.figure('Grand total', report.grandTotal, 'amount');
  writer.figure('Exact total (before rounding)', report.exactTotal);
  writer.figure('Price book version', report.priceBookVersion);
  writer.figure('Price book file', withoutFolders(report.priceBookSource));
  writer.figure('Usage source', report.sourceDescription);
  writer.gap();

  if (report.controls) writeControls(writer, report);

  writer.subheading('Cross-check');
  const reported = report.crossCheck.reportedTotalTokens;
  writer.figure('Gateway "Total Tokens"', reported ?? 'not read', reported === null ? 'text' : 'tokens');
  writer.figure('Tokens counted by kind', report.crossCheck.countedTokens, 'tokens');
  writer.figure('Difference (gateway \u2212 counted)', reported === null ? 'not available' : reported - report.crossCheck.countedTokens, reported === null ? 'text' : 'tokens');
  writer.gap();

  writer.subheading('Rejected source rows');
  writer.figure('Rejected rows', report.rejects.count, 'integer');
  const reasons = Object.entries(report.rejects.byReason).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  writer.table(
    {
      columns: [
        { header: 'Reason', kind: 'text', value: ([reason]) => reason },
        { header: 'Rows', kind: 'integer', value: ([, count]) => count },
      ],
      rows: reasons,
      noneText: 'None: every source row was used.',
    },
    { filter: false, freeze: false },
  );
  if (report.rejects.samples.length > 0) {
    writer.gap();
    writer.subheading(`Examples (first ${report.rejects.samples.length}; every one is in the rejects CSV beside this workbook)`);
    writer.table(
      {
        columns: [
          { header: 'Where', kind: 'text', value: (sample) => withoutFolders(sample.location) },
          { header: 'Reason', kind: 'text', value: (sample) => sample.reason },
          { header: 'Value as read', kind: 'text', value: (sample) => sample.raw ?? '' },
        ],
        rows: report.rejects.samples,
      },
      { filter: false, freeze: false },
    );
  }
}

/** What the close checked before anything was mailed, what each check found, and any release of a hold. */
function writeControls(writer: SheetWriter, report: MonthReport): void {
  writer.subheading('Controls (checked before anything was mailed)');
  if (report.release) {
    writer.figure('Hold released by', report.release.by);
    writer.figure('Released at', report.release.at.toISOString());
    writer.figure('Reason given', report.release.reason);
  }
  writer.table(
    {
      columns: [
        { header: 'Check', kind: 'text', value: (control) => control.id },
        { header: 'Result', kind: 'text', value: (control) => CONTROL_RESULT_WORDS[control.outcome] },
        { header: 'Finding', kind: 'text', value: (control) => [control.message, ...(control.details ?? [])].join('; ') },
      ],
      rows: report.controls ?? [],
      noneText: 'None recorded.',
    },
    { filter: false, freeze: false },
  );
  writer.gap();
}

/** Each result word says what it meant for this close, for a reader who has not seen the product's docs. */
const CONTROL_RESULT_WORDS = {
  pass: 'passed',
  warn: 'warning: closed and mailed, look at the finding',
  hold: 'held: not mailed until a person released it',
  refuse: 'refused: nothing stored or mailed',
} as const;

/**
 * A file's name without the folders it sits in: a workbook travels outside the organization's servers, and
 * where a server keeps its files is nobody's business there (and no help to a reader).
 */
export function withoutFolders(location: string): string {
  return location.replace(/^.*[\\/]/, '');
}

/**
 * The zip container stamps every entry with the time it was written, which would make two renders of the
 * same report differ. Rewrites each entry's DOS time and date (in the local headers and the central
 * directory) to the report's own time. The timestamps are outside the CRC, so the archive stays valid.
 */
export function stampZipEntries(zip: Buffer, at: Date): Buffer {
  const year = Math.min(Math.max(at.getUTCFullYear(), 1980), 2107);
  const dosTime = (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2);
  const dosDate = ((year - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate();

  const endOfDirectory = findEndOfCentralDirectory(zip);
  const entries = zip.readUInt16LE(endOfDirectory + 10);
  let cursor = zip.readUInt32LE(endOfDirectory + 16);
  for (let index = 0; index < entries; index += 1) {
    if (zip.readUInt32LE(cursor) !== 0x02014b50) throw new AppError('INTERNAL', 'The workbook archive has an unexpected layout.');
    zip.writeUInt16LE(dosTime, cursor + 12);
    zip.writeUInt16LE(dosDate, cursor + 14);
    const localHeader = zip.readUInt32LE(cursor + 42);
    if (zip.readUInt32LE(localHeader) !== 0x04034b50) throw new AppError('INTERNAL', 'The workbook archive has an unexpected layout.');
    zip.writeUInt16LE(dosTime, localHeader + 10);
    zip.writeUInt16LE(dosDate, localHeader + 12);
    cursor += 46 + zip.readUInt16LE(cursor + 28) + zip.readUInt16LE(cursor + 30) + zip.readUInt16LE(cursor + 32);
  }
  return zip;
}

function findEndOfCentralDirectory(zip: Buffer): number {
  const earliest = Math.max(0, zip.length - 22 - 0xffff);
  for (let offset = zip.length - 22; offset >= earliest; offset -= 1) {
    if (zip.readUInt32LE(offset) === 0x06054b50) return offset;
  }
  throw new AppError('INTERNAL', 'The workbook archive has no central directory.');
}
