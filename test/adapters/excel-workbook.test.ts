import ExcelJS from 'exceljs';
import type { Row, Worksheet } from 'exceljs';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExcelReportRenderer, FINANCE_WORKBOOK_SHEETS, TEAM_WORKBOOK_SHEETS, currencyNumberFormat, pageHeaderFooter } from '../../shared/adapters/reports/excel-workbook.js';
import { AppError } from '../../shared/domain/errors.js';
import { money } from '../../shared/domain/money.js';
import { buildMonthReport, buildTeamReport, previousMonthFigures, type MonthReport, type ReportContext } from '../../shared/domain/report.js';
import { buildMonthlyLines } from '../../shared/domain/rollup.js';
import { testDirectory, testPriceBook, tokens, usageRow, octoberReportContext } from '../support/domain-fixtures.js';
import { TOKEN_KINDS, totalTokens } from '../../shared/domain/tokens.js';
import { sampleMonthReport } from '../support/sample-report.js';

const renderer = new ExcelReportRenderer();

async function render(report: MonthReport): Promise<ExcelJS.Workbook> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load((await renderer.financeWorkbook(report)) as unknown as ArrayBuffer);
  return workbook;
}

function sheet(workbook: ExcelJS.Workbook, name: string): Worksheet {
  const found = workbook.getWorksheet(name);
  if (!found) throw new Error(`no sheet ${name}`);
  return found;
}

/** The table under the header row whose first cell is `firstHeader`: headers, data rows and the Total row. */
function table(worksheet: Worksheet, firstHeader: string) {
  let headerRow: Row | undefined;
  worksheet.eachRow((row) => {
    if (!headerRow && row.getCell(1).value === firstHeader) headerRow = row;
  });
  if (!headerRow) throw new Error(`no table starting with ${firstHeader} in ${worksheet.name}`);
  const headers = (headerRow.values as unknown[]).slice(1).map(String);
  const column = (header: string) => {
    const index = headers.indexOf(header);
    if (index < 0) throw new Error(`no column ${header} in ${worksheet.name}`);
    return index + 1;
  };
  const rows: Row[] = [];
  let total: Row | undefined;
  for (let number = headerRow.number + 1; number <= worksheet.rowCount; number += 1) {
    const row = worksheet.getRow(number);
    if (row.getCell(1).value === null || row.getCell(1).value === undefined) break;
    if (row.getCell(1).value === 'Total') {
      total = row;
      break;
    }
    rows.push(row);
  }
  const cell = (row: Row, header: string) => row.getCell(column(header));
  const number = (row: Row, header: string) => cell(row, header).value as number;
  return { headerRow, headers, rows, total, cell, number, column };
}

const cents = (value: number) => Math.round(value * 100);

afterEach(() => {
  vi.useRealTimers();
});

