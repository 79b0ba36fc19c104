/**
 * A time-limited cache of directory answers in Azure Table Storage, in front of any Directory (in practice
 * GraphDirectory), so the daily run does not read the whole of Entra ID every day.
 *
 * Storage contract (one table, e.g. `chargebackDirectoryCache`):
 *
 * - Users: PartitionKey `user`, RowKey = encodeKeyPart(userId as the usage source spelled it). Properties:
 *   userId, known (Boolean), resolvedAt (Edm.DateTime) and, when known, teamId, displayName, upn, status
 *   (member | guest | former). `known: false` records that the directory had no answer for the id.
 * - Teams: PartitionKey `team`, RowKey = encodeKeyPart(team id). Properties: teamId, name, leadIds (JSON array of
 *   lead oids, absent when none), leads (JSON array of
 *   mail addresses), costCenter (absent when none), resolvedAt.
 * - The last refresh: PartitionKey `refresh`, RowKey `last`. Properties: refreshedAt, requested, resolved,
 *   teams, unresolved (Int32 counts), full (Boolean: every cached user, not a chosen list).
 *
 * Writes are upserts in Replace mode, at most 100 entities per transaction (one partition each).
 */
import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { UNALLOCATED_TEAM, type DirectoryResolution, type DirectoryUser, type Team } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import type { CallOptions, Directory } from '../../ports/directory.js';
import type { Clock } from '../../ports/runtime.js';
import { runPool } from './table-batches.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { decodeKeyPart, encodeKeyPart, MAX_KEY_BYTES } from './table-keys.js';

export interface CachedUser {
  /** null: the directory did not know this id when asked. */
  readonly user: DirectoryUser | null;
  readonly resolvedAt: Date;
}

export interface CachedTeam {
  readonly team: Team;
  readonly resolvedAt: Date;
}

export interface DirectoryRefreshRecord {
  readonly refreshedAt: Date;
  /** True when every cached user was refreshed, false for a chosen list of oids. */
  readonly full: boolean;
  readonly requested: number;
  readonly resolved: number;
  readonly teams: number;
  readonly unresolved: number;
}

/** Where CachedDirectory keeps its entries. Unreadable entries are reported as absent: a cache miss, not a failure. */
export interface DirectoryCacheStore {
  readUsers(userIds: readonly string[]): Promise<Map<string, CachedUser>>;
  readTeams(teamIds: readonly string[]): Promise<Map<string, CachedTeam>>;
  /** Every cached user id, in key order. */
  listUserIds(): Promise<string[]>;
  /** `user: null` records an id the directory did not know. */
  writeUsers(entries: readonly { readonly userId: string; readonly user: DirectoryUser | null }[], resolvedAt: Date): Promise<void>;
  writeTeams(teams: readonly Team[], resolvedAt: Date): Promise<void>;
  readLastRefresh(): Promise<DirectoryRefreshRecord | undefined>;
  writeLastRefresh(record: DirectoryRefreshRecord): Promise<void>;
}

/** Where a resolved user's answer came from in one resolve. */
export type ResolutionOrigin =
  /** A cache entry younger than the time-to-live. */
  | { readonly source: 'cache'; readonly resolvedAt: Date }
  /** Asked of the inner directory in this call (and written to the cache). */
  | { readonly source: 'directory'; readonly resolvedAt: Date }
  /** The inner directory was asked but gave no answer; an expired entry of a known user was used instead (and noted). */
  | { readonly source: 'expired-cache'; readonly resolvedAt: Date };

export interface DetailedResolution extends DirectoryResolution {
  /** requested user id -> where its answer came from; ids absent from `users` with an origin are known unknowns. */
  readonly origins: ReadonlyMap<string, ResolutionOrigin>;
  /** The user ids the inner directory was asked about (empty when everything came from the cache). */
  readonly askedInner: readonly string[];
}

export interface RefreshResult {
  readonly record: DirectoryRefreshRecord;
  /** Oids the inner directory left unresolved; their older entries (if any) are kept. */
  readonly unresolved: readonly string[];
  readonly notes: readonly string[];
}

export interface CachedDirectoryOptions {
  readonly inner: Directory;
  readonly store: DirectoryCacheStore;
  readonly clock: Clock;
  /** How long an entry is trusted, in hours (0: always ask the inner directory, but still record answers). */
  readonly ttlHours: number;
  readonly log?: (message: string) => void;
}

const HOUR_MS = 3_600_000;
const NOTE_SAMPLE = 20;

