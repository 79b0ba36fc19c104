import { describe, expect, it } from 'vitest';
import { composeFinanceMail, HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { money } from '../../shared/domain/money.js';
import { buildMonthReport, buildTeamReport, type ReportContext } from '../../shared/domain/report.js';
import { buildMonthlyLines } from '../../shared/domain/rollup.js';
import { testDirectory, testPriceBook, tokens, usageRow, octoberReportContext } from '../support/domain-fixtures.js';

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'payments' },
    { userId: 'u2', teamId: 'payments' },
    { userId: 'u3', teamId: 'platform' },
  ],
  [
    { id: 'payments', name: 'Payments', leads: ['pay-lead@contoso.example'], costCenter: 'CC-1001' },
    { id: 'platform', name: 'Platform', leads: ['plat-lead@contoso.example'], costCenter: 'CC-2002' },
  ],
);

function closedMonth(budgets?: ReportContext['budgets']) {
  const priceBook = testPriceBook();
  const rows = [
    usageRow({ day: '2026-10-02', userId: 'u1', tokens: tokens({ input: 1_000_000 }) }), // 3.00
    usageRow({ day: '2026-10-03', userId: 'u2', model: 'mystery-model', tokens: tokens({ input: 50_000 }) }), // not priced
    usageRow({ day: '2026-10-04', userId: 'u3', tokens: tokens({ input: 2_000_000 }) }), // 6.00
    usageRow({ day: '2026-10-05', userId: '', tokens: tokens({ input: 500_000 }) }), // 1.50, no user id
  ];
  const lines = buildMonthlyLines('2026-10', rows, directory, priceBook);
  const context = octoberReportContext(priceBook, directory.teams, {
    ...(budgets ? { budgets } : {}),
  });
  const report = buildMonthReport(lines, context);
  return { report, team: (teamId: string) => buildTeamReport(lines, report, teamId, context) };
}

const options = (filename: string) => ({
  from: 'chargeback@contoso.example',
  to: ['lead@contoso.example'],
  attachment: { filename, contentType: 'application/octet-stream', content: Buffer.from('') },
  revised: false,
});

