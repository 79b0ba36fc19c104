import type { ControlResult } from '../domain/controls.js';
import { AppError, describeError } from '../domain/errors.js';
import { bareAddress } from '../domain/mail-address.js';
import type { TimeWindow } from '../domain/periods.js';
import { buildMonthReport, buildMonthReportFromTotals, buildTeamReportFrom, type DaySummary, type MonthReport, type PreviousMonthFigures, type ReportContext, type RevisionChanges, type TeamShare } from '../domain/report.js';
import { compareLines, compareTeamIds, totalsOf, type LineTotals, type MonthlyLine } from '../domain/rollup.js';
import { UNALLOCATED_TEAM } from '../domain/directory.js';
import type { PriceBook } from '../domain/price-book.js';
import { fromTaggedJson, toTaggedJson } from '../domain/tagged-json.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { CloseProgress, PlannedWorkItem, WorkItemState, WorkOutcome } from '../ports/close-progress.js';
import type { CostExporter } from '../ports/cost-export.js';
import type { HeldLease, Leases } from '../ports/lease.js';
import type { DeliveryLedger } from '../ports/ledger.js';
import type { MailAttachment, Mailer, OutgoingMail } from '../ports/mailer.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { ReportMails } from '../ports/report-mails.js';
import type { ReportRenderer } from '../ports/report-renderer.js';
import type { RevisionedRollupStore } from '../ports/rollup-store.js';
import type { Clock, Logger } from '../ports/runtime.js';
import { WORK_QUEUE_NAMES, type MailPacer, type PoisonedMessage, type WorkHandler, type WorkMessageMeta, type WorkQueueName, type WorkQueues } from '../ports/work-queues.js';
import {
  XLSX_TYPE,
  financeDeliveryKey,
  focusName,
  mailFiles,
  teamDeliveryKey,
  teamWorkbookName,
  workbookName,
  joinFocusExport,
  writeFocusExport,
  writeFocusPart,
  type ArtifactMailSettings,
} from './close-artifacts.js';
import { billedRatesOf, withBilling, type BillStep } from './reconcile-bill.js';
import { deliverOnce, type DeliveryOutcome } from './deliver-once.js';

/**
 * The delivery half of a close, cut into work items that queue-triggered functions run on as many instances
 * as Azure gives them: one item per team (its lines, workbook and mail), one finance item once every team
 * item is done (the finance workbook, the FOCUS export and finance's mail), and one item per mail on a single
 * paced queue. The close itself (figures, controls, storing and publishing the revision) stays one step under
 * the month's lease; it then dispatches the items. Every item is idempotent and runs under a lease of its
 * own, so a message delivered twice does its work once; a rerun of the close dispatches what is not done.
 */

