import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableCloseRegistry, TableDeliveryLedger } from '../../shared/adapters/azure/table-ledger.js';
import { TableLeases } from '../../shared/adapters/azure/table-leases.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { FocusCsvExporter } from '../../shared/adapters/reports/focus-csv.js';
import { HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { SmtpMailer } from '../../shared/adapters/smtp-mailer.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import type { DeliveryLedger, DeliveryRecord } from '../../shared/ports/ledger.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { closeMonth, financeDeliveryKey, type CloseMonthDeps, type CloseMonthResult } from '../../shared/use-cases/close-month.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryArtifacts, StaticDirectory, StaticPriceBooks, StaticUsageSource } from '../support/in-memory.js';
import { closeSmtpServers, startSmtpServer, type RunningServer } from '../support/smtp-server.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/**
 * The close's delivery guarantees with the real parts: Table Storage (Azurite) for leases, the ledger and
 * the rollups, and a real SMTP server that counts what it receives. Two runs are two sets of adapters over
 * the same tables, as two Function instances (or the timer and a person at the CLI) would be.
 */
afterEach(closeSmtpServers);

const FINANCE = 'finance@contoso.example';
const LEADS = { payments: 'pay@contoso.example', platform: 'plat@contoso.example' };

const rows = (scale: number): UsageRow[] => [
  usageRow({ day: '2026-10-02', userId: 'u1', tokens: tokens({ input: 1_000_000 * scale }) }),
  usageRow({ day: '2026-10-12', userId: 'u2', tokens: tokens({ input: 2_000_000 * scale }) }),
];

async function runFor(prefix: string, smtp: RunningServer, usage: UsageRow[], wrapLedger: (ledger: DeliveryLedger) => DeliveryLedger = (ledger) => ledger): Promise<CloseMonthDeps> {
  const table = (name: string) => tableClientFor(azuriteConnectionString(), `${prefix}${name}`);
  return {
    usageSource: new StaticUsageSource(usage),
    directory: new StaticDirectory(
      testDirectory(
        [
          { userId: 'u1', teamId: 'payments' },
          { userId: 'u2', teamId: 'platform' },
        ],
        [
          { id: 'payments', name: 'Payments', leads: [LEADS.payments] },
          { id: 'platform', name: 'Platform', leads: [LEADS.platform] },
        ],
      ),
    ),
    priceBooks: new StaticPriceBooks(testPriceBook()),
    rollups: await TableRollupStore.create(table('Rollups')),
    closes: await TableCloseRegistry.create(table('Closes')),
    deliveries: wrapLedger(await TableDeliveryLedger.create(table('Deliveries'))),
    leases: await TableLeases.create(table('Leases')),
    renderer: new ExcelReportRenderer(),
    reportMails: new HtmlReportMails(),
    costExport: new FocusCsvExporter(),
    artifacts: new InMemoryArtifacts(),
    mailer: new SmtpMailer({ host: '127.0.0.1', port: smtp.port, secure: false, connectionTimeoutMs: 5_000, socketTimeoutMs: 5_000 }),
    clock: fixedClock('2026-11-03T06:00:00Z'),
    logger: silentLogger,
    settings: { timeZone: 'UTC', financeRecipients: [FINANCE], mailFrom: 'chargeback@contoso.example', operatorRecipients: ['ops@contoso.example'], graceDays: 2, controls: DEFAULT_CLOSE_CONTROL_LIMITS },
  };
}

/** What the SMTP server received, per recipient: the subjects in order. */
async function inboxes(smtp: RunningServer): Promise<Record<string, string[]>> {
  const boxes: Record<string, string[]> = {};
  for (const message of smtp.received) {
    const parsed = await simpleParser(message.raw);
    for (const address of message.rcptTo) (boxes[address] ??= []).push(parsed.subject ?? '');
  }
  return boxes;
}

async function settle(runs: Promise<CloseMonthResult>[]): Promise<{ closed: CloseMonthResult[]; busy: number; other: unknown[] }> {
  const results = await Promise.allSettled(runs);
  const closed = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as { code?: string }] : []));
  return { closed, busy: failures.filter((error) => error.code === 'BUSY').length, other: failures.filter((error) => error.code !== 'BUSY') };
}

describe('two closes of one month at once, on Azurite and a real SMTP server', () => {
  it('mails every recipient each mail exactly once; the other run is busy and sends nothing', async () => {
    const smtp = await startSmtpServer();
    const prefix = uniqueTableName('twice');
    const [a, b] = await Promise.all([runFor(prefix, smtp, rows(1)), runFor(prefix, smtp, rows(1))]);
    const { closed, busy, other } = await settle([closeMonth(a, { month: '2026-10', runId: 'timer' }), closeMonth(b, { month: '2026-10', runId: 'person' })]);
    expect(other).toEqual([]);
    expect(closed).toHaveLength(1);
    expect(busy).toBe(1);

    // The busy run tries again once the first finished: nothing is owed any more.
    await closeMonth(b, { month: '2026-10', runId: 'person' });
    const boxes = await inboxes(smtp);
    expect(Object.keys(boxes).sort()).toEqual([FINANCE, LEADS.payments, LEADS.platform].sort());
    for (const subjects of Object.values(boxes)) expect(subjects).toHaveLength(1);
  });

  it('with different inputs, finance receives one revision 1 only, never two contradictory ones', async () => {
    const smtp = await startSmtpServer();
    const prefix = uniqueTableName('contra');
    const [a, b] = await Promise.all([runFor(prefix, smtp, rows(1)), runFor(prefix, smtp, rows(2))]);
    const { closed, busy } = await settle([closeMonth(a, { month: '2026-10' }), closeMonth(b, { month: '2026-10' })]);
    expect(closed).toHaveLength(1);
    expect(busy).toBe(1);
    const boxes = await inboxes(smtp);
    expect(boxes[FINANCE]).toHaveLength(1);
    expect(boxes[FINANCE]![0]).not.toMatch(/revised/i);
    const registry = await TableCloseRegistry.create(tableClientFor(azuriteConnectionString(), `${prefix}Closes`));
    expect((await registry.get('2026-10'))?.revision).toBe(1);
  });

  it('killed between sending and recording: the rerun reports the mail as uncertain and the server receives it once', async () => {
    const smtp = await startSmtpServer();
    const prefix = uniqueTableName('killed');
    const dying = await runFor(prefix, smtp, rows(1), (ledger) => ({
      get: (key) => ledger.get(key),
      claim: (record, previous) => ledger.claim(record, previous),
      put: async (record: DeliveryRecord) => {
        if (record.key === financeDeliveryKey('2026-10', 1) && record.status === 'sent') throw new Error('process killed between sending and recording');
        return ledger.put(record);
      },
    }));
    await expect(closeMonth(dying, { month: '2026-10' })).rejects.toThrow(/killed/);
    // The lease of the dead run is released by its finally; had the process died, it would expire.
    const rerun = await closeMonth(await runFor(prefix, smtp, rows(1)), { month: '2026-10' });
    expect(rerun.mail.status).toBe('uncertain');
    const boxes = await inboxes(smtp);
    expect(boxes[FINANCE]).toHaveLength(1);
    expect(boxes[LEADS.payments]).toHaveLength(1);
    expect(boxes[LEADS.platform]).toHaveLength(1);
  });
});
