import { ZERO } from '../domain/money.js';
import { daysOfMonth } from '../domain/periods.js';
import { totalTokens, zeroTokens } from '../domain/tokens.js';
import type { DailyRollupStore } from '../ports/daily-rollup-store.js';
import type { SpendDetailSource, SpendLine, TeamDailySpend, TeamSpendSource } from '../ports/team-spend.js';

const PARALLEL_DAY_READS = 8;

/**
 * Month-to-date spend from the daily rollups the daily ingest keeps: the per-team day totals are one query
 * for the month; the detail (who and which models) reads the month's day lines, one partition per day.
 */
export class DailyStoreTeamSpendSource implements TeamSpendSource, SpendDetailSource {
  constructor(private readonly store: Pick<DailyRollupStore, 'readMonthDailySeries' | 'readDay'>) {}

  async monthToDate(month: string): Promise<TeamDailySpend[]> {
    return (await this.store.readMonthDailySeries(month)).map((total) => ({
      teamId: total.teamId,
      day: total.day,
      cost: total.cost,
      tokens: totalTokens(total.tokens),
      unpricedTokens: totalTokens(total.unpricedTokens),
      requests: total.requests,
    }));
  }

  async monthLines(month: string): Promise<SpendLine[]> {
    const days = daysOfMonth(month);
    const lines: SpendLine[] = [];
    for (let start = 0; start < days.length; start += PARALLEL_DAY_READS) {
      const batch = await Promise.all(days.slice(start, start + PARALLEL_DAY_READS).map((day) => this.store.readDay(day)));
      for (const dayLines of batch) {
        for (const line of dayLines) {
          lines.push({
            teamId: line.teamId,
            userId: line.userId,
            userName: line.userName,
            upn: line.upn,
            model: line.model,
            cost: line.cost ?? ZERO,
            tokens: line.tokens,
            unpricedTokens: line.cost === null ? line.tokens : zeroTokens(),
          });
        }
      }
    }
    return lines;
  }
}

/**
 * The daily store when it has the month, else the month's rollups: the daily ingest keeps the current month
 * in the daily store, while a month loaded only by a monthly close (the local demo, a backfill) has rollups.
 */
export class PreferredSpendSource implements TeamSpendSource, SpendDetailSource {
  constructor(
    private readonly primary: TeamSpendSource & SpendDetailSource,
    private readonly fallback: TeamSpendSource & SpendDetailSource,
  ) {}

  async monthToDate(month: string): Promise<TeamDailySpend[]> {
    const primary = await this.primary.monthToDate(month);
    return primary.length > 0 ? primary : this.fallback.monthToDate(month);
  }

  async monthLines(month: string): Promise<SpendLine[]> {
    const primary = await this.primary.monthLines(month);
    return primary.length > 0 ? primary : this.fallback.monthLines(month);
  }
}
