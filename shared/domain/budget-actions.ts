import type { TeamBudgetStatus } from './budgets.js';

/**
 * Budget actions: teams whose month-to-date spend has reached `blockAtPercent` of their budget are blocked at
 * the gateway until the next period. The gateway knows callers by oid, so the block is the oids that used the
 * gateway for those teams this month (someone who has not used it yet is not on the list). Sorted, so an
 * unchanged list is recognised and not written again.
 */
export function usersToBlock(
  statuses: readonly TeamBudgetStatus[],
  lines: readonly { readonly teamId: string; readonly userId: string }[],
  blockAtPercent: number,
): { readonly teams: string[]; readonly userIds: string[] } {
  const teams = statuses.filter((status) => status.actualPercent.gte(blockAtPercent)).map((status) => status.budget.teamId);
  const blocked = new Set(teams);
  const userIds = [...new Set(lines.filter((line) => blocked.has(line.teamId) && line.userId !== '').map((line) => line.userId.toLowerCase()))].sort();
  return { teams: teams.sort(), userIds };
}

/** The value the policy reads: ";"-separated oids, or "none" (an APIM named value cannot be empty). */
export function blockListValue(userIds: readonly string[]): string {
  return userIds.length === 0 ? 'none' : userIds.join(';');
}

/** APIM keeps at most this many characters in a named value. */
export const NAMED_VALUE_MAX_LENGTH = 4096;
