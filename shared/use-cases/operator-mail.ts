import type { ControlResult } from '../domain/controls.js';
import type { MailAttachment, OutgoingMail } from '../ports/mailer.js';

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The operator's mail about a close that did not reach finance: what was found, and what a person can do
 * about it. Nobody else receives it.
 */
export function composeOperatorMail(input: {
  month: string;
  state: 'held' | 'refused';
  reason: ControlResult;
  revision: number | null;
  from: string;
  to: readonly string[];
  attachment?: MailAttachment;
}): Omit<OutgoingMail, 'idempotencyKey'> {
  const { month, state, reason } = input;
  const subject = state === 'held' ? `Chargeback ${month} held for review: ${reason.id}` : `Chargeback ${month} refused: ${reason.id}`;
  const next =
    state === 'held'
      ? [
          `Nothing was sent to finance or to team leads. The figures are stored as an unpublished draft (revision ${input.revision}); the draft workbook is attached.`,
          'If the figures are right: chargeback close --month ' + month + ' --release-hold --reason "<why they are right>" (with the same input).',
          'If the input was wrong: correct it and close again; the corrected close replaces the draft.',
        ]
      : ['Nothing was stored and nothing was sent. Correct the input (or wait until the month is complete) and close again.'];
  const details = reason.details ?? [];
  const text = [`The close of ${month} was ${state}.`, '', `${reason.id}: ${reason.message}`, ...details.map((detail) => `  - ${detail}`), '', ...next, ''].join('\n');
  const html = [
    `<p>The close of ${escapeHtml(month)} was <strong>${state}</strong>.</p>`,
    `<p><strong>${escapeHtml(reason.id)}</strong>: ${escapeHtml(reason.message)}</p>`,
    details.length > 0 ? `<ul>${details.map((detail) => `<li>${escapeHtml(detail)}</li>`).join('')}</ul>` : '',
    ...next.map((line) => `<p>${escapeHtml(line)}</p>`),
  ].join('');
  return { from: input.from, to: input.to, subject, text, html, attachments: input.attachment ? [input.attachment] : [] };
}

/** The operator's mail about work items of a fanned-out close that failed every retry (its queues' poison messages). */
export function composeStuckWorkMail(input: {
  month: string;
  items: readonly { readonly queue: string; readonly id: string; readonly insertedAt: Date; readonly body: unknown }[];
  from: string;
  to: readonly string[];
}): Omit<OutgoingMail, 'idempotencyKey'> {
  const { month, items } = input;
  const lines = items.map((item) => `${item.queue} message ${item.id} (queued ${item.insertedAt.toISOString()}): ${JSON.stringify(item.body)}`);
  const next = [
    'Each of these failed every retry and was moved to its queue\'s poison queue; the function logs in Application Insights say why.',
    `Once the cause is fixed, close ${month} again: the close queues every item that is not done once more, and nothing already sent is sent twice.`,
    'Then delete the messages from the poison queues so that they are not reported again.',
  ];
  const text = [`${items.length} work item(s) of the close of ${month} are stuck.`, '', ...lines.map((line) => `  - ${line}`), '', ...next, ''].join('\n');
  const html = [
    `<p>${items.length} work item(s) of the close of ${escapeHtml(month)} are <strong>stuck</strong>.</p>`,
    `<ul>${lines.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`,
    ...next.map((line) => `<p>${escapeHtml(line)}</p>`),
  ].join('');
  return { from: input.from, to: input.to, subject: `Chargeback ${month}: ${items.length} work item(s) stuck`, text, html, attachments: [] };
}
