import type { Money } from '../domain/money.js';
import type { TokenCounts } from '../domain/tokens.js';

/** What one team spent on one calendar day (in the reporting zone). */
export interface TeamDailySpend {
  readonly teamId: string;
  readonly day: string;
  /** Exact cost of the priced tokens. */
  readonly cost: Money;
  readonly tokens: number;
  /** Tokens of models with no price that day: counted, never priced as zero silently. */
  readonly unpricedTokens: number;
  readonly requests: number;
}

/**
 * Month-to-date spend per team per day: what budgets are checked against. Backed by the daily rollups when
 * the daily ingest keeps them, or derived from the month's rollups (whose lines carry their days).
 */
export interface TeamSpendSource {
  monthToDate(month: string): Promise<TeamDailySpend[]>;
}

/** One team x user x model slice of a month's spend so far: enough to name who and what drives it. */
export interface SpendLine {
  readonly teamId: string;
  readonly userId: string;
  readonly userName: string;
  readonly upn: string;
  readonly model: string;
  readonly cost: Money;
  readonly tokens: TokenCounts;
  /** Tokens no price was in force for: a model finance must price. */
  readonly unpricedTokens: TokenCounts;
}

/** The month-to-date detail behind the series: the month's rollup lines, or the daily store's day lines. */
export interface SpendDetailSource {
  monthLines(month: string): Promise<SpendLine[]>;
}
