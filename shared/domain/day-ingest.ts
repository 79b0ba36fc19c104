import { createHash } from 'node:crypto';
import { MAX_REJECT_SAMPLES, type DayReadFigures, type DuplicateSummary, type RejectedRow, type RejectSummary, type SourceDayTotal, type UsageInput, type UsageReadResult } from './usage.js';

/**
 * What the ingest read for one calendar day, kept next to the day's lines: the figures the close controls
 * need (rows, rejects, the gateway's total, repeats) and a fingerprint of what the source held for the day,
 * so that a close can build the month from the stored days and tell which of them changed since.
 */
export interface DayIngestSummary {
  readonly day: string;
  /** The ingest run that wrote the day. */
  readonly runId: string;
  readonly ingestedAt: Date;
  readonly sourceDescription: string;
  /** Usage rows (user x model x tier) the day's lines were built from. */
  readonly rows: number;
  /** The rejected rows dated to this day (count and reasons in full, the first few rows). */
  readonly rejects: RejectSummary;
  readonly reportedTotalTokens: number | null;
  /** Repeated samples of this day left out of the sums. */
  readonly duplicates: number;
  /** sourceDayFingerprint of what the source held for the day when it was read; null when the source cannot say. */
  readonly sourceFingerprint: string | null;
  /** The figures of the read no single day owns; a month counts them once per read key. */
  readonly read: ReadFigures;
}

/** A read's figures that belong to no one day: rows whose time could not be read, repeated files, inputs. */
export interface ReadFigures {
  /** Equal for reads of the same inputs (the same files, byte for byte), unique per read otherwise. */
  readonly key: string;
  readonly rejects: RejectSummary;
  /** Gateway total and repeats a source did not date (one without per-day figures that read several days). */
  readonly reportedTotalTokens: number | null;
  readonly duplicates: number;
  readonly duplicateFiles: readonly string[];
  readonly skipped: Readonly<Record<string, number>>;
  readonly inputs?: readonly UsageInput[];
}

/** The usage figures of a month as its close and its controls see them (the rows themselves are not kept). */
export type MonthUsageFigures = Omit<UsageReadResult, 'rows' | 'days' | 'dayTotals'> & { readonly rows: number };

const NO_REJECTS: RejectSummary = Object.freeze({ count: 0, samples: [], byReason: {} });

/**
 * Splits one read of `days` into one summary per day. A source that dates its figures (UsageReadResult.days)
 * has them placed on their days, and only what it could not date stays with the read; a source that does not
 * has everything on the day when it read a single day, and on the read otherwise.
 */
export function summarizeIngestedDays(
  read: UsageReadResult,
  days: readonly string[],
  rowsPerDay: ReadonlyMap<string, number>,
  run: { readonly id: string; readonly at: Date },
): DayIngestSummary[] {
  const fingerprints = fingerprintsByDay(read.dayTotals);
  const single = read.days === undefined && days.length === 1;
  const dated = (day: string): DayReadFigures | undefined => {
    if (read.days !== undefined) return read.days.get(day);
    return single ? { rejects: read.rejects, reportedTotalTokens: read.reportedTotalTokens, duplicates: read.duplicates?.count ?? 0 } : undefined;
  };
  const perDay = days.map((day) => ({ day, figures: dated(day) }));
  const undated = single ? { rejects: NO_REJECTS, reportedTotalTokens: null, duplicates: 0 } : subtractDated(read, perDay.flatMap(({ figures }) => (figures ? [figures] : [])));
  const readFigures: ReadFigures = {
    key: readKey(read, run.id, days),
    ...undated,
    duplicateFiles: read.duplicates?.files ?? [],
    skipped: read.skipped,
    ...(read.inputs ? { inputs: read.inputs } : {}),
  };
  return perDay.map(({ day, figures }) => ({
    day,
    runId: run.id,
    ingestedAt: run.at,
    sourceDescription: read.sourceDescription,
    rows: rowsPerDay.get(day) ?? 0,
    rejects: stripAll(figures?.rejects ?? NO_REJECTS),
    reportedTotalTokens: figures?.reportedTotalTokens ?? null,
    duplicates: figures?.duplicates ?? 0,
    sourceFingerprint: fingerprints === null ? null : (fingerprints.get(day) ?? sourceDayFingerprint([])),
    read: readFigures,
  }));
}

