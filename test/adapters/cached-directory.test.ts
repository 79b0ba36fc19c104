import { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { CachedDirectory, TableDirectoryCacheStore } from '../../shared/adapters/azure/cached-directory.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { UNALLOCATED_TEAM, type DirectoryResolution, type DirectoryUser, type Team } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';
import type { Directory } from '../../shared/ports/directory.js';
import { fixedClock } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const HOUR = 3_600_000;

/** A directory whose answers a test can change, counting every call and the ids asked. */
class CountingDirectory implements Directory {
  readonly calls: string[][] = [];
  users = new Map<string, DirectoryUser>();
  teams = new Map<string, Team>();
  /** ids left out of answers, like oids Graph could not look up. */
  readonly unresolvable = new Set<string>();
  notes: string[] = [];

  async resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    this.calls.push([...userIds].sort());
    const users = new Map<string, DirectoryUser>();
    for (const id of userIds) {
      const user = this.users.get(id);
      if (user !== undefined && !this.unresolvable.has(id)) users.set(id, user);
    }
    const teams = new Map([...users.values()].filter((u) => this.teams.has(u.teamId)).map((u) => [u.teamId, this.teams.get(u.teamId)!]));
    return { users, teams, notes: [...this.notes] };
  }

  async lookUpTeams(teamIds: readonly string[]): Promise<ReadonlyMap<string, Team>> {
    this.calls.push(teamIds.map((id) => `team:${id}`));
    return new Map([...this.teams].filter(([teamId]) => teamIds.includes(teamId)));
  }

  put(userId: string, teamId: string, status: DirectoryUser['status'] = 'member'): void {
    this.users.set(userId, { userId, teamId, displayName: `Name of ${userId}`, upn: `${userId}@contoso.example`, status });
  }
}

function team(id: string, leads: string[] = [`${id}-lead@contoso.example`]): Team {
  return { id, name: `Team ${id}`, leads };
}

async function setUp(ttlHours = 24) {
  const client = tableClientFor(azuriteConnectionString(), uniqueTableName('dircache'));
  const store = await TableDirectoryCacheStore.create(client);
  const inner = new CountingDirectory();
  inner.teams.set('red', team('red'));
  inner.teams.set('blue', { ...team('blue', ['b1@contoso.example', 'b2@contoso.example']), costCenter: 'CC-7' });
  inner.put('u1', 'red');
  inner.put('u2', 'red');
  inner.put('u3', 'blue');
  inner.put('gone', UNALLOCATED_TEAM, 'former');
  const clock = fixedClock('2026-11-03T06:00:00Z');
  const cached = new CachedDirectory({ inner, store, clock, ttlHours });
  return { client, store, inner, clock, cached, ttlHours };
}

function advance(clock: ReturnType<typeof fixedClock>, ms: number): void {
  clock.set(new Date(clock.now().getTime() + ms).toISOString());
}

