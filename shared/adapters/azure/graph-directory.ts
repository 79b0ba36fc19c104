import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphError, type Client, type GraphRequest } from '@microsoft/microsoft-graph-client';
import {
  isValidTeamId,
  UNALLOCATED_TEAM,
  type DirectoryResolution,
  type DirectoryUser,
  type Team,
} from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import type { CallOptions, Directory } from '../../ports/directory.js';
import { graphHeaderOf as headerOf, graphStatusOf as statusOf, isTransientGraphStatus as isTransient, retryDelayMs } from './graph-retry.js';

/**
 * How a user's team is found in Entra ID.
 * - group-prefix: membership of groups whose displayName starts with `prefix` (case-insensitive, as Graph's
 *   startswith is); the team id is the slug of the rest of the name, leads are the group's owners.
 *   `membership: 'transitive'` also counts members of nested groups.
 * - department / cost-center: the user's `department` / `employeeOrgData.costCenter`; leads come from overrides.
 */
export type TeamStrategy =
  | { readonly kind: 'group-prefix'; readonly prefix: string; readonly membership?: 'direct' | 'transitive' }
  | { readonly kind: 'department' }
  | { readonly kind: 'cost-center' };

/** Hand-maintained corrections (parsed from a file elsewhere); they win over whatever the strategy says. */
export interface MappingOverrides {
  /** oid -> team id. `_unallocated` deliberately charges nobody. */
  readonly users: Readonly<Record<string, string>>;
  /** team id -> lead mail addresses; replaces the group owners. */
  readonly teamLeads: Readonly<Record<string, readonly string[]>>;
  readonly teamNames?: Readonly<Record<string, string>>;
}

export interface GraphDirectoryStats {
  /** Every HTTP request sent to Graph, retries included. */
  calls: number;
  /** GETs of collection pages (groups, members, owners, users). */
  listCalls: number;
  /** POSTs to /$batch, retries included. */
  batchCalls: number;
  /** Sub-requests sent inside batches, resent ones included. */
  batchSubRequests: number;
  /** Sub-responses that came back 429 or 5xx and were rescheduled or given up. */
  throttledSubRequests: number;
  /** Whole calls (list or batch) repeated after 429/5xx. */
  retriedCalls: number;
}

export interface GraphDirectoryOptions {
  /** Built by the caller (graphClientFor); best without the SDK's RetryHandler so retries are counted once. */
  readonly client: Client;
  readonly strategy: TeamStrategy;
  readonly overrides?: MappingOverrides;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Clock used to honour each throttled sub-request's own Retry-After; tests pair it with `sleep`. */
  readonly now?: () => number;
  readonly log?: (message: string) => void;
  /** Attempts per list call or $batch envelope before giving up (default 5). */
  readonly maxCallAttempts?: number;
  /** Attempts per $batch sub-request before its oid is reported unresolved (default 5). */
  readonly maxSubRequestAttempts?: number;
  /**
   * Disabled accounts: 'former' (default) follows the domain's reading (former = deleted or disabled, so their
   * usage goes to unallocated); 'member' charges their team as usual. Either way the run report gets a note.
   */
  readonly disabledAccounts?: 'former' | 'member';
  /**
   * department / cost-center only: with at most this many oids to resolve, look them up through $batch instead
   * of listing the whole tenant (default 200, i.e. at most 10 batch calls against ceil(tenant/999) pages).
   */
  readonly batchOnlyUpTo?: number;
}

const USER_FIELDS = 'id,displayName,userPrincipalName,mail,userType,accountEnabled';
const ORG_USER_FIELDS = `${USER_FIELDS},department,employeeOrgData`;
const OWNER_FIELDS = 'id,mail,userPrincipalName';
const PAGE_SIZE = 999;
const BATCH_LIMIT = 20;
const NOTE_SAMPLE = 20;
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const PERMISSION = {
  groups: 'GroupMember.Read.All',
  users: 'User.Read.All',
  servicePrincipals: 'Application.Read.All',
} as const;

const SERVICE_PRINCIPAL_FIELDS = 'id,appId,displayName,tags,accountEnabled';
/** A service principal tagged `chargeback-team:<team>` is charged to that team (before its owners' team). */
const TEAM_TAG = /^chargeback-team:(.+)$/i;

interface GraphServicePrincipal {
  readonly id: string;
  readonly appId?: string | null;
  readonly displayName?: string | null;
  readonly tags?: readonly string[] | null;
}

/** An automation identity (CI, agent) found at /servicePrincipals/{id}, and the team it was traced to. */
interface FoundServicePrincipal {
  readonly principal: GraphServicePrincipal;
  readonly teamId: string | undefined;
}

