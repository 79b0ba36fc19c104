import { formatAmount, formatChange, monthLabel } from '../../domain/amount-text.js';
import { UNALLOCATED_TEAM } from '../../domain/directory.js';
import { costCenterTotals, type ReportWithoutLines, type TeamSummary } from '../../domain/report.js';
import { totalTokens, type TokenCounts } from '../../domain/tokens.js';
import type { OutgoingMail } from '../../ports/mailer.js';
import type { MailDownload, MailReport, ReportMailOptions, ReportMails } from '../../ports/report-mails.js';
import { mailBilling } from './billing-mail.js';
import { financeCharts, type ChartImage } from './charts.js';

/**
 * Where a lead looks a team's costs up: the cost page when its address is known (COST_LOOKUP_URL, a template
 * with {teamId} and {month}), otherwise the cost API's path. Never a command: leads do not run the CLI.
 */
export interface CostPage {
  readonly urlTemplate: string | null;
}

/** The finance and team mails of a close as HTML (inline styles only) with a plain-text part. */
export class HtmlReportMails implements ReportMails {
  constructor(
    private readonly costPage: CostPage = { urlTemplate: null },
    private readonly options: { readonly charts: boolean } = { charts: true },
  ) {}

  financeMail(report: MailReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'> {
    return composeFinanceMail(report, { ...options, charts: this.options.charts ? financeCharts(report) : [] });
  }

  teamMail(report: MailReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'> {
    return composeTeamMail(report, { ...options, costPage: this.costPage });
  }
}

/** The sentence that tells a lead where the team's costs are, any day of the month. */
export function costPageLine(costPage: CostPage, teamId: string, month: string): string {
  if (costPage.urlTemplate) {
    const url = costPage.urlTemplate.replaceAll('{teamId}', encodeURIComponent(teamId)).replaceAll('{month}', encodeURIComponent(month));
    return `Your team's costs, by user, model and day, any day of the month: ${url}`;
  }
  return `Your team's costs, by user, model and day, any day of the month: the cost API at /api/teams/${encodeURIComponent(teamId)}/costs?month=${encodeURIComponent(month)} (sign in with your work account).`;
}

/** A model's amount, or that it had no price: an unpriced model is "not priced", never a zero amount. */
function modelAmount(model: { readonly amount: bigint; readonly unpricedTokens: number; readonly tokens: TokenCounts }, currency: string): string {
  if (model.unpricedTokens === 0) return formatAmount(model.amount, currency);
  if (model.unpricedTokens === totalTokens(model.tokens)) return 'not priced (not charged)';
  return `${formatAmount(model.amount, currency)} + ${count(model.unpricedTokens)} tokens not priced`;
}

function budgetFacts(team: TeamSummary | undefined, currency: string): [string, string][] {
  const budget = team?.budget;
  if (!budget) return [];
  return [
    ['Budget', formatAmount(budget.amount, currency)],
    ['Forecast', `${formatAmount(budget.forecast, currency)} (the month is over: what was spent)`],
    budget.remaining < 0n
      ? ['Over budget by', formatAmount(-budget.remaining, currency)]
      : ['Remaining', formatAmount(budget.remaining, currency)],
  ];
}

/** How many teams, users and models a mail lists before summing the rest into one row. */
export const TOP_ROWS = 5;

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
  /** Inline images shown after the tables (HTML part only); each carries its alt text. */
  readonly images?: readonly ChartImage[];
  /** Files to download rather than open from the mail: links that expire, with a note saying when. */
  readonly downloads?: DownloadSection;
  readonly footer: readonly string[];
}

interface DownloadSection {
  readonly note: string;
  readonly items: readonly { readonly label: string; readonly url: string }[];
}

