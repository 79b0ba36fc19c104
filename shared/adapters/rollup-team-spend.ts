import { ZERO, type Money } from '../domain/money.js';
import { totalTokens } from '../domain/tokens.js';
import type { RollupStore } from '../ports/rollup-store.js';
import type { SpendDetailSource, SpendLine, TeamDailySpend, TeamSpendSource } from '../ports/team-spend.js';

/**
 * Daily spend per team derived from the month's rollups: every monthly line carries its days, each priced by
 * the price in force that day, so the per-team per-day series is the sum over lines. Always available where a
 * month has been closed (the rollups are the system of record); one query for the whole month.
 */
export class RollupTeamSpendSource implements TeamSpendSource, SpendDetailSource {
  constructor(private readonly rollups: Pick<RollupStore, 'readMonth'>) {}

  async monthToDate(month: string): Promise<TeamDailySpend[]> {
    const byKey = new Map<string, { teamId: string; day: string; cost: Money; tokens: number; unpricedTokens: number; requests: number }>();
    for (const line of await this.rollups.readMonth(month)) {
      for (const day of line.days) {
        const key = `${line.teamId}\u0000${day.day}`;
        let entry = byKey.get(key);
        if (!entry) {
          entry = { teamId: line.teamId, day: day.day, cost: ZERO, tokens: 0, unpricedTokens: 0, requests: 0 };
          byKey.set(key, entry);
        }
        const tokens = totalTokens(day.tokens);
        entry.tokens += tokens;
        entry.requests += day.requests;
        if (day.cost === null) entry.unpricedTokens += tokens;
        else entry.cost = entry.cost.plus(day.cost);
      }
    }
    return [...byKey.values()].sort((a, b) => a.teamId.localeCompare(b.teamId) || a.day.localeCompare(b.day));
  }

  async monthLines(month: string): Promise<SpendLine[]> {
    return this.rollups.readMonth(month);
  }
}
