import { UNALLOCATED_TEAM, type DirectoryResolution } from '../domain/directory.js';
import { AppError, describeError } from '../domain/errors.js';
import { formatMinorUnits, sumMoney, toMinorUnits } from '../domain/money.js';
import { addMonths, monthWindow, type TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import {
  buildMonthReport,
  buildTeamReport,
  previousMonthFigures,
  type MonthReport,
  type PreviousMonthFigures,
  type ReportContext,
  type RevisionChanges,
} from '../domain/report.js';
import { linesFingerprint } from '../domain/line-identity.js';
import { revisionChanges, revisionChangesFromSummaries, summarizeRevision, type RevisionSummary } from '../domain/revisions.js';
import { compareLines, groupMonthlyUsage, priceMonthlyUsage, type MonthlyLine } from '../domain/rollup.js';
import type { UsageReadResult, UsageRow } from '../domain/usage.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { CostExporter, CostExportMonth } from '../ports/cost-export.js';
import type { Directory } from '../ports/directory.js';
import type { CloseRegistry, DeliveryLedger, MonthClose } from '../ports/ledger.js';
import type { Mailer } from '../ports/mailer.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { ReportRenderer } from '../ports/report-renderer.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock, Logger } from '../ports/runtime.js';
import type { UsageSource } from '../ports/usage-source.js';
import { composeFinanceMail, composeTeamMail } from './finance-mail.js';
import { deliverOnce, type DeliveryOutcome } from './deliver-once.js';

export interface CloseMonthDeps {
  readonly usageSource: UsageSource;
  readonly directory: Directory;
  readonly priceBooks: PriceBookSource;
  readonly rollups: RollupStore;
  readonly closes: CloseRegistry;
  readonly deliveries: DeliveryLedger;
  readonly renderer: ReportRenderer;
  readonly costExport: CostExporter;
  readonly artifacts: ArtifactStore;
  readonly mailer: Mailer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: {
    readonly timeZone: string;
    readonly financeRecipients: readonly string[];
    readonly mailFrom: string;
  };
}

export interface CloseMonthRequest {
  readonly month: string;
  /** Send this revision's finance mail, and the team mails it owes, again even though they were already sent. */
  readonly resend?: boolean;
}

/** What happened to one team's mail in this run. 'not-owed': a revision that did not change this team's numbers. */
export type TeamMailOutcome = DeliveryOutcome | { readonly status: 'not-owed' } | { readonly status: 'failed'; readonly error: string };

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
  /** True when this run produced numbers different from the month's last close (or closed it first). */
  readonly changed: boolean;
  readonly usage: Pick<UsageReadResult, 'rejects' | 'skipped' | 'sourceDescription'> & { readonly rows: number };
  readonly directoryNotes: readonly string[];
  readonly stored: { readonly written: number; readonly deleted: number };
  readonly report: MonthReport;
  readonly workbookLocation: string;
  readonly focusLocation: string;
  readonly mail: DeliveryOutcome;
  readonly teams: readonly TeamCloseResult[];
}

/**
 * Closes a month: read its usage, resolve teams, price, store the rollups, build the finance workbook, the
 * team workbooks and the FOCUS export, and mail finance and each team's leads once per revision. Every step
 * is safe to repeat, so a run that failed half-way is completed exactly by running it again.
 *
 * Who is mailed: finance for every revision; a team's leads for the first revision, and for a later one only
 * when that team's numbers changed. Every mail owed is tried even after one fails; the run then fails,
 * naming the failed mails, and the next run sends exactly those.
 */
