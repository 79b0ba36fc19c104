import type { TokenCounts } from './tokens.js';

/**
 * One day of one user's use of one model in one tier, as the usage source reports it.
 * `day` is the calendar day in the reporting time zone (YYYY-MM-DD); `userId` is the Entra oid and may be
 * empty when the gateway emitted no UserId (such rows roll up to the unallocated team, never dropped).
 */
export interface UsageRow {
  readonly day: string;
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  readonly tokens: TokenCounts;
  readonly requests: number;
}

/** A source row that could not be used, kept for the run report. */
export interface RejectedRow {
  /** Where it came from: "file.csv:17" or "query window 2026-10-03". */
  readonly location: string;
  readonly reason: string;
  /** The offending value as it was in the source (truncated), so a person can find and fix it. */
  readonly raw?: string;
}

export interface RejectSummary {
  readonly count: number;
  /** The first few rejects with their reasons; `count` is the true total. */
  readonly samples: readonly RejectedRow[];
  /** Rejects counted by reason, so a report can say "312 rows: valueSum is negative". */
  readonly byReason: Readonly<Record<string, number>>;
  /** Every reject up to MAX_REJECTS_KEPT, for the rejects CSV; `count` is the true total. */
  readonly all?: readonly RejectedRow[];
}

/** The same data read twice: the same file under two names, or one series at one minute in two rows. */
export interface DuplicateSummary {
  /** Samples not summed because they repeat one already read. */
  readonly count: number;
  /** The first few, for a person: "b.csv:17 repeats a.csv:17 (Prompt Tokens, <oid>, <model>, <tier>, 2026-10-03T10:05Z)". */
  readonly samples: readonly string[];
  /** The files involved, e.g. "b.csv is the same file as a.csv (sha256 1a2b…)". */
  readonly files: readonly string[];
}

/** One input the source read, so the run report can name exactly what was closed. */
export interface UsageInput {
  readonly name: string;
  readonly sha256?: string;
  /** Data rows (CSV records or NDJSON lines) read from it. */
  readonly rows: number;
}

/**
 * A read's usage rows, in day, user, model, tier order (code unit order, so reruns give identical output).
 * Not an array: a month at 100,000 users is millions of rows, kept by the reader in a compact form and handed
 * out one fresh row object at a time. Iterating twice gives the same rows.
 */
export interface UsageRows extends Iterable<UsageRow> {
  readonly count: number;
  [Symbol.iterator](): Iterator<UsageRow>;
  /**
   * Every row once, in no promised order, for a reader that needs them only once and regroups them (the
   * close): a compact form lets go of its rows as they are handed out, so they and what is built from them
   * are never both whole. The rows cannot be iterated again afterwards.
   */
  drain(): Iterable<UsageRow>;
  /** Every user with usage, sorted; the empty UserId (no user) is not one. */
  users(): string[];
}

/** Rows already in an array (a small window, a test, a source that builds them in order) as UsageRows. */
export function usageRowsOf(rows: readonly UsageRow[]): UsageRows {
  return {
    count: rows.length,
    [Symbol.iterator]: () => rows[Symbol.iterator](),
    drain: () => rows,
    users: () => [...new Set(rows.map((row) => row.userId).filter((userId) => userId !== ''))].sort(),
  };
}

/** What a usage source read for a window: the rows, what it rejected, and its own cross-check figures. */
export interface UsageReadResult {
  readonly rows: UsageRows;
  readonly rejects: RejectSummary;
  /** Rows outside the requested window, or metrics not mapped to a token kind: counted, not used. */
  readonly skipped: Readonly<Record<string, number>>;
  /**
   * The gateway's "Total Tokens" metric summed over the window, when it was present, kept only to compare
   * with the sum of the priced kinds.
   */
  readonly reportedTotalTokens: number | null;
  readonly sourceDescription: string;
  /** Repeated data found and left out of the sums; absent when the source cannot repeat (a summarized query). */
  readonly duplicates?: DuplicateSummary;
  readonly inputs?: readonly UsageInput[];
  /**
   * The rejects, the gateway total and the repeats of each calendar day of the window whose day was known
   * (a row whose time cannot be read has none: it stays in the read's figures only). Absent when the source
   * does not break its figures down by day.
   */
  readonly days?: ReadonlyMap<string, DayReadFigures>;
  /** What the source held per day and metric for this window, as UsageSource.dayTotals reports it. */
  readonly dayTotals?: readonly SourceDayTotal[];
}

/** One calendar day's share of a read's figures. */
export interface DayReadFigures {
  /** The rejects dated to this day: count and reasons in full, the first few samples. */
  readonly rejects: RejectSummary;
  readonly reportedTotalTokens: number | null;
  /** Repeated samples of this day left out. */
  readonly duplicates: number;
}

/**
 * What the source holds of one metric on one calendar day, summed as the source stores it (before any row is
 * validated): equal sums on two reads mean the day did not change between them. Every sample adds at least 1
 * to valueCount, so a late sample always shows.
 */
export interface SourceDayTotal {
  readonly day: string;
  readonly metric: string;
  readonly valueSum: number;
  readonly valueCount: number;
}

export const MAX_REJECT_SAMPLES = 20;
export const MAX_REJECTS_KEPT = 100_000;
/** A raw value longer than this is cut: enough to find the row, never a 1 MB line in a report. */
export const MAX_RAW_VALUE_CHARS = 120;

/** The text a report shows for an offending value: cut at MAX_RAW_VALUE_CHARS, saying how long it was. */
export function rawValueForReport(text: string): string {
  // A slice keeps the whole source string alive in V8 (a read line is a slice of the half-megabyte chunk it
  // was read from); split/join copies it, so a kept reject holds its own characters only.
  if (text.length <= MAX_RAW_VALUE_CHARS) return text.split('').join('');
  const head = text.slice(0, MAX_RAW_VALUE_CHARS).split('').join('');
  return `${head}… (${text.length.toLocaleString('en-US')} characters)`;
}

/**
 * Collects rejects. Every one is kept (with its raw value, cut short) up to MAX_REJECTS_KEPT for the rejects
 * CSV; past that only the count and the count by reason grow, so a corrupt 10 GB file cannot exhaust memory.
 */
export class RejectCollector {
  private total = 0;
  private readonly kept: RejectedRow[] = [];
  private readonly reasons: Record<string, number> = {};

  add(location: string, reason: string, raw?: string): void {
    this.total += 1;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    if (this.kept.length < MAX_REJECTS_KEPT) {
      this.kept.push(raw === undefined ? { location, reason } : { location, reason, raw: rawValueForReport(raw) });
    }
  }

  summary(): RejectSummary {
    return { count: this.total, samples: this.kept.slice(0, MAX_REJECT_SAMPLES), byReason: { ...this.reasons }, all: [...this.kept] };
  }
}
