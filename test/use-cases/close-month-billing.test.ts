import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { DEFAULT_CLAUDE_PUBLISHERS, selectClaudeCharges, type BilledCharge, type ClaudeChargeRule } from '../../shared/domain/billing.js';
import { DEFAULT_BILLING_CONTROLS } from '../../shared/domain/billing-controls.js';
import { money, sumMoney } from '../../shared/domain/money.js';
import type { BilledCostRead, BilledCostSource } from '../../shared/ports/billed-cost-source.js';
import { closeMonth } from '../../shared/use-cases/close-month.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { InMemoryArtifacts, RecordingMailer, StaticDirectory, StaticUsageSource } from '../support/in-memory.js';
import { testCloseDeps } from '../support/close-deps.js';

const FOUNDRY = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/foundry';

function claude(day: string, amount: string): BilledCharge {
  return { day, amount: money(amount), currency: 'USD', resourceId: FOUNDRY, publisher: 'Anthropic', meter: 'Claude Consumption Unit', service: 'Claude', chargeCategory: 'Usage', consumedQuantity: '1', consumedUnit: '1 CCU' };
}

function storage(day: string): BilledCharge {
  return { ...claude(day, '0.48'), resourceId: '/x/storage', publisher: 'Microsoft', service: 'Storage Accounts', meter: 'Hot LRS Data Stored' };
}

/** A bill that grows as Cost Management's daily export does: the test sets its rows between closes. */
class GrowingBill implements BilledCostSource {
  charges: BilledCharge[] = [];
  async read(month: string, rule: ClaudeChargeRule): Promise<BilledCostRead> {
    const { claude: claudeRows, leftOut } = selectClaudeCharges(this.charges, rule, month);
    const days = this.charges.map((charge) => charge.day).sort();
    return { claude: claudeRows, leftOut, lastChargeDay: days.at(-1) ?? null, rows: this.charges.length, sourceDescription: 'test bill' };
  }
}

function setup() {
  // List: payments 7.50 on 1 Oct, platform 2.00 on 20 Oct, data 1.00 on 21 Oct (+ 10 unallocated tokens).
  const usage = new StaticUsageSource([
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }) }),
    usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
    usageRow({ day: '2026-10-21', userId: 'u3', tokens: tokens({ input: 500_000 }) }),
    usageRow({ day: '2026-10-21', userId: '', tokens: tokens({ input: 10 }) }),
  ]);
  const bill = new GrowingBill();
  const mailer = new RecordingMailer();
  const artifacts = new InMemoryArtifacts();
  const deps = testCloseDeps({
    usageSource: usage,
    directory: new StaticDirectory(
      testDirectory(
        [
          { userId: 'u1', teamId: 'payments' },
          { userId: 'u2', teamId: 'platform' },
          { userId: 'u3', teamId: 'data' },
        ],
        [
          { id: 'payments', name: 'Payments', leads: ['pay@contoso.example'] },
          { id: 'platform', name: 'Platform', leads: ['plat@contoso.example'] },
          { id: 'data', name: 'Data', leads: ['data@contoso.example'] },
        ],
      ),
    ),
    renderer: new ExcelReportRenderer(),
    artifacts,
    mailer,
    settings: { billing: { rule: { resourceIds: [], publishers: DEFAULT_CLAUDE_PUBLISHERS }, residue: 'bucket', controls: DEFAULT_BILLING_CONTROLS, costColumn: 'EffectiveCost' } },
    billedCosts: bill,
  });
  return { deps, bill, mailer, artifacts };
}

async function sheetRows(content: Buffer, name: string): Promise<unknown[][]> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(content as unknown as ArrayBuffer);
  const rows: unknown[][] = [];
  workbook.getWorksheet(name)!.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
  return rows;
}

function focusColumn(csv: Buffer, column: string): string[] {
  const rows = csv.toString('utf8').trim().split('\r\n');
  const index = rows[0]!.split(',').indexOf(column);
  return rows.slice(1).map((row) => row.split(',')[index]!);
}

