import { createHash, randomUUID } from 'node:crypto';
import { UNALLOCATED_TEAM, type DirectoryResolution } from '../domain/directory.js';
import { evaluateCloseControls, type CloseControlLimits } from '../domain/close-controls.js';
import { controlsWith, worstOutcome, type ControlOutcome, type ControlResult } from '../domain/controls.js';
import { AppError, describeError, isAppError } from '../domain/errors.js';
import { currencyMinorUnits } from '../domain/currency.js';
import { formatMinorUnits, sumMoney, toMinorUnits } from '../domain/money.js';
import { addMonths, monthWindow, type TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import {
  buildMonthReport,
  bucketBy,
  buildTeamReport,
  previousMonthFigures,
  teamShareOf,
  type MonthReport,
  type ReportWithoutLines,
  type PreviousMonthFigures,
  type ReportBudget,
  type ReportContext,
  type RevisionChanges,
} from '../domain/report.js';
import { linesFingerprint } from '../domain/line-identity.js';
import { revisionChanges, revisionChangesFromSummaries, summarizeRevision, type RevisionSummary } from '../domain/revisions.js';
import { compareLines, groupMonthlyUsage, priceMonthlyUsage, type MonthlyLine } from '../domain/rollup.js';
import type { UsageReadResult, UsageRows } from '../domain/usage.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { BudgetSource } from '../ports/budget-source.js';
import type { CostExporter } from '../ports/cost-export.js';
import type { Directory } from '../ports/directory.js';
import type { CloseAttempt, CloseRegistry, DeliveryLedger, HeldClose, MonthClose } from '../ports/ledger.js';
import type { HeldLease, Leases } from '../ports/lease.js';
import type { MailAttachment, Mailer } from '../ports/mailer.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { ReportMails } from '../ports/report-mails.js';
import type { ReportRenderer } from '../ports/report-renderer.js';
import type { RevisionedRollupStore } from '../ports/rollup-store.js';
import type { Clock, Logger } from '../ports/runtime.js';
import type { UsageSource } from '../ports/usage-source.js';
import { billedRatesOf, billedTeamsChanged, reconcileWithBill, withBilling, type BillReconciliationDeps, type BillStep } from './reconcile-bill.js';
import { deliverOnce, type DeliveryOutcome } from './deliver-once.js';
import { dispatchRevision, stuckWorkOf, type CloseWorkDeps, type DispatchResult, type RevisionWork, type StuckWorkItem, type TeamWork } from './close-work.js';
import { composeOperatorMail, composeStuckWorkMail } from './operator-mail.js';
import {
  CSV_TYPE,
  XLSX_TYPE,
  financeDeliveryKey,
  focusName,
  heldWorkbookName,
  mailFiles,
  rejectsName,
  teamDeliveryKey,
  teamWorkbookName,
  workbookName,
  writeFocusExport,
  type ArtifactMailSettings,
} from './close-artifacts.js';

export { financeDeliveryKey, focusName, heldWorkbookName, rejectsName, teamDeliveryKey, teamWorkbookName, workbookName, type ArtifactMailSettings } from './close-artifacts.js';
import type { MonthUsageReader } from './month-from-daily.js';

export interface CloseMonthDeps {
  readonly usageSource: UsageSource;
  readonly directory: Directory;
  readonly priceBooks: PriceBookSource;
  readonly rollups: RevisionedRollupStore;
  readonly closes: CloseRegistry;
  readonly deliveries: DeliveryLedger;
  readonly leases: Leases;
  readonly renderer: ReportRenderer;
  /** Writes the finance and team mails' bodies. */
  readonly reportMails: ReportMails;
  readonly costExport: CostExporter;
  readonly artifacts: ArtifactStore;
  readonly mailer: Mailer;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The teams' budgets, shown against their amounts in the workbooks and mails; none when absent. */
  readonly budgets?: BudgetSource;
  readonly settings: {
    readonly timeZone: string;
    readonly financeRecipients: readonly string[];
    readonly mailFrom: string;
    /** Who hears of held and refused closes; nobody else does. */
    readonly operatorRecipients: readonly string[];
    /** Days after the month's end before its usage is taken as complete. */
    readonly graceDays: number;
    readonly controls: CloseControlLimits;
    /** When a mail links to a workbook instead of attaching it; 10 MB and 168 hours when absent. */
    readonly artifactMail?: ArtifactMailSettings;
  } & BillReconciliationDeps['settings'];
  /** Azure's bill (Cost Management's FOCUS export); without it every close is an estimate at list prices. */
  readonly billedCosts?: BillReconciliationDeps['billedCosts'];
  /**
   * When present, a published revision's workbooks and mails are work items on these queues (run by the
   * queue-triggered functions, or a local drain) instead of steps of this run. See close-work.ts.
   */
  readonly fanOut?: Pick<CloseWorkDeps, 'queues' | 'progress'>;
  /** Where the month's usage comes from (the stored daily rollups); without it the close reads usageSource itself. */
  readonly monthUsage?: MonthUsageReader;
}

export interface CloseMonthRequest {
  readonly month: string;
  /** Send this revision's finance mail, and the team mails it owes, again even though they were already sent. */
  readonly resend?: boolean;
  /** Send the mails whose earlier send is uncertain (a person checked that they did not arrive). */
  readonly resendUncertain?: boolean;
  /** Look at a month that is not over yet. Only ever with dry-run dependencies: nothing is stored or sent. */
  readonly preview?: boolean;
  /** A person accepts the held close of this month, exactly as it was held. */
  readonly releaseHold?: { readonly by: string; readonly reason: string };
  /** Tell the operator of a refusal too (the scheduled close: nobody watches its terminal). */
  readonly notifyOperatorOfRefusal?: boolean;
  /** Who runs this close, for the month's lease (shown to a run that finds the month busy); unique per run. */
  readonly runId?: string;
}

/**
 * What happened to one team's mail in this run. 'not-owed': a revision that did not change this team's numbers;
 * 'queued': a work item will send it (a fanned-out close).
 */
export type TeamMailOutcome = DeliveryOutcome | { readonly status: 'not-owed' } | { readonly status: 'failed'; readonly error: string } | Queued;

/** Left to the revision's work items (a fanned-out close): the CLI drains them, in Azure the queue triggers run them. */
export interface Queued {
  readonly status: 'queued';
}

export interface TeamCloseResult {
  readonly teamId: string;
  readonly teamName: string;
  readonly amount: bigint;
  readonly workbookLocation: string;
  readonly mail: TeamMailOutcome;
}

export interface CloseMonthResult {
  readonly month: string;
  readonly window: TimeWindow;
  readonly revision: number;
  /**
   * closed: published and mailed (or nothing new to mail); held: stored as an unpublished draft, only the
   * operator told.
   */
  readonly state: 'closed' | 'held';
  /** True when this run produced numbers different from the month's last close (or closed it first). */
  readonly changed: boolean;
  readonly controls: readonly ControlResult[];
  readonly usage: Pick<UsageReadResult, 'rejects' | 'skipped' | 'sourceDescription' | 'duplicates' | 'inputs'> & { readonly rows: number };
  readonly directoryNotes: readonly string[];
  readonly stored: { readonly written: number; readonly deleted: number };
  readonly report: MonthReport;
  readonly workbookLocation: string;
  readonly rejectsLocation?: string;
  readonly focusLocation?: string;
  readonly mail: DeliveryOutcome | { readonly status: 'held' } | Queued;
  readonly teams: readonly TeamCloseResult[];
  /** A fanned-out close: the work items it queued. */
  readonly dispatched?: DispatchResult;
  /** A fanned-out close: the month's work items that failed every retry (poison messages), told to the operator. */
  readonly stuckWork?: readonly StuckWorkItem[];
  readonly operatorMails: readonly DeliveryOutcome[];
  readonly release?: { readonly by: string; readonly reason: string; readonly at: Date };
  /** The true-up to the bill: absent without a billed-cost source. The report carries the same in `billing`. */
  readonly bill?: BillStep;
}

/**
 * Closes a month: read its usage, resolve teams, price, check the controls, store the revision, build the
 * finance workbook, the team workbooks and the FOCUS export, and mail finance and each team's leads once per
 * revision. Every step is safe to repeat, so a run that failed half-way is completed exactly by running it
 * again; a lease on the month keeps two runs from overlapping.
 *
 * Controls decide what reaches people: a refused close stores and mails nothing; a held close stores its
 * figures as an unpublished draft and tells only the operator, until a person releases it or a corrected
 * close replaces it.
 *
 * Who is mailed: finance for every revision; a team's leads for the first revision, and for a later one when
 * that team's numbers changed or it never received the revision before. Every mail owed is tried even after
 * one fails; the run then fails, naming the failed mails, and the next run sends exactly those.
 */
export async function closeMonth(deps: CloseMonthDeps, request: CloseMonthRequest): Promise<CloseMonthResult> {
  const lease = await takeMonthLease(deps, request);
  try {
    return await closeUnderLease(deps, request, lease);
  } catch (error) {
    if (!isAppError(error) || error.code !== 'CLOSE_REFUSED') await recordAttempt(deps, { month: request.month, outcome: 'failed', revision: null, controls: [], note: describeError(error) });
    throw error;
  } finally {
    await lease.release().catch((error: unknown) => deps.logger.warn(`could not release the lease on ${request.month}: ${describeError(error)}`));
  }
}

async function takeMonthLease(deps: Pick<CloseMonthDeps, 'leases' | 'logger'>, request: CloseMonthRequest): Promise<HeldLease> {
  const taken = await deps.leases.acquire(`close~${request.month}`, request.runId ?? `close run ${randomUUID()}`);
  if (!taken.acquired) {
    throw new AppError('BUSY', `another close of ${request.month} is running (${taken.heldBy}, lease until ${taken.expiresAt.toISOString()}); this run did nothing`, { retryable: true });
  }
  return taken.lease;
}

async function closeUnderLease(deps: CloseMonthDeps, request: CloseMonthRequest, lease: HeldLease): Promise<CloseMonthResult> {
  const month = request.month;
  const figured = await figureTheMonth(deps, month);
  const controls = checkControls(deps, request, figured);
  const verdict = worstOutcome(controls);
  if (verdict === 'refuse') return refuse(deps, request, { controls, revision: figured.close.revision });

  const release = releaseOf(deps, request, { verdict, heldDraft: figured.heldDraft, close: figured.close });
  // Figures already published passed their controls (or a person released them): a rerun only completes delivery.
  if (verdict === 'hold' && figured.close.changed && !release) return hold(deps, request, { ...figured, report: { ...figured.baseReport, controls }, controls, lease });

  const decided = await decideRevision(deps, { ...figured, controls, release });
  if (deps.fanOut) {
    const stored = await storeAndPublish(deps, { ...figured, ...decided });
    return dispatchPublished(deps, deps.fanOut, request, { ...figured, ...decided, stored, controls, release });
  }
  // The reports are built from the same lines and report while Table Storage writes them: the store waits on the
  // service, the workbooks on this thread. Nothing is mailed before both are done and the revision is published.
  const [stored, artifacts] = await bothSettled(
    storeAndPublish(deps, { ...figured, ...decided }),
    writeReports(deps, { ...figured, revision: figured.close.revision, report: decided.report, variant: 'final' }),
  );
  const published = { ...decided, stored };
  const delivered = await deliverRevision(deps, request, { ...figured, ...published, artifacts, lease });

  await recordAttempt(deps, {
    month,
    outcome: release ? 'released' : figured.close.changed ? 'closed' : 'unchanged',
    revision: figured.close.revision,
    controls,
    ...(delivered.failures.length > 0 ? { note: delivered.failures.join('; ') } : {}),
  });
  if (delivered.failures.length > 0) {
    throw new AppError('MAIL_FAILED', `${delivered.failures.length} mail(s) of ${month} revision ${figured.close.revision} could not be sent; run the close again to send them (nothing already sent is sent twice)`, {
      retryable: true,
      details: delivered.failures,
    });
  }
  if (delivered.mail.status === 'failed') throw new AppError('INTERNAL', 'unreachable: a failed finance mail is reported above');

  return {
    month,
    window: figured.window,
    revision: figured.close.revision,
    state: 'closed',
    changed: figured.close.changed,
    controls,
    usage: usageFigures(figured.usage),
    directoryNotes: figured.directory.notes,
    stored: published.stored,
    report: published.report,
    workbookLocation: artifacts.workbookLocation,
    ...(artifacts.rejectsLocation ? { rejectsLocation: artifacts.rejectsLocation } : {}),
    ...(artifacts.focusLocation ? { focusLocation: artifacts.focusLocation } : {}),
    mail: delivered.mail,
    teams: delivered.teams,
    operatorMails: [],
    ...(published.record.release ? { release: published.record.release } : {}),
    ...(figured.bill ? { bill: figured.bill } : {}),
  };
}

/**
 * A fanned-out close's last step: the revision's work context saved and its items queued; the rejects file
 * is written here, where the rejects are. The run's outcome is recorded as the inline close records it.
 */
async function dispatchPublished(
  deps: CloseMonthDeps,
  fanOut: NonNullable<CloseMonthDeps['fanOut']>,
  request: CloseMonthRequest,
  input: FiguredMonth & { report: MonthReport; changes: RevisionChanges | undefined; owedTeams: readonly string[] | undefined; record: MonthClose; stored: { written: number; deleted: number }; controls: readonly ControlResult[]; release: { by: string; reason: string; at: Date } | undefined },
): Promise<CloseMonthResult> {
  const { month, close, report } = input;
  if (request.resend || request.resendUncertain) {
    throw new AppError('INVALID_ARGUMENT', 'resending mails is a step of the inline close: run it without fan-out (no --workers)');
  }
  const rejectsLocation = await writeRejects(deps, month, close.revision, input.usage);
  const teams: TeamWork[] = [];
  for (const team of report.teams) {
    if (team.teamId === UNALLOCATED_TEAM) continue;
    const owed = await teamMailOwed(deps, { owedTeams: input.owedTeams, revision: close.revision, changes: input.changes, teamId: team.teamId, key: teamDeliveryKey(month, close.revision, team.teamId) });
    teams.push({ ...teamShareOf(report, team.teamId, team.teamName), owed });
  }
  const { previousMonth, ...context } = input.context;
  const work: RevisionWork = {
    month,
    revision: close.revision,
    window: input.window,
    context: { ...context, priceBook: { version: context.priceBook.version, source: context.priceBook.source, currency: context.priceBook.currency, models: context.priceBook.models } },
    ...(previousMonth ? { previousMonth } : {}),
    ...(input.bill ? { bill: input.bill } : {}),
    controls: report.controls ?? input.controls,
    ...(input.changes ? { changes: input.changes } : {}),
    ...(report.release ? { release: report.release } : {}),
    teams,
    ...(report.daily ? { daily: report.daily, grandTotal: report.grandTotal } : {}),
  };
  const dispatched = await dispatchRevision({ ...deps, ...fanOut }, work);
  const stuck = await tellOperatorOfStuckWork(deps, fanOut, month);
  await recordAttempt(deps, { month, outcome: input.release ? 'released' : close.changed ? 'closed' : 'unchanged', revision: close.revision, controls: input.controls, note: 'delivery queued as work items' });
  return {
    month,
    window: input.window,
    revision: close.revision,
    state: 'closed',
    changed: close.changed,
    controls: input.controls,
    usage: usageFigures(input.usage),
    directoryNotes: input.directory.notes,
    stored: input.stored,
    report,
    workbookLocation: workbookName(month, close.revision),
    ...(rejectsLocation ? { rejectsLocation } : {}),
    focusLocation: focusName(month, close.revision),
    mail: { status: 'queued' },
    teams: teams.map((team) => ({
      teamId: team.teamId,
      teamName: team.teamName,
      amount: team.shownTotal,
      workbookLocation: teamWorkbookName(month, close.revision, team.teamId),
      mail: team.owed ? { status: 'queued' } : { status: 'not-owed' },
    })),
    operatorMails: [],
    dispatched,
    stuckWork: stuck,
    ...(input.record.release ? { release: input.record.release } : {}),
    ...(input.bill ? { bill: input.bill } : {}),
  };
}

/** The month as this run sees it: its usage priced and rolled up, its bill, the close it would make and its report. */
interface FiguredMonth {
  readonly month: string;
  readonly window: TimeWindow;
  readonly priceBook: PriceBook;
  readonly lines: readonly MonthlyLine[];
  readonly usage: UsageFigures;
  readonly directory: DirectoryResolution;
  readonly bill: BillStep | undefined;
  readonly lastClose: MonthClose | undefined;
  readonly heldDraft: HeldClose | undefined;
  readonly close: MonthClose & { changed: boolean };
  readonly context: ReportContext;
  readonly baseReport: MonthReport;
}

async function figureTheMonth(deps: CloseMonthDeps, month: string): Promise<FiguredMonth> {
  const { logger, settings } = deps;
  const window = monthWindow(month, settings.timeZone);
  logger.progress('prices', 'loading the price book');
  const priceBook = await deps.priceBooks.load();

  const { lines, usage, directory } = deps.monthUsage ? await deps.monthUsage.rollUpMonth({ month, window, priceBook, directory: deps.directory }) : await rollUpUsage(deps, month, window, priceBook);
  // A step of its own, so that the pricing step times the roll-up alone.
  logger.progress('figures', 'reconciling, fingerprinting the lines and building the report');
  const bill = await reconcileWithBill(deps, { month, lines, priceBook });

  const [lastClose, heldDraft] = await Promise.all([deps.closes.get(month), deps.closes.draft(month)]);
  const close = nextClose(deps, { month, lines, previous: lastClose, priceBook, billedFingerprint: bill?.fingerprint ?? null });
  const previousMonth = await lastMonthFigures(deps, month, directory, priceBook.currency);
  const budgets = await monthBudgets(deps, month, priceBook.currency);
  const context = reportContext({ month, window, close, priceBook, directory, usage, timeZone: settings.timeZone, previousMonth, budgets });
  const baseReport = withBilling(buildMonthReport(lines, context), bill);
  return { month, window, priceBook, lines, usage, directory, bill, lastClose, heldDraft, close, context, baseReport };
}

/** The close controls on the input and the figures, and the bill's own when there is one. */
function checkControls(deps: CloseMonthDeps, request: CloseMonthRequest, figured: FiguredMonth): ControlResult[] {
  deps.logger.progress('controls', 'checking the input and the figures');
  return [
    ...evaluateCloseControls({
      month: figured.month,
      window: figured.window,
      now: deps.clock.now(),
      graceDays: deps.settings.graceDays,
      preview: request.preview ?? false,
      usage: figured.usage,
      report: figured.baseReport,
      limits: deps.settings.controls,
    }),
    ...(figured.bill?.controls ?? []),
  ];
}

/**
 * What changed since the last revision, which teams are owed a mail, and the close record to store with the
 * lines. The report returned is the one every reader of this revision sees.
 */
async function decideRevision(
  deps: CloseMonthDeps,
  input: FiguredMonth & { controls: readonly ControlResult[]; release: { by: string; reason: string; at: Date } | undefined },
): Promise<RevisionDecided> {
  const { month, lastClose, close, lines, baseReport, context, bill, controls, release } = input;
  // Read before the lines are replaced: for a month closed before summaries were kept, the stored lines are
  // the only record of the last revision.
  const baseline = await revisionBaseline(deps, month, lastClose, close);
  const summary = close.changed || close.revision > 1 ? summarizeRevision(baseReport, lines) : undefined;
  const changes =
    close.revision > 1 ? billedTeamsChanged(changesSince(baseline, { lines, summary: summary ?? null, revision: close.revision, report: baseReport, context }), bill, baseReport) : undefined;
  const owedTeams = close.changed ? await teamsOwed(deps, { month, lastClose, changes, report: baseReport }) : lastClose?.owedTeams;
  const record: MonthClose = {
    ...closeRecord(close),
    ...(close.changed ? { controls } : lastClose?.controls ? { controls: lastClose.controls } : {}),
    ...(owedTeams ? { owedTeams } : {}),
    ...(release ? { release } : lastClose?.release && !close.changed ? { release: lastClose.release } : {}),
  };
  const report: MonthReport = { ...baseReport, controls: record.controls ?? controls, ...(changes ? { changes } : {}), ...(record.release ? { release: record.release } : {}) };
  return { report, changes, owedTeams, record, summary };
}

interface RevisionDecided {
  readonly report: MonthReport;
  readonly changes: RevisionChanges | undefined;
  readonly owedTeams: readonly string[] | undefined;
  readonly record: MonthClose;
  readonly summary: RevisionSummary | undefined;
}

/**
 * Waits for both, whatever happens to either (neither is left running behind the close's back), then answers
 * both results or throws the first failure: the store's before the reports', as it is the one a rerun needs.
 */
async function bothSettled<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** Finance's mail, then each owed team's; a refused mail is noted and the others still go. */
async function deliverRevision(
  deps: CloseMonthDeps,
  request: CloseMonthRequest,
  input: FiguredMonth & { report: MonthReport; changes: RevisionChanges | undefined; owedTeams: readonly string[] | undefined; artifacts: WrittenReports; lease: HeldLease },
): Promise<{ mail: DeliveryOutcome | { status: 'failed'; error: string }; teams: TeamCloseResult[]; failures: string[] }> {
  const { month, close } = input;
  const { settings } = deps;
  const failures: string[] = [];
  deps.logger.progress('mail', 'mailing finance');
  await input.lease.renew();
  const financeFiles = await mailFiles(deps, {
    workbook: { filename: input.artifacts.workbookName, content: await savedWorkbook(deps, input.artifacts.workbookName) },
    ...(input.artifacts.focusLocation ? { focusExport: focusName(month, close.revision) } : {}),
  });
  const mail = await attempt(failures, `the finance mail of ${month} revision ${close.revision}`, () =>
    deliverOnce(deps, {
      key: financeDeliveryKey(month, close.revision),
      resend: request.resend ?? false,
      resendUncertain: request.resendUncertain ?? false,
      mail: deps.reportMails.financeMail(input.report, {
        from: settings.mailFrom,
        to: settings.financeRecipients,
        ...financeFiles,
        revised: close.revision > 1,
      }),
    }),
  );

  deps.logger.progress('mail', 'mailing team leads');
  const teams = await mailTeamLeads(deps, {
    month,
    revision: close.revision,
    changes: input.changes,
    owedTeams: input.owedTeams,
    directory: input.directory,
    teamFiles: input.artifacts.teamFiles,
    failures,
    resend: request.resend ?? false,
    resendUncertain: request.resendUncertain ?? false,
    lease: input.lease,
  });
  return { mail, teams, failures };
}

/** Input that cannot be right: nothing is stored and nobody but (on a schedule) the operator hears of it. */
async function refuse(deps: CloseMonthDeps, request: CloseMonthRequest, input: { controls: readonly ControlResult[]; revision: number }): Promise<never> {
  const refusals = controlsWith(input.controls, 'refuse');
  await recordAttempt(deps, { month: request.month, outcome: 'refused', revision: null, controls: input.controls });
  if (request.notifyOperatorOfRefusal) {
    await notifyOperator(deps, { month: request.month, state: 'refused', keyPrefix: `${request.month}|refused`, reasons: refusals, revision: null });
  }
  throw new AppError('CLOSE_REFUSED', `the close of ${request.month} was refused: nothing was stored or mailed`, {
    details: refusals.flatMap((control) => [control.message, ...(control.details ?? []).map((detail) => `  ${detail}`)]),
  });
}

/**
 * Figures a person must look at before anyone else sees them: stored as an unpublished draft (readers still
 * see the last published revision), workbooks written for the operator, the operator told once per reason.
 */
async function hold(
  deps: CloseMonthDeps,
  request: CloseMonthRequest,
  input: {
    window: TimeWindow;
    close: MonthClose & { changed: boolean };
    lines: readonly MonthlyLine[];
    usage: UsageFigures;
    directory: DirectoryResolution;
    context: ReportContext;
    report: MonthReport;
    controls: readonly ControlResult[];
    heldDraft: HeldClose | undefined;
    lease: HeldLease;
    bill: BillStep | undefined;
    priceBook: PriceBook;
  },
): Promise<CloseMonthResult> {
  const { close, lines, controls } = input;
  const month = request.month;
  const holds = controlsWith(controls, 'hold');
  deps.logger.progress('store', `holding ${month}: storing ${lines.length} lines as an unpublished draft`);
  const stored =
    input.heldDraft?.fingerprint === close.fingerprint && input.heldDraft.revision === close.revision
      ? { written: 0, deleted: 0 }
      : await deps.rollups.writeRevision(month, close.revision, lines, everyTenth((done, total) => deps.logger.progress('store', `${done}/${total} batches written`)));
  await deps.closes.putDraft({ ...closeRecord(close), controls });

  const artifacts = await writeReports(deps, {
    month,
    window: input.window,
    revision: close.revision,
    lines,
    report: input.report,
    context: input.context,
    priceBook: input.priceBook,
    directory: input.directory,
    usage: input.usage,
    variant: 'held',
    bill: input.bill,
  });
  await input.lease.renew();
  const operatorMails = await notifyOperator(deps, {
    month,
    state: 'held',
    keyPrefix: `${month}|r${close.revision}|held`,
    reasons: holds,
    revision: close.revision,
    attachment: { filename: artifacts.workbookName, contentType: XLSX_TYPE, content: await savedWorkbook(deps, artifacts.workbookName) },
  });
  await recordAttempt(deps, { month, outcome: 'held', revision: close.revision, controls });
  deps.logger.error(`the close of ${month} is held: ${holds.map((control) => control.message).join('; ')}`, { month, revision: close.revision, holds: holds.map((control) => control.id) });
  return {
    month,
    window: input.window,
    revision: close.revision,
    state: 'held',
    changed: close.changed,
    controls,
    usage: usageFigures(input.usage),
    directoryNotes: input.directory.notes,
    stored,
    report: input.report,
    workbookLocation: artifacts.workbookLocation,
    ...(artifacts.rejectsLocation ? { rejectsLocation: artifacts.rejectsLocation } : {}),
    mail: { status: 'held' },
    teams: artifacts.teamFiles.map((file) => ({ teamId: file.teamId, teamName: file.teamName, amount: file.report.grandTotal, workbookLocation: file.location, mail: { status: 'not-owed' } })),
    operatorMails,
  };
}

/**
 * A release applies to exactly the figures that were held: if the input changed since, the new figures must
 * pass (or be held by) the controls themselves.
 */
function releaseOf(
  deps: Pick<CloseMonthDeps, 'clock' | 'logger'>,
  request: CloseMonthRequest,
  input: { verdict: ControlOutcome; heldDraft: HeldClose | undefined; close: MonthClose & { changed: boolean } },
): { by: string; reason: string; at: Date } | undefined {
  const asked = request.releaseHold;
  if (!asked) return undefined;
  if (asked.reason.trim() === '') throw new AppError('INVALID_ARGUMENT', 'releasing a held close needs a reason (it is recorded on the Run sheet)');
  if (!input.heldDraft) throw new AppError('INVALID_ARGUMENT', `${request.month} has no held close to release`);
  if (input.heldDraft.fingerprint !== input.close.fingerprint) {
    throw new AppError('INVALID_ARGUMENT', `the figures of ${request.month} changed since the close was held (revision ${input.heldDraft.revision}); close it again without --release-hold to check the new figures`);
  }
  if (input.verdict !== 'hold') deps.logger.info(`${request.month} no longer needs a release: its controls pass; the release is recorded all the same`);
  return { by: asked.by, reason: asked.reason.trim(), at: deps.clock.now() };
}

/**
 * Writes the revision's lines apart, records the close, then publishes the revision: readers (the cost API)
 * see the previous revision or this one, never a mix. A rerun of an unchanged close makes sure the
 * revision it recorded is the one published (a run may have died between the two).
 */
async function storeAndPublish(
  deps: Pick<CloseMonthDeps, 'rollups' | 'closes' | 'logger'>,
  input: { month: string; close: MonthClose & { changed: boolean }; lines: readonly MonthlyLine[]; record: MonthClose; summary: RevisionSummary | undefined; heldDraft: FiguredMonth['heldDraft'] },
): Promise<{ written: number; deleted: number }> {
  const { month, close, lines } = input;
  const hadDraft = input.heldDraft !== undefined;
  const published = await deps.rollups.publishedRevision(month);
  if (!close.changed && published === close.revision) {
    if (hadDraft) await deps.closes.clearDraft(month);
    return { written: 0, deleted: 0 };
  }
  deps.logger.progress('store', `storing ${lines.length} monthly lines as revision ${close.revision}`);
  const stored = await deps.rollups.writeRevision(month, close.revision, lines, everyTenth((done, total) => deps.logger.progress('store', `${done}/${total} batches written`)));
  deps.logger.progress('publish', `recording and publishing revision ${close.revision}`);
  // Recorded after the lines and before publishing: a run that fails before this records no revision, so the next run makes it again.
  if (close.changed) await deps.closes.put({ ...input.record, ...(input.summary ? { summary: input.summary } : {}) });
  if (hadDraft) await deps.closes.clearDraft(month);
  await deps.rollups.publishRevision(month, close.revision);
  deps.logger.progress('publish', `revision ${close.revision} published`);
  return stored;
}

/**
 * The teams whose leads this revision owes a mail: every team on a first close; on a later one, those whose
 * figures changed and those still owed the revision before (it failed, was never tried, or is uncertain).
 */
async function teamsOwed(
  deps: Pick<CloseMonthDeps, 'deliveries'>,
  input: { month: string; lastClose: MonthClose | undefined; changes: RevisionChanges | undefined; report: MonthReport },
): Promise<string[] | undefined> {
  const allTeams = input.report.teams.map((team) => team.teamId).filter((id) => id !== UNALLOCATED_TEAM);
  if (!input.lastClose) return allTeams;
  if (!input.changes?.detailAvailable) return undefined;
  const owed = new Set(input.changes.changedTeams);
  const previouslyOwed = input.lastClose.owedTeams ?? [];
  for (const teamId of previouslyOwed) {
    const delivery = await deps.deliveries.get(teamDeliveryKey(input.month, input.lastClose.revision, teamId));
    if (delivery?.status !== 'sent') owed.add(teamId);
  }
  return allTeams.filter((id) => owed.has(id));
}

/**
 * Tells the operator of the month's poison messages: once for each set of them (a new poison message makes a
 * new mail). Best effort, as every operator mail: the close itself went right.
 */
async function tellOperatorOfStuckWork(deps: CloseMonthDeps, fanOut: NonNullable<CloseMonthDeps['fanOut']>, month: string): Promise<StuckWorkItem[]> {
  const stuck = await stuckWorkOf(fanOut.queues, month);
  if (stuck.length === 0) return stuck;
  deps.logger.error(`${stuck.length} work item(s) of ${month} failed every retry and are in the poison queues`, { month, stuck: stuck.map((item) => `${item.queue}/${item.id}`) });
  const ids = createHash('sha256').update(stuck.map((item) => `${item.queue}/${item.id}`).sort().join('\n')).digest('hex').slice(0, 16);
  await deliverOnce(deps, { key: `${month}|stuck|${ids}`, resend: false, mail: composeStuckWorkMail({ month, items: stuck, from: deps.settings.mailFrom, to: deps.settings.operatorRecipients }) }).catch((error: unknown) =>
    deps.logger.error(`could not tell the operator about the stuck work of ${month}: ${describeError(error)}`),
  );
  return stuck;
}

/** Tells the operator, once per reason and revision, why a close did not reach finance. */
async function notifyOperator(
  deps: CloseMonthDeps,
  input: { month: string; state: 'held' | 'refused'; keyPrefix: string; reasons: readonly ControlResult[]; revision: number | null; attachment?: MailAttachment },
): Promise<DeliveryOutcome[]> {
  const outcomes: DeliveryOutcome[] = [];
  for (const reason of input.reasons) {
    const outcome = await deliverOnce(deps, {
      key: `${input.keyPrefix}|${reason.id}`,
      resend: false,
      mail: composeOperatorMail({ month: input.month, state: input.state, reason, revision: input.revision, from: deps.settings.mailFrom, to: deps.settings.operatorRecipients, ...(input.attachment ? { attachment: input.attachment } : {}) }),
    }).catch((error: unknown) => {
      deps.logger.error(`could not tell the operator about ${input.month} (${reason.id}): ${describeError(error)}`);
      return undefined;
    });
    if (outcome) outcomes.push(outcome);
  }
  return outcomes;
}

/** Best effort: a lost attempt record must not fail a close that otherwise went right. */
async function recordAttempt(deps: Pick<CloseMonthDeps, 'closes' | 'clock' | 'logger'>, attempt: Omit<CloseAttempt, 'at'>): Promise<void> {
  try {
    await deps.closes.recordAttempt({ ...attempt, at: deps.clock.now() });
  } catch (error) {
    deps.logger.warn(`could not record the attempt to close ${attempt.month}: ${describeError(error)}`);
  }
}

function usageFigures(usage: UsageFigures): CloseMonthResult['usage'] {
  return {
    rows: usage.rows,
    rejects: usage.rejects,
    skipped: usage.skipped,
    sourceDescription: usage.sourceDescription,
    ...(usage.duplicates ? { duplicates: usage.duplicates } : {}),
    ...(usage.inputs ? { inputs: usage.inputs } : {}),
  };
}

/** The files a close wrote, by name: their bytes are read back when a mail needs them, not held until then. */
interface WrittenReports {
  readonly workbookName: string;
  readonly workbookLocation: string;
  readonly rejectsLocation?: string;
  readonly focusLocation?: string;
  readonly teamFiles: readonly TeamFile[];
}

/** The finance workbook, the rejects file, and for a published close the FOCUS export; team workbooks always. */
async function writeReports(
  deps: CloseMonthDeps,
  input: {
    month: string;
    window: TimeWindow;
    revision: number;
    lines: readonly MonthlyLine[];
    report: MonthReport;
    context: ReportContext;
    priceBook: PriceBook;
    directory: DirectoryResolution;
    usage: UsageFigures;
    variant: 'final' | 'held';
    bill: BillStep | undefined;
  },
): Promise<WrittenReports> {
  const { logger } = deps;
  const held = input.variant === 'held';
  let focusLocation: string | undefined;
  if (!held) {
    // First: the export goes out in small chunks paced by the file or the container, so while the store writes
    // the same lines it leaves the thread free for each batch (a workbook holds it for longer stretches).
    logger.progress('export', 'writing the FOCUS cost export');
    focusLocation = await writeFocusExport(deps, {
      month: input.month,
      window: input.window,
      revision: input.revision,
      lines: input.lines,
      priceBook: input.priceBook,
      teams: input.directory.teams,
      billedRates: billedRatesOf(input.bill),
    });
  }
  logger.progress('workbook', `building the finance workbook${held ? ' (held draft)' : ''}`);
  const financeWorkbookName = held ? heldWorkbookName(input.month, input.revision) : workbookName(input.month, input.revision);
  const workbookLocation = await deps.artifacts.save(financeWorkbookName, await deps.renderer.financeWorkbook(input.report), XLSX_TYPE);
  const rejectsLocation = await writeRejects(deps, input.month, input.revision, input.usage);
  logger.progress('team workbooks', 'building the team workbooks');
  const teamFiles = await buildTeamWorkbooks(deps, { lines: input.lines, report: input.report, context: input.context, revision: input.revision, held, bill: input.bill });
  logger.progress('team workbooks', `${teamFiles.length} team workbooks built`);
  return { workbookName: financeWorkbookName, workbookLocation, teamFiles, ...(rejectsLocation ? { rejectsLocation } : {}), ...(focusLocation ? { focusLocation } : {}) };
}

/** The rows the close left out, for a person to look at; nothing when there were none. */
async function writeRejects(deps: Pick<CloseMonthDeps, 'artifacts' | 'costExport'>, month: string, revision: number, usage: UsageFigures): Promise<string | undefined> {
  const rejected = usage.rejects.all ?? usage.rejects.samples;
  return rejected.length > 0 ? deps.artifacts.save(rejectsName(month, revision), deps.costExport.rejectsCsv(rejected), CSV_TYPE) : undefined;
}

/**
 * A team's workbook as saved, and what its mail needs of the team's report: not the workbook's bytes nor the
 * report's lines, which at 500 teams would be every line of the month twice more until the mails go.
 */
interface TeamFile {
  readonly teamId: string;
  readonly teamName: string;
  readonly report: ReportWithoutLines;
  readonly filename: string;
  readonly location: string;
}

/** One workbook per team with only that team's lines; the unallocated usage is finance's alone. */
async function buildTeamWorkbooks(
  deps: Pick<CloseMonthDeps, 'renderer' | 'artifacts'>,
  input: { lines: readonly MonthlyLine[]; report: MonthReport; context: ReportContext; revision: number; held: boolean; bill?: BillStep | undefined },
): Promise<TeamFile[]> {
  const files: TeamFile[] = [];
  // Each team's report is built from its own lines, bucketed once rather than filtered from all lines per team.
  const linesOfTeam = bucketBy(input.lines, (line) => line.teamId);
  for (const team of input.report.teams) {
    if (team.teamId === UNALLOCATED_TEAM) continue;
    const report = withBilling(buildTeamReport(linesOfTeam.get(team.teamId) ?? [], input.report, team.teamId, input.context), input.bill);
    const workbook = await deps.renderer.teamWorkbook(report);
    const filename = teamWorkbookName(input.report.month, input.revision, team.teamId, input.held);
    const location = await deps.artifacts.save(filename, workbook, XLSX_TYPE);
    const { lines: _lines, unallocated: _unallocated, unpriced: _unpriced, ...figures } = report;
    files.push({ teamId: team.teamId, teamName: team.teamName, report: figures, filename, location });
  }
  return files;
}

/** Mails each team's leads their workbook when it is owed; a failure is noted and the others still go. */
async function mailTeamLeads(
  deps: CloseMonthDeps,
  input: {
    month: string;
    revision: number;
    changes: RevisionChanges | undefined;
    owedTeams: readonly string[] | undefined;
    directory: DirectoryResolution;
    teamFiles: readonly TeamFile[];
    failures: string[];
    resend: boolean;
    resendUncertain: boolean;
    lease: HeldLease;
  },
): Promise<TeamCloseResult[]> {
  const teams: TeamCloseResult[] = [];
  for (const file of input.teamFiles) {
    const key = teamDeliveryKey(input.month, input.revision, file.teamId);
    const owed = await teamMailOwed(deps, { owedTeams: input.owedTeams, revision: input.revision, changes: input.changes, teamId: file.teamId, key });
    // Every send checks that this run still holds the month: a run that lost its lease stops before mailing.
    if (owed) await input.lease.renew();
    const outcome: TeamMailOutcome = !owed
      ? { status: 'not-owed' }
      : await attempt(input.failures, `the mail to the leads of ${file.teamId}`, async () =>
          deliverOnce(deps, {
            key,
            resend: input.resend,
            resendUncertain: input.resendUncertain,
            mail: deps.reportMails.teamMail(file.report, {
              from: deps.settings.mailFrom,
              to: input.directory.teams.get(file.teamId)?.leads ?? [],
              ...(await mailFiles(deps, { workbook: { filename: file.filename, content: await savedWorkbook(deps, file.filename) } })),
              revised: input.revision > 1,
            }),
          }),
        );
    teams.push({ teamId: file.teamId, teamName: file.teamName, amount: file.report.grandTotal, workbookLocation: file.location, mail: outcome });
  }
  return teams;
}

/** A workbook this run saved, read back for its mail. */
async function savedWorkbook(deps: Pick<CloseMonthDeps, 'artifacts'>, filename: string): Promise<Buffer> {
  const content = await deps.artifacts.read(filename);
  if (!content) throw new AppError('INTERNAL', `the workbook ${filename} this close saved is no longer in the artifact store`);
  return content;
}

/**
 * Runs one delivery. A mail the mail service refused is noted and the run goes on with the other mails; any
 * other failure (the ledger unreachable, a lost lease) stops the run before it sends anything more, because
 * a send it could not record would be sent again.
 */
async function attempt<T>(failures: string[], what: string, send: () => Promise<T>): Promise<T | { status: 'failed'; error: string }> {
  try {
    return await send();
  } catch (error) {
    if (!isAppError(error) || error.code !== 'MAIL_FAILED') throw error;
    failures.push(`${what}: ${describeError(error)}`);
    return { status: 'failed', error: describeError(error) };
  }
}

/**
 * Whether this revision owes a team's leads its mail: the close's record of owed teams says so. For closes
 * recorded before owed teams were kept: a team's leads get the first revision, and a later one only
 * if their team's numbers changed. When nothing is known of the previous revision (a rerun of a revision recorded before summaries were kept), the run that
 * made the revision already decided: it tried every owed mail, so a delivery record exists exactly for those.
 */
async function teamMailOwed(
  deps: Pick<CloseMonthDeps, 'deliveries'>,
  input: { owedTeams: readonly string[] | undefined; revision: number; changes: RevisionChanges | undefined; teamId: string; key: string },
): Promise<boolean> {
  if (input.owedTeams) return input.owedTeams.includes(input.teamId);
  if (input.revision === 1 || !input.changes) return true;
  if (input.changes.detailAvailable) return input.changes.changedTeams.includes(input.teamId);
  return (await deps.deliveries.get(input.key)) !== undefined;
}

/** What a close keeps of the usage it read: the counts, rejects and notes, not the rows. */
type UsageFigures = Omit<UsageReadResult, 'rows'> & { readonly rows: number };

/**
 * Reads the month's usage, resolves its users and rolls it up into priced monthly lines. The usage rows end
 * here: a month of them is several times the size of its lines, and nothing after the roll-up needs them.
 */
async function rollUpUsage(
  deps: Pick<CloseMonthDeps, 'usageSource' | 'directory' | 'logger' | 'settings'>,
  month: string,
  window: TimeWindow,
  priceBook: PriceBook,
): Promise<{ lines: MonthlyLine[]; usage: UsageFigures; directory: DirectoryResolution }> {
  const { logger } = deps;
  logger.progress('usage', `reading usage for ${month} (${window.start.toISOString()} to ${window.end.toISOString()})`);
  let read: UsageReadResult | undefined = await deps.usageSource.read(window, { timeZone: deps.settings.timeZone, onProgress: (m) => logger.progress('usage', m) });
  const figures: Omit<UsageFigures, 'rows'> = {
    rejects: read.rejects,
    skipped: read.skipped,
    reportedTotalTokens: read.reportedTotalTokens,
    sourceDescription: read.sourceDescription,
    ...(read.duplicates ? { duplicates: read.duplicates } : {}),
    ...(read.inputs ? { inputs: read.inputs } : {}),
  };
  // Only `rows` refers to the usage rows from here, so that draining it below frees them.
  const rows: UsageRows = read.rows;
  read = undefined;
  if (figures.rejects.count > 0) {
    logger.warn(`${figures.rejects.count} usage row(s) rejected`, { byReason: figures.rejects.byReason });
    for (const row of figures.rejects.samples) logger.warn(`  rejected ${row.location}: ${row.reason}${row.raw !== undefined ? ` (${JSON.stringify(row.raw)})` : ''}`);
  }
  if (figures.duplicates && figures.duplicates.count > 0) logger.warn(`${figures.duplicates.count} repeated metric row(s) left out`, { files: figures.duplicates.files });

  logger.progress('directory', 'resolving users to teams');
  const directory = await deps.directory.resolve(rows.users());

  const rowCount = rows.count;
  logger.progress('pricing', `rolling up ${rowCount} usage rows`);
  // Drained: the rows are let go of line by line as they are grouped, so the rows and the grouped month are
  // never both whole, and neither is left when pricing builds as much again.
  const grouped = groupMonthlyUsage(month, rows.drain(), directory);
  logger.progress('pricing', 'pricing each line by day');
  const lines = priceMonthlyUsage(grouped, priceBook);
  return { lines, usage: { ...figures, rows: rowCount }, directory };
}

/** What this run's revision is compared with on its Changes sheet: the revision before it. */
type RevisionBaseline = { readonly summary: RevisionSummary } | { readonly lines: readonly MonthlyLine[] } | null;

/**
 * The revision before this run's, as its close summarized it. A close recorded before summaries were kept has
 * none; while this run's lines have not replaced it, the stored lines are still that revision's, exactly when
 * they hash to the fingerprint it recorded.
 */
async function revisionBaseline(
  deps: Pick<CloseMonthDeps, 'rollups' | 'closes'>,
  month: string,
  lastClose: MonthClose | undefined,
  close: { revision: number; changed: boolean },
): Promise<RevisionBaseline> {
  if (!lastClose || close.revision < 2) return null;
  const previousRevision = close.revision - 1;
  const summary = await deps.closes.summary(month, previousRevision);
  if (summary) return { summary };
  if (!close.changed) return null;
  const storedBefore = [...(await deps.rollups.readMonth(month))].sort(compareLines);
  return linesFingerprint(storedBefore) === lastClose.fingerprint ? { lines: storedBefore } : null;
}

/** A revision's changes against the one before it, from whatever is known of that one. */
function changesSince(
  baseline: RevisionBaseline,
  current: { lines: readonly MonthlyLine[]; summary: RevisionSummary | null; revision: number; report: MonthReport; context: ReportContext },
): RevisionChanges {
  const previousRevision = current.revision - 1;
  if (baseline !== null && 'lines' in baseline) return revisionChanges(baseline.lines, current.lines, previousRevision, current.report, current.context);
  return revisionChangesFromSummaries(baseline?.summary ?? null, current.summary, previousRevision, current.report, current.context);
}

/** Last month as its report showed it, or nothing when that month was never closed and has no stored lines. */
async function lastMonthFigures(
  deps: Pick<CloseMonthDeps, 'rollups' | 'closes'>,
  month: string,
  directory: DirectoryResolution,
  currency: string,
): Promise<PreviousMonthFigures | undefined> {
  const previous = addMonths(month, -1);
  const [lines, close] = await Promise.all([deps.rollups.readMonth(previous), deps.closes.get(previous)]);
  if (lines.length === 0 && !close) return undefined;
  return previousMonthFigures(previous, [...lines].sort(compareLines), directory.teams, currency);
}

/** Reports progress at about every tenth of the work, and at the end, rather than on every batch. */
function everyTenth(report: (done: number, total: number) => void): (done: number, total: number) => void {
  let next = 0;
  return (done, total) => {
    if (done >= next || done === total) {
      report(done, total);
      next = done + Math.max(1, Math.ceil(total / 10));
    }
  };
}

/**
 * The same numbers keep the month's revision (and so its mail is not sent again); different numbers make
 * a new revision rather than silently overwriting what finance already received. Recorded by the caller.
 */
function nextClose(
  deps: Pick<CloseMonthDeps, 'clock'>,
  input: { month: string; lines: readonly MonthlyLine[]; previous: MonthClose | undefined; priceBook: PriceBook; billedFingerprint: string | null },
): MonthClose & { changed: boolean } {
  const { month, lines, previous, priceBook } = input;
  // A complete bill is part of what finance receives: a new or restated bill makes a new revision.
  const linesOnly = linesFingerprint(lines);
  const fingerprint = input.billedFingerprint === null ? linesOnly : createHash('sha256').update(`${linesOnly}\n${input.billedFingerprint}`).digest('hex');
  const decimals = currencyMinorUnits(priceBook.currency);
  if (previous && previous.fingerprint === fingerprint) return { ...closeRecord(previous), changed: false };
  return {
    month,
    revision: (previous?.revision ?? 0) + 1,
    fingerprint,
    closedAt: deps.clock.now(),
    priceBookVersion: priceBook.version,
    totalMinorUnits: formatMinorUnits(toMinorUnits(sumMoney(lines.map((line) => line.cost)), decimals), decimals),
    currency: priceBook.currency,
    changed: true,
  };
}

/** The close record's own fields, without a summary or the run's `changed`. */
function closeRecord(close: MonthClose): MonthClose {
  const { month, revision, fingerprint, closedAt, priceBookVersion, totalMinorUnits, currency } = close;
  return { month, revision, fingerprint, closedAt, priceBookVersion, totalMinorUnits, currency };
}

/** Each team's budget for the month, for the reports; a closed month's forecast is what was spent. */
async function monthBudgets(deps: Pick<CloseMonthDeps, 'budgets'>, month: string, currency: string): Promise<ReadonlyMap<string, ReportBudget> | undefined> {
  if (!deps.budgets) return undefined;
  const plan = await deps.budgets.load({ currency });
  return new Map(plan.budgetsFor(month).map((budget) => [budget.teamId, { amount: budget.amount }]));
}

function reportContext(context: {
  month: string;
  window: TimeWindow;
  close: MonthClose;
  priceBook: PriceBook;
  directory: DirectoryResolution;
  usage: UsageFigures;
  timeZone: string;
  previousMonth: PreviousMonthFigures | undefined;
  budgets: ReadonlyMap<string, ReportBudget> | undefined;
}): ReportContext {
  return {
    month: context.month,
    timeZone: context.timeZone,
    window: context.window,
    // The close time, not the current time: rerunning an unchanged month renders the same workbook.
    generatedAt: context.close.closedAt,
    revision: context.close.revision,
    priceBook: context.priceBook,
    teams: context.directory.teams,
    sourceDescription: context.usage.sourceDescription,
    rejects: context.usage.rejects,
    reportedTotalTokens: context.usage.reportedTotalTokens,
    ...(context.previousMonth ? { previousMonth: context.previousMonth } : {}),
    ...(context.budgets ? { budgets: context.budgets } : {}),
  };
}