interface GraphUser {
  readonly id: string;
  readonly displayName?: string | null;
  readonly userPrincipalName?: string | null;
  readonly mail?: string | null;
  readonly userType?: string | null;
  readonly accountEnabled?: boolean | null;
  readonly department?: string | null;
  readonly employeeOrgData?: { readonly costCenter?: string | null } | null;
}

interface GraphPage<T> {
  readonly value?: readonly T[];
  readonly '@odata.nextLink'?: string;
}

interface TeamGroup {
  readonly groupId: string;
  readonly teamId: string;
  readonly name: string;
}

interface SubRequest {
  readonly key: string;
  readonly url: string;
}

interface SubResponse {
  readonly id?: string;
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

interface BatchOutcome {
  readonly results: Map<string, { status: number; body: unknown }>;
  /** key -> why it stayed unresolved. */
  readonly unresolved: Map<string, string>;
}

/** What one resolve() learned before building the resolution. */
/**
 * The caller's AbortSignal for the Graph requests of one resolve() or lookUpTeams(), however deep in the paging
 * and batching they are made: a cost API request that gives up cancels them instead of leaving them running.
 */
const callerSignal = new AsyncLocalStorage<AbortSignal | undefined>();

function abortedError(signal: AbortSignal): unknown {
  return signal.reason ?? new AppError('TIMEOUT', 'the Graph call was given up', { retryable: true });
}

interface Findings {
  /** lower-case oid -> the Graph user (requested users only). */
  readonly users: Map<string, GraphUser>;
  /** lower-case oid -> team ids from group membership (group-prefix only). */
  readonly memberships: Map<string, Set<string>>;
  readonly teamGroups: Map<string, TeamGroup[]>;
  /** lower-case oid -> what deletedItems said (or null when it is gone for good). */
  readonly deleted: Map<string, GraphUser | null>;
  /** lower-case oid -> service principals (oids that are not users: app-only tokens carry them too). */
  readonly servicePrincipals: Map<string, FoundServicePrincipal>;
  readonly notes: string[];
}

/**
 * Entra ID as the directory, for tens of thousands of users: bulk listings with $select and 999-item pages
 * first, then only the oids the listings did not cover through $batch (20 per call).
 *
 * Deterministic choices, so a rerun charges the same team:
 * - a user in several team groups is charged to the team whose id sorts first, unless overridden; the
 *   resolution gets a note naming the user and every team;
 * - a user found in no team (no team group, no department...) is kept with team `_unallocated` and counted in
 *   a note; an oid Graph answers 404 for is a deleted user: status 'former', looked up in deletedItems for a
 *   name to audit by;
 * - guests (userType Guest) are status 'guest' and charged like members;
 * - oids still unresolved after bounded retries are left out of `users` (so they count as unknown, i.e.
 *   unallocated) and listed in a note; the run never fails for them.
 * Failures of the bulk listings cannot be worked around (a team would silently shrink), so they raise
 * AppError: DIRECTORY_INVALID for missing permissions or bad settings, THROTTLED / INTERNAL (retryable).
 */
export class GraphDirectory implements Directory {
  private readonly client: Client;
  private readonly strategy: TeamStrategy;
  private readonly overrides: MappingOverrides;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly log: (message: string) => void;
  private readonly maxCallAttempts: number;
  private readonly maxSubRequestAttempts: number;
  private readonly disabledAccounts: 'former' | 'member';
  private readonly batchOnlyUpTo: number;
  private readonly counters: GraphDirectoryStats = emptyStats();
  /** lower-case oid -> team id, because Graph ids are lower-case but a file may not be. */
  private readonly userOverrides: Map<string, string>;

  constructor(options: GraphDirectoryOptions) {
    this.client = options.client;
    this.strategy = validateStrategy(options.strategy);
    this.overrides = validateOverrides(options.overrides ?? { users: {}, teamLeads: {} });
    this.userOverrides = new Map(Object.entries(this.overrides.users).map(([oid, teamId]) => [oid.toLowerCase(), teamId]));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.maxCallAttempts = Math.max(1, options.maxCallAttempts ?? 5);
    this.maxSubRequestAttempts = Math.max(1, options.maxSubRequestAttempts ?? 5);
    this.disabledAccounts = options.disabledAccounts ?? 'former';
    this.batchOnlyUpTo = options.batchOnlyUpTo ?? 200;
  }

  /** Graph HTTP calls made by this instance so far (all resolve() calls). */
  get callCount(): number {
    return this.counters.calls;
  }

  get stats(): Readonly<GraphDirectoryStats> {
    return { ...this.counters };
  }

  async resolve(userIds: readonly string[], options: CallOptions = {}): Promise<DirectoryResolution> {
    return callerSignal.run(options.signal, () => this.resolveIds(userIds, { servicePrincipals: true }));
  }

