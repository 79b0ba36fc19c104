import type { BilledCharge, ClaudeChargeRule, LeftOutCharges } from '../domain/billing.js';

/** What a billed-cost source found for a month: Claude's charges, what it left out, and how far the bill reaches. */
export interface BilledCostRead {
  readonly claude: readonly BilledCharge[];
  readonly leftOut: LeftOutCharges;
  /**
   * The last UTC day any row of the export (any service) is charged for, or null when the export has no rows:
   * the bill is complete for the month once this reaches the month's last day.
   */
  readonly lastChargeDay: string | null;
  /** Rows read in all, every service and month. */
  readonly rows: number;
  /** Which files or blobs were read, for the Reconciliation sheet. */
  readonly sourceDescription: string;
}

/** Where Azure's bill comes from: a Cost Management FOCUS export, as files locally or blobs in Azure. */
export interface BilledCostSource {
  read(month: string, rule: ClaudeChargeRule): Promise<BilledCostRead>;
}
