import { UNALLOCATED_TEAM } from '../domain/directory.js';
import { formatMinorUnits } from '../domain/money.js';
import type { MonthReport } from '../domain/report.js';
import { totalTokens } from '../domain/tokens.js';
import type { MailAttachment, OutgoingMail } from '../ports/mailer.js';
import { mailBilling } from './billing-mail.js';

const monthNames = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
/** How many teams, users and models a mail lists before summing the rest into one row. */
export const TOP_ROWS = 5;

export function monthLabel(month: string): string {
  const [year, mon] = month.split('-');
  return `${monthNames[Number(mon) - 1]} ${year}`;
}

export function formatAmount(units: bigint, currency: string): string {
  const [whole, fraction] = formatMinorUnits(units).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${currency} ${grouped}.${fraction}`;
}

/** A signed difference with its percentage, e.g. "+USD 12.30 (+4.1%)"; the percentage is left out from zero. */
export function formatChange(previous: bigint, current: bigint, currency: string): string {
  const difference = current - previous;
  const sign = difference > 0n ? '+' : difference < 0n ? '-' : '\u00b1';
  const amount = `${sign}${formatAmount(difference < 0n ? -difference : difference, currency)}`;
  if (previous === 0n) return amount;
  const percent = (Number(difference) / Number(previous)) * 100;
  return `${amount} (${percent > 0 ? '+' : ''}${percent.toFixed(1)}%)`;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const count = (n: number) => n.toLocaleString('en-US');

const FONT = 'font-family:Segoe UI,Helvetica,Arial,sans-serif';
const CELL = 'padding:4px 16px 4px 0;border-bottom:1px solid #e5e5e5';
const NUMBER = `${CELL};text-align:right;white-space:nowrap`;

interface MailTable {
  readonly headers: readonly string[];
  /** Which columns hold numbers (right-aligned). */
  readonly numeric: readonly boolean[];
  readonly rows: readonly (readonly string[])[];
  readonly total?: readonly string[];
}

/** A data table with inline styles only: clients that strip <style> and block images still show it right. */
function htmlTable(table: MailTable): string {
  const cell = (text: string, index: number, tag: 'td' | 'th', extra = '') =>
    `<${tag} style="${table.numeric[index] ? NUMBER : CELL};${tag === 'th' ? 'font-weight:bold;' : ''}${extra}"${tag === 'th' ? ' align="left"' : ''}>${escapeHtml(text)}</${tag}>`;
  const head = `<tr>${table.headers.map((header, index) => cell(header, index, 'th')).join('')}</tr>`;
  const body = table.rows.map((row) => `<tr>${row.map((text, index) => cell(text, index, 'td')).join('')}</tr>`).join('');
  const total = table.total ? `<tr>${table.total.map((text, index) => cell(text, index, 'td', 'font-weight:bold;border-top:2px solid #444')).join('')}</tr>` : '';
  return `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;${FONT};font-size:14px;margin:0 0 16px">${head}${body}${total}</table>`;
}

/** The same table as aligned plain text, for the text part. */
function textTable(table: MailTable): string {
  const all = [table.headers, ...table.rows, ...(table.total ? [table.total] : [])];
  const widths = table.headers.map((_, index) => Math.max(...all.map((row) => row[index]!.length)));
  const line = (row: readonly string[]) => `  ${row.map((text, index) => (table.numeric[index] ? text.padStart(widths[index]!) : text.padEnd(widths[index]!))).join('  ')}`.trimEnd();
  const rule = `  ${widths.map((width) => '-'.repeat(width)).join('  ')}`;
  return [line(table.headers), rule, ...table.rows.map(line), ...(table.total ? [rule, line(table.total)] : [])].join('\n');
}

interface MailContent {
  readonly heading: string;
  readonly headline: string;
  readonly facts: readonly (readonly [string, string])[];
  readonly sections: readonly { readonly title: string; readonly table: MailTable }[];
  readonly footer: readonly string[];
}

function renderHtml(content: MailContent): string {
  const facts = content.facts
    .map(([label, value]) => `<tr><td style="padding:2px 16px 2px 0;color:#555">${escapeHtml(label)}</td><td style="padding:2px 0">${escapeHtml(value)}</td></tr>`)
    .join('');
  const sections = content.sections
    .map((section) => `<h2 style="${FONT};font-size:16px;margin:16px 0 6px">${escapeHtml(section.title)}</h2>${htmlTable(section.table)}`)
    .join('');
  const footer = content.footer.map((text) => `<p style="${FONT};font-size:12px;color:#555;margin:0 0 6px">${escapeHtml(text)}</p>`).join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(content.heading)}</title></head>