  /** `servicePrincipals: false` when resolving the owners of service principals, so the lookup never recurses. */
  private async resolveIds(userIds: readonly string[], options: { servicePrincipals: boolean }): Promise<DirectoryResolution> {
    const requested = new Map<string, string>();
    for (const userId of userIds) {
      if (userId.trim() !== '') requested.set(userId.toLowerCase(), userId);
    }
    const findings: Findings = { users: new Map(), memberships: new Map(), teamGroups: new Map(), deleted: new Map(), servicePrincipals: new Map(), notes: [] };
    if (requested.size === 0) return { users: new Map(), teams: new Map(), notes: [] };

    if (this.strategy.kind === 'group-prefix') {
      await this.readTeamGroups(this.strategy, requested, findings);
    } else if (requested.size > this.batchOnlyUpTo) {
      await this.readAllUsers(requested, findings);
    }
    await this.lookUpLeftovers(requested, findings, options);

    const users = this.directoryUsers(requested, findings);
    const teams = await this.teamsOf(users, findings);
    this.log(`graph directory: ${users.size}/${requested.size} users, ${teams.size} teams, ${this.counters.calls} Graph calls so far`);
    return { users, teams, notes: findings.notes };
  }

  /**
   * Team records by id, whoever is in them: with group-prefix, the team groups and their owners (leads by
   * mail and by oid); otherwise only what the overrides name (leads then come from the overrides alone).
   */
  async lookUpTeams(teamIds: readonly string[], options: CallOptions = {}): Promise<ReadonlyMap<string, Team>> {
    return callerSignal.run(options.signal, () => this.lookUpAllTeams(teamIds));
  }

  private async lookUpAllTeams(teamIds: readonly string[]): Promise<ReadonlyMap<string, Team>> {
    const wanted = new Set(teamIds);
    const teams = new Map<string, Team>();
    if (this.strategy.kind === 'group-prefix') {
      const findings: Findings = { users: new Map(), memberships: new Map(), teamGroups: new Map(), deleted: new Map(), servicePrincipals: new Map(), notes: [] };
      await this.listTeamGroups(this.strategy, findings);
      for (const [teamId, groups] of findings.teamGroups) {
        if (!wanted.has(teamId)) continue;
        const owners = await this.ownersOf(groups);
        const overridden = this.overrides.teamLeads[teamId];
        teams.set(teamId, {
          id: teamId,
          name: this.overrides.teamNames?.[teamId] ?? groups[0]?.name ?? teamId,
          leads: [...(overridden ?? owners.addresses)],
          ...(overridden ? {} : { leadIds: owners.ids }),
        });
      }
      return teams;
    }
    for (const teamId of wanted) {
      const leads = this.overrides.teamLeads[teamId];
      const name = this.overrides.teamNames?.[teamId];
      if (leads !== undefined || name !== undefined) teams.set(teamId, { id: teamId, name: name ?? teamId, leads: [...(leads ?? [])] });
    }
    return teams;
  }

  private async readTeamGroups(strategy: Extract<TeamStrategy, { kind: 'group-prefix' }>, requested: Map<string, string>, findings: Findings): Promise<void> {
    await this.listTeamGroups(strategy, findings);
    await this.readTeamMembers(strategy, requested, findings);
  }

