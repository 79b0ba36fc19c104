import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { parsePriceBook } from '../../shared/domain/price-book.js';
import { buildMonthReport } from '../../shared/domain/report.js';
import { buildMonthlyLines } from '../../shared/domain/rollup.js';
import { composeFinanceMail } from '../../shared/adapters/reports/report-mails.js';
import { testDirectory, tokens, usageRow, octoberReportContext } from '../support/domain-fixtures.js';

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'alpha' },
    { userId: 'u2', teamId: 'beta' },
  ],
  [
    { id: 'alpha', name: 'Alpha', leads: [] },
    { id: 'beta', name: 'Beta', leads: [] },
  ],
);

/** One model priced per million input tokens in `currency`; alpha uses 1,001 tokens, beta 2,333,333. */
function month(currency: string, inputPrice: string) {
  const priceBook = parsePriceBook(
    { currency, models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: { input: inputPrice, output: '0', cacheRead: '0', cacheWrite5m: '0', cacheWrite1h: '0' } }] }] },
    'book.json',
  );
  const rows = [
    usageRow({ day: '2026-10-03', userId: 'u1', model: 'claude-x', tokens: tokens({ input: 1_001 }) }),
    usageRow({ day: '2026-10-04', userId: 'u2', model: 'claude-x', tokens: tokens({ input: 2_333_333 }) }),
  ];
  const lines = buildMonthlyLines('2026-10', rows, directory, priceBook);
  return buildMonthReport(lines, octoberReportContext(priceBook, directory.teams));
}

async function summaryAmounts(buffer: Buffer) {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(buffer as unknown as ArrayBuffer);
  const summary = workbook.getWorksheet('Summary')!;
  const found = new Map<string, { value: unknown; numFmt: string }>();
  summary.eachRow((row) => {
    const label = String(row.getCell(1).value);
    const amountCell = row.getCell(2).value === null ? undefined : row.getCell(2);
    if (label === 'Grand total' && amountCell) found.set(label, { value: amountCell.value, numFmt: amountCell.numFmt });
    for (let column = 1; column <= row.cellCount; column += 1) {
      const cell = row.getCell(column);
      if (['alpha', 'beta', 'Total'].includes(label) && typeof cell.value === 'number' && cell.numFmt?.includes('"')) found.set(label, { value: cell.value, numFmt: cell.numFmt });
    }
  });
  return found;
}

const attachment = { filename: 'chargeback-2026-10.xlsx', contentType: 'application/octet-stream', content: Buffer.from('') };

describe('amounts in currencies with other minor units, from the lines to the workbook and the mail', () => {
  it('rounds a JPY month to whole yen and shows no decimals', async () => {
    const report = month('JPY', '450');
    // 0.45045 and 1,049.99985 yen: the total 1,050.4503 rounds to 1,050, shared out by largest remainder.
    expect(report.grandTotal).toBe(1_050n);
    expect(report.teams.map((team) => [team.teamId, team.amount])).toEqual([
      ['alpha', 0n],
      ['beta', 1_050n],
    ]);
    const amounts = await summaryAmounts(await new ExcelReportRenderer().financeWorkbook(report));
    expect(amounts.get('Grand total')).toEqual({ value: 1050, numFmt: '#,##0 "JPY"' });
    expect(amounts.get('beta')).toEqual({ value: 1050, numFmt: '#,##0 "JPY"' });
    const mail = composeFinanceMail(report, { from: 'a@contoso.example', to: ['f@contoso.example'], attachment, revised: false });
    expect(mail.subject).toBe('LLM gateway chargeback October 2026: JPY 1,050');
    expect(mail.text).toContain('JPY 0\n');
  });

  it('rounds a BHD month to the fils (three decimals) and shows three decimals', async () => {
    const report = month('BHD', '1.234');
    // 0.001235234 and 2.879332922 dinars: the total 2.880568156 rounds to 2.881.
    expect(report.grandTotal).toBe(2_881n);
    expect(report.teams.map((team) => [team.teamId, team.amount])).toEqual([
      ['alpha', 1n],
      ['beta', 2_880n],
    ]);
    const amounts = await summaryAmounts(await new ExcelReportRenderer().financeWorkbook(report));
    expect(amounts.get('Grand total')).toEqual({ value: 2.881, numFmt: '#,##0.000 "BHD"' });
    expect(amounts.get('alpha')).toEqual({ value: 0.001, numFmt: '#,##0.000 "BHD"' });
    const mail = composeFinanceMail(report, { from: 'a@contoso.example', to: ['f@contoso.example'], attachment, revised: false });
    expect(mail.subject).toBe('LLM gateway chargeback October 2026: BHD 2.881');
    expect(mail.text).toContain('BHD 2.880');
  });
});
