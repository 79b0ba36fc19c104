import { describe, expect, it } from 'vitest';
import { authorizeAllTeams, authorizeOwnCosts, authorizeTeamCosts, FINANCE_ROLE, isFinance } from '../../shared/domain/access.js';
import type { Caller } from '../../shared/domain/access.js';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';

const TENANT = '00000000-0000-0000-0000-000000000001';
const caller = (roles: string[] = [], userId = '11111111-1111-1111-1111-111111111111'): Caller => ({ userId, tenantId: TENANT, roles });
const noTeams = { teamsLed: [], ownTeam: undefined };

describe('authorizeTeamCosts', () => {
  it('lets finance see any team in full, even one it is not in', () => {
    expect(authorizeTeamCosts(caller([FINANCE_ROLE]), 'platform', noTeams)).toEqual({ view: 'full', basis: 'finance' });
  });

  it('lets finance see the unallocated team', () => {
    expect(authorizeTeamCosts(caller([FINANCE_ROLE]), UNALLOCATED_TEAM, noTeams)).toEqual({ view: 'full', basis: 'finance' });
  });

  it('honours a renamed finance role and ignores the default name then', () => {
    const roles = { finance: 'Costs.Admin' };
    expect(authorizeTeamCosts(caller(['Costs.Admin']), 'platform', noTeams, roles)).toEqual({ view: 'full', basis: 'finance' });
    expect(authorizeTeamCosts(caller([FINANCE_ROLE]), 'platform', noTeams, roles)).toEqual({ denied: true, reason: 'not-a-member' });
  });

  it('lets a lead see a team they lead in full, with no lead role configured', () => {
    const facts = { teamsLed: ['platform', 'data'], ownTeam: 'platform' };
    expect(authorizeTeamCosts(caller(), 'data', facts)).toEqual({ view: 'full', basis: 'lead' });
    expect(authorizeTeamCosts(caller(), 'platform', facts)).toEqual({ view: 'full', basis: 'lead' });
  });

  it('requires the lead role when one is configured', () => {
    const roles = { lead: 'Chargeback.Lead' };
    const facts = { teamsLed: ['data'], ownTeam: 'data' };
    expect(authorizeTeamCosts(caller(['Chargeback.Lead']), 'data', facts, roles)).toEqual({ view: 'full', basis: 'lead' });
    // Without the role a lead is just a member of their own team...
    expect(authorizeTeamCosts(caller(), 'data', facts, roles)).toEqual({ view: 'own-lines-and-team-total', basis: 'member' });
    // ...and of nothing else.
    expect(authorizeTeamCosts(caller(), 'data', { teamsLed: ['data'], ownTeam: 'web' }, roles)).toEqual({ denied: true, reason: 'not-a-member' });
  });

  it('does not let the lead role alone open a team the caller does not lead', () => {
    const roles = { lead: 'Chargeback.Lead' };
    expect(authorizeTeamCosts(caller(['Chargeback.Lead']), 'data', { teamsLed: ['web'], ownTeam: 'web' }, roles)).toEqual({
      denied: true,
      reason: 'not-a-member',
    });
  });

  it('gives a member of the team the team total and their own lines only', () => {
    expect(authorizeTeamCosts(caller(), 'web', { teamsLed: [], ownTeam: 'web' })).toEqual({ view: 'own-lines-and-team-total', basis: 'member' });
  });

  it('denies another team to a member and to a lead of a different team', () => {
    expect(authorizeTeamCosts(caller(), 'data', { teamsLed: [], ownTeam: 'web' })).toEqual({ denied: true, reason: 'not-a-member' });
    expect(authorizeTeamCosts(caller(), 'data', { teamsLed: ['web'], ownTeam: 'web' })).toEqual({ denied: true, reason: 'not-a-member' });
  });

  it('denies a caller the directory does not know', () => {
    expect(authorizeTeamCosts(caller(), 'web', noTeams)).toEqual({ denied: true, reason: 'not-a-member' });
  });

  it('keeps the unallocated team finance-only, whatever the directory facts say', () => {
    const facts = { teamsLed: [UNALLOCATED_TEAM], ownTeam: UNALLOCATED_TEAM };
    expect(authorizeTeamCosts(caller(), UNALLOCATED_TEAM, facts)).toEqual({ denied: true, reason: 'unallocated-is-finance-only' });
  });

  it('compares team ids and role names exactly', () => {
    expect(authorizeTeamCosts(caller(), 'Web', { teamsLed: ['web'], ownTeam: 'web' })).toEqual({ denied: true, reason: 'not-a-member' });
    expect(authorizeTeamCosts(caller(['chargeback.finance']), 'web', noTeams)).toEqual({ denied: true, reason: 'not-a-member' });
  });
});

describe('authorizeAllTeams', () => {
  it('allows finance only', () => {
    expect(authorizeAllTeams(caller([FINANCE_ROLE]))).toEqual({ view: 'full', basis: 'finance' });
    expect(authorizeAllTeams(caller(['Chargeback.Lead', 'Claude.Premium']))).toEqual({ denied: true, reason: 'not-finance' });
    expect(authorizeAllTeams(caller())).toEqual({ denied: true, reason: 'not-finance' });
  });

  it('uses the configured finance role name', () => {
    expect(authorizeAllTeams(caller(['Costs.Admin']), { finance: 'Costs.Admin' })).toEqual({ view: 'full', basis: 'finance' });
    expect(isFinance(caller([FINANCE_ROLE]), { finance: 'Costs.Admin' })).toBe(false);
  });
});

describe('authorizeOwnCosts', () => {
  it('allows any authenticated caller their own lines, keyed by the token user id', () => {
    expect(authorizeOwnCosts(caller([], 'abc'))).toEqual({ view: 'own-lines', userId: 'abc' });
  });

  it('denies a caller without a user id', () => {
    expect(authorizeOwnCosts(caller([], ' '))).toEqual({ denied: true, reason: 'no-user-id' });
  });
});