/** What the read counted beyond its days' own figures. */
function subtractDated(read: UsageReadResult, dated: readonly DayReadFigures[]): Pick<ReadFigures, 'rejects' | 'reportedTotalTokens' | 'duplicates'> {
  const byReason: Record<string, number> = { ...read.rejects.byReason };
  let count = read.rejects.count;
  let total = read.reportedTotalTokens;
  let duplicates = read.duplicates?.count ?? 0;
  const datedRows = new Set<string>();
  for (const figures of dated) {
    count -= figures.rejects.count;
    for (const [reason, n] of Object.entries(figures.rejects.byReason)) {
      const left = (byReason[reason] ?? 0) - n;
      if (left > 0) byReason[reason] = left;
      else delete byReason[reason];
    }
    for (const row of figures.rejects.samples) datedRows.add(`${row.location}\u0000${row.reason}`);
    if (figures.reportedTotalTokens !== null && total !== null) total -= figures.reportedTotalTokens;
    duplicates -= figures.duplicates;
  }
  const all = read.rejects.all ?? read.rejects.samples;
  const samples = count > 0 ? all.filter((row) => !datedRows.has(`${row.location}\u0000${row.reason}`)).slice(0, MAX_REJECT_SAMPLES) : [];
  return {
    rejects: { count: Math.max(0, count), samples, byReason },
    reportedTotalTokens: total === null || (total === 0 && dated.some((figures) => figures.reportedTotalTokens !== null)) ? null : total,
    duplicates: Math.max(0, duplicates),
  };
}

function stripAll(rejects: RejectSummary): RejectSummary {
  return { count: rejects.count, samples: rejects.samples.slice(0, MAX_REJECT_SAMPLES), byReason: { ...rejects.byReason } };
}

/** The same inputs byte for byte give the same key, so their undated figures count once in a month. */
function readKey(read: UsageReadResult, runId: string, days: readonly string[]): string {
  const identity =
    read.inputs && read.inputs.length > 0 && read.inputs.every((input) => input.sha256 !== undefined)
      ? JSON.stringify(['inputs', read.sourceDescription, read.inputs.map((input) => [input.name, input.sha256])])
      : JSON.stringify(['read', runId, days[0] ?? '', days[days.length - 1] ?? '']);
  return createHash('sha256').update(identity).digest('hex').slice(0, 32);
}

