/**
 * One set of figures: a closed month shows the same cents in the finance workbook, each team's workbook,
 * each team's mail and all three cost API endpoints, for every team, user and line.
 *
 * The amounts are built so that rounding each level on its own gives a different answer than sharing the
 * grand total out (alpha's exact 1.004001 is 1.00 alone but 1.01 as a share of 3.01; its three equal users
 * get 0.34/0.34/0.33 of 1.01 but 0.34/0.33/0.33 of 1.00). Haiku costs exactly 1 USD per million input
 * tokens, so a token count here is the exact cost in micro-dollars.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { myCostsHandler } from '../../functions/http-my-costs.js';
import { teamCostsHandler } from '../../functions/http-team-costs.js';
import { teamsHandler } from '../../functions/http-teams.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableCloseRegistry } from '../../shared/adapters/azure/table-ledger.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import type { CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { OutboxMailer } from '../../shared/adapters/local/outbox-mailer.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, localVerifier, mintLocalToken, type LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { FocusCsvExporter } from '../../shared/adapters/reports/focus-csv.js';
import { FINANCE_ROLE } from '../../shared/domain/access.js';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { closeMonth } from '../../shared/use-cases/close-month.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { cents, invoke } from '../support/http-api.js';
import { fixedClock, InMemoryArtifacts, InMemoryDeliveryLedger, StaticDirectory, StaticPriceBooks, StaticUsageSource, InMemoryLeases } from '../support/in-memory.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import { HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const MONTH = '2026-10';
const FINANCE_OID = '0c000000-0000-4000-8000-0000000000f1';

/** An Entra-shaped object id ending in `tail`. */
const oid = (tail: string) => `0c000000-0000-4000-8000-0000000000${tail}`;

/** user -> [tier, micro-dollars] lines. */
const USAGE: Record<string, { teamId: string; lines: [string, number][] }> = {
  [oid('a1')]: { teamId: 'alpha', lines: [['Claude.Standard', 200_000], ['Claude.Premium', 134_667]] },
  [oid('a2')]: { teamId: 'alpha', lines: [['Claude.Standard', 334_667]] },
  [oid('a3')]: { teamId: 'alpha', lines: [['Claude.Standard', 334_667]] },
  [oid('b1')]: { teamId: 'beta', lines: [['Claude.Standard', 501_500]] },
  [oid('b2')]: { teamId: 'beta', lines: [['Claude.Standard', 250_750], ['Claude.Premium', 250_749]] },
  [oid('c1')]: { teamId: 'gamma', lines: [['Claude.Standard', 1_002_999]] },
};
const TEAMS = ['alpha', 'beta', 'gamma'];

let key: LocalSigningKey;
let services: CostApiServices;
let outbox: string;
let artifacts: InMemoryArtifacts;

beforeAll(async () => {
  key = await createLocalSigningKey();
  outbox = await mkdtemp(path.join(tmpdir(), 'one-set-'));
  const connection = azuriteConnectionString();
  const [rollups, closes, daily] = await Promise.all([
    TableRollupStore.create(tableClientFor(connection, uniqueTableName('onesetrollups'))),
    TableCloseRegistry.create(tableClientFor(connection, uniqueTableName('onesetcloses'))),
    TableDailyRollupStore.create(tableClientFor(connection, uniqueTableName('onesetdaily')), tableClientFor(connection, uniqueTableName('onesettotals'))),
  ]);
  const rows = Object.entries(USAGE).flatMap(([userId, usage]) =>
    usage.lines.map(([tier, micro]) => usageRow({ day: '2026-10-05', userId, model: 'claude-haiku-4-5', tier, tokens: tokens({ input: micro }) })),
  );
  // Usage nobody can be charged for: the unallocated team takes part in the sharing too.
  rows.push(usageRow({ day: '2026-10-06', userId: '', model: 'claude-haiku-4-5', tokens: tokens({ input: 5 }) }));
  const directory = new StaticDirectory(
    testDirectory(
      Object.entries(USAGE).map(([userId, usage]) => ({ userId, teamId: usage.teamId })),
      TEAMS.map((id) => ({ id, name: id.toUpperCase(), leads: [`lead-${id}@contoso.example`] })),
    ),
  );
  const clock = fixedClock('2026-11-03T06:00:00Z');
  artifacts = new InMemoryArtifacts();
  await closeMonth(
    {
      usageSource: new StaticUsageSource(rows),
      directory,
      priceBooks: new StaticPriceBooks(testPriceBook()),
      rollups,
      closes,
      deliveries: new InMemoryDeliveryLedger(),
      leases: new InMemoryLeases(),
      renderer: new ExcelReportRenderer(),
      reportMails: new HtmlReportMails(),
      costExport: new FocusCsvExporter(),
      artifacts,
      mailer: new OutboxMailer(outbox),
      clock,
      logger: silentLogger,
      settings: { timeZone: 'UTC', financeRecipients: ['finance@contoso.example'], mailFrom: 'chargeback@contoso.example', operatorRecipients: [], graceDays: 2, controls: DEFAULT_CLOSE_CONTROL_LIMITS },
    },
    { month: MONTH },
  );
  services = {
    costLookup: cachedCostLookup({ rollups, closes, dailyRollups: daily, directory, clock, settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 60 } }),
    accessTokens: localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => clock.now() }),
  };
});

