import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { csvRecords } from '../support/csv.js';
import { cents, expectReconciled, invoke, sumOf } from '../support/http-api.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableCloseRegistry } from '../../shared/adapters/azure/table-ledger.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import type { CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { FileBudgetSource } from '../../shared/adapters/local/file-budgets.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, localVerifier, mintLocalToken, type LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { FINANCE_ROLE } from '../../shared/domain/access.js';
import { forecastMonthEnd } from '../../shared/domain/budgets.js';
import { monthlyLinesFromDayLines, type DayLine } from '../../shared/domain/daily.js';
import { UNALLOCATED_TEAM, type DirectoryResolution, type DirectoryUser, type Team } from '../../shared/domain/directory.js';
import { formatMinorUnits, money, sumMoney, toMinorUnits, ZERO } from '../../shared/domain/money.js';
import type { Directory } from '../../shared/ports/directory.js';
import type { RollupStore } from '../../shared/ports/rollup-store.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { myCostsHandler } from '../../functions/http-my-costs.js';
import { teamCostsHandler } from '../../functions/http-team-costs.js';
import { teamsHandler } from '../../functions/http-teams.js';
import { testPriceBook, tokens } from '../support/domain-fixtures.js';
import { fixedClock } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

// A Friday: the month is open, ingested through yesterday.
const NOW = '2026-11-20T12:00:00Z';
const TODAY = '2026-11-20';
const LEAD = '0b000000-0000-4000-8000-000000000001';
const MEMBER = '0b000000-0000-4000-8000-000000000002';
const OTHER_MEMBER = '0b000000-0000-4000-8000-000000000003';
const DATA_USER = '0b000000-0000-4000-8000-000000000004';
const FINANCE = '0b000000-0000-4000-8000-000000000005';
const UNKNOWN_USER = '0b000000-0000-4000-8000-000000000006';

const TEAMS: Team[] = [
  { id: 'platform', name: 'Platform Engineering', leads: ['lena.lead@contoso.example'], leadIds: [LEAD] },
  { id: 'data', name: 'Data Science', leads: [] },
];
const USERS: DirectoryUser[] = [
  { userId: LEAD, teamId: 'platform', displayName: 'Lena Lead', upn: 'lena.lead@contoso.example', status: 'member' },
  { userId: MEMBER, teamId: 'platform', displayName: 'Mo Member', upn: 'mo@contoso.example', status: 'member' },
  { userId: OTHER_MEMBER, teamId: 'platform', displayName: 'Olga Other', upn: 'olga@contoso.example', status: 'member' },
  { userId: DATA_USER, teamId: 'data', displayName: 'Dan Data', upn: 'dan@contoso.example', status: 'member' },
];

const directory: Directory = {
  async resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    return { users: new Map(USERS.filter((user) => userIds.includes(user.userId)).map((user) => [user.userId, user])), teams: new Map(TEAMS.map((team) => [team.id, team])), notes: [] };
  },
  async lookUpTeams(teamIds: readonly string[]) {
    return new Map(TEAMS.filter((team) => teamIds.includes(team.id)).map((team) => [team.id, team]));
  },
};

function dayLine(day: string, teamId: string, userId: string, model: string, cost: string | null, input: number): DayLine {
  const user = USERS.find((candidate) => candidate.userId === userId);
  return {
    day,
    teamId,
    userId,
    model,
    tier: model.includes('opus') ? 'Claude.Premium' : 'Claude.Standard',
    allocation: user ? 'team' : 'unknown-user',
    userName: user?.displayName ?? '',
    upn: user?.upn ?? '',
    pricedModel: cost === null ? null : model,
    tokens: tokens({ input, output: Math.floor(input / 10), cacheRead: input * 3 }),
    requests: 1 + (input % 7),
    cost: cost === null ? null : money(cost),
    priceEntryId: cost === null ? null : `${model}@2026-01-01`,
    currency: 'USD',
  };
}

