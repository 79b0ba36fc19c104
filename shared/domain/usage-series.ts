import { AppError } from './errors.js';
import { REQUESTS_SLOT, SUMS_PER_DAY, type TokenCounts } from './tokens.js';
import type { UsageRow, UsageRows } from './usage.js';

/**
 * One user's use of one model in one tier: its days in day order and one flat array of sums, SUMS_PER_DAY
 * numbers per day in the same order. A month at 100,000 users is 2.6 million row-days; an object and a tokens
 * object per row-day (and a key string to find it) held 725 MB, a few arrays per series hold a fraction of it.
 */
export interface UsageSeries {
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
  days: string[];
  sums: number[];
}

/**
 * Usage summed per user, model, tier and day, kept compactly; `rows()` hands it out as UsageRows. Samples of a
 * series mostly arrive one after another and in day order, so the last series is remembered and a day is
 * looked up from the end of its series.
 */
export class UsageSeriesSet {
  /** A short array per user (one series per model and tier used), not a key string per series. */
  private readonly seriesOfUser = new Map<string, UsageSeries[]>();
  private readonly all: UsageSeries[] = [];
  /** One string per day for every series holding it, rather than one per row. */
  private readonly dayNames = new Map<string, string>();
  private rowCount = 0;
  private last: UsageSeries | null = null;
  private finished = false;

  get count(): number {
    return this.rowCount;
  }

  /** The series of a user, model and tier, made (with no days) when it is new. */
  seriesOf(userId: string, model: string, tier: string): UsageSeries {
    const last = this.last;
    if (last !== null && last.userId === userId && last.model === model && last.tier === tier) return last;
    this.assertOpen();
    let userSeries = this.seriesOfUser.get(userId);
    if (userSeries === undefined) {
      userSeries = [];
      this.seriesOfUser.set(userId, userSeries);
    }
    let found: UsageSeries | undefined;
    for (const candidate of userSeries) {
      if (candidate.model === model && candidate.tier === tier) {
        found = candidate;
        break;
      }
    }
    if (found === undefined) {
      found = { userId, model, tier, days: [], sums: [] };
      userSeries.push(found);
      this.all.push(found);
    }
    this.last = found;
    return found;
  }

  /** Where the day's sums start in the series' `sums`; a new day is added with zero sums in its place. */
  daySlot(series: UsageSeries, day: string): number {
    const days = series.days;
    let index = days.length - 1;
    if (index >= 0 && days[index] === day) return index * SUMS_PER_DAY;
    this.assertOpen();
    while (index >= 0 && days[index]! > day) index -= 1;
    if (index >= 0 && days[index] === day) return index * SUMS_PER_DAY;
    const at = index + 1;
    const shared = this.sharedDay(day);
    if (at === days.length) {
      days.push(shared);
      series.sums.push(0, 0, 0, 0, 0, 0);
    } else {
      days.splice(at, 0, shared);
      series.sums.splice(at * SUMS_PER_DAY, 0, 0, 0, 0, 0, 0, 0);
    }
    this.rowCount += 1;
    return at * SUMS_PER_DAY;
  }

  /** Adds a day's usage of a user, model and tier (a stored day line, or rows read elsewhere). */
  add(userId: string, model: string, tier: string, day: string, tokens: TokenCounts, requests: number): void {
    const series = this.seriesOf(userId, model, tier);
    const at = this.daySlot(series, day);
    const sums = series.sums;
    sums[at] = sums[at]! + tokens.input;
    sums[at + 1] = sums[at + 1]! + tokens.output;
    sums[at + 2] = sums[at + 2]! + tokens.cacheRead;
    sums[at + 3] = sums[at + 3]! + tokens.cacheWrite5m;
    sums[at + 4] = sums[at + 4]! + tokens.cacheWrite1h;
    sums[at + REQUESTS_SLOT] = sums[at + REQUESTS_SLOT]! + requests;
  }

  /** Every user with usage, sorted; the empty UserId (no user) is not one. */
  users(): string[] {
    return [...this.seriesOfUser.keys()].filter((userId) => userId !== '').sort(compareText);
  }

  /**
   * Ends the adding and hands the sums over as rows (not copied: they exist once). Each series' arrays are cut
   * to their length, as growing them left spare room.
   */
  rows(): UsageRows {
    this.assertOpen();
    this.finished = true;
    this.seriesOfUser.clear();
    this.last = null;
    const series = this.all.splice(0);
    for (const one of series) {
      one.days = one.days.slice();
      one.sums = one.sums.slice();
    }
    series.sort(compareSeries);
    const days = [...this.dayNames.keys()].sort(compareText);
    this.dayNames.clear();
    return new CompactUsageRows(series, days, this.rowCount);
  }

  private sharedDay(day: string): string {
    let shared = this.dayNames.get(day);
    if (shared === undefined) {
      shared = day;
      this.dayNames.set(day, day);
    }
    return shared;
  }

  private assertOpen(): void {
    if (this.finished) throw new AppError('INTERNAL', 'usage was added after its rows were taken');
  }
}

/** A fresh row of one day of a series. */
function rowAt(series: UsageSeries, dayIndex: number): UsageRow {
  const sums = series.sums;
  const at = dayIndex * SUMS_PER_DAY;
  return {
    day: series.days[dayIndex]!,
    userId: series.userId,
    model: series.model,
    tier: series.tier,
    tokens: { input: sums[at]!, output: sums[at + 1]!, cacheRead: sums[at + 2]!, cacheWrite5m: sums[at + 3]!, cacheWrite1h: sums[at + 4]! },
    requests: sums[at + REQUESTS_SLOT]!,
  };
}

class CompactUsageRows implements UsageRows {
  private series: (UsageSeries | undefined)[] | null;

  /** `series` sorted by user, model and tier; `days` every day any of them holds, sorted. */
  constructor(
    series: UsageSeries[],
    private readonly days: readonly string[],
    readonly count: number,
  ) {
    this.series = series;
  }

  /**
   * Day by day, and within a day in the series' order: one cursor per series walks its days, which are in
   * day order too, so a day costs one comparison per series.
   */
  *[Symbol.iterator](): Iterator<UsageRow> {
    const series = this.undrained();
    const cursors = new Uint32Array(series.length);
    for (const day of this.days) {
      for (let index = 0; index < series.length; index++) {
        const one = series[index]!;
        const cursor = cursors[index]!;
        if (cursor < one.days.length && one.days[cursor] === day) {
          cursors[index] = cursor + 1;
          yield rowAt(one, cursor);
        }
      }
    }
  }

  drain(): Iterable<UsageRow> {
    const series = this.undrained();
    this.series = null;
    return drainSeries(series);
  }

  /** The series are sorted by user: each user is where its first series is. */
  users(): string[] {
    const users: string[] = [];
    let previous = '';
    for (const one of this.undrained()) {
      const userId = one!.userId;
      if (userId !== previous) users.push(userId);
      previous = userId;
    }
    return users;
  }

  private undrained(): (UsageSeries | undefined)[] {
    if (this.series === null) throw new AppError('INTERNAL', 'the usage rows were read after they were drained');
    return this.series;
  }
}

/** Series by series, each let go of once its rows were handed out. */
function* drainSeries(series: (UsageSeries | undefined)[]): Generator<UsageRow> {
  for (let index = 0; index < series.length; index++) {
    const one = series[index]!;
    series[index] = undefined;
    for (let day = 0; day < one.days.length; day++) yield rowAt(one, day);
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareSeries(a: UsageSeries, b: UsageSeries): number {
  return compareText(a.userId, b.userId) || compareText(a.model, b.model) || compareText(a.tier, b.tier);
}