export interface CloseWorkDeps {
  readonly rollups: RevisionedRollupStore;
  readonly deliveries: DeliveryLedger;
  readonly leases: Leases;
  readonly renderer: ReportRenderer;
  readonly reportMails: ReportMails;
  readonly costExport: CostExporter;
  readonly artifacts: ArtifactStore;
  readonly mailer: Mailer;
  /** The FOCUS export needs the whole book (its list prices); the finance item checks it is the closed version. */
  readonly priceBooks: PriceBookSource;
  readonly queues: WorkQueues;
  readonly progress: CloseProgress;
  readonly pacer: MailPacer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: {
    readonly timeZone: string;
    readonly mailFrom: string;
    readonly financeRecipients: readonly string[];
    readonly artifactMail?: ArtifactMailSettings;
    /** A mail whose paced slot is further away than this goes back on the queue, delayed, instead of waiting. */
    readonly maxPacingWaitMs?: number;
  };
  /** Waits for a mail's slot; a timer by default. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Everything a revision's work items need that is not in its stored lines, saved once by the close. */
export interface RevisionWork {
  readonly month: string;
  readonly revision: number;
  readonly window: TimeWindow;
  readonly context: WorkReportContext;
  readonly previousMonth?: PreviousMonthFigures;
  readonly bill?: BillStep;
  readonly controls: readonly ControlResult[];
  readonly changes?: RevisionChanges;
  readonly release?: { readonly by: string; readonly reason: string; readonly at: Date };
  /** Every team with a workbook (the unallocated usage is finance's alone), and whether its leads are owed a mail. */
  readonly teams: readonly TeamWork[];
  /**
   * The month's daily figures and grand total as the close made them from the lines it stored: the finance
   * item reads the lines without their days and checks its total against this one. Absent in a context saved
   * before the items wrote the export in parts: the finance item then reads the days and writes it whole.
   */
  readonly daily?: readonly DaySummary[];
  readonly grandTotal?: bigint;
}

export type WorkReportContext = Omit<ReportContext, 'shownTotal' | 'scope' | 'previousMonth'>;

export interface TeamWork extends TeamShare {
  readonly owed: boolean;
}

export interface DispatchResult {
  readonly teamsQueued: number;
  readonly financeQueued: boolean;
  readonly mailsQueued: number;
  /** Items already done by an earlier run. */
  readonly done: number;
}

const TEAM_ITEM = 'team~';
const MAIL_ITEM = 'mail~';
const FINANCE_ITEM = 'finance';
const DEFAULT_MAX_PACING_WAIT_MS = 20_000;

/**
 * Saves the revision's work context and plans and queues its items. On a rerun only what is not done is
 * queued again: a team item still pending, the finance item once every team is done, a mail not yet sent.
 */
export async function dispatchRevision(deps: Pick<CloseWorkDeps, 'artifacts' | 'progress' | 'queues' | 'logger'>, work: RevisionWork): Promise<DispatchResult> {
  const { month, revision } = work;
  await deps.artifacts.save(workContextName(month, revision), Buffer.from(toTaggedJson(work), 'utf8'), 'application/json');
  await deps.progress.plan(month, revision, [...work.teams.map((team): PlannedWorkItem => ({ id: teamItemId(team.teamId), kind: 'team' })), { id: FINANCE_ITEM, kind: 'finance' }]);
  const items = await deps.progress.items(month, revision);
  const pending = items.filter((item) => item.state === 'pending');
  const teams = pending.filter((item) => item.kind === 'team');
  for (const item of teams) await deps.queues.send('close-team', { month, revision, teamId: item.id.slice(TEAM_ITEM.length) });
  const financeQueued = teams.length === 0 && pending.some((item) => item.id === FINANCE_ITEM);
  if (financeQueued) await deps.queues.send('close-finance', { month, revision });
  const mails = pending.filter((item) => item.kind === 'mail');
  for (const item of mails) await deps.queues.send('close-mail', mailMessage(month, revision, item.id.slice(MAIL_ITEM.length)));
  deps.logger.progress('dispatch', `${month} revision ${revision}: ${teams.length} team item(s), ${financeQueued ? 'the finance item' : 'no finance item'} and ${mails.length} mail(s) queued`);
  return { teamsQueued: teams.length, financeQueued, mailsQueued: mails.length, done: items.length - pending.length };
}

/** The handlers of the three queues: what the queue-triggered functions and the local drain both call. */
export function closeWorkHandlers(deps: CloseWorkDeps): Record<WorkQueueName, WorkHandler> {
  return {
    'close-team': async (message, meta) => runTeamItem(deps, parseItem(message, 'team'), meta),
    'close-finance': async (message, meta) => runFinanceItem(deps, parseItem(message, 'finance'), meta),
    'close-mail': async (message, meta) => runMailItem(deps, parseMailItem(message), meta),
  };
}

interface ItemAddress {
  readonly month: string;
  readonly revision: number;
}

interface TeamItem extends ItemAddress {
  readonly teamId: string;
}

interface MailItem extends ItemAddress {
  /** The delivery key in the ledger: the item id is "mail~" + key. */
  readonly key: string;
  /** The slot this mail reserved before it was put back on the queue to wait for it. */
  readonly slot?: string;
}

/** One team: its workbook from its own stored lines, and its leads' mail put on the mail queue when owed. */
async function runTeamItem(deps: CloseWorkDeps, item: TeamItem, meta: WorkMessageMeta): Promise<void> {
  const itemId = teamItemId(item.teamId);
  await underItemLease(deps, item, itemId, meta, async (lease) => {
    if (await alreadyDone(deps, item, itemId)) return;
    if (await supersede(deps, item, itemId)) return;
    const work = await loadWork(deps, item);
    const team = work.teams.find((candidate) => candidate.teamId === item.teamId);
    if (!team) throw new AppError('INTERNAL', `${item.month} revision ${item.revision} has no team ${item.teamId} in its work context`);
    const priceBook = await closedPriceBook(deps, work);
    const lines = (await deps.rollups.readTeamMonth(item.month, item.teamId)).sort(compareLines);
    if (await supersede(deps, item, itemId)) return;

    // The team's rows of the month's FOCUS export, and its lines without their days: the finance item joins
    // the one and reads the other instead of the whole month, so no one item reads or writes it all.
    await writeFocusPart(deps, { month: item.month, window: work.window, revision: item.revision, lines, priceBook, teams: work.context.teams, billedRates: billedRatesOf(work.bill), part: item.teamId });
    await deps.artifacts.save(teamTotalsName(item.month, item.revision, item.teamId), Buffer.from(toTaggedJson(lines.map(totalsOf)), 'utf8'), 'application/json');
    const report = withBilling(buildTeamReportFrom(lines, team, work.context), work.bill);
    const workbook = await deps.renderer.teamWorkbook(report);
    const filename = teamWorkbookName(item.month, item.revision, item.teamId);
    const location = await deps.artifacts.save(filename, workbook, XLSX_TYPE);
    if (team.owed) {
      await lease.renew();
      const mail = deps.reportMails.teamMail(report, {
        from: deps.settings.mailFrom,
        to: work.context.teams.get(item.teamId)?.leads ?? [],
        ...(await mailFiles(deps, { workbook: { filename, content: workbook } })),
        revised: item.revision > 1,
      });
      await queueMail(deps, item, teamDeliveryKey(item.month, item.revision, item.teamId), mail);
    }
    await deps.progress.complete(item.month, item.revision, itemId, { status: 'done', summary: team.owed ? 'workbook written, mail queued' : 'workbook written, mail not owed', location });
    await queueFinanceWhenTeamsAreDone(deps, item);
  });
}

/** Finance's workbook from the revision's stored lines, the FOCUS export, and finance's mail on the mail queue. */
async function runFinanceItem(deps: CloseWorkDeps, item: ItemAddress, meta: WorkMessageMeta): Promise<void> {
  await underItemLease(deps, item, FINANCE_ITEM, meta, async (lease) => {
    if (await alreadyDone(deps, item, FINANCE_ITEM)) return;
    if (await supersede(deps, item, FINANCE_ITEM)) return;
    if (await deps.progress.hasPending(item.month, item.revision, 'team')) {
      // A duplicate message that overtook the last team item: that item queues finance again when it is done.
      deps.logger.info(`the finance item of ${item.month} revision ${item.revision} waits for team items still pending; dropped for now`);
      return;
    }
    const work = await loadWork(deps, item);
    const priceBook = await closedPriceBook(deps, work);
    const report = await financeReportWithExport(deps, item, work, priceBook);
    if (report === 'superseded') return;
    await lease.renew();

    deps.logger.progress('workbook', `building the finance workbook of ${item.month} revision ${item.revision}`);
    const workbook = await deps.renderer.financeWorkbook(report);
    const filename = workbookName(item.month, item.revision);
    const location = await deps.artifacts.save(filename, workbook, XLSX_TYPE);
    await lease.renew();

    const mail = deps.reportMails.financeMail(report, {
      from: deps.settings.mailFrom,
      to: deps.settings.financeRecipients,
      ...(await mailFiles(deps, { workbook: { filename, content: workbook }, focusExport: focusName(item.month, item.revision) })),
      revised: item.revision > 1,
    });
    await queueMail(deps, item, financeDeliveryKey(item.month, item.revision), mail);
    await deps.progress.complete(item.month, item.revision, FINANCE_ITEM, { status: 'done', summary: 'workbook and FOCUS export written, mail queued', location });
  });
}

/**
 * The FOCUS export and the finance report. The team items wrote their rows of the export and left their
 * lines without days: this item adds the unallocated rows, joins the parts after the header, and builds the
 * report from those lines and the close's daily figures, checked against the close's amounts. When a part is
 * missing (a context saved by an earlier version, or parts kept past the store's limit) it reads the whole
 * month with its days and writes the export itself: slower, never a file with a team left out.
 */
async function financeReportWithExport(deps: CloseWorkDeps, item: ItemAddress, work: RevisionWork, priceBook: PriceBook): Promise<MonthReport | 'superseded'> {
  const exportInput = { month: item.month, window: work.window, revision: item.revision, priceBook, teams: work.context.teams, billedRates: billedRatesOf(work.bill) };
  const context = { ...work.context, ...(work.previousMonth ? { previousMonth: work.previousMonth } : {}) };

  const joined = work.daily === undefined ? undefined : await joinTeamParts(deps, item, work, exportInput);
  if (joined && work.daily) {
    const totals = await linesWithoutDays(deps, item, work, joined.unallocated);
    if (await supersede(deps, item, FINANCE_ITEM)) return 'superseded';
    return financeReportOf(item, work, buildMonthReportFromTotals(totals, context, work.daily));
  }

  deps.logger.progress('read', `reading the lines of ${item.month} revision ${item.revision}`);
  const lines = (await deps.rollups.readMonth(item.month)).sort(compareLines);
  if (await supersede(deps, item, FINANCE_ITEM)) return 'superseded';
  deps.logger.progress('export', 'writing the FOCUS cost export');
  await writeFocusExport(deps, { ...exportInput, lines });
  return financeReportOf(item, work, buildMonthReport(lines, context));
}

/** Writes the unallocated rows and joins every part of the export; undefined when a part is missing. */
async function joinTeamParts(
  deps: CloseWorkDeps,
  item: ItemAddress,
  work: RevisionWork,
  exportInput: Omit<Parameters<typeof writeFocusPart>[1], 'lines' | 'part'>,
): Promise<{ unallocated: MonthlyLine[] } | undefined> {
  deps.logger.progress('export', "writing the unallocated rows of the FOCUS cost export and joining every team's");
  const unallocated = (await deps.rollups.readTeamMonth(item.month, UNALLOCATED_TEAM)).sort(compareLines);
  await writeFocusPart(deps, { ...exportInput, lines: unallocated, part: UNALLOCATED_TEAM });
  try {
    await joinFocusExport(deps, { month: item.month, revision: item.revision, teamIds: [...work.teams.map((team) => team.teamId), UNALLOCATED_TEAM] });
    return { unallocated };
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'NOT_FOUND')) throw error;
    deps.logger.warn(`the FOCUS export of ${item.month} revision ${item.revision} misses a part (${error.message}): writing it whole from the month's lines`);
    return undefined;
  }
}

