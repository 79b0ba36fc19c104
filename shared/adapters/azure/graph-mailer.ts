import { GraphError, type Client } from '@microsoft/microsoft-graph-client';
import { AppError } from '../../domain/errors.js';
import type { MailAttachment, Mailer, OutgoingMail, SentMail } from '../../ports/mailer.js';
import { bareAddress } from '../../domain/mail-address.js';
import { errorText, IDEMPOTENCY_HEADER, messageIdFor, validateOutgoingMail } from '../mail-composition.js';
import { graphHeaderOf, graphStatusOf, MAX_RETRY_DELAY_MS, retryDelayMs } from './graph-retry.js';

/** Upload-session chunks must be multiples of 320 KiB; Graph advises at most 4 MB per PUT. */
export const UPLOAD_CHUNK_UNIT_BYTES = 320 * 1024;
const MAX_UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;
const DEFAULT_UPLOAD_CHUNK_BYTES = 10 * UPLOAD_CHUNK_UNIT_BYTES;
/** Graph refuses requests over 4 MB; the margin leaves room for what the client adds. */
export const MAX_GRAPH_REQUEST_BYTES = 4_000_000;
/** Graph: attach a file under 3 MB with one POST, a file of 3 MB to 150 MB through an upload session. */
export const LARGE_ATTACHMENT_BYTES = 3_000_000;
const MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024;
const DEFAULT_MAX_ATTEMPTS = 4;

const PERMISSION = { send: 'Mail.Send', drafts: 'Mail.ReadWrite', read: 'Mail.ReadBasic' } as const;

export interface GraphMailerOptions {
  /** Built by graphClientFor: without the SDK's RetryHandler, so the retries below are the only ones. */
  readonly client: Client;
  /** The sending mailbox, as a user id or UPN. Messages go out as this mailbox whatever `mail.from` says. */
  readonly mailbox: string;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Used for the upload-session PUTs, which go to Exchange's pre-authenticated URL rather than to Graph. */
  readonly fetch?: typeof fetch;
  /** Attempts per request on 429 / 503 / 504 before giving up (default 4). */
  readonly maxAttempts?: number;
  /** Upper bound of one wait, even when Retry-After asks for more (default 60 s). */
  readonly maxRetryDelayMs?: number;
  /** Bytes per upload PUT: a positive multiple of 320 KiB, at most 4 MiB (default 3.125 MiB). */
  readonly uploadChunkBytes?: number;
  readonly log?: (message: string) => void;
}

interface GraphRecipient {
  readonly emailAddress: { readonly address: string; readonly name?: string };
}

interface UploadSession {
  readonly uploadUrl?: string;
  readonly nextExpectedRanges?: readonly string[];
}

/**
 * Sends mail as one Exchange Online mailbox through Microsoft Graph.
 *
 * A message whose request fits in Graph's 4 MB limit goes out in one POST /sendMail. A bigger one is built as
 * a draft: small attachments are POSTed to it one by one, large ones (3 MB to 150 MB) uploaded through an
 * upload session in chunks, then the draft is sent. Every message carries the delivery's deterministic
 * Message-ID and an X-Idempotency-Key header, so a receiving system can spot a duplicate.
 *
 * Only 429, 503 and 504 are retried here (honouring Retry-After, bounded): those say the request was not, or
 * not yet, acted on. Any other failure becomes AppError('MAIL_FAILED'), retryable for 5xx and lost
 * connections, where the next run's attempt (through the delivery ledger) is the retry.
 */
export class GraphMailer implements Mailer {
  private readonly client: Client;
  private readonly mailbox: string;
  private readonly mailboxPath: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly fetch: typeof fetch;
  private readonly maxAttempts: number;
  private readonly maxRetryDelayMs: number;
  private readonly uploadChunkBytes: number;
  private readonly log: (message: string) => void;

