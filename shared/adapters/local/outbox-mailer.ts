import path from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { AppError } from '../../domain/errors.js';
import type { Mailer, OutgoingMail, SentMail } from '../../ports/mailer.js';
import { errorText, messageIdFor, nodemailerMessage, sha256, validateOutgoingMail } from '../mail-composition.js';
import { writeNewFile } from './directory-artifacts.js';

export { messageIdFor } from '../mail-composition.js';

const MAX_SAFE_NAME = 80;

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
 * drops it as an .eml file in a folder, named after its idempotency key. A second send of the same key is a
 * second file (`…-2.eml`), as a second message in a real inbox would be: the outbox never hides a duplicate.
 * Any mail client opens the files.
 */
export class OutboxMailer implements Mailer {
  private readonly directory: string;
  // Streamed, not buffered: a finance mail with a 26 MB workbook attached is 36 MB of MIME, which the buffered
  // transport held twice over (its chunks and their concatenation) at the close's peak of memory.
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: false, newline: 'windows' });

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  async send(mail: OutgoingMail): Promise<SentMail> {
    validateOutgoingMail(mail);
    const messageId = messageIdFor(mail.idempotencyKey);
    let message: Readable;
    try {
      const info = await this.transport.sendMail(nodemailerMessage(mail));
      if (!(info.message instanceof Readable)) throw new Error('the stream transport did not return a stream');
      message = info.message;
    } catch (error) {
      throw new AppError('MAIL_FAILED', `Could not compose the mail "${mail.subject}": ${errorText(error)}`, { retryable: false, cause: error });
    }

    try {
      const location = await writeNewFile(this.directory, outboxFileName(mail.idempotencyKey), message);
      return { messageId, location };
    } catch (error) {
      // The message is composed as it is written: a part that cannot be encoded fails here too.
      throw new AppError('MAIL_FAILED', `Could not write the mail "${mail.subject}" to the outbox ${this.directory}: ${errorText(error)}`, {
        retryable: false,
        cause: error,
      });
    }
  }
}
