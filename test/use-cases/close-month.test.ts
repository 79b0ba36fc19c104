import { parsePriceBook } from '../../shared/domain/price-book.js';
import { parseBudgetDocument } from '../../shared/domain/budgets.js';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { AppError } from '../../shared/domain/errors.js';
import { money, sumMoney } from '../../shared/domain/money.js';
import type { TimeWindow } from '../../shared/domain/periods.js';
import { usageRowsOf, type UsageReadResult, type UsageRow } from '../../shared/domain/usage.js';
import type { MonthClose } from '../../shared/ports/ledger.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';
import { closeMonth, type CloseMonthDeps } from '../../shared/use-cases/close-month.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryArtifacts, InMemoryCloseRegistry, InMemoryDeliveryLedger, InMemoryRollupStore, RecordingMailer, StaticDirectory, StaticPriceBooks } from '../support/in-memory.js';
import { testCloseDeps } from '../support/close-deps.js';

/** Returns only the rows whose day falls in the window asked for (the window is a UTC month here). */
class MonthlyUsageSource implements UsageSource {
  constructor(public rows: UsageRow[]) {}
  async read(window: TimeWindow): Promise<UsageReadResult> {
    const start = window.start.toISOString().slice(0, 10);
    const end = window.end.toISOString().slice(0, 10);
    return {
      rows: usageRowsOf(this.rows.filter((row) => row.day >= start && row.day < end)),
      rejects: { count: 0, samples: [], byReason: {} },
      skipped: {},
      reportedTotalTokens: null,
      sourceDescription: 'static rows',
    };
  }
}

const FINANCE = 'finance@contoso.example';
const PAY_LEAD = 'pay@contoso.example';
const PLAT_LEADS = ['plat@contoso.example', 'plat-deputy@contoso.example'];
const DATA_LEAD = 'data@contoso.example';

function setup() {
  const usage = new MonthlyUsageSource([
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }) }),
    usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
    usageRow({ day: '2026-10-21', userId: 'u3', tokens: tokens({ input: 500_000 }) }),
    usageRow({ day: '2026-10-21', userId: '', tokens: tokens({ input: 10 }) }),
  ]);
  const mailer = new RecordingMailer();
  const rollups = new InMemoryRollupStore();
  const deliveries = new InMemoryDeliveryLedger();
  const artifacts = new InMemoryArtifacts();
  const clock = fixedClock('2026-11-03T06:00:00Z');
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
          { id: 'payments', name: 'Payments', leads: [PAY_LEAD] },
          { id: 'platform', name: 'Platform', leads: PLAT_LEADS },
          { id: 'data', name: 'Data', leads: [DATA_LEAD] },
        ],
      ),
    ),
    rollups,
    deliveries,
    renderer: new ExcelReportRenderer(),
    artifacts,
    mailer,
    clock,
    settings: { financeRecipients: [FINANCE] },
  });
  return { deps, usage, mailer, rollups, deliveries, clock, artifacts };
}

/** How many mails each address received. */
function mailsPerRecipient(sent: readonly OutgoingMail[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const mail of sent) for (const address of mail.to) counts[address] = (counts[address] ?? 0) + 1;
  return counts;
}

async function workbookOf(content: Buffer): Promise<ExcelJS.Workbook> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(content as unknown as ArrayBuffer);
  return workbook;
}

function columnValues(sheet: ExcelJS.Worksheet, header: string): unknown[] {
  let headerRow = 0;
  let column = 0;
  sheet.eachRow((row, number) => {
    if (headerRow) return;
    row.eachCell((cell, index) => {
      if (cell.value === header && !headerRow) {
        headerRow = number;
        column = index;
      }
    });
  });
  const values: unknown[] = [];
  for (let number = headerRow + 1; number <= sheet.rowCount; number += 1) {
    const value = sheet.getRow(number).getCell(column).value;
    if (value === null || value === undefined) break;
    values.push(value);
  }
  return values;
}

/** Every row of the Changes sheet, as cell values. */
function changesRows(workbook: ExcelJS.Workbook): unknown[][] {
  const rows: unknown[][] = [];
  workbook.getWorksheet('Changes')!.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
  return rows;
}

/** A close registry as it was before summaries were kept: it records closes and forgets their summaries. */
class RegistryWithoutSummaries extends InMemoryCloseRegistry {
  override async put(close: MonthClose) {
    const { summary: _dropped, ...record } = close;
    await super.put(record);
  }
}

