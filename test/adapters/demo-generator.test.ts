import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CSV_HEADER,
  DEMO_DEFAULTS,
  DEMO_UNPRICED_MODEL,
  ensureDemoData,
  formatPortalTimestamp,
  generateOrganization,
  writeDemoUsage,
  type DemoOptions,
} from '../../cli/demo-generator.js';
import { looksLikeMailAddress, parseDirectoryDocument } from '../../shared/adapters/local/file-directory.js';
import { isValidTeamId } from '../../shared/domain/directory.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { parseCsv } from '../support/csv.js';

interface MetricRow {
  timestamp: string;
  name: 'Prompt Tokens' | 'Completion Tokens' | 'Total Tokens';
  valueSum: number;
  valueCount: number;
  customDimensions: { UserId?: string; Model: string; Tier: string };
}

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'demo-generator-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const OCTOBER: DemoOptions = { ...DEMO_DEFAULTS, month: '2026-10' };

async function readNdjson(file: string): Promise<MetricRow[]> {
  const text = await readFile(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as MetricRow);
}

function localPartsIn(timeZone: string): (instant: Date) => { day: string; hour: number } {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' });
  return (instant) => {
    const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, part.value]));
    return { day: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) };
  };
}

function aggregateKey(row: MetricRow): string {
  return `${row.timestamp}|${JSON.stringify(row.customDimensions)}`;
}

describe('generateOrganization', () => {
  const org = generateOrganization(OCTOBER);

  it('is a valid directory document the file directory accepts', () => {
    const resolution = parseDirectoryDocument(JSON.parse(JSON.stringify(org)), 'generated');

    expect(resolution.users.size).toBe(DEMO_DEFAULTS.users);
    expect(resolution.teams.size).toBe(DEMO_DEFAULTS.teams);
    expect(resolution.notes).toEqual([]);
  });

  it('gives every team a valid id, a cost center and one or two leads who are its members', () => {
    const upnsByTeam = new Map<string, Set<string>>();
    for (const user of org.users) upnsByTeam.set(user.teamId, (upnsByTeam.get(user.teamId) ?? new Set()).add(user.upn));
    for (const team of org.teams) {
      expect(isValidTeamId(team.id)).toBe(true);
      expect(team.costCenter).toMatch(/^CC-\d{4}$/);
      expect(team.leads.length).toBeGreaterThanOrEqual(1);
      expect(team.leads.length).toBeLessThanOrEqual(2);
      for (const lead of team.leads) {
        expect(lead).toMatch(/@contoso\.example$/);
        expect(upnsByTeam.get(team.id)?.has(lead)).toBe(true);
      }
    }
    expect(org.teams.map((team) => team.name)).toContain('Payments');
  });

  it('uses GUID-shaped unique oids and unique addresses', () => {
    const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const user of org.users) {
      expect(user.userId).toMatch(guid);
      expect(looksLikeMailAddress(user.upn)).toBe(true);
    }
    expect(new Set(org.users.map((user) => user.userId)).size).toBe(org.users.length);
    expect(new Set(org.users.map((user) => user.upn)).size).toBe(org.users.length);
  });

  it('has a couple of former users, some guests, and unknown users absent from the directory', () => {
    expect(org.users.filter((user) => user.status === 'former')).toHaveLength(2);
    expect(org.users.some((user) => user.status === 'guest')).toBe(true);
    expect(org.unknownUserIds).toHaveLength(2);
    const known = new Set(org.users.map((user) => user.userId));
    for (const userId of org.unknownUserIds) expect(known.has(userId)).toBe(false);
  });

  it('is the same for the same seed, different for another, and independent of the month', () => {
    expect(generateOrganization({ ...OCTOBER, month: '2027-02' })).toEqual(org);
    expect(generateOrganization({ ...OCTOBER, seed: 7 }).users[0]?.userId).not.toBe(org.users[0]?.userId);
  });

  it('names more teams than it has names for with distinct ids', () => {
    const big = generateOrganization({ ...OCTOBER, teams: 30, users: 40 });
    expect(new Set(big.teams.map((team) => team.id)).size).toBe(30);
    expect(big.teams.every((team) => isValidTeamId(team.id))).toBe(true);
  });

  it('rejects options it cannot honour, all at once', () => {
    expect(() => generateOrganization({ month: '2026-13', users: 0, teams: 2.5, seed: 1, timeZone: 'Mars/Olympus' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.arrayContaining([expect.stringContaining('2026-13'), expect.stringContaining('users'), expect.stringContaining('teams'), expect.stringContaining('Mars/Olympus')]) }),
    );
  });
});