/**
 * The Directory port with a Table Storage cache in front of it.
 *
 * resolve(): ids whose entry is younger than the TTL are answered from the cache; every other id (no entry,
 * an expired one, or a cached user whose team's entry is missing or expired) is resolved through the inner
 * directory in one call, and the answers (users and their teams) are written back. A team is taken from this
 * call's inner answer when it has one, else from a fresh team entry.
 *
 * Decisions:
 * - Former users (deleted or disabled) are cached like everyone else and stay former until their entry
 *   expires and the inner directory says otherwise.
 * - "Unknown" is an answer too: an id the inner directory leaves out is cached as unknown for the TTL.
 *   Otherwise a single id that is no Entra object id would make every run re-read all team groups, the very
 *   cost the cache is here to avoid. `refresh()` asks about unknown ids again.
 * - Except when the id was known before: for Graph, losing a known user means a lookup that failed (still
 *   throttled after the retries), since deleted users come back as former. Then the expired entry is used for
 *   this run, a note says so, and nothing is written, so the next run asks again.
 * - Notes come from the inner directory's call of this run only; users served from the cache bring none.
 * - Ids whose escaped key would pass Table Storage's 1 KiB limit are never cached, only passed through.
 */
export class CachedDirectory implements Directory {
  private readonly inner: Directory;
  private readonly store: DirectoryCacheStore;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly log: (message: string) => void;

  constructor(options: CachedDirectoryOptions) {
    if (!Number.isFinite(options.ttlHours) || options.ttlHours < 0) {
      throw new AppError('CONFIG_INVALID', `The directory cache time-to-live must be zero or more hours, not ${options.ttlHours}`);
    }
    this.inner = options.inner;
    this.store = options.store;
    this.clock = options.clock;
    this.ttlMs = options.ttlHours * HOUR_MS;
    this.log = options.log ?? (() => {});
  }

  async resolve(userIds: readonly string[], options: CallOptions = {}): Promise<DirectoryResolution> {
    const { users, teams, notes } = await this.resolveDetailed(userIds, options);
    return { users, teams, notes };
  }

  async resolveDetailed(userIds: readonly string[], options: CallOptions = {}): Promise<DetailedResolution> {
    const requested = [...new Set(userIds.filter((id) => id.trim() !== ''))];
    const now = this.clock.now();
    const cached = await this.store.readUsers(requested.filter(isCacheableId));

    const fresh = new Map<string, CachedUser>();
    for (const [userId, entry] of cached) if (this.isFresh(entry.resolvedAt, now)) fresh.set(userId, entry);
    const freshTeams = new Map<string, CachedTeam>();
    for (const [teamId, entry] of await this.store.readTeams(teamIdsOf(knownUsers([...fresh.values()])))) {
      if (this.isFresh(entry.resolvedAt, now)) freshTeams.set(teamId, entry);
    }
    // A fresh user whose team is not known fresh is asked again: the inner directory is the only source of teams.
    for (const [userId, entry] of fresh) {
      if (entry.user !== null && needsTeam(entry.user) && !freshTeams.has(entry.user.teamId)) fresh.delete(userId);
    }

    const askedInner = requested.filter((userId) => !fresh.has(userId));
    const answer = askedInner.length === 0 ? undefined : await this.inner.resolve(askedInner, options);
    const fallback = new Map<string, CachedUser>();
    if (answer !== undefined) {
      for (const userId of askedInner) {
        const earlier = cached.get(userId);
        if (!answer.users.has(userId) && earlier?.user) fallback.set(userId, earlier);
      }
      await this.remember(answer, askedInner.filter((userId) => !fallback.has(userId)), now);
    }

    const users = new Map<string, DirectoryUser>();
    const origins = new Map<string, ResolutionOrigin>();
    for (const userId of requested) {
      const fromCache = fresh.get(userId);
      const expired = fallback.get(userId);
      const user = fromCache !== undefined ? fromCache.user : expired !== undefined ? expired.user : answer?.users.get(userId);
      if (user) users.set(userId, user);
      if (fromCache !== undefined) origins.set(userId, { source: 'cache', resolvedAt: fromCache.resolvedAt });
      else if (expired !== undefined) origins.set(userId, { source: 'expired-cache', resolvedAt: expired.resolvedAt });
      else origins.set(userId, { source: 'directory', resolvedAt: now });
    }

    const teamsNeeded = teamIdsOf([...users.values()]);
    const expiredTeams = await this.store.readTeams(teamsNeeded.filter((id) => !answer?.teams.has(id) && !freshTeams.has(id)));
    const teams = new Map<string, Team>();
    for (const teamId of teamsNeeded) {
      const team = answer?.teams.get(teamId) ?? freshTeams.get(teamId)?.team ?? expiredTeams.get(teamId)?.team;
      if (team !== undefined) teams.set(teamId, team);
    }

    const notes = [...(answer?.notes ?? [])];
    if (fallback.size > 0) {
      notes.push(`${fallback.size} user(s) the directory did not resolve this time were charged as their expired cache entries say: ${sample([...fallback.keys()])}.`);
    }
    this.log(`directory cache: ${requested.length} users, ${requested.length - askedInner.length} from the cache, ${askedInner.length} asked of the directory`);
    return { users, teams, notes, origins, askedInner };
  }