afterAll(async () => {
  await rm(outbox, { recursive: true, force: true });
});

async function bearer(userId: string, roles: string[] = []): Promise<Record<string, string>> {
  const token = await mintLocalToken(key, { userId, roles, tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, issuedAt: new Date('2026-11-03T06:00:00Z') });
  return { authorization: `Bearer ${token}` };
}

async function workbook(name: string): Promise<ExcelJS.Workbook> {
  const content = artifacts.files.get(name);
  if (content === undefined) throw new Error(`no artifact ${name}; have ${[...artifacts.files.keys()].join(', ')}`);
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(content as unknown as ArrayBuffer);
  return book;
}

/** The first table on a sheet whose header row holds every one of `headers`, as records (amounts in cents). */
function table(book: ExcelJS.Workbook, sheetName: string, headers: string[]): Record<string, unknown>[] {
  const sheet = book.getWorksheet(sheetName);
  if (sheet === undefined) throw new Error(`no sheet ${sheetName}`);
  for (let number = 1; number <= sheet.rowCount; number += 1) {
    const names = new Map<string, number>();
    sheet.getRow(number).eachCell((cell, column) => {
      if (typeof cell.value === 'string') names.set(cell.value, column);
    });
    if (!headers.every((header) => names.has(header))) continue;
    const records: Record<string, unknown>[] = [];
    for (let row = number + 1; row <= sheet.rowCount; row += 1) {
      const first = sheet.getRow(row).getCell(names.get(headers[0]!)!).value;
      // A table ends at its first empty row or at its Total row.
      if (first === null || first === undefined || first === '' || first === 'Total') break;
      records.push(Object.fromEntries(headers.map((header) => [header, sheet.getRow(row).getCell(names.get(header)!).value])));
    }
    return records;
  }
  throw new Error(`no table with ${headers.join(', ')} on ${sheetName}`);
}

/** A labelled figure (label in one cell, its value in the next one to the right). */
function figure(book: ExcelJS.Workbook, sheetName: string, label: string): unknown {
  const sheet = book.getWorksheet(sheetName)!;
  for (let number = 1; number <= sheet.rowCount; number += 1) {
    const row = sheet.getRow(number);
    for (let column = 1; column <= row.cellCount; column += 1) {
      if (row.getCell(column).value === label) return row.getCell(column + 1).value;
    }
  }
  throw new Error(`no figure ${label} on ${sheetName}`);
}

const amountCents = (value: unknown) => BigInt(Math.round(Number(value) * 100));
const textCents = (text: string) => cents(text.match(/(\d+\.\d{2})(?!\d)/)![1]!);