describe('closing a month against the Azure bill', () => {
  it('is an estimate until the bill covers the month, then a revision trued up to the invoice, and a restated bill another', async () => {
    const { deps, bill, mailer, artifacts } = setup();
    bill.charges = [claude('2026-10-01', '6.00'), storage('2026-10-01')];
    const estimate = await closeMonth(deps, { month: '2026-10' });
    expect(estimate.revision).toBe(1);
    expect(estimate.bill?.billing.basis).toBe('estimate');
    expect(mailer.sent[0]!.subject).toBe('LLM gateway chargeback October 2026: USD 10.50');
    expect(mailer.sent[0]!.text).toContain('estimate at list prices; Azure\'s bill reaches 2026-10-01 so far');

    // The daily export grows; while it does not reach 31 October nothing is revised or mailed again.
    bill.charges.push(claude('2026-10-20', '1.70'), storage('2026-10-20'));
    const stillEstimate = await closeMonth(deps, { month: '2026-10' });
    expect([stillEstimate.revision, stillEstimate.changed, mailer.sent.length]).toEqual([1, false, 4]);

    bill.charges.push(claude('2026-10-21', '0.90'), storage('2026-10-31'));
    const truedUp = await closeMonth(deps, { month: '2026-10' });
    expect([truedUp.revision, truedUp.changed, truedUp.bill?.billing.basis]).toEqual([2, true, 'trued-up']);
    // Each day's bill over that day's lines: payments 6.00 (ratio 0.8), platform 1.70, data 0.90 of 0.90 × 1/1.00002.
    expect(truedUp.report.billing!.trueUp.teams.map((team) => [team.teamId, team.amount])).toEqual([
      ['data', 90n],
      ['payments', 600n],
      ['platform', 170n],
      ['_unallocated', 0n],
    ]);
    expect(truedUp.report.billing!.trueUp.billedTotal).toBe(860n);
    expect(truedUp.controls.filter((control) => control.id.startsWith('billed.')).map((control) => [control.id, control.outcome])).toEqual([
      ['billed.currency', 'pass'],
      ['billed.ratio', 'pass'],
      ['billed.unmetered-days', 'pass'],
    ]);
    const financeMail = mailer.sent[4]!;
    expect(financeMail.subject).toBe('LLM gateway chargeback October 2026 (revised, revision 2), trued up to the Azure invoice: USD 8.60');
    expect(financeMail.text).toContain('Charge: USD 8.60: trued up to the Azure invoice');
    expect(financeMail.text).toContain('List-price estimate: USD 10.50');
    expect(mailer.sent.find((mail) => mail.to.includes('pay@contoso.example') && mail.subject.includes('revision 2'))?.subject).toBe(
      'LLM gateway usage October 2026 (revised, revision 2), trued up to the Azure invoice: Payments USD 6.00',
    );

    const workbook = artifacts.files.get('chargeback-2026-10-r2.xlsx')!;
    const summary = await sheetRows(workbook, 'Summary');
    const header = summary.find((row) => row.includes('Billed'))!;
    const billedColumn = header.indexOf('Billed');
    const total = summary.find((row) => row[0] === 'Total' && row.length > billedColumn)!;
    expect(total[billedColumn]).toBe(8.6);
    const reconciliation = await sheetRows(workbook, 'Reconciliation');
    expect(reconciliation.find((row) => row[0] === '2026-10-01')).toEqual(['2026-10-01', 2_100_000, 7.5, 6, 0.8]);
    expect(reconciliation.find((row) => row[0] === 'Storage Accounts')).toEqual(['Storage Accounts', 'USD', 3, 1.44]);
    const users = await sheetRows(workbook, 'Users');
    expect(users.at(-1)!.at(-1)).toBe(8.6);

    // The FOCUS export carries both: ListCost the estimate, BilledCost the bill shared out.
    const focus = artifacts.files.get('focus-2026-10-r2.csv')!;
    expect(sumMoney(focusColumn(focus, 'ListCost').map((value) => money(value))).toFixed()).toBe('10.50002');
    expect(sumMoney(focusColumn(focus, 'BilledCost').map((value) => money(value))).minus('8.6').abs().lessThan('1e-8')).toBe(true);

    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect([rerun.revision, rerun.changed]).toEqual([2, false]);
    const mailsAfterTrueUp = mailer.sent.length;

    // A credit on the invoice restates the bill: another revision, mailed again.
    bill.charges.push(claude('2026-10-21', '-0.10'));
    const restated = await closeMonth(deps, { month: '2026-10' });
    expect([restated.revision, restated.changed, restated.report.billing!.trueUp.billedTotal]).toEqual([3, true, 850n]);
    expect(mailer.sent.length).toBeGreaterThan(mailsAfterTrueUp);
  });

  it('holds a bill whose billed/list ratio is outside the band', async () => {
    const { deps, bill } = setup();
    bill.charges = [claude('2026-10-01', '9.00'), claude('2026-10-20', '3.00'), claude('2026-10-21', '1.50'), storage('2026-10-31')];
    const result = await closeMonth(deps, { month: '2026-10' });
    const ratio = result.controls.find((control) => control.id === 'billed.ratio')!;
    expect(ratio.outcome).toBe('hold');
    expect(ratio.message).toContain('billed/list is 1.286');
  });

  it('flags billed days without metered usage and keeps their cost apart, the teams and the bucket adding up to the bill', async () => {
    const { deps, bill } = setup();
    bill.charges = [claude('2026-10-01', '6.00'), claude('2026-10-05', '2.345'), claude('2026-10-20', '1.70'), claude('2026-10-21', '0.90'), storage('2026-10-31')];
    const result = await closeMonth(deps, { month: '2026-10' });
    const unmetered = result.controls.find((control) => control.id === 'billed.unmetered-days')!;
    expect(unmetered.outcome).toBe('hold');
    expect(unmetered.details).toEqual(['2026-10-05: billed 2.35']);
    const trueUp = result.report.billing!.trueUp;
    expect(trueUp.unattributed.amount).toBe(235n);
    expect(trueUp.teams.reduce((sum, team) => sum + team.amount, 0n) + trueUp.unattributed.amount).toBe(trueUp.billedTotal);
    expect(trueUp.billedTotal).toBe(1095n);
  });
});
