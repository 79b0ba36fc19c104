import type { MonthReport } from '../domain/report.js';

export interface ReportRenderer {
  /** The finance workbook (.xlsx) for a closed month. */
  financeWorkbook(report: MonthReport): Promise<Buffer>;
  /** A team's own workbook (.xlsx), for its leads: refuses a report holding any other team's line. */
  teamWorkbook(report: MonthReport): Promise<Buffer>;
}