/** The month's lines without their days: as the team items left them, else from the rollups. */
async function linesWithoutDays(deps: CloseWorkDeps, item: ItemAddress, work: RevisionWork, unallocated: readonly MonthlyLine[]): Promise<LineTotals[]> {
  deps.logger.progress('read', `reading the lines of ${item.month} revision ${item.revision} without their days, as the team items left them`);
  const fromTeams = await teamTotals(deps, item, work);
  if (fromTeams) return [...fromTeams, ...unallocated.map(totalsOf)].sort(compareLines);
  deps.logger.progress('read', `reading the lines of ${item.month} revision ${item.revision} without their days from the rollups`);
  const totals = await deps.rollups.readMonthTotals(item.month);
  const parted = new Set([...work.teams.map((team) => team.teamId), UNALLOCATED_TEAM]);
  const outside = totals.find((line) => !parted.has(line.teamId));
  if (outside) throw new AppError('INTERNAL', `${item.month} revision ${item.revision} has lines of team ${outside.teamId}, which has no part in the FOCUS export`);
  return totals;
}

/**
 * The finance report as the close made it: the month's total and each team's amount must be what the close
 * stored (a team whose lines came back different fails here, before any file or mail), with its controls.
 */
function financeReportOf(item: ItemAddress, work: RevisionWork, report: MonthReport): MonthReport {
  if (work.grandTotal !== undefined && report.grandTotal !== work.grandTotal) {
    throw new AppError('INTERNAL', `${item.month} revision ${item.revision} reads back as ${report.grandTotal} minor units, but was closed at ${work.grandTotal}`);
  }
  const amounts = new Map(report.teams.map((team) => [team.teamId, team.amount]));
  const differing = work.teams.find((team) => amounts.get(team.teamId) !== team.shownTotal);
  if (differing) {
    throw new AppError('INTERNAL', `team ${differing.teamId} of ${item.month} revision ${item.revision} reads back as ${amounts.get(differing.teamId) ?? 0n} minor units, but was closed at ${differing.shownTotal}`);
  }
  return {
    ...withBilling(report, work.bill),
    controls: work.controls,
    ...(work.changes ? { changes: work.changes } : {}),
    ...(work.release ? { release: work.release } : {}),
  };
}