/** November so far: working days 2-19 for platform and data, a few unallocated and unpriced lines. */
function novemberDay(day: string): DayLine[] {
  const n = Number(day.slice(8));
  const weekend = [0, 6].includes(new Date(`${day}T00:00:00Z`).getUTCDay());
  const lines = [
    dayLine(day, 'platform', LEAD, 'claude-sonnet-4-6', `${weekend ? 0 : 1}.${String(n).padStart(2, '0')}37`, 10_000 + n),
    dayLine(day, 'platform', OTHER_MEMBER, 'claude-opus-4-6', weekend ? '0.0001' : `2.5${n}05`, 50_000 + n),
    dayLine(day, 'data', DATA_USER, 'claude-sonnet-4-6', `0.3${n}3`, 7_000 + n),
  ];
  if (n % 2 === 0) lines.push(dayLine(day, 'platform', MEMBER, 'claude-haiku-4-5', `0.0${n}333`, 3_000 + n));
  if (n % 5 === 0) lines.push(dayLine(day, 'platform', MEMBER, 'claude-preview', null, 999));
  if (n % 3 === 0) lines.push(dayLine(day, UNALLOCATED_TEAM, UNKNOWN_USER, 'claude-sonnet-4-6', '0.25', 1_234));
  return lines;
}

const NOVEMBER_DAYS = Array.from({ length: 18 }, (_, index) => `2026-11-${String(index + 2).padStart(2, '0')}`);
const NOVEMBER: DayLine[] = NOVEMBER_DAYS.flatMap(novemberDay);
// Dated after today (a replay, a clock skew): never part of the month to date.
const TOMORROW: DayLine[] = [dayLine('2026-11-21', 'platform', LEAD, 'claude-sonnet-4-6', '99', 1)];
// October is closed: its rollups come from the close. A team the close missed is still in the daily store.
const OCTOBER_DAYS: DayLine[] = [
  dayLine('2026-10-05', 'platform', LEAD, 'claude-sonnet-4-6', '3.3333', 1000),
  dayLine('2026-10-06', 'platform', MEMBER, 'claude-haiku-4-5', '1.1111', 2000),
  dayLine('2026-10-07', 'late', '0b000000-0000-4000-8000-0000000000aa', 'claude-sonnet-4-6', '0.42', 300),
];

let key: LocalSigningKey;
let daily: TableDailyRollupStore;
let closes: TableCloseRegistry;
let rollups: TableRollupStore;
let budgetsFile: string;
const monthlyReads: string[] = [];

beforeAll(async () => {
  key = await createLocalSigningKey();
  const connection = azuriteConnectionString();
  [rollups, closes, daily] = await Promise.all([
    TableRollupStore.create(tableClientFor(connection, uniqueTableName('mtdrollups'))),
    TableCloseRegistry.create(tableClientFor(connection, uniqueTableName('mtdcloses'))),
    TableDailyRollupStore.create(tableClientFor(connection, uniqueTableName('mtddaily')), tableClientFor(connection, uniqueTableName('mtdtotals'))),
  ]);
  for (const day of NOVEMBER_DAYS) await daily.replaceDay(day, novemberDay(day));
  await daily.replaceDay('2026-11-21', TOMORROW);
  for (const day of ['2026-10-05', '2026-10-06', '2026-10-07']) await daily.replaceDay(day, OCTOBER_DAYS.filter((line) => line.day === day));
  await rollups.replaceMonth('2026-10', monthlyLinesFromDayLines('2026-10', OCTOBER_DAYS.filter((line) => line.teamId !== 'late')));
  await closes.put({ month: '2026-10', revision: 2, fingerprint: 'x', closedAt: new Date('2026-11-03T06:00:00Z'), priceBookVersion: 'test', totalMinorUnits: '444', currency: 'USD' });
  budgetsFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'mtd-budgets-')), 'budgets.json');
  await writeFile(budgetsFile, JSON.stringify({ currency: 'USD', teams: [{ teamId: 'platform', amount: '60', months: { '2026-10': '10' } }] }));
});

let clock: ReturnType<typeof fixedClock>;
let services: CostApiServices;

function buildServices(options: { budgets: boolean }): CostApiServices {
  const counting: RollupStore = {
    replaceMonth: (...args) => rollups.replaceMonth(...args),
    readTeamMonth: (month, teamId) => (monthlyReads.push(`${month}|${teamId}`), rollups.readTeamMonth(month, teamId)),
    readMonth: (month) => (monthlyReads.push(`${month}|*`), rollups.readMonth(month)),
  };
  return {
    costLookup: cachedCostLookup({
      rollups: counting,
      closes,
      dailyRollups: daily,
      ...(options.budgets ? { budgets: { source: new FileBudgetSource(budgetsFile), priceBooks: { load: async () => testPriceBook() } } } : {}),
      directory,
      clock,
      settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 60 },
    }),
    accessTokens: localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => clock.now() }),
  };
}

beforeEach(() => {
  clock = fixedClock(NOW);
  services = buildServices({ budgets: true });
  monthlyReads.length = 0;
});