<body style="margin:0;padding:0;background:#ffffff;color:#222">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse"><tr><td style="padding:16px;${FONT};color:#222">
<h1 style="${FONT};font-size:20px;margin:0 0 8px">${escapeHtml(content.heading)}</h1>
<p style="${FONT};font-size:24px;font-weight:bold;margin:0 0 12px">${escapeHtml(content.headline)}</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;${FONT};font-size:14px;margin:0 0 8px">${facts}</table>
${sections}
${footer}
</td></tr></table>
</body></html>`;
}

function renderText(content: MailContent): string {
  return [
    content.heading,
    '',
    content.headline,
    '',
    ...content.facts.map(([label, value]) => `${label}: ${value}`),
    ...content.sections.flatMap((section) => ['', `${section.title}:`, textTable(section.table)]),
    '',
    ...content.footer,
  ].join('\n');
}

function byAmountDescending<T extends { readonly amount: bigint }>(items: readonly T[], name: (item: T) => string): T[] {
  return [...items].sort((a, b) => (b.amount > a.amount ? 1 : b.amount < a.amount ? -1 : name(a).localeCompare(name(b))));
}

/** The first `TOP_ROWS` rows and, when there are more, one row summing the rest, so the rows add up to the total. */
function topRows<T extends { readonly amount: bigint }>(items: readonly T[], row: (item: T) => string[], rest: (others: number, amount: bigint) => string[]): string[][] {
  const shown = items.slice(0, TOP_ROWS).map(row);
  const others = items.slice(TOP_ROWS);
  if (others.length > 0) shown.push(rest(others.length, others.reduce((sum, item) => sum + item.amount, 0n)));
  return shown;
}

function lastMonthFacts(report: MonthReport, what: string): [string, string][] {
  const previous = report.previousMonth;
  if (!previous) return [['Change from last month', 'not available (the month before was not closed)']];
  return [
    [`${what} ${monthLabel(previous.month)}`, formatAmount(previous.grandTotal, report.currency)],
    ['Change from last month', formatChange(previous.grandTotal, report.grandTotal, report.currency)],
  ];
}

function revisionLabel(report: MonthReport, revised: boolean): string {
  return revised ? ` (revised, revision ${report.revision})` : '';
}

/** The monthly finance mail: headline numbers in the body, the workbook attached. */
export function composeFinanceMail(
  report: MonthReport,
  options: { from: string; to: readonly string[]; attachment: MailAttachment; revised: boolean },
): Omit<OutgoingMail, 'idempotencyKey'> {
  const label = monthLabel(report.month);
  const total = formatAmount(report.grandTotal, report.currency);
  const revision = revisionLabel(report, options.revised);
  const bill = mailBilling(report, formatAmount);
  const charge = formatAmount(bill.charge, report.billing?.trueUp.currency ?? report.currency);
  const subject = `LLM gateway chargeback ${label}${revision}${bill.subjectSuffix}: ${charge}`;
  const unallocated = report.teams.find((team) => team.teamId === UNALLOCATED_TEAM);
  const unpricedTokens = report.models.reduce((sum, model) => sum + model.unpricedTokens, 0);
  const previousOf = new Map((report.previousMonth?.teams ?? []).map((team) => [team.teamId, team.amount]));
  const withPrevious = report.previousMonth !== undefined;

  const facts: [string, string][] = [
    ...bill.facts,
    // Trued up, the list total is already shown as the estimate beside the charge.
    ...(bill.truedUp ? [] : [['Total', total] as [string, string]]),
    ...lastMonthFacts(report, 'Last month,'),
    ['Tokens', `${count(totalTokens(report.tokens))} in ${count(report.requests)} requests`],
    ['Unallocated', `${formatAmount(unallocated?.amount ?? 0n, report.currency)} (${count(unallocated ? totalTokens(unallocated.tokens) : 0)} tokens)`],
    ['Unpriced tokens', `${count(unpricedTokens)}${unpricedTokens > 0 ? ' (models with no price: see the Unpriced sheet)' : ''}`],
    ['Rejected source rows', count(report.rejects.count)],
  ];
  if (report.changes) {
    const { previous, current } = report.changes.grandTotal;
    facts.unshift([
      'Revised',
      previous === null
        ? `replaces revision ${report.changes.previousRevision}; see the Changes sheet`
        : `replaces revision ${report.changes.previousRevision} (${formatAmount(previous, report.currency)}): ${formatChange(previous, current, report.currency)}; see the Changes sheet`,
    ]);
  }

  const teams = byAmountDescending(report.teams, (team) => team.teamId);
  const billedColumn = (amount: string) => (bill.truedUp ? [amount] : []);
  const teamRow = (team: (typeof teams)[number]) => [
    team.teamName,
    formatAmount(team.amount, report.currency),
    ...billedColumn(formatAmount(bill.billedOfTeam.get(team.teamId) ?? 0n, report.currency)),
    ...(withPrevious ? [formatChange(previousOf.get(team.teamId) ?? 0n, team.amount, report.currency)] : []),
  ];
  const billedOfOthers = teams.slice(TOP_ROWS).reduce((sum, team) => sum + (bill.billedOfTeam.get(team.teamId) ?? 0n), 0n);
  const teamTable: MailTable = {
    headers: ['Team', bill.truedUp ? 'List amount' : 'Amount', ...billedColumn('Billed (charge)'), ...(withPrevious ? ['Change from last month'] : [])],
    numeric: [false, true, true, true],
    rows: topRows(teams, teamRow, (others, amount) => [`${others} other team(s)`, formatAmount(amount, report.currency), ...billedColumn(formatAmount(billedOfOthers, report.currency)), ...(withPrevious ? [''] : [])]),
    total: [
      'Total',
      total,
      ...billedColumn(formatAmount(sumOf(bill.billedOfTeam), report.currency)),
      ...(withPrevious ? [formatChange(report.previousMonth!.grandTotal, report.grandTotal, report.currency)] : []),
    ],
  };

  const content: MailContent = {
    heading: `LLM gateway chargeback for ${label}${revision}${bill.subjectSuffix}`,
    headline: charge,
    facts,
    sections: [{ title: teams.length > TOP_ROWS ? `Top ${TOP_ROWS} teams` : 'By team', table: teamTable }],
    footer: [
      `The workbook ${options.attachment.filename} has every team, user, model, tier and day, the prices used and the run details.`,
      `Price book ${report.priceBookVersion}; month in ${report.timeZone}; revision ${report.revision}.`,
    ],
  };
  return {
    from: options.from,
    to: options.to,
    subject,
    text: renderText(content),
    html: renderHtml(content),
    attachments: [options.attachment],
  };
}

/** The mail to one team's leads: the team's figures in the body, the team's own workbook attached. */
export function composeTeamMail(
  report: MonthReport,
  options: { from: string; to: readonly string[]; attachment: MailAttachment; revised: boolean },
): Omit<OutgoingMail, 'idempotencyKey'> {
  const scope = report.scope;
  if (!scope) throw new Error('a team mail needs a team report');
  const label = monthLabel(report.month);
  const total = formatAmount(report.grandTotal, report.currency);
  const revision = revisionLabel(report, options.revised);
  const bill = mailBilling(report, formatAmount);
  const unpricedTokens = report.models.reduce((sum, model) => sum + model.unpricedTokens, 0);
  const facts: [string, string][] = [
    ...bill.facts,
    ['Team total', total],
    ...lastMonthFacts(report, 'Last month,'),
    ['Users', count(report.users.length)],
    ['Tokens', `${count(totalTokens(report.tokens))} in ${count(report.requests)} requests`],
    ...(unpricedTokens > 0 ? [['Unpriced tokens (not charged)', count(unpricedTokens)] as [string, string]] : []),
  ];
  if (options.revised) facts.unshift(['Revised', `these figures replace the ones sent for an earlier revision of ${label}`]);

  const users = byAmountDescending(report.users, (user) => user.userName || user.userId);
  const models = byAmountDescending(report.models, (model) => model.model);
  const userTable: MailTable = {
    headers: ['User', 'Tokens', 'Amount'],
    numeric: [false, true, true],
    rows: topRows(
      users,
      (user) => [user.userName || user.upn || user.userId || '(no user id)', count(totalTokens(user.tokens)), formatAmount(user.amount, report.currency)],
      (others, amount) => [`${others} other user(s)`, '', formatAmount(amount, report.currency)],
    ),
    total: ['Total', count(totalTokens(report.tokens)), total],
  };
  const modelTable: MailTable = {
    headers: ['Model', 'Tokens', 'Amount'],
    numeric: [false, true, true],
    rows: topRows(
      models,
      (model) => [model.model, count(totalTokens(model.tokens)), formatAmount(model.amount, report.currency)],
      (others, amount) => [`${others} other model(s)`, '', formatAmount(amount, report.currency)],
    ),
    total: ['Total', count(totalTokens(report.tokens)), total],
  };
  const content: MailContent = {
    heading: `LLM gateway usage of ${scope.teamName}, ${label}${revision}`,
    headline: total,
    facts,
    sections: [
      { title: users.length > TOP_ROWS ? `Top ${TOP_ROWS} users` : 'Users', table: userTable },
      { title: models.length > TOP_ROWS ? `Top ${TOP_ROWS} models` : 'Models', table: modelTable },
    ],
    footer: [
      `The workbook ${options.attachment.filename} has every user, model, tier and day of your team, and the prices used.`,
      `This is what your team is charged in the finance report; price book ${report.priceBookVersion}; month in ${report.timeZone}.`,
    ],
  };
  return {
    from: options.from,
    to: options.to,
    subject: `LLM gateway usage ${label}${revision}${bill.subjectSuffix}: ${scope.teamName} ${formatAmount(bill.charge, report.currency)}`,
    text: renderText(content),
    html: renderHtml(content),
    attachments: [options.attachment],
  };
}

function sumOf(amounts: ReadonlyMap<string, bigint>): bigint {
  let total = 0n;
  for (const amount of amounts.values()) total += amount;
  return total;
}
