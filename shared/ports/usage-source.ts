import type { TimeWindow } from '../domain/periods.js';
import type { SourceDayTotal, UsageReadResult } from '../domain/usage.js';

export interface ReadUsageOptions {
  /** Calendar days are cut in this IANA zone. */
  readonly timeZone: string;
  readonly onProgress?: (message: string) => void;
}

/** Where the gateway's token metrics come from: an export file locally, App Insights in Azure. */
export interface UsageSource {
  /** Reads and aggregates usage per day x user x model x tier for the instants in [start, end). */
  read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult>;
  /**
   * Cheap: what the source holds per calendar day (in options.timeZone) and metric for the window, summed
   * before any validation, exactly as read() returns it in `dayTotals`. A close compares these with what the
   * ingest stored to find the days that changed late. Absent when the source cannot tell.
   */
  dayTotals?(window: TimeWindow, options: ReadUsageOptions): Promise<SourceDayTotal[]>;
}
