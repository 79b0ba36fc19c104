import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../shared/domain/directory.js';
import { buildMonthReport, type ReportContext } from '../../shared/domain/report.js';
import { revisionChanges, revisionChangesFromSummaries, summarizeRevision } from '../../shared/domain/revisions.js';
import { buildMonthlyLines } from '../../shared/domain/rollup.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'alpha' },
    { userId: 'u2', teamId: 'alpha' },
    { userId: 'u3', teamId: 'beta' },
    { userId: 'u4', teamId: 'gamma' },
  ],
  [
    { id: 'alpha', name: 'Alpha', leads: [] },
    { id: 'beta', name: 'Beta', leads: [] },
    { id: 'gamma', name: 'Gamma', leads: [] },
  ],
);
const priceBook = testPriceBook();

function context(revision: number): ReportContext {
  return {
    month: '2026-10',
    timeZone: 'UTC',
    window: { start: new Date('2026-10-01T00:00:00Z'), end: new Date('2026-11-01T00:00:00Z') },
    generatedAt: new Date('2026-11-03T00:00:00Z'),
    revision,
    priceBook,
    teams: directory.teams,
    sourceDescription: 'test',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  };
}

const rowArbitrary = fc
  .record({
    day: fc.integer({ min: 1, max: 31 }).map((d) => `2026-10-${String(d).padStart(2, '0')}`),
    userId: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'stranger', ''),
    model: fc.constantFrom('claude-sonnet-4-6', 'claude-haiku-4-5', 'unknown-model'),
    input: fc.integer({ min: 0, max: 3_333_333 }),
    output: fc.integer({ min: 0, max: 777_777 }),
  })
  .map((r): UsageRow => usageRow({ day: r.day, userId: r.userId, model: r.model, tokens: tokens({ input: r.input, output: r.output }) }));

const amountsOf = (entries: readonly { key: string; amount: bigint }[]) => new Map(entries.map((entry) => [entry.key, entry.amount]));

describe('revision summaries', () => {
  it('give the changes each revision\u2019s own report shows, and the teams whose lines differ', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { maxLength: 25 }), fc.array(rowArbitrary, { maxLength: 6 }), (kept, late) => {
        const before = buildMonthlyLines('2026-10', kept, directory, priceBook);
        const after = buildMonthlyLines('2026-10', [...kept, ...late], directory, priceBook);
        const beforeReport = buildMonthReport(before, context(1));
        const afterReport = buildMonthReport(after, context(2));
        const changes = revisionChangesFromSummaries(summarizeRevision(beforeReport, before), summarizeRevision(afterReport, after), 1, afterReport, context(2));

        expect(changes).toEqual(revisionChanges(before, after, 1, afterReport, context(2)));
        // Every late row adds a request (and maybe tokens) to a line of the team it is charged to, and to no other.
        expect(changes.changedTeams).toEqual([...new Set(late.map((row) => allocate(row.userId, directory).teamId))].sort());
        expect(changes.grandTotal).toEqual({ previous: beforeReport.grandTotal, current: afterReport.grandTotal });
        // Against the two reports directly: every team of either, and the users whose amount moved.
        const oldTeams = amountsOf(beforeReport.teams.map((team) => ({ key: team.teamId, amount: team.amount })));
        const newTeams = amountsOf(afterReport.teams.map((team) => ({ key: team.teamId, amount: team.amount })));
        expect(changes.teams.map((row) => row.key).sort()).toEqual([...new Set([...oldTeams.keys(), ...newTeams.keys()])].sort());
        for (const row of changes.teams) expect([row.previous, row.current]).toEqual([oldTeams.get(row.key) ?? 0n, newTeams.get(row.key) ?? 0n]);
        const userKey = (user: { teamId: string; userId: string }) => `${user.teamId}\u0000${user.userId}`;
        const oldUsers = amountsOf(beforeReport.users.map((user) => ({ key: userKey(user), amount: user.amount })));
        const newUsers = amountsOf(afterReport.users.map((user) => ({ key: userKey(user), amount: user.amount })));
        const moved = [...new Set([...oldUsers.keys(), ...newUsers.keys()])].filter((key) => (oldUsers.get(key) ?? 0n) !== (newUsers.get(key) ?? 0n));
        expect(changes.users.map((row) => row.key).sort()).toEqual(moved.sort());
      }),
      { numRuns: 150 },
    );
  });

  it('say nothing is known of the previous revision when there is no summary of it', () => {
    const lines = buildMonthlyLines('2026-10', [usageRow({ day: '2026-10-02', userId: 'u3', tokens: tokens({ input: 1_000_000 }) })], directory, priceBook);
    const report = buildMonthReport(lines, context(2));
    expect(revisionChangesFromSummaries(null, summarizeRevision(report, lines), 1, report, context(2))).toEqual(revisionChanges(null, lines, 1, report, context(2)));
  });
});
