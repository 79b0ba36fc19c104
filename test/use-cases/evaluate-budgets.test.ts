import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { TableAlertLedger } from '../../shared/adapters/azure/table-alert-ledger.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { RollupTeamSpendSource } from '../../shared/adapters/rollup-team-spend.js';
import { TeamsWebhookNotifier } from '../../shared/adapters/teams-webhook.js';
import { parseBudgetDocument } from '../../shared/domain/budgets.js';
import { dayInZone, monthWindow } from '../../shared/domain/periods.js';
import { buildMonthlyLines } from '../../shared/domain/rollup.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import type { BudgetSource } from '../../shared/ports/budget-source.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { describeAlertCounts, evaluateBudgets, type EvaluateBudgetsDeps } from '../../shared/use-cases/evaluate-budgets.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryRollupStore, RecordingMailer, StaticDirectory, StaticPriceBooks } from '../support/in-memory.js';
import { stubRemoteHttp } from '../support/msw.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const WEBHOOK = 'https://contoso.webhook.office.com/webhookb2/test';
const server = stubRemoteHttp();

const FINANCE = 'finance@contoso.example';
const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'payments', displayName: 'Ada Lovelace' },
    { userId: 'u2', teamId: 'payments', displayName: 'Alan Turing' },
    { userId: 'u3', teamId: 'platform' },
  ],
  [
    { id: 'payments', name: 'Payments', leads: ['pay-lead@contoso.example'] },
    { id: 'platform', name: 'Platform', leads: [] },
  ],
);

const HAIKU = 'claude-haiku-4-5';
/** Haiku input costs $1 per million tokens: spend in whole dollars, exactly. */
const spend = (day: string, userId: string, amount: number) => usageRow({ day, userId, model: HAIKU, tokens: tokens({ input: amount * 1_000_000 }) });

function staticBudgets(document: unknown): BudgetSource {
  return { load: async ({ currency }) => parseBudgetDocument(document, 'test-budgets.json', { currency }) };
}

async function setup(options: { budgets?: unknown; timeZone?: string; now?: string; chat?: boolean } = {}) {
  const rollups = new InMemoryRollupStore();
  const rows: UsageRow[] = [];
  const priceBook = testPriceBook();
  const use = async (month: string, ...more: UsageRow[]) => {
    rows.push(...more);
    await rollups.replaceMonth(month, buildMonthlyLines(month, rows.filter((row) => row.day.startsWith(month)), directory, priceBook));
  };
  const mailer = new RecordingMailer();
  const clock = fixedClock(options.now ?? '2026-10-20T06:00:00Z');
  const spend = new RollupTeamSpendSource(rollups);
  const alerts = await TableAlertLedger.create(tableClientFor(azuriteConnectionString(), uniqueTableName('alerts')));
  const deps: EvaluateBudgetsDeps = {
    budgets: staticBudgets(options.budgets ?? { currency: 'USD', defaults: { forecastThresholds: [] }, teams: [{ teamId: 'payments', amount: '100' }] }),
    priceBooks: new StaticPriceBooks(priceBook),
    spend,
    details: spend,
    directory: new StaticDirectory(directory),
    alerts,
    mailer,
    ...(options.chat ? { chat: new TeamsWebhookNotifier(WEBHOOK) } : {}),
    clock,
    logger: silentLogger,
    settings: {
      timeZone: options.timeZone ?? 'UTC',
      mailFrom: 'chargeback@contoso.example',
      financeRecipients: [FINANCE],
      ccFinance: true,
      costLookupUrl: 'https://costs.contoso.example/teams/{teamId}?month={month}',
      unallocatedAlertPercents: [10, 25, 50],
    },
  };
  return { deps, use, mailer, clock, alerts };
}