/**
 * Every team's lines without their days, as its team item saved them (in team order, each team's in line
 * order); undefined when one is missing (a team item of an earlier version), and the rollups are read instead.
 */
async function teamTotals(deps: Pick<CloseWorkDeps, 'artifacts'>, item: ItemAddress, work: RevisionWork): Promise<LineTotals[] | undefined> {
  const teamIds = work.teams.map((team) => team.teamId).sort(compareTeamIds);
  const read = new Array<LineTotals[] | undefined>(teamIds.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(TEAM_TOTALS_READS_AT_ONCE, teamIds.length) }, async () => {
      while (next < teamIds.length) {
        const index = next++;
        const name = teamTotalsName(item.month, item.revision, teamIds[index]!);
        const text = await deps.artifacts.read(name);
        read[index] = text === undefined ? undefined : fromTaggedJson<LineTotals[]>(text.toString('utf8'), name);
      }
    }),
  );
  if (read.some((lines) => lines === undefined)) return undefined;
  return (read as LineTotals[][]).flat();
}

/** A Blob read is a round trip: a few at once, as an instance has a few connections. */
const TEAM_TOTALS_READS_AT_ONCE = 8;

export function teamTotalsName(month: string, revision: number, teamId: string): string {
  return `work-${month}-r${revision}-totals-${teamId.replace(/\.{2,}/g, '.')}.json`;
}