const token = (userId: string, options: { roles?: string[]; upn?: string } = {}) =>
  mintLocalToken(key, { userId, roles: options.roles ?? [], tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, issuedAt: clock.now(), ...(options.upn ? { upn: options.upn } : {}) });
const financeToken = () => token(FINANCE, { roles: [FINANCE_ROLE], upn: 'fiona@contoso.example' });
const leadToken = () => token(LEAD, { upn: 'lena.lead@contoso.example' });
const memberToken = () => token(MEMBER, { upn: 'mo@contoso.example' });

const call = (handler: Parameters<typeof invoke>[0], url: string, bearer: string, params: Record<string, string> = {}) =>
  invoke(handler, url, { headers: { authorization: `Bearer ${bearer}` }, params });
const teamCosts = async (team: string, query: string, bearer: string) => call(teamCostsHandler(async () => services), `teams/${team}/costs${query}`, bearer, { team });
const teams = async (query: string, bearer: string) => call(teamsHandler(async () => services), `teams${query}`, bearer);
const myCosts = async (query: string, bearer: string) => call(myCostsHandler(async () => services), `me/costs${query}`, bearer);

const exactOf = (lines: readonly DayLine[]) => sumMoney(lines.map((line) => line.cost ?? ZERO));
const platformNovember = NOVEMBER.filter((line) => line.teamId === 'platform');

