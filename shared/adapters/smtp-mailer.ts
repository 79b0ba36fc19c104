import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { AppError } from '../domain/errors.js';
import type { Mailer, OutgoingMail, SentMail } from '../ports/mailer.js';
import { errorText, messageIdFor, nodemailerMessage, validateOutgoingMail } from './mail-composition.js';

export interface SmtpMailerOptions {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465). Otherwise the connection starts plain and may upgrade with STARTTLS. */
  readonly secure: boolean;
  /** Refuse to send unless the server upgrades with STARTTLS, so a password never travels in the clear. */
  readonly requireTLS?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  readonly connectionTimeoutMs?: number;
  readonly socketTimeoutMs?: number;
  /** Told when the server accepted the message for some recipients but refused others. */
  readonly log?: (message: string) => void;
}

/** Connection-level failures: the message was not handed over, so sending again later is safe. */
const CONNECTION_ERRORS = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET']);

/**
 * Sends through an SMTP relay (for example Exchange Online's smtp.office365.com:587 or an internal relay) with
 * nodemailer. The message is the one the outbox writes, byte for byte in structure: the same deterministic
 * Message-ID and X-Idempotency-Key header for the same delivery.
 */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;
  private readonly location: string;
  private readonly log: (message: string) => void;

  constructor(options: SmtpMailerOptions) {
    this.transport = nodemailer.createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure,
      requireTLS: options.requireTLS ?? false,
      ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass } } : {}),
      connectionTimeout: options.connectionTimeoutMs ?? 30_000,
      greetingTimeout: options.connectionTimeoutMs ?? 30_000,
      socketTimeout: options.socketTimeoutMs ?? 120_000,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    this.location = `smtp://${options.host}:${options.port}`;
    this.log = options.log ?? (() => {});
  }

  async send(mail: OutgoingMail): Promise<SentMail> {
    validateOutgoingMail(mail);
    const messageId = messageIdFor(mail.idempotencyKey);
    let info: SMTPTransport.SentMessageInfo;
    try {
      info = await this.transport.sendMail(nodemailerMessage(mail));
    } catch (error) {
      throw smtpError(error, mail.subject, this.location);
    }
    const rejected = ((info.rejected ?? []) as unknown[]).map((entry) => (typeof entry === 'string' ? entry : String((entry as { address?: unknown }).address)));
    if (rejected.length > 0) {
      // The others have it already: failing here would make the next run send them a second copy.
      this.log(`smtp mailer: ${this.location} accepted "${mail.subject}" but refused ${rejected.join(', ')}`);
    }
    return { messageId, location: this.location };
  }

  /** Closes pooled connections (none by default); for tests and shutdown. */
  close(): void {
    this.transport.close();
  }
}

/** 4xx replies and lost connections are worth another try; 5xx replies and bad settings are not. */
function smtpError(error: unknown, subject: string, location: string): AppError {
  const details = error as { code?: string; responseCode?: number; response?: string; command?: string };
  const label = `${location} did not take the mail "${subject}"${details.command ? ` (${details.command})` : ''}: ${errorText(error)}`;
  if (typeof details.responseCode === 'number') {
    const retryable = details.responseCode >= 400 && details.responseCode < 500;
    return new AppError('MAIL_FAILED', label, { retryable, cause: error });
  }
  const retryable = details.code !== undefined && CONNECTION_ERRORS.has(details.code);
  const hint = details.code === 'EAUTH' ? ' Check SMTP_USER and SMTP_PASSWORD.' : details.code === 'ETLS' ? ' Check SMTP_SECURE / SMTP_REQUIRE_TLS against the server.' : '';
  return new AppError('MAIL_FAILED', `${label}${hint}`, { retryable, cause: error });
}
