/**
 * The record that an alert went out on a channel, so it goes out at most once per key and channel even when
 * two evaluations run at the same time.
 *
 * State machine per (key, channel):
 *   (none) --claim--> claimed --settle--> sent | failed | superseded
 *   failed --claim--> claimed        (a failed channel is retried by the next run)
 *   claimed, older than the stale limit --claim--> claimed   (the run that held it died)
 * sent and superseded are final. Every transition is atomic (insert-if-absent, or a conditional update on
 * the version read), so of two runs claiming the same alert exactly one wins.
 */
export type AlertChannel = 'mail' | 'teams';
export type AlertState = 'claimed' | 'sent' | 'failed' | 'superseded';

export interface AlertRecord {
  readonly key: string;
  readonly channel: AlertChannel;
  readonly state: AlertState;
  readonly attempts: number;
  readonly claimedAt: Date;
  readonly updatedAt: Date;
  /** Where it went (a message id, a file), or why it was superseded. */
  readonly detail?: string;
  readonly lastError?: string;
}

/** Proof of a claim: only its holder may settle it, and only while nobody re-claimed it since. */
export interface AlertClaim {
  readonly key: string;
  readonly channel: AlertChannel;
  readonly attempt: number;
  readonly claimedAt: Date;
  /** The stored row's version (ETag) as this claim left it. */
  readonly version: string;
}

export type ClaimOutcome =
  | { readonly status: 'claimed'; readonly claim: AlertClaim }
  /** Already sent or superseded: nothing to do, ever. */
  | { readonly status: 'done'; readonly record: AlertRecord }
  /** Another run holds a fresh claim on it right now. */
  | { readonly status: 'busy'; readonly record: AlertRecord };

export type AlertSettlement =
  | { readonly state: 'sent'; readonly detail: string }
  | { readonly state: 'failed'; readonly error: string }
  | { readonly state: 'superseded'; readonly detail: string };

export interface AlertLedger {
  claim(key: string, channel: AlertChannel, options: { now: Date; staleAfterMs: number }): Promise<ClaimOutcome>;
  /** Returns false when the claim was lost (another run re-claimed it as stale meanwhile). */
  settle(claim: AlertClaim, settlement: AlertSettlement, now: Date): Promise<boolean>;
  get(key: string, channel: AlertChannel): Promise<AlertRecord | undefined>;
}
