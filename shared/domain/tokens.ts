/** The token kinds the vendor prices separately. input excludes cache reads and cache writes. */
export const TOKEN_KINDS = ['input', 'output', 'cacheRead', 'cacheWrite5m', 'cacheWrite1h'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** Integer token counts by kind. Plain numbers: every count is kept a safe integer (checked on the way in). */
export type TokenCounts = Record<TokenKind, number>;

/**
 * Numbers kept per day wherever a day's counts sit in one flat array (usage series, line-day columns): the
 * token kinds in TOKEN_KINDS order, then the request count at REQUESTS_SLOT.
 */
export const SUMS_PER_DAY = 6;
export const REQUESTS_SLOT = 5;

export const TOKEN_KIND_LABELS: Record<TokenKind, string> = {
  input: 'Input',
  output: 'Output',
  cacheRead: 'Cache read',
  cacheWrite5m: 'Cache write (5 min)',
  cacheWrite1h: 'Cache write (1 h)',
};

export function zeroTokens(): TokenCounts {
  return { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 };
}

export function addTokensInto(target: TokenCounts, source: TokenCounts): void {
  for (const kind of TOKEN_KINDS) target[kind] += source[kind];
}

export function sumTokens(list: Iterable<TokenCounts>): TokenCounts {
  const total = zeroTokens();
  for (const item of list) addTokensInto(total, item);
  return total;
}

export function totalTokens(counts: TokenCounts): number {
  let total = 0;
  for (const kind of TOKEN_KINDS) total += counts[kind];
  return total;
}

export function isTokenKind(value: string): value is TokenKind {
  return (TOKEN_KINDS as readonly string[]).includes(value);
}