describe('the team mail', () => {
  it('marks a model with no price as "not priced", never as a zero amount, and says what that means', () => {
    const mail = new HtmlReportMails().teamMail(closedMonth().team('payments'), options('team.xlsx'));
    const modelRow = mail.text.split('\n').find((line) => line.includes('mystery-model'))!;
    expect(modelRow).toContain('not priced (not charged)');
    expect(modelRow).not.toContain('USD 0.00');
    expect(mail.text).toContain('"Not priced": the price book had no price for the model');
    expect(mail.html).toContain('not priced (not charged)');
  });

  it('gives the cost center, and budget, forecast and remaining when the team has a budget', () => {
    const withBudget = closedMonth(new Map([['payments', { amount: money('2') }]]));
    const mail = new HtmlReportMails().teamMail(withBudget.team('payments'), options('team.xlsx'));
    expect(mail.text).toContain('Cost center: CC-1001');
    expect(mail.text).toContain('Budget: USD 2.00');
    expect(mail.text).toContain('Forecast: USD 3.00 (the month is over: what was spent)');
    expect(mail.text).toContain('Over budget by: USD 1.00');
    const without = new HtmlReportMails().teamMail(closedMonth().team('payments'), options('team.xlsx'));
    expect(without.text).not.toContain('Budget:');
  });

  it('links the lead to the cost page, or names the cost API path, never a command or a server path', () => {
    const { team } = closedMonth();
    const linked = new HtmlReportMails({ urlTemplate: 'https://costs.contoso.example/teams/{teamId}?month={month}' }).teamMail(team('payments'), options('team.xlsx'));
    expect(linked.text).toContain('https://costs.contoso.example/teams/payments?month=2026-10');
    const named = new HtmlReportMails().teamMail(team('payments'), options('team.xlsx'));
    expect(named.text).toContain('the cost API at /api/teams/payments/costs?month=2026-10');
    for (const mail of [linked, named]) expect(`${mail.text}${mail.html}`).not.toMatch(/npm run|chargeback --|\.json\b|\/srv\/|\/home\//);
  });

  it('counts the users who have a user id, not the usage sent without one', () => {
    const { report, team } = closedMonth();
    expect(new HtmlReportMails().teamMail(team('payments'), options('team.xlsx')).text).toContain('Users: 2');
    const unallocated = new HtmlReportMails().teamMail(team('_unallocated'), options('team.xlsx'));
    expect(unallocated.text).toContain('Users: 0');
    expect(report.teams.find((candidate) => candidate.teamId === '_unallocated')!.users).toBe(0);
  });
});

describe('the finance mail', () => {
  it('lists every cost center, adding up to the total, and the teams over budget', () => {
    const { report } = closedMonth(new Map([['payments', { amount: money('2') }], ['platform', { amount: money('10') }]]));
    const mail = composeFinanceMail(report, options('chargeback.xlsx'));
    const section = mail.text.split('By cost center:')[1]!;
    expect(section).toMatch(/CC-1001\s+payments\s+USD 3\.00/);
    expect(section).toMatch(/CC-2002\s+platform\s+USD 6\.00/);
    expect(section).toMatch(/No cost center\s+_unallocated\s+USD 1\.50/);
    expect(section).toMatch(/Total\s+USD 10\.50/);
    expect(mail.text).toContain('Budgets: 2 team(s) with a budget, 1 over it: Payments by USD 1.00');
  });
});

describe('the finance mail\u2019s charts', () => {
  it('shows spend by day, by model and each team\u2019s share as inline PNG images with alt text', () => {
    const { report } = closedMonth();
    const mail = new HtmlReportMails().financeMail(report, options('chargeback.xlsx'));
    const images = mail.attachments.filter((attachment) => attachment.contentId !== undefined);
    expect(images.map((image) => image.filename)).toEqual(['spend-by-day-2026-10.png', 'spend-by-model-2026-10.png', 'team-share-2026-10.png']);
    for (const image of images) {
      expect(image.contentType).toBe('image/png');
      // The PNG signature: a real image, rendered here.
      expect(image.content.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(image.content.readUInt32BE(16)).toBe(640);
      expect(mail.html).toContain(`src="cid:${image.contentId}"`);
    }
    expect(mail.html).toContain('alt="Spend by day in 2026-10; the highest day was 2026-10-04 with USD 6.00."');
    expect(mail.html).toMatch(/alt="Share of the total by team: Platform USD 6\.00, Payments USD 3\.00, Unallocated USD 1\.50\."/);
    // The workbook is still the one file to open.
    expect(mail.attachments.filter((attachment) => attachment.contentId === undefined).map((attachment) => attachment.filename)).toEqual(['chargeback.xlsx']);
  });

  it('leaves the charts out when asked, and for a month without spend', () => {
    const { report } = closedMonth();
    expect(new HtmlReportMails(undefined, { charts: false }).financeMail(report, options('c.xlsx')).attachments).toHaveLength(1);
    expect(new HtmlReportMails().financeMail({ ...report, grandTotal: 0n }, options('c.xlsx')).html).not.toContain('cid:');
  });
});


describe('the download links of a mail', () => {
  const sas = 'https://acct.blob.core.windows.net/artifacts/chargeback.xlsx?sv=2025-01-05&se=2026-11-10T06%3A00%3A00Z&sr=b&sp=r&sig=a%2Bb%3D';
  const { from, to, revised } = options('unused.xlsx');

  it('show each file with its size and the earliest expiry, the URL escaped in the HTML and whole in the text', () => {
    const mail = new HtmlReportMails(undefined, { charts: false }).financeMail(closedMonth().report, {
      from,
      to,
      revised,
      downloads: [
        { kind: 'workbook', filename: 'chargeback.xlsx', url: sas, expiresAt: new Date('2026-11-10T06:00:00Z'), bytes: 26_738_688 },
        { kind: 'focus-export', filename: 'focus.csv', url: 'https://acct.blob.core.windows.net/artifacts/focus.csv?sig=x', expiresAt: new Date('2026-11-09T05:55:00Z') },
      ],
    });
    expect(mail.attachments).toEqual([]);
    expect(mail.text).toContain(`\nDownload:\n  Workbook chargeback.xlsx (too large to attach, 25.5 MB): ${sas}\n  FOCUS cost export focus.csv: https://acct.blob.core.windows.net/artifacts/focus.csv?sig=x\n`);
    expect(mail.text).toContain('until 2026-11-09 05:55 UTC');
    expect(mail.text).toContain('The workbook chargeback.xlsx has every team');
    expect(mail.html).toContain(`<a href="${sas.replaceAll('&', '&amp;')}">Workbook chargeback.xlsx (too large to attach, 25.5 MB)</a>`);
    expect(mail.html).not.toContain('&sr=b');
  });

  it('are absent from a mail with its workbook attached', () => {
    const mail = new HtmlReportMails().teamMail(closedMonth().team('payments'), options('team.xlsx'));
    expect(mail.text).not.toContain('Download:');
    expect(mail.html).not.toContain('<a href');
  });
});