describe('ExcelReportRenderer.financeWorkbook', () => {
  it('writes every sheet finance expects, in order', async () => {
    const workbook = await render(sampleMonthReport());
    expect(workbook.worksheets.map((worksheet) => worksheet.name)).toEqual([
      'Summary', 'Cost centers', 'Users', 'Lines', 'Models', 'Tiers', 'Daily', 'Unallocated', 'Unpriced', 'Prices', 'Run',
    ]);
    expect(FINANCE_WORKBOOK_SHEETS).toEqual(workbook.worksheets.map((worksheet) => worksheet.name));
    expect(workbook.creator).toBe('LLM gateway chargeback');
    expect(workbook.created.toISOString()).toBe('2026-11-03T06:15:00.000Z');
  });

  it('shows team amounts on the Summary that add up, to the cent, to a Total equal to the grand total', async () => {
    const report = sampleMonthReport();
    const summary = table(sheet(await render(report), 'Summary'), 'Team');
    expect(summary.rows.map((row) => summary.cell(row, 'Team').value)).toEqual(report.teams.map((team) => team.teamId));
    const teamCents = summary.rows.map((row) => cents(summary.number(row, 'Amount')));
    expect(teamCents).toEqual(report.teams.map((team) => Number(team.amount)));
    expect(summary.total).toBeDefined();
    const totalCents = cents(summary.number(summary.total!, 'Amount'));
    expect(teamCents.reduce((sum, value) => sum + value, 0)).toBe(totalCents);
    expect(summary.number(summary.total!, 'Amount')).toBe(Number(report.grandTotal) / 100);
    expect(summary.number(summary.total!, 'Amount')).toBe(2574.32);
    expect(summary.total!.getCell(1).value).toBe('Total');
  });

  it('shows the headline figures, including unallocated and unpriced, above the team table', async () => {
    const report = sampleMonthReport();
    const worksheet = sheet(await render(report), 'Summary');
    const figures = new Map<string, unknown>();
    worksheet.eachRow((row) => {
      if (typeof row.getCell(1).value === 'string') figures.set(row.getCell(1).value as string, row.getCell(2).value);
    });
    expect(figures.get('Grand total')).toBe(2574.32);
    expect(figures.get('Total tokens')).toBe(totalTokens(report.tokens));
    expect(figures.get('Requests')).toBe(report.requests);
    expect(figures.get('Unallocated amount')).toBe(16.51);
    expect(figures.get('Unallocated tokens')).toBe(1_473_000);
    expect(figures.get('Unpriced tokens (not charged)')).toBe(62_000);
    expect(String(worksheet.getCell('A1').value)).toContain('2026-10');
    expect(String(worksheet.getCell('A1').value)).toContain('USD');
  });

  it('keeps token totals equal to the report\u2019s token counts', async () => {
    const report = sampleMonthReport();
    const workbook = await render(report);
    const summary = table(sheet(workbook, 'Summary'), 'Team');
    expect(summary.number(summary.total!, 'Total tokens')).toBe(totalTokens(report.tokens));
    expect(summary.number(summary.total!, 'Input tokens')).toBe(report.tokens.input);
    expect(summary.number(summary.total!, 'Output tokens')).toBe(report.tokens.output);
    expect(summary.rows.reduce((sum, row) => sum + summary.number(row, 'Total tokens'), 0)).toBe(totalTokens(report.tokens));

    const lines = table(sheet(workbook, 'Lines'), 'Team');
    expect(lines.rows).toHaveLength(report.lines.length);
    expect(lines.number(lines.total!, 'Input tokens')).toBe(report.tokens.input);
    expect(lines.number(lines.total!, 'Cache read tokens')).toBe(report.tokens.cacheRead);
    expect(lines.number(lines.total!, 'Cache write (1 h) tokens')).toBe(report.tokens.cacheWrite1h);
    expect(lines.number(lines.total!, 'Total tokens')).toBe(totalTokens(report.tokens));
    expect(lines.number(lines.total!, 'Amount')).toBe(2574.32);
    expect(lines.number(lines.total!, 'Unpriced tokens')).toBe(62_000);
  });

  it('has user amounts on the Users sheet that add up to each team\u2019s amount', async () => {
    const report = sampleMonthReport();
    const workbook = await render(report);
    const users = table(sheet(workbook, 'Users'), 'Team');
    expect(users.rows).toHaveLength(report.users.length);
    for (const team of report.teams) {
      const own = users.rows.filter((row) => users.cell(row, 'Team').value === team.teamId);
      expect(own.length).toBeGreaterThan(0);
      expect(own.reduce((sum, row) => sum + cents(users.number(row, 'Amount')), 0)).toBe(Number(team.amount));
    }
    const alice = users.rows.find((row) => users.cell(row, 'Name').value === 'Alice Ng')!;
    expect(users.cell(alice, 'UPN').value).toBe('alice.ng@contoso.example');
    expect(users.cell(alice, 'User id (oid)').value).toBe('0b6c1d2e-1111-4a4a-9b9b-000000000001');
    expect(users.cell(alice, 'Allocation').value).toBe('team');
  });

  it('formats every amount cell with the currency and every token cell as an integer with separators', async () => {
    const workbook = await render(sampleMonthReport());
    for (const [name, first] of [['Summary', 'Team'], ['Users', 'Team'], ['Lines', 'Team'], ['Models', 'Model'], ['Tiers', 'Tier'], ['Unallocated', 'Allocation']] as const) {
      const found = table(sheet(workbook, name), first);
      for (const row of [...found.rows, found.total!]) {
        expect(found.cell(row, 'Amount').numFmt, `${name} row ${row.number}`).toBe('"$"#,##0.00');
        expect(found.cell(row, 'Total tokens').numFmt).toBe('#,##0');
      }
    }
  });

  it('spells out a currency other than dollars in the number format', async () => {
    expect(currencyNumberFormat('EUR')).toBe('#,##0.00 "EUR"');
    expect(currencyNumberFormat('USD')).toBe('"$"#,##0.00');
    expect(currencyNumberFormat('E"U;R')).toBe('#,##0.00 "EUR"');
    const report = sampleMonthReport({ currency: 'EUR' });
    const summary = table(sheet(await render(report), 'Summary'), 'Team');
    expect(summary.cell(summary.total!, 'Amount').numFmt).toBe('#,##0.00 "EUR"');
  });

  it('freezes the header row and puts a filter on it, on every table sheet', async () => {
    const workbook = await render(sampleMonthReport());
    // The Summary's table sits under a dozen headline figures: freezing down to it would pin half the screen.
    expect((sheet(workbook, 'Summary').views ?? []).filter((view) => view.state === 'frozen')).toEqual([]);
    for (const [name, first] of [['Users', 'Team'], ['Lines', 'Team'], ['Models', 'Model'], ['Tiers', 'Tier'], ['Unallocated', 'Allocation'], ['Unpriced', 'Team'], ['Prices', 'Entry id']] as const) {
      const worksheet = sheet(workbook, name);
      const found = table(worksheet, first);
      expect(worksheet.views[0], name).toMatchObject({ state: 'frozen', ySplit: found.headerRow.number });
      expect(worksheet.getCell(found.headerRow.number, 1).font?.bold, name).toBe(true);
      const filter = String(worksheet.autoFilter ?? '');
      expect(filter, name).toMatch(new RegExp(`^A${found.headerRow.number}:[A-Z]+\\d+$`));
      // The filter stops above the Total row, so sorting cannot move the total into the data.
      if (found.total) expect(Number(filter.split(':')[1]!.replace(/[A-Z]+/, ''))).toBe(found.total.number - 1);
    }
  });

  it('prints every sheet landscape, one page wide, header row repeated, period and revision on top, page numbers below', async () => {
    const workbook = await render(sampleMonthReport({ revision: 3 }));
    for (const worksheet of workbook.worksheets) {
      const setup = worksheet.pageSetup;
      expect(setup.orientation, worksheet.name).toBe('landscape');
      expect(setup.fitToPage, worksheet.name).toBe(true);
      expect(setup.fitToWidth, worksheet.name).toBe(1);
      expect(worksheet.headerFooter.oddHeader, worksheet.name).toContain('Period 2026-10');
      expect(worksheet.headerFooter.oddHeader, worksheet.name).toContain('revision 3');
      expect(worksheet.headerFooter.oddFooter, worksheet.name).toMatch(/Page &P of &N/);
    }
    // The Summary is one page; the long sheets run down as many pages as they need, their header on each.
    expect(sheet(workbook, 'Summary').pageSetup.fitToHeight).toBe(1);
    for (const [name, first] of [['Users', 'Team'], ['Lines', 'Team'], ['Models', 'Model'], ['Unallocated', 'Allocation']] as const) {
      const worksheet = sheet(workbook, name);
      expect(worksheet.pageSetup.fitToHeight, name).toBe(0);
      const header = table(worksheet, first).headerRow.number;
      expect(worksheet.pageSetup.printTitlesRow, name).toBe(`${header}:${header}`);
    }
  });

  it('writes an ampersand in a page header as a literal, not as a header code', async () => {
    expect(pageHeaderFooter('LLM gateway usage 2026-10: R&D', { month: '2026-10', timeZone: 'UTC', revision: 2 }).oddHeader).toBe(
      '&LLLM gateway usage 2026-10: R&&D&RPeriod 2026-10 (UTC), revision 2',
    );
  });

  it('sizes columns to their content, within limits', async () => {
    const worksheet = sheet(await render(sampleMonthReport()), 'Run');
    const sourceWidth = worksheet.getColumn(2).width!;
    expect(sourceWidth).toBeGreaterThan(40);
    expect(sourceWidth).toBeLessThanOrEqual(60);
    const users = sheet(await render(sampleMonthReport()), 'Users');
    const oidColumn = table(users, 'Team').column('User id (oid)');
    expect(users.getColumn(oidColumn).width).toBeGreaterThanOrEqual(36);
  });

  it('lists unallocated lines with their reasons and unpriced lines, saying what each sheet is', async () => {
    const report = sampleMonthReport();
    const workbook = await render(report);
    const unallocatedSheet = sheet(workbook, 'Unallocated');
    expect(String(unallocatedSheet.getCell('A2').value)).toMatch(/no team can be charged/i);
    const unallocated = table(unallocatedSheet, 'Allocation');
    expect(unallocated.rows.map((row) => unallocated.cell(row, 'Allocation').value)).toEqual(['no-user-id', 'unknown-user', 'former-user']);
    expect(unallocated.rows.every((row) => String(unallocated.cell(row, 'Reason').value).length > 10)).toBe(true);
    expect(cents(unallocated.number(unallocated.total!, 'Amount'))).toBe(1_651);

    const unpricedSheet = sheet(workbook, 'Unpriced');
    expect(String(unpricedSheet.getCell('A2').value)).toMatch(/no price/i);
    const unpriced = table(unpricedSheet, 'Team');
    expect(unpriced.rows.map((row) => unpriced.cell(row, 'Model').value)).toEqual(['claude-preview-x']);
    expect(unpriced.number(unpriced.rows[0]!, 'Unpriced Total tokens')).toBe(62_000);
  });

  it('says "none" on the Unallocated and Unpriced sheets when there is nothing to show', async () => {
    const report = sampleMonthReport({ unallocated: [], unpriced: [] });
    const workbook = await render(report);
    expect(String(table(sheet(workbook, 'Unallocated'), 'Allocation').rows[0]!.getCell(1).value)).toMatch(/^None/);
    expect(table(sheet(workbook, 'Unallocated'), 'Allocation').rows).toHaveLength(1);
    expect(String(table(sheet(workbook, 'Unpriced'), 'Team').rows[0]!.getCell(1).value)).toMatch(/^None/);
  });

  it('lists the prices used exactly, per million tokens, in their currency', async () => {
    const prices = table(sheet(await render(sampleMonthReport()), 'Prices'), 'Entry id');
    expect(prices.rows.map((row) => prices.cell(row, 'Entry id').value)).toEqual(['sonnet-2026-01-01', 'sonnet-2026-10-15']);
    const later = prices.rows[1]!;
    expect(prices.cell(later, 'Effective from').value).toBe('2026-10-15');
    expect(prices.cell(later, 'Currency').value).toBe('USD');
    expect(prices.number(later, 'Cache read per million')).toBe(0.25);
    expect(prices.number(later, 'Cache write (5 min) per million')).toBe(3.125);
    expect(prices.cell(later, 'Cache write (5 min) per million').numFmt).toBe('"$"#,##0.00#');
    expect(prices.headers.filter((header) => header.endsWith(' per million'))).toHaveLength(TOKEN_KINDS.length);
    expect(prices.number(prices.rows[0]!, 'Input per million')).toBe(3);
    expect(prices.number(prices.rows[0]!, 'Cache write (1 h) per million')).toBe(6);
  });

  it('writes a price with more digits than a double holds as text, not rounded', async () => {
    const report = sampleMonthReport();
    const [first, second] = report.prices;
    const precise = { ...second!, perMillion: { ...second!.perMillion, input: '2.12345678901234567' } };
    const prices = table(sheet(await render({ ...report, prices: [first!, precise] }), 'Prices'), 'Entry id');
    expect(prices.cell(prices.rows[1]!, 'Input per million').value).toBe('2.12345678901234567');
  });

  it('records the run: period, sources, rejects and the token cross-check', async () => {
    const report = sampleMonthReport();
    const worksheet = sheet(await render(report), 'Run');
    const figures = new Map<string, unknown>();
    worksheet.eachRow((row) => {
      if (typeof row.getCell(1).value === 'string') figures.set(row.getCell(1).value as string, row.getCell(2).value);
    });
    expect(figures.get('Month')).toBe('2026-10');
    expect(figures.get('Time zone')).toBe('Europe/Berlin');
    expect(figures.get('Window start (inclusive)')).toBe('2026-09-30T22:00:00.000Z');
    expect(figures.get('Window end (exclusive)')).toBe('2026-10-31T23:00:00.000Z');
    expect(figures.get('Generated at')).toBe('2026-11-03T06:15:00.000Z');
    expect(figures.get('Revision')).toBe(1);
    expect(figures.get('Price book version')).toBe('pb-2026-10-15');
    // The file's name, not where the server keeps it.
    expect(figures.get('Price book file')).toBe('price-book.json');
    expect(figures.get('Usage source')).toBe(report.sourceDescription);
    expect(figures.get('Exact total (before rounding)')).toBe('2574.318716');
    expect(figures.get('Rejected rows')).toBe(3);
    expect(figures.get('valueSum is negative')).toBe(2);
    expect(figures.get('timestamp is not a date')).toBe(1);
    expect(figures.get('Gateway "Total Tokens"')).toBe(report.crossCheck.countedTokens + 1_234);
    expect(figures.get('Tokens counted by kind')).toBe(report.crossCheck.countedTokens);
    expect(figures.get('Difference (gateway \u2212 counted)')).toBe(1_234);
  });

  it('says so when the gateway total was not read', async () => {
    const report = sampleMonthReport();
    const worksheet = sheet(await render({ ...report, crossCheck: { reportedTotalTokens: null, countedTokens: report.crossCheck.countedTokens } }), 'Run');
    const figures = new Map<string, unknown>();
    worksheet.eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Gateway "Total Tokens"')).toBe('not read');
    expect(figures.get('Difference (gateway \u2212 counted)')).toBe('not available');
  });

  it('gives byte-identical workbooks for the same report, whatever the clock says', async () => {
    const report = sampleMonthReport();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const first = await renderer.financeWorkbook(report);
    vi.setSystemTime(new Date('2031-06-15T13:37:42Z'));
    const second = await renderer.financeWorkbook(report);
    vi.useRealTimers();
    expect(first.length).toBeGreaterThan(5_000);
    expect(first.equals(second)).toBe(true);
    const changed = await renderer.financeWorkbook({ ...report, generatedAt: new Date('2026-11-04T06:15:00.000Z') });
    expect(changed.equals(first)).toBe(false);
  });

  it('refuses a report whose lists do not add up to its totals', async () => {
    const report = sampleMonthReport();
    const [first, ...rest] = report.teams;
    const tampered = { ...report, teams: [{ ...first!, amount: first!.amount + 1n }, ...rest] };
    await expect(renderer.financeWorkbook(tampered)).rejects.toSatisfy(
      (error: unknown) => error instanceof AppError && error.code === 'INTERNAL' && error.details.some((detail) => detail.startsWith('teams amounts')),
    );
  });

  it('renders an empty month without failing', async () => {
    const report = sampleMonthReport();
    const empty: MonthReport = {
      ...report,
      grandTotal: 0n,
      exactTotal: '0',
      tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 },
      requests: 0,
      teams: [],
      users: [],
      models: [],
      tiers: [],
      lines: [],
      unallocated: [],
      unpriced: [],
      prices: [],
      rejects: { count: 0, samples: [], byReason: {} },
      crossCheck: { reportedTotalTokens: 0, countedTokens: 0 },
    };
    const summary = table(sheet(await render(empty), 'Summary'), 'Team');
    expect(String(summary.rows[0]!.getCell(1).value)).toMatch(/^None/);
    expect(summary.number(summary.total!, 'Amount')).toBe(0);
  });
});