export async function closeMonth(deps: CloseMonthDeps, request: CloseMonthRequest): Promise<CloseMonthResult> {
  const { logger, settings } = deps;
  const month = request.month;
  const window = monthWindow(month, settings.timeZone);

  logger.progress('prices', 'loading the price book');
  const priceBook = await deps.priceBooks.load();

  const { lines, usage, directory } = await rollUpUsage(deps, month, window, priceBook);

  const lastClose = await deps.closes.get(month);
  const close = nextClose(deps, { month, lines, previous: lastClose, priceBook });
  // Read before the lines are replaced: for a month closed before summaries were kept, the stored lines are
  // the only record of the last revision.
  const baseline = await revisionBaseline(deps, month, lastClose, close);
  const previousMonth = await lastMonthFigures(deps, month, directory);

  const context = reportContext({ month, window, close, priceBook, directory, usage, timeZone: settings.timeZone, previousMonth });
  const baseReport = buildMonthReport(lines, context);
  const summary = close.changed || close.revision > 1 ? summarizeRevision(baseReport, lines) : undefined;

  logger.progress('store', `storing ${lines.length} monthly lines`);
  const stored = await deps.rollups.replaceMonth(month, lines, everyTenth((done, total) => logger.progress('store', `${done}/${total} batches written`)));
  // Recorded after the lines and the summary: a run that fails before this records no revision, so the next run makes it again.
  if (close.changed) await deps.closes.put({ ...closeRecord(close), ...(summary ? { summary } : {}) });

  const changes = close.revision > 1 ? changesSince(baseline, { lines, summary: summary ?? null, revision: close.revision, report: baseReport, context }) : undefined;
  const report: MonthReport = changes ? { ...baseReport, changes } : baseReport;

  logger.progress('workbook', 'building the finance workbook');
  const workbook = await deps.renderer.financeWorkbook(report);
  const workbookLocation = await deps.artifacts.save(workbookName(month, close.revision), workbook, XLSX_TYPE);

  logger.progress('export', 'writing the FOCUS cost export');
  const focusLocation = await writeFocusExport(deps, { month, window, revision: close.revision, lines, priceBook, directory });

  logger.progress('team workbooks', 'building the team workbooks');
  const teamFiles = await buildTeamWorkbooks(deps, { lines, report, context, revision: close.revision });

  const failures: string[] = [];
  logger.progress('mail', 'mailing finance');
  const mail = await attempt(failures, `the finance mail of ${month} revision ${close.revision}`, () =>
    deliverOnce(deps, {
      key: financeDeliveryKey(month, close.revision),
      resend: request.resend ?? false,
      mail: composeFinanceMail(report, {
        from: settings.mailFrom,
        to: settings.financeRecipients,
        attachment: { filename: workbookName(month, close.revision), contentType: XLSX_TYPE, content: workbook },
        revised: close.revision > 1,
      }),
    }),
  );

  logger.progress('mail', 'mailing team leads');
  const teams = await mailTeamLeads(deps, { month, revision: close.revision, changes, directory, teamFiles, failures, resend: request.resend ?? false });

  if (failures.length > 0) {
    throw new AppError('MAIL_FAILED', `${failures.length} mail(s) of ${month} revision ${close.revision} could not be sent; run the close again to send them (nothing already sent is sent twice)`, {
      retryable: true,
      details: failures,
    });
  }
  if (mail.status === 'failed') throw new AppError('INTERNAL', 'unreachable: a failed finance mail is reported above');

  return {
    month,
    window,
    revision: close.revision,
    changed: close.changed,
    usage: { rows: usage.rows, rejects: usage.rejects, skipped: usage.skipped, sourceDescription: usage.sourceDescription },
    directoryNotes: directory.notes,
    stored,
    report,
    workbookLocation,
    focusLocation,
    mail,
    teams,
  };
}

/** The month as a FOCUS CSV, written as it is produced: about 25 rows per line would be a large string. */
async function writeFocusExport(
  deps: Pick<CloseMonthDeps, 'costExport' | 'artifacts' | 'settings'>,
  input: { month: string; window: TimeWindow; revision: number; lines: readonly MonthlyLine[]; priceBook: PriceBook; directory: DirectoryResolution },
): Promise<string> {
  const exportMonth: CostExportMonth = {
    month: input.month,
    timeZone: deps.settings.timeZone,
    window: input.window,
    currency: input.priceBook.currency,
    lines: input.lines,
    priceBook: input.priceBook,
    teamNames: new Map([...input.directory.teams.values()].map((team) => [team.id, team.name])),
  };
  const focus = deps.costExport.focusCsvChunks?.(exportMonth) ?? [deps.costExport.focusCsv(exportMonth)];
  return deps.artifacts.saveStream(focusName(input.month, input.revision), focus, CSV_TYPE);
}

interface TeamFile {
  readonly teamId: string;
  readonly teamName: string;
  readonly report: MonthReport;
  readonly filename: string;
  readonly workbook: Buffer;
  readonly location: string;
}

/** One workbook per team with only that team's lines; the unallocated usage is finance's alone. */
async function buildTeamWorkbooks(
  deps: Pick<CloseMonthDeps, 'renderer' | 'artifacts'>,
  input: { lines: readonly MonthlyLine[]; report: MonthReport; context: ReportContext; revision: number },
): Promise<TeamFile[]> {
  const files: TeamFile[] = [];
  for (const team of input.report.teams) {
    if (team.teamId === UNALLOCATED_TEAM) continue;
    const report = buildTeamReport(input.lines, input.report, team.teamId, input.context);
    const workbook = await deps.renderer.teamWorkbook(report);
    const filename = teamWorkbookName(input.report.month, input.revision, team.teamId);
    const location = await deps.artifacts.save(filename, workbook, XLSX_TYPE);
    files.push({ teamId: team.teamId, teamName: team.teamName, report, filename, workbook, location });
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
    directory: DirectoryResolution;
    teamFiles: readonly TeamFile[];
    failures: string[];
    resend: boolean;
  },
): Promise<TeamCloseResult[]> {
  const teams: TeamCloseResult[] = [];
  for (const file of input.teamFiles) {
    const key = teamDeliveryKey(input.month, input.revision, file.teamId);
    const owed = await teamMailOwed(deps, { revision: input.revision, changes: input.changes, teamId: file.teamId, key });
    const outcome: TeamMailOutcome = !owed
      ? { status: 'not-owed' }
      : await attempt(input.failures, `the mail to the leads of ${file.teamId}`, () =>
          deliverOnce(deps, {
            key,
            resend: input.resend,
            mail: composeTeamMail(file.report, {
              from: deps.settings.mailFrom,
              to: input.directory.teams.get(file.teamId)?.leads ?? [],
              attachment: { filename: file.filename, contentType: XLSX_TYPE, content: file.workbook },
              revised: input.revision > 1,
            }),
          }),
        );
    teams.push({ teamId: file.teamId, teamName: file.teamName, amount: file.report.grandTotal, workbookLocation: file.location, mail: outcome });
  }
  return teams;
}