describe('closing a month', () => {
  it('stores the rollups, reports totals that add up and mails finance the workbook and each team its own', async () => {
    const { deps, mailer, rollups, artifacts } = setup();
    const result = await closeMonth(deps, { month: '2026-10' });
    // u1: 2M input at $3 + 0.1M output at $15 = $7.50; u2 after the price change: 1M at $2 = $2.00; u3: 0.5M at $2 = $1.00.
    expect(result.report.teams.map((t) => [t.teamId, t.amount])).toEqual([
      ['data', 100n],
      ['payments', 750n],
      ['platform', 200n],
      ['_unallocated', 0n],
    ]);
    expect(result.report.grandTotal).toBe(1050n);
    expect(result.revision).toBe(1);
    expect(await rollups.readMonth('2026-10')).toHaveLength(4);
    expect(mailer.sent.map((mail) => mail.subject)).toEqual([
      'LLM gateway chargeback October 2026: USD 10.50',
      'LLM gateway usage October 2026: Data USD 1.00',
      'LLM gateway usage October 2026: Payments USD 7.50',
      'LLM gateway usage October 2026: Platform USD 2.00',
    ]);
    expect(mailer.sent[0]!.attachments[0]!.filename).toBe('chargeback-2026-10.xlsx');
    expect(mailer.sent[0]!.to).toEqual([FINANCE]);
    expect(mailer.sent[3]!.to).toEqual(PLAT_LEADS);
    expect(mailer.sent[3]!.attachments[0]!.filename).toBe('chargeback-2026-10-team-platform.xlsx');
    expect(result.teams.map((team) => [team.teamId, team.amount, team.mail.status])).toEqual([
      ['data', 100n, 'sent'],
      ['payments', 750n, 'sent'],
      ['platform', 200n, 'sent'],
    ]);
    expect([...artifacts.files.keys()].sort()).toEqual([
      'chargeback-2026-10-team-data.xlsx',
      'chargeback-2026-10-team-payments.xlsx',
      'chargeback-2026-10-team-platform.xlsx',
      'chargeback-2026-10.xlsx',
      'focus-2026-10.csv',
    ]);
    expect(result.focusLocation).toBe('memory:focus-2026-10.csv');
  });

  it('puts only the team\u2019s own users in a team\u2019s workbook, with the team\u2019s amount as its total', async () => {
    const { deps, mailer } = setup();
    await closeMonth(deps, { month: '2026-10' });
    const paymentsMail = mailer.sent.find((mail) => mail.to.includes(PAY_LEAD))!;
    const workbook = await workbookOf(paymentsMail.attachments[0]!.content);
    const users = workbook.getWorksheet('Users')!;
    expect(columnValues(users, 'User id (oid)')).toEqual(['u1']);
    expect(columnValues(users, 'Team')).toEqual(['payments', 'Total']);
    expect(columnValues(users, 'Amount')).toEqual([7.5, 7.5]);
    expect(paymentsMail.text).toContain('USD 7.50');
    expect(paymentsMail.text).not.toContain('u2');
    expect(paymentsMail.html).not.toMatch(/Platform|u2@/);
  });

  it('shows the budget from the budget source in the team\u2019s mail and workbook, and in the finance workbook', async () => {
    const { deps, mailer } = setup();
    const budgets = { load: async ({ currency }: { currency: string }) => parseBudgetDocument({ currency, teams: [{ teamId: 'payments', amount: '10' }] }, 'budgets.json', { currency }) };
    await closeMonth({ ...deps, budgets }, { month: '2026-10' });
    const paymentsMail = mailer.sent.find((mail) => mail.to.includes(PAY_LEAD))!;
    expect(paymentsMail.text).toContain('Budget: USD 10.00');
    expect(paymentsMail.text).toContain('Remaining: USD 2.50');
    const teamSummary = (await workbookOf(paymentsMail.attachments[0]!.content)).getWorksheet('Summary')!;
    const figures = new Map<string, unknown>();
    teamSummary.eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Budget')).toBe(10);
    expect(figures.get('Remaining')).toBe(2.5);
    const financeMail = mailer.sent.find((mail) => mail.to.includes(FINANCE))!;
    const summary = (await workbookOf(financeMail.attachments[0]!.content)).getWorksheet('Summary')!;
    const rowOf = (first: string) => summary.getRows(1, summary.rowCount)!.find((row) => row.getCell(1).value === first)!;
    const header = rowOf('Team');
    const budgetColumn = (header.values as unknown[]).indexOf('Budget');
    expect(rowOf('payments').getCell(budgetColumn).value).toBe(10);
    expect(rowOf('platform').getCell(budgetColumn).value).toBe(null);
    expect(rowOf('Total').getCell(budgetColumn).value).toBe(10);
    const platformMail = mailer.sent.find((mail) => mail.to.includes(PLAT_LEADS[0]!))!;
    expect(platformMail.text).not.toContain('Budget:');
  });

  it('closes a month priced in JPY in whole yen, from the close record to the mails and workbooks', async () => {
    const { deps, mailer } = setup();
    const yen = parsePriceBook(
      { currency: 'JPY', models: [{ model: 'claude-sonnet-4-6', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: { input: '450.5', output: '2250', cacheRead: '45', cacheWrite5m: '562.5', cacheWrite1h: '900' } }] }] },
      'yen.json',
    );
    const closes = new InMemoryCloseRegistry();
    await closeMonth({ ...deps, closes, priceBooks: new StaticPriceBooks(yen) }, { month: '2026-10' });
    // payments: 2,000,000 x 450.5 + 100,000 x 2,250 = 901 + 225 = 1,126 yen; platform 450.5; data 225.25; no id 0.0045.
    expect((await closes.get('2026-10'))!.totalMinorUnits).toBe('1802');
    const financeMail = mailer.sent.find((mail) => mail.to.includes(FINANCE))!;
    expect(financeMail.subject).toBe('LLM gateway chargeback October 2026: JPY 1,802');
    const paymentsMail = mailer.sent.find((mail) => mail.to.includes(PAY_LEAD))!;
    expect(paymentsMail.text).toContain('Team total: JPY 1,126');
    const users = (await workbookOf(paymentsMail.attachments[0]!.content)).getWorksheet('Users')!;
    expect(columnValues(users, 'Amount')).toEqual([1126, 1126]);
  });

  it('writes the FOCUS export whose BilledCost adds up to the exact month total', async () => {
    const { deps, artifacts } = setup();
    const result = await closeMonth(deps, { month: '2026-10' });
    const rows = artifacts.files.get('focus-2026-10.csv')!.toString('utf8').trim().split('\r\n');
    const header = rows[0]!.split(',');
    const billed = header.indexOf('BilledCost');
    // No field in this small month needs quoting before BilledCost, so a plain split finds the column.
    const total = sumMoney(rows.slice(1).map((row) => money(row.split(',')[billed]!)));
    expect(total.toFixed()).toBe(result.report.exactTotal);
  });

  it('sends nothing the second time when nothing changed, unless asked to resend, which sends the finance and team mails again', async () => {
    const { deps, mailer } = setup();
    await closeMonth(deps, { month: '2026-10' });
    const again = await closeMonth(deps, { month: '2026-10' });
    expect(again.changed).toBe(false);
    expect(again.mail.status).toBe('already-sent');
    expect(again.teams.map((team) => team.mail.status)).toEqual(['already-sent', 'already-sent', 'already-sent']);
    expect(mailer.sent).toHaveLength(4);
    const forced = await closeMonth(deps, { month: '2026-10', resend: true });
    expect(forced.mail.status).toBe('sent');
    expect(forced.teams.map((team) => team.mail.status)).toEqual(['sent', 'sent', 'sent']);
    expect(mailer.sent).toHaveLength(8);
    expect(mailer.sent[4]!.to).toEqual([FINANCE]);
    expect(mailer.sent.slice(4).map((mail) => mail.subject)).toEqual(mailer.sent.slice(0, 4).map((mail) => mail.subject));
  });

  it('on a forced rerun of a revision, resends the team mails that revision owed and no others', async () => {
    const { deps, mailer, usage } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    await closeMonth(deps, { month: '2026-10' });
    expect(mailer.sent).toHaveLength(6);
    const forced = await closeMonth(deps, { month: '2026-10', resend: true });
    expect(forced.revision).toBe(2);
    expect(forced.teams.map((team) => [team.teamId, team.mail.status])).toEqual([
      ['data', 'not-owed'],
      ['payments', 'sent'],
      ['platform', 'not-owed'],
    ]);
    expect(mailer.sent.slice(6).map((mail) => mail.subject)).toEqual([
      'LLM gateway chargeback October 2026 (revised, revision 2): USD 20.50',
      'LLM gateway usage October 2026 (revised, revision 2): Payments USD 17.50',
    ]);
  });

  it('makes a revision when the numbers change: finance gets it as revised with a Changes sheet, only the changed team hears', async () => {
    const { deps, mailer, usage, clock } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    clock.set('2026-11-05T06:00:00Z');
    const revised = await closeMonth(deps, { month: '2026-10' });
    expect(revised.revision).toBe(2);
    expect(revised.changed).toBe(true);
    const newMails = mailer.sent.slice(4);
    expect(newMails.map((m) => m.subject)).toEqual([
      'LLM gateway chargeback October 2026 (revised, revision 2): USD 20.50',
      'LLM gateway usage October 2026 (revised, revision 2): Payments USD 17.50',
    ]);
    expect(newMails[0]!.attachments[0]!.filename).toBe('chargeback-2026-10-r2.xlsx');
    expect(newMails[0]!.text).toContain('replaces revision 1 (USD 10.50): +USD 10.00');
    expect(revised.teams.map((team) => [team.teamId, team.mail.status])).toEqual([
      ['data', 'not-owed'],
      ['payments', 'sent'],
      ['platform', 'not-owed'],
    ]);

    const workbook = await workbookOf(newMails[0]!.attachments[0]!.content);
    expect(workbook.worksheets.map((sheet) => sheet.name).slice(0, 2)).toEqual(['Summary', 'Changes']);
    const changes = workbook.getWorksheet('Changes')!;
    const rows: unknown[][] = [];
    changes.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
    const payments = rows.find((row) => row[0] === 'payments')!;
    expect(payments.slice(2)).toEqual([7.5, 17.5, 10]);
    const platform = rows.find((row) => row[0] === 'platform')!;
    expect(platform.slice(2)).toEqual([2, 2, 0]);
    const teamTotal = rows.find((row) => row[0] === 'Total')!;
    expect(teamTotal.slice(2)).toEqual([10.5, 20.5, 10]);
    // Users and models: only those that changed.
    expect(rows.filter((row) => row[0] === 'payments' && row[1] === 'u1')).toHaveLength(1);
    expect(rows.some((row) => row[1] === 'u2')).toBe(false);

    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.changed).toBe(false);
    expect(mailer.sent).toHaveLength(6);
  });

  it('after a failure half-way through the team mails, a rerun gives every recipient exactly one mail', async () => {
    const { deps, mailer, deliveries } = setup();
    // The server goes down after the finance mail and the first team mail.
    mailer.failWhen = (_mail, sentSoFar) => sentSoFar >= 2;
    const failed = await closeMonth(deps, { month: '2026-10' }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(AppError);
    expect((failed as AppError).code).toBe('MAIL_FAILED');
    expect((failed as AppError).details).toHaveLength(2);
    expect(mailer.sent).toHaveLength(2);
    expect(deliveries.records.get('2026-10|r1|team|payments')?.status).toBe('failed');
    expect(deliveries.records.get('2026-10|r1|team|platform')?.status).toBe('failed');

    mailer.failWhen = null;
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.mail.status).toBe('already-sent');
    expect(rerun.teams.map((team) => team.mail.status)).toEqual(['already-sent', 'sent', 'sent']);
    await closeMonth(deps, { month: '2026-10' });
    expect(mailsPerRecipient(mailer.sent)).toEqual({
      [FINANCE]: 1,
      [DATA_LEAD]: 1,
      [PAY_LEAD]: 1,
      [PLAT_LEADS[0]!]: 1,
      [PLAT_LEADS[1]!]: 1,
    });
    expect(deliveries.records.get('2026-10|r1|team|payments')).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('completes exactly on a rerun after the finance mail failed, sending one mail', async () => {
    const { deps, mailer, rollups, deliveries } = setup();
    mailer.failuresLeft = 1;
    await expect(closeMonth(deps, { month: '2026-10' })).rejects.toBeInstanceOf(AppError);
    expect(deliveries.records.get('2026-10|r1|finance')?.status).toBe('failed');
    const stored = await rollups.readMonth('2026-10');
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.revision).toBe(1);
    expect(rerun.mail.status).toBe('sent');
    expect(mailsPerRecipient(mailer.sent)[FINANCE]).toBe(1);
    expect(await rollups.readMonth('2026-10')).toEqual(stored);
    expect(deliveries.records.get('2026-10|r1|finance')).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('keeps a revision\u2019s choice of team mails when its finance mail is retried after the old lines are gone and no summary was kept', async () => {
    const { deps: withSummaries, mailer, usage } = setup();
    // Close records written before summaries were kept: the registry has none to give.
    const deps: CloseMonthDeps = { ...withSummaries, closes: new RegistryWithoutSummaries() };
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    mailer.failWhen = (mail) => mail.to.includes(FINANCE);
    await expect(closeMonth(deps, { month: '2026-10' })).rejects.toMatchObject({ code: 'MAIL_FAILED' });
    mailer.failWhen = null;
    const retried = await closeMonth(deps, { month: '2026-10' });
    expect(retried.revision).toBe(2);
    expect(retried.mail.status).toBe('sent');
    expect(retried.teams.map((team) => [team.teamId, team.mail.status])).toEqual([
      ['data', 'not-owed'],
      ['payments', 'already-sent'],
      ['platform', 'not-owed'],
    ]);
    expect(mailsPerRecipient(mailer.sent)).toEqual({ [FINANCE]: 2, [DATA_LEAD]: 1, [PAY_LEAD]: 2, [PLAT_LEADS[0]!]: 1, [PLAT_LEADS[1]!]: 1 });
    expect(retried.report.changes?.detailAvailable).toBe(false);
    expect(mailer.sent.at(-1)!.subject).toContain('(revised, revision 2)');
  });

  it('lists what changed on a revision\u2019s Changes sheet again when the revision is rerun after its finance mail failed', async () => {
    const { deps, mailer, usage, rollups } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    mailer.failWhen = (mail) => mail.to.includes(FINANCE);
    const failed = await closeMonth(deps, { month: '2026-10' }).catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'MAIL_FAILED' });
    // Revision 1's lines are gone from the rollup store: only its summary remains.
    expect(await rollups.readMonth('2026-10')).toHaveLength(4);
    mailer.failWhen = null;

    const retried = await closeMonth(deps, { month: '2026-10' });
    expect(retried.revision).toBe(2);
    expect(retried.changed).toBe(false);
    expect(retried.mail.status).toBe('sent');
    expect(retried.teams.map((team) => [team.teamId, team.mail.status])).toEqual([
      ['data', 'not-owed'],
      ['payments', 'already-sent'],
      ['platform', 'not-owed'],
    ]);
    expect(retried.report.changes).toMatchObject({
      previousRevision: 1,
      detailAvailable: true,
      grandTotal: { previous: 1050n, current: 2050n },
      changedTeams: ['payments'],
    });
    const financeMail = mailer.sent.at(-1)!;
    expect(financeMail.text).toContain('replaces revision 1 (USD 10.50): +USD 10.00');
    const rows = changesRows(await workbookOf(financeMail.attachments[0]!.content));
    expect(rows.find((row) => row[0] === 'payments')!.slice(2)).toEqual([7.5, 17.5, 10]);
    expect(rows.find((row) => row[0] === 'platform')!.slice(2)).toEqual([2, 2, 0]);
    expect(rows.find((row) => row[0] === 'Total')!.slice(2)).toEqual([10.5, 20.5, 10]);
    expect(rows.filter((row) => row[0] === 'payments' && row[1] === 'u1')).toHaveLength(1);
    expect(rows.some((row) => String(row[0]).includes('not available') || String(row[1]).includes('no longer stored'))).toBe(false);
  });

  it('renders the same Changes sheet when an unchanged revision 2 is closed again', async () => {
    const { deps, mailer, usage, artifacts } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    const revised = await closeMonth(deps, { month: '2026-10' });
    const firstRendering = changesRows(await workbookOf(artifacts.files.get('chargeback-2026-10-r2.xlsx')!));

    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.changed).toBe(false);
    expect(rerun.report.changes).toEqual(revised.report.changes);
    expect(changesRows(await workbookOf(artifacts.files.get('chargeback-2026-10-r2.xlsx')!))).toEqual(firstRendering);
    expect(firstRendering.find((row) => row[0] === 'payments')!.slice(2)).toEqual([7.5, 17.5, 10]);
    expect(rerun.teams.map((team) => team.mail.status)).toEqual(['not-owed', 'already-sent', 'not-owed']);
    expect(mailer.sent).toHaveLength(6);
  });

  it('shows the change from last month when the month before was closed', async () => {
    const { deps, mailer, usage } = setup();
    usage.rows = [...usage.rows, usageRow({ day: '2026-09-10', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })];
    await closeMonth(deps, { month: '2026-09' });
    const october = await closeMonth(deps, { month: '2026-10' });
    expect(october.report.previousMonth).toEqual({
      month: '2026-09',
      grandTotal: 300n,
      teams: [{ teamId: 'payments', teamName: 'Payments', amount: 300n }],
    });
    const financeMail = mailer.sent.find((mail) => mail.subject.startsWith('LLM gateway chargeback October'))!;
    expect(financeMail.text).toContain('Change from last month: +USD 7.50 (+250.0%)');
    const paymentsMail = mailer.sent.find((mail) => mail.subject.startsWith('LLM gateway usage October 2026: Payments'))!;
    expect(paymentsMail.text).toContain('Change from last month: +USD 4.50 (+150.0%)');
    const workbook = await workbookOf(financeMail.attachments[0]!.content);
    const figures = new Map<string, unknown>();
    workbook.getWorksheet('Summary')!.eachRow((row) => figures.set(String(row.getCell(1).value), row.getCell(2).value));
    expect(figures.get('Last month (2026-09)')).toBe(3);
    expect(figures.get('Change from last month')).toBe(7.5);
    expect(figures.get('Change from last month (%)')).toBe(2.5);
  });

  it('builds the reports while the lines are stored; when the store fails nobody is mailed, and a rerun stores and mails once', async () => {
    const { deps, mailer, rollups, artifacts } = setup();
    let workbookBuiltDuringStore = false;
    let storeFails = true;
    const original = rollups.writeRevision.bind(rollups);
    rollups.writeRevision = async (month, revision, lines) => {
      // The store is slow (Table Storage at 100,000 users): the workbooks go on meanwhile.
      for (let turn = 0; turn < 400 && !artifacts.files.has('chargeback-2026-10.xlsx'); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
      workbookBuiltDuringStore = artifacts.files.has('chargeback-2026-10.xlsx');
      if (storeFails) throw new AppError('STORAGE_FAILED', 'Table Storage could not write a batch: HTTP 503', { retryable: true });
      return original(month, revision, lines);
    };

    const failure = await closeMonth(deps, { month: '2026-10' }).catch((error: unknown) => error);
    expect(workbookBuiltDuringStore).toBe(true);
    expect(failure).toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
    expect(mailer.sent).toHaveLength(0);
    expect(await rollups.publishedRevision('2026-10')).toBeUndefined();

    storeFails = false;
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.revision).toBe(1);
    expect(await rollups.publishedRevision('2026-10')).toBe(1);
    expect(mailsPerRecipient(mailer.sent)).toEqual({ [FINANCE]: 1, [DATA_LEAD]: 1, [PAY_LEAD]: 1, [PLAT_LEADS[0]!]: 1, [PLAT_LEADS[1]!]: 1 });
  });

  it('mails nobody when a report cannot be saved although the revision was stored, and a rerun mails once', async () => {
    const { deps, mailer, rollups, artifacts } = setup();
    const save = artifacts.save.bind(artifacts);
    let saveFails = true;
    artifacts.save = async (name, content) => {
      if (saveFails && name === 'chargeback-2026-10-team-platform.xlsx') throw new AppError('STORAGE_FAILED', `could not save ${name}`, { retryable: true });
      return save(name, content);
    };

    await expect(closeMonth(deps, { month: '2026-10' })).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(mailer.sent).toHaveLength(0);
    expect(await rollups.publishedRevision('2026-10')).toBe(1);

    saveFails = false;
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun).toMatchObject({ revision: 1, changed: false });
    expect(mailsPerRecipient(mailer.sent)).toEqual({ [FINANCE]: 1, [DATA_LEAD]: 1, [PAY_LEAD]: 1, [PLAT_LEADS[0]!]: 1, [PLAT_LEADS[1]!]: 1 });
  });

  it('fails before reading any usage when the price book is invalid', async () => {
    const { deps } = setup();
    let read = false;
    const failing = testCloseDeps({
      ...deps,
      priceBooks: { load: async () => Promise.reject(new AppError('PRICE_BOOK_INVALID', 'prices.json: bad')) },
      usageSource: { read: async () => ((read = true), Promise.reject(new Error('should not be read'))) },
    });
    await expect(closeMonth(failing, { month: '2026-10' })).rejects.toMatchObject({ code: 'PRICE_BOOK_INVALID' });
    expect(read).toBe(false);
  });
});