describe('a finance workbook of many lines', () => {
  it('writes every line and user of tables longer than one slice, in order, under the header and above the Total', async () => {
    // 2,600 users in two teams, one line each: the Lines and Users tables are written a slice of rows at a time.
    const users = Array.from({ length: 2_600 }, (_, index) => ({ userId: `u${String(index).padStart(5, '0')}`, teamId: index % 2 === 0 ? 'alpha' : 'beta' }));
    const directory = testDirectory(users, [
      { id: 'alpha', name: 'Alpha', leads: [] },
      { id: 'beta', name: 'Beta', leads: [] },
    ]);
    const priceBook = testPriceBook();
    const rows = users.map((user, index) => usageRow({ day: '2026-10-02', userId: user.userId, tokens: tokens({ input: 1_000 + index }) }));
    const report = buildMonthReport(buildMonthlyLines('2026-10', rows, directory, priceBook), octoberReportContext(priceBook, directory.teams));

    const workbook = await render(report);
    const lines = table(sheet(workbook, 'Lines'), 'Team');
    expect(lines.rows.map((row) => lines.cell(row, 'User id (oid)').value)).toEqual(report.lines.map((line) => line.userId));
    expect(lines.rows.map((row) => lines.number(row, 'Input tokens'))).toEqual(report.lines.map((line) => line.tokens.input));
    expect(lines.number(lines.total!, 'Input tokens')).toBe(report.tokens.input);
    const userTable = table(sheet(workbook, 'Users'), 'Team');
    expect(userTable.rows).toHaveLength(2_600);
    expect(userTable.rows.map((row) => userTable.cell(row, 'User id (oid)').value)).toEqual(report.users.map((user) => user.userId));
  });
});