  constructor(options: GraphMailerOptions) {
    const mailbox = options.mailbox.trim();
    if (mailbox === '' || /[\s/?#]/.test(mailbox)) {
      throw new AppError('CONFIG_INVALID', `The Graph sender mailbox ${JSON.stringify(options.mailbox)} is not a user id or UPN.`);
    }
    const chunk = options.uploadChunkBytes ?? DEFAULT_UPLOAD_CHUNK_BYTES;
    if (!Number.isInteger(chunk) || chunk <= 0 || chunk % UPLOAD_CHUNK_UNIT_BYTES !== 0 || chunk > MAX_UPLOAD_CHUNK_BYTES) {
      throw new AppError('CONFIG_INVALID', `The upload chunk size ${chunk} must be a positive multiple of 320 KiB (327680 bytes), at most 4 MiB.`);
    }
    this.client = options.client;
    this.mailbox = mailbox;
    this.mailboxPath = `/users/${encodeURIComponent(mailbox)}`;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? MAX_RETRY_DELAY_MS;
    this.uploadChunkBytes = chunk;
    this.log = options.log ?? (() => {});
  }

  async send(mail: OutgoingMail): Promise<SentMail> {
    validateOutgoingMail(mail);
    const tooBig = mail.attachments.filter((attachment) => attachment.content.length > MAX_ATTACHMENT_BYTES);
    if (tooBig.length > 0) {
      throw new AppError('MAIL_FAILED', 'The mail was refused before sending.', {
        details: tooBig.map((attachment) => `attachment ${attachment.filename} is ${attachment.content.length} bytes; Graph attaches at most 150 MB per file`),
      });
    }
    const messageId = messageIdFor(mail.idempotencyKey);
    const inline = { message: { ...this.messageFields(mail), attachments: mail.attachments.map(fileAttachment) }, saveToSentItems: true };
    if (Buffer.byteLength(JSON.stringify(inline), 'utf8') <= MAX_GRAPH_REQUEST_BYTES) {
      await this.call('send the mail', PERMISSION.send, () => this.client.api(`${this.mailboxPath}/sendMail`).post(inline));
    } else {
      await this.sendThroughDraft(mail);
    }
    return { messageId, location: `graph:${this.mailbox}` };
  }

  /**
   * Looks the message up in the sender's Sent Items by the internetMessageId it was sent with. Undefined when
   * Graph cannot answer (no permission to read the mailbox, an outage): then the mail stays uncertain.
   */
  async wasSent(mail: { readonly idempotencyKey: string }): Promise<boolean | undefined> {
    const internetMessageId = messageIdFor(mail.idempotencyKey).replace(/'/g, "''");
    try {
      const found = (await this.call('look the message up in Sent Items', PERMISSION.read, () =>
        this.client
          .api(`${this.mailboxPath}/mailFolders/sentitems/messages`)
          .filter(`internetMessageId eq '${internetMessageId}'`)
          .select('id,internetMessageId')
          .top(1)
          .get(),
      )) as { value?: unknown[] } | undefined;
      return Array.isArray(found?.value) && found.value.length > 0;
    } catch (error) {
      this.log(`graph mailer: could not tell whether ${mail.idempotencyKey} was sent: ${errorText(error)}`);
      return undefined;
    }
  }

  private messageFields(mail: OutgoingMail): Record<string, unknown> {
    return {
      subject: mail.subject,
      body: { contentType: 'HTML', content: mail.html },
      toRecipients: mail.to.map(recipient),
      ccRecipients: (mail.cc ?? []).map(recipient),
      internetMessageId: messageIdFor(mail.idempotencyKey),
      internetMessageHeaders: [{ name: IDEMPOTENCY_HEADER, value: mail.idempotencyKey }],
    };
  }

  private async sendThroughDraft(mail: OutgoingMail): Promise<void> {
    const draft = (await this.call('create the draft', PERMISSION.drafts, () => this.client.api(`${this.mailboxPath}/messages`).post(this.messageFields(mail)))) as
      | { id?: string }
      | undefined;
    const draftId = draft?.id;
    if (typeof draftId !== 'string' || draftId === '') {
      throw new AppError('MAIL_FAILED', `Graph created a draft in ${this.mailbox} but returned no id`, { retryable: true });
    }
    const draftPath = `${this.mailboxPath}/messages/${encodeURIComponent(draftId)}`;
    try {
      for (const attachment of mail.attachments) {
        if (attachment.content.length < LARGE_ATTACHMENT_BYTES) {
          await this.call(`attach ${attachment.filename}`, PERMISSION.drafts, () => this.client.api(`${draftPath}/attachments`).post(fileAttachment(attachment)));
        } else {
          await this.uploadLargeAttachment(draftPath, attachment);
        }
      }
    } catch (error) {
      await this.discardDraft(draftPath);
      throw error;
    }
    await this.call('send the draft', PERMISSION.send, () => this.client.api(`${draftPath}/send`).post({}));
  }

  private async uploadLargeAttachment(draftPath: string, attachment: MailAttachment): Promise<void> {
    const session = (await this.call(`open an upload session for ${attachment.filename}`, PERMISSION.drafts, () =>
      this.client.api(`${draftPath}/attachments/createUploadSession`).post({
        AttachmentItem: { attachmentType: 'file', name: attachment.filename, size: attachment.content.length, contentType: attachment.contentType },
      }),
    )) as UploadSession | undefined;
    const uploadUrl = session?.uploadUrl;
    if (typeof uploadUrl !== 'string' || uploadUrl === '') {
      throw new AppError('MAIL_FAILED', `Graph opened no upload session for ${attachment.filename} (no uploadUrl)`, { retryable: true });
    }

    const content = attachment.content;
    const total = content.length;
    let offset = nextExpectedStart(session?.nextExpectedRanges) ?? 0;
    // Bounds the loop should the server keep asking for bytes it already has.
    const maxPuts = 2 * Math.ceil(total / this.uploadChunkBytes) + 2;
    for (let puts = 0; puts < maxPuts; puts += 1) {
      const end = Math.min(offset + this.uploadChunkBytes, total);
      const answer = await this.putChunk(uploadUrl, content, offset, end, attachment.filename);
      if (answer.status === 201) return;
      const next = nextExpectedStart(answer.nextExpectedRanges) ?? end;
      if (next >= total) break;
      offset = next;
    }
    throw new AppError('MAIL_FAILED', `The upload of ${attachment.filename} (${total} bytes) did not complete: Exchange never confirmed the last byte`, {
      retryable: true,
    });
  }

  /** One range PUT to the pre-authenticated upload URL: no Authorization header, as Graph's docs require. */
  private async putChunk(uploadUrl: string, content: Buffer, start: number, end: number, name: string): Promise<{ status: number; nextExpectedRanges?: readonly string[] }> {
    const what = `upload bytes ${start}-${end - 1} of ${name}`;
    for (let attempt = 1; ; attempt += 1) {
      let response: Response;
      try {
        response = await this.fetch(uploadUrl, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end - 1}/${content.length}` },
          body: new Uint8Array(content.subarray(start, end)),
        });
      } catch (error) {
        // A range PUT is safe to repeat: the session keeps whatever it already has.
        if (attempt >= this.maxAttempts) throw this.failure(what, PERMISSION.drafts, -1, null, errorText(error), attempt, error);
        await this.wait(what, 'no answer', retryDelayMs(undefined, attempt, this.maxRetryDelayMs), attempt);
        continue;
      }
      const body = (await response.json().catch(() => undefined)) as { nextExpectedRanges?: readonly string[]; error?: { code?: string; message?: string } } | undefined;
      if (response.status === 200 || response.status === 201) {
        return { status: response.status, ...(body?.nextExpectedRanges ? { nextExpectedRanges: body.nextExpectedRanges } : {}) };
      }
      if (!RETRIED_STATUSES.has(response.status) || attempt >= this.maxAttempts) {
        throw this.failure(what, PERMISSION.drafts, response.status, body?.error?.code ?? null, body?.error?.message ?? '', attempt, undefined);
      }
      await this.wait(what, String(response.status), retryDelayMs(response.headers.get('retry-after'), attempt, this.maxRetryDelayMs), attempt);
    }
  }

  /** Best effort: a half-built draft left behind would only clutter the mailbox. */
  private async discardDraft(draftPath: string): Promise<void> {
    try {
      await this.client.api(draftPath).delete();
    } catch (error) {
      this.log(`graph mailer: could not delete the unsent draft ${draftPath}: ${errorText(error)}`);
    }
  }

  private async call<T>(what: string, permission: string, request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await request();
      } catch (error) {
        const status = graphStatusOf(error);
        if (!RETRIED_STATUSES.has(status) || attempt >= this.maxAttempts) {
          const code = error instanceof GraphError ? error.code : null;
          throw this.failure(what, permission, status, code, errorText(error), attempt, error);
        }
        await this.wait(what, String(status), retryDelayMs(graphHeaderOf(error, 'retry-after'), attempt, this.maxRetryDelayMs), attempt);
      }
    }
  }

  private async wait(what: string, reason: string, delay: number, attempt: number): Promise<void> {
    this.log(`graph mailer: ${what} got ${reason}; retry ${attempt} in ${delay} ms`);
    await this.sleep(delay);
  }

  private failure(what: string, permission: string, status: number, code: string | null, message: string, attempts: number, cause: unknown): AppError {
    const label = `Graph could not ${what} as ${this.mailbox} (${status === -1 ? 'no answer' : status}${code ? ` ${code}` : ''})${message ? `: ${message}` : ''}`;
    const options = (retryable: boolean) => ({ retryable, ...(cause === undefined ? {} : { cause }) });
    if (status === 401 || status === 403) {
      return new AppError(
        'MAIL_FAILED',
        `${label}. The app's identity needs the ${permission} application permission for the mailbox ${this.mailbox}, scoped to that mailbox with Exchange Online RBAC for Applications — see docs/graph-permissions.md.`,
        options(false),
      );
    }
    if (status === 404) return new AppError('MAIL_FAILED', `${label}. Check MAIL_SENDER_MAILBOX: is ${this.mailbox} an Exchange Online mailbox?`, options(false));
    if (RETRIED_STATUSES.has(status)) return new AppError('MAIL_FAILED', `${label}, still failing after ${attempts} attempts`, options(true));
    // A lost connection or another 5xx may or may not have been acted on: the ledger lets the next run try again.
    return new AppError('MAIL_FAILED', label, options(status === -1 || status >= 500));
  }
}

/**
 * 429 and 503 mean the request was turned away; 504 that it timed out in the gateway. A repeated send after a
 * 504 could in rare cases deliver twice; the fixed Message-ID and X-Idempotency-Key let the receiver tell.
 */
const RETRIED_STATUSES: ReadonlySet<number> = new Set([429, 503, 504]);

function recipient(address: string): GraphRecipient {
  const bare = bareAddress(address);
  const name = address.includes('<') ? address.slice(0, address.lastIndexOf('<')).trim().replace(/^"(.*)"$/, '$1') : '';
  return { emailAddress: name === '' ? { address: bare } : { address: bare, name } };
}

function fileAttachment(attachment: MailAttachment): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: attachment.filename,
    contentType: attachment.contentType,
    contentBytes: attachment.content.toString('base64'),
    ...(attachment.contentId === undefined ? {} : { isInline: true, contentId: attachment.contentId }),
  };
}

/** "2097152" or "2097152-" or "0-1023" -> 2097152 / 0: where the server wants the next bytes from. */
function nextExpectedStart(ranges: readonly string[] | undefined): number | undefined {
  const first = ranges?.[0];
  if (first === undefined) return undefined;
  const start = Number(first.split('-')[0]);
  return Number.isInteger(start) && start >= 0 ? start : undefined;
}
