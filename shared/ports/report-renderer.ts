import type { MonthReport } from '../domain/report.js';

export interface ReportRenderer {
  /** The finance workbook (.xlsx) for a closed month. */
  financeWorkbook(report: MonthReport): Promise<Buffer>;
}