/** A month built the way the close builds it, with days, last month and teams whose rounding can differ by a cent. */
function builtMonth(options: { budgets?: ReportContext['budgets'] } = {}) {
  const directory = testDirectory(
    [
      { userId: 'u1', teamId: 'alpha' },
      { userId: 'u2', teamId: 'alpha' },
      { userId: 'u3', teamId: 'beta' },
      { userId: 'u4', teamId: 'gamma' },
    ],
    [
      { id: 'alpha', name: 'Alpha', leads: ['a@contoso.example'], costCenter: 'CC-1001' },
      { id: 'beta', name: 'Beta', leads: ['b@contoso.example'], costCenter: 'CC-1001' },
      { id: 'gamma', name: 'Gamma', leads: [] },
    ],
  );
  const priceBook = testPriceBook();
  // Odd token counts leave a third of a cent here and there, so largest-remainder rounding has work to do.
  const rows = ['u1', 'u2', 'u3', 'u4', ''].flatMap((userId, index) =>
    ['2026-10-01', '2026-10-09', '2026-10-16', '2026-10-31'].map((day, dayIndex) =>
      usageRow({ day, userId, tokens: tokens({ input: 333_333 + index * 1_001 + dayIndex * 7, output: 11_111 * (index + 1), cacheRead: 1_000_003 }) }),
    ),
  );
  const lines = buildMonthlyLines('2026-10', rows, directory, priceBook);
  const september = buildMonthlyLines('2026-09', [usageRow({ day: '2026-09-05', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })], directory, priceBook);
  const context = octoberReportContext(priceBook, directory.teams, {
    previousMonth: previousMonthFigures('2026-09', september, directory.teams),
    ...(options.budgets ? { budgets: options.budgets } : {}),
  });
  const report = buildMonthReport(lines, context);
  return { lines, report, context };
}

