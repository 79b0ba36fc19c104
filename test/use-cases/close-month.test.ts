import { describe, expect, it } from 'vitest';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { AppError } from '../../shared/domain/errors.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { closeMonth, type CloseMonthDeps } from '../../shared/use-cases/close-month.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import {
  fixedClock,
  InMemoryArtifacts,
  InMemoryCloseRegistry,
  InMemoryDeliveryLedger,
  InMemoryRollupStore,
  RecordingMailer,
  StaticDirectory,
  StaticPriceBooks,
  StaticUsageSource,
} from '../support/in-memory.js';

function setup() {
  const usage = new StaticUsageSource([
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }) }),
    usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
    usageRow({ day: '2026-10-21', userId: '', tokens: tokens({ input: 10 }) }),
  ]);
  const mailer = new RecordingMailer();
  const rollups = new InMemoryRollupStore();
  const deliveries = new InMemoryDeliveryLedger();
  const clock = fixedClock('2026-11-03T06:00:00Z');
  const deps: CloseMonthDeps = {
    usageSource: usage,
    directory: new StaticDirectory(
      testDirectory(
        [
          { userId: 'u1', teamId: 'payments' },
          { userId: 'u2', teamId: 'platform' },
        ],
        [
          { id: 'payments', name: 'Payments', leads: ['pay@contoso.example'] },
          { id: 'platform', name: 'Platform', leads: ['plat@contoso.example'] },
        ],
      ),
    ),
    priceBooks: new StaticPriceBooks(testPriceBook()),
    rollups,
    closes: new InMemoryCloseRegistry(),
    deliveries,
    renderer: new ExcelReportRenderer(),
    artifacts: new InMemoryArtifacts(),
    mailer,
    clock,
    logger: silentLogger,
    settings: { timeZone: 'UTC', financeRecipients: ['finance@contoso.example'], mailFrom: 'chargeback@contoso.example' },
  };
  return { deps, usage, mailer, rollups, deliveries, clock };
}

describe('closing a month', () => {
  it('stores the rollups, reports totals that add up and mails finance the workbook', async () => {
    const { deps, mailer, rollups } = setup();
    const result = await closeMonth(deps, { month: '2026-10' });
    // u1: 2M input at $3 + 0.1M output at $15 = $7.50; u2 after the price change: 1M at $2 = $2.00.
    expect(result.report.teams.map((t) => [t.teamId, t.amount])).toEqual([
      ['payments', 750n],
      ['platform', 200n],
      ['_unallocated', 0n],
    ]);
    expect(result.report.grandTotal).toBe(950n);
    expect(result.revision).toBe(1);
    expect(await rollups.readMonth('2026-10')).toHaveLength(3);
    expect(mailer.sent).toHaveLength(1);
    expect(mailer.sent[0]!.subject).toBe('LLM gateway chargeback October 2026: USD 9.50');
    expect(mailer.sent[0]!.attachments[0]!.filename).toBe('chargeback-2026-10.xlsx');
    expect(mailer.sent[0]!.to).toEqual(['finance@contoso.example']);
  });

  it('sends nothing the second time when nothing changed, unless asked to resend', async () => {
    const { deps, mailer } = setup();
    await closeMonth(deps, { month: '2026-10' });
    const again = await closeMonth(deps, { month: '2026-10' });
    expect(again.changed).toBe(false);
    expect(again.mail.status).toBe('already-sent');
    expect(mailer.sent).toHaveLength(1);
    const forced = await closeMonth(deps, { month: '2026-10', resend: true });
    expect(forced.mail.status).toBe('sent');
    expect(mailer.sent).toHaveLength(2);
  });

  it('makes a revision, mailed as revised, when the numbers change after the close', async () => {
    const { deps, mailer, usage, clock } = setup();
    await closeMonth(deps, { month: '2026-10' });
    usage.rows = [...usage.rows, usageRow({ day: '2026-10-31', userId: 'u1', tokens: tokens({ output: 1_000_000 }) })];
    clock.set('2026-11-05T06:00:00Z');
    const revised = await closeMonth(deps, { month: '2026-10' });
    expect(revised.revision).toBe(2);
    expect(revised.changed).toBe(true);
    expect(mailer.sent.map((m) => m.subject)).toEqual([
      'LLM gateway chargeback October 2026: USD 9.50',
      'LLM gateway chargeback October 2026 (revised, revision 2): USD 19.50',
    ]);
    expect(mailer.sent[1]!.attachments[0]!.filename).toBe('chargeback-2026-10-r2.xlsx');
  });

  it('completes exactly on a rerun after the mail failed half-way, sending one mail', async () => {
    const { deps, mailer, rollups, deliveries } = setup();
    mailer.failuresLeft = 1;
    await expect(closeMonth(deps, { month: '2026-10' })).rejects.toBeInstanceOf(AppError);
    expect(deliveries.records.get('2026-10|r1|finance')?.status).toBe('failed');
    const stored = await rollups.readMonth('2026-10');
    const rerun = await closeMonth(deps, { month: '2026-10' });
    expect(rerun.revision).toBe(1);
    expect(rerun.mail.status).toBe('sent');
    expect(mailer.sent).toHaveLength(1);
    expect(await rollups.readMonth('2026-10')).toEqual(stored);
    expect(deliveries.records.get('2026-10|r1|finance')).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('fails before reading any usage when the price book is invalid', async () => {
    const { deps } = setup();
    let read = false;
    const failing: CloseMonthDeps = {
      ...deps,
      priceBooks: { load: async () => Promise.reject(new AppError('PRICE_BOOK_INVALID', 'prices.json: bad')) },
      usageSource: { read: async () => ((read = true), Promise.reject(new Error('should not be read'))) },
    };
    await expect(closeMonth(failing, { month: '2026-10' })).rejects.toMatchObject({ code: 'PRICE_BOOK_INVALID' });
    expect(read).toBe(false);
  });
});
