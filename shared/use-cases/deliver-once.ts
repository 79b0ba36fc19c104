import { AppError, describeError } from '../domain/errors.js';
import type { DeliveryLedger } from '../ports/ledger.js';
import type { Mailer, OutgoingMail } from '../ports/mailer.js';
import type { Clock, Logger } from '../ports/runtime.js';

export type DeliveryOutcome =
  | { readonly status: 'sent'; readonly location: string; readonly recipients: readonly string[] }
  | { readonly status: 'already-sent'; readonly recipients: readonly string[] }
  | { readonly status: 'no-recipients' };

/**
 * Sends a mail at most once per key: the ledger is checked before sending and written after, so a rerun
 * never sends twice, and a failed send (recorded as failed) is tried again by the next run.
 */
export async function deliverOnce(
  deps: { deliveries: DeliveryLedger; mailer: Mailer; clock: Clock; logger: Logger },
  request: { key: string; mail: Omit<OutgoingMail, 'idempotencyKey'>; resend: boolean },
): Promise<DeliveryOutcome> {
  const recipients = [...request.mail.to, ...(request.mail.cc ?? [])];
  if (recipients.length === 0) {
    deps.logger.warn(`no recipients configured for ${request.key}: nothing sent`);
    return { status: 'no-recipients' };
  }
  const previous = await deps.deliveries.get(request.key);
  if (previous?.status === 'sent' && !request.resend) {
    deps.logger.info(`${request.key} was already sent; not sending it again`);
    return { status: 'already-sent', recipients: previous.recipients };
  }
  const attempts = (previous?.attempts ?? 0) + 1;
  try {
    const sent = await deps.mailer.send({ ...request.mail, idempotencyKey: request.key });
    await deps.deliveries.put({ key: request.key, status: 'sent', attempts, recipients, messageId: sent.messageId, updatedAt: deps.clock.now() });
    return { status: 'sent', location: sent.location, recipients };
  } catch (error) {
    await deps.deliveries.put({ key: request.key, status: 'failed', attempts, recipients, lastError: describeError(error), updatedAt: deps.clock.now() });
    throw error instanceof AppError ? error : new AppError('MAIL_FAILED', `sending ${request.key} failed`, { retryable: true, cause: error });
  }
}
