/**
 * A lease on a named piece of work (one month's close), so that two runs of the same work never overlap:
 * the daily timer and a manual run, or two instances of the app. A lease expires unless renewed, so a run that
 * died frees its work after the lease's duration.
 */
export interface Leases {
  /** Takes the lease, or answers who holds it when another run does. */
  acquire(name: string, holder: string): Promise<LeaseAcquisition>;
}

export type LeaseAcquisition = { readonly acquired: true; readonly lease: HeldLease } | { readonly acquired: false; readonly heldBy: string; readonly expiresAt: Date };

export interface HeldLease {
  readonly name: string;
  readonly holder: string;
  /** Keeps the lease while the work goes on; throws when the lease was lost (expired and taken by another run). */
  renew(): Promise<void>;
  /** Gives the lease up; safe to call twice, and after the lease was lost. */
  release(): Promise<void>;
}
