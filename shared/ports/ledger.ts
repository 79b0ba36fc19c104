import type { ControlResult } from '../domain/controls.js';
import type { RevisionSummary } from '../domain/revisions.js';
import type { CallOptions } from './directory.js';

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
  /** The controls this revision passed (or was released past), as the Run sheet shows them. */
  readonly controls?: readonly ControlResult[];
  /**
   * Teams whose leads are owed this revision's mail: those whose figures changed, plus those still owed an
   * earlier revision they never received. Absent on closes recorded before it was kept.
   */
  readonly owedTeams?: readonly string[];
  /** Set when a person accepted a held close. */
  readonly release?: { readonly by: string; readonly reason: string; readonly at: Date };
}

/** A close whose controls held it: its figures are stored unpublished, and nobody but the operator was told. */
export interface HeldClose extends MonthClose {
  readonly controls: readonly ControlResult[];
}

/** One run of a month's close, kept so that repeated refusals and holds are visible, not silent. */
export interface CloseAttempt {
  readonly month: string;
  readonly at: Date;
  readonly outcome: 'refused' | 'held' | 'closed' | 'unchanged' | 'released' | 'failed';
  readonly revision: number | null;
  readonly controls: readonly ControlResult[];
  readonly note?: string;
}

export interface CloseRegistry {
  /** The month's current close, without its summary. */
  get(month: string, options?: CallOptions): Promise<MonthClose | undefined>;
  /** Records a close; its summary, when given, is kept for that revision even after later revisions. */
  put(close: MonthClose): Promise<void>;
  /** The summary put with that revision of the month; undefined when none was (closes recorded before summaries were kept). */
  summary(month: string, revision: number): Promise<RevisionSummary | undefined>;
  /** The month's held draft, if a close is held. */
  draft(month: string): Promise<HeldClose | undefined>;
  putDraft(close: HeldClose): Promise<void>;
  clearDraft(month: string): Promise<void>;
  recordAttempt(attempt: CloseAttempt): Promise<void>;
  /** The month's attempts, newest first. */
  attempts(month: string, limit?: number): Promise<CloseAttempt[]>;
}

/** One mail the product owes someone, identified so that a rerun can tell whether it already went. */
export interface DeliveryRecord {
  readonly key: string;
  /**
   * claimed: a run took the mail and is sending it (or died while sending: then it is uncertain whether it
   * went); sent: the mailer accepted it; failed: the mailer refused it, so it is safe to try again.
   */
  readonly status: 'claimed' | 'sent' | 'failed';
  readonly attempts: number;
  readonly recipients: readonly string[];
  readonly messageId?: string;
  readonly lastError?: string;
  readonly updatedAt: Date;
  /** The stored version, for a conditional claim; set by the ledger on read. */
  readonly etag?: string;
}

export interface DeliveryLedger {
  get(key: string): Promise<DeliveryRecord | undefined>;
  put(record: DeliveryRecord): Promise<void>;
  /**
   * Takes a mail for sending: inserts a claimed record when there is none, or turns the record `previous`
   * (as read) into a claim only if nobody changed it since. False when another run got there first.
   */
  claim(record: DeliveryRecord, previous: DeliveryRecord | undefined): Promise<boolean>;
}