describe('evaluating budgets', () => {
  it('tells the leads once at 50%, 80% and 100% as spend grows, finance in copy, and nothing on reruns', async () => {
    const { deps, use, mailer } = await setup();
    await use('2026-10', spend('2026-10-01', 'u1', 30));
    expect((await evaluateBudgets(deps, { today: '2026-10-02' })).alerts).toEqual([]);

    await use('2026-10', spend('2026-10-02', 'u2', 30));
    await evaluateBudgets(deps, { today: '2026-10-03' });
    await evaluateBudgets(deps, { today: '2026-10-03' });
    await use('2026-10', spend('2026-10-05', 'u1', 24));
    await evaluateBudgets(deps, { today: '2026-10-06' });
    await use('2026-10', spend('2026-10-06', 'u1', 16));
    const last = await evaluateBudgets(deps, { today: '2026-10-07' });
    await evaluateBudgets(deps, { today: '2026-10-08' });

    expect(mailer.sent.map((mail) => mail.subject)).toEqual([
      'Budget alert: Payments has spent 60.0% of its October 2026 LLM budget',
      'Budget alert: Payments has spent 84.0% of its October 2026 LLM budget',
      'Budget alert: Payments has spent 100.0% of its October 2026 LLM budget',
    ]);
    expect(mailer.sent.every((mail) => mail.to.join() === 'pay-lead@contoso.example' && mail.cc?.join() === FINANCE)).toBe(true);
    const text = mailer.sent[2]!.text;
    expect(text).toContain('Spent so far: USD 100.00 (100.0%)');
    expect(text).toContain('Budget: USD 100.00');
    expect(text).toContain('Top users: Ada Lovelace USD 70.00');
    expect(text).toContain('Top models: claude-haiku-4-5 USD 100.00');
    expect(text).toContain('Days left: 25 (18 working, 7 weekend)');
    expect(text).toContain('https://costs.contoso.example/teams/payments?month=2026-10');
    // Leads do not run the CLI: the mail links to the cost page, never to a command.
    expect(mailer.sent.every((mail) => !/npm run|chargeback --/.test(`${mail.text}${mail.html}`))).toBe(true);
    expect(last.alerts.map((a) => [a.key, a.status])).toEqual([
      ['2026-10|budget|payments|actual|50', 'already-sent'],
      ['2026-10|budget|payments|actual|80', 'already-sent'],
      ['2026-10|budget|payments|actual|100', 'sent'],
    ]);
  });

  it('sends only the highest of several thresholds crossed at once, and never the lower ones later', async () => {
    const { deps, use, mailer, alerts } = await setup();
    await use('2026-10', spend('2026-10-01', 'u1', 120));
    const result = await evaluateBudgets(deps, { today: '2026-10-02' });
    expect(result.alerts.map((a) => a.status)).toEqual(['superseded', 'superseded', 'sent']);
    expect(await alerts.get('2026-10|budget|payments|actual|50', 'mail')).toMatchObject({ state: 'superseded' });
    await evaluateBudgets(deps, { today: '2026-10-03' });
    expect(mailer.sent.map((mail) => mail.subject)).toEqual(['Budget alert: Payments has spent 120.0% of its October 2026 LLM budget']);
  });

  it('warns when the forecast reaches the budget before spend does', async () => {
    const { deps, use, mailer } = await setup({ budgets: { currency: 'USD', teams: [{ teamId: 'payments', amount: '150' }] } });
    // $5 every day from the 1st to the 7th: $35 spent (23%), $155 by the month's end.
    await use('2026-10', ...['01', '02', '03', '04', '05', '06', '07'].map((d) => spend(`2026-10-${d}`, 'u1', 5)));
    const result = await evaluateBudgets(deps, { today: '2026-10-08' });
    expect(result.teams[0]!.forecast.forecast.toFixed()).toBe('155');
    expect(result.alerts.map((a) => [a.key, a.status])).toEqual([['2026-10|budget|payments|forecast|100', 'sent']]);
    expect(mailer.sent[0]!.subject).toBe('Budget forecast: Payments is on track to spend 103.3% of its October 2026 LLM budget');
    expect(mailer.sent[0]!.text).toContain('Forecast for the month: USD 155.00 (103.3%), at USD 5.00 per working day and USD 5.00 per weekend day');
  });

  it('sends one mail when two evaluations race on the same alert ledger', async () => {
    const { deps, use, mailer } = await setup();
    await use('2026-10', spend('2026-10-01', 'u1', 90));
    const results = await Promise.all([evaluateBudgets(deps, { today: '2026-10-02' }), evaluateBudgets(deps, { today: '2026-10-02' })]);
    expect(mailer.sent).toHaveLength(1);
    const statuses = results.flatMap((r) => r.alerts.filter((a) => a.key.endsWith('|80')).map((a) => a.status)).sort();
    expect(statuses[statuses.length - 1]).toBe('sent');
    expect(statuses.filter((s) => s === 'sent')).toHaveLength(1);
  });

  it('retries a failed Teams webhook on the next run without mailing again', async () => {
    let calls = 0;
    server.use(
      http.post(WEBHOOK, () => {
        calls += 1;
        return calls === 1 ? new HttpResponse('boom', { status: 500 }) : new HttpResponse('1', { status: 200 });
      }),
    );
    const { deps, use, mailer, alerts } = await setup({ chat: true });
    await use('2026-10', spend('2026-10-01', 'u1', 55));
    const first = await evaluateBudgets(deps, { today: '2026-10-02' });
    expect(first.alerts.map((a) => [a.channel, a.status])).toEqual([
      ['mail', 'sent'],
      ['teams', 'failed'],
    ]);
    expect(await alerts.get('2026-10|budget|payments|actual|50', 'teams')).toMatchObject({ state: 'failed', lastError: expect.stringContaining('HTTP 500') });
    const second = await evaluateBudgets(deps, { today: '2026-10-02' });
    expect(second.alerts.map((a) => [a.channel, a.status])).toEqual([
      ['mail', 'already-sent'],
      ['teams', 'sent'],
    ]);
    await evaluateBudgets(deps, { today: '2026-10-03' });
    expect(calls).toBe(2);
    expect(mailer.sent).toHaveLength(1);
    expect(await alerts.get('2026-10|budget|payments|actual|50', 'teams')).toMatchObject({ state: 'sent', attempts: 2 });
  });

  it('tells finance once about a model with no price and about a jump in unallocated usage', async () => {
    const { deps, use, mailer } = await setup({ budgets: { currency: 'USD', teams: [] } });
    await use(
      '2026-10',
      usageRow({ day: '2026-10-01', userId: 'u3', model: 'mystery-model-9', tokens: tokens({ input: 5_000 }) }),
      usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 60_000 }) }),
      usageRow({ day: '2026-10-02', userId: '', tokens: tokens({ input: 35_000 }) }),
    );
    const result = await evaluateBudgets(deps, { today: '2026-10-03' });
    await evaluateBudgets(deps, { today: '2026-10-04' });
    expect(result.alerts.map((a) => [a.key, a.status])).toEqual([
      ['2026-10|unpriced|mystery-model-9', 'sent'],
      ['2026-10|unallocated|10', 'superseded'],
      ['2026-10|unallocated|25', 'sent'],
    ]);
    expect(mailer.sent.map((mail) => [mail.to.join(), mail.subject])).toEqual([
      [FINANCE, 'Finance alert: model "mystery-model-9" has no price (October 2026)'],
      [FINANCE, 'Finance alert: 35.0% of October 2026 LLM usage is unallocated'],
    ]);
    expect(mailer.sent[0]!.text).toContain('Teams using it: platform');
    // No server path in a mail: the price book is named by its version.
    expect(mailer.sent[0]!.text).toContain(`Price book version: ${testPriceBook().version}`);
    for (const mail of mailer.sent) expect(`${mail.text}${mail.html}`).not.toMatch(/npm run|\.json|\/srv\/|[A-Z]:\\/);
  });

  it('explains every alert status word where a run summary counts them', () => {
    expect(describeAlertCounts([])).toBe('none due');
    expect(describeAlertCounts([{ status: 'superseded' }, { status: 'superseded' }, { status: 'sent' }])).toBe(
      '2 superseded (not sent: a higher alert level of the same kind speaks for it), 1 sent (sent now)',
    );
  });

  it('names the cost API path for the lead when no cost page URL is set', async () => {
    const { deps, use, mailer } = await setup();
    const withoutPage: EvaluateBudgetsDeps = { ...deps, settings: { ...deps.settings, costLookupUrl: null } };
    await use('2026-10', spend('2026-10-01', 'u1', 60));
    await evaluateBudgets(withoutPage, { today: '2026-10-02' });
    expect(mailer.sent).toHaveLength(1);
    expect(mailer.sent[0]!.text).toContain('the cost API at /api/teams/payments/costs?month=2026-10');
    expect(mailer.sent[0]!.text).not.toMatch(/npm run|budgets check/);
  });

  it('sends a team with no lead to finance, saying so', async () => {
    const { deps, use, mailer } = await setup({ budgets: { currency: 'USD', defaults: { forecastThresholds: [] }, teams: [{ teamId: 'platform', amount: '10' }] } });
    await use('2026-10', spend('2026-10-01', 'u3', 6));
    await evaluateBudgets(deps, { today: '2026-10-02' });
    expect(mailer.sent.map((mail) => [mail.to.join(), mail.cc ?? []])).toEqual([[FINANCE, []]]);
    expect(mailer.sent[0]!.text).toContain('Platform has no lead in the directory');
  });

  it('counts a spend late on 31 October UTC in November in Paris, after the clocks went back', async () => {
    const zone = 'Europe/Paris';
    const late = new Date('2026-10-31T23:30:00Z');
    // CET (UTC+1) since 25 October: November starts at 23:00 UTC on the 31st.
    expect(monthWindow('2026-11', zone).start.toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(dayInZone(late, zone)).toBe('2026-11-01');
    const { deps, use, mailer } = await setup({
      timeZone: zone,
      now: '2026-10-31T23:45:00Z',
      budgets: { currency: 'USD', defaults: { forecastThresholds: [] }, teams: [{ teamId: 'payments', amount: '10' }] },
    });
    await use('2026-11', spend(dayInZone(late, zone), 'u1', 6));
    const november = await evaluateBudgets(deps);
    expect([november.month, november.today]).toEqual(['2026-11', '2026-11-01']);
    expect(november.alerts.map((a) => a.key)).toEqual(['2026-11|budget|payments|actual|50']);
    const october = await evaluateBudgets(deps, { month: '2026-10' });
    expect(october.teams[0]!.forecast.actual.toFixed()).toBe('0');
    expect(october.teams[0]!.daysLeft).toBe(0);
    expect(mailer.sent.map((mail) => mail.subject)).toEqual(['Budget alert: Payments has spent 60.0% of its November 2026 LLM budget']);
  });
});
