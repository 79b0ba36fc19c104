import { UNATTRIBUTED_BILLED_LABEL, type BillingReconciliation } from '../../domain/billing.js';
import { roundForDisplay, toMinorUnits } from '../../domain/money.js';
import type { MonthReport, ReportLine, TeamSummary, UserSummary } from '../../domain/report.js';
import { lineKey } from '../../domain/rollup.js';
import type { Column, SheetWriter } from './sheet-layout.js';

/**
 * The workbook's view of Azure's bill: a Reconciliation sheet (per day: metered tokens, list estimate, billed,
 * ratio; what was left out of the bill; how the true-up was done) and the "Billed" column that sits beside the
 * list amount of teams, users and lines. Kept apart from excel-workbook.ts, which only calls in here.
 */
export const RECONCILIATION_SHEET = 'Reconciliation';

const BILLED = 'Billed';

/** The sheets this module adds to a finance workbook: the Reconciliation sheet once the report has a bill. */
export function reconciliationSheets(report: MonthReport): [string, (writer: SheetWriter) => void][] {
  const billing = report.billing;
  if (!billing || report.scope) return [];
  return [[RECONCILIATION_SHEET, (writer) => writeReconciliation(writer, report, billing)]];
}

/** The Billed column for the teams table, and its total; nothing without a bill. */
export function billedTeamColumn(report: MonthReport): { columns: Column<TeamSummary>[]; totals: Record<string, bigint> } {
  const billing = report.billing;
  if (!billing) return { columns: [], totals: {} };
  const byTeam = new Map(billing.trueUp.teams.map((team) => [team.teamId, team.amount]));
  const shown = report.teams.map((team) => byTeam.get(team.teamId) ?? 0n);
  return { columns: [{ header: BILLED, kind: 'amount', value: (team) => byTeam.get(team.teamId) ?? 0n }], totals: { [BILLED]: sum(shown) } };
}

export function billedUserColumn(report: MonthReport): { columns: Column<UserSummary>[]; totals: Record<string, bigint> } {
  const billing = report.billing;
  if (!billing) return { columns: [], totals: {} };
  const byUser = new Map(billing.trueUp.users.map((user) => [user.key, user.amount]));
  const keyOf = (user: UserSummary) => `${user.teamId}\u0000${user.userId}`;
  return {
    columns: [{ header: BILLED, kind: 'amount', value: (user) => byUser.get(keyOf(user)) ?? 0n }],
    totals: { [BILLED]: sum(report.users.map((user) => byUser.get(keyOf(user)) ?? 0n)) },
  };
}

export function billedLineColumn(report: MonthReport, lines: readonly ReportLine[]): { columns: Column<ReportLine>[]; totals: Record<string, bigint> } {
  const billing = report.billing;
  if (!billing) return { columns: [], totals: {} };
  const amountOf = (line: ReportLine) => billing.trueUp.lines.get(lineKey(line))?.amount ?? 0n;
  return { columns: [{ header: BILLED, kind: 'amount', value: amountOf }], totals: { [BILLED]: sum(lines.map(amountOf)) } };
}

function sum(amounts: readonly bigint[]): bigint {
  return amounts.reduce((total, amount) => total + amount, 0n);
}

function basisText(billing: BillingReconciliation): string {
  if (billing.basis === 'trued-up') return `Trued up to the Azure invoice (the month's complete bill). The Billed amounts are the charge; the list amounts are the estimate they replace.`;
  return `Estimate: the amounts are at list prices. The bill ${billing.lastChargeDay ? `reaches ${billing.lastChargeDay}` : 'has no rows yet'}; the month is trued up by the first close with the whole month's bill.`;
}