/** The mail's download links, if any: what each file is, and until when the links work. */
function downloadSection(downloads: readonly MailDownload[] | undefined): DownloadSection | undefined {
  if (!downloads || downloads.length === 0) return undefined;
  const megabytes = (bytes: number) => (bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / (1024 * 1024)).toFixed(1)} MB`);
  const items = downloads.map((download) => ({
    label:
      download.kind === 'workbook'
        ? `Workbook ${download.filename} (too large to attach${download.bytes === undefined ? '' : `, ${megabytes(download.bytes)}`})`
        : `FOCUS cost export ${download.filename}${download.bytes === undefined ? '' : ` (${megabytes(download.bytes)})`}`,
    url: download.url,
  }));
  const until = new Date(Math.min(...downloads.map((download) => download.expiresAt.getTime())));
  return {
    note: `The links work without signing in until ${until.toISOString().slice(0, 16).replace('T', ' ')} UTC, so forward them only to people who may see these figures. Later, ask the operator to send this mail again with new links.`,
    items,
  };
}

function withDownloads(options: ReportMailOptions): { downloads?: DownloadSection } {
  const section = downloadSection(options.downloads);
  return section ? { downloads: section } : {};
}

/** The workbook's file name, attached or linked. */
function workbookFilename(options: ReportMailOptions): string {
  return options.attachment?.filename ?? options.downloads?.find((download) => download.kind === 'workbook')?.filename ?? 'workbook';
}

function renderHtml(content: MailContent): string {
  const facts = content.facts
    .map(([label, value]) => `<tr><td style="padding:2px 16px 2px 0;color:#555">${escapeHtml(label)}</td><td style="padding:2px 0">${escapeHtml(value)}</td></tr>`)
    .join('');
  const sections = content.sections
    .map((section) => `<h2 style="${FONT};font-size:16px;margin:16px 0 6px">${escapeHtml(section.title)}</h2>${htmlTable(section.table)}`)
    .join('');
  const images = (content.images ?? [])
    .map((image) => `<p style="margin:0 0 12px"><img src="cid:${escapeHtml(image.contentId)}" alt="${escapeHtml(image.altText)}" width="640" style="display:block;max-width:100%;height:auto;border:0"></p>`)
    .join('');
  const downloads = content.downloads
    ? `<h2 style="${FONT};font-size:16px;margin:16px 0 6px">Download</h2><ul style="${FONT};font-size:14px;margin:0 0 8px;padding-left:20px">${content.downloads.items
        .map((item) => `<li style="margin:0 0 4px"><a href="${escapeHtml(item.url)}">${escapeHtml(item.label)}</a></li>`)
        .join('')}</ul><p style="${FONT};font-size:12px;color:#555;margin:0 0 12px">${escapeHtml(content.downloads.note)}</p>`
    : '';
  const footer = content.footer.map((text) => `<p style="${FONT};font-size:12px;color:#555;margin:0 0 6px">${escapeHtml(text)}</p>`).join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(content.heading)}</title></head>
<body style="margin:0;padding:0;background:#ffffff;color:#222">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse"><tr><td style="padding:16px;${FONT};color:#222">
<h1 style="${FONT};font-size:20px;margin:0 0 8px">${escapeHtml(content.heading)}</h1>
<p style="${FONT};font-size:24px;font-weight:bold;margin:0 0 12px">${escapeHtml(content.headline)}</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;${FONT};font-size:14px;margin:0 0 8px">${facts}</table>
${sections}
${images}
${downloads}
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
    ...(content.downloads ? ['', 'Download:', ...content.downloads.items.map((item) => `  ${item.label}: ${item.url}`), content.downloads.note] : []),
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

function lastMonthFacts(report: ReportWithoutLines, what: string): [string, string][] {
  const previous = report.previousMonth;
  if (!previous) return [['Change from last month', 'not available (the month before was not closed)']];
  return [
    [`${what} ${monthLabel(previous.month)}`, formatAmount(previous.grandTotal, report.currency)],
    ['Change from last month', formatChange(previous.grandTotal, report.grandTotal, report.currency)],
  ];
}

function revisionLabel(report: ReportWithoutLines, revised: boolean): string {
  return revised ? ` (revised, revision ${report.revision})` : '';
}

/** The monthly finance mail: headline numbers in the body, the workbook attached. */
export function composeFinanceMail(
  report: ReportWithoutLines,
  options: ReportMailOptions & { readonly charts?: readonly ChartImage[] },
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
    ...controlFacts(report),
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
    team.costCenter ?? '',
    formatAmount(team.amount, report.currency),
    ...billedColumn(formatAmount(bill.billedOfTeam.get(team.teamId) ?? 0n, report.currency)),
    ...(withPrevious ? [formatChange(previousOf.get(team.teamId) ?? 0n, team.amount, report.currency)] : []),
  ];
  const billedOfOthers = teams.slice(TOP_ROWS).reduce((sum, team) => sum + (bill.billedOfTeam.get(team.teamId) ?? 0n), 0n);
  const teamTable: MailTable = {
    headers: ['Team', 'Cost center', bill.truedUp ? 'List amount' : 'Amount', ...billedColumn('Billed (charge)'), ...(withPrevious ? ['Change from last month'] : [])],
    numeric: [false, false, true, true, true],
    rows: topRows(teams, teamRow, (others, amount) => [
      `${others} other team(s)`,
      '',
      formatAmount(amount, report.currency),
      ...billedColumn(formatAmount(billedOfOthers, report.currency)),
      ...(withPrevious ? [''] : []),
    ]),
    total: [
      'Total',
      '',
      total,
      ...billedColumn(formatAmount(sumOf(bill.billedOfTeam), report.currency)),
      ...(withPrevious ? [formatChange(report.previousMonth!.grandTotal, report.grandTotal, report.currency)] : []),
    ],
  };
  // The journal finance posts: every cost center, never cut to a top few, adding up to the total.
  const centers = costCenterTotals(report.teams);
  const costCenterTable: MailTable = {
    headers: ['Cost center', 'Teams', 'Amount'],
    numeric: [false, false, true],
    rows: centers.map((center) => [center.costCenter ?? 'No cost center', center.teamIds.join(', '), formatAmount(center.amount, report.currency)]),
    total: ['Total', '', total],
  };
  const budgeted = report.teams.filter((team) => team.budget !== undefined);
  const over = budgeted.filter((team) => team.budget!.remaining < 0n);
  if (budgeted.length > 0) {
    facts.push([
      'Budgets',
      `${budgeted.length} team(s) with a budget, ${over.length} over it${over.length > 0 ? `: ${over.map((team) => `${team.teamName} by ${formatAmount(-team.budget!.remaining, report.currency)}`).join(', ')}` : ''}`,
    ]);
  }

  const content: MailContent = {
    heading: `LLM gateway chargeback for ${label}${revision}${bill.subjectSuffix}`,
    headline: charge,
    facts,
    sections: [
      { title: teams.length > TOP_ROWS ? `Top ${TOP_ROWS} teams` : 'By team', table: teamTable },
      { title: 'By cost center', table: costCenterTable },
    ],
    images: options.charts ?? [],
    ...withDownloads(options),
    footer: [
      `The workbook ${workbookFilename(options)} has every team, user, model, tier and day, the cost centers, budgets, the prices used and the run details.`,
      `Price book ${report.priceBookVersion}; month in ${report.timeZone}; revision ${report.revision}.`,
    ],
  };
  return {
    from: options.from,
    to: options.to,
    subject,
    text: renderText(content),
    html: renderHtml(content),
    attachments: [
      ...(options.attachment ? [options.attachment] : []),
      ...(options.charts ?? []).map((chart) => ({ filename: chart.filename, contentType: 'image/png', content: chart.png, contentId: chart.contentId })),
    ],
  };
}

/** Warnings finance should read before posting, and a released hold: who accepted it and why. */
function controlFacts(report: ReportWithoutLines): [string, string][] {
  const facts: [string, string][] = (report.controls ?? []).filter((control) => control.outcome === 'warn').map((control) => ['Warning', control.message]);
  if (report.release) facts.push(['Held, then released', `by ${report.release.by} on ${report.release.at.toISOString().slice(0, 10)}: ${report.release.reason}`]);
  return facts;
}

/** The mail to one team's leads: the team's figures in the body, the team's own workbook attached. */
export function composeTeamMail(
  report: ReportWithoutLines,
  options: ReportMailOptions & { readonly costPage?: CostPage },
): Omit<OutgoingMail, 'idempotencyKey'> {
  const scope = report.scope;
  if (!scope) throw new Error('a team mail needs a team report');
  const label = monthLabel(report.month);
  const total = formatAmount(report.grandTotal, report.currency);
  const revision = revisionLabel(report, options.revised);
  const bill = mailBilling(report, formatAmount);
  const unpricedTokens = report.models.reduce((sum, model) => sum + model.unpricedTokens, 0);
  const team = report.teams.find((candidate) => candidate.teamId === scope.teamId);
  const facts: [string, string][] = [
    ...bill.facts,
    ['Team total', total],
    ...(team?.costCenter ? [['Cost center', team.costCenter] as [string, string]] : []),
    ...budgetFacts(team, report.currency),
    ...lastMonthFacts(report, 'Last month,'),
    // Usage the gateway sent without a user id is listed as "(no user id)" but is nobody.
    ['Users', count(report.users.filter((user) => user.userId !== '').length)],
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
      (model) => [model.model, count(totalTokens(model.tokens)), modelAmount(model, report.currency)],
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
    ...withDownloads(options),
    footer: [
      `The workbook ${workbookFilename(options)} has every user, model, tier and day of your team, and the prices used.`,
      `This is what your team is charged in the finance report; price book ${report.priceBookVersion}; month in ${report.timeZone}.`,
      ...(unpricedTokens > 0 ? ['"Not priced": the price book had no price for the model when it was used; its tokens are counted but not charged.'] : []),
      costPageLine(options.costPage ?? { urlTemplate: null }, scope.teamId, report.month),
    ],
  };
  return {
    from: options.from,
    to: options.to,
    subject: `LLM gateway usage ${label}${revision}${bill.subjectSuffix}: ${scope.teamName} ${formatAmount(bill.charge, report.currency)}`,
    text: renderText(content),
    html: renderHtml(content),
    attachments: options.attachment ? [options.attachment] : [],
  };
}

function sumOf(amounts: ReadonlyMap<string, bigint>): bigint {
  let total = 0n;
  for (const amount of amounts.values()) total += amount;
  return total;
}
