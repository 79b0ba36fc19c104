import type { TimeWindow } from '../domain/periods.js';
import type { UsageReadResult } from '../domain/usage.js';

export interface ReadUsageOptions {
  /** Calendar days are cut in this IANA zone. */
  readonly timeZone: string;
  readonly onProgress?: (message: string) => void;
}

/** Where the gateway's token metrics come from: an export file locally, App Insights in Azure. */
export interface UsageSource {
  /** Reads and aggregates usage per day x user x model x tier for the instants in [start, end). */
  read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult>;
}
