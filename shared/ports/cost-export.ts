import type { TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import type { MonthlyLine } from '../domain/rollup.js';
import type { RejectedRow } from '../domain/usage.js';
import type { Money } from '../domain/money.js';

/** A closed month's cost and usage data at its finest grain, for a FinOps tool. */
export interface CostExportMonth {
  readonly month: string;
  readonly timeZone: string;
  readonly window: TimeWindow;
  readonly currency: string;
  readonly lines: readonly MonthlyLine[];
  /** The book the lines were priced with: the unit prices of each row come from its entries. */
  readonly priceBook: PriceBook;
  readonly teamNames: ReadonlyMap<string, string>;
  /** Team id to the cost center finance posts the team's charges to; teams without one are absent. */
  readonly teamCostCenters?: ReadonlyMap<string, string>;
  /**
   * When the month is trued up to Azure's bill: per day, billed cost per unit of list cost. BilledCost and
   * EffectiveCost are then the list cost times the day's rate; ListCost stays the list-price estimate.
   */
  readonly billedRates?: ReadonlyMap<string, Money>;
}

export interface CostExporter {
  /** The month as a FOCUS-shaped CSV (see docs/focus-mapping.md). */
  focusCsv(month: CostExportMonth): Buffer;
  /**
   * The same file as `focusCsv`, as UTF-8 text chunks produced as they are read, for writing a large month
   * without holding it whole. Optional: a close falls back to `focusCsv` without it.
   */
  focusCsvChunks?(month: CostExportMonth): Iterable<string | Buffer>;
  /**
   * The rows of `month.lines` alone, without the header: one part of the export (a team's rows), so that the
   * parts joined after the header are byte for byte the file `focusCsvChunks` writes of all the lines.
   */
  focusCsvRowChunks(month: CostExportMonth): Iterable<string | Buffer>;
  /** The export's header record alone: the first part. */
  focusCsvHeader(): Buffer;
  /** Rejected source rows (location, reason, raw value) as CSV, so a person can find each one. */
  rejectsCsv(rows: readonly RejectedRow[]): Buffer;
}
