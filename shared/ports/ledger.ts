import type { RevisionSummary } from '../domain/revisions.js';

/** The record that a month was closed, and which revision of its numbers is the current one. */
export interface MonthClose {
  readonly month: string;
  readonly revision: number;
  /** Hash of the closed lines: a rerun that produces the same fingerprint changed nothing. */
  readonly fingerprint: string;
  readonly closedAt: Date;
  readonly priceBookVersion: string;
  readonly totalMinorUnits: string;
  readonly currency: string;
  /**
   * This revision's figures, which the next revision's Changes sheet compares with. put() keeps it as this
   * revision's summary; get() leaves it out (it grows with the users): read it with summary().
   */
  readonly summary?: RevisionSummary;
}

export interface CloseRegistry {
  /** The month's current close, without its summary. */
  get(month: string): Promise<MonthClose | undefined>;
  /** Records a close; its summary, when given, is kept for that revision even after later revisions. */
  put(close: MonthClose): Promise<void>;
  /** The summary put with that revision of the month; undefined when none was (closes recorded before summaries were kept). */
  summary(month: string, revision: number): Promise<RevisionSummary | undefined>;
}

/** One mail the product owes someone, identified so that a rerun can tell whether it already went. */
export interface DeliveryRecord {
  readonly key: string;
  readonly status: 'sent' | 'failed';
  readonly attempts: number;
  readonly recipients: readonly string[];
  readonly messageId?: string;
  readonly lastError?: string;
  readonly updatedAt: Date;
}

export interface DeliveryLedger {
  get(key: string): Promise<DeliveryRecord | undefined>;
  put(record: DeliveryRecord): Promise<void>;
}