async function load(buffer: Buffer): Promise<ExcelJS.Workbook> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(buffer as unknown as ArrayBuffer);
  return workbook;
}

/** A table found by its subheading (the row above its header) rather than its first header. */
function tableUnder(worksheet: Worksheet, subheading: string) {
  let heading = 0;
  worksheet.eachRow((row) => {
    if (!heading && String(row.getCell(1).value).startsWith(subheading)) heading = row.number;
  });
  if (!heading) throw new Error(`no "${subheading}" in ${worksheet.name}`);
  const headers = (worksheet.getRow(heading + 1).values as unknown[]).slice(1).map(String);
  const rows: unknown[][] = [];
  for (let number = heading + 2; number <= worksheet.rowCount; number += 1) {
    const values = (worksheet.getRow(number).values as unknown[]).slice(1);
    if (values.length === 0 || values[0] === null || values[0] === undefined) break;
    rows.push(values);
  }
  return { headers, rows, at: (row: unknown[], header: string) => row[headers.indexOf(header)] };
}

describe('the finance workbook\u2019s daily and month-on-month figures', () => {
  it('has a Daily sheet whose amounts add up, to the cent, to the grand total', async () => {
    const { report } = builtMonth();
    const daily = table(sheet(await render(report), 'Daily'), 'Day');
    // Every day of October, the days without usage as zeros.
    expect(daily.rows.map((row) => daily.cell(row, 'Day').value)).toEqual(Array.from({ length: 31 }, (_, index) => `2026-10-${String(index + 1).padStart(2, '0')}`));
    expect(daily.number(daily.rows[1]!, 'Amount')).toBe(0);
    expect(daily.number(daily.rows[1]!, 'Total tokens')).toBe(0);
    const dayCents = daily.rows.map((row) => cents(daily.number(row, 'Amount')));
    expect(dayCents.reduce((sum, value) => sum + value, 0)).toBe(Number(report.grandTotal));
    expect(cents(daily.number(daily.total!, 'Amount'))).toBe(Number(report.grandTotal));
    expect(daily.number(daily.total!, 'Total tokens')).toBe(totalTokens(report.tokens));
    expect(daily.cell(daily.rows[0]!, 'Amount').numFmt).toBe('"$"#,##0.00');
    expect(daily.cell(daily.rows[0]!, 'Input tokens').numFmt).toBe('#,##0');
  });

  it('shows last month, the change and the change per team, every column adding up', async () => {
    const { report } = builtMonth();
    const summary = sheet(await render(report), 'Summary');
    const figures = new Map<string, unknown>();
    summary.eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Last month (2026-09)')).toBe(3);
    expect(cents(figures.get('Change from last month') as number)).toBe(Number(report.grandTotal) - 300);
    expect(summary.getColumn(2).width).toBeGreaterThanOrEqual(10);

    const change = tableUnder(summary, 'Change from last month (2026-09)');
    expect(change.headers).toEqual(['Team', 'Name', 'Last month', 'This month', 'Change', 'Change %']);
    const body = change.rows.filter((row) => row[0] !== 'Total');
    const total = change.rows.find((row) => row[0] === 'Total')!;
    const sum = (header: string) => body.reduce((acc, row) => acc + cents(change.at(row, header) as number), 0);
    expect(sum('This month')).toBe(Number(report.grandTotal));
    expect(sum('Last month')).toBe(300);
    expect(cents(change.at(total, 'This month') as number)).toBe(Number(report.grandTotal));
    const alpha = body.find((row) => row[0] === 'alpha')!;
    const alphaAmount = Number(report.teams.find((team) => team.teamId === 'alpha')!.amount);
    expect(cents(change.at(alpha, 'Change') as number)).toBe(alphaAmount - 300);
    expect(change.at(alpha, 'Change %')).toBeCloseTo((alphaAmount - 300) / 300, 10);
    expect(body.find((row) => row[0] === 'beta')![5] ?? null).toBeNull();
  });

  it('says last month is not available when the month before was never closed', async () => {
    const figures = new Map<string, unknown>();
    sheet(await render(sampleMonthReport()), 'Summary').eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(String(figures.get('Last month'))).toMatch(/not available/);
  });

  it('records source window, price book version, generated at and revision on the Run sheet', async () => {
    const { report } = builtMonth();
    const figures = new Map<string, unknown>();
    sheet(await render(report), 'Run').eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Source window')).toBe('2026-10-01T00:00:00.000Z to 2026-11-01T00:00:00.000Z (start inclusive, end exclusive)');
    expect(figures.get('Price book version')).toBe(report.priceBookVersion);
    expect(figures.get('Generated at')).toBe('2026-11-03T06:00:00.000Z');
    expect(figures.get('Revision')).toBe(1);
    expect(figures.get('Workbook')).toBe('Finance: every team');
  });
});