describe('writeDemoUsage', () => {
  const org = generateOrganization(OCTOBER);
  let rows: MetricRow[];
  let summary: Awaited<ReturnType<typeof writeDemoUsage>>;

  beforeAll(async () => {
    summary = await writeDemoUsage(OCTOBER, org, path.join(folder, 'october.ndjson'), 'ndjson');
    rows = await readNdjson(path.join(folder, 'october.ndjson'));
  });

  it('writes the same bytes for the same options, other bytes for another seed', async () => {
    const again = path.join(folder, 'october-again.ndjson');
    await writeDemoUsage(OCTOBER, generateOrganization(OCTOBER), again, 'ndjson');
    const [first, second] = await Promise.all([readFile(path.join(folder, 'october.ndjson')), readFile(again)]);
    expect(first.equals(second)).toBe(true);

    const other = path.join(folder, 'october-seed-7.ndjson');
    const seven = { ...OCTOBER, seed: 7 };
    await writeDemoUsage(seven, generateOrganization(seven), other, 'ndjson');
    expect(first.equals(await readFile(other))).toBe(false);
  });

  it('writes the three gateway metrics per aggregate, Total = Prompt + Completion, one request count', () => {
    expect(rows.length).toBe(summary.rows);
    expect(rows.length % 3).toBe(0);
    const byAggregate = new Map<string, MetricRow[]>();
    for (const row of rows) byAggregate.set(aggregateKey(row), [...(byAggregate.get(aggregateKey(row)) ?? []), row]);
    expect(byAggregate.size).toBe(summary.aggregates);
    const broken: string[] = [];
    for (const [key, group] of byAggregate) {
      const value = (name: string) => group.find((row) => row.name === name)?.valueSum ?? NaN;
      const names = group.map((row) => row.name).sort().join(',');
      const counts = new Set(group.map((row) => row.valueCount));
      const count = group[0]!.valueCount;
      if (
        names !== 'Completion Tokens,Prompt Tokens,Total Tokens' ||
        value('Total Tokens') !== value('Prompt Tokens') + value('Completion Tokens') ||
        counts.size !== 1 ||
        !Number.isSafeInteger(count) ||
        count < 1
      ) {
        broken.push(key);
      }
    }
    expect(broken).toEqual([]);
  });

  it('reports token totals that equal the sums over the rows of the file', () => {
    const sums = { 'Prompt Tokens': 0, 'Completion Tokens': 0, 'Total Tokens': 0 };
    for (const row of rows) sums[row.name] += row.valueSum;
    expect(summary.tokensByMetric).toEqual(sums);
    expect(summary.rowsWithoutUserId).toBe(rows.filter((row) => !row.customDimensions.UserId).length);
    expect(summary.users).toBe(new Set(rows.map((row) => row.customDimensions.UserId).filter(Boolean)).size);
  });

  it('has realistic magnitudes: around a million prompt tokens per active user-day, a few percent output', () => {
    const promptByUserDay = new Map<string, number>();
    for (const row of rows) {
      if (row.name !== 'Prompt Tokens' || !row.customDimensions.UserId) continue;
      const key = `${row.customDimensions.UserId}|${row.timestamp.slice(0, 10)}`;
      promptByUserDay.set(key, (promptByUserDay.get(key) ?? 0) + row.valueSum);
    }
    const perDay = [...promptByUserDay.values()].sort((a, b) => a - b);
    const median = perDay[Math.floor(perDay.length / 2)]!;
    expect(median).toBeGreaterThan(500_000);
    expect(median).toBeLessThan(3_000_000);
    const outputShare = summary.tokensByMetric['Completion Tokens'] / summary.tokensByMetric['Prompt Tokens'];
    expect(outputShare).toBeGreaterThan(0.03);
    expect(outputShare).toBeLessThan(0.08);
  });

  it('includes rows with an empty and with a missing UserId (about half a percent)', () => {
    const noUser = rows.filter((row) => !row.customDimensions.UserId);
    expect(noUser.some((row) => row.customDimensions.UserId === '')).toBe(true);
    expect(noUser.some((row) => !('UserId' in row.customDimensions))).toBe(true);
    expect(noUser.length / rows.length).toBeGreaterThan(0.002);
    expect(noUser.length / rows.length).toBeLessThan(0.02);
  });

  it('includes the unpriced preview model for a couple of users on a few days', () => {
    const preview = rows.filter((row) => row.customDimensions.Model === DEMO_UNPRICED_MODEL);
    expect(preview.length).toBeGreaterThan(0);
    expect(new Set(preview.map((row) => row.customDimensions.UserId)).size).toBeLessThanOrEqual(2);
    expect(new Set(preview.map((row) => row.timestamp.slice(0, 10))).size).toBeLessThanOrEqual(3);
    expect(summary.aggregatesByModel[DEMO_UNPRICED_MODEL]).toBe(preview.length / 3);
  });

  it('includes the unknown users and the former users, the latter only early in the month', () => {
    const seen = new Set(rows.map((row) => row.customDimensions.UserId));
    expect(summary.unknownUserIds).toEqual([...org.unknownUserIds].sort());
    for (const userId of org.unknownUserIds) expect(seen.has(userId)).toBe(true);
    for (const former of org.users.filter((user) => user.status === 'former')) {
      const days = rows.filter((row) => row.customDimensions.UserId === former.userId).map((row) => Number(row.timestamp.slice(8, 10)));
      expect(days.length).toBeGreaterThan(0);
      expect(Math.max(...days)).toBeLessThanOrEqual(16);
    }
  });

  it('gives each user one tier, about a fifth Premium, and keeps Opus to Premium users', () => {
    const tiers = new Map<string, Set<string>>();
    for (const row of rows) {
      const userId = row.customDimensions.UserId;
      if (!userId) continue;
      tiers.set(userId, (tiers.get(userId) ?? new Set()).add(row.customDimensions.Tier));
    }
    expect(rows.filter((row) => row.customDimensions.Model.includes('opus') && row.customDimensions.Tier !== 'Claude.Premium')).toEqual([]);
    expect([...tiers.values()].every((set) => set.size === 1)).toBe(true);
    const premium = [...tiers.values()].filter((set) => set.has('Claude.Premium')).length / tiers.size;
    expect(premium).toBeGreaterThan(0.1);
    expect(premium).toBeLessThan(0.3);
    expect(summary.aggregatesByModel['claude-sonnet-4-6']).toBeGreaterThan(summary.aggregatesByModel['claude-opus-4-6'] ?? Infinity);
  });

  it('is heavy-tailed and busier on weekdays', () => {
    const byUser = new Map<string, number>();
    const byWeekday = [0, 0];
    const dayCount = [0, 0];
    const daysSeen = new Set<string>();
    for (const row of rows) {
      if (row.name !== 'Total Tokens') continue;
      const userId = row.customDimensions.UserId;
      if (userId) byUser.set(userId, (byUser.get(userId) ?? 0) + row.valueSum);
      const weekday = new Date(row.timestamp).getUTCDay();
      const isWeekend = weekday === 0 || weekday === 6 ? 1 : 0;
      byWeekday[isWeekend]! += row.valueSum;
      const day = row.timestamp.slice(0, 10);
      if (!daysSeen.has(day)) {
        daysSeen.add(day);
        dayCount[isWeekend]! += 1;
      }
    }
    const totals = [...byUser.values()].sort((a, b) => b - a);
    const all = totals.reduce((sum, value) => sum + value, 0);
    const topTenth = totals.slice(0, Math.ceil(totals.length / 10)).reduce((sum, value) => sum + value, 0);
    expect(topTenth / all).toBeGreaterThan(0.25);
    expect(byWeekday[0]! / dayCount[0]!).toBeGreaterThan(5 * (byWeekday[1]! / dayCount[1]!));
  });

  it('keeps every timestamp inside the month and its business hours in the given time zone', async () => {
    // October 2026 holds the end of daylight saving time in Paris (25 October).
    const options = { ...OCTOBER, users: 60, timeZone: 'Europe/Paris' };
    const file = path.join(folder, 'october-paris.ndjson');
    await writeDemoUsage(options, generateOrganization(options), file, 'ndjson');
    const parisRows = await readNdjson(file);
    const window = monthWindow('2026-10', 'Europe/Paris');

    const localParts = localPartsIn('Europe/Paris');
    const localDays = new Set<string>();
    const misplaced: string[] = [];
    for (const row of parisRows) {
      const instant = new Date(row.timestamp);
      const local = localParts(instant);
      const wellFormed = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(row.timestamp);
      const inMonth = instant >= window.start && instant < window.end && local.day.startsWith('2026-10-');
      // Business hours start at 08:00 local; elapsed time from local midnight reads an hour early on the DST day.
      if (!wellFormed || !inMonth || local.hour < 7 || local.hour > 19) misplaced.push(`${row.timestamp} (${local.day} ${local.hour}h)`);
      localDays.add(local.day);
    }
    expect(misplaced).toEqual([]);
    expect(localDays.has('2026-10-01')).toBe(true);
    expect(localDays.has('2026-10-30')).toBe(true);
  });

  it('writes the portal CSV form: header, locale times in UTC, JSON dimensions with doubled quotes', async () => {
    const file = path.join(folder, 'october.csv');
    const csvSummary = await writeDemoUsage(OCTOBER, org, file, 'csv');
    const text = await readFile(file, 'utf8');

    expect(text.startsWith(`${CSV_HEADER}\r\n`)).toBe(true);
    expect(CSV_HEADER).toBe('timestamp [UTC],name,valueSum,valueCount,customDimensions');
    const firstLine = text.split('\r\n')[1]!;
    expect(firstLine).toMatch(/^"\d{1,2}\/\d{1,2}\/2026, \d{1,2}:\d\d:\d\d\.\d{3} [AP]M",Prompt Tokens,\d+,\d+,"\{""UserId"":""[0-9a-f-]+"",""Model"":""[a-z0-9.-]+"",""Tier"":""Claude\.(Standard|Premium)""\}"$/);

    const records = parseCsv(text).slice(1);
    expect(records.length).toBe(rows.length);
    expect(csvSummary.tokensByMetric).toEqual(summary.tokensByMetric);
    const expected = rows.map((row) => [formatPortalTimestamp(new Date(row.timestamp)), row.name, String(row.valueSum), String(row.valueCount), JSON.stringify(row.customDimensions)]);
    expect(records).toEqual(expected);
  });

  it('formats portal times like the browser does in en-US', () => {
    expect(formatPortalTimestamp(new Date('2026-10-25T01:30:00.000Z'))).toBe('10/25/2026, 1:30:00.000 AM');
    expect(formatPortalTimestamp(new Date('2026-10-05T00:05:09.007Z'))).toBe('10/5/2026, 12:05:09.007 AM');
    expect(formatPortalTimestamp(new Date('2026-10-05T12:00:00.000Z'))).toBe('10/5/2026, 12:00:00.000 PM');
    expect(formatPortalTimestamp(new Date('2026-12-31T23:59:59.999Z'))).toBe('12/31/2026, 11:59:59.999 PM');
  });

  it('writes a month of 1,000 users in 20 teams, every row it reports on disk', async () => {
    // How fast is a benchmark's question; this checks that a larger organization is written whole.
    const options = { ...OCTOBER, users: 1000, teams: 20 };
    const big = generateOrganization(options);
    const file = path.join(folder, 'october-1000.ndjson');
    const result = await writeDemoUsage(options, big, file, 'ndjson');

    expect(result.users).toBeGreaterThan(900);
    expect(result.rows).toBeGreaterThan(50_000);
    expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(result.rows);
    expect(new Set(big.teams.map((team) => team.id)).size).toBe(20);
  });
});

describe('ensureDemoData', () => {
  it('writes the directory and the month usage once, then reuses them', async () => {
    const dir = path.join(folder, 'ensure');
    const first = await ensureDemoData(dir, OCTOBER);

    expect(first).toEqual({ usageFile: path.join(dir, 'usage-2026-10.ndjson'), directoryFile: path.join(dir, 'directory.json'), generated: true });
    const directory = JSON.parse(await readFile(first.directoryFile, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(directory)).toEqual(['teams', 'users']);
    expect(parseDirectoryDocument(directory, first.directoryFile).users.size).toBe(DEMO_DEFAULTS.users);
    const written = await stat(first.usageFile);

    const second = await ensureDemoData(dir, OCTOBER);
    expect(second.generated).toBe(false);
    expect((await stat(first.usageFile)).mtimeMs).toBe(written.mtimeMs);

    await unlink(first.usageFile);
    const third = await ensureDemoData(dir, OCTOBER);
    expect(third.generated).toBe(true);
    expect((await stat(first.usageFile)).size).toBe(written.size);
  });
});
