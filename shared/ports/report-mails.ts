import type { MonthReport } from '../domain/report.js';
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

/** Turns a closed month's report into the mails people read (HTML and plain text): rendering is an adapter's job. */
export interface ReportMails {
  /** The monthly finance mail: headline numbers in the body, the finance workbook attached or linked. */
  financeMail(report: MonthReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
  /** The mail to one team's leads, from the team's own report, the team workbook attached or linked. */
  teamMail(report: MonthReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
}