describe('a closed month is one set of figures', () => {
  it('is built to round differently by level (so the comparison below can fail)', async () => {
    const finance = await workbook(`chargeback-${MONTH}.xlsx`);
    const teams = table(finance, 'Summary', ['Team', 'Amount']);
    expect(teams.map((row) => [row['Team'], amountCents(row['Amount'])])).toEqual([
      ['alpha', 101n],
      ['beta', 100n],
      ['gamma', 100n],
      [UNALLOCATED_TEAM, 0n],
    ]);
  });

  it('shows every team the same in the finance workbook, its team workbook, its mail and the three endpoints', async () => {
    const finance = await workbook(`chargeback-${MONTH}.xlsx`);
    const financeTeams = new Map(table(finance, 'Summary', ['Team', 'Amount']).map((row) => [row['Team'] as string, amountCents(row['Amount'])]));
    const list = await invoke(teamsHandler(async () => services), `teams?month=${MONTH}`, { headers: await bearer(FINANCE_OID, [FINANCE_ROLE]) });
    expect(list.status).toBe(200);
    const apiList = new Map(list.json.teams.map((team: any) => [team.teamId, cents(team.amount)]));
    expect(apiList).toEqual(financeTeams);

    const mails = await Promise.all((await readdir(outbox)).filter((name) => name.endsWith('.eml')).map(async (name) => simpleParser(await readFile(path.join(outbox, name)))));
    for (const teamId of TEAMS) {
      const expected = financeTeams.get(teamId)!;
      const teamBook = await workbook(`chargeback-${MONTH}-team-${teamId}.xlsx`);
      expect(amountCents(figure(teamBook, 'Summary', 'Team total'))).toBe(expected);
      const mail = mails.find((candidate) => (candidate.to as { text: string } | undefined)?.text.includes(`lead-${teamId}@`));
      expect(mail, `a mail to the leads of ${teamId}`).toBeDefined();
      expect(textCents(mail!.subject!)).toBe(expected);

      const team = await invoke(teamCostsHandler(async () => services), `teams/${teamId}/costs?month=${MONTH}`, { headers: await bearer(FINANCE_OID, [FINANCE_ROLE]), params: { team: teamId } });
      expect(team.status).toBe(200);
      expect(cents(team.json.total.amount)).toBe(expected);

      // Users: finance workbook = team workbook = team mail = team endpoint = each user's own view.
      const financeUsers = table(finance, 'Users', ['User id (oid)', 'Team', 'Amount']).filter((row) => row['Team'] === teamId);
      const teamUsers = table(teamBook, 'Users', ['User id (oid)', 'Amount']);
      const expectedUsers = new Map(financeUsers.map((row) => [row['User id (oid)'] as string, amountCents(row['Amount'])]));
      expect(new Map(teamUsers.map((row) => [row['User id (oid)'] as string, amountCents(row['Amount'])]))).toEqual(expectedUsers);
      expect(new Map(team.json.breakdown.byUser.map((user: any) => [user.userId, cents(user.amount)]))).toEqual(expectedUsers);
      const mailText = mail!.text ?? '';
      for (const [userId, amount] of expectedUsers) {
        const row = mailText.split('\n').find((text) => text.includes(userId));
        expect(row, `the mail row of ${userId}`).toBeDefined();
        expect(textCents(row!.replace(userId, ''))).toBe(amount);
        const mine = await invoke(myCostsHandler(async () => services), `me/costs?month=${MONTH}`, { headers: await bearer(userId) });
        expect(mine.status, mine.body).toBe(200);
        expect(cents(mine.json.total.amount)).toBe(amount);
        expect(cents(mine.json.byTeam[0].amount)).toBe(amount);
        const asMember = await invoke(teamCostsHandler(async () => services), `teams/${teamId}/costs?month=${MONTH}`, { headers: await bearer(userId), params: { team: teamId } });
        expect(cents(asMember.json.total.amount)).toBe(expected);
        expect(cents(asMember.json.breakdown.total.amount)).toBe(amount);

        // Lines: the finance workbook's Lines sheet = the caller's lines in both endpoints.
        const financeLines = table(finance, 'Lines', ['User id (oid)', 'Tier', 'Amount'])
          .filter((line) => line['User id (oid)'] === userId)
          .map((line) => [line['Tier'], amountCents(line['Amount'])]);
        const sortByTier = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
        expect(mine.json.lines.map((line: any) => [line.tier, cents(line.amount)]).sort(sortByTier)).toEqual(financeLines.sort(sortByTier));
        expect(asMember.json.breakdown.lines.map((line: any) => [line.tier, cents(line.amount)]).sort(sortByTier)).toEqual(financeLines.sort(sortByTier));
      }
    }
  });
});
