/** How a usage row's user was attributed to a team. Anything but 'team' lands in the unallocated team. */
export type Allocation = 'team' | 'no-user-id' | 'unknown-user' | 'former-user';

/** Reserved team id for usage no team can be charged for. Real team ids start with a letter or digit. */
export const UNALLOCATED_TEAM = '_unallocated';
export const UNALLOCATED_TEAM_NAME = 'Unallocated';

export interface DirectoryUser {
  readonly userId: string;
  readonly teamId: string;
  readonly displayName: string;
  readonly upn: string;
  /** member: an ordinary account; guest: a B2B guest; former: deleted or disabled (kept for audit). */
  readonly status: 'member' | 'guest' | 'former';
}

export interface Team {
  readonly id: string;
  readonly name: string;
  /** Mail addresses of the team's leads: who gets the team's reports and budget alerts. */
  readonly leads: readonly string[];
  /**
   * Entra object ids (`oid`) of the leads: what the cost API authorizes a lead by. Names and mail addresses
   * can be changed by their owners; the oid cannot. Absent or empty: nobody may see the team as its lead.
   */
  readonly leadIds?: readonly string[];
  readonly costCenter?: string;
}

/** What the directory knew about a set of users at one moment. */
export interface DirectoryResolution {
  readonly users: ReadonlyMap<string, DirectoryUser>;
  readonly teams: ReadonlyMap<string, Team>;
  /** Things a run report should mention: a user in two teams, a team with no lead, and so on. */
  readonly notes: readonly string[];
}

export const TEAM_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function isValidTeamId(value: string): boolean {
  return TEAM_ID.test(value);
}

/** The team a user's usage is charged to, and why. */
export function allocate(userId: string, directory: DirectoryResolution): { teamId: string; allocation: Allocation; user?: DirectoryUser } {
  if (userId.trim() === '') return { teamId: UNALLOCATED_TEAM, allocation: 'no-user-id' };
  // Entra oids are GUIDs; a gateway or export that changed their case must not make a known user unknown.
  const user = directory.users.get(userId) ?? directory.users.get(userId.toLowerCase());
  if (!user) return { teamId: UNALLOCATED_TEAM, allocation: 'unknown-user' };
  if (user.status === 'former') return { teamId: UNALLOCATED_TEAM, allocation: 'former-user', user };
  if (!directory.teams.has(user.teamId)) return { teamId: UNALLOCATED_TEAM, allocation: 'unknown-user', user };
  return { teamId: user.teamId, allocation: 'team', user };
}

/** Whether this oid leads the team, by the directory's lead oids (GUIDs compared without case). */
export function isLeadOf(team: Team | undefined, userId: string): boolean {
  const id = userId.trim().toLowerCase();
  return id !== '' && (team?.leadIds ?? []).some((leadId) => leadId.trim().toLowerCase() === id);
}
