import type { ControlResult } from './controls.js';
import { formatMinorUnits } from './money.js';
import type { TimeWindow } from './periods.js';
import type { MonthReport } from './report.js';
import type { DuplicateSummary, RejectSummary, UsageInput } from './usage.js';

/** Limits a close is held to; settings, with the defaults finance would expect. */
export interface CloseControlLimits {
  /** Rejected rows over this share of all rows read hold the close (0.01 = 1%). */
  readonly maxRejectRatio: number;
  /** Gateway "Total Tokens" may differ from the counted tokens by this share before the close is held (0 = exactly equal). */
  readonly totalTokensTolerance: number;
  /** A month total that moves by more than this share from last month is a warning (0.5 = 50%). */
  readonly monthChangeWarnRatio: number;
  /** A team whose amount grows by this factor or more from last month is a warning (2 = doubles). */
  readonly teamGrowthWarnFactor: number;
}

export const DEFAULT_CLOSE_CONTROL_LIMITS: CloseControlLimits = Object.freeze({
  maxRejectRatio: 0.01,
  totalTokensTolerance: 0,
  monthChangeWarnRatio: 0.5,
  teamGrowthWarnFactor: 2,
});

export interface CloseControlInput {
  readonly month: string;
  readonly window: TimeWindow;
  readonly now: Date;
  /** Days after the month's end (in the reporting zone) before usage is taken as complete. */
  readonly graceDays: number;
  /** A preview may look at a month that is not over; it never stores or sends. */
  readonly preview: boolean;
  readonly usage: {
    readonly rows: number;
    readonly rejects: RejectSummary;
    readonly skipped: Readonly<Record<string, number>>;
    readonly duplicates?: DuplicateSummary;
    readonly inputs?: readonly UsageInput[];
  };
  readonly report: Pick<MonthReport, 'grandTotal' | 'currency' | 'teams' | 'crossCheck' | 'previousMonth'>;
  readonly limits: CloseControlLimits;
}

export const CONTROL = {
  periodOpen: 'period.open',
  usageEmpty: 'usage.empty',
  usageDuplicates: 'usage.duplicates',
  usageRejects: 'usage.rejects',
  totalTokens: 'usage.total-tokens',
  monthChange: 'trend.month',
  teamGrowth: 'trend.team',
} as const;

const DAY_MS = 86_400_000;
const MAX_DETAILS = 20;

/**
 * The checks every close runs after pricing and before anything is mailed. Pure: the close decides what
 * a refusal or a hold means for storage and mail.
 */
export function evaluateCloseControls(input: CloseControlInput): ControlResult[] {
  return [periodControl(input), emptyControl(input), duplicatesControl(input), rejectsControl(input), totalTokensControl(input), monthChangeControl(input), teamGrowthControl(input)];
}

function periodControl({ month, window, now, graceDays, preview }: CloseControlInput): ControlResult {
  // Grace counts whole days from the month's end, in the zone the window was cut in.
  const completeAt = new Date(window.end.getTime() + graceDays * DAY_MS);
  if (now.getTime() >= completeAt.getTime()) return pass(CONTROL.periodOpen, `${month} is over and past its ${graceDays}-day grace period`);
  if (preview) return { id: CONTROL.periodOpen, outcome: 'warn', message: `preview of ${month}, which is not complete until ${completeAt.toISOString()}: figures are month to date` };
  const what = now.getTime() < window.end.getTime() ? 'has not ended yet' : `is inside its ${graceDays}-day grace period (usage may still arrive)`;
  return { id: CONTROL.periodOpen, outcome: 'refuse', message: `${month} ${what}: it can be closed from ${completeAt.toISOString()}; use --preview to look at it without storing or sending anything` };
}

function emptyControl({ month, usage }: CloseControlInput): ControlResult {
  if (usage.rows > 0) return pass(CONTROL.usageEmpty, `${usage.rows} usage rows in ${month}`);
  const outside = usage.skipped['outside window'] ?? 0;
  const files = (usage.inputs ?? []).map((input) => `${input.name}: ${input.rows} data rows`);
  const why = outside > 0 ? `; ${outside} rows were outside the month (is this the export of another month?)` : usage.rejects.count > 0 ? `; all ${usage.rejects.count} rows were rejected` : '; the input is empty';
  return { id: CONTROL.usageEmpty, outcome: 'refuse', message: `no usage rows fall in ${month}${why}`, details: files };
}

function duplicatesControl({ usage }: CloseControlInput): ControlResult {
  const duplicates = usage.duplicates;
  if (!duplicates || duplicates.count === 0) return pass(CONTROL.usageDuplicates, 'no repeated data');
  return {
    id: CONTROL.usageDuplicates,
    outcome: 'refuse',
    message: `${duplicates.count} metric row(s) repeat data already read (the same file twice, or overlapping exports); they were not summed, and the close is refused until the input is corrected`,
    details: [...duplicates.files, ...duplicates.samples].slice(0, MAX_DETAILS),
  };
}

