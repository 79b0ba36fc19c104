import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';
import { AppError } from '../domain/errors.js';
import type { OutgoingMail } from '../ports/mailer.js';

/**
 * What every mailer (outbox, SMTP, Graph) puts on a message the same way, so that a retried delivery carries
 * the same identity whichever transport sends it.
 */

const MESSAGE_ID_DOMAIN = 'chargeback.local';

/** Custom header carrying the delivery key. Graph only accepts custom headers whose name starts with "x-". */
export const IDEMPOTENCY_HEADER = 'X-Idempotency-Key';

/** The Message-ID a delivery gets, derived from its idempotency key so every retry carries the same one. */
export function messageIdFor(idempotencyKey: string): string {
  return `<${sha256(idempotencyKey).slice(0, 32)}@${MESSAGE_ID_DOMAIN}>`;
}

/**
 * Refuses what could smuggle extra headers into the message (a CR or LF in any header value) and addresses
 * that cannot be right. Deliberately minimal: the real mail service is the judge of deliverability.
 */
export function validateOutgoingMail(mail: OutgoingMail): void {
  const problems: string[] = [];
  const headerValues: [string, string][] = [
    ['from', mail.from],
    ['subject', mail.subject],
    ['idempotency key', mail.idempotencyKey],
    ...mail.to.map((address): [string, string] => ['to', address]),
    ...(mail.cc ?? []).map((address): [string, string] => ['cc', address]),
    ...mail.attachments.flatMap((attachment): [string, string][] => [
      ['attachment file name', attachment.filename],
      ['attachment content type', attachment.contentType],
      ...(attachment.contentId === undefined ? [] : [['attachment content id', attachment.contentId] as [string, string]]),
    ]),
  ];
  for (const [field, value] of headerValues) {
    if (/[\r\n]/.test(value)) problems.push(`${field} contains a line break: ${JSON.stringify(value)}`);
  }
  for (const [field, address] of [['from', mail.from] as const, ...mail.to.map((a) => ['to', a] as const), ...(mail.cc ?? []).map((a) => ['cc', a] as const)]) {
    if (address.split('@').length !== 2) problems.push(`${field} address ${JSON.stringify(address)} must contain exactly one "@"`);
  }
  if (mail.to.length === 0) problems.push('the mail has no recipient');
  if (mail.idempotencyKey.trim() === '') problems.push('the idempotency key is empty');
  if (problems.length > 0) {
    throw new AppError('MAIL_FAILED', 'The mail was refused before sending.', { retryable: false, details: problems });
  }
}

/** The nodemailer message for a delivery: what the outbox writes to disk and what SMTP sends are the same bytes. */
export function nodemailerMessage(mail: OutgoingMail): SendMailOptions {
  return {
    from: mail.from,
    to: [...mail.to],
    cc: mail.cc && mail.cc.length > 0 ? [...mail.cc] : undefined,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: messageIdFor(mail.idempotencyKey),
    headers: { [IDEMPOTENCY_HEADER]: mail.idempotencyKey },
    attachments: mail.attachments.map((attachment) => ({
      filename: attachment.filename,
      contentType: attachment.contentType,
      content: attachment.content.length > STREAMED_ATTACHMENT_BYTES ? inSlices(attachment.content) : attachment.content,
      ...(attachment.contentId === undefined ? {} : { cid: attachment.contentId, contentDisposition: 'inline' as const }),
    })),
    // Only the bytes we were given go into the message: never a file or URL the content points at.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/**
 * Past this size an attachment is handed to nodemailer as a stream of slices: given one Buffer, its encoder
 * makes the whole base64 text (and then its wrapped lines) at once, 70 MB for a 26 MB finance workbook.
 */
const STREAMED_ATTACHMENT_BYTES = 1024 * 1024;
const ATTACHMENT_SLICE_BYTES = 57 * 1024;

/** A fresh stream per message composed (a retried send composes again), over views of the same bytes. */
function inSlices(content: Buffer): Readable {
  return Readable.from(
    (function* slices() {
      for (let at = 0; at < content.length; at += ATTACHMENT_SLICE_BYTES) yield content.subarray(at, at + ATTACHMENT_SLICE_BYTES);
    })(),
    { objectMode: false },
  );
}

/** "Name <address>" or "address" -> "address". */
export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
