import { UNATTRIBUTED_BILLED_LABEL, TRUED_UP_LABEL, type BillingReconciliation } from '../shared/domain/billing.js';
import { formatMinorUnits, toMinorUnits } from '../shared/domain/money.js';

const amount = (units: bigint) => formatMinorUnits(units).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** The trued-up amount of each team, for the summary's Billed column. */
export function billedByTeam(billing: BillingReconciliation | undefined): Map<string, string> {
  return new Map((billing?.trueUp.teams ?? []).map((team) => [team.teamId, amount(team.amount)]));
}

/** What the close made of the bill, for a person reading the summary (its controls are listed with the others). */
export function billSummaryLines(billing: BillingReconciliation | undefined): string[] {
  if (!billing) return ['Azure bill:      none configured; the amounts are an estimate at list prices'];
  const { trueUp } = billing;
  const lines = [
    `Azure bill:      ${billing.sourceDescription}`,
    `Basis:           ${billing.basis === 'trued-up' ? `${TRUED_UP_LABEL}: the Billed column is the charge` : `estimate at list prices (the bill ${billing.lastChargeDay ? `reaches ${billing.lastChargeDay}` : 'has no rows'}, not the month's last day)`}`,
    `Billed (Claude): ${trueUp.currency} ${amount(trueUp.billedTotal)} in ${billing.claudeRows} row(s); list ${amount(toMinorUnits(trueUp.listTotal))}; billed/list ${trueUp.ratio?.toFixed(3) ?? 'n/a'}`,
  ];
  if (trueUp.unattributed.amount !== 0n) lines.push(`${UNATTRIBUTED_BILLED_LABEL}: ${amount(trueUp.unattributed.amount)} (days ${trueUp.unattributed.days.join(', ')})`);
  lines.push(
    `Left out:        ${billing.leftOut.rows} row(s)${billing.leftOut.byService.length === 0 ? '' : `: ${billing.leftOut.byService.map((service) => `${service.service} ${service.currency} ${service.amount.toFixed(2)} (${service.rows})`).join(', ')}`}`,
  );
  return lines;
}
