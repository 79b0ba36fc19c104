import { base64url } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableCloseRegistry } from '../../shared/adapters/azure/table-ledger.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import type { CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, localVerifier, mintLocalToken, type LocalSigningKey, type LocalTokenClaims } from '../../shared/adapters/local/local-token-issuer.js';
import { FINANCE_ROLE } from '../../shared/domain/access.js';
import { UNALLOCATED_TEAM, type Allocation, type DirectoryResolution, type DirectoryUser, type Team } from '../../shared/domain/directory.js';
import { money, sumMoney, toMinorUnits } from '../../shared/domain/money.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens } from '../../shared/domain/tokens.js';
import type { Directory } from '../../shared/ports/directory.js';
import type { RollupStore } from '../../shared/ports/rollup-store.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { myCostsHandler } from '../../functions/http-my-costs.js';
import { teamCostsHandler } from '../../functions/http-team-costs.js';
import { teamsHandler } from '../../functions/http-teams.js';
import { csvRecords } from '../support/csv.js';
import { cents, expectReconciled, invoke, sumOf, type Call } from '../support/http-api.js';
import { fixedClock } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const NOW = '2026-10-20T12:00:00Z';
const LEAD = '0a000000-0000-4000-8000-000000000001';
const MEMBER = '0a000000-0000-4000-8000-000000000002';
const OTHER_MEMBER = '0a000000-0000-4000-8000-000000000003';
const DATA_USER = '0a000000-0000-4000-8000-000000000004';
const FINANCE = '0a000000-0000-4000-8000-000000000005';
const UNKNOWN_USER = '0a000000-0000-4000-8000-000000000006';
const MOVED_USER = '0a000000-0000-4000-8000-000000000007';
const DATA_LEAD_OUTSIDER = '0a000000-0000-4000-8000-000000000008';
const NO_USAGE_USER = '0a000000-0000-4000-8000-000000000009';

const TEAMS: Team[] = [
  { id: 'platform', name: 'Platform Engineering', leads: ['lena.lead@contoso.example'], leadIds: [LEAD] },
  { id: 'data', name: 'Data Science', leads: ['dora.outsider@contoso.example'], leadIds: [DATA_LEAD_OUTSIDER], costCenter: 'CC-2002' },
  { id: 'quiet', name: 'Quiet Team', leads: [] },
];

const USERS: DirectoryUser[] = [
  { userId: LEAD, teamId: 'platform', displayName: 'Lena Lead', upn: 'lena.lead@contoso.example', status: 'member' },
  { userId: MEMBER, teamId: 'platform', displayName: 'Mo Member', upn: 'mo@contoso.example', status: 'member' },
  { userId: OTHER_MEMBER, teamId: 'platform', displayName: 'Olga Other', upn: 'olga@contoso.example', status: 'member' },
  { userId: DATA_USER, teamId: 'data', displayName: 'Dan Data', upn: 'dan@contoso.example', status: 'member' },
  // Rolled up in platform, moved to data since: their lines are not where the directory now points.
  { userId: MOVED_USER, teamId: 'data', displayName: 'Max Moved', upn: 'max@contoso.example', status: 'member' },
  { userId: NO_USAGE_USER, teamId: 'data', displayName: 'Nia None', upn: 'nia@contoso.example', status: 'member' },
];

function teamRecords(teamIds: readonly string[]): Map<string, Team> {
  return new Map(TEAMS.filter((team) => teamIds.includes(team.id)).map((team) => [team.id, team]));
}

/** Like the local file: every team, whoever is asked about. */
class FileLikeDirectory implements Directory {
  calls = 0;
  async resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    this.calls += 1;
    const users = new Map(USERS.filter((user) => userIds.includes(user.userId)).map((user) => [user.userId, user]));
    return { users, teams: new Map(TEAMS.map((team) => [team.id, team])), notes: [] };
  }
  async lookUpTeams(teamIds: readonly string[]) {
    return teamRecords(teamIds);
  }
}

