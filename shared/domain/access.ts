import { UNALLOCATED_TEAM } from './directory.js';

/**
 * Who is asking, as proven by a verified access token. Defined here rather than in the token adapter so the
 * rules below depend on nothing outside the domain.
 */
export interface Caller {
  /** The Entra object id (`oid`), the same id the gateway records as UserId. */
  readonly userId: string;
  readonly tenantId: string;
  readonly name?: string;
  readonly upn?: string;
  /** App roles assigned to the caller (the token's `roles` claim). */
  readonly roles: readonly string[];
}

/** App role that lets finance see every team's costs. */
export const FINANCE_ROLE = 'Chargeback.Finance';

/**
 * Role names are settings: the app registration may call them something else. Without a lead role, leading
 * a team in the directory is enough; with one, a lead must also hold the role to see the team in full.
 */
export interface AccessRoles {
  readonly finance?: string;
  readonly lead?: string;
}

/** The names the cost lookup reports its views under. */
export type CostView = 'all-teams' | 'team-detail' | 'team-total-and-own-lines';

/** What the directory says about the caller, looked up by the use case before asking these rules. */
export interface CallerTeamFacts {
  readonly teamsLed: readonly string[];
  readonly ownTeam: string | undefined;
}

export type TeamCostsDecision =
  | { readonly view: 'full'; readonly basis: 'finance' | 'lead' }
  /** The team's total plus the caller's own lines; never other users' lines. */
  | { readonly view: 'own-lines-and-team-total'; readonly basis: 'member' }
  | { readonly denied: true; readonly reason: 'not-a-member' | 'unallocated-is-finance-only' };

export type AllTeamsDecision = { readonly view: 'full'; readonly basis: 'finance' } | { readonly denied: true; readonly reason: 'not-finance' };

export type OwnCostsDecision = { readonly view: 'own-lines'; readonly userId: string } | { readonly denied: true; readonly reason: 'no-user-id' };

export function isFinance(caller: Caller, roles: AccessRoles = {}): boolean {
  return caller.roles.includes(roles.finance ?? FINANCE_ROLE);
}

export function authorizeTeamCosts(caller: Caller, teamId: string, facts: CallerTeamFacts, roles: AccessRoles = {}): TeamCostsDecision {
  if (isFinance(caller, roles)) return { view: 'full', basis: 'finance' };
  // Unallocated usage belongs to people the directory cannot place; nobody but finance may browse it.
  if (teamId === UNALLOCATED_TEAM) return { denied: true, reason: 'unallocated-is-finance-only' };
  const holdsLeadRole = roles.lead === undefined || caller.roles.includes(roles.lead);
  if (holdsLeadRole && facts.teamsLed.includes(teamId)) return { view: 'full', basis: 'lead' };
  if (facts.ownTeam === teamId) return { view: 'own-lines-and-team-total', basis: 'member' };
  return { denied: true, reason: 'not-a-member' };
}

export function authorizeAllTeams(caller: Caller, roles: AccessRoles = {}): AllTeamsDecision {
  return isFinance(caller, roles) ? { view: 'full', basis: 'finance' } : { denied: true, reason: 'not-finance' };
}

/** Anyone authenticated may see their own usage, and only their own: the user id comes from the token. */
export function authorizeOwnCosts(caller: Caller): OwnCostsDecision {
  return caller.userId.trim() === '' ? { denied: true, reason: 'no-user-id' } : { view: 'own-lines', userId: caller.userId };
}