describe('CachedDirectory over Table Storage', () => {
  it('fills the cache on the first resolve, with users, teams and a resolvedAt time', async () => {
    const { client, inner, cached } = await setUp();

    const first = await cached.resolveDetailed(['u1', 'u3', 'gone', 'nobody']);

    expect(inner.calls).toEqual([['gone', 'nobody', 'u1', 'u3']]);
    expect(first.users.get('u1')?.teamId).toBe('red');
    expect(first.users.has('nobody')).toBe(false);
    expect([...first.teams.keys()]).toEqual(['blue', 'red']);
    expect(first.origins.get('u1')).toEqual({ source: 'directory', resolvedAt: new Date('2026-11-03T06:00:00Z') });
    const user = await client.getEntity<Record<string, unknown>>('user', 'u1');
    expect(user).toMatchObject({ userId: 'u1', teamId: 'red', displayName: 'Name of u1', upn: 'u1@contoso.example', status: 'member' });
    expect((user['resolvedAt'] as Date).toISOString()).toBe('2026-11-03T06:00:00.000Z');
    const blue = await client.getEntity<Record<string, unknown>>('team', 'blue');
    expect(blue).toMatchObject({ teamId: 'blue', name: 'Team blue', leads: '["b1@contoso.example","b2@contoso.example"]', costCenter: 'CC-7' });
    // "Unknown" is an answer too, kept for the TTL.
    expect(await client.getEntity<Record<string, unknown>>('user', 'nobody')).toMatchObject({ userId: 'nobody', known: false });
    expect(first.origins.get('nobody')?.source).toBe('directory');
  });

  it('remembers unknown ids, so they do not make every run ask the inner directory again', async () => {
    const { inner, clock, cached } = await setUp();
    await cached.resolve(['u1', 'not-an-oid']);
    advance(clock, HOUR);
    inner.put('not-an-oid', 'red');

    const again = await cached.resolveDetailed(['u1', 'not-an-oid']);

    expect(inner.calls).toHaveLength(1);
    expect(again.users.has('not-an-oid')).toBe(false);
    expect(again.origins.get('not-an-oid')).toEqual({ source: 'cache', resolvedAt: new Date('2026-11-03T06:00:00Z') });

    // A refresh asks about them again.
    await cached.refresh();
    expect(inner.calls.at(-1)).toEqual(['not-an-oid', 'u1']);
    expect((await cached.resolve(['not-an-oid'])).users.get('not-an-oid')?.teamId).toBe('red');
  });

  it('answers a second resolve within the TTL from the cache alone, with the same users and teams', async () => {
    const { inner, clock, cached } = await setUp();
    const first = await cached.resolve(['u1', 'u2', 'u3', 'gone']);
    advance(clock, 23 * HOUR);
    // The inner directory changing proves the answer really came from the cache.
    inner.put('u1', 'blue');

    const second = await cached.resolveDetailed(['u1', 'u2', 'u3', 'gone']);

    expect(inner.calls).toHaveLength(1);
    expect(second.askedInner).toEqual([]);
    expect(second.users).toEqual(first.users);
    expect(second.teams).toEqual(first.teams);
    expect(second.origins.get('u1')).toEqual({ source: 'cache', resolvedAt: new Date('2026-11-03T06:00:00Z') });
  });

  it('asks the inner directory again for exactly the expired oids once the TTL has passed', async () => {
    const { inner, clock, cached } = await setUp();
    await cached.resolve(['u1', 'u3']);
    advance(clock, 12 * HOUR);
    await cached.resolve(['u2']);
    advance(clock, 12 * HOUR);
    inner.put('u1', 'blue');

    const later = await cached.resolveDetailed(['u1', 'u2', 'u3']);

    expect(inner.calls).toEqual([['u1', 'u3'], ['u2'], ['u1', 'u3']]);
    expect(later.askedInner.slice().sort()).toEqual(['u1', 'u3']);
    expect(later.users.get('u1')?.teamId).toBe('blue');
    expect(later.origins.get('u2')?.source).toBe('cache');
    expect([...later.teams.keys()]).toEqual(['blue', 'red']);

    // The rewritten entries are fresh again.
    advance(clock, HOUR);
    await cached.resolve(['u1', 'u3']);
    expect(inner.calls).toHaveLength(3);
  });

  it('asks again for a fresh user whose team entry is missing, since teams only come from the inner directory', async () => {
    const { client, inner, cached } = await setUp();
    await cached.resolve(['u1', 'u3']);
    await client.deleteEntity('team', 'red');

    const again = await cached.resolveDetailed(['u1', 'u3']);

    expect(inner.calls[1]).toEqual(['u1']);
    expect(again.teams.get('red')).toEqual(team('red'));
  });

  it('passes the inner notes through, and uses an expired entry (with a note) for an oid the inner directory leaves out', async () => {
    const { inner, clock, cached } = await setUp();
    await cached.resolve(['u1', 'u3']);
    advance(clock, 25 * HOUR);
    inner.unresolvable.add('u1');
    inner.notes = ['1 user(s) could not be looked up in Graph and are left unallocated: u1 (429 after 5 attempts).'];

    const answer = await cached.resolveDetailed(['u1', 'u3']);

    expect(answer.users.get('u1')?.teamId).toBe('red');
    expect(answer.teams.get('red')).toEqual(team('red'));
    expect(answer.origins.get('u1')).toEqual({ source: 'expired-cache', resolvedAt: new Date('2026-11-03T06:00:00Z') });
    expect(answer.notes[0]).toBe(inner.notes[0]);
    expect(answer.notes[1]).toContain('1 user(s) the directory did not resolve this time were charged as their expired cache entries say: u1');

    // Not rewritten: the next run asks for it again.
    inner.unresolvable.clear();
    await cached.resolve(['u1', 'u3']);
    expect(inner.calls.at(-1)).toEqual(['u1']);
  });

  it('caches former users, and they stay former until the directory says otherwise', async () => {
    const { inner, clock, cached } = await setUp();
    await cached.resolve(['gone']);
    advance(clock, HOUR);
    inner.put('gone', 'red', 'member');

    const answer = await cached.resolve(['gone']);

    expect(inner.calls).toHaveLength(1);
    expect(answer.users.get('gone')).toMatchObject({ status: 'former', teamId: UNALLOCATED_TEAM });
    expect(answer.teams.size).toBe(0);

    const refreshed = await cached.refresh(['gone']);
    expect(refreshed.record.resolved).toBe(1);
    expect((await cached.resolve(['gone'])).users.get('gone')).toMatchObject({ status: 'member', teamId: 'red' });
  });

  it('refreshes every cached user in one inner call, whatever their age, and records the refresh', async () => {
    const { inner, clock, cached } = await setUp();
    await cached.resolve(['u1', 'u2']);
    advance(clock, HOUR);
    await cached.resolve(['u3', 'gone']);
    advance(clock, HOUR);
    inner.put('u2', 'blue');
    inner.unresolvable.add('gone');
    inner.notes = ['a note from the inner directory'];
    expect(await cached.lastRefresh()).toBeUndefined();

    const result = await cached.refresh();

    expect(inner.calls.at(-1)).toEqual(['gone', 'u1', 'u2', 'u3']);
    expect(result.unresolved).toEqual(['gone']);
    expect(result.notes).toEqual(['a note from the inner directory']);
    const record = { refreshedAt: new Date('2026-11-03T08:00:00Z'), full: true, requested: 4, resolved: 3, teams: 2, unresolved: 1 };
    expect(result.record).toEqual(record);
    expect(await cached.lastRefresh()).toEqual(record);

    const after = await cached.resolveDetailed(['u1', 'u2', 'u3', 'gone']);
    expect(inner.calls).toHaveLength(3);
    expect(after.users.get('u2')?.teamId).toBe('blue');
    // The unresolved user keeps its older (still fresh) entry.
    expect(after.origins.get('gone')).toEqual({ source: 'cache', resolvedAt: new Date('2026-11-03T07:00:00Z') });
  });

  it('writes and reads back more than one batch of users (scan path above 50 ids)', async () => {
    const { inner, clock, cached, client } = await setUp();
    const ids = Array.from({ length: 250 }, (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`);
    for (const [n, id] of ids.entries()) inner.put(id, n % 2 === 0 ? 'red' : 'blue');

    await cached.resolve(ids);
    advance(clock, HOUR);
    const again = await cached.resolveDetailed([...ids, 'u1']);

    expect(inner.calls.at(-1)).toEqual(['u1']);
    expect(again.users.size).toBe(251);
    let stored = 0;
    for await (const _ of client.listEntities({ queryOptions: { filter: "PartitionKey eq 'user'" } })) stored += 1;
    expect(stored).toBe(251);
  });

  it('treats an unreadable entry as a miss and rewrites it', async () => {
    const { client, inner, cached } = await setUp();
    await cached.resolve(['u1']);
    await client.upsertEntity({ partitionKey: 'user', rowKey: 'u1', userId: 'u1', known: true, teamId: 'red', status: 'boss' }, 'Replace');

    const answer = await cached.resolve(['u1']);

    expect(inner.calls).toHaveLength(2);
    expect(answer.users.get('u1')?.status).toBe('member');
    expect(await client.getEntity<Record<string, unknown>>('user', 'u1')).toMatchObject({ status: 'member', known: true });
  });

  it('escapes user ids that are not valid keys as they are', async () => {
    const { client, inner, cached } = await setUp();
    inner.put('a/b#c?', 'red');

    await cached.resolve(['a/b#c?']);
    const again = await cached.resolveDetailed(['a/b#c?']);

    expect(again.origins.get('a/b#c?')?.source).toBe('cache');
    expect(await client.getEntity<Record<string, unknown>>('user', 'a!2Fb!23c!3F')).toMatchObject({ userId: 'a/b#c?' });
  });

  it('with a TTL of 0 always asks the inner directory', async () => {
    const { inner, cached } = await setUp(0);
    await cached.resolve(['u1']);
    await cached.resolve(['u1']);
    expect(inner.calls).toHaveLength(2);
  });

  it('rejects a negative TTL and reports storage failures as STORAGE_FAILED', async () => {
    const { inner, store, clock } = await setUp();
    expect(() => new CachedDirectory({ inner, store, clock, ttlHours: -1 })).toThrowError(AppError);

    const unreachable = TableClient.fromConnectionString(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
      'nothere',
      { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } },
    );
    await expect(TableDirectoryCacheStore.create(unreachable)).rejects.toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
  });
});