/** The price book the revision was closed with: a book changed since makes a new revision, never a mixed one. */
async function closedPriceBook(deps: Pick<CloseWorkDeps, 'priceBooks'>, work: RevisionWork): Promise<PriceBook> {
  const priceBook = await deps.priceBooks.load();
  if (priceBook.version !== work.context.priceBook.version) {
    throw new AppError('INTERNAL', `the price book is now ${priceBook.version}, but ${work.month} revision ${work.revision} was closed with ${work.context.priceBook.version}: close the month again, which makes a new revision`);
  }
  return priceBook;
}

/**
 * One mail, at the pace the mailbox allows across every instance: the mail reserves the mailbox's next slot;
 * a slot further away than a short wait puts the message back on the queue until then (with the slot it
 * holds, so it is not reserved twice). Sent at most once per key through the delivery ledger.
 */
async function runMailItem(deps: CloseWorkDeps, item: MailItem, meta: WorkMessageMeta): Promise<void> {
  const itemId = `${MAIL_ITEM}${item.key}`;
  await underItemLease(deps, item, itemId, meta, async (lease) => {
    if (await alreadyDone(deps, item, itemId)) return;
    if (await supersede(deps, item, itemId)) return;
    const mail = await storedMail(deps, item);

    const now = deps.clock.now();
    const slot = item.slot ? new Date(item.slot) : await deps.pacer.reserve(bareAddress(mail.from), now);
    const wait = slot.getTime() - now.getTime();
    if (wait > (deps.settings.maxPacingWaitMs ?? DEFAULT_MAX_PACING_WAIT_MS)) {
      await deps.queues.send('close-mail', { ...mailMessage(item.month, item.revision, item.key), slot: slot.toISOString() }, { delaySeconds: Math.ceil(wait / 1000) });
      deps.logger.info(`${item.key} waits for its send slot at ${slot.toISOString()}: put back on the queue until then`);
      return;
    }
    if (wait > 0) await (deps.sleep ?? sleep)(wait);
    await lease.renew();
    const outcome = await deliverOnce(deps, { key: item.key, resend: false, mail });
    if (outcome.status === 'uncertain') {
      deps.logger.error(`${item.key} is uncertain: a worker stopped between sending and recording it; check whether it arrived, then run close --resend-uncertain`);
    }
    await deps.progress.complete(item.month, item.revision, itemId, { status: 'done', summary: describeDelivery(outcome), mail: outcome.status, ...(outcome.status === 'sent' ? { location: outcome.location } : {}) });
  });
}