function rejectsControl({ usage, limits }: CloseControlInput): ControlResult {
  const rejected = usage.rejects.count;
  if (rejected === 0) return pass(CONTROL.usageRejects, 'no rows rejected');
  const read = usage.inputs ? usage.inputs.reduce((sum, input) => sum + input.rows, 0) : usage.rows + rejected;
  const ratio = read === 0 ? 1 : rejected / read;
  const share = `${rejected} of ${read} rows (${percent(ratio)})`;
  const reasons = Object.entries(usage.rejects.byReason).map(([reason, count]) => `${count} x ${reason}`);
  const samples = (usage.rejects.samples ?? []).map((row) => `${row.location}: ${row.reason}${row.raw !== undefined ? ` (${JSON.stringify(row.raw)})` : ''}`);
  const details = [...reasons, ...samples].slice(0, MAX_DETAILS);
  if (ratio > limits.maxRejectRatio) {
    return { id: CONTROL.usageRejects, outcome: 'hold', message: `${share} were rejected, over the ${percent(limits.maxRejectRatio)} limit`, details };
  }
  return { id: CONTROL.usageRejects, outcome: 'warn', message: `${share} were rejected (limit ${percent(limits.maxRejectRatio)}); see the rejects file`, details };
}

function totalTokensControl({ report, limits }: CloseControlInput): ControlResult {
  const { reportedTotalTokens, countedTokens } = report.crossCheck;
  if (reportedTotalTokens === null) return pass(CONTROL.totalTokens, 'the gateway reported no "Total Tokens" to cross-check');
  const difference = Math.abs(reportedTotalTokens - countedTokens);
  if (difference === 0) return pass(CONTROL.totalTokens, `"Total Tokens" ${reportedTotalTokens} equals the counted tokens`);
  const base = Math.max(reportedTotalTokens, countedTokens);
  const ratio = base === 0 ? 1 : difference / base;
  const message = `the gateway's "Total Tokens" (${reportedTotalTokens}) and the counted tokens (${countedTokens}) differ by ${difference} (${percent(ratio)})`;
  if (ratio > limits.totalTokensTolerance) return { id: CONTROL.totalTokens, outcome: 'hold', message: `${message}, over the ${percent(limits.totalTokensTolerance)} tolerance` };
  return { id: CONTROL.totalTokens, outcome: 'warn', message: `${message}, within the ${percent(limits.totalTokensTolerance)} tolerance` };
}

function monthChangeControl({ report, limits }: CloseControlInput): ControlResult {
  const previous = report.previousMonth;
  if (!previous || previous.grandTotal === 0n) return pass(CONTROL.monthChange, 'no earlier month to compare with');
  const change = Number(report.grandTotal - previous.grandTotal) / Number(previous.grandTotal);
  const text = `the month total moved ${signedPercent(change)} from ${previous.month} (${formatMinorUnits(previous.grandTotal)} to ${formatMinorUnits(report.grandTotal)} ${report.currency})`;
  if (Math.abs(change) > limits.monthChangeWarnRatio) return { id: CONTROL.monthChange, outcome: 'warn', message: text };
  return pass(CONTROL.monthChange, text);
}

function teamGrowthControl({ report, limits }: CloseControlInput): ControlResult {
  const previous = report.previousMonth;
  if (!previous) return pass(CONTROL.teamGrowth, 'no earlier month to compare with');
  const before = new Map(previous.teams.map((team) => [team.teamId, team.amount]));
  const grown: string[] = [];
  for (const team of report.teams) {
    const last = before.get(team.teamId);
    if (last === undefined || last <= 0n) continue;
    if (Number(team.amount) >= Number(last) * limits.teamGrowthWarnFactor) {
      grown.push(`${team.teamName} (${team.teamId}): ${formatMinorUnits(last)} to ${formatMinorUnits(team.amount)} ${report.currency}`);
    }
  }
  if (grown.length === 0) return pass(CONTROL.teamGrowth, `no team grew ${limits.teamGrowthWarnFactor}x or more`);
  return { id: CONTROL.teamGrowth, outcome: 'warn', message: `${grown.length} team(s) grew ${limits.teamGrowthWarnFactor}x or more from ${previous.month}`, details: grown.slice(0, MAX_DETAILS) };
}

function pass(id: string, message: string): ControlResult {
  return { id, outcome: 'pass', message };
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.01 && ratio > 0 ? 3 : 1)}%`;
}

function signedPercent(ratio: number): string {
  return `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`;
}