/** Runs one delivery; a failure is noted and the run goes on with the other mails. */
async function attempt<T>(failures: string[], what: string, send: () => Promise<T>): Promise<T | { status: 'failed'; error: string }> {
  try {
    return await send();
  } catch (error) {
    failures.push(`${what}: ${describeError(error)}`);
    return { status: 'failed', error: describeError(error) };
  }
}

export function financeDeliveryKey(month: string, revision: number): string {
  return `${month}|r${revision}|finance`;
}

export function teamDeliveryKey(month: string, revision: number, teamId: string): string {
  return `${month}|r${revision}|team|${teamId}`;
}

/**
 * A team's leads get the first revision, and a later one only if their team's numbers changed. When nothing
 * is known of the previous revision (a rerun of a revision recorded before summaries were kept), the run that
 * made the revision already decided: it tried every owed mail, so a delivery record exists exactly for those.
 */
async function teamMailOwed(
  deps: Pick<CloseMonthDeps, 'deliveries'>,
  input: { revision: number; changes: RevisionChanges | undefined; teamId: string; key: string },
): Promise<boolean> {
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
  };
  // Only `rows` refers to the usage rows from here, so that dropping it below frees them.
  let rows: readonly UsageRow[] | undefined = read.rows;
  read = undefined;
  if (figures.rejects.count > 0) logger.warn(`${figures.rejects.count} usage row(s) rejected`, { byReason: figures.rejects.byReason });

  logger.progress('directory', 'resolving users to teams');
  const directory = await deps.directory.resolve(distinctUsers(rows));

  const rowCount = rows.length;
  logger.progress('pricing', `rolling up ${rowCount} usage rows`);
  const grouped = groupMonthlyUsage(month, rows, directory);
  // Dropped before pricing, which builds as much again: the rows and the priced lines never coexist here.
  rows = undefined;
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
async function lastMonthFigures(deps: Pick<CloseMonthDeps, 'rollups' | 'closes'>, month: string, directory: DirectoryResolution): Promise<PreviousMonthFigures | undefined> {
  const previous = addMonths(month, -1);
  const [lines, close] = await Promise.all([deps.rollups.readMonth(previous), deps.closes.get(previous)]);
  if (lines.length === 0 && !close) return undefined;
  return previousMonthFigures(previous, [...lines].sort(compareLines), directory.teams);
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

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const CSV_TYPE = 'text/csv; charset=utf-8';

const revisionSuffix = (revision: number) => (revision > 1 ? `-r${revision}` : '');

export function workbookName(month: string, revision: number): string {
  return `chargeback-${month}${revisionSuffix(revision)}.xlsx`;
}

/** Team ids are [a-z0-9._-]; a ".." inside one would read as a parent reference in a file name. */
export function teamWorkbookName(month: string, revision: number, teamId: string): string {
  return `chargeback-${month}-team-${teamId.replace(/\.{2,}/g, '.')}${revisionSuffix(revision)}.xlsx`;
}

export function focusName(month: string, revision: number): string {
  return `focus-${month}${revisionSuffix(revision)}.csv`;
}

function distinctUsers(rows: readonly UsageRow[]): string[] {
  const users = new Set<string>();
  for (const row of rows) if (row.userId !== '') users.add(row.userId);
  return [...users].sort();
}

/**
 * The same numbers keep the month's revision (and so its mail is not sent again); different numbers make
 * a new revision rather than silently overwriting what finance already received. Recorded by the caller.
 */
function nextClose(
  deps: Pick<CloseMonthDeps, 'clock'>,
  input: { month: string; lines: readonly MonthlyLine[]; previous: MonthClose | undefined; priceBook: PriceBook },
): MonthClose & { changed: boolean } {
  const { month, lines, previous, priceBook } = input;
  const fingerprint = linesFingerprint(lines);
  if (previous && previous.fingerprint === fingerprint) return { ...closeRecord(previous), changed: false };
  return {
    month,
    revision: (previous?.revision ?? 0) + 1,
    fingerprint,
    closedAt: deps.clock.now(),
    priceBookVersion: priceBook.version,
    totalMinorUnits: formatMinorUnits(toMinorUnits(sumMoney(lines.map((line) => line.cost)))),
    currency: priceBook.currency,
    changed: true,
  };
}

/** The close record's own fields, without a summary or the run's `changed`. */
function closeRecord(close: MonthClose): MonthClose {
  const { month, revision, fingerprint, closedAt, priceBookVersion, totalMinorUnits, currency } = close;
  return { month, revision, fingerprint, closedAt, priceBookVersion, totalMinorUnits, currency };
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
  };
}