describe('an open month (no close record) is answered from the daily rollups', () => {
  it('gives a lead the month to date: the totals are the sum of the day lines through today', async () => {
    const response = await teamCosts('platform', '', await leadToken());
    expect(response.status).toBe(200);
    const body = response.json;
    expect(body).toMatchObject({ month: '2026-11', access: 'lead', view: 'full', currency: 'USD', source: { status: 'open', asOf: '2026-11-19' } });
    expect(body.total.exactAmount).toBe(exactOf(platformNovember).toFixed());
    expect(cents(body.total.amount)).toBe(toMinorUnits(exactOf(platformNovember)));
    expect(body.total.tokens.input).toBe(platformNovember.reduce((sum, line) => sum + line.tokens.input, 0));
    expect(body.total.requests).toBe(platformNovember.reduce((sum, line) => sum + line.requests, 0));
    expect(body.total.unpricedTokens).toBe(platformNovember.filter((line) => line.cost === null).reduce((sum, line) => sum + line.tokens.input + line.tokens.output + line.tokens.cacheRead, 0));
    expect(body.total.users).toBe(3);
    expect(body.breakdown.byDay.map((day: any) => day.day)).toEqual(NOVEMBER_DAYS);
    expect(body.breakdown.byModel.find((model: any) => model.model === 'claude-preview')).toMatchObject({ pricedModel: null, amount: '0.00' });
    expectReconciled(body.breakdown);
    // No close record: the monthly rollups are not even asked.
    expect(monthlyReads).toEqual([]);
  });

  it('shows a member the team total and only their own day lines', async () => {
    const response = await teamCosts('platform', '?month=2026-11', await memberToken());
    const body = response.json;
    expect(body).toMatchObject({ access: 'member', view: 'own-lines-and-team-total', source: { status: 'open' } });
    expect(cents(body.total.amount)).toBe(toMinorUnits(exactOf(platformNovember)));
    expect(body.breakdown.byUser.map((user: any) => user.userId)).toEqual([MEMBER]);
    expect(body.breakdown.lines.map((line: any) => line.model).sort()).toEqual(['claude-haiku-4-5', 'claude-preview']);
    expect(body.breakdown.total.tokens.input).toBe(NOVEMBER.filter((line) => line.userId === MEMBER).reduce((sum, line) => sum + line.tokens.input, 0));
    expectReconciled(body.breakdown);
    for (const secret of [LEAD, OTHER_MEMBER, 'Lena Lead', 'Olga', 'claude-opus-4-6']) expect(response.body).not.toContain(secret);
    const asLead = await teamCosts('platform', '?month=2026-11', await leadToken());
    expect(body.breakdown.total.amount).toBe(asLead.json.breakdown.byUser.find((user: any) => user.userId === MEMBER).amount);
  });

  it('fills budget and forecast for a team with a budget: the forecast projects the daily series', async () => {
    const body = (await teamCosts('platform', '?month=2026-11', await leadToken())).json;
    const used = exactOf(platformNovember);
    expect(body.budget).toEqual({
      amount: '60.00',
      currency: 'USD',
      used: body.total.amount,
      remaining: formatMinorUnits(6000n - cents(body.total.amount)),
      usedPercent: used.times(100).dividedBy(60).toDecimalPlaces(1, 1).toFixed(1),
    });
    // The same projection from the team's stored daily totals (the series budget alerts read).
    const series = await daily.readTeamDailySeries('2026-11', 'platform');
    const expected = forecastMonthEnd('2026-11', TODAY, series.map((total) => ({ day: total.day, cost: total.cost })));
    expect(body.forecast).toMatchObject({
      amount: formatMinorUnits(toMinorUnits(expected.forecast)),
      exactAmount: expected.forecast.toFixed(),
      basis: 'working-and-weekend',
      today: TODAY,
      remainingWorkingDays: expected.remainingWorkingDays,
      remainingWeekendDays: expected.remainingWeekendDays,
      workingDayRate: formatMinorUnits(toMinorUnits(expected.workingDayRate)),
      budgetPercent: expected.forecast.times(100).dividedBy(60).toDecimalPlaces(1, 1).toFixed(1),
    });
    expect(cents(body.forecast.amount)).toBeGreaterThan(cents(body.total.amount));
    // Members see their team's budget too: it is the team's, not anyone's own figure.
    expect((await teamCosts('platform', '?month=2026-11', await memberToken())).json.budget).toEqual(body.budget);
  });

  it('leaves budget and forecast null for a team without a budget, and for every team when none are configured', async () => {
    const data = (await teamCosts('data', '?month=2026-11', await financeToken())).json;
    expect(data).toMatchObject({ source: { status: 'open' }, budget: null, forecast: null });
    expect(data.total.exactAmount).toBe(exactOf(NOVEMBER.filter((line) => line.teamId === 'data')).toFixed());
    services = buildServices({ budgets: false });
    const platform = (await teamCosts('platform', '?month=2026-11', await leadToken())).json;
    expect(platform).toMatchObject({ budget: null, forecast: null });
  });

  it('lists every team for finance from the daily totals, through today', async () => {
    const body = (await teams('?month=2026-11', await financeToken())).json;
    expect(body.source).toEqual({ status: 'open', asOf: '2026-11-19' });
    expect(body.teams.map((team: any) => team.teamId)).toEqual(['data', 'platform', UNALLOCATED_TEAM]);
    expect(body.total.exactAmount).toBe(exactOf(NOVEMBER).toFixed());
    expect(cents(body.total.amount)).toBe(toMinorUnits(exactOf(NOVEMBER)));
    expect(sumOf(body.teams)).toBe(cents(body.total.amount));
    expect(body.total.tokens.input).toBe(NOVEMBER.reduce((sum, line) => sum + line.tokens.input, 0));
    const platform = body.teams.find((team: any) => team.teamId === 'platform');
    expect(platform.exactAmount).toBe(exactOf(platformNovember).toFixed());
    expect(platform.users).toBeNull();
    expect(platform.budget).toMatchObject({ amount: '60.00', used: platform.amount });
    expect(platform.forecast.basis).toBe('working-and-weekend');
    expect(body.teams.find((team: any) => team.teamId === 'data')).toMatchObject({ budget: null, forecast: null });
    expect(monthlyReads).toEqual([]);
    const csv = csvRecords((await call(teamsHandler(async () => services), 'teams?month=2026-11&format=csv', await financeToken())).body);
    expect(csv.map((row) => [row['team_id'], row['budget']])).toEqual(body.teams.map((team: any) => [team.teamId, team.teamId === 'platform' ? '60.00' : '']));
    expect(csv.find((row) => row['team_id'] === 'platform')).toMatchObject({ budget_used_percent: platform.budget.usedPercent, forecast: platform.forecast.amount, source: 'open' });
  });

  it("answers /api/me/costs from the caller's team days and the unallocated days", async () => {
    const response = await myCosts('?month=2026-11', await memberToken());
    const body = response.json;
    const own = NOVEMBER.filter((line) => line.userId === MEMBER);
    expect(body.source).toEqual({ status: 'open', asOf: '2026-11-19' });
    expect(cents(body.total.amount)).toBe(toMinorUnits(exactOf(own)));
    expect(body.byTeam).toEqual([expect.objectContaining({ teamId: 'platform', amount: body.total.amount })]);
    expect(body.lines).toHaveLength(2);
    for (const list of [body.byModel, body.byTier, body.byDay, body.lines]) expect(sumOf(list)).toBe(cents(body.total.amount));
    for (const secret of [LEAD, OTHER_MEMBER, 'claude-opus-4-6']) expect(response.body).not.toContain(secret);
    const ghost = (await myCosts('?month=2026-11', await token(UNKNOWN_USER))).json;
    expect(ghost.byTeam).toEqual([expect.objectContaining({ teamId: UNALLOCATED_TEAM, allocation: 'unknown-user' })]);
    expect(ghost.total.amount).toBe(formatMinorUnits(toMinorUnits(exactOf(NOVEMBER.filter((line) => line.userId === UNKNOWN_USER)))));
  });

  it('reads nothing for a month that has not started, and a team-month once per cache TTL', async () => {
    const december = (await teamCosts('platform', '?month=2026-12', await leadToken())).json;
    expect(december).toMatchObject({ source: { status: 'open', asOf: null }, currency: null, total: { amount: '0.00', users: 0 } });
    const reads: string[] = [];
    const spying = { ...daily, readTeamDays: (month: string, teamId: string, through: string) => (reads.push(`${month}|${teamId}|${through}`), daily.readTeamDays(month, teamId, through)), readMonthDailySeries: (month: string) => daily.readMonthDailySeries(month) };
    services = { ...services, costLookup: cachedCostLookup({ rollups, closes, dailyRollups: spying, directory, clock, settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 60 } }) };
    await teamCosts('platform', '', await leadToken());
    await teamCosts('platform', '', await memberToken());
    expect(reads).toEqual([`2026-11|platform|${TODAY}`]);
  });
});

