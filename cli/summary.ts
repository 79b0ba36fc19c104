import path from 'node:path';
import { currencyMinorUnits } from '../shared/domain/currency.js';
import { formatMinorUnits } from '../shared/domain/money.js';
import { totalTokens } from '../shared/domain/tokens.js';
import type { CloseMonthResult } from '../shared/use-cases/close-month.js';
import { billedByTeam, billSummaryLines } from './bill-summary.js';

function table(headers: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(headers), rule, ...rows.slice(0, -1).map(line), rule, line(rows[rows.length - 1]!)].join('\n');
}

const count = (n: number) => n.toLocaleString('en-US');
const amount = (units: bigint, currency: string) => formatMinorUnits(units, currencyMinorUnits(currency)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** The run's result for a person: per-team totals that add up, then what needs attention. */
export function printCloseSummary(result: CloseMonthResult, out: NodeJS.WritableStream, options: { previewDir?: string } = {}): void {
  const { report } = result;
  const billed = report.billing ? billedByTeam(report.billing) : undefined;
  const rows = report.teams.map((team) => [team.teamName, team.teamId, count(team.users), count(totalTokens(team.tokens)), amount(team.amount, report.currency), ...(billed ? [billed.get(team.teamId) ?? '0.00'] : [])]);
  if (billed && report.billing!.trueUp.unattributed.amount !== 0n) rows.push(['Unattributed billed cost', '', '', '', '', amount(report.billing!.trueUp.unattributed.amount, report.currency)]);
  rows.push(['Total', '', '', count(totalTokens(report.tokens)), amount(report.grandTotal, report.currency), ...(billed ? [amount(report.billing!.trueUp.billedTotal, report.currency)] : [])]);
  const unpriced = report.models.filter((model) => model.unpricedTokens > 0);
  const lines = [
    '',
    ...(options.previewDir ? [`DRY RUN: nothing was stored or sent; the workbooks and the mails this close would send are in ${options.previewDir}`, ''] : []),
    ...(result.state === 'held'
      ? [`HELD FOR REVIEW: nothing was sent to finance or team leads; the figures are stored as an unpublished draft of revision ${result.revision}.`, '']
      : []),
    `Chargeback ${result.month} (revision ${result.revision}${result.changed ? '' : ', unchanged'}), ${report.currency}, month in ${report.timeZone}`,
    '',
    table(['Team', 'Id', 'Users', 'Tokens', `${billed ? 'List' : 'Amount'} (${report.currency})`, ...(billed ? [`Billed (${report.billing!.trueUp.currency})`] : [])], rows, new Set([2, 3, 4, 5])),
    '',
    'Controls:',
    ...result.controls.map((control) => `  ${control.outcome.toUpperCase().padEnd(6)} ${control.id}: ${control.message}${control.outcome === 'pass' ? '' : (control.details ?? []).map((detail) => `\n           ${detail}`).join('')}`),
    ...(result.release ? [`Released:        by ${result.release.by} at ${result.release.at.toISOString()}: ${result.release.reason}`] : []),
    '',
    `Usage rows read: ${count(result.usage.rows)} from ${result.usage.sourceDescription}`,
    `Rejected rows:   ${count(result.usage.rejects.count)}${Object.entries(result.usage.rejects.byReason)
      .map(([reason, n]) => `\n  ${count(n)} x ${reason}`)
      .join('')}`,
    ...(result.rejectsLocation ? [`Rejects file:    ${result.rejectsLocation} (every rejected row with file, line, reason and raw value)`] : []),
    ...Object.entries(result.usage.skipped).map(([reason, n]) => `Skipped:         ${count(n)} x ${reason}`),
    `Unpriced:        ${unpriced.length === 0 ? 'none' : unpriced.map((model) => `${model.model} (${count(model.unpricedTokens)} tokens)`).join(', ')}`,
    ...(report.crossCheck.reportedTotalTokens === null
      ? []
      : [`Cross-check:     gateway "Total Tokens" ${count(report.crossCheck.reportedTotalTokens)} vs counted ${count(report.crossCheck.countedTokens)}`]),
    ...result.directoryNotes.map((note) => `Directory:       ${note}`),
    `Rollups stored:  ${count(result.stored.written)} lines${result.stored.deleted ? `, ${count(result.stored.deleted)} stale lines removed` : ''}`,
    `Workbook:        ${result.workbookLocation}`,
    `Team workbooks:  ${result.teams.length === 0 ? 'none' : `${result.teams.length} in ${path.dirname(result.teams[0]!.workbookLocation)}`}`,
    ...(result.focusLocation ? [`FOCUS export:    ${result.focusLocation}`] : []),
    ...billSummaryLines(report.billing),
    `Finance mail:    ${financeMailSummary(result)}`,
    `Team mails:      ${teamMailSummary(result)}`,
    ...(result.operatorMails.length > 0
      ? [`Operator:        ${result.operatorMails.filter((mail) => mail.status === 'sent').length} notice(s) sent, ${result.operatorMails.filter((mail) => mail.status === 'already-sent').length} already sent earlier`]
      : []),
    '',
  ];
  out.write(lines.join('\n'));
}

function financeMailSummary(result: CloseMonthResult): string {
  switch (result.mail.status) {
    case 'sent':
      return `sent to ${result.mail.recipients.join(', ')} (${result.mail.location})`;
    case 'already-sent':
      return `already sent for revision ${result.revision}; not sent again (use --force to resend)`;
    case 'held':
      return 'not sent: the close is held for review';
    case 'uncertain':
      return `UNCERTAIN: claimed at ${result.mail.claimedAt.toISOString()} by a run that stopped before recording the send; check whether it arrived, then use --resend-uncertain`;
    case 'queued':
      return 'queued as a work item: not sent yet';
    default:
      return 'no recipients configured; nothing sent';
  }
}

/** Owed, sent, uncertain and not owed, so that a person sees at once whether every team has its mail. */
function teamMailSummary(result: CloseMonthResult): string {
  const by = (status: string) => result.teams.filter((team) => team.mail.status === status);
  const notOwed = by('not-owed');
  if (result.state === 'held') return `${result.teams.length} held (nothing sent until the close is released)`;
  const sent = by('sent');
  const parts = [
    `${result.teams.length - notOwed.length} owed`,
    `${sent.length} sent${sent.length > 0 ? ` (to ${path.dirname((sent[0]!.mail as { location: string }).location)})` : ''}`,
    `${by('already-sent').length} already sent`,
  ];
  if (by('uncertain').length > 0) parts.push(`${by('uncertain').length} UNCERTAIN (${by('uncertain').map((team) => team.teamId).join(', ')}: use --resend-uncertain once checked)`);
  if (by('failed').length > 0) parts.push(`${by('failed').length} failed`);
  if (by('queued').length > 0) parts.push(`${by('queued').length} queued as work items, not sent yet`);
  if (by('no-recipients').length > 0) parts.push(`${by('no-recipients').length} team(s) without leads`);
  if (notOwed.length > 0) parts.push(`${notOwed.length} not owed (unchanged in this revision, and given the one before)`);
  return parts.join(', ');
}
