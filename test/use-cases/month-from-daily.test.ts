import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileUsageSource } from '../../shared/adapters/local/file-usage-source.js';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { linesFingerprint } from '../../shared/domain/line-identity.js';
import { compareLines } from '../../shared/domain/rollup.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';
import { closeMonth, type CloseMonthResult } from '../../shared/use-cases/close-month.js';
import type { IngestDailyDeps } from '../../shared/use-cases/ingest-daily.js';
import { ingestDaily } from '../../shared/use-cases/ingest-daily.js';
import { monthUsageFromDailyRollups } from '../../shared/use-cases/month-from-daily.js';
import { testCloseDeps } from '../support/close-deps.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, InMemoryDailyRollupStore, InMemoryIngestRunLog, InMemoryRollupStore, StaticDirectory, StaticPriceBooks, WindowedUsageSource } from '../support/in-memory.js';
import type { DirectoryResolution } from '../../shared/domain/directory.js';

const ZONE = 'Europe/Berlin';
const MONTH = '2026-10';
const CLOSE_TIME = '2026-11-03T06:00:00Z';

const TEAMS = [
  { id: 'payments', name: 'Payments', leads: ['pay@contoso.example'] },
  { id: 'platform', name: 'Platform', leads: ['plat@contoso.example'] },
  { id: 'data', name: 'Data', leads: ['data@contoso.example'] },
];
const KNOWN_USERS = [
  { userId: 'a1b2c3d4-0000-4000-8000-000000000001', teamId: 'payments' },
  { userId: 'a1b2c3d4-0000-4000-8000-000000000002', teamId: 'payments' },
  { userId: 'a1b2c3d4-0000-4000-8000-000000000003', teamId: 'platform' },
  { userId: 'a1b2c3d4-0000-4000-8000-000000000004', teamId: 'platform' },
  { userId: 'a1b2c3d4-0000-4000-8000-000000000005', teamId: 'data' },
];
const UNKNOWN_USER = 'ffffffff-0000-4000-8000-00000000dead';
const MODELS = ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-sonnet-4-6-20260101', 'mystery-model'];
const TIERS = ['Claude.Standard', 'Claude.Premium'];

function directory(moves: Record<string, string> = {}): DirectoryResolution {
  return testDirectory(
    KNOWN_USERS.map((user) => ({ ...user, teamId: moves[user.userId] ?? user.teamId })),
    TEAMS,
  );
}

/** A deterministic pseudo-random sequence, so the fixture is the same on every run. */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 0x1_0000_0000;
  };
}

/**
 * An App Insights export of October 2026 and its edges in Berlin time: from 29 September to 2 November UTC, so
 * the first and last hours of the month in Berlin (UTC+2 until the 25th, UTC+1 after) and the day of the DST
 * change all hold usage. Every series is sampled at most once an hour, at its own minute (no repeats).
 */
