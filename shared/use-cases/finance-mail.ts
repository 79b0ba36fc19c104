import { UNALLOCATED_TEAM } from '../domain/directory.js';
import { formatMinorUnits } from '../domain/money.js';
import type { MonthReport } from '../domain/report.js';
import { totalTokens } from '../domain/tokens.js';
import type { MailAttachment, OutgoingMail } from '../ports/mailer.js';

const monthNames = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export function monthLabel(month: string): string {
  const [year, mon] = month.split('-');
  return `${monthNames[Number(mon) - 1]} ${year}`;
}

export function formatAmount(units: bigint, currency: string): string {
  const [whole, fraction] = formatMinorUnits(units).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${currency} ${grouped}.${fraction}`;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The monthly finance mail: headline numbers in the body, the workbook attached. */
export function composeFinanceMail(
  report: MonthReport,
  options: { from: string; to: readonly string[]; attachment: MailAttachment; revised: boolean },
): Omit<OutgoingMail, 'idempotencyKey'> {
  const label = monthLabel(report.month);
  const total = formatAmount(report.grandTotal, report.currency);
  const revision = options.revised ? ` (revised, revision ${report.revision})` : '';
  const subject = `LLM gateway chargeback ${label}${revision}: ${total}`;
  const teams = [...report.teams].sort((a, b) => (b.amount > a.amount ? 1 : b.amount < a.amount ? -1 : a.teamId.localeCompare(b.teamId)));
  const unallocated = report.teams.find((team) => team.teamId === UNALLOCATED_TEAM);
  const unpricedTokens = report.models.reduce((sum, model) => sum + model.unpricedTokens, 0);
  const facts = [
    `Total: ${total}`,
    `Tokens: ${totalTokens(report.tokens).toLocaleString('en-US')} in ${report.requests.toLocaleString('en-US')} requests`,
    `Unallocated: ${formatAmount(unallocated?.amount ?? 0n, report.currency)} (${(unallocated ? totalTokens(unallocated.tokens) : 0).toLocaleString('en-US')} tokens)`,
    `Unpriced tokens: ${unpricedTokens.toLocaleString('en-US')}${unpricedTokens > 0 ? ' (models with no price: see the Unpriced sheet)' : ''}`,
    `Rejected source rows: ${report.rejects.count}`,
  ];
  const text = [
    `LLM gateway chargeback for ${label}${revision}`,
    '',
    ...facts,
    '',
    'By team:',
    ...teams.map((team) => `  ${team.teamName.padEnd(28)} ${formatAmount(team.amount, report.currency).padStart(18)}`),
    '',
    `The workbook ${options.attachment.filename} has users, models, tiers, the prices used and the run details.`,
    `Price book ${report.priceBookVersion}; month in ${report.timeZone}.`,
  ].join('\n');
  const rows = teams
    .map(
      (team) =>
        `<tr><td style="padding:4px 12px 4px 0">${escapeHtml(team.teamName)}</td><td style="padding:4px 0;text-align:right;font-family:Consolas,monospace">${escapeHtml(formatAmount(team.amount, report.currency))}</td></tr>`,
    )
    .join('');
  const html = `<!doctype html><html><body style="font-family:Segoe UI,Arial,sans-serif;color:#222">
<h2 style="margin:0 0 8px">LLM gateway chargeback for ${escapeHtml(label)}${escapeHtml(revision)}</h2>
<p style="font-size:20px;margin:0 0 12px"><strong>${escapeHtml(total)}</strong></p>
<ul>${facts.slice(1).map((fact) => `<li>${escapeHtml(fact)}</li>`).join('')}</ul>
<table style="border-collapse:collapse"><thead><tr><th style="text-align:left;padding:4px 12px 4px 0">Team</th><th style="text-align:right">Amount</th></tr></thead><tbody>${rows}</tbody></table>
<p style="color:#555">The attached workbook has users, models, tiers, the prices used and the run details. Price book ${escapeHtml(report.priceBookVersion)}; month in ${escapeHtml(report.timeZone)}.</p>
</body></html>`;
  return { from: options.from, to: options.to, subject, text, html, attachments: [options.attachment] };
}