describe('cost centers and budgets in the workbooks', () => {
  it('shows each team\u2019s cost center and a Cost centers sheet adding up to the grand total to the cent', async () => {
    const { report } = builtMonth();
    const workbook = await render(report);
    const summary = table(sheet(workbook, 'Summary'), 'Team');
    const byTeam = new Map(summary.rows.map((row) => [String(summary.cell(row, 'Team').value), row]));
    expect(summary.cell(byTeam.get('alpha')!, 'Cost center').value).toBe('CC-1001');
    expect(summary.cell(byTeam.get('gamma')!, 'Cost center').value).toBe(null);
    // Usage without a user id sits in the unallocated team and is no user.
    expect(summary.number(byTeam.get('_unallocated')!, 'Users')).toBe(0);

    const centers = table(sheet(workbook, 'Cost centers'), 'Cost center');
    expect(centers.rows.map((row) => [centers.cell(row, 'Cost center').value, centers.cell(row, 'Teams').value])).toEqual([
      ['CC-1001', 'alpha, beta'],
      ['No cost center', 'gamma, _unallocated'],
    ]);
    const teamCents = (id: string) => cents(summary.number(byTeam.get(id)!, 'Amount'));
    expect(cents(centers.number(centers.rows[0]!, 'Amount'))).toBe(teamCents('alpha') + teamCents('beta'));
    expect(cents(centers.number(centers.rows[1]!, 'Amount'))).toBe(teamCents('gamma') + teamCents('_unallocated'));
    expect(cents(centers.number(centers.total!, 'Amount'))).toBe(Number(report.grandTotal));
    expect(centers.rows.reduce((sum, row) => sum + cents(centers.number(row, 'Amount')), 0)).toBe(Number(report.grandTotal));
  });

  it('shows budget, forecast and remaining per team with a budget, and none without', async () => {
    const { report: plain } = builtMonth();
    const alphaAmount = plain.teams.find((team) => team.teamId === 'alpha')!.amount;
    const { report, lines, context } = builtMonth({ budgets: new Map([['alpha', { amount: money('5') }]]) });
    const summary = table(sheet(await render(report), 'Summary'), 'Team');
    const alpha = summary.rows.find((row) => summary.cell(row, 'Team').value === 'alpha')!;
    const beta = summary.rows.find((row) => summary.cell(row, 'Team').value === 'beta')!;
    expect(summary.number(alpha, 'Budget')).toBe(5);
    expect(cents(summary.number(alpha, 'Forecast'))).toBe(Number(alphaAmount));
    expect(cents(summary.number(alpha, 'Remaining'))).toBe(500 - Number(alphaAmount));
    expect(summary.cell(beta, 'Budget').value).toBe(null);
    expect(summary.number(summary.total!, 'Budget')).toBe(5);

    const teamWorkbook = await load(await renderer.teamWorkbook(buildTeamReport(lines, report, 'alpha', context)));
    const figures = new Map<string, unknown>();
    sheet(teamWorkbook, 'Summary').eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Cost center')).toBe('CC-1001');
    expect(figures.get('Budget')).toBe(5);
    expect(cents(figures.get('Actual') as number)).toBe(Number(alphaAmount));
    // Alpha spent more than 5.00: the label says so, the figure is negative.
    expect(cents(figures.get('Remaining (overspent)') as number)).toBe(500 - Number(alphaAmount));
  });

  it('shows no budget columns when no team has a budget', async () => {
    const summary = table(sheet(await render(builtMonth().report), 'Summary'), 'Team');
    expect(summary.headers).not.toContain('Budget');
  });
});

