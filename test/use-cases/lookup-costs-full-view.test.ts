import { describe, expect, it } from 'vitest';
import { teamCostsCsv, teamCostsCsvText, teamCostsJson, teamCostsJsonText } from '../../shared/adapters/http/cost-responses.js';
import { FINANCE_ROLE, type Caller } from '../../shared/domain/access.js';
import type { BudgetPlan } from '../../shared/domain/budgets.js';
import type { Team, DirectoryUser } from '../../shared/domain/directory.js';
import { money } from '../../shared/domain/money.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens } from '../../shared/domain/tokens.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { fixedClock, InMemoryCloseRegistry, InMemoryDailyRollupStore, InMemoryRollupStore, StaticDirectory } from '../support/in-memory.js';

const MONTH = '2026-10';
const LEAD = '0b000000-0000-4000-8000-000000000001';
const MEMBER = '0b000000-0000-4000-8000-000000000002';
const OTHER_MEMBER = '0b000000-0000-4000-8000-000000000003';
const FINANCE = '0b000000-0000-4000-8000-000000000004';

const TEAM: Team = { id: 'platform', name: 'Platform', leads: ['lena@contoso.example'], leadIds: [LEAD] };
const USERS: DirectoryUser[] = [
  { userId: LEAD, teamId: 'platform', displayName: 'Lena', upn: 'lena@contoso.example', status: 'member' },
  { userId: MEMBER, teamId: 'platform', displayName: 'Mo', upn: 'mo@contoso.example', status: 'member' },
  { userId: OTHER_MEMBER, teamId: 'platform', displayName: 'Olga', upn: 'olga@contoso.example', status: 'member' },
];

function line(userId: string, cost: string): MonthlyLine {
  const user = USERS.find((candidate) => candidate.userId === userId)!;
  const tokens = { ...zeroTokens(), input: 1000, output: 100 };
  return {
    month: MONTH,
    teamId: 'platform',
    userId,
    model: 'claude-sonnet-4-6',
    tier: 'Claude.Standard',
    allocation: 'team',
    userName: user.displayName,
    upn: user.upn,
    pricedModel: 'claude-sonnet-4-6',
    tokens,
    requests: 3,
    cost: money(cost),
    unpricedTokens: zeroTokens(),
    currency: 'USD',
    priceEntryIds: ['claude-sonnet-4-6@2026-01-01'],
    days: [{ day: '2026-10-05', tokens, requests: 3, cost: money(cost), priceEntryId: 'claude-sonnet-4-6@2026-01-01' }],
  };
}

async function lookupWith(options: { budgets?: () => BudgetPlan } = {}) {
  const rollups = new InMemoryRollupStore();
  await rollups.replaceMonth(MONTH, [line(LEAD, '1.25'), line(MEMBER, '2.50'), line(OTHER_MEMBER, '0.75')]);
  const closes = new InMemoryCloseRegistry();
  await closes.put({ month: MONTH, revision: 1, fingerprint: 'f', closedAt: new Date('2026-11-02T06:00:00Z'), priceBookVersion: 'v', totalMinorUnits: '450', currency: 'USD' });
  const clock = fixedClock('2026-11-10T12:00:00Z');
  const directory = new StaticDirectory({ users: new Map(USERS.map((user) => [user.userId, user])), teams: new Map([[TEAM.id, TEAM]]), notes: [] });
  const budgets = options.budgets;
  const lookup = cachedCostLookup({
    rollups,
    closes,
    dailyRollups: new InMemoryDailyRollupStore(),
    ...(budgets ? { budgets: { source: { load: async () => budgets() }, priceBooks: { load: async () => ({ currency: 'USD' }) as never } } } : {}),
    directory,
    clock,
    settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 60 },
  });
  return { lookup, clock };
}

const finance: Caller = { userId: FINANCE, tenantId: 't', roles: [FINANCE_ROLE], upn: 'fiona@contoso.example' };
const lead: Caller = { userId: LEAD, tenantId: 't', roles: [], upn: 'lena@contoso.example' };
const member: Caller = { userId: MEMBER, tenantId: 't', roles: [], upn: 'mo@contoso.example' };
const otherMember: Caller = { userId: OTHER_MEMBER, tenantId: 't', roles: [], upn: 'olga@contoso.example' };

describe('full team views are built once per cached read', () => {
  it('gives every caller with the same access the same result, and its wire text is the same as building it afresh', async () => {
    const { lookup } = await lookupWith();
    const first = await lookup.teamCosts(finance, { teamId: 'platform', month: MONTH });
    const again = await lookup.teamCosts({ ...finance, userId: '0b000000-0000-4000-8000-0000000000ff' }, { teamId: 'platform', month: MONTH });
    expect(again).toBe(first);
    expect(teamCostsJsonText(first)).toBe(JSON.stringify(teamCostsJson(first)));
    expect(teamCostsJsonText(again)).toBe(teamCostsJsonText(first));
    expect(teamCostsCsvText(first)).toBe(teamCostsCsv(first));
  });

  it('keeps the access basis apart: a lead never gets the finance answer or the other way round', async () => {
    const { lookup } = await lookupWith();
    const asFinance = await lookup.teamCosts(finance, { teamId: 'platform', month: MONTH });
    const asLead = await lookup.teamCosts(lead, { teamId: 'platform', month: MONTH });
    expect(asLead).not.toBe(asFinance);
    expect(JSON.parse(teamCostsJsonText(asLead)).access).toBe('lead');
    expect(JSON.parse(teamCostsJsonText(asFinance)).access).toBe('finance');
    expect(await lookup.teamCosts(lead, { teamId: 'platform', month: MONTH })).toBe(asLead);
  });

  it('builds member views per caller: each member sees only their own lines', async () => {
    const { lookup } = await lookupWith();
    await lookup.teamCosts(lead, { teamId: 'platform', month: MONTH });
    const mine = JSON.parse(teamCostsJsonText(await lookup.teamCosts(member, { teamId: 'platform', month: MONTH })));
    const theirs = JSON.parse(teamCostsJsonText(await lookup.teamCosts(otherMember, { teamId: 'platform', month: MONTH })));
    expect(mine.view).toBe('own-lines-and-team-total');
    expect(mine.breakdown.byUser.map((user: { userId: string }) => user.userId)).toEqual([MEMBER]);
    expect(theirs.breakdown.byUser.map((user: { userId: string }) => user.userId)).toEqual([OTHER_MEMBER]);
    expect(mine.breakdown.total.amount).toBe('2.50');
    expect(theirs.breakdown.total.amount).toBe('0.75');
  });

  it('builds a new result when the budgets change or the cached read expires', async () => {
    let amount = '10';
    const plan = (): BudgetPlan => ({
      currency: 'USD',
      source: 'test',
      budgetsFor: (month) => [{ teamId: 'platform', month, amount: money(amount), currency: 'USD', actualThresholds: [], forecastThresholds: [] }],
    });
    const { lookup, clock } = await lookupWith({ budgets: plan });
    const before = await lookup.teamCosts(finance, { teamId: 'platform', month: MONTH });
    expect(JSON.parse(teamCostsJsonText(before)).budget.amount).toBe('10.00');
    amount = '20';
    // The budget plan is re-read after the TTL; the view too.
    clock.set('2026-11-10T12:01:01Z');
    const after = await lookup.teamCosts(finance, { teamId: 'platform', month: MONTH });
    expect(after).not.toBe(before);
    expect(JSON.parse(teamCostsJsonText(after)).budget.amount).toBe('20.00');
  });
});