  /**
   * Team records from the cache while fresh; the rest are asked of the inner directory and cached. An expired
   * entry answers when the inner directory no longer knows the team (as expired users do).
   */
  async lookUpTeams(teamIds: readonly string[], options: CallOptions = {}): Promise<ReadonlyMap<string, Team>> {
    const wanted = [...new Set(teamIds)].filter((teamId) => teamId !== UNALLOCATED_TEAM && isCacheableId(teamId));
    const now = this.clock.now();
    const cached = await this.store.readTeams(wanted);
    const teams = new Map<string, Team>();
    for (const [teamId, entry] of cached) if (this.isFresh(entry.resolvedAt, now)) teams.set(teamId, entry.team);
    const missing = wanted.filter((teamId) => !teams.has(teamId));
    if (missing.length > 0) {
      const answer = await this.inner.lookUpTeams(missing, options);
      await this.store.writeTeams([...answer.values()], now);
      for (const teamId of missing) {
        const team = answer.get(teamId) ?? cached.get(teamId)?.team;
        if (team !== undefined) teams.set(teamId, team);
      }
    }
    return teams;
  }

  /**
   * Resolves the given ids (default: every cached id, unknown ones included) through the inner directory in
   * one call, whatever the age of their entries, and rewrites them. A known user left unresolved keeps the
   * older entry (see the class comment); an id that was never known is recorded as unknown again.
   */
  async refresh(userIds?: readonly string[]): Promise<RefreshResult> {
    const full = userIds === undefined;
    const requested = [...new Set((userIds ?? (await this.store.listUserIds())).filter((id) => id.trim() !== ''))];
    const now = this.clock.now();
    const answer: DirectoryResolution = requested.length === 0 ? { users: new Map(), teams: new Map(), notes: [] } : await this.inner.resolve(requested);
    const unresolved = requested.filter((userId) => !answer.users.has(userId));
    const previously = await this.store.readUsers(unresolved.filter(isCacheableId));
    await this.remember(answer, requested.filter((userId) => !previously.get(userId)?.user), now);
    const record: DirectoryRefreshRecord = {
      refreshedAt: now,
      full,
      requested: requested.length,
      resolved: requested.length - unresolved.length,
      teams: answer.teams.size,
      unresolved: unresolved.length,
    };
    await this.store.writeLastRefresh(record);
    this.log(`directory cache: refreshed ${record.resolved}/${record.requested} users and ${record.teams} teams`);
    return { record, unresolved, notes: answer.notes };
  }

  lastRefresh(): Promise<DirectoryRefreshRecord | undefined> {
    return this.store.readLastRefresh();
  }

  /** When an entry written at `resolvedAt` stops being trusted. */
  expiresAt(resolvedAt: Date): Date {
    return new Date(resolvedAt.getTime() + this.ttlMs);
  }

  private isFresh(resolvedAt: Date, now: Date): boolean {
    const age = now.getTime() - resolvedAt.getTime();
    // An entry from the future (a skewed clock elsewhere) is trusted no longer than the TTL ahead either.
    return age < this.ttlMs && age > -this.ttlMs;
  }

  /** Writes the answer for `userIds` (unknown when the answer leaves an id out) and every team it names. */
  private async remember(answer: DirectoryResolution, userIds: readonly string[], now: Date): Promise<void> {
    const entries = userIds.filter(isCacheableId).map((userId) => {
      const user = answer.users.get(userId);
      return { userId, user: user === undefined ? null : { ...user, userId } };
    });
    await this.store.writeUsers(entries, now);
    await this.store.writeTeams([...answer.teams.values()].filter((team) => team.id !== UNALLOCATED_TEAM && isCacheableId(team.id)), now);
  }
}

function knownUsers(entries: readonly CachedUser[]): DirectoryUser[] {
  return entries.flatMap((entry) => (entry.user === null ? [] : [entry.user]));
}

