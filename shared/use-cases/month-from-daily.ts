import { consecutiveRuns, daysToReingest, fingerprintsByDay, monthUsageFromSummaries, type DayIngestSummary, type MonthUsageFigures, type ReingestReason } from '../domain/day-ingest.js';
import type { DirectoryResolution } from '../domain/directory.js';
import { AppError } from '../domain/errors.js';
import { dayInZone, daysOfMonth, nextDay, type TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import { groupMonthlyUsage, priceMonthlyUsage, type MonthlyLine } from '../domain/rollup.js';
import type { DayLine } from '../domain/daily.js';
import type { UsageRow } from '../domain/usage.js';
import { UsageSeriesSet } from '../domain/usage-series.js';
import type { Directory } from '../ports/directory.js';
import { ingestDaily, type IngestDailyDeps } from './ingest-daily.js';

/** A month's usage as a close needs it: priced lines, the figures its controls check, and who everyone is. */
export interface MonthRollUp {
  readonly lines: MonthlyLine[];
  readonly usage: MonthUsageFigures;
  readonly directory: DirectoryResolution;
}

/** Where a close takes its month of usage from instead of reading the usage source itself. */
export interface MonthUsageReader {
  /** Teams, names and prices are decided by the close's own directory and price book. */
  rollUpMonth(input: MonthRollUpRequest): Promise<MonthRollUp>;
}

export interface MonthRollUpRequest {
  readonly month: string;
  readonly window: TimeWindow;
  readonly priceBook: PriceBook;
  readonly directory: Directory;
}

/** Days of stored lines read at once: a few partitions' scans in flight, never the month's day lines together. */
const DAYS_READ_AT_ONCE = 4;

/** The close's month from the daily rollups the ingest stored (CLOSE_USAGE_FROM=daily-rollups). */
export function monthUsageFromDailyRollups(deps: IngestDailyDeps): MonthUsageReader {
  return { rollUpMonth: (input) => rollUpMonthFromDailyRollups(deps, input) };
}

/**
 * Builds a month from its stored days, so the daily ingest stays the only reader of the usage source:
 *
 * 1. the days never completely ingested, and those whose source totals changed since they were read (late
 *    data; for a source that cannot give totals, the days after the last successful ingest's catch-up mark)
 *    are ingested again through the daily ingest, one read per run of consecutive days;
 * 2. the stored day lines are read a few days at a time and kept only as their usage (day, user, model,
 *    tier, tokens, requests): team, names and costs are decided here, by the close's directory and price
 *    book, exactly as a close that reads the usage source decides them, so both give the same lines;
 * 3. the controls' figures are the stored days' ingest summaries added up.
 */
export async function rollUpMonthFromDailyRollups(deps: IngestDailyDeps, input: MonthRollUpRequest): Promise<MonthRollUp> {
  const { logger, settings } = deps;
  const { month, window, priceBook } = input;
  const today = dayInZone(deps.clock.now(), settings.timeZone);
  const days = daysOfMonth(month).filter((day) => day <= today);

  logger.progress('usage', `checking the stored days of ${month} against the usage source`);
  let summaries = await storedSummaries(deps, month);
  const { owed, keptAsStored } = await daysOwed(deps, { days, window, summaries });
  if (keptAsStored.length > 0) {
    logger.warn(
      `the usage source holds nothing for ${keptAsStored.length} day(s) of ${month} whose usage is stored (${keptAsStored.map((kept) => kept.day).join(', ')}): ` +
        'past its retention, the stored days are the record and are used as they are',
    );
  }
  if (owed.length > 0) {
    logger.info(`ingesting ${owed.length} day(s) of ${month} again before the close: ${describeOwed(owed)}`);
    for (const range of consecutiveRuns(owed.map((entry) => entry.day), nextDay)) {
      await ingestDaily(deps, { trigger: 'close', range });
    }
    summaries = await storedSummaries(deps, month);
  }
  for (const kept of keptAsStored) if (!summaries.has(kept.day) && kept.summary) summaries.set(kept.day, kept.summary);
  const unrecorded = days.filter((day) => !summaries.has(day));
  if (unrecorded.length > 0) {
    throw new AppError('INTERNAL', `the ingest left ${unrecorded.length} day(s) of ${month} without a summary (${unrecorded.slice(0, 5).join(', ')}); run the close again`, { retryable: true });
  }

  const usage = monthUsageFromSummaries(days.map((day) => summaries.get(day)!));
  if (usage.rejects.count > 0) {
    logger.warn(`${usage.rejects.count} usage row(s) rejected when the days of ${month} were ingested`, { byReason: usage.rejects.byReason });
    for (const row of usage.rejects.samples) logger.warn(`  rejected ${row.location}: ${row.reason}${row.raw !== undefined ? ` (${JSON.stringify(row.raw)})` : ''}`);
  }
  if (usage.duplicates && usage.duplicates.count > 0) logger.warn(`${usage.duplicates.count} repeated metric row(s) were left out`, { files: usage.duplicates.files });

  logger.progress('usage', `reading the stored day lines of ${month}`);
  const stored = await storedUsage(deps, days);
  logger.progress('directory', 'resolving users to teams');
  const directory = await input.directory.resolve(stored.users());
  logger.progress('pricing', `rolling up ${stored.size} stored day lines`);
  // The stored usage is let go of line by line as it is grouped: the two are never both whole.
  const grouped = groupMonthlyUsage(month, stored.drain(), directory);
  logger.progress('pricing', 'pricing each line by day');
  const lines = priceMonthlyUsage(grouped, priceBook);
  return { lines, usage, directory };
}

async function storedSummaries(deps: Pick<IngestDailyDeps, 'dailyRollups'>, month: string): Promise<Map<string, DayIngestSummary>> {
  return new Map((await deps.dailyRollups.readDaySummaries(month)).map((summary) => [summary.day, summary]));
}

/**
 * The days to ingest again, and the days kept as stored although they look owed: the source holds nothing
 * for them while the store holds their usage. That is what App Insights' retention (90 days by default) does
 * to an old month, and ingesting such a day would replace its stored usage with nothing. A kept day without a
 * summary (stored before summaries were kept) gets one made from its lines, with no rejects and no gateway
 * total: the controls then see a "Total Tokens" short of the counted tokens and hold the close for a person.
 */
async function daysOwed(
  deps: Pick<IngestDailyDeps, 'usageSource' | 'ingestRuns' | 'dailyRollups' | 'settings' | 'clock'>,
  input: { days: readonly string[]; window: TimeWindow; summaries: ReadonlyMap<string, DayIngestSummary> },
): Promise<{ owed: { day: string; reason: ReingestReason }[]; keptAsStored: { day: string; summary?: DayIngestSummary }[] }> {
  const source = deps.usageSource;
  const sourceFingerprints = source.dayTotals ? fingerprintsByDay(await source.dayTotals(input.window, { timeZone: deps.settings.timeZone })) : null;
  const coveredThrough = sourceFingerprints === null ? ((await deps.ingestRuns.lastSucceeded())?.coveredThrough ?? null) : null;
  const candidates = daysToReingest({ days: input.days, summaries: input.summaries, sourceFingerprints, coveredThrough });
  if (sourceFingerprints === null) return { owed: candidates, keptAsStored: [] };
  const owed: { day: string; reason: ReingestReason }[] = [];
  const keptAsStored: { day: string; summary?: DayIngestSummary }[] = [];
  for (const candidate of candidates) {
    if (sourceFingerprints.has(candidate.day)) {
      owed.push(candidate);
      continue;
    }
    const summary = input.summaries.get(candidate.day);
    if (summary) {
      if (summary.rows > 0) keptAsStored.push({ day: candidate.day });
      else owed.push(candidate);
      continue;
    }
    const lines = await deps.dailyRollups.readDay(candidate.day);
    if (lines.length === 0) owed.push(candidate);
    else keptAsStored.push({ day: candidate.day, summary: summaryOfStoredLines(candidate.day, lines.length, deps.clock.now()) });
  }
  return { owed, keptAsStored };
}

function summaryOfStoredLines(day: string, lines: number, at: Date): DayIngestSummary {
  const none = { count: 0, samples: [], byReason: {} };
  return {
    day,
    runId: 'stored',
    ingestedAt: at,
    sourceDescription: 'stored day lines the source no longer holds',
    rows: lines,
    rejects: none,
    reportedTotalTokens: null,
    duplicates: 0,
    sourceFingerprint: null,
    read: { key: 'stored day lines', rejects: none, reportedTotalTokens: null, duplicates: 0, duplicateFiles: [], skipped: {} },
  };
}

function describeOwed(owed: readonly { day: string; reason: ReingestReason }[]): string {
  const byReason = new Map<ReingestReason, string[]>();
  for (const { day, reason } of owed) byReason.set(reason, [...(byReason.get(reason) ?? []), day]);
  const label: Record<ReingestReason, string> = { missing: 'never completely ingested', changed: 'changed at the source since', 'not covered': 'after the last ingest' };
  return [...byReason].map(([reason, list]) => `${list.length} ${label[reason]} (${list.length > 3 ? `${list[0]} … ${list[list.length - 1]}` : list.join(', ')})`).join('; ');
}

/** Reads the stored day lines a few days at a time, keeping only their usage. */
async function storedUsage(deps: Pick<IngestDailyDeps, 'dailyRollups'>, days: readonly string[]): Promise<StoredUsage> {
  const usage = new StoredUsage();
  for (let at = 0; at < days.length; at += DAYS_READ_AT_ONCE) {
    const batch = days.slice(at, at + DAYS_READ_AT_ONCE);
    const read = await Promise.all(batch.map((day) => deps.dailyRollups.readDay(day)));
    for (const [index, lines] of read.entries()) usage.add(batch[index]!, lines);
  }
  return usage;
}

/**
 * A month's stored usage per user, model and tier, each with its days: what the day lines say without their
 * team, names or costs. A day's lines give each user one team, so a user, model and tier has one line a day.
 * Kept as one series per user, model and tier with a flat array of sums (UsageSeriesSet), not an object per
 * line-day.
 */
class StoredUsage {
  private readonly usage = new UsageSeriesSet();

  get size(): number {
    return this.usage.count;
  }

  add(day: string, dayLines: readonly DayLine[]): void {
    for (const line of dayLines) this.usage.add(line.userId, line.model, line.tier, day, line.tokens, line.requests);
  }

  /** Every user with usage, sorted; the empty UserId (no user) is not one. */
  users(): string[] {
    return this.usage.users();
  }

  /** The usage as rows, line by line, each line let go of once its rows were handed out. */
  drain(): Iterable<UsageRow> {
    return this.usage.rows().drain();
  }
}