/**
 * Stores the composed mail and queues it: a queue message is too small for a workbook attachment. Each
 * attachment is an artifact of its own beside the mail's text, so that no process holds a workbook as JSON.
 */
async function queueMail(deps: Pick<CloseWorkDeps, 'artifacts' | 'progress' | 'queues'>, item: ItemAddress, key: string, mail: Omit<OutgoingMail, 'idempotencyKey'>): Promise<void> {
  const base = mailFileName(item.month, item.revision, key);
  const attachments: StoredAttachment[] = [];
  for (const [index, attachment] of mail.attachments.entries()) {
    const artifact = `${base}-attachment-${index + 1}`;
    await deps.artifacts.save(artifact, attachment.content, attachment.contentType);
    const { content: _content, ...described } = attachment;
    attachments.push({ ...described, artifact });
  }
  const stored: StoredMail = { ...mail, attachments };
  await deps.artifacts.save(`${base}.json`, Buffer.from(toTaggedJson(stored), 'utf8'), 'application/json');
  await deps.progress.plan(item.month, item.revision, [{ id: `${MAIL_ITEM}${key}`, kind: 'mail' }]);
  await deps.queues.send('close-mail', mailMessage(item.month, item.revision, key));
}

type StoredAttachment = Omit<MailAttachment, 'content'> & { readonly artifact: string };
type StoredMail = Omit<OutgoingMail, 'idempotencyKey' | 'attachments'> & { readonly attachments: readonly StoredAttachment[] };

/** A queued mail as queueMail stored it, with its attachments read back. */
async function storedMail(deps: Pick<CloseWorkDeps, 'artifacts'>, item: MailItem): Promise<Omit<OutgoingMail, 'idempotencyKey'>> {
  const name = `${mailFileName(item.month, item.revision, item.key)}.json`;
  const text = await deps.artifacts.read(name);
  if (!text) throw new AppError('INTERNAL', `the mail ${item.key} has no stored message (${name})`);
  const stored = fromTaggedJson<StoredMail>(text.toString('utf8'), `the stored mail ${item.key}`);
  const attachments: MailAttachment[] = [];
  for (const { artifact, ...attachment } of stored.attachments) {
    const content = await deps.artifacts.read(artifact);
    if (!content) throw new AppError('INTERNAL', `the mail ${item.key} lost its attachment ${artifact}`);
    attachments.push({ ...attachment, content });
  }
  return { ...stored, attachments };
}