function needsTeam(user: DirectoryUser): boolean {
  return user.teamId !== UNALLOCATED_TEAM;
}

function teamIdsOf(users: readonly DirectoryUser[]): string[] {
  return [...new Set(users.filter(needsTeam).map((user) => user.teamId))].sort(compare);
}

function isCacheableId(id: string): boolean {
  return encodeKeyPart(id).length <= MAX_KEY_BYTES;
}

function sortedTeams(teams: Map<string, Team>): Map<string, Team> {
  return new Map([...teams.entries()].sort(([a], [b]) => compare(a, b)));
}

function sample(items: readonly string[]): string {
  const shown = items.slice(0, NOTE_SAMPLE).join(', ');
  return items.length > NOTE_SAMPLE ? `${shown} and ${items.length - NOTE_SAMPLE} more` : shown;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const USER_PARTITION = 'user';
const TEAM_PARTITION = 'team';
const REFRESH_PARTITION = 'refresh';
const REFRESH_ROW = 'last';
const MAX_BATCH_ENTITIES = 100;
/** Below this many ids, point reads; above, one scan of the partition costs fewer requests. */
const POINT_READ_LIMIT = 50;
const READ_CONCURRENCY = 8;
const WRITE_CONCURRENCY = 4;
const STATUSES: readonly DirectoryUser['status'][] = ['member', 'guest', 'former'];

/** DirectoryCacheStore in one Azure Table (see the storage contract at the top of this file). */
export class TableDirectoryCacheStore implements DirectoryCacheStore {
  private constructor(private readonly client: TableClient) {}

  static async create(client: TableClient): Promise<TableDirectoryCacheStore> {
    await ensureTable(client);
    return new TableDirectoryCacheStore(client);
  }

  async readUsers(userIds: readonly string[]): Promise<Map<string, CachedUser>> {
    return this.readMany(USER_PARTITION, userIds, toCachedUser, 'cached users');
  }

  async readTeams(teamIds: readonly string[]): Promise<Map<string, CachedTeam>> {
    return this.readMany(TEAM_PARTITION, teamIds, toCachedTeam, 'cached teams');
  }

  async listUserIds(): Promise<string[]> {
    const ids: string[] = [];
    try {
      const entities = this.client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${USER_PARTITION}`, select: ['RowKey'] } });
      for await (const entity of entities) {
        const userId = decodeOrUndefined(entity.rowKey ?? '');
        if (userId !== undefined) ids.push(userId);
      }
    } catch (error) {
      throw storageError('list the cached users', error);
    }
    return ids;
  }

  async writeUsers(entries: readonly { readonly userId: string; readonly user: DirectoryUser | null }[], resolvedAt: Date): Promise<void> {
    const entities = entries.map(({ userId, user }): TableEntity => {
      const key = { partitionKey: USER_PARTITION, rowKey: encodeKeyPart(userId), userId, resolvedAt };
      if (user === null) return { ...key, known: false };
      return { ...key, known: true, teamId: user.teamId, displayName: user.displayName, upn: user.upn, status: user.status };
    });
    await this.writeAll(entities, 'cached users');
  }

  async writeTeams(teams: readonly Team[], resolvedAt: Date): Promise<void> {
    const entities = teams.map((team): TableEntity => {
      const entity: TableEntity = {
        partitionKey: TEAM_PARTITION,
        rowKey: encodeKeyPart(team.id),
        teamId: team.id,
        name: team.name,
        leads: JSON.stringify(team.leads),
        resolvedAt,
      };
      if (team.costCenter !== undefined) entity.costCenter = team.costCenter;
      if (team.leadIds !== undefined && team.leadIds.length > 0) entity.leadIds = JSON.stringify(team.leadIds);
      return entity;
    });
    await this.writeAll(entities, 'cached teams');
  }

  async readLastRefresh(): Promise<DirectoryRefreshRecord | undefined> {
    const entity = await this.getEntity(REFRESH_PARTITION, REFRESH_ROW, 'read the last directory refresh');
    if (entity === undefined) return undefined;
    const { refreshedAt, full, requested, resolved, teams, unresolved } = entity;
    if (!isDate(refreshedAt) || typeof full !== 'boolean' || ![requested, resolved, teams, unresolved].every(isCount)) return undefined;
    return { refreshedAt, full, requested: Number(requested), resolved: Number(resolved), teams: Number(teams), unresolved: Number(unresolved) };
  }

  async writeLastRefresh(record: DirectoryRefreshRecord): Promise<void> {
    await this.writeAll([{ partitionKey: REFRESH_PARTITION, rowKey: REFRESH_ROW, ...record }], 'the directory refresh record');
  }

  private async readMany<T>(partitionKey: string, ids: readonly string[], convert: (entity: Record<string, unknown>, id: string) => T | undefined, what: string): Promise<Map<string, T>> {
    const wanted = new Set(ids.filter((id) => encodeKeyPart(id).length <= MAX_KEY_BYTES));
    const found = new Map<string, T>();
    if (wanted.size === 0) return found;
    if (wanted.size <= POINT_READ_LIMIT) {
      await runPool([...wanted], READ_CONCURRENCY, async (id) => {
        const entity = await this.getEntity(partitionKey, encodeKeyPart(id), `read ${what}`);
        const value = entity === undefined ? undefined : convert(entity, id);
        if (value !== undefined) found.set(id, value);
      });
      return found;
    }
    try {
      for await (const entity of this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })) {
        const id = decodeOrUndefined(entity.rowKey ?? '');
        if (id === undefined || !wanted.has(id)) continue;
        const value = convert(entity, id);
        if (value !== undefined) found.set(id, value);
      }
    } catch (error) {
      throw storageError(`read ${what}`, error);
    }
    return found;
  }

  private async getEntity(partitionKey: string, rowKey: string, action: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.client.getEntity<Record<string, unknown>>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError(action, error);
    }
  }

  private async writeAll(entities: readonly TableEntity[], what: string): Promise<void> {
    const batches: TransactionAction[][] = [];
    // Replace-mode upserts of distinct keys; a repeated key inside one transaction is refused by the service.
    const unique = [...new Map(entities.map((entity) => [`${entity.partitionKey}\u0000${entity.rowKey}`, entity])).values()];
    const byPartition = new Map<string, TableEntity[]>();
    for (const entity of unique) {
      const list = byPartition.get(entity.partitionKey) ?? [];
      list.push(entity);
      byPartition.set(entity.partitionKey, list);
    }
    for (const list of byPartition.values()) {
      for (let start = 0; start < list.length; start += MAX_BATCH_ENTITIES) {
        batches.push(list.slice(start, start + MAX_BATCH_ENTITIES).map((entity): TransactionAction => ['upsert', entity, 'Replace']));
      }
    }
    await runPool(batches, WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.client.submitTransaction(batch);
      } catch (error) {
        throw storageError(`write ${batch.length} ${what}`, error);
      }
    });
  }
}

function toCachedUser(entity: Record<string, unknown>, id: string): CachedUser | undefined {
  const { userId, known, teamId, displayName, upn, status, resolvedAt } = entity;
  if (userId !== id || typeof known !== 'boolean') return undefined;
  if (!known) return isDate(resolvedAt) ? { user: null, resolvedAt } : undefined;
  if (typeof teamId !== 'string' || typeof displayName !== 'string' || typeof upn !== 'string') return undefined;
  if (!(STATUSES as readonly unknown[]).includes(status) || !isDate(resolvedAt)) return undefined;
  return { user: { userId: id, teamId, displayName, upn, status: status as DirectoryUser['status'] }, resolvedAt };
}

function toCachedTeam(entity: Record<string, unknown>, id: string): CachedTeam | undefined {
  const { teamId, name, leads, costCenter, resolvedAt, leadIds } = entity;
  if (teamId !== id || typeof name !== 'string' || typeof leads !== 'string' || !isDate(resolvedAt)) return undefined;
  if (costCenter !== undefined && costCenter !== null && typeof costCenter !== 'string') return undefined;
  let parsedLeads: unknown;
  try {
    parsedLeads = JSON.parse(leads);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsedLeads) || !parsedLeads.every((lead) => typeof lead === 'string')) return undefined;
  let parsedLeadIds: unknown = [];
  try {
    if (typeof leadIds === 'string') parsedLeadIds = JSON.parse(leadIds);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsedLeadIds) || !parsedLeadIds.every((lead) => typeof lead === 'string')) return undefined;
  const team: Team = {
    id,
    name,
    leads: parsedLeads as string[],
    ...(parsedLeadIds.length > 0 ? { leadIds: parsedLeadIds as string[] } : {}),
    ...(typeof costCenter === 'string' ? { costCenter } : {}),
  };
  return { team, resolvedAt };
}

function isDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

function isCount(value: unknown): boolean {
  const number = typeof value === 'bigint' ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0;
}

function decodeOrUndefined(rowKey: string): string | undefined {
  try {
    return decodeKeyPart(rowKey);
  } catch {
    return undefined;
  }
}
