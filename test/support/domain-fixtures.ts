import type { DirectoryResolution, DirectoryUser, Team } from '../../shared/domain/directory.js';
import type { ReportContext } from '../../shared/domain/report.js';
import { parsePriceBook, type PriceBook } from '../../shared/domain/price-book.js';
import { zeroTokens, type TokenCounts } from '../../shared/domain/tokens.js';
import type { UsageRow } from '../../shared/domain/usage.js';

/** A small price book with a mid-month price change, for domain and use-case tests. */
export function testPriceBook(): PriceBook {
  return parsePriceBook(
    {
      currency: 'USD',
      models: [
        {
          model: 'claude-sonnet-4-6',
          aliases: ['sonnet-prod'],
          patterns: ['claude-sonnet-4-6-*'],
          prices: [
            { effectiveFrom: '2026-01-01', perMillionTokens: { input: '3', output: '15', cacheRead: '0.3', cacheWrite5m: '3.75', cacheWrite1h: '6' } },
            { effectiveFrom: '2026-10-16', perMillionTokens: { input: '2', output: '10', cacheRead: '0.2', cacheWrite5m: '2.5', cacheWrite1h: '4' } },
          ],
        },
        {
          model: 'claude-haiku-4-5',
          patterns: ['claude-haiku-4-5-*'],
          prices: [{ effectiveFrom: '2025-10-15', perMillionTokens: { input: '1', output: '5', cacheRead: '0.1', cacheWrite5m: '1.25', cacheWrite1h: '2' } }],
        },
      ],
    },
    'test-price-book.json',
  );
}

export function tokens(partial: Partial<TokenCounts>): TokenCounts {
  return { ...zeroTokens(), ...partial };
}

export function usageRow(partial: Partial<UsageRow> & Pick<UsageRow, 'day'>): UsageRow {
  return { userId: 'u1', model: 'claude-sonnet-4-6', tier: 'Claude.Standard', tokens: tokens({}), requests: 1, ...partial };
}

export function testDirectory(users: Array<Partial<DirectoryUser> & Pick<DirectoryUser, 'userId' | 'teamId'>>, teams: Team[]): DirectoryResolution {
  return {
    users: new Map(users.map((user) => [user.userId, { displayName: user.userId, upn: `${user.userId}@contoso.example`, status: 'member', ...user }])),
    teams: new Map(teams.map((team) => [team.id, team])),
    notes: [],
  };
}

/** The report context of October 2026 in UTC, generated on 3 November, with what a test adds to it. */
export function octoberReportContext(priceBook: PriceBook, teams: ReadonlyMap<string, Team>, extra: Partial<ReportContext> = {}): ReportContext {
  return {
    month: '2026-10',
    timeZone: 'UTC',
    window: { start: new Date('2026-10-01T00:00:00Z'), end: new Date('2026-11-01T00:00:00Z') },
    generatedAt: new Date('2026-11-03T06:00:00Z'),
    revision: 1,
    priceBook,
    teams,
    sourceDescription: 'test rows',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
    ...extra,
  };
}
