import { createHash } from 'node:crypto';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { AppError } from '../../domain/errors.js';
import type { Mailer, OutgoingMail, SentMail } from '../../ports/mailer.js';
import { writeFileAtomically } from './directory-artifacts.js';

const MESSAGE_ID_DOMAIN = 'chargeback.local';
const MAX_SAFE_NAME = 80;

/** The Message-ID a delivery gets, derived from its idempotency key so every retry carries the same one. */
export function messageIdFor(idempotencyKey: string): string {
  return `<${sha256(idempotencyKey).slice(0, 32)}@${MESSAGE_ID_DOMAIN}>`;
}

/**
 * The outbox file name for a key: the key's readable characters, plus a hash of the whole key so that two
 * keys that differ only in replaced characters ("a/b" and "a_b") never share a file.
 */
export function outboxFileName(idempotencyKey: string): string {
  const readable = idempotencyKey.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, MAX_SAFE_NAME).replace(/[._]+$/, '');
  return `${readable || 'mail'}-${sha256(idempotencyKey).slice(0, 12)}.eml`;
}

/**
 * A mailer for local runs and tests: composes the real MIME message (what SMTP or Graph would carry) and
 * drops it as an .eml file in a folder, one file per idempotency key, so a resend overwrites rather than
 * duplicates. Any mail client opens the files.
 */
export class OutboxMailer implements Mailer {
  private readonly directory: string;
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  async send(mail: OutgoingMail): Promise<SentMail> {
    validate(mail);
    const messageId = messageIdFor(mail.idempotencyKey);
    let message: Buffer;
    try {
      const info = await this.transport.sendMail({
        from: mail.from,
        to: [...mail.to],
        cc: mail.cc && mail.cc.length > 0 ? [...mail.cc] : undefined,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId,
        headers: { 'X-Idempotency-Key': mail.idempotencyKey },
        attachments: mail.attachments.map((attachment) => ({
          filename: attachment.filename,
          contentType: attachment.contentType,
          content: attachment.content,
        })),
        // Only the bytes we were given go into the message: never a file or URL the content points at.
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      if (!Buffer.isBuffer(info.message)) throw new Error('the stream transport did not return a buffer');
      message = info.message;
    } catch (error) {
      throw new AppError('MAIL_FAILED', `Could not compose the mail "${mail.subject}": ${errorText(error)}`, { retryable: false, cause: error });
    }

    try {
      const location = await writeFileAtomically(this.directory, outboxFileName(mail.idempotencyKey), message);
      return { messageId, location };
    } catch (error) {
      throw new AppError('MAIL_FAILED', `Could not write the mail "${mail.subject}" to the outbox ${this.directory}: ${errorText(error)}`, {
        retryable: false,
        cause: error,
      });
    }
  }
}

/**
 * Refuses what could smuggle extra headers into the message (a CR or LF in any header value) and addresses
 * that cannot be right. Deliberately minimal: the real mail service is the judge of deliverability.
 */
function validate(mail: OutgoingMail): void {
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

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
