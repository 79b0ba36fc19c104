import { createHash } from 'node:crypto';
import {
  billCoversMonth,
  billedFingerprintInput,
  billedRatesByDay,
  trueUp,
  type BillingReconciliation,
  type ClaudeChargeRule,
  type ResiduePolicy,
} from '../domain/billing.js';
import { billingControls, type BillingControlSettings } from '../domain/billing-controls.js';
import type { ControlResult } from '../domain/controls.js';
import { daysOfMonth } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import type { Money } from '../domain/money.js';
import type { MonthReport, RevisionChanges } from '../domain/report.js';
import type { MonthlyLine } from '../domain/rollup.js';
import type { BilledCostSource } from '../ports/billed-cost-source.js';
import type { Logger } from '../ports/runtime.js';

export interface BillReconciliationDeps {
  readonly billedCosts?: BilledCostSource | undefined;
  readonly logger: Logger;
  readonly settings: {
    /** Absent: the close reads no bill (the same as no billed-cost source). */
    readonly billing?: {
      readonly rule: ClaudeChargeRule;
      readonly residue: ResiduePolicy;
      readonly controls: BillingControlSettings;
      readonly costColumn: string;
    };
  };
}

/** The bill step's outcome: the reconciliation the reports show, the controls, and what it adds to the fingerprint. */
export interface BillStep {
  readonly billing: BillingReconciliation;
  readonly controls: readonly ControlResult[];
  /** Digest of the billed figures when the bill is complete (a trued-up close); null while it is an estimate. */
  readonly fingerprint: string | null;
}

/**
 * The close's step "true up to the bill": read the month's charges, share Claude's out over the priced lines,
 * and check the bill against the usage. A bill that does not yet reach the month's last day leaves the close an
 * estimate and stays out of the fingerprint, so the daily close timer does not make a revision for every day
 * the bill grows; the first close with the complete bill changes the fingerprint and becomes the revision
 * "trued up to the Azure invoice", and a later restatement (refund, credit) another.
 */
export async function reconcileWithBill(
  deps: BillReconciliationDeps,
  input: { month: string; lines: readonly MonthlyLine[]; priceBook: PriceBook },
): Promise<BillStep | undefined> {
  const settings = deps.settings.billing;
  if (!deps.billedCosts || !settings) return undefined;
  deps.logger.progress('bill', `reading the Azure bill for ${input.month}`);
  const read = await deps.billedCosts.read(input.month, settings.rule);
  const result = trueUp(input.lines, read.claude, { currency: read.claude[0]?.currency ?? input.priceBook.currency, policy: settings.residue });
  const lastDay = daysOfMonth(input.month).at(-1)!;
  const complete = read.claude.length > 0 && billCoversMonth(read.lastChargeDay, lastDay);
  const controls = billingControls({ trueUp: result, charges: read.claude, priceBookCurrency: input.priceBook.currency, billedThrough: read.lastChargeDay }, settings.controls);
  const billing: BillingReconciliation = {
    basis: complete ? 'trued-up' : 'estimate',
    complete,
    lastChargeDay: read.lastChargeDay,
    sourceDescription: read.sourceDescription,
    costColumn: settings.costColumn,
    rule: settings.rule,
    claudeRows: read.claude.length,
    trueUp: result,
    leftOut: read.leftOut,
  };
  for (const control of controls) if (control.outcome !== 'pass') deps.logger.warn(`${control.id}: ${control.message}`, { details: control.details ?? [] });
  deps.logger.progress(
    'bill',
    `${read.claude.length} Claude charge row(s), ${read.leftOut.rows} other row(s) left out; ${complete ? 'the bill covers the month: trued up' : `bill ${read.lastChargeDay ? `through ${read.lastChargeDay}` : 'absent'}: estimate`}`,
  );
  const fingerprint = complete ? createHash('sha256').update(billedFingerprintInput(result, true)).digest('hex') : null;
  return { billing, controls, fingerprint };
}

/** The report with the bill's reconciliation beside its list-price figures. */
export function withBilling(report: MonthReport, bill: BillStep | undefined): MonthReport {
  return bill ? { ...report, billing: bill.billing } : report;
}

/** The FOCUS export's per-day billed rates, only once the month is trued up (an estimate exports list costs). */
export function billedRatesOf(bill: BillStep | undefined): ReadonlyMap<string, Money> | undefined {
  return bill?.billing.basis === 'trued-up' ? billedRatesByDay(bill.billing.trueUp) : undefined;
}

/**
 * A trued-up revision changes what every team is charged (the billed share replaces the estimate, or a
 * restated bill moves it) even when no line changed, so each team's leads are owed the revision's mail.
 */
export function billedTeamsChanged(changes: RevisionChanges, bill: BillStep | undefined, report: MonthReport): RevisionChanges {
  if (bill?.billing.basis !== 'trued-up') return changes;
  return { ...changes, changedTeams: [...new Set([...changes.changedTeams, ...report.teams.map((team) => team.teamId)])].sort() };
}
