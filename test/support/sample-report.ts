import { UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME, type Allocation } from '../../shared/domain/directory.js';
import type { MonthReport, ModelSummary, ReportLine, TeamSummary, TierSummary, UserSummary } from '../../shared/domain/report.js';
import { sumTokens, totalTokens, zeroTokens, type TokenCounts } from '../../shared/domain/tokens.js';

/**
 * A small but complete, hand-made month report for renderer and mail tests: two teams plus the unallocated
 * team (one line for each of 'no-user-id', 'unknown-user', 'former-user'), three known users, a priced model
 * whose price changed mid-month (two price entries) and an unpriced model.
 *
 * Line amounts are chosen by hand; every summary above them is their exact bigint sum, so the report
 * reconciles the way `buildMonthReport` guarantees (grand total 2,574.32 USD).
 */
export function sampleMonthReport(overrides: Partial<MonthReport> = {}): MonthReport {
  const sonnet = 'claude-sonnet-4-5';
  const preview = 'claude-preview-x';
  const bothSonnetPrices = ['sonnet-2026-01-01', 'sonnet-2026-10-15'];

  const line = (
    teamId: string,
    teamName: string,
    userId: string,
    userName: string,
    allocation: Allocation,
    model: string,
    tier: string,
    tokens: Partial<TokenCounts>,
    requests: number,
    amount: bigint,
  ): ReportLine => {
    const counts = { ...zeroTokens(), ...tokens };
    const priced = model === sonnet;
    return {
      teamId,
      teamName,
      userId,
      userName,
      allocation,
      model,
      pricedModel: priced ? sonnet : null,
      tier,
      tokens: counts,
      requests,
      unpricedTokens: priced ? zeroTokens() : { ...counts },
      amount,
      priceEntryIds: priced ? bothSonnetPrices : [],
    };
  };

  const alice = { id: '0b6c1d2e-1111-4a4a-9b9b-000000000001', name: 'Alice Ng', upn: 'alice.ng@contoso.example' };
  const bob = { id: '0b6c1d2e-2222-4a4a-9b9b-000000000002', name: 'Bob Okafor', upn: 'bob.okafor@contoso.example' };
  const chen = { id: '0b6c1d2e-3333-4a4a-9b9b-000000000003', name: 'Chen Wei', upn: 'chen.wei@contoso.example' };
  const stranger = 'a9e1f000-4444-4b4b-8c8c-000000000004';
  const leaver = 'c0ffee00-5555-4c4c-8d8d-000000000005';
  const U = UNALLOCATED_TEAM;
  const UN = UNALLOCATED_TEAM_NAME;

  // Ordered as buildMonthReport orders them: team id, then user id.
  const lines: ReportLine[] = [
    line(U, UN, '', '', 'no-user-id', sonnet, 'Claude.Standard', { input: 200_000, output: 40_000, cacheRead: 900_000 }, 25, 1_207n),
    line(U, UN, stranger, '', 'unknown-user', sonnet, 'Claude.Standard', { input: 60_000, output: 10_000, cacheRead: 200_000 }, 8, 356n),
    line(U, UN, leaver, 'Dana Former', 'former-user', sonnet, 'Claude.Premium', { input: 10_000, output: 3_000, cacheRead: 50_000 }, 2, 88n),
    line('data-science', 'Data Science', bob.id, bob.name, 'team', sonnet, 'Claude.Premium',
      { input: 80_000_000, output: 20_000_000, cacheRead: 150_000_000, cacheWrite5m: 5_000_000, cacheWrite1h: 1_000_000 }, 5_200, 98_013n),
    line('data-science', 'Data Science', chen.id, chen.name, 'team', sonnet, 'Claude.Standard', { input: 3_000_000, output: 700_000, cacheRead: 9_000_000 }, 310, 4_521n),
    line('platform', 'Platform Engineering', alice.id, alice.name, 'team', sonnet, 'Claude.Standard',
      { input: 1_200_000, output: 310_000, cacheRead: 4_000_000, cacheWrite5m: 200_000 }, 420, 153_247n),
    line('platform', 'Platform Engineering', alice.id, alice.name, 'team', preview, 'Claude.Premium', { input: 50_000, output: 12_000 }, 30, 0n),
  ];

  const sumAmounts = (list: readonly ReportLine[]) => list.reduce((sum, item) => sum + item.amount, 0n);
  const sumRequests = (list: readonly ReportLine[]) => list.reduce((sum, item) => sum + item.requests, 0);
  const sumUnpriced = (list: readonly ReportLine[]) => list.reduce((sum, item) => sum + totalTokens(item.unpricedTokens), 0);
  const distinct = <T>(values: readonly T[]) => [...new Set(values)];

  const leadsOf: Record<string, string[]> = {
    'data-science': ['ds-lead@contoso.example'],
    platform: ['platform-lead@contoso.example', 'platform-deputy@contoso.example'],
  };

  const teams: TeamSummary[] = distinct(lines.map((item) => item.teamId)).map((teamId) => {
    const own = lines.filter((item) => item.teamId === teamId);
    return {
      teamId,
      teamName: own[0]!.teamName,
      leads: leadsOf[teamId] ?? [],
      users: distinct(own.map((item) => item.userId)).length,
      tokens: sumTokens(own.map((item) => item.tokens)),
      requests: sumRequests(own),
      amount: sumAmounts(own),
      unpricedTokens: sumUnpriced(own),
    };
  });

  const upnOf = new Map([alice, bob, chen].map((user) => [user.id, user.upn]));
  const users: UserSummary[] = distinct(lines.map((item) => `${item.teamId}\u0000${item.userId}`)).map((key) => {
    const own = lines.filter((item) => `${item.teamId}\u0000${item.userId}` === key);
    const first = own[0]!;
    return {
      teamId: first.teamId,
      teamName: first.teamName,
      userId: first.userId,
      userName: first.userName,
      upn: upnOf.get(first.userId) ?? '',
      allocation: first.allocation,
      tokens: sumTokens(own.map((item) => item.tokens)),
      requests: sumRequests(own),
      amount: sumAmounts(own),
    };
  });

  const models: ModelSummary[] = distinct(lines.map((item) => item.model)).sort().map((model) => {
    const own = lines.filter((item) => item.model === model);
    return {
      model,
      pricedModel: own[0]!.pricedModel,
      tokens: sumTokens(own.map((item) => item.tokens)),
      requests: sumRequests(own),
      amount: sumAmounts(own),
      unpricedTokens: sumUnpriced(own),
    };
  });

  const tiers: TierSummary[] = distinct(lines.map((item) => item.tier)).sort().map((tier) => {
    const own = lines.filter((item) => item.tier === tier);
    return { tier, tokens: sumTokens(own.map((item) => item.tokens)), requests: sumRequests(own), amount: sumAmounts(own) };
  });

  const counted = lines.reduce((sum, item) => sum + totalTokens(item.tokens), 0);

  return {
    month: '2026-10',
    currency: 'USD',
    timeZone: 'Europe/Berlin',
    window: { start: new Date('2026-09-30T22:00:00.000Z'), end: new Date('2026-10-31T23:00:00.000Z') },
    generatedAt: new Date('2026-11-03T06:15:00.000Z'),
    revision: 1,
    priceBookVersion: 'pb-2026-10-15',
    priceBookSource: 'data/price-book.json',
    sourceDescription: 'App Insights customMetrics, namespace claudecode, 2026-10-01..2026-10-31 (Europe/Berlin)',
    grandTotal: sumAmounts(lines),
    exactTotal: '2574.318716',
    tokens: sumTokens(lines.map((item) => item.tokens)),
    requests: sumRequests(lines),
    teams,
    users,
    models,
    tiers,
    lines,
    unallocated: lines.filter((item) => item.teamId === UNALLOCATED_TEAM),
    unpriced: lines.filter((item) => totalTokens(item.unpricedTokens) > 0),
    prices: [
      {
        entryId: 'sonnet-2026-01-01',
        model: sonnet,
        effectiveFrom: '2026-01-01',
        currency: 'USD',
        perMillion: { input: '3', output: '15', cacheRead: '0.3', cacheWrite5m: '3.75', cacheWrite1h: '6' },
      },
      {
        entryId: 'sonnet-2026-10-15',
        model: sonnet,
        effectiveFrom: '2026-10-15',
        currency: 'USD',
        perMillion: { input: '2.5', output: '12.5', cacheRead: '0.25', cacheWrite5m: '3.125', cacheWrite1h: '5' },
      },
    ],
    rejects: {
      count: 3,
      samples: [
        { location: 'query window 2026-10-03', reason: 'valueSum is negative' },
        { location: 'query window 2026-10-03', reason: 'valueSum is negative' },
        { location: 'query window 2026-10-17', reason: 'timestamp is not a date' },
      ],
      byReason: { 'valueSum is negative': 2, 'timestamp is not a date': 1 },
    },
    crossCheck: { reportedTotalTokens: counted + 1_234, countedTokens: counted },
    ...overrides,
  };
}
