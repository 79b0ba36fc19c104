import { TRUED_UP_LABEL, UNATTRIBUTED_BILLED_LABEL } from '../../domain/billing.js';
import type { ReportWithoutLines } from '../../domain/report.js';

/**
 * What the mails say about Azure's bill: which figure is the charge. Trued up, the billed amount leads and the
 * list amount is shown as the estimate it replaces; otherwise the list amount is the charge, an estimate.
 */
export interface MailBilling {
  readonly truedUp: boolean;
  /** The figure that is the charge: billed when trued up, else the list amount. */
  readonly charge: bigint;
  readonly subjectSuffix: string;
  readonly facts: readonly [string, string][];
  /** The team's (or, for finance, each team's) billed amount, for a Billed column; empty unless trued up. */
  readonly billedOfTeam: ReadonlyMap<string, bigint>;
}

export function mailBilling(report: ReportWithoutLines, format: (units: bigint, currency: string) => string): MailBilling {
  const billing = report.billing;
  if (!billing || billing.basis !== 'trued-up') {
    const basis = billing
      ? `estimate at list prices; Azure's bill ${billing.lastChargeDay ? `reaches ${billing.lastChargeDay} so far` : 'has no rows yet'}, and the month is trued up once it is complete`
      : 'estimate at list prices (no Azure bill configured)';
    return { truedUp: false, charge: report.grandTotal, subjectSuffix: '', facts: [['Charge', basis]], billedOfTeam: new Map() };
  }
  const { trueUp } = billing;
  const billedOfTeam = new Map(trueUp.teams.map((team) => [team.teamId, team.amount]));
  const charge = report.scope ? (billedOfTeam.get(report.scope.teamId) ?? 0n) : trueUp.billedTotal;
  const facts: [string, string][] = [
    ['Charge', `${format(charge, trueUp.currency)}: ${TRUED_UP_LABEL} (the Billed figures are what is charged)`],
    ['List-price estimate', `${format(report.grandTotal, report.currency)} (from the gateway's metrics at list prices)`],
  ];
  if (!report.scope) {
    facts.push(['Billed / list', trueUp.ratio === null ? 'n/a' : trueUp.ratio.toFixed(3)]);
    if (trueUp.unattributed.amount !== 0n) facts.push([UNATTRIBUTED_BILLED_LABEL, `${format(trueUp.unattributed.amount, trueUp.currency)} (billed on days without metered usage: see the Reconciliation sheet)`]);
  }
  return { truedUp: true, charge, subjectSuffix: `, ${TRUED_UP_LABEL}`, facts, billedOfTeam };
}
