export interface MailAttachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
  /** Set on an image the HTML part shows inline (`<img src="cid:...">`) rather than a file to open. */
  readonly contentId?: string;
}

export interface OutgoingMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly attachments: readonly MailAttachment[];
  /** Stable across retries of the same delivery, so a receiving system can spot a duplicate. */
  readonly idempotencyKey: string;
}

export interface SentMail {
  readonly messageId: string;
  /** Where the message went: a file path for the outbox, a mailbox for Graph, a server for SMTP. */
  readonly location: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<SentMail>;
  /**
   * Whether the mail with this idempotency key was sent, for a claim left by a run that died: true or false
   * when the mail service can tell (Graph: the sender's Sent Items, by internetMessageId), undefined when
   * it cannot (SMTP).
   */
  wasSent?(mail: { readonly idempotencyKey: string; readonly from: string }): Promise<boolean | undefined>;
}
