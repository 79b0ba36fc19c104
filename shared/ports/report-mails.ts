import type { MonthReport } from '../domain/report.js';
import type { MailAttachment, OutgoingMail } from './mailer.js';

export interface ReportMailOptions {
  readonly from: string;
  readonly to: readonly string[];
  readonly attachment: MailAttachment;
  readonly revised: boolean;
}

/** Turns a closed month's report into the mails people read (HTML and plain text): rendering is an adapter's job. */
export interface ReportMails {
  /** The monthly finance mail: headline numbers in the body, the finance workbook attached. */
  financeMail(report: MonthReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
  /** The mail to one team's leads, from the team's own report, the team workbook attached. */
  teamMail(report: MonthReport, options: ReportMailOptions): Omit<OutgoingMail, 'idempotencyKey'>;
}