/**
 * Queues the finance item when no team item is pending. Each team item asks after recording itself done, so
 * the last one to finish always sees every team done; two finishing together may both queue it, and the
 * finance item's lease and progress make the second a no-op.
 */
async function queueFinanceWhenTeamsAreDone(deps: Pick<CloseWorkDeps, 'progress' | 'queues'>, item: ItemAddress): Promise<void> {
  if (await deps.progress.hasPending(item.month, item.revision, 'team')) return;
  const finance = await deps.progress.item(item.month, item.revision, FINANCE_ITEM);
  if (finance?.state === 'pending') await deps.queues.send('close-finance', { month: item.month, revision: item.revision });
}

/**
 * Runs an item under a lease of its own. A message delivered twice (the queue promises at least once) finds
 * the lease taken and is dropped: the worker holding it either finishes the item or dies, and then its own
 * message comes back after its visibility timeout.
 */
async function underItemLease(
  deps: Pick<CloseWorkDeps, 'leases' | 'logger'>,
  item: ItemAddress,
  itemId: string,
  meta: WorkMessageMeta,
  run: (lease: HeldLease) => Promise<void>,
): Promise<void> {
  const name = `close~${item.month}~r${item.revision}~${itemId}`;
  const taken = await deps.leases.acquire(name, `work item ${meta.id} (delivery ${meta.dequeueCount})`);
  if (!taken.acquired) {
    deps.logger.info(`${itemId} of ${item.month} revision ${item.revision} is being worked on by ${taken.heldBy}; this copy of the message is dropped`);
    return;
  }
  try {
    await run(taken.lease);
  } catch (error) {
    deps.logger.warn(`${itemId} of ${item.month} revision ${item.revision} failed (delivery ${meta.dequeueCount}): ${describeError(error)}`);
    throw error;
  } finally {
    await taken.lease.release().catch((error: unknown) => deps.logger.warn(`could not release the lease ${name}: ${describeError(error)}`));
  }
}

async function alreadyDone(deps: Pick<CloseWorkDeps, 'progress' | 'logger'>, item: ItemAddress, itemId: string): Promise<boolean> {
  const state = await deps.progress.item(item.month, item.revision, itemId);
  if (state === undefined || state.state === 'pending') return false;
  deps.logger.info(`${itemId} of ${item.month} revision ${item.revision} is already ${state.state}; nothing to do`);
  return true;
}

/** A later revision was published: this one's remaining work is dropped (the later revision owes what this one did not send). */
async function supersede(deps: Pick<CloseWorkDeps, 'rollups' | 'progress' | 'logger'>, item: ItemAddress, itemId: string): Promise<boolean> {
  const published = await deps.rollups.publishedRevision(item.month);
  if (published === item.revision) return false;
  const outcome: WorkOutcome = { status: 'superseded', summary: `revision ${published ?? 'none'} is published now` };
  deps.logger.info(`${itemId} of ${item.month} revision ${item.revision} is superseded: ${outcome.summary}`);
  await deps.progress.complete(item.month, item.revision, itemId, outcome);
  return true;
}

async function loadWork(deps: Pick<CloseWorkDeps, 'artifacts'>, item: ItemAddress): Promise<RevisionWork> {
  const name = workContextName(item.month, item.revision);
  const stored = await deps.artifacts.read(name);
  if (!stored) throw new AppError('INTERNAL', `${item.month} revision ${item.revision} has no work context (${name}); close the month again to dispatch it`);
  return fromTaggedJson<RevisionWork>(stored.toString('utf8'), name);
}

