/**
 * The cost API's CSV: one row kind per file (`?view=`), so a SUM over `amount` is the total; unpriced rows say
 * "not priced"; text a spreadsheet would run as a formula is defused, whatever the directory or the gateway
 * called things.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { myCostsHandler } from '../../functions/http-my-costs.js';
import { teamCostsHandler } from '../../functions/http-team-costs.js';
import { teamsHandler } from '../../functions/http-teams.js';
import type { CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { COST_CSV_VIEWS } from '../../shared/adapters/http/cost-responses.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, localVerifier, mintLocalToken, type LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { FINANCE_ROLE } from '../../shared/domain/access.js';
import type { DirectoryUser, Team } from '../../shared/domain/directory.js';
import { money } from '../../shared/domain/money.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens } from '../../shared/domain/tokens.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { csvRecords, parseCsv } from '../support/csv.js';
import { cents, invoke } from '../support/http-api.js';
import { fixedClock, InMemoryCloseRegistry, InMemoryDailyRollupStore, InMemoryRollupStore, StaticDirectory } from '../support/in-memory.js';

const MONTH = '2026-10';
const LEAD = '0d000000-0000-4000-8000-000000000001';
const MEMBER = '0d000000-0000-4000-8000-000000000002';
const FINANCE = '0d000000-0000-4000-8000-000000000003';
const HOSTILE_TEAM_NAME = '=HYPERLINK("http://evil.example","click")';
const HOSTILE_MODEL = '@SUM(1+1)*cmd';
const HOSTILE_TIER = '-2+3';
const HOSTILE_COST_CENTER = '+CC-1';
const HOSTILE_USER_NAME = '\t=1+1';

const TEAM: Team = { id: 'platform', name: HOSTILE_TEAM_NAME, leads: ['lena@contoso.example'], leadIds: [LEAD], costCenter: HOSTILE_COST_CENTER };
const USERS: DirectoryUser[] = [
  { userId: LEAD, teamId: 'platform', displayName: 'Lena', upn: 'lena@contoso.example', status: 'member' },
  { userId: MEMBER, teamId: 'platform', displayName: HOSTILE_USER_NAME, upn: 'mo@contoso.example', status: 'member' },
];

function line(userId: string, model: string, tier: string, cost: string | null, day: string): MonthlyLine {
  const user = USERS.find((candidate) => candidate.userId === userId)!;
  const tokens = { ...zeroTokens(), input: 1000, output: 100 };
  return {
    month: MONTH,
    teamId: 'platform',
    userId,
    model,
    tier,
    allocation: 'team',
    userName: user.displayName,
    upn: user.upn,
    pricedModel: cost === null ? null : model,
    tokens,
    requests: 3,
    cost: money(cost ?? '0'),
    unpricedTokens: cost === null ? tokens : zeroTokens(),
    currency: 'USD',
    priceEntryIds: cost === null ? [] : [`${model}@2026-01-01`],
    days: [{ day, tokens, requests: 3, cost: cost === null ? null : money(cost), priceEntryId: cost === null ? null : `${model}@2026-01-01` }],
  };
}

let key: LocalSigningKey;
let services: CostApiServices;

beforeAll(async () => {
  key = await createLocalSigningKey();
  const rollups = new InMemoryRollupStore();
  await rollups.replaceMonth(MONTH, [
    line(LEAD, 'claude-sonnet-4-6', 'Claude.Standard', '1.333', '2026-10-01'),
    line(LEAD, HOSTILE_MODEL, HOSTILE_TIER, '0.667', '2026-10-02'),
    line(MEMBER, 'claude-sonnet-4-6', 'Claude.Standard', '2.0051', '2026-10-02'),
    line(MEMBER, 'claude-preview', 'Claude.Standard', null, '2026-10-03'),
  ]);
  const closes = new InMemoryCloseRegistry();
  await closes.put({ month: MONTH, revision: 1, fingerprint: 'f', closedAt: new Date('2026-11-02T06:00:00Z'), priceBookVersion: 'v', totalMinorUnits: '401', currency: 'USD' });
  const clock = fixedClock('2026-11-10T12:00:00Z');
  services = {
    costLookup: cachedCostLookup({
      rollups,
      closes,
      dailyRollups: new InMemoryDailyRollupStore(),
      directory: new StaticDirectory({ users: new Map(USERS.map((user) => [user.userId, user])), teams: new Map([[TEAM.id, TEAM]]), notes: [] }),
      clock,
      settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 60 },
    }),
    accessTokens: localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => clock.now() }),
  };
});

async function get(handler: typeof teamsHandler, path: string, userId: string, roles: string[] = [], params: Record<string, string> = {}) {
  const token = await mintLocalToken(key, { userId, roles, tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, issuedAt: new Date('2026-11-10T12:00:00Z') });
  return invoke(handler(async () => services), path, { headers: { authorization: `Bearer ${token}` }, params });
}

const sum = (rows: Record<string, string>[]) => rows.reduce((total, row) => total + cents(row['amount']!), 0n);

describe('the cost API CSV', () => {
  it('gives one row kind per view, each summing to the total', async () => {
    const total = csvRecords((await get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=total`, FINANCE, [FINANCE_ROLE], { team: 'platform' })).body);
    expect(total).toHaveLength(1);
    const teamTotal = cents(total[0]!['amount']!);
    expect(teamTotal).toBe(401n);
    for (const view of ['users', 'models', 'tiers', 'days']) {
      const response = await get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=${view}`, FINANCE, [FINANCE_ROLE], { team: 'platform' });
      expect(response.status, view).toBe(200);
      expect(sum(csvRecords(response.body)), view).toBe(teamTotal);
    }
    const mine = await get(myCostsHandler, `me/costs?month=${MONTH}&format=csv&view=total`, MEMBER);
    const mineTotal = cents(csvRecords(mine.body)[0]!['amount']!);
    for (const view of ['lines', 'teams', 'models', 'tiers', 'days']) {
      expect(sum(csvRecords((await get(myCostsHandler, `me/costs?month=${MONTH}&format=csv&view=${view}`, MEMBER)).body)), view).toBe(mineTotal);
    }
    const teams = csvRecords((await get(teamsHandler, `teams?month=${MONTH}&format=csv`, FINANCE, [FINANCE_ROLE])).body);
    expect(sum(teams)).toBe(cents(csvRecords((await get(teamsHandler, `teams?month=${MONTH}&format=csv&view=total`, FINANCE, [FINANCE_ROLE])).body)[0]!['amount']!));
  });

  it('says "not priced" for a model without a price', async () => {
    const models = csvRecords((await get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=models`, LEAD, [], { team: 'platform' })).body);
    expect(models.find((row) => row['model'] === 'claude-preview')).toMatchObject({ priced_as: 'not priced', amount: '0.00', unpriced_tokens: '1100' });
    const lines = csvRecords((await get(myCostsHandler, `me/costs?month=${MONTH}&format=csv&view=lines`, MEMBER)).body);
    expect(lines.find((row) => row['model'] === 'claude-preview')).toMatchObject({ priced_as: 'not priced', amount: '0.00' });
  });

  it('starts no cell with =, +, -, @, tab or CR, whatever the names', async () => {
    const files = [
      ...COST_CSV_VIEWS['team-costs'].filter((view) => view !== 'lines').map((view) => get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=${view}`, LEAD, [], { team: 'platform' })),
      get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=lines`, MEMBER, [], { team: 'platform' }),
      ...COST_CSV_VIEWS['all-teams'].map((view) => get(teamsHandler, `teams?month=${MONTH}&format=csv&view=${view}`, FINANCE, [FINANCE_ROLE])),
      ...COST_CSV_VIEWS['my-costs'].map((view) => get(myCostsHandler, `me/costs?month=${MONTH}&format=csv&view=${view}`, LEAD)),
      ...COST_CSV_VIEWS['my-costs'].map((view) => get(myCostsHandler, `me/costs?month=${MONTH}&format=csv&view=${view}`, MEMBER)),
    ];
    const cells = (await Promise.all(files)).flatMap((response) => {
      expect(response.status).toBe(200);
      return parseCsv(response.body).flat();
    });
    // The hostile names are there, defused.
    for (const hostile of [HOSTILE_TEAM_NAME, HOSTILE_MODEL, HOSTILE_TIER, HOSTILE_COST_CENTER, HOSTILE_USER_NAME]) expect(cells).toContain(`'${hostile}`);
    const unsafe = cells.filter((cell) => /^[=+\-@\t\r]/.test(cell) && !/^-\d+(\.\d+)?$/.test(cell));
    expect(unsafe).toEqual([]);
  });

  it('refuses an unknown view with 400, naming the views', async () => {
    const response = await get(teamCostsHandler, `teams/platform/costs?month=${MONTH}&format=csv&view=everything`, LEAD, [], { team: 'platform' });
    expect(response.status).toBe(400);
    expect(response.json.error.message).toBe('view must be one of users, total, models, tiers, days, lines');
  });
});