/** Like Graph: only the teams of the users asked about. */
class MembersOnlyDirectory implements Directory {
  async resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    const users = new Map(USERS.filter((user) => userIds.includes(user.userId)).map((user) => [user.userId, user]));
    const teamIds = new Set([...users.values()].map((user) => user.teamId));
    return { users, teams: new Map(TEAMS.filter((team) => teamIds.has(team.id)).map((team) => [team.id, team])), notes: [] };
  }
  async lookUpTeams(teamIds: readonly string[]) {
    return teamRecords(teamIds);
  }
}

class CountingStore implements RollupStore {
  readonly reads: string[] = [];
  constructor(private readonly inner: RollupStore) {}
  replaceMonth(...args: Parameters<RollupStore['replaceMonth']>) {
    return this.inner.replaceMonth(...args);
  }
  readTeamMonth(month: string, teamId: string) {
    this.reads.push(`${month}|${teamId}`);
    return this.inner.readTeamMonth(month, teamId);
  }
  readMonth(month: string) {
    this.reads.push(`${month}|*`);
    return this.inner.readMonth(month);
  }
}

function line(
  month: string,
  teamId: string,
  userId: string,
  model: string,
  tier: string,
  dayCosts: Record<string, string | null>,
  extra: { allocation?: Allocation; userName?: string } = {},
): MonthlyLine {
  const days = Object.entries(dayCosts).map(([day, cost], index) => ({
    day: `${month}-${day}`,
    tokens: { ...zeroTokens(), input: 1000 * (index + 1), output: 100 * (index + 1) },
    requests: index + 1,
    cost: cost === null ? null : money(cost),
    priceEntryId: cost === null ? null : `${model}@2026-01-01`,
  }));
  const tokens = zeroTokens();
  const unpricedTokens = zeroTokens();
  for (const day of days) {
    tokens.input += day.tokens.input;
    tokens.output += day.tokens.output;
    if (day.cost === null) {
      unpricedTokens.input += day.tokens.input;
      unpricedTokens.output += day.tokens.output;
    }
  }
  const user = USERS.find((candidate) => candidate.userId === userId);
  return {
    month,
    teamId,
    userId,
    model,
    tier,
    allocation: extra.allocation ?? 'team',
    userName: extra.userName ?? user?.displayName ?? '',
    upn: user?.upn ?? '',
    pricedModel: Object.values(dayCosts).every((cost) => cost === null) ? null : model,
    tokens,
    requests: days.reduce((sum, day) => sum + day.requests, 0),
    cost: sumMoney(days.map((day) => day.cost ?? money(0))),
    unpricedTokens,
    currency: 'USD',
    priceEntryIds: days.some((day) => day.cost !== null) ? [`${model}@2026-01-01`] : [],
    days,
  };
}

const OCTOBER: MonthlyLine[] = [
  line('2026-10', 'platform', LEAD, 'claude-sonnet-4-6', 'Claude.Standard', { '01': '0.505', '02': '0.5' }),
  line('2026-10', 'platform', MEMBER, 'claude-sonnet-4-6', 'Claude.Standard', { '01': '1.3333', '03': '1.0001' }),
  line('2026-10', 'platform', MEMBER, 'claude-haiku-4-5', 'Claude.Standard', { '02': '0.3334' }),
  line('2026-10', 'platform', MEMBER, 'claude-preview', 'Claude.Standard', { '04': null }),
  line('2026-10', 'platform', OTHER_MEMBER, 'claude-opus-4-6', 'Claude.Premium', { '01': '5.0005', '02': '5.0005' }),
  line('2026-10', 'platform', MOVED_USER, 'claude-sonnet-4-6', 'Claude.Standard', { '05': '0.777' }),
  line('2026-10', 'data', DATA_USER, 'claude-sonnet-4-6', 'Claude.Standard', { '01': '4.2' }),
  line('2026-10', UNALLOCATED_TEAM, UNKNOWN_USER, 'claude-sonnet-4-6', 'Claude.Standard', { '06': '0.75' }, { allocation: 'unknown-user', userName: '' }),
];
const SEPTEMBER: MonthlyLine[] = [line('2026-09', 'platform', MEMBER, 'claude-sonnet-4-6', 'Claude.Standard', { '10': '9.99' })];

