import { teamLineDigests } from './line-identity.js';
import { buildMonthReport, teamNamer, type AmountChange, type MonthReport, type ReportContext, type RevisionChanges, type UserSummary } from './report.js';
import type { MonthlyLine } from './rollup.js';

/**
 * Revisions of a closed month: what one revision keeps of itself (its summary) and what changed since the
 * revision before, as the Changes sheet and the team mails need it.
 */

/**
 * What a later revision's Changes sheet needs of this revision, small enough to keep with its close: the
 * amounts its finance report showed per team, user and model, and per team a digest of its lines, which
 * tells whether anything a report shows of that team (tokens, prices, amounts, days) changed.
 */
export interface RevisionSummary {
  readonly grandTotal: bigint;
  /** In the report's team order; each team's users in the report's order. */
  readonly teams: readonly RevisionTeamFigures[];
  readonly models: readonly { readonly model: string; readonly amount: bigint }[];
}

export interface RevisionTeamFigures {
  readonly teamId: string;
  readonly amount: bigint;
  /** Digest of the shown fields of the team's lines (shared/domain/line-identity.ts). */
  readonly linesDigest: string;
  /** `label` is the user's name as the Changes sheet shows it. */
  readonly users: readonly { readonly userId: string; readonly label: string; readonly amount: bigint }[];
}

/**
 * The summary of a revision from its finance report (not a team's: that one is rounded to a share of a larger
 * total) and the lines it was built from.
 */
export function summarizeRevision(report: MonthReport, lines: readonly MonthlyLine[]): RevisionSummary {
  const digests = teamLineDigests(lines);
  const usersByTeam = new Map<string, { userId: string; label: string; amount: bigint }[]>();
  for (const user of report.users) {
    let users = usersByTeam.get(user.teamId);
    if (!users) usersByTeam.set(user.teamId, (users = []));
    users.push({ userId: user.userId, label: userLabel(user), amount: user.amount });
  }
  return {
    grandTotal: report.grandTotal,
    teams: report.teams.map((team) => ({
      teamId: team.teamId,
      amount: team.amount,
      linesDigest: digests.get(team.teamId) ?? '',
      users: usersByTeam.get(team.teamId) ?? [],
    })),
    models: report.models.map((model) => ({ model: model.model, amount: model.amount })),
  };
}

/**
 * What a revision changed: the previous revision's lines are reported the same way (same rounding) and
 * compared per team, user and model. Without those lines only the new figures are known.
 */
export function revisionChanges(
  previousLines: readonly MonthlyLine[] | null,
  currentLines: readonly MonthlyLine[],
  previousRevision: number,
  current: MonthReport,
  context: ReportContext,
): RevisionChanges {
  if (previousLines === null) return revisionChangesFromSummaries(null, null, previousRevision, current, context);
  const before = buildMonthReport(previousLines, { ...context, revision: previousRevision, shownTotal: undefined, scope: undefined, previousMonth: undefined });
  return revisionChangesFromSummaries(summarizeRevision(before, previousLines), summarizeRevision(current, currentLines), previousRevision, current, context);
}

/**
 * The same comparison as `revisionChanges`, from the two revisions' summaries, so that a revision's Changes
 * sheet can be rendered again after the previous revision's lines were replaced. `current` may be null only
 * when `previous` is: nothing is then known of the previous revision.
 */
export function revisionChangesFromSummaries(
  previous: RevisionSummary | null,
  current: RevisionSummary | null,
  previousRevision: number,
  report: MonthReport,
  context: ReportContext,
): RevisionChanges {
  if (previous === null || current === null) {
    return {
      previousRevision,
      detailAvailable: false,
      grandTotal: { previous: null, current: report.grandTotal },
      teams: [],
      users: [],
      models: [],
      changedTeams: report.teams.map((team) => team.teamId),
    };
  }
  const teamName = teamNamer(context.teams);
  const teamFigures = (summary: RevisionSummary) => summary.teams.map((team) => ({ key: team.teamId, label: teamName(team.teamId), teamId: team.teamId, amount: team.amount }));
  const userFigures = (summary: RevisionSummary) =>
    summary.teams.flatMap((team) => team.users.map((user) => ({ key: `${team.teamId}\u0000${user.userId}`, label: user.label, teamId: team.teamId, amount: user.amount })));
  const modelFigures = (summary: RevisionSummary) => summary.models.map((model) => ({ key: model.model, label: model.model, teamId: '', amount: model.amount }));
  const previousDigests = new Map(previous.teams.map((team) => [team.teamId, team.linesDigest]));
  const currentDigests = new Map(current.teams.map((team) => [team.teamId, team.linesDigest]));
  return {
    previousRevision,
    detailAvailable: true,
    grandTotal: { previous: previous.grandTotal, current: report.grandTotal },
    teams: amountChanges(teamFigures(previous), teamFigures(current)),
    users: amountChanges(userFigures(previous), userFigures(current)).filter((row) => row.difference !== 0n),
    models: amountChanges(modelFigures(previous), modelFigures(current)).filter((row) => row.difference !== 0n),
    changedTeams: [...new Set([...previousDigests.keys(), ...currentDigests.keys()])].filter((teamId) => previousDigests.get(teamId) !== currentDigests.get(teamId)).sort(),
  };
}

interface FigureOf {
  readonly key: string;
  readonly label: string;
  readonly teamId: string;
  readonly amount: bigint;
}

/** Old and new amount per key, described as the newer revision describes it, in key order. */
function amountChanges(old: readonly FigureOf[], now: readonly FigureOf[]): AmountChange[] {
  const rows = new Map<string, AmountChange>();
  for (const item of old) rows.set(item.key, { key: item.key, label: item.label, teamId: item.teamId, previous: item.amount, current: 0n, difference: -item.amount });
  for (const item of now) {
    const earlier = rows.get(item.key)?.previous ?? 0n;
    rows.set(item.key, { key: item.key, label: item.label, teamId: item.teamId, previous: earlier, current: item.amount, difference: item.amount - earlier });
  }
  return [...rows.values()].sort((a, b) => a.key.localeCompare(b.key));
}

function userLabel(user: UserSummary): string {
  return user.userName || user.upn || user.userId || '(no user id)';
}