describe('ExcelReportRenderer.teamWorkbook', () => {
  it('holds only the team\u2019s rows and totals exactly its amount in the finance workbook', async () => {
    const { lines, report, context } = builtMonth();
    const finance = await render(report);
    const financeTeams = table(sheet(finance, 'Summary'), 'Team');
    for (const team of report.teams.filter((candidate) => candidate.teamId !== '_unallocated')) {
      const workbook = await load(await renderer.teamWorkbook(buildTeamReport(lines, report, team.teamId, context)));
      expect(workbook.worksheets.map((worksheet) => worksheet.name)).toEqual([...TEAM_WORKBOOK_SHEETS]);
      const financeRow = financeTeams.rows.find((row) => financeTeams.cell(row, 'Team').value === team.teamId)!;
      const figures = new Map<string, unknown>();
      sheet(workbook, 'Summary').eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
      expect(cents(figures.get('Team total') as number)).toBe(cents(financeTeams.number(financeRow, 'Amount')));

      const users = table(sheet(workbook, 'Users'), 'Team');
      expect(new Set(users.rows.map((row) => users.cell(row, 'Team').value))).toEqual(new Set([team.teamId]));
      expect(cents(users.number(users.total!, 'Amount'))).toBe(Number(team.amount));
      const daily = table(sheet(workbook, 'Daily'), 'Day');
      expect(daily.rows.reduce((sum, row) => sum + cents(daily.number(row, 'Amount')), 0)).toBe(Number(team.amount));
      const models = table(sheet(workbook, 'Models'), 'Model');
      expect(cents(models.number(models.total!, 'Amount'))).toBe(Number(team.amount));

      // No other team's name or user appears anywhere in the workbook.
      const others = report.users.filter((user) => user.teamId !== team.teamId).map((user) => user.userId).filter((id) => id !== '');
      workbook.eachSheet((worksheet) =>
        worksheet.eachRow((row) =>
          row.eachCell((cell) => {
            expect(others, `${worksheet.name}!${cell.address}`).not.toContain(cell.value);
          }),
        ),
      );
    }
  });

  it('refuses a report holding another team\u2019s line', async () => {
    const { lines, report, context } = builtMonth();
    const alpha = buildTeamReport(lines, report, 'alpha', context);
    const leaked = { ...alpha, lines: [...alpha.lines, report.lines.find((line) => line.teamId === 'beta')!] };
    await expect(renderer.teamWorkbook(leaked)).rejects.toBeInstanceOf(AppError);
    await expect(renderer.teamWorkbook({ ...alpha, scope: undefined })).rejects.toBeInstanceOf(AppError);
  });
});

const libreOffice = spawnSync('which', ['libreoffice'], { encoding: 'utf8' }).stdout.trim();
/** poppler-utils, installed with LibreOffice on the build machines; the page checks need it. */
const pdfToText = spawnSync('which', ['pdftotext'], { encoding: 'utf8' }).stdout.trim();