export function workContextName(month: string, revision: number): string {
  return `work-${month}-r${revision}-context.json`;
}

function mailFileName(month: string, revision: number, key: string): string {
  const recipient = key.slice(`${month}|r${revision}|`.length).replace(/[^A-Za-z0-9._-]/g, '_');
  return `work-${month}-r${revision}-mail-${recipient}`;
}

function mailMessage(month: string, revision: number, key: string): Record<string, unknown> {
  return { month, revision, key };
}

function teamItemId(teamId: string): string {
  return `${TEAM_ITEM}${teamId}`;
}

function describeDelivery(outcome: DeliveryOutcome): string {
  switch (outcome.status) {
    case 'sent':
      return `sent to ${outcome.recipients.length} recipient(s)`;
    case 'already-sent':
      return 'already sent';
    case 'no-recipients':
      return 'no recipients: not sent';
    case 'uncertain':
      return `uncertain since ${outcome.claimedAt.toISOString()}: check, then close --resend-uncertain`;
  }
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

function parseItem(message: unknown, kind: 'finance'): ItemAddress;
function parseItem(message: unknown, kind: 'team'): TeamItem;
function parseItem(message: unknown, kind: 'team' | 'finance'): ItemAddress | TeamItem {
  const body = message as Record<string, unknown> | null;
  const month = body?.month;
  const revision = body?.revision;
  if (typeof month !== 'string' || !MONTH.test(month) || typeof revision !== 'number' || !Number.isInteger(revision) || revision < 1) {
    throw new AppError('INVALID_ARGUMENT', `a ${kind} work item needs a month (YYYY-MM) and a revision (1 or more): ${JSON.stringify(message)?.slice(0, 200)}`);
  }
  if (kind === 'finance') return { month, revision };
  const teamId = body?.teamId;
  if (typeof teamId !== 'string' || teamId === '') throw new AppError('INVALID_ARGUMENT', `a team work item needs a teamId: ${JSON.stringify(message)?.slice(0, 200)}`);
  return { month, revision, teamId };
}

function parseMailItem(message: unknown): MailItem {
  const address = parseItem(message, 'finance');
  const body = message as Record<string, unknown>;
  if (typeof body.key !== 'string' || !body.key.startsWith(`${address.month}|r${address.revision}|`)) {
    throw new AppError('INVALID_ARGUMENT', `a mail work item needs the delivery key of its month and revision: ${JSON.stringify(message).slice(0, 200)}`);
  }
  const slot = typeof body.slot === 'string' && !Number.isNaN(Date.parse(body.slot)) ? body.slot : undefined;
  return { ...address, key: body.key, ...(slot ? { slot } : {}) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The poison messages of a month's work items, on every queue: what the operator must hear about. */
export async function stuckWorkOf(queues: WorkQueues, month: string): Promise<StuckWorkItem[]> {
  const stuck: StuckWorkItem[] = [];
  for (const queue of WORK_QUEUE_NAMES) {
    for (const message of await queues.poisoned(queue, 100)) {
      if ((message.body as { month?: unknown } | null)?.month === month) stuck.push({ queue, ...message });
    }
  }
  return stuck;
}

export interface StuckWorkItem extends PoisonedMessage {
  readonly queue: WorkQueueName;
}

/** For the CLI and the operator: a revision's items by state. */
export function summarizeProgress(items: readonly WorkItemState[]): { readonly pending: number; readonly done: number; readonly superseded: number; readonly uncertainMails: readonly string[] } {
  return {
    pending: items.filter((item) => item.state === 'pending').length,
    done: items.filter((item) => item.state === 'done').length,
    superseded: items.filter((item) => item.state === 'superseded').length,
    uncertainMails: items.filter((item) => item.outcome?.mail === 'uncertain').map((item) => item.id.slice(MAIL_ITEM.length)),
  };
}
