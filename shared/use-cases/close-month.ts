import { createHash } from 'node:crypto';
import type { DirectoryResolution } from '../domain/directory.js';
import { formatMinorUnits, sumMoney, toMinorUnits } from '../domain/money.js';
import { monthWindow, type TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import { buildMonthReport, type MonthReport } from '../domain/report.js';
import { buildMonthlyLines, type MonthlyLine } from '../domain/rollup.js';
import { TOKEN_KINDS } from '../domain/tokens.js';
import type { UsageReadResult } from '../domain/usage.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { Directory } from '../ports/directory.js';
import type { CloseRegistry, DeliveryLedger, MonthClose } from '../ports/ledger.js';
import type { Mailer } from '../ports/mailer.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { ReportRenderer } from '../ports/report-renderer.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { Clock, Logger } from '../ports/runtime.js';
import type { UsageSource } from '../ports/usage-source.js';
import { composeFinanceMail } from './finance-mail.js';
import { deliverOnce, type DeliveryOutcome } from './deliver-once.js';

export interface CloseMonthDeps {
  readonly usageSource: UsageSource;
  readonly directory: Directory;
  readonly priceBooks: PriceBookSource;
  readonly rollups: RollupStore;
  readonly closes: CloseRegistry;
  readonly deliveries: DeliveryLedger;
  readonly renderer: ReportRenderer;
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
  /** Send the finance mail again even though this revision was already sent. */
  readonly resend?: boolean;
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
  readonly mail: DeliveryOutcome;
}

/**
 * Closes a month: read its usage, resolve teams, price, store the rollups, build the finance workbook and
 * mail it to finance once per revision. Every step is safe to repeat, so a run that failed half-way is
 * completed exactly by running it again.
 */
export async function closeMonth(deps: CloseMonthDeps, request: CloseMonthRequest): Promise<CloseMonthResult> {
  const { logger, settings } = deps;
  const month = request.month;
  const window = monthWindow(month, settings.timeZone);

  logger.progress('prices', 'loading the price book');
  const priceBook = await deps.priceBooks.load();

  logger.progress('usage', `reading usage for ${month} (${window.start.toISOString()} to ${window.end.toISOString()})`);
  const usage = await deps.usageSource.read(window, { timeZone: settings.timeZone, onProgress: (m) => logger.progress('usage', m) });
  if (usage.rejects.count > 0) logger.warn(`${usage.rejects.count} usage row(s) rejected`, { byReason: usage.rejects.byReason });

  logger.progress('directory', 'resolving users to teams');
  const directory = await deps.directory.resolve(distinctUsers(usage));

  logger.progress('pricing', `rolling up ${usage.rows.length} usage rows`);
  const lines = buildMonthlyLines(month, usage.rows, directory, priceBook);

  logger.progress('store', `storing ${lines.length} monthly lines`);
  const stored = await deps.rollups.replaceMonth(month, lines, everyTenth((done, total) => logger.progress('store', `${done}/${total} batches written`)));

  const close = await recordClose(deps, month, lines, priceBook);
  const report = buildReport(lines, { month, window, close, priceBook, directory, usage, timeZone: settings.timeZone });

  logger.progress('workbook', 'building the finance workbook');
  const workbook = await deps.renderer.financeWorkbook(report);
  const workbookLocation = await deps.artifacts.save(workbookName(month, close.revision), workbook, XLSX_TYPE);

  logger.progress('mail', 'mailing finance');
  const mail = await deliverOnce(deps, {
    key: `${month}|r${close.revision}|finance`,
    resend: request.resend ?? false,
    mail: composeFinanceMail(report, {
      from: settings.mailFrom,
      to: settings.financeRecipients,
      attachment: { filename: workbookName(month, close.revision), contentType: XLSX_TYPE, content: workbook },
      revised: close.revision > 1,
    }),
  });

  return {
    month,
    window,
    revision: close.revision,
    changed: close.changed,
    usage: { rows: usage.rows.length, rejects: usage.rejects, skipped: usage.skipped, sourceDescription: usage.sourceDescription },
    directoryNotes: directory.notes,
    stored,
    report,
    workbookLocation,
    mail,
  };
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

export function workbookName(month: string, revision: number): string {
  return `chargeback-${month}${revision > 1 ? `-r${revision}` : ''}.xlsx`;
}

function distinctUsers(usage: UsageReadResult): string[] {
  return [...new Set(usage.rows.map((row) => row.userId).filter((id) => id !== ''))].sort();
}

/**
 * The same numbers keep the month's revision (and so its mail is not sent again); different numbers make
 * a new revision rather than silently overwriting what finance already received.
 */
async function recordClose(deps: CloseMonthDeps, month: string, lines: readonly MonthlyLine[], priceBook: PriceBook): Promise<MonthClose & { changed: boolean }> {
  const fingerprint = fingerprintLines(lines);
  const previous = await deps.closes.get(month);
  if (previous && previous.fingerprint === fingerprint) return { ...previous, changed: false };
  const close: MonthClose = {
    month,
    revision: (previous?.revision ?? 0) + 1,
    fingerprint,
    closedAt: deps.clock.now(),
    priceBookVersion: priceBook.version,
    totalMinorUnits: formatMinorUnits(toMinorUnits(sumMoney(lines.map((line) => line.cost)))),
    currency: priceBook.currency,
  };
  await deps.closes.put(close);
  return { ...close, changed: true };
}

export function fingerprintLines(lines: readonly MonthlyLine[]): string {
  const hash = createHash('sha256');
  for (const line of lines) {
    hash.update(
      JSON.stringify([
        line.teamId,
        line.userId,
        line.model,
        line.tier,
        line.allocation,
        TOKEN_KINDS.map((kind) => line.tokens[kind]),
        TOKEN_KINDS.map((kind) => line.unpricedTokens[kind]),
        line.requests,
        line.cost.toFixed(),
        line.priceEntryIds,
        line.days.map((day) => [day.day, TOKEN_KINDS.map((kind) => day.tokens[kind]), day.requests, day.cost?.toFixed() ?? null, day.priceEntryId]),
      ]),
    );
    hash.update('\n');
  }
  return hash.digest('hex');
}

function buildReport(
  lines: readonly MonthlyLine[],
  context: {
    month: string;
    window: TimeWindow;
    close: MonthClose;
    priceBook: PriceBook;
    directory: DirectoryResolution;
    usage: UsageReadResult;
    timeZone: string;
  },
): MonthReport {
  return buildMonthReport(lines, {
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
  });
}