let key: LocalSigningKey;
let otherKey: LocalSigningKey;
let table: TableRollupStore;
let closes: TableCloseRegistry;
let daily: TableDailyRollupStore;
/** The months these tests read are closed: answered from the monthly rollups (month-to-date has its own file). */
const monthStores = () => ({ closes, dailyRollups: daily });

beforeAll(async () => {
  [key, otherKey] = await Promise.all([createLocalSigningKey(), createLocalSigningKey()]);
  const connection = azuriteConnectionString();
  [table, closes, daily] = await Promise.all([
    TableRollupStore.create(tableClientFor(connection, uniqueTableName('httpapi'))),
    TableCloseRegistry.create(tableClientFor(connection, uniqueTableName('httpcloses'))),
    TableDailyRollupStore.create(tableClientFor(connection, uniqueTableName('httpdaily')), tableClientFor(connection, uniqueTableName('httptotals'))),
  ]);
  await table.replaceMonth('2026-10', OCTOBER);
  await table.replaceMonth('2026-09', SEPTEMBER);
  for (const month of ['2026-09', '2026-10']) {
    await closes.put({ month, revision: 1, fingerprint: 'test', closedAt: new Date(`${month}-28T06:00:00Z`), priceBookVersion: 'test', totalMinorUnits: '0', currency: 'USD' });
  }
});

let clock: ReturnType<typeof fixedClock>;
let store: CountingStore;
let directory: FileLikeDirectory;
let services: CostApiServices;
let logs: string[];

function buildServices(dir: Directory = directory, ttlSeconds = 60): CostApiServices {
  return {
    costLookup: cachedCostLookup({ rollups: store, ...monthStores(), directory: dir, clock, settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: ttlSeconds } }),
    accessTokens: localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => clock.now() }),
  };
}

beforeEach(() => {
  clock = fixedClock(NOW);
  store = new CountingStore(table);
  directory = new FileLikeDirectory();
  services = buildServices();
  logs = [];
});

async function token(userId: string, options: Partial<LocalTokenClaims> = {}, signingKey = key): Promise<string> {
  return mintLocalToken(signingKey, { userId, roles: [], tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, issuedAt: clock.now(), ...options });
}

const financeToken = () => token(FINANCE, { roles: [FINANCE_ROLE], upn: 'fiona@contoso.example' });
// The token's UPN differs in case from the directory's lead address on purpose.
const leadToken = () => token(LEAD, { upn: 'Lena.Lead@Contoso.Example' });
const memberToken = () => token(MEMBER, { upn: 'mo@contoso.example' });

async function call(
  handler: Parameters<typeof invoke>[0],
  path: string,
  options: { bearer?: string; authorization?: string; params?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) headers['authorization'] = options.authorization;
  else if (options.bearer !== undefined) headers['authorization'] = `Bearer ${options.bearer}`;
  return invoke(handler, path, { headers, params: options.params ?? {}, log: (line) => logs.push(line) });
}

const teamCosts = (team: string, query = '', options: Parameters<typeof call>[2] = {}) =>
  call(teamCostsHandler(async () => services), `teams/${encodeURIComponent(team)}/costs${query}`, { ...options, params: { team } });
const teams = (query = '', options: Parameters<typeof call>[2] = {}) => call(teamsHandler(async () => services), `teams${query}`, options);
const myCosts = (query = '', options: Parameters<typeof call>[2] = {}) => call(myCostsHandler(async () => services), `me/costs${query}`, options);

const platformExact = sumMoney(OCTOBER.filter((l) => l.teamId === 'platform').map((l) => l.cost));

function expectError(response: Call, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/json');
  expect(Object.keys(response.json)).toEqual(['error']);
  expect(Object.keys(response.json.error).sort()).toEqual(['code', 'message']);
  expect(response.json.error.code).toBe(code);
  expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
}

