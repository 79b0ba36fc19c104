import type { ReportWithoutLines } from '../domain/report.js';
import type { MailAttachment, OutgoingMail } from './mailer.js';

/** A file the mail links to instead of attaching it: a workbook over the size limit, or the FOCUS export. */
export interface MailDownload {
  readonly kind: 'workbook' | 'focus-export';
  readonly filename: string;
  readonly url: string;
  readonly expiresAt: Date;
  readonly bytes?: number;
}

export interface ReportMailOptions {
  readonly from: string;
  readonly to: readonly string[];
  /** The workbook, when it is small enough to attach; otherwise it is among `downloads`. */
  readonly attachment?: MailAttachment;
  readonly downloads?: readonly MailDownload[];
  readonly revised: boolean;
}

/**
 * What a mail shows of a report: its figures by team, user, model, tier and day, not its lines (the workbook
 * has them). A close keeps this much of each team's report until its mails go, not every line twice.
 */
export type MailReport = ReportWithoutLines;

/** Turns a closed month's report into the mails people read (HTML and plain text): rendering is an adapter's job. */
export interface ReportMails {
  /** The monthly finance mail: headline numbers in the body, the finance workbook attached or linked. */
  financeMail(report: MailReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
  /** The mail to one team's leads, from the team's own report, the team workbook attached or linked. */
  teamMail(report: MailReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
}
