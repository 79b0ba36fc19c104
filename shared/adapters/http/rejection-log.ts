/**
 * Rejected requests (401, 403, 400, 404) logged in aggregate: the first of each reason in an interval is
 * logged as it happens (with its request id, so one example can be followed), the rest of that interval are
 * only counted, and the count is logged as one line when the next request of that reason arrives after the
 * interval. A flood of bad tokens costs a few log lines a minute instead of one per request.
 *
 * No timer: a Functions instance may be frozen between invocations, so counts are reported by the next
 * rejection (or `flush`) after the interval.
 */
import type { Logger } from '../../ports/runtime.js';

export const REJECTION_LOG_INTERVAL_MS = 60_000;

interface ReasonWindow {
  startedAt: number;
  suppressed: number;
}

export class RejectionLog {
  private readonly windows = new Map<string, ReasonWindow>();

  constructor(private readonly options: { readonly intervalMs?: number; readonly now?: () => number; readonly maxReasons?: number } = {}) {}

  /** Records one rejection; logs it when it is the first of its reason in the interval. */
  record(logger: Logger, reason: string, message: string, fields: Record<string, unknown>): void {
    const now = (this.options.now ?? Date.now)();
    const interval = this.options.intervalMs ?? REJECTION_LOG_INTERVAL_MS;
    const window = this.windows.get(reason);
    if (window !== undefined && now - window.startedAt < interval) {
      window.suppressed += 1;
      return;
    }
    if (window !== undefined && window.suppressed > 0) logger.warn(summaryLine(reason, window.suppressed, now - window.startedAt), { reason, count: window.suppressed });
    // Reasons are a small fixed set; the cap only guards against a bug making them unbounded.
    if (this.windows.size >= (this.options.maxReasons ?? 256) && window === undefined) this.windows.clear();
    this.windows.set(reason, { startedAt: now, suppressed: 0 });
    logger.warn(message, { ...fields, reason });
  }

  /** Logs every count not reported yet (e.g. when a local server stops). */
  flush(logger: Logger): void {
    const now = (this.options.now ?? Date.now)();
    for (const [reason, window] of this.windows) {
      if (window.suppressed > 0) logger.warn(summaryLine(reason, window.suppressed, now - window.startedAt), { reason, count: window.suppressed });
    }
    this.windows.clear();
  }
}

function summaryLine(reason: string, count: number, elapsedMs: number): string {
  return `cost API: ${count} more request(s) rejected as ${reason} in the last ${Math.max(1, Math.round(elapsedMs / 1000))} s (not logged one by one)`;
}
