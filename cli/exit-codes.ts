import type { CloseMonthResult } from '../shared/use-cases/close-month.js';

/**
 * Exit codes a scheduler or a script can act on. 75 is EX_TEMPFAIL from sysexits.h: try again later.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  /** Bad input or settings, or a close refused by its controls: nothing was stored or sent. */
  badInput: 2,
  /** The close is held for review: a draft was stored, only the operator was told. */
  held: 3,
  /** The close went through, but some mails were claimed by a run that died and may or may not have gone. */
  uncertain: 4,
  /** Another run holds the month: this one did nothing. */
  busy: 75,
} as const;

/** Ends the command with this exit code after it printed its result. */
export class ExitCode extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export function closeExitCode(result: CloseMonthResult): number {
  if (result.state === 'held') return EXIT.held;
  const uncertain = result.mail.status === 'uncertain' || result.teams.some((team) => team.mail.status === 'uncertain');
  return uncertain ? EXIT.uncertain : EXIT.ok;
}
