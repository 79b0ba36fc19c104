import type { Mailer, OutgoingMail, SentMail } from '../ports/mailer.js';
import { bareAddress } from '../domain/mail-address.js';

/** Exchange Online's sending limit: 30 messages a minute per mailbox. */
export const DEFAULT_MESSAGES_PER_MINUTE = 30;
const WINDOW_MS = 60_000;

export interface PacedMailerOptions {
  /** At most this many sends start in any rolling 60 s, per mailbox (default 30). */
  readonly messagesPerMinute?: number;
  /** Which mailbox a mail counts against (default: the address in `from`, lower-cased). */
  readonly mailboxOf?: (mail: OutgoingMail) => string;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told each time a send has to wait for the window. */
  readonly log?: (message: string) => void;
}

/**
 * Keeps a mailer under a per-mailbox rate by waiting rather than failing: a month close that mails sixty team
 * leads takes two minutes instead of tripping Exchange's throttling halfway. Every send that starts counts,
 * failed ones included, as the server may have counted them too. The pace holds within one process; several
 * workers sending from the same mailbox each keep their own count.
 */
export class PacedMailer implements Mailer {
  private readonly inner: Mailer;
  private readonly limit: number;
  private readonly mailboxOf: (mail: OutgoingMail) => string;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (message: string) => void;
  /** mailbox -> start times of the sends inside the current window, oldest first. */
  private readonly recent = new Map<string, number[]>();
  /** mailbox -> the end of the queue of sends waiting for a slot, so concurrent sends take turns. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(inner: Mailer, options: PacedMailerOptions = {}) {
    const limit = options.messagesPerMinute ?? DEFAULT_MESSAGES_PER_MINUTE;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`messagesPerMinute must be a positive integer, got ${limit}`);
    this.inner = inner;
    this.limit = limit;
    this.mailboxOf = options.mailboxOf ?? ((mail) => bareAddress(mail.from).toLowerCase());
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.log = options.log ?? (() => {});
  }

  async send(mail: OutgoingMail): Promise<SentMail> {
    await this.takeSlot(this.mailboxOf(mail));
    return this.inner.send(mail);
  }

  /** A look-up sends nothing, so it takes no slot. */
  async wasSent(mail: { readonly idempotencyKey: string; readonly from: string }): Promise<boolean | undefined> {
    return this.inner.wasSent?.(mail);
  }

  private takeSlot(mailbox: string): Promise<void> {
    const previous = this.queues.get(mailbox) ?? Promise.resolve();
    const turn = previous.then(() => this.waitForRoom(mailbox));
    // The queue must survive a rejected turn; the caller still sees the rejection through `turn`.
    const tail = turn.catch(() => {});
    this.queues.set(mailbox, tail);
    void tail.then(() => {
      if (this.queues.get(mailbox) === tail) this.queues.delete(mailbox);
    });
    return turn;
  }

  private async waitForRoom(mailbox: string): Promise<void> {
    const starts = this.recent.get(mailbox) ?? [];
    this.recent.set(mailbox, starts);
    for (;;) {
      const now = this.now();
      while (starts.length > 0 && (starts[0] as number) + WINDOW_MS <= now) starts.shift();
      if (starts.length < this.limit) {
        starts.push(now);
        return;
      }
      const delay = (starts[0] as number) + WINDOW_MS - now;
      this.log(`paced mailer: ${this.limit} messages from ${mailbox} in the last minute; waiting ${delay} ms`);
      await this.sleep(delay);
    }
  }
}