describe('a closed month is answered from its monthly rollups', () => {
  it('says closed with the revision; the forecast of a closed month is its total', async () => {
    const body = (await teamCosts('platform', '?month=2026-10', await leadToken())).json;
    expect(body.source).toEqual({ status: 'closed', revision: 2, closedAt: '2026-11-03T06:00:00.000Z' });
    expect(body.total.exactAmount).toBe('4.4444');
    // The whole month: a closed team is its slice of the finance report.
    expect(monthlyReads).toEqual(['2026-10|*']);
    expect(body.budget).toEqual({ amount: '10.00', currency: 'USD', used: '4.44', remaining: '5.56', usedPercent: '44.4' });
    expect(body.forecast).toEqual({
      amount: '4.44',
      exactAmount: '4.4444',
      budgetPercent: '44.4',
      basis: 'closed',
      today: null,
      workingDayRate: null,
      weekendDayRate: null,
      remainingWorkingDays: 0,
      remainingWeekendDays: 0,
    });
    const csv = csvRecords((await call(teamCostsHandler(async () => services), 'teams/platform/costs?month=2026-10&format=csv&view=total', await leadToken(), { team: 'platform' })).body);
    expect(csv).toEqual([
      expect.objectContaining({ team_id: 'platform', team_name: 'Platform Engineering', amount: '4.44', currency: 'USD', budget: '10.00', budget_used_percent: '44.4', forecast: '4.44', forecast_budget_percent: '44.4', source: 'closed', revision: '2' }),
    ]);
    const list = (await teams('?month=2026-10', await financeToken())).json;
    expect(list.source).toMatchObject({ status: 'closed', revision: 2 });
    expect(list.teams.map((team: any) => team.teamId)).toEqual(['platform']);
  });

  it('answers a team the close did not roll up from the daily store, saying so', async () => {
    const body = (await teamCosts('late', '?month=2026-10', await financeToken())).json;
    expect(body).toMatchObject({ source: { status: 'open', asOf: '2026-10-07' }, total: { amount: '0.42' } });
    expect(monthlyReads).toEqual(['2026-10|*']);
  });
});

describe('TableDailyRollupStore.readTeamDays', () => {
  it("reads one team's day partitions from the 1st through the given day, cut at the month's end", async () => {
    const early = await daily.readTeamDays('2026-11', 'platform', '2026-11-05');
    expect(early.every((line) => line.teamId === 'platform' && line.day <= '2026-11-05')).toBe(true);
    expect(early).toEqual(platformNovember.filter((line) => line.day <= '2026-11-05').sort((a, b) => a.day.localeCompare(b.day) || a.userId.localeCompare(b.userId) || a.model.localeCompare(b.model)));
    const whole = await daily.readTeamDays('2026-11', 'platform', '2027-01-31');
    expect(whole).toHaveLength(platformNovember.length + TOMORROW.length);
    expect(await daily.readTeamDays('2026-11', 'platform', '2026-10-31')).toEqual([]);
    expect(await daily.readTeamDays('2026-11', "x' or PartitionKey ne '", '2026-11-30')).toEqual([]);
    await expect(daily.readTeamDays('2026-11', 'platform', '2026-11-5')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
