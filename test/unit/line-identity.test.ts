import { describe, expect, it } from 'vitest';
import { money } from '../../shared/domain/money.js';
import { linesFingerprint, teamLineDigests } from '../../shared/domain/line-identity.js';
import { buildMonthReport, type ReportContext } from '../../shared/domain/report.js';
import { summarizeRevision } from '../../shared/domain/revisions.js';
import { monthWindow } from '../../shared/domain/periods.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import { testPriceBook } from '../support/domain-fixtures.js';

/**
 * Stored closes keep a fingerprint of their lines and stored revision summaries keep a digest per team: a
 * new run compares its lines with them to decide whether it makes a revision and whose leads hear of it. The
 * values below were computed by the code that wrote the stored ones (commit 306582d, before the line identity moved into the domain); if they change, every
 * closed month would look changed on its next run.
 */
const lines: MonthlyLine[] = [
  {
    month: '2026-10',
    teamId: 'payments',
    userId: '00000000-0000-4000-8000-000000000001',
    model: 'claude-sonnet-4-6',
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: 'Ada Lovelace',
    upn: 'ada@contoso.example',
    pricedModel: 'claude-sonnet-4-6',
    tokens: { input: 1_250_000, output: 40_000, cacheRead: 300_000, cacheWrite5m: 20_000, cacheWrite1h: 0 },
    requests: 42,
    cost: money('4.4975'),
    unpricedTokens: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 },
    currency: 'USD',
    priceEntryIds: ['claude-sonnet-4-6@2026-01-01'],
    days: [
      {
        day: '2026-10-05',
        tokens: { input: 1_250_000, output: 40_000, cacheRead: 300_000, cacheWrite5m: 20_000, cacheWrite1h: 0 },
        requests: 42,
        cost: money('4.4975'),
        priceEntryId: 'claude-sonnet-4-6@2026-01-01',
      },
    ],
  },
  {
    month: '2026-10',
    teamId: '_unallocated',
    userId: '',
    model: 'mystery-model',
    tier: 'Claude.Premium',
    allocation: 'no-user-id',
    userName: '',
    upn: '',
    pricedModel: null,
    tokens: { input: 7, output: 3, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 1 },
    requests: 2,
    cost: money(0),
    unpricedTokens: { input: 7, output: 3, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 1 },
    currency: 'USD',
    priceEntryIds: [],
    days: [{ day: '2026-10-06', tokens: { input: 7, output: 3, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 1 }, requests: 2, cost: null, priceEntryId: null }],
  },
];

const context: ReportContext = {
  month: '2026-10',
  timeZone: 'UTC',
  window: monthWindow('2026-10', 'UTC'),
  generatedAt: new Date('2026-11-03T06:00:00Z'),
  revision: 1,
  priceBook: testPriceBook(),
  teams: new Map([['payments', { id: 'payments', name: 'Payments', leads: [] }]]),
  sourceDescription: 'pinned lines',
  rejects: { count: 0, samples: [], byReason: {} },
  reportedTotalTokens: null,
};

describe('the identity of a line as stored closes know it', () => {
  it('fingerprints the lines of a close as the stored fingerprints were made', () => {
    expect(linesFingerprint(lines)).toBe('3a4c59fbb637468475798f93ac6f2c57f19ac0eb83e861d9a0781af307f397fc');
  });

  it('digests each team as the stored revision summaries were made', () => {
    const summary = summarizeRevision(buildMonthReport(lines, context), lines);
    expect(Object.fromEntries(summary.teams.map((team) => [team.teamId, team.linesDigest]))).toEqual({
      payments: 'beXBRbo/8zYG/XJMtJ4Xk2AlrMEQdA/3Zx+WDa/aTkw=',
      _unallocated: 'J07m52c6e6f6xzWBzdmRD3oGHPr5UXzwDiLBijbhmB8=',
    });
  });

  it('leaves names out of the money fields and keeps them in the shown fields', () => {
    const [line] = lines;
    const renamed = { ...line!, userName: 'Augusta Ada King', pricedModel: 'claude-sonnet-4-5' };
    expect(linesFingerprint([renamed])).toBe(linesFingerprint([line!]));
    expect(teamLineDigests([renamed]).get('payments')).not.toBe(teamLineDigests([line!]).get('payments'));
    const recosted = { ...line!, cost: money('4.4976') };
    expect(linesFingerprint([recosted])).not.toBe(linesFingerprint([line!]));
  });

  it('digests a team\u2019s lines in any order, and fingerprints them in their stored order', () => {
    const second = { ...lines[0]!, userId: '00000000-0000-4000-8000-000000000002' };
    expect(teamLineDigests([lines[0]!, second])).toEqual(teamLineDigests([second, lines[0]!]));
    expect(linesFingerprint([lines[0]!, second])).not.toBe(linesFingerprint([second, lines[0]!]));
  });
});
