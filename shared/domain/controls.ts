/**
 * Controls are the checks a close runs after pricing and before anything reaches a person. Each one says
 * what it found and what that means for the close:
 * - pass: nothing to report;
 * - warn: shown to finance (mail, Run sheet), the close goes on;
 * - hold: the figures are stored as a draft and only the operator is told, until a person releases the hold
 *   or a corrected close replaces the draft;
 * - refuse: the input cannot be right; nothing is stored and nothing is mailed.
 */
export type ControlOutcome = 'pass' | 'warn' | 'hold' | 'refuse';

export interface ControlResult {
  /** Stable id, e.g. "usage.empty", "usage.duplicates", "billed.ratio": used for notify-once-per-reason. */
  readonly id: string;
  readonly outcome: ControlOutcome;
  /** One sentence for a person: what was found, with the figures. */
  readonly message: string;
  /** Supporting lines (first duplicates, file names, per-day figures), at most a few dozen. */
  readonly details?: readonly string[];
}

const SEVERITY: Record<ControlOutcome, number> = { pass: 0, warn: 1, hold: 2, refuse: 3 };

/** The close's verdict is its worst control: one refusal refuses, else one hold holds. */
export function worstOutcome(results: readonly ControlResult[]): ControlOutcome {
  let worst: ControlOutcome = 'pass';
  for (const result of results) if (SEVERITY[result.outcome] > SEVERITY[worst]) worst = result.outcome;
  return worst;
}

export function controlsWith(results: readonly ControlResult[], outcome: ControlOutcome): ControlResult[] {
  return results.filter((result) => result.outcome === outcome);
}
