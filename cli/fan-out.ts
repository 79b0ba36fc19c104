import type { Services } from '../shared/composition-root.js';
import { AppError } from '../shared/domain/errors.js';
import type { WorkItemState } from '../shared/ports/close-progress.js';
import type { Logger } from '../shared/ports/runtime.js';
import type { CloseMonthResult, TeamMailOutcome } from '../shared/use-cases/close-month.js';
import { financeDeliveryKey, teamDeliveryKey } from '../shared/use-cases/close-artifacts.js';
import { closeWorkHandlers, stuckWorkOf, summarizeProgress, type StuckWorkItem } from '../shared/use-cases/close-work.js';
import type { DeliveryOutcome } from '../shared/use-cases/deliver-once.js';

export interface DrainedClose {
  /** The close's result with its workbooks' places and its mails' outcomes as the work items left them. */
  readonly result: CloseMonthResult;
  readonly stuck: readonly StuckWorkItem[];
  readonly summary: string;
}

/**
 * Runs the work items a fanned-out close queued, with `workers` workers calling the same handlers as the
 * queue-triggered functions, until the queues are empty; then reads what the items did.
 */
export async function drainClose(services: Services, result: CloseMonthResult, options: { workers: number; logger: Logger; since: Date }): Promise<DrainedClose> {
  const { closeWork, drainWorkQueues } = services;
  if (!closeWork || !drainWorkQueues) throw new AppError('INTERNAL', 'the close fanned out, but no work queues are there to drain');
  const started = Date.now();
  let handled = 0;
  const drained = await drainWorkQueues(closeWorkHandlers({ ...closeWork, logger: options.logger }), {
    workers: options.workers,
    // Locally a failed item is tried again soon: nobody waits 30 s at a terminal for the host's retry delay.
    retryDelaySeconds: 1,
    onProgress: (progress) => {
      handled += 1;
      if (progress.outcome !== 'completed') options.logger.warn(`${progress.queue} ${progress.outcome} (delivery ${progress.dequeueCount})${progress.error ? `: ${progress.error}` : ''}`);
      else if (handled % 25 === 0) options.logger.progress('work', `${progress.totals.completed} work item(s) done`);
    },
  });
  const items = await closeWork.progress.items(result.month, result.revision);
  const stuck = await stuckWorkOf(closeWork.queues, result.month);
  const counts = summarizeProgress(items);
  const summary =
    `Work items:      ${counts.done} done, ${counts.superseded} superseded, ${counts.pending} pending, by ${options.workers} worker(s) in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    ` (${drained.totals.completed} messages completed, ${drained.totals.retried} retried, ${drained.totals.poisoned} poisoned)` +
    (stuck.length > 0 ? `\nSTUCK:           ${stuck.length} work item(s) in the poison queues (${stuck.map((item) => `${item.queue} ${JSON.stringify(item.body)}`).join('; ')}); fix the cause and close again` : '');
  return { result: withDelivery(result, items, services, options.since), stuck, summary };
}

/** The close's result as its work items finished it: where the workbooks are and what became of each mail. */
function withDelivery(result: CloseMonthResult, items: readonly WorkItemState[], services: Services, since: Date): CloseMonthResult {
  const byId = new Map(items.map((item) => [item.id, item]));
  const finance = byId.get('finance')?.outcome?.location;
  const mailOf = (key: string, recipients: readonly string[], queued: TeamMailOutcome): TeamMailOutcome => {
    const item = byId.get(`mail~${key}`);
    return item ? outcomeOf(item, recipients, since) ?? queued : queued;
  };
  const financeMail = mailOf(financeDeliveryKey(result.month, result.revision), services.settings.mail.financeRecipients, result.mail as TeamMailOutcome);
  return {
    ...result,
    // The export is written beside the finance workbook, by the same item.
    ...(finance ? { workbookLocation: finance, ...(result.focusLocation ? { focusLocation: siblingOf(finance, result.focusLocation) } : {}) } : {}),
    mail: financeMail as CloseMonthResult['mail'],
    teams: result.teams.map((team) => ({
      ...team,
      workbookLocation: byId.get(`team~${team.teamId}`)?.outcome?.location ?? team.workbookLocation,
      mail: team.mail.status === 'queued' ? mailOf(teamDeliveryKey(result.month, result.revision, team.teamId), [], team.mail) : team.mail,
    })),
  };
}

function siblingOf(location: string, name: string): string {
  const cut = Math.max(location.lastIndexOf('/'), location.lastIndexOf('\\'));
  return cut < 0 ? name : `${location.slice(0, cut + 1)}${name}`;
}

/** A mail an earlier run's items sent reads as already sent, as the inline close reports it. */
function outcomeOf(item: WorkItemState, recipients: readonly string[], since: Date): DeliveryOutcome | undefined {
  switch (item.outcome?.mail) {
    case 'sent':
      if (item.updatedAt < since) return { status: 'already-sent', recipients };
      return { status: 'sent', location: item.outcome.location ?? '', recipients };
    case 'already-sent':
      return { status: 'already-sent', recipients };
    case 'no-recipients':
      return { status: 'no-recipients' };
    case 'uncertain':
      return { status: 'uncertain', recipients, claimedAt: item.updatedAt };
    default:
      return undefined;
  }
}