describe.skipIf(libreOffice === '')('opening the workbooks in LibreOffice', () => {
  it('converts the finance and a team workbook to PDF, the Summary on one landscape page with its amounts', { timeout: 120_000 }, async () => {
    const { lines, report, context } = builtMonth();
    const directory = mkdtempSync(path.join(tmpdir(), 'chargeback-lo-'));
    try {
      const files = {
        'finance.xlsx': await renderer.financeWorkbook({ ...report, changes: undefined }),
        'team-alpha.xlsx': await renderer.teamWorkbook(buildTeamReport(lines, report, 'alpha', context)),
      };
      for (const [name, content] of Object.entries(files)) writeFileSync(path.join(directory, name), content);
      execFileSync(
        libreOffice,
        [`-env:UserInstallation=file://${path.join(directory, 'profile')}`, '--headless', '--convert-to', 'pdf', '--outdir', directory, ...Object.keys(files).map((name) => path.join(directory, name))],
        { stdio: 'pipe', timeout: 110_000 },
      );
      for (const name of Object.keys(files)) expect(existsSync(path.join(directory, name.replace('.xlsx', '.pdf'))), name).toBe(true);
      if (pdfToText !== '') {
        // Page 1 is the whole Summary, landscape, amounts and all; page 2 is already the next sheet.
        const page = (number: number) =>
          execFileSync(pdfToText, ['-layout', '-f', String(number), '-l', String(number), path.join(directory, 'finance.pdf'), '-'], { encoding: 'utf8' });
        const first = page(1);
        const money = (units: bigint) => (Number(units) / 100).toLocaleString('en-US', { minimumFractionDigits: 2 });
        expect(first).toContain('Grand total');
        for (const team of report.teams) {
          expect(first).toContain(team.teamId);
          expect(first).toContain(money(team.amount));
        }
        expect(first).toMatch(/Page 1 of \d+/);
        expect(page(2)).not.toContain('Grand total');
        const info = execFileSync('pdfinfo', ['-f', '1', '-l', '1', path.join(directory, 'finance.pdf')], { encoding: 'utf8' });
        const [, width, height] = /Page\s+1 size:\s+([\d.]+) x ([\d.]+)/.exec(info)!;
        expect(Number(width)).toBeGreaterThan(Number(height));
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('tables written directly', () => {
  const throughExcelJs = new ExcelReportRenderer({ tableRows: 'exceljs' });
  const direct = new ExcelReportRenderer({ tableRows: 'direct' });

  /** Names no sheet should have to escape, and some it must: XML's five, control characters, a pair of surrogates. */
  function withAwkwardNames(report: MonthReport): MonthReport {
    const awkward = (name: string, index: number) => [`${name} & <Co> "quoted" 'single'`, `${name}\u0001\u0008\u000b\u007f\ttab\r\nline`, `${name} \u{1F600} Ünïcødé`][index % 3]!;
    return {
      ...report,
      users: report.users.map((user, index) => ({ ...user, userName: awkward(user.userName, index), upn: index === 0 ? '' : user.upn })),
      lines: report.lines.map((line, index) => ({ ...line, userName: awkward(line.userName, index) })),
    };
  }

  it('gives the very bytes exceljs\u2019s own rows give, for finance and team workbooks', async () => {
    // Budgets leave empty cells in the teams without one; last month adds the change columns.
    const { report, lines, context } = builtMonth({ budgets: new Map([['alpha', { amount: money('5') }]]) });
    expect((await direct.financeWorkbook(report)).equals(await throughExcelJs.financeWorkbook(report))).toBe(true);
    for (const team of report.teams) {
      const teamReport = buildTeamReport(lines, report, team.teamId, context);
      expect((await direct.teamWorkbook(teamReport)).equals(await throughExcelJs.teamWorkbook(teamReport))).toBe(true);
    }
    const awkward = withAwkwardNames(sampleMonthReport());
    expect((await direct.financeWorkbook(awkward)).equals(await throughExcelJs.financeWorkbook(awkward))).toBe(true);
  });

  it('gives the very bytes for tables of many slices, and reads back as the report', async () => {
    const users = Array.from({ length: 600 }, (_, index) => ({ userId: `u${String(index).padStart(5, '0')}`, teamId: index % 2 === 0 ? 'alpha' : 'beta' }));
    const directory = testDirectory(users, [
      { id: 'alpha', name: 'Alpha & Co', leads: [] },
      { id: 'beta', name: 'Beta <b>', leads: [] },
    ]);
    const priceBook = testPriceBook();
    const rows = users.map((user, index) => usageRow({ day: '2026-10-02', userId: user.userId, tokens: tokens({ input: 1_000 + index }) }));
    const report = buildMonthReport(buildMonthlyLines('2026-10', rows, directory, priceBook), octoberReportContext(priceBook, directory.teams));
    const written = await direct.financeWorkbook(report);
    expect(written.equals(await throughExcelJs.financeWorkbook(report))).toBe(true);
    const lines = table(sheet(await load(written), 'Lines'), 'Team');
    expect(lines.rows.map((row) => lines.cell(row, 'User id (oid)').value)).toEqual(report.lines.map((line) => line.userId));
  });
});