  private async listTeamGroups(strategy: Extract<TeamStrategy, { kind: 'group-prefix' }>, findings: Findings): Promise<void> {
    const literal = encodeURIComponent(strategy.prefix.replace(/'/g, "''"));
    const groups: { id: string; displayName?: string | null }[] = [];
    await this.listAll<{ id: string; displayName?: string | null }>(
      `/groups?$filter=startswith(displayName,'${literal}')&$select=id,displayName&$top=${PAGE_SIZE}`,
      'list the team groups',
      PERMISSION.groups,
      (page) => groups.push(...page),
    );

    const prefix = strategy.prefix.toLowerCase();
    const sorted = groups
      .filter((group) => (group.displayName ?? '').toLowerCase().startsWith(prefix))
      .sort((a, b) => compare(a.displayName ?? '', b.displayName ?? '') || compare(a.id, b.id));
    const unusable: string[] = [];
    for (const group of sorted) {
      const name = group.displayName ?? '';
      const teamId = teamIdFromName(name.slice(strategy.prefix.length));
      if (teamId === undefined) {
        unusable.push(`"${name}"`);
        continue;
      }
      const existing = findings.teamGroups.get(teamId);
      if (existing) {
        findings.notes.push(`Groups ${[...existing.map((g) => `"${g.name}"`), `"${name}"`].join(', ')} all map to team "${teamId}"; their members and owners are merged.`);
        existing.push({ groupId: group.id, teamId, name });
      } else {
        findings.teamGroups.set(teamId, [{ groupId: group.id, teamId, name }]);
      }
    }
    if (unusable.length > 0) {
      findings.notes.push(`Ignored ${unusable.length} group(s) whose name after "${strategy.prefix}" gives no valid team id: ${sample(unusable)}.`);
    }
  }

  private async readTeamMembers(strategy: Extract<TeamStrategy, { kind: 'group-prefix' }>, requested: Map<string, string>, findings: Findings): Promise<void> {

    const relation = strategy.membership === 'transitive' ? 'transitiveMembers' : 'members';
    for (const [teamId, teamGroups] of findings.teamGroups) {
      for (const group of teamGroups) {
        await this.listAll<GraphUser>(
          `/groups/${encodeURIComponent(group.groupId)}/${relation}/microsoft.graph.user?$select=${USER_FIELDS}&$top=${PAGE_SIZE}`,
          `list the members of group "${group.name}"`,
          PERMISSION.groups,
          (page) => {
            for (const member of page) {
              const key = member.id.toLowerCase();
              if (!requested.has(key)) continue;
              findings.users.set(key, member);
              const teams = findings.memberships.get(key) ?? new Set<string>();
              teams.add(teamId);
              findings.memberships.set(key, teams);
            }
          },
        );
      }
    }
  }

  private async readAllUsers(requested: Map<string, string>, findings: Findings): Promise<void> {
    await this.listAll<GraphUser>(`/users?$select=${ORG_USER_FIELDS}&$top=${PAGE_SIZE}`, 'list the users', PERMISSION.users, (page) => {
      for (const user of page) {
        const key = user.id.toLowerCase();
        if (requested.has(key)) findings.users.set(key, user);
      }
    });
  }

  /** The oids the bulk listings did not cover: one by one, 20 per $batch; 404s are then checked in deletedItems. */
  private async lookUpLeftovers(requested: Map<string, string>, findings: Findings, options: { servicePrincipals: boolean }): Promise<void> {
    const fields = this.strategy.kind === 'group-prefix' ? USER_FIELDS : ORG_USER_FIELDS;
    const leftovers = [...requested.keys()].filter((key) => !findings.users.has(key));
    const notObjectIds = leftovers.filter((key) => !OBJECT_ID.test(key));
    if (notObjectIds.length > 0) {
      findings.notes.push(`${notObjectIds.length} user id(s) are not Entra object ids and were not looked up (unallocated): ${sample(notObjectIds.map((key) => requested.get(key) ?? key))}.`);
    }
    const lookups = leftovers.filter((key) => OBJECT_ID.test(key)).map((key) => ({ key, url: `/users/${key}?$select=${fields}` }));
    if (lookups.length === 0) return;

    const found = await this.runBatches(lookups, PERMISSION.users);
    const missing: string[] = [];
    for (const [key, result] of found.results) {
      if (result.status === 200) findings.users.set(key, result.body as GraphUser);
      else missing.push(key);
    }

    const principals = options.servicePrincipals && missing.length > 0 ? await this.lookUpServicePrincipals(missing, requested, findings) : new Set<string>();
    const gone = missing.filter((key) => !principals.has(key));
    if (gone.length > 0) {
      // Only for a name to audit by: whatever deletedItems answers (even nothing), 404 on /users already said "gone".
      const deleted = await this.runBatches(gone.map((key) => ({ key, url: `/directory/deletedItems/${key}` })), PERMISSION.users);
      for (const key of gone) {
        const result = deleted.results.get(key);
        findings.deleted.set(key, result?.status === 200 ? (result.body as GraphUser) : null);
      }
    }
    const unresolved = found.unresolved;
    if (unresolved.size > 0) {
      const reasons = [...unresolved].map(([key, why]) => `${requested.get(key) ?? key} (${why})`);
      findings.notes.push(`${unresolved.size} user(s) could not be looked up in Graph and are left unallocated: ${sample(reasons)}.`);
    }
  }

  /**
   * The oids /users answered 404 for may be service principals (CI pipelines, agents: app-only tokens carry
   * an oid too). Each is charged to, in order: its override, its `chargeback-team:<team>` tag, the team of its
   * first owner (by oid) who has one. Returns the keys that were service principals; the rest are deleted users.
   * Without Application.Read.All the lookup is skipped with a note, and they stay unallocated as before.
   */
  private async lookUpServicePrincipals(keys: readonly string[], requested: Map<string, string>, findings: Findings): Promise<Set<string>> {
    const lookups = keys.map((key) => ({ key, url: `/servicePrincipals/${key}?$select=${SERVICE_PRINCIPAL_FIELDS}` }));
    let found: BatchOutcome;
    try {
      found = await this.runBatches(lookups, PERMISSION.servicePrincipals);
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'DIRECTORY_INVALID') throw error;
      findings.notes.push(`Service principals could not be looked up (${error.message}); oids that are not users are left unallocated.`);
      return new Set();
    }
    const principals = new Map<string, GraphServicePrincipal>();
    for (const [key, result] of found.results) if (result.status === 200) principals.set(key, result.body as GraphServicePrincipal);

    const tagged = new Map<string, string>();
    for (const [key, principal] of principals) {
      const tag = (principal.tags ?? []).map((t) => TEAM_TAG.exec(t)?.[1]).find((value) => value !== undefined);
      const teamId = tag === undefined ? undefined : teamIdFromName(tag);
      if (teamId !== undefined) tagged.set(key, teamId);
    }
    const needOwners = [...principals.keys()].filter((key) => this.overrideFor(key) === undefined && !tagged.has(key));
    const ownersOf = new Map<string, string[]>();
    if (needOwners.length > 0) {
      const owners = await this.runBatches(needOwners.map((key) => ({ key, url: `/servicePrincipals/${key}/owners?$select=id` })), PERMISSION.servicePrincipals);
      for (const [key, result] of owners.results) {
        const value = (result.body as GraphPage<{ id: string; '@odata.type'?: string }> | undefined)?.value ?? [];
        const people = value.filter((owner) => (owner['@odata.type'] ?? '#microsoft.graph.user') === '#microsoft.graph.user').map((owner) => owner.id.toLowerCase());
        ownersOf.set(key, [...new Set(people)].sort(compare));
      }
    }
    const allOwners = [...new Set([...ownersOf.values()].flat())];
    const ownerResolution = allOwners.length > 0 ? await this.resolveIds(allOwners, { servicePrincipals: false }) : undefined;
    const ownerTeam = (ownerId: string): string | undefined => {
      const owner = [...(ownerResolution?.users.values() ?? [])].find((user) => user.userId.toLowerCase() === ownerId);
      return owner === undefined || owner.status === 'former' || owner.teamId === UNALLOCATED_TEAM ? undefined : owner.teamId;
    };

    for (const [key, principal] of principals) {
      const owners = ownersOf.get(key) ?? [];
      const ownerTeams = owners.map(ownerTeam).filter((team): team is string => team !== undefined);
      const teamId = tagged.get(key) ?? ownerTeams[0];
      if (new Set(ownerTeams).size > 1 && !tagged.has(key)) {
        findings.notes.push(`Service principal ${describePrincipal(requested.get(key) ?? key, principal)} has owners in several teams (${[...new Set(ownerTeams)].join(', ')}); charged to "${teamId}", its first owner's team. Tag it chargeback-team:<team> or add an override to choose another.`);
      }
      findings.servicePrincipals.set(key, { principal, teamId });
    }
    if (found.unresolved.size > 0) {
      findings.notes.push(`${found.unresolved.size} oid(s) could not be checked as service principals: ${sample([...found.unresolved].map(([key, why]) => `${key} (${why})`))}.`);
    }
    return new Set([...principals.keys(), ...found.unresolved.keys()]);
  }

  private directoryUsers(requested: Map<string, string>, findings: Findings): Map<string, DirectoryUser> {
    const users = new Map<string, DirectoryUser>();
    const withoutTeam: string[] = [];
    const disabled: string[] = [];
    const principalsWithoutTeam: string[] = [];
    for (const [key, userId] of requested) {
      const override = this.overrideFor(key);
      const principal = findings.servicePrincipals.get(key);
      if (principal !== undefined) {
        // An automation identity is never a "former user": it is charged to a team or plainly unallocated.
        const teamId = override ?? principal.teamId;
        if (teamId === undefined) principalsWithoutTeam.push(describePrincipal(userId, principal.principal));
        users.set(userId, {
          userId,
          teamId: teamId ?? UNALLOCATED_TEAM,
          displayName: principal.principal.displayName ?? '(service principal)',
          upn: '',
          status: 'member',
        });
        continue;
      }
      const gone = findings.deleted.get(key);
      if (findings.deleted.has(key)) {
        users.set(userId, {
          userId,
          teamId: override ?? UNALLOCATED_TEAM,
          displayName: gone?.displayName ?? '(deleted user)',
          upn: gone?.userPrincipalName ?? '',
          status: 'former',
        });
        continue;
      }
      const user = findings.users.get(key);
      if (!user) continue;
      const label = describeUser(userId, user);
      const teamId = override ?? this.strategyTeam(key, label, user, findings);
      if (teamId === undefined) withoutTeam.push(label);
      const isDisabled = user.accountEnabled === false;
      if (isDisabled) disabled.push(label);
      users.set(userId, {
        userId,
        teamId: teamId ?? UNALLOCATED_TEAM,
        displayName: user.displayName ?? '',
        upn: user.userPrincipalName ?? '',
        status: isDisabled && this.disabledAccounts === 'former' ? 'former' : user.userType?.toLowerCase() === 'guest' ? 'guest' : 'member',
      });
    }
    if (withoutTeam.length > 0) {
      findings.notes.push(`${withoutTeam.length} user(s) belong to no team (${this.strategyLabel()}) and are unallocated: ${sample(withoutTeam)}.`);
    }
    if (principalsWithoutTeam.length > 0) {
      findings.notes.push(
        `${principalsWithoutTeam.length} service principal(s) have no team (no override, no chargeback-team:<team> tag, no owner in a team) and are unallocated: ${sample(principalsWithoutTeam)}.`,
      );
    }
    if (disabled.length > 0) {
      const treatment = this.disabledAccounts === 'former' ? 'treated as former users (unallocated)' : 'charged to their team';
      findings.notes.push(`${disabled.length} disabled account(s) ${treatment}: ${sample(disabled)}.`);
    }
    return users;
  }

  private strategyTeam(key: string, label: string, user: GraphUser, findings: Findings): string | undefined {
    switch (this.strategy.kind) {
      case 'group-prefix': {
        const teams = [...(findings.memberships.get(key) ?? [])].sort(compare);
        if (teams.length > 1) {
          findings.notes.push(`${label} is in several team groups (${teams.join(', ')}); charged to "${teams[0]}", the first in alphabetical order. Add an override to choose another.`);
        }
        return teams[0];
      }
      case 'department':
        return teamIdFromName(user.department ?? '');
      case 'cost-center':
        return teamIdFromName(user.employeeOrgData?.costCenter ?? '');
    }
  }

  private async teamsOf(users: Map<string, DirectoryUser>, findings: Findings): Promise<Map<string, Team>> {
    const sourceNames = new Map<string, Set<string>>();
    if (this.strategy.kind !== 'group-prefix') {
      for (const [key, user] of findings.users) {
        const raw = this.strategy.kind === 'department' ? user.department : user.employeeOrgData?.costCenter;
        const teamId = teamIdFromName(raw ?? '');
        if (teamId === undefined || raw == null || this.overrideFor(key) !== undefined) continue;
        const names = sourceNames.get(teamId) ?? new Set<string>();
        names.add(raw.trim());
        sourceNames.set(teamId, names);
      }
    }

    const teamIds = [...new Set([...users.values()].map((user) => user.teamId))].filter((id) => id !== UNALLOCATED_TEAM).sort(compare);
    const teams = new Map<string, Team>();
    const leaderless: string[] = [];
    for (const teamId of teamIds) {
      const groups = findings.teamGroups.get(teamId) ?? [];
      const sourceName = [...(sourceNames.get(teamId) ?? [])].sort(compare)[0];
      const name = this.overrides.teamNames?.[teamId] ?? groups[0]?.name ?? sourceName ?? teamId;
      const overridden = this.overrides.teamLeads[teamId];
      const owners = overridden === undefined ? await this.ownersOf(groups) : undefined;
      const leads = overridden ?? owners?.addresses ?? [];
      if (leads.length === 0) leaderless.push(teamId);
      const costCenter = this.strategy.kind === 'cost-center' ? sourceName : undefined;
      teams.set(teamId, {
        id: teamId,
        name,
        leads: [...leads],
        ...(owners !== undefined && owners.ids.length > 0 ? { leadIds: owners.ids } : {}),
        ...(costCenter === undefined ? {} : { costCenter }),
      });
    }
    if (leaderless.length > 0) {
      findings.notes.push(`${leaderless.length} team(s) have no lead to send reports to: ${sample(leaderless)}.`);
    }
    return teams;
  }

  /** The owners' mail addresses (who gets the reports) and user oids (what the cost API authorizes by). */
  private async ownersOf(groups: readonly TeamGroup[]): Promise<{ addresses: string[]; ids: string[] }> {
    const leads = new Set<string>();
    const ids = new Set<string>();
    for (const group of groups) {
      await this.listAll<{ id: string; mail?: string | null; userPrincipalName?: string | null }>(
        `/groups/${encodeURIComponent(group.groupId)}/owners?$select=${OWNER_FIELDS}&$top=${PAGE_SIZE}`,
        `list the owners of group "${group.name}"`,
        PERMISSION.groups,
        (page) => {
          for (const owner of page) {
            // Service principals can own groups; they have neither mail nor UPN and cannot read a report.
            const address = owner.mail ?? owner.userPrincipalName;
            if (address) {
              leads.add(address);
              ids.add(owner.id.toLowerCase());
            }
          }
        },
      );
    }
    return { addresses: [...leads].sort(compare), ids: [...ids].sort(compare) };
  }

  private overrideFor(key: string): string | undefined {
    return this.userOverrides.get(key);
  }

  private strategyLabel(): string {
    switch (this.strategy.kind) {
      case 'group-prefix':
        return `no group named "${this.strategy.prefix}..."`;
      case 'department':
        return 'no usable department';
      case 'cost-center':
        return 'no usable employeeOrgData.costCenter';
    }
  }

  private async listAll<T>(firstPage: string, what: string, permission: string, onPage: (items: readonly T[]) => void): Promise<void> {
    let next: string | undefined = firstPage;
    while (next !== undefined) {
      const url: string = next;
      const page = await this.call<GraphPage<T>>(what, permission, () => withSignal(this.client.api(url)).get());
      this.counters.listCalls += 1;
      onPage(page.value ?? []);
      next = page['@odata.nextLink'];
    }
  }

  /** One Graph request with bounded retries on 429/5xx (Retry-After honoured); other failures become AppErrors. */
  private async call<T>(what: string, permission: string, send: () => Promise<T>): Promise<T> {
    const signal = callerSignal.getStore();
    for (let attempt = 1; ; attempt += 1) {
      if (signal?.aborted) throw abortedError(signal);
      this.counters.calls += 1;
      try {
        return await send();
      } catch (error) {
        if (signal?.aborted) throw abortedError(signal);
        const status = statusOf(error);
        if (!isTransient(status) || attempt >= this.maxCallAttempts) throw translateGraphError(error, what, permission, attempt);
        const delay = retryDelayMs(headerOf(error, 'retry-after'), attempt);
        this.counters.retriedCalls += 1;
        this.log(`graph directory: ${what} got ${status}; retry ${attempt} in ${delay} ms`);
        await this.sleep(delay);
      }
    }
  }

  /**
   * Sends sub-requests 20 at a time. A sub-response that is throttled (429) or failing (5xx) is sent again in a
   * later batch, not before its own Retry-After; only those are resent. A batch whose envelope fails keeps being
   * retried with backoff; past the attempt bounds the keys are reported unresolved instead of failing the run.
   */
  private async runBatches(requests: readonly SubRequest[], permission: string): Promise<BatchOutcome> {
    const results = new Map<string, { status: number; body: unknown }>();
    const unresolved = new Map<string, string>();
    let pending = requests.map((request) => ({ ...request, attempts: 0, readyAt: 0 }));

    while (pending.length > 0) {
      const now = this.now();
      const ready = pending.filter((item) => item.readyAt <= now).slice(0, BATCH_LIMIT);
      if (ready.length === 0) {
        await this.sleep(Math.min(...pending.map((item) => item.readyAt)) - now);
        continue;
      }
      const inFlight = new Set(ready);
      pending = pending.filter((item) => !inFlight.has(item));

      const responses = await this.postBatch(ready.map((item, index) => ({ id: String(index + 1), method: 'GET', url: item.url })), permission);
      if (typeof responses === 'string') {
        for (const item of ready) unresolved.set(item.key, responses);
        continue;
      }
      const byId = new Map(responses.map((response) => [response.id, response]));
      const sentAt = this.now();
      ready.forEach((item, index) => {
        const response = byId.get(String(index + 1));
        const status = response?.status ?? 0;
        if (status === 200 || status === 404) {
          results.set(item.key, { status, body: response?.body });
          return;
        }
        if (status === 401 || status === 403) throw translateGraphError(subRequestError(status, response), 'look up users in $batch', permission, 1);
        const attempts = item.attempts + 1;
        if (isTransient(status) || response === undefined) {
          this.counters.throttledSubRequests += 1;
          if (attempts >= this.maxSubRequestAttempts) {
            unresolved.set(item.key, `${status === 0 ? 'no answer' : status} after ${attempts} attempts`);
            return;
          }
          pending.push({ ...item, attempts, readyAt: sentAt + retryDelayMs(headerValue(response?.headers, 'retry-after'), attempts) });
          return;
        }
        unresolved.set(item.key, `Graph answered ${status}: ${errorMessageOf(response?.body) ?? 'no detail'}`);
      });
    }
    return { results, unresolved };
  }

  /** The sub-responses, or why the whole batch could not be sent. */
  private async postBatch(requests: readonly { id: string; method: string; url: string }[], permission: string): Promise<SubResponse[] | string> {
    this.counters.batchSubRequests += requests.length;
    const signal = callerSignal.getStore();
    for (let attempt = 1; ; attempt += 1) {
      if (signal?.aborted) throw abortedError(signal);
      this.counters.calls += 1;
      this.counters.batchCalls += 1;
      try {
        const body = (await withSignal(this.client.api('/$batch')).post({ requests })) as { responses?: SubResponse[] } | undefined;
        return body?.responses ?? [];
      } catch (error) {
        if (signal?.aborted) throw abortedError(signal);
        const status = statusOf(error);
        if (!isTransient(status)) throw translateGraphError(error, 'send a $batch of user lookups', permission, attempt);
        if (attempt >= this.maxCallAttempts) return `$batch failed with ${status} after ${attempt} attempts`;
        const delay = retryDelayMs(headerOf(error, 'retry-after'), attempt);
        this.counters.retriedCalls += 1;
        this.log(`graph directory: $batch got ${status}; retry ${attempt} in ${delay} ms`);
        await this.sleep(delay);
      }
    }
  }
}

/** The request with the caller's AbortSignal as its fetch option, when there is one. */
function withSignal(request: GraphRequest): GraphRequest {
  const signal = callerSignal.getStore();
  return signal === undefined ? request : request.options({ signal });
}

/** "Platform Engineering" -> "platform-engineering"; undefined when nothing usable is left. */
export function teamIdFromName(raw: string): string | undefined {
  const slug = raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63)
    .replace(/[._-]+$/, '');
  return isValidTeamId(slug) ? slug : undefined;
}

/** Maps a Graph failure to the product's error codes, naming the permission a 401/403 points to. */
export function translateGraphError(error: unknown, what: string, permission: string, attempts: number): AppError {
  if (error instanceof AppError) return error;
  const status = statusOf(error);
  const code = error instanceof GraphError ? error.code : null;
  const detail = error instanceof Error && error.message !== '' ? `: ${error.message}` : '';
  const label = `Graph could not ${what} (${status}${code ? ` ${code}` : ''})${detail}`;
  if (status === 401 || status === 403) {
    return new AppError('DIRECTORY_INVALID', `${label}. Grant the app's identity the ${permission} application permission (admin consent) — see docs/graph-permissions.md.`, { cause: error });
  }
  if (status === 400 || status === 404) {
    return new AppError('DIRECTORY_INVALID', `${label}. Check the directory settings (team strategy, group prefix).`, { cause: error });
  }
  if (status === 429) return new AppError('THROTTLED', `${label}, still throttled after ${attempts} attempts`, { retryable: true, cause: error });
  if (isTransient(status)) return new AppError('INTERNAL', `${label}, still failing after ${attempts} attempts`, { retryable: true, cause: error });
  return new AppError('INTERNAL', label, { cause: error });
}

function validateStrategy(strategy: TeamStrategy): TeamStrategy {
  if (strategy.kind === 'group-prefix' && strategy.prefix.trim() === '') {
    throw new AppError('DIRECTORY_INVALID', 'The group-prefix team strategy needs a non-empty prefix (e.g. "team-").');
  }
  return strategy;
}

function validateOverrides(overrides: MappingOverrides): MappingOverrides {
  const problems: string[] = [];
  for (const [oid, teamId] of Object.entries(overrides.users)) {
    if (teamId !== UNALLOCATED_TEAM && !isValidTeamId(teamId)) problems.push(`user ${oid}: "${teamId}" is not a valid team id`);
  }
  for (const teamId of [...Object.keys(overrides.teamLeads), ...Object.keys(overrides.teamNames ?? {})]) {
    if (!isValidTeamId(teamId)) problems.push(`"${teamId}" is not a valid team id`);
  }
  if (problems.length > 0) throw new AppError('DIRECTORY_INVALID', 'The directory overrides are invalid', { details: problems });
  return overrides;
}

function emptyStats(): GraphDirectoryStats {
  return { calls: 0, listCalls: 0, batchCalls: 0, batchSubRequests: 0, throttledSubRequests: 0, retriedCalls: 0 };
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const match = Object.keys(headers).find((key) => key.toLowerCase() === name);
  return match === undefined ? undefined : headers[match];
}

function subRequestError(status: number, response: SubResponse | undefined): GraphError {
  const error = new GraphError(status, errorMessageOf(response?.body) ?? `sub-request failed with ${status}`);
  const body = response?.body as { error?: { code?: string } } | undefined;
  error.code = body?.error?.code ?? null;
  return error;
}

function errorMessageOf(body: unknown): string | undefined {
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  if (!error) return undefined;
  return [error.code, error.message].filter(Boolean).join(' ');
}

function describeUser(userId: string, user: GraphUser): string {
  const name = user.userPrincipalName ?? user.displayName;
  return name ? `${name} (${userId})` : userId;
}

function describePrincipal(userId: string, principal: GraphServicePrincipal): string {
  return principal.displayName ? `"${principal.displayName}" (${userId}, service principal)` : `${userId} (service principal)`;
}

function sample(items: readonly string[]): string {
  const shown = items.slice(0, NOTE_SAMPLE).join(', ');
  return items.length > NOTE_SAMPLE ? `${shown} and ${items.length - NOTE_SAMPLE} more` : shown;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