describe('GET /api/teams/{team}/costs', () => {
  it('shows finance a team in full, rounded once and reconciled', async () => {
    const response = await teamCosts('platform', '?month=2026-10', { bearer: await financeToken() });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('private, no-store');
    const body = response.json;
    expect(body).toMatchObject({ month: '2026-10', team: { id: 'platform', name: 'Platform Engineering' }, currency: 'USD', access: 'finance', view: 'full' });
    expect(body.budget).toBeNull();
    expect(body.forecast).toBeNull();
    expect(body.total.exactAmount).toBe(platformExact.toFixed());
    expect(cents(body.total.amount)).toBe(toMinorUnits(platformExact));
    expect(body.total.users).toBe(4);
    expect(body.breakdown.scope).toBe('team');
    expect(body.breakdown.total.amount).toBe(body.total.amount);
    expect(body.breakdown.byUser.map((user: any) => user.userId).sort()).toEqual([LEAD, MEMBER, OTHER_MEMBER, MOVED_USER].sort());
    expect(body.breakdown.byModel.map((model: any) => model.model)).toEqual(['claude-haiku-4-5', 'claude-opus-4-6', 'claude-preview', 'claude-sonnet-4-6']);
    expect(body.breakdown.byModel.find((model: any) => model.model === 'claude-preview')).toMatchObject({ pricedModel: null, amount: '0.00', unpricedTokens: 1100 });
    expect(body.breakdown.byDay.map((day: any) => day.day)).toEqual(['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05']);
    expect(body.breakdown.lines).toBeNull();
    expectReconciled(body.breakdown);
    expect(body.total.tokens.input).toBe(OCTOBER.filter((l) => l.teamId === 'platform').reduce((sum, l) => sum + l.tokens.input, 0));
  });

  it('shows a lead the team they lead in full, matching the UPN without case', async () => {
    const response = await teamCosts('platform', '?month=2026-10', { bearer: await leadToken() });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ access: 'lead', view: 'full' });
    expect(response.json.breakdown.byUser).toHaveLength(4);
  });

  it('finds the leads of a team the lead is not a member of, with a directory that only returns asked-about teams', async () => {
    services = buildServices(new MembersOnlyDirectory());
    const response = await teamCosts('data', '?month=2026-10', { bearer: await token(DATA_LEAD_OUTSIDER, { upn: 'dora.outsider@contoso.example' }) });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ access: 'lead', team: { id: 'data', name: 'Data Science' } });
  });

  it('refuses a lead another team, and answers exactly the same for a team that does not exist', async () => {
    const other = await teamCosts('data', '?month=2026-10', { bearer: await leadToken() });
    expectError(other, 403, 'FORBIDDEN');
    const missing = await teamCosts('no-such-team', '?month=2026-10', { bearer: await leadToken() });
    expect(missing.status).toBe(403);
    expect(missing.body).toBe(other.body);
    expect(other.body).not.toContain('4.2');
  });

  it('shows a member the team total and only their own lines', async () => {
    const response = await teamCosts('platform', '?month=2026-10', { bearer: await memberToken() });
    expect(response.status).toBe(200);
    const body = response.json;
    expect(body).toMatchObject({ access: 'member', view: 'own-lines-and-team-total' });
    expect(cents(body.total.amount)).toBe(toMinorUnits(platformExact));
    expect(body.breakdown.scope).toBe('caller');
    expect(body.breakdown.byUser.map((user: any) => user.userId)).toEqual([MEMBER]);
    expect(body.breakdown.lines.map((l: any) => l.model).sort()).toEqual(['claude-haiku-4-5', 'claude-preview', 'claude-sonnet-4-6']);
    expectReconciled(body.breakdown);
    // The member's amount is the same figure the lead sees for them.
    const asLead = await teamCosts('platform', '?month=2026-10', { bearer: await leadToken() });
    expect(body.breakdown.total.amount).toBe(asLead.json.breakdown.byUser.find((user: any) => user.userId === MEMBER).amount);
    for (const secret of [LEAD, OTHER_MEMBER, MOVED_USER, 'Lena Lead', 'Olga', 'claude-opus-4-6']) expect(response.body).not.toContain(secret);
  });

  it("decides lead access by the caller's oid: a lead's UPN in a token with another oid gets nothing", async () => {
    const impostor = await teamCosts('platform', '?month=2026-10', { bearer: await token(UNKNOWN_USER, { upn: 'lena.lead@contoso.example', name: 'Lena Lead' }) });
    expectError(impostor, 403, 'FORBIDDEN');
    // A member who renamed themselves to the lead's UPN is still a member.
    const renamed = await teamCosts('platform', '?month=2026-10', { bearer: await token(MEMBER, { upn: 'lena.lead@contoso.example' }) });
    expect(renamed.json).toMatchObject({ access: 'member', view: 'own-lines-and-team-total' });
    // The lead's oid with no UPN at all is the lead.
    const lead = await teamCosts('platform', '?month=2026-10', { bearer: await token(LEAD) });
    expect(lead.json).toMatchObject({ access: 'lead', view: 'full' });
  });

  it('refuses from the directory alone: no storage read for a team the caller may not see, existing or not', async () => {
    const bearer = await leadToken();
    for (const team of ['data', 'no-such-team', 'zz-random-1', 'zz-random-2']) expectError(await teamCosts(team, '?month=2026-10', { bearer }), 403, 'FORBIDDEN');
    expect(store.reads).toEqual([]);
    // Probing ids evicted nothing: the lead's view loaded before is still the one cached.
    await teamCosts('platform', '?month=2026-10', { bearer });
    expect(store.reads).toEqual(['2026-10|*']);
  });

  it("carries the team's cost center from the directory", async () => {
    const data = await teamCosts('data', '?month=2026-10', { bearer: await financeToken() });
    expect(data.json.team).toEqual({ id: 'data', name: 'Data Science', costCenter: 'CC-2002' });
    const platform = await teamCosts('platform', '?month=2026-10', { bearer: await financeToken() });
    expect(platform.json.team.costCenter).toBeNull();
    const list = await teams('?month=2026-10', { bearer: await financeToken() });
    expect(list.json.teams.map((team: any) => [team.teamId, team.costCenter])).toEqual([
      ['data', 'CC-2002'],
      ['platform', null],
      [UNALLOCATED_TEAM, null],
    ]);
    const mine = await myCosts('?month=2026-10', { bearer: await token(DATA_USER) });
    expect(mine.json.byTeam[0]).toMatchObject({ teamId: 'data', costCenter: 'CC-2002' });
  });

  it('keeps the unallocated team for finance only', async () => {
    expectError(await teamCosts(UNALLOCATED_TEAM, '?month=2026-10', { bearer: await leadToken() }), 403, 'FORBIDDEN');
    const response = await teamCosts(UNALLOCATED_TEAM, '?month=2026-10', { bearer: await financeToken() });
    expect(response.status).toBe(200);
    expect(response.json.team).toEqual({ id: UNALLOCATED_TEAM, name: 'Unallocated', costCenter: null });
    expect(response.json.breakdown.byUser[0]).toMatchObject({ userId: UNKNOWN_USER, allocation: 'unknown-user', amount: '0.75' });
  });

  it('answers finance 404 for a team neither the store nor the directory knows, and zeros for a known team without usage', async () => {
    expectError(await teamCosts('no-such-team', '?month=2026-10', { bearer: await financeToken() }), 404, 'NOT_FOUND');
    const quiet = await teamCosts('quiet', '?month=2026-10', { bearer: await financeToken() });
    expect(quiet.status).toBe(200);
    expect(quiet.json).toMatchObject({ team: { id: 'quiet', name: 'Quiet Team' }, currency: null, total: { amount: '0.00', users: 0 } });
  });

  it('refuses OData injection in the team id with 400 before any storage read', async () => {
    for (const team of ["x' or PartitionKey ne '", "platform' or '1' eq '1", 'Platform', '../data', 'a'.repeat(64), '', 'platform~x']) {
      const response = await teamCosts(team, '?month=2026-10', { bearer: await financeToken() });
      expectError(response, 400, 'BAD_REQUEST');
      expect(response.body).not.toContain('PartitionKey');
      expect(response.body).not.toContain('USD');
    }
    expect(store.reads).toEqual([]);
  });

  it('refuses a month that is not YYYY-MM with 400, without echoing it', async () => {
    for (const month of ['2026-13', 'October', '2026-1', "2026-10' or ''='", '']) {
      const response = await teamCosts('platform', `?month=${encodeURIComponent(month)}`, { bearer: await financeToken() });
      expectError(response, 400, 'BAD_REQUEST');
      expect(response.json.error.message).toBe('month must be YYYY-MM, for example 2026-10');
    }
  });

  it('defaults the month to the current month in the reporting time zone', async () => {
    const october = await teamCosts('platform', '', { bearer: await financeToken() });
    expect(october.json.month).toBe('2026-10');
    clock.set('2026-09-30T23:30:00Z');
    const september = await teamCosts('platform', '', { bearer: await financeToken() });
    expect(september.json.month).toBe('2026-09');
    expect(september.json.total.amount).toBe('9.99');
    // Europe/Paris is already in October at 23:30 UTC on 30 September.
    const paris = cachedCostLookup({ rollups: store, ...monthStores(), directory, clock, settings: { timeZone: 'Europe/Paris', roles: {}, cacheTtlSeconds: 60 } });
    services = { ...services, costLookup: paris };
    expect((await teamCosts('platform', '', { bearer: await financeToken() })).json.month).toBe('2026-10');
  });

  it('answers CSV for Accept: text/csv and for format=csv', async () => {
    const viaAccept = await teamCosts('platform', '?month=2026-10', { bearer: await leadToken(), headers: { accept: 'text/csv' } });
    const viaQuery = await teamCosts('platform', '?month=2026-10&format=csv', { bearer: await leadToken() });
    for (const response of [viaAccept, viaQuery]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="team-platform-2026-10-users.csv"');
      // Without ?view= a team answers one row per user: the amounts add up to the team total.
      const users = csvRecords(response.body);
      expect(users).toHaveLength(4);
      expect(users.every((row) => row['month'] === '2026-10' && row['team_id'] === 'platform' && row['team_name'] === 'Platform Engineering')).toBe(true);
      expect(users.reduce((sum, row) => sum + cents(row['amount']!), 0n)).toBe(toMinorUnits(platformExact));
    }
    expect(viaQuery.body).toBe(viaAccept.body);
    const json = await teamCosts('platform', '?month=2026-10', { bearer: await leadToken(), headers: { accept: 'application/json, text/csv;q=0.5' } });
    expect(json.headers.get('content-type')).toContain('application/json');
    expectError(await teamCosts('platform', '?format=xml', { bearer: await leadToken() }), 400, 'BAD_REQUEST');
  });

  it('reads a team-month once per cache TTL', async () => {
    const bearer = await leadToken();
    await teamCosts('platform', '?month=2026-10', { bearer });
    await teamCosts('platform', '?month=2026-10', { bearer });
    await teamCosts('platform', '?month=2026-10', { bearer: await memberToken() });
    // A closed team is its slice of the month's finance report: one read of the month serves every team.
    expect(store.reads).toEqual(['2026-10|*']);
    await teamCosts('data', '?month=2026-10', { bearer: await financeToken() });
    expect(store.reads).toEqual(['2026-10|*']);
    clock.set('2026-10-20T12:01:01Z');
    await teamCosts('platform', '?month=2026-10', { bearer: await token(LEAD, { upn: 'lena.lead@contoso.example' }) });
    expect(store.reads).toEqual(['2026-10|*', '2026-10|*']);
  });
});

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate: Bearer when no token is sent', async () => {
    for (const run of [() => teamCosts('platform'), () => teams(), () => myCosts()]) {
      const response = await run();
      expectError(response, 401, 'UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="llm-chargeback"');
    }
    expect(store.reads).toEqual([]);
  });

  it('refuses expired, wrong-audience, unsigned, foreign-key and non-Bearer tokens without echoing them', async () => {
    const encode = (value: object) => base64url.encode(JSON.stringify(value));
    const now = Math.floor(clock.now().getTime() / 1000);
    const unsigned = `${encode({ alg: 'none', typ: 'JWT' })}.${encode({
      oid: FINANCE,
      tid: LOCAL_TENANT_ID,
      roles: [FINANCE_ROLE],
      aud: LOCAL_AUDIENCE,
      iss: `https://login.microsoftonline.com/${LOCAL_TENANT_ID}/v2.0`,
      iat: now,
      exp: now + 3600,
    })}.`;
    const cases: { authorization: string; reason: string }[] = [
      { authorization: `Bearer ${await token(FINANCE, { roles: [FINANCE_ROLE], issuedAt: new Date(clock.now().getTime() - 2 * 3600_000), expiresInSeconds: 3600 })}`, reason: 'token_expired' },
      { authorization: `Bearer ${await token(FINANCE, { roles: [FINANCE_ROLE], audience: 'api://someone-else' })}`, reason: 'bad_audience' },
      { authorization: `Bearer ${unsigned}`, reason: 'bad_algorithm' },
      { authorization: `Bearer ${await token(FINANCE, { roles: [FINANCE_ROLE] }, otherKey)}`, reason: 'unknown_key' },
      { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, reason: 'bad_scheme' },
    ];
    for (const { authorization, reason } of cases) {
      logs = [];
      const response = await teamCosts('platform', '?month=2026-10', { authorization });
      expectError(response, 401, 'UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="llm-chargeback", error="invalid_token"');
      const secret = authorization.split(' ')[1]!;
      expect(response.body).not.toContain(secret);
      expect(logs.join('\n')).toContain(reason);
      expect(logs.join('\n')).not.toContain(secret);
    }
    expect(store.reads).toEqual([]);
  });

  it('answers 500 without detail when the API has no tenant configured', async () => {
    const { accessTokenVerifierFor } = await import('../../shared/adapters/http/access-tokens.js');
    services = { ...services, accessTokens: accessTokenVerifierFor({ tenantId: null, audiences: [] }) };
    const response = await teamCosts('platform', '', { bearer: await financeToken() });
    expectError(response, 500, 'INTERNAL');
    expect(response.body).not.toContain('AUTH_TENANT_ID');
    expect(logs.join('\n')).toContain('AUTH_TENANT_ID');
  });

  it('answers 503 without storage details when the store fails', async () => {
    const broken: RollupStore = {
      replaceMonth: async () => ({ written: 0, deleted: 0 }),
      readTeamMonth: async () => {
        throw Object.assign(new (await import('../../shared/domain/errors.js')).AppError('STORAGE_FAILED', 'table chargebackRollups at http://10.0.0.1 answered 503', { retryable: true }));
      },
      readMonth: async () => {
        throw new (await import('../../shared/domain/errors.js')).AppError('STORAGE_FAILED', 'table chargebackRollups at http://10.0.0.1 answered 503', { retryable: true });
      },
    };
    services = { ...services, costLookup: cachedCostLookup({ rollups: broken, ...monthStores(), directory, clock, settings: { timeZone: 'UTC', roles: {}, cacheTtlSeconds: 60 } }) };
    const response = await teamCosts('platform', '', { bearer: await financeToken() });
    expectError(response, 503, 'UNAVAILABLE');
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.body).not.toContain('10.0.0.1');
  });
});

describe('GET /api/teams', () => {
  it('lists every team for finance; the team amounts add up to the month total', async () => {
    const response = await teams('?month=2026-10', { bearer: await financeToken() });
    expect(response.status).toBe(200);
    const body = response.json;
    expect(body.teams.map((team: any) => [team.teamId, team.teamName])).toEqual([
      ['data', 'Data Science'],
      ['platform', 'Platform Engineering'],
      [UNALLOCATED_TEAM, 'Unallocated'],
    ]);
    expect(sumOf(body.teams)).toBe(cents(body.total.amount));
    expect(cents(body.total.amount)).toBe(toMinorUnits(sumMoney(OCTOBER.map((l) => l.cost))));
    expect(body.total.users).toBe(6);
    expect(body.teams.every((team: any) => team.budget === null && team.forecast === null)).toBe(true);
    expect(body.teams.find((team: any) => team.teamId === 'platform').exactAmount).toBe(platformExact.toFixed());
  });

  it('refuses leads and members', async () => {
    expectError(await teams('?month=2026-10', { bearer: await leadToken() }), 403, 'FORBIDDEN');
    expectError(await teams('?month=2026-10', { bearer: await memberToken() }), 403, 'FORBIDDEN');
    expect(store.reads).toEqual([]);
  });

  it('answers CSV: one row per team by default, the month total with view=total', async () => {
    const response = await teams('?month=2026-10&format=csv', { bearer: await financeToken() });
    const rows = csvRecords(response.body);
    expect(rows.map((row) => [row['team_id'], row['team_name'], row['cost_center'], row['amount']])).toEqual([
      ['data', 'Data Science', 'CC-2002', '4.20'],
      ['platform', 'Platform Engineering', '', expect.any(String)],
      [UNALLOCATED_TEAM, 'Unallocated', '', '0.75'],
    ]);
    const total = csvRecords((await teams('?month=2026-10&format=csv&view=total', { bearer: await financeToken() })).body);
    expect(total).toHaveLength(1);
    expect(cents(total[0]!['amount']!)).toBe(rows.reduce((sum, row) => sum + cents(row['amount']!), 0n));
  });
});

describe('GET /api/me/costs', () => {
  it("shows the caller's own lines and nobody else's", async () => {
    const response = await myCosts('?month=2026-10', { bearer: await memberToken() });
    expect(response.status).toBe(200);
    const body = response.json;
    expect(body.user).toEqual({ id: MEMBER, name: 'Mo Member', upn: 'mo@contoso.example' });
    expect(body.byTeam).toEqual([expect.objectContaining({ teamId: 'platform', teamName: 'Platform Engineering', allocation: 'team', amount: body.total.amount })]);
    expect(body.lines).toHaveLength(3);
    for (const list of [body.byModel, body.byTier, body.byDay, body.lines]) expect(sumOf(list)).toBe(cents(body.total.amount));
    for (const secret of [LEAD, OTHER_MEMBER, 'claude-opus-4-6']) expect(response.body).not.toContain(secret);
    expect(body.budget).toBeNull();
    expect([...new Set(store.reads)].sort()).toEqual(['2026-10|*']);
  });

  it('finds usage the directory cannot place, in the unallocated team', async () => {
    const response = await myCosts('?month=2026-10', { bearer: await token(UNKNOWN_USER, { upn: 'ghost@contoso.example', name: 'Ghost' }) });
    expect(response.json).toMatchObject({ user: { id: UNKNOWN_USER, name: 'Ghost', upn: 'ghost@contoso.example' }, total: { amount: '0.75' } });
    expect(response.json.byTeam[0]).toMatchObject({ teamId: UNALLOCATED_TEAM, allocation: 'unknown-user' });
  });

  it('finds the lines of a user who changed team after the month was rolled up', async () => {
    const response = await myCosts('?month=2026-10', { bearer: await token(MOVED_USER) });
    expect(response.json.byTeam).toEqual([expect.objectContaining({ teamId: 'platform', amount: '0.78' })]);
    expect(store.reads).toContain('2026-10|*');
  });

  it('answers zeros for a user without usage', async () => {
    const response = await myCosts('?month=2026-10', { bearer: await token(NO_USAGE_USER) });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ total: { amount: '0.00', requests: 0 }, byTeam: [], lines: [], currency: null });
  });

  it('answers CSV and rejects a bad month', async () => {
    const csv = await myCosts('?month=2026-10', { bearer: await memberToken(), headers: { accept: 'text/csv' } });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = csvRecords(csv.body);
    expect(lines.map((row) => [row['user_id'], row['model'], row['priced_as']]).sort()).toEqual([
      [MEMBER, 'claude-haiku-4-5', 'claude-haiku-4-5'],
      [MEMBER, 'claude-preview', 'not priced'],
      [MEMBER, 'claude-sonnet-4-6', 'claude-sonnet-4-6'],
    ]);
    expectError(await myCosts('?month=2026-00', { bearer: await memberToken() }), 400, 'BAD_REQUEST');
  });
});