/** A day's totals as one value: equal values, the source held the same for that day. */
export function sourceDayFingerprint(totals: readonly SourceDayTotal[]): string {
  const parts = totals.map((total) => [total.metric, total.valueSum, total.valueCount] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** The fingerprint of each day that has totals; null when there are no totals at all (the source cannot say). */
export function fingerprintsByDay(totals: readonly SourceDayTotal[] | undefined): Map<string, string> | null {
  if (totals === undefined) return null;
  const byDay = new Map<string, SourceDayTotal[]>();
  for (const total of totals) {
    const list = byDay.get(total.day);
    if (list) list.push(total);
    else byDay.set(total.day, [total]);
  }
  return new Map([...byDay].map(([day, list]) => [day, sourceDayFingerprint(list)]));
}

export type ReingestReason = 'missing' | 'changed' | 'not covered';

/**
 * The days of a month a close must ingest again before it reads the stored days: those never completely
 * ingested (no summary), and those whose source totals differ from what was read (late data), or, for a source
 * that cannot give totals, those after the last successful ingest's catch-up mark.
 */
export function daysToReingest(input: {
  readonly days: readonly string[];
  readonly summaries: ReadonlyMap<string, DayIngestSummary>;
  /** Fingerprints of the source's totals now (days without totals included as empty), or null when it cannot say. */
  readonly sourceFingerprints: ReadonlyMap<string, string> | null;
  readonly coveredThrough: string | null;
}): { day: string; reason: ReingestReason }[] {
  const empty = sourceDayFingerprint([]);
  const owed: { day: string; reason: ReingestReason }[] = [];
  for (const day of input.days) {
    const summary = input.summaries.get(day);
    if (!summary) owed.push({ day, reason: 'missing' });
    else if (input.sourceFingerprints !== null) {
      if (summary.sourceFingerprint !== (input.sourceFingerprints.get(day) ?? empty)) owed.push({ day, reason: 'changed' });
    } else if (input.coveredThrough === null || day > input.coveredThrough) owed.push({ day, reason: 'not covered' });
  }
  return owed;
}

/** Runs of consecutive days, first and last included: one read each. */
export function consecutiveRuns(days: readonly string[], nextDay: (day: string) => string): { from: string; to: string }[] {
  const runs: { from: string; to: string }[] = [];
  for (const day of [...days].sort()) {
    const last = runs[runs.length - 1];
    if (last && nextDay(last.to) === day) last.to = day;
    else runs.push({ from: day, to: day });
  }
  return runs;
}

/**
 * The month's usage figures from its days' summaries: the days' own figures summed, and each read's undated
 * figures counted once (by read key). The rejects keep their count and reasons in full and the first rows.
 */
export function monthUsageFromSummaries(summaries: readonly DayIngestSummary[]): MonthUsageFigures {
  const byReason: Record<string, number> = {};
  const samples: RejectedRow[] = [];
  const skipped: Record<string, number> = {};
  const files = new Set<string>();
  const inputs = new Map<string, UsageInput>();
  const descriptions = new Set<string>();
  const reads = new Map<string, ReadFigures>();
  let rows = 0;
  let rejected = 0;
  let duplicates = 0;
  let total: number | null = null;
  const addRejects = (rejects: RejectSummary) => {
    rejected += rejects.count;
    for (const [reason, n] of Object.entries(rejects.byReason)) byReason[reason] = (byReason[reason] ?? 0) + n;
    for (const row of rejects.samples) if (samples.length < MAX_REJECT_SAMPLES) samples.push(row);
  };
  const addTotal = (tokens: number | null) => {
    if (tokens !== null) total = (total ?? 0) + tokens;
  };
  for (const summary of [...summaries].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0))) {
    rows += summary.rows;
    addRejects(summary.rejects);
    addTotal(summary.reportedTotalTokens);
    duplicates += summary.duplicates;
    descriptions.add(summary.sourceDescription);
    if (!reads.has(summary.read.key)) reads.set(summary.read.key, summary.read);
  }
  for (const read of reads.values()) {
    addRejects(read.rejects);
    addTotal(read.reportedTotalTokens);
    duplicates += read.duplicates;
    for (const file of read.duplicateFiles) files.add(file);
    for (const [reason, n] of Object.entries(read.skipped)) skipped[reason] = (skipped[reason] ?? 0) + n;
    for (const input of read.inputs ?? []) inputs.set(`${input.name}\u0000${input.sha256 ?? ''}`, input);
  }
  const duplicateSummary: DuplicateSummary | undefined = duplicates > 0 || files.size > 0 ? { count: duplicates, samples: [], files: [...files] } : undefined;
  return {
    rows,
    rejects: { count: rejected, samples, byReason },
    skipped,
    reportedTotalTokens: total,
    sourceDescription: `daily rollups of ${summaries.length} day(s) from ${[...descriptions].join('; ') || 'no source'}`,
    ...(duplicateSummary ? { duplicates: duplicateSummary } : {}),
    ...(inputs.size > 0 ? { inputs: [...inputs.values()] } : {}),
  };
}
