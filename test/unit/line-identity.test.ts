import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money } from '../../shared/domain/money.js';
import { lineIdentity, linesFingerprint, MONEY_FIELDS, SHOWN_FIELDS, teamLineDigests, type LineField } from '../../shared/domain/line-identity.js';
import { buildMonthReport, type ReportContext } from '../../shared/domain/report.js';
import { summarizeRevision } from '../../shared/domain/revisions.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { dayColumnsOf, dayTuplesJson, dayTuplesOf, lineWithDayColumns, type MonthlyLine } from '../../shared/domain/rollup.js';
import { TOKEN_KINDS } from '../../shared/domain/tokens.js';
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

  it('writes each line as the JSON text of its field values, whatever the texts and numbers hold', () => {
    // The definition the stored fingerprints were made with: JSON.stringify of these values, field by field.
    const value: Record<LineField, (line: MonthlyLine) => unknown> = {
      teamId: (line) => line.teamId,
      userId: (line) => line.userId,
      model: (line) => line.model,
      tier: (line) => line.tier,
      allocation: (line) => line.allocation,
      userName: (line) => line.userName,
      pricedModel: (line) => line.pricedModel,
      tokens: (line) => TOKEN_KINDS.map((kind) => line.tokens[kind]),
      unpricedTokens: (line) => TOKEN_KINDS.map((kind) => line.unpricedTokens[kind]),
      requests: (line) => line.requests,
      cost: (line) => line.cost.toFixed(),
      priceEntryIds: (line) => line.priceEntryIds,
      days: (line) => dayTuplesOf(line).map((day) => [day[0], [day[1], day[2], day[3], day[4], day[5]], day[6], day[7], day[8]]),
    };
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const count = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(0, 1e21, 5e-7, Number.NaN));
    const tokens = fc.record({ input: count, output: count, cacheRead: count, cacheWrite5m: count, cacheWrite1h: count });
    const cost = fc.oneof(fc.constant(null), fc.integer({ min: -10_000_000, max: 10_000_000 }).map((units) => money(units).dividedBy(10_000)));
    const day = fc.record({ day: text, tokens, requests: count, cost, priceEntryId: fc.option(text, { nil: null }) });
    const line = fc.record({
      month: fc.constant('2026-10'),
      teamId: text,
      userId: text,
      model: text,
      tier: text,
      allocation: fc.constantFrom('team', 'unknown-user', 'no-user-id'),
      userName: text,
      upn: text,
      pricedModel: fc.option(text, { nil: null }),
      tokens,
      requests: count,
      cost: fc.integer({ min: -10_000_000, max: 10_000_000 }).map((units) => money(units).dividedBy(100)),
      unpricedTokens: tokens,
      currency: fc.constant('USD'),
      priceEntryIds: fc.array(text, { maxLength: 3 }),
      days: fc.array(day, { maxLength: 4 }),
    }) as fc.Arbitrary<MonthlyLine>;
    fc.assert(
      fc.property(line, (generated) => {
        // The same line with its days as columns, as the close holds its lines, writes the same text.
        const columnar = lineWithDayColumns(generated, dayColumnsOf(generated));
        // And its days as the stored rollups hold them, written from the columns, are their tuples' JSON.
        expect(dayTuplesJson(columnar)).toBe(JSON.stringify(dayTuplesOf(columnar)));
        for (const fields of [MONEY_FIELDS, SHOWN_FIELDS]) {
          const expected = JSON.stringify(fields.map((field) => value[field](generated)));
          expect(lineIdentity(generated, fields)).toBe(expected);
          expect(lineIdentity(columnar, fields)).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});
