import path from 'node:path';
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
const amount = (units: bigint) => formatMinorUnits(units).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** The run's result for a person: per-team totals that add up, then what needs attention. */
export function printCloseSummary(result: CloseMonthResult, out: NodeJS.WritableStream): void {
  const { report } = result;
  const billed = report.billing ? billedByTeam(report.billing) : undefined;
  const rows = report.teams.map((team) => [team.teamName, team.teamId, count(team.users), count(totalTokens(team.tokens)), amount(team.amount), ...(billed ? [billed.get(team.teamId) ?? '0.00'] : [])]);
  if (billed && report.billing!.trueUp.unattributed.amount !== 0n) rows.push(['Unattributed billed cost', '', '', '', '', amount(report.billing!.trueUp.unattributed.amount)]);
  rows.push(['Total', '', '', count(totalTokens(report.tokens)), amount(report.grandTotal), ...(billed ? [amount(report.billing!.trueUp.billedTotal)] : [])]);
  const unpriced = report.models.filter((model) => model.unpricedTokens > 0);
  const lines = [
    '',
    `Chargeback ${result.month} (revision ${result.revision}${result.changed ? '' : ', unchanged'}), ${report.currency}, month in ${report.timeZone}`,
    '',
    table(['Team', 'Id', 'Users', 'Tokens', `${billed ? 'List' : 'Amount'} (${report.currency})`, ...(billed ? [`Billed (${report.billing!.trueUp.currency})`] : [])], rows, new Set([2, 3, 4, 5])),
    '',
    `Usage rows read: ${count(result.usage.rows)} from ${result.usage.sourceDescription}`,
    `Rejected rows:   ${count(result.usage.rejects.count)}${Object.entries(result.usage.rejects.byReason)
      .map(([reason, n]) => `\n  ${count(n)} x ${reason}`)
      .join('')}`,
    ...Object.entries(result.usage.skipped).map(([reason, n]) => `Skipped:         ${count(n)} x ${reason}`),
    `Unpriced:        ${unpriced.length === 0 ? 'none' : unpriced.map((model) => `${model.model} (${count(model.unpricedTokens)} tokens)`).join(', ')}`,
    ...(report.crossCheck.reportedTotalTokens === null
      ? []
      : [`Cross-check:     gateway "Total Tokens" ${count(report.crossCheck.reportedTotalTokens)} vs counted ${count(report.crossCheck.countedTokens)}`]),
    ...result.directoryNotes.map((note) => `Directory:       ${note}`),
    `Rollups stored:  ${count(result.stored.written)} lines${result.stored.deleted ? `, ${count(result.stored.deleted)} stale lines removed` : ''}`,
    `Workbook:        ${result.workbookLocation}`,
    `Team workbooks:  ${result.teams.length === 0 ? 'none' : `${result.teams.length} in ${path.dirname(result.teams[0]!.workbookLocation)}`}`,
    `FOCUS export:    ${result.focusLocation}`,
    ...billSummaryLines(report.billing, result.controls),
    `Finance mail:    ${
      result.mail.status === 'sent'
        ? `sent to ${result.mail.recipients.join(', ')} (${result.mail.location})`
        : result.mail.status === 'already-sent'
          ? `already sent for revision ${result.revision}; not sent again (use --force to resend)`
          : 'no recipients configured; nothing sent'
    }`,
    `Team mails:      ${teamMailSummary(result)}`,
    '',
  ];
  out.write(lines.join('\n'));
}

function teamMailSummary(result: CloseMonthResult): string {
  const by = (status: string) => result.teams.filter((team) => team.mail.status === status);
  const sent = by('sent');
  const parts = [
    `${sent.length} sent${sent.length > 0 ? ` (to ${path.dirname((sent[0]!.mail as { location: string }).location)})` : ''}`,
    `${by('already-sent').length} already sent`,
  ];
  if (by('not-owed').length > 0) parts.push(`${by('not-owed').length} unchanged in this revision`);
  if (by('no-recipients').length > 0) parts.push(`${by('no-recipients').length} team(s) without leads`);
  return parts.join(', ');
}