function writeExport(dir: string): string {
  const random = sequence(20261025);
  const series = [...KNOWN_USERS.map((user) => user.userId), UNKNOWN_USER, ''].flatMap((userId) => MODELS.flatMap((model) => TIERS.map((tier) => ({ userId, model, tier }))));
  const lines: string[] = [
    // Rows a close rejects: one that cannot be dated, one dated inside the month.
    'not json at all',
    JSON.stringify({ timestamp: '2026-10-12T10:00:00Z', name: 'Prompt Tokens', valueSum: -5, valueCount: 1, customDimensions: { UserId: KNOWN_USERS[0]!.userId, Model: MODELS[0], Tier: TIERS[0] } }),
  ];
  const start = Date.parse('2026-09-29T00:00:00Z');
  const end = Date.parse('2026-11-02T00:00:00Z');
  for (let hour = start; hour < end; hour += 3_600_000) {
    for (const [index, { userId, model, tier }] of series.entries()) {
      if (random() > 0.06) continue;
      const timestamp = new Date(hour + (index % 60) * 60_000).toISOString();
      const dimensions = { UserId: userId, Model: model, Tier: tier, '_MS.MetricNamespace': 'claudecode' };
      const requests = 1 + Math.floor(random() * 4);
      const input = Math.floor(random() * 40_000);
      const output = Math.floor(random() * 8_000);
      lines.push(JSON.stringify({ timestamp, name: 'Prompt Tokens', valueSum: input, valueCount: requests, customDimensions: dimensions }));
      lines.push(JSON.stringify({ timestamp, name: 'Completion Tokens', valueSum: output, valueCount: requests, customDimensions: dimensions }));
      lines.push(JSON.stringify({ timestamp, name: 'Total Tokens', valueSum: input + output, valueCount: requests, customDimensions: dimensions }));
    }
  }
  const file = join(dir, 'usage-2026-10.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'month-from-daily-'));
  const file = writeExport(dir);
  return { file, source: new FileUsageSource({ files: [file] }) };
}

function ingestDeps(given: { usageSource: UsageSource; directory: DirectoryResolution; dailyRollups?: InMemoryDailyRollupStore; ingestRuns?: InMemoryIngestRunLog; now?: string }): IngestDailyDeps {
  return {
    usageSource: given.usageSource,
    directory: new StaticDirectory(given.directory),
    priceBooks: new StaticPriceBooks(testPriceBook()),
    dailyRollups: given.dailyRollups ?? new InMemoryDailyRollupStore(),
    ingestRuns: given.ingestRuns ?? new InMemoryIngestRunLog(),
    clock: fixedClock(given.now ?? CLOSE_TIME),
    logger: silentLogger,
    settings: { timeZone: ZONE, trailingDays: 3, maxCatchUpDays: 31 },
  };
}

/** Closes October from the usage source itself, as every close did before the daily rollups. */
async function closeFromSource(usageSource: UsageSource, resolution: DirectoryResolution) {
  const rollups = new InMemoryRollupStore();
  const deps = testCloseDeps({ usageSource, directory: new StaticDirectory(resolution), rollups, settings: { timeZone: ZONE } });
  const result = await closeMonth(deps, { month: MONTH });
  return { result, fingerprint: (await deps.closes.get(MONTH))!.fingerprint, lines: [...(await rollups.readMonth(MONTH))].sort(compareLines) };
}

/** Closes October from the daily rollups, published or held: its fingerprint and the lines of its revision. */
async function closeFromDaily(ingest: IngestDailyDeps, resolution: DirectoryResolution) {
  const rollups = new InMemoryRollupStore();
  const deps = testCloseDeps({ usageSource: ingest.usageSource, directory: new StaticDirectory(resolution), rollups, settings: { timeZone: ZONE }, monthUsage: monthUsageFromDailyRollups(ingest) });
  const result = await closeMonth(deps, { month: MONTH });
  const close = (await deps.closes.get(MONTH)) ?? (await deps.closes.draft(MONTH));
  return { result, fingerprint: close!.fingerprint, lines: [...(await rollups.readRevision(MONTH, result.revision))].sort(compareLines) };
}

/** The ranges the close ingested again (ingest runs it started). */
function closeIngests(runs: InMemoryIngestRunLog): string[] {
  return runs.runs.filter((run) => run.trigger === 'close').map((run) => `${run.firstDay}..${run.lastDay}`);
}

function controlsOf(result: CloseMonthResult) {
  return result.controls.map((control) => [control.id, control.outcome, control.message]);
}

describe('a close built from the daily rollups', () => {
  it('gives the very lines, figures and controls of a close that reads the usage source, in a DST month in Berlin', async () => {
    const { source } = fixture();
    const fromSource = await closeFromSource(source, directory());

    // The daily ingest already stored the first twelve days; the close ingests the rest itself.
    const dailyRollups = new InMemoryDailyRollupStore();
    const ingestRuns = new InMemoryIngestRunLog();
    const ingest = ingestDeps({ usageSource: source, directory: directory(), dailyRollups, ingestRuns });
    await ingestDaily({ ...ingest, clock: fixedClock('2026-10-13T05:00:00Z') }, { trigger: 'timer', range: { from: '2026-10-01', to: '2026-10-12' } });
    const fromDaily = await closeFromDaily(ingest, directory());

    expect(closeIngests(ingestRuns)).toEqual(['2026-10-13..2026-10-31']);
    expect(fromDaily.fingerprint).toBe(fromSource.fingerprint);
    expect(linesFingerprint(fromDaily.lines)).toBe(linesFingerprint(fromSource.lines));
    expect(fromDaily.result.report.grandTotal).toBe(fromSource.result.report.grandTotal);
    // What the fixture is about is really in it: every team, the unknown user, the unpriced model, both prices.
    const teams = new Set(fromSource.lines.map((line) => line.teamId));
    expect([...teams].sort()).toEqual(['data', 'payments', 'platform', UNALLOCATED_TEAM].sort());
    expect(fromSource.lines.some((line) => line.userId === UNKNOWN_USER && line.teamId === UNALLOCATED_TEAM)).toBe(true);
    expect(fromSource.lines.some((line) => line.model === 'mystery-model' && line.cost.isZero() && line.unpricedTokens.input > 0)).toBe(true);
    expect(new Set(fromSource.lines.flatMap((line) => line.priceEntryIds)).size).toBeGreaterThanOrEqual(3);
    expect(fromSource.lines.some((line) => line.days.some((day) => day.day === '2026-10-25'))).toBe(true);

    // The controls see the same input: rows, the rejected rows (dated or not), the gateway total.
    expect(fromDaily.result.usage.rows).toBe(fromSource.result.usage.rows);
    expect(fromDaily.result.usage.rejects.count).toBe(2);
    expect(fromDaily.result.usage.rejects.byReason).toEqual(fromSource.result.usage.rejects.byReason);
    expect(fromDaily.result.report.crossCheck).toEqual(fromSource.result.report.crossCheck);
    expect(controlsOf(fromDaily.result)).toEqual(controlsOf(fromSource.result));
  });

  it('ingests again only the days whose source totals changed since, and then matches the changed source', async () => {
    const { file, source } = fixture();
    const dailyRollups = new InMemoryDailyRollupStore();
    const ingestRuns = new InMemoryIngestRunLog();
    const ingest = ingestDeps({ usageSource: source, directory: directory(), dailyRollups, ingestRuns });
    await ingestDaily(ingest, { range: { from: '2026-10-01', to: '2026-10-31' } });

    const unchanged = await closeFromDaily(ingest, directory());
    expect(closeIngests(ingestRuns)).toEqual([]);

    // Late metrics of 5 October (Berlin) arrive after the ingest.
    const late = { timestamp: '2026-10-04T22:30:00Z', customDimensions: { UserId: KNOWN_USERS[2]!.userId, Model: MODELS[1], Tier: TIERS[0] } };
    appendFileSync(file, `${JSON.stringify({ ...late, name: 'Prompt Tokens', valueSum: 777_777, valueCount: 3 })}\n${JSON.stringify({ ...late, name: 'Total Tokens', valueSum: 777_777, valueCount: 3 })}\n`);
    const changed = await closeFromDaily(ingest, directory());
    expect(closeIngests(ingestRuns)).toEqual(['2026-10-05..2026-10-05']);
    expect(changed.fingerprint).not.toBe(unchanged.fingerprint);
    expect(changed.fingerprint).toBe((await closeFromSource(source, directory())).fingerprint);
  });

  it('charges the usage to the teams of the directory at the close, whatever the directory said at the ingest', async () => {
    const { source } = fixture();
    const moved = { [KNOWN_USERS[0]!.userId]: 'data' };
    const ingest = ingestDeps({ usageSource: source, directory: directory() });
    await ingestDaily(ingest, { range: { from: '2026-10-01', to: '2026-10-31' } });

    const fromDaily = await closeFromDaily(ingest, directory(moved));
    expect(fromDaily.fingerprint).toBe((await closeFromSource(source, directory(moved))).fingerprint);
    expect(fromDaily.lines.filter((line) => line.userId === KNOWN_USERS[0]!.userId).map((line) => line.teamId)).toSatisfy((teams: string[]) => teams.length > 0 && teams.every((team) => team === 'data'));
  });

  it('finishes after a crash half-way through its own ingest: the rerun ingests the days left without a summary', async () => {
    const { source } = fixture();
    const dailyRollups = new InMemoryDailyRollupStore();
    const ingestRuns = new InMemoryIngestRunLog();
    const ingest = ingestDeps({ usageSource: source, directory: directory(), dailyRollups, ingestRuns });
    dailyRollups.failOnce.add('2026-10-20');

    await expect(closeFromDaily(ingest, directory())).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect([...dailyRollups.summaries.keys()].sort().at(-1)).toBe('2026-10-19');

    const rerun = await closeFromDaily(ingest, directory());
    expect(closeIngests(ingestRuns)).toEqual(['2026-10-01..2026-10-31', '2026-10-20..2026-10-31']);
    expect(rerun.fingerprint).toBe((await closeFromSource(source, directory())).fingerprint);
  });

  it('keeps the stored days the source no longer holds (past its retention) instead of ingesting them as empty', async () => {
    const { file, source } = fixture();
    const dailyRollups = new InMemoryDailyRollupStore();
    const ingestRuns = new InMemoryIngestRunLog();
    const ingest = ingestDeps({ usageSource: source, directory: directory(), dailyRollups, ingestRuns });
    await ingestDaily(ingest, { range: { from: '2026-10-01', to: '2026-10-31' } });
    const before = await closeFromDaily(ingest, directory());

    // The source forgets everything before 10 October (Berlin); the 3rd was stored before summaries were kept.
    const kept = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => !line.startsWith('{') || (JSON.parse(line) as { timestamp: string }).timestamp >= '2026-10-09T22:00:00Z');
    writeFileSync(file, kept.join('\n'));
    dailyRollups.summaries.delete('2026-10-03');
    const after = await closeFromDaily(ingest, directory());

    expect(closeIngests(ingestRuns)).toEqual([]);
    expect(linesFingerprint(after.lines)).toBe(linesFingerprint(before.lines));
    expect((await dailyRollups.readDay('2026-10-03')).length).toBeGreaterThan(0);
    // Without its summary, the 3rd has no gateway total: the cross-check falls short and a person is asked.
    expect(after.result.state).toBe('held');
    expect(after.result.controls.find((control) => control.id === 'usage.total-tokens')?.outcome).toBe('hold');
  });

  it('with a source that cannot give day totals, ingests the days never ingested and those after the catch-up mark', async () => {
    const rows = [
      usageRow({ day: '2026-10-02', userId: KNOWN_USERS[0]!.userId, tokens: tokens({ input: 1_000_000 }) }),
      usageRow({ day: '2026-10-20', userId: KNOWN_USERS[2]!.userId, tokens: tokens({ input: 2_000_000 }) }),
      usageRow({ day: '2026-10-30', userId: KNOWN_USERS[4]!.userId, tokens: tokens({ output: 50_000 }) }),
    ];
    const usageSource = new WindowedUsageSource(rows);
    const dailyRollups = new InMemoryDailyRollupStore();
    const ingestRuns = new InMemoryIngestRunLog();
    const ingest = { ...ingestDeps({ usageSource, directory: directory(), dailyRollups, ingestRuns }), settings: { timeZone: 'UTC', trailingDays: 3, maxCatchUpDays: 31 } };
    // The timer ingested through the 25th; the 10th was lost since (its summary gone with a half-written replace).
    await ingestDaily({ ...ingest, clock: fixedClock('2026-10-26T05:30:00Z') }, { trigger: 'timer', range: { from: '2026-10-01', to: '2026-10-25' } });
    dailyRollups.summaries.delete('2026-10-10');

    const closeDeps = testCloseDeps({ usageSource, directory: new StaticDirectory(directory()), monthUsage: monthUsageFromDailyRollups(ingest) });
    const result = await closeMonth(closeDeps, { month: MONTH });
    expect(closeIngests(ingestRuns)).toEqual(['2026-10-10..2026-10-10', '2026-10-26..2026-10-31']);
    const sourceDeps = testCloseDeps({ usageSource, directory: new StaticDirectory(directory()) });
    const fromSource = await closeMonth(sourceDeps, { month: MONTH });
    expect(result.report.grandTotal).toBe(fromSource.report.grandTotal);
    expect((await closeDeps.closes.get(MONTH))!.fingerprint).toBe((await sourceDeps.closes.get(MONTH))!.fingerprint);
  });
});
