import { AppError, describeError } from '../domain/errors.js';
import type { DeliveryLedger, DeliveryRecord } from '../ports/ledger.js';
import type { Mailer, OutgoingMail } from '../ports/mailer.js';
import type { Clock, Logger } from '../ports/runtime.js';

export type DeliveryOutcome =
  | { readonly status: 'sent'; readonly location: string; readonly recipients: readonly string[] }
  | { readonly status: 'already-sent'; readonly recipients: readonly string[] }
  | { readonly status: 'no-recipients' }
  /**
   * An earlier run claimed this mail and never recorded the send: it died between sending and recording, or
   * while sending. Whether the mail went cannot be known here, so it is neither sent again nor forgotten:
   * a person checks and runs `close --resend-uncertain`.
   */
  | { readonly status: 'uncertain'; readonly recipients: readonly string[]; readonly claimedAt: Date };

export interface DeliverOnceRequest {
  readonly key: string;
  readonly mail: Omit<OutgoingMail, 'idempotencyKey'>;
  /** Send again even though it was sent (a person asked for it). */
  readonly resend: boolean;
  /** Send a mail whose earlier send is uncertain (a person checked that it did not arrive). */
  readonly resendUncertain?: boolean;
}

/**
 * Sends a mail at most once per key. The mail is claimed in the ledger (an insert that fails when the key is
 * there, or a change conditional on the record read) before it is sent, and marked sent after:
 * - a rerun finds "sent" and sends nothing;
 * - a failed send is recorded as failed, and the next run tries again;
 * - a run that died after claiming leaves the claim: the next run asks the mailer whether the message went
 *   (Graph can look it up in Sent Items); when the mailer cannot tell, the mail is reported uncertain.
 * Two runs racing for one mail cannot both claim it.
 */
export async function deliverOnce(deps: { deliveries: DeliveryLedger; mailer: Mailer; clock: Clock; logger: Logger }, request: DeliverOnceRequest): Promise<DeliveryOutcome> {
  const recipients = [...request.mail.to, ...(request.mail.cc ?? [])];
  if (recipients.length === 0) {
    deps.logger.warn(`no recipients configured for ${request.key}: nothing sent`);
    return { status: 'no-recipients' };
  }
  let previous = await deps.deliveries.get(request.key);
  if (previous?.status === 'sent' && !request.resend) {
    deps.logger.info(`${request.key} was already sent; not sending it again`);
    return { status: 'already-sent', recipients: previous.recipients };
  }
  if (previous?.status === 'claimed' && !request.resendUncertain) {
    const went = await deps.mailer.wasSent?.({ idempotencyKey: request.key, from: request.mail.from });
    if (went === true) {
      await deps.deliveries.put({ ...withoutEtag(previous), status: 'sent', updatedAt: deps.clock.now() });
      deps.logger.info(`${request.key} was claimed by a run that stopped; the mailbox shows it was sent, so it is recorded as sent`);
      return { status: 'already-sent', recipients: previous.recipients };
    }
    if (went === undefined) {
      deps.logger.warn(`${request.key} was claimed at ${previous.updatedAt.toISOString()} by a run that stopped before recording the send: it may or may not have gone; not sending it again (check, then use --resend-uncertain)`);
      return { status: 'uncertain', recipients: previous.recipients, claimedAt: previous.updatedAt };
    }
    deps.logger.info(`${request.key} was claimed by a run that stopped; the mailbox shows it was not sent, so it is sent now`);
  }

  const attempts = (previous?.attempts ?? 0) + 1;
  const claim: DeliveryRecord = { key: request.key, status: 'claimed', attempts, recipients, updatedAt: deps.clock.now() };
  if (!(await deps.deliveries.claim(claim, previous))) {
    previous = await deps.deliveries.get(request.key);
    deps.logger.warn(`${request.key} was claimed by another run at the same time; this run leaves it to that one`);
    if (previous?.status === 'sent') return { status: 'already-sent', recipients: previous.recipients };
    return { status: 'uncertain', recipients, claimedAt: previous?.updatedAt ?? claim.updatedAt };
  }

  let sent;
  try {
    sent = await deps.mailer.send({ ...request.mail, idempotencyKey: request.key });
  } catch (error) {
    await deps.deliveries.put({ key: request.key, status: 'failed', attempts, recipients, lastError: describeError(error), updatedAt: deps.clock.now() });
    throw error instanceof AppError ? error : new AppError('MAIL_FAILED', `sending ${request.key} failed`, { retryable: true, cause: error });
  }
  // Should the process die before this line, the claim stays and the next run reports the mail as uncertain.
  await deps.deliveries.put({ key: request.key, status: 'sent', attempts, recipients, messageId: sent.messageId, updatedAt: deps.clock.now() });
  return { status: 'sent', location: sent.location, recipients };
}

function withoutEtag(record: DeliveryRecord): DeliveryRecord {
  const { etag: _etag, ...rest } = record;
  return rest;
}