function writeReconciliation(writer: SheetWriter, report: MonthReport, billing: BillingReconciliation): void {
  const { trueUp } = billing;
  writer.title(
    'Reconciliation with the Azure bill',
    `What Azure billed for Claude (${billing.costColumn}, ${trueUp.currency}) against the list-price estimate from the gateway's metrics, per day, and how the bill was shared out.`,
  );
  writer.figure('Basis', basisText(billing));
  writer.figure('Billed (Claude rows)', trueUp.billedTotal, 'amount');
  writer.figure('List-price estimate', toMinorUnits(trueUp.listTotal), 'amount');
  writer.figure('Billed / list', trueUp.ratio === null ? 'n/a (nothing priced)' : Number(trueUp.ratio.toDecimalPlaces(6)), trueUp.ratio === null ? 'text' : 'share');
  writer.figure(UNATTRIBUTED_BILLED_LABEL, trueUp.unattributed.amount, 'amount');
  writer.figure('Bill source', billing.sourceDescription);
  writer.figure('Bill reaches (UTC day)', billing.lastChargeDay ?? 'no rows');
  writer.figure('Claude charge rows', billing.claudeRows, 'integer');
  writer.gap();

  writer.subheading('Per day');
  const listShown = roundForDisplay(trueUp.days.map((day) => day.list));
  const billedShown = roundForDisplay(trueUp.days.map((day) => day.billed));
  const rows = trueUp.days.map((day, index) => ({ day, list: listShown.lines[index]!, billed: billedShown.lines[index]! }));
  writer.table(
    {
      columns: [
        { header: 'Day (UTC)', kind: 'text', value: (row) => row.day.day },
        { header: 'Metered tokens', kind: 'tokens', value: (row) => row.day.meteredTokens },
        { header: 'List estimate', kind: 'amount', value: (row) => row.list },
        { header: 'Billed', kind: 'amount', value: (row) => row.billed },
        { header: 'Billed / list', kind: 'share', value: (row) => (row.day.ratio === null ? null : Number(row.day.ratio.toDecimalPlaces(6))) },
        { header: 'Note', kind: 'text', value: (row) => (row.day.meteredTokens === 0 && !row.day.billed.isZero() ? 'billed, but no metered usage' : '') },
      ],
      rows,
      noneText: 'None: no billed or metered day in this month.',
      totals: {
        'Day (UTC)': 'Total',
        'Metered tokens': trueUp.days.reduce((total, day) => total + day.meteredTokens, 0),
        'List estimate': listShown.total,
        Billed: billedShown.total,
      },
    },
    { filter: false, freeze: false },
  );
  writer.gap();

  writer.subheading('Teams: list estimate and billed');
  const billedByTeam = new Map(trueUp.teams.map((team) => [team.teamId, team.amount]));
  const teamRows: { id: string; name: string; list: bigint | null; billed: bigint }[] = report.teams.map((team) => ({ id: team.teamId, name: team.teamName, list: team.amount, billed: billedByTeam.get(team.teamId) ?? 0n }));
  if (trueUp.unattributed.amount !== 0n) teamRows.push({ id: '', name: UNATTRIBUTED_BILLED_LABEL, list: null, billed: trueUp.unattributed.amount });
  writer.table(
    {
      columns: [
        { header: 'Team', kind: 'text', value: (row) => row.id },
        { header: 'Name', kind: 'text', value: (row) => row.name },
        { header: 'List amount', kind: 'amount', value: (row) => row.list },
        { header: 'Billed', kind: 'amount', value: (row) => row.billed },
      ],
      rows: teamRows,
      totals: { Team: 'Total', 'List amount': report.grandTotal, Billed: sum(teamRows.map((row) => row.billed)) },
    },
    { filter: false, freeze: false },
  );
  writer.gap();

  writer.subheading('Left out of the bill (not Claude)');
  writer.figure('Rows left out', billing.leftOut.rows, 'integer');
  writer.table(
    {
      columns: [
        { header: 'Service', kind: 'text', value: (row) => row.service },
        { header: 'Currency', kind: 'text', value: (row) => row.currency },
        { header: 'Rows', kind: 'integer', value: (row) => row.rows },
        { header: 'Amount', kind: 'price', value: (row) => row.amount.toDecimalPlaces(2).toFixed(2) },
      ],
      rows: billing.leftOut.byService,
      noneText: 'None: every row of the export was Claude\u2019s.',
    },
    { filter: false, freeze: false },
  );
  writer.gap();

  writer.subheading('Method');
  const rule = [
    billing.rule.resourceIds.length > 0 ? `resource id ${billing.rule.resourceIds.join(' or ')}` : '',
    billing.rule.publishers.length > 0 ? `publisher ${billing.rule.publishers.join(' or ')}` : '',
  ].filter((part) => part !== '');
  writer.figure('Claude\u2019s rows', rule.length > 0 ? `Rows of the export with ${rule.join(', or ')}; everything else is left out and counted above.` : 'No rule: nothing is Claude\u2019s.');
  writer.figure('Cost column', `${billing.costColumn} of Cost Management's FOCUS export (docs/billing.md says why).`);
  writer.figure('Sharing', 'Each day\u2019s billed amount goes to that day\u2019s lines in proportion to their list-price cost (which weighs model and token kind).');
  writer.figure(
    'Residue',
    trueUp.policy === 'bucket'
      ? `Billed on days without priced usage: kept apart as "${UNATTRIBUTED_BILLED_LABEL}".`
      : 'Billed on days without priced usage: shared over the month in proportion to list-price cost.',
  );
  writer.figure('Rounding', 'Exact shares first; teams get whole cents of the billed total by largest remainder, users of their team\u2019s, lines of their user\u2019s.');
  writer.figure('Unpriced usage', 'Models with no list price carry no list cost, so no share of the bill: their cost, if billed, lands on the other lines of their day.');
  writer.figure('Day', 'Azure charge periods are UTC days; the usage days follow the report\u2019s time zone.');
}
