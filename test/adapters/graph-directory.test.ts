import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allocate, UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';
import { graphClientFor, graphClientWithAuthProvider } from '../../shared/adapters/azure/graph-client.js';
import { GraphDirectory, teamIdFromName, type GraphDirectoryOptions, type MappingOverrides, type TeamStrategy } from '../../shared/adapters/azure/graph-directory.js';
import { FAKE_TOKEN, fakeAuthProvider, fakeObjectId, graphStub, type FakeTenant, type GraphStubOptions, type FakeUser } from '../support/graph-stub.js';

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const oid = (n: number): string => fakeObjectId(1, n);
const groupId = (n: number): string => fakeObjectId(2, n);

function person(n: number, extra: Partial<FakeUser> = {}): FakeUser {
  return { id: oid(n), displayName: `Person ${n}`, userPrincipalName: `p${n}@contoso.example`, mail: `p${n}@contoso.example`, ...extra };
}

/** Time that only moves when the adapter sleeps, so Retry-After is observable without waiting. */
function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  let time = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => time,
    sleep: async (ms) => {
      sleeps.push(ms);
      time += ms;
    },
    sleeps,
  };
}

function setUp(tenant: FakeTenant, options: { stub?: GraphStubOptions; strategy?: TeamStrategy; overrides?: MappingOverrides; directory?: Partial<GraphDirectoryOptions> } = {}) {
  const stub = graphStub(tenant, options.stub);
  server.use(...stub.handlers);
  const clock = fakeClock();
  const directory = new GraphDirectory({
    client: graphClientWithAuthProvider(fakeAuthProvider),
    strategy: options.strategy ?? { kind: 'group-prefix', prefix: 'team-' },
    ...(options.overrides ? { overrides: options.overrides } : {}),
    sleep: clock.sleep,
    now: clock.now,
    ...options.directory,
  });
  return { stub, clock, directory };
}

const owner = person(900, { mail: null, userPrincipalName: 'owner900@contoso.example' });

describe('GraphDirectory with the group-prefix strategy', () => {
  it('follows @odata.nextLink across three pages of members and takes leads from the owners', async () => {
    const members = [1, 2, 3, 4, 5, 6, 7].map((n) => person(n));
    const tenant: FakeTenant = {
      users: [...members, owner, person(901)],
      groups: [
        { id: groupId(1), displayName: 'team-Platform Engineering', members: members.map((u) => u.id), owners: [owner.id, oid(901)] },
        { id: groupId(2), displayName: 'all-staff-team-', members: [oid(1)], owners: [] },
      ],
    };
    const { stub, directory } = setUp(tenant, { stub: { maxPageSize: 3 } });

    const resolution = await directory.resolve(members.map((u) => u.id));

    expect(stub.counts.byPath.get(`GET /groups/${groupId(1)}/members/microsoft.graph.user`)).toBe(3);
    expect([...resolution.users.values()].map((u) => u.teamId)).toEqual(Array(7).fill('platform-engineering'));
    expect(resolution.users.get(oid(7))).toEqual({ userId: oid(7), teamId: 'platform-engineering', displayName: 'Person 7', upn: 'p7@contoso.example', status: 'member' });
    expect(resolution.teams.get('platform-engineering')).toEqual({
      id: 'platform-engineering',
      name: 'team-Platform Engineering',
      leads: ['owner900@contoso.example', 'p901@contoso.example'],
      // The owners' oids: what the cost API authorizes a lead by.
      leadIds: ['00000001-0000-4000-8000-000000000384', '00000001-0000-4000-8000-000000000385'],
    });
    expect(stub.counts.batchEnvelopes).toBe(0);
    expect(resolution.notes).toEqual([]);
    // groups page + 3 member pages + 1 owners page, each counted once by both sides
    expect(directory.callCount).toBe(5);
    expect(directory.callCount).toBe(stub.counts.http);
  });

  it('charges a user in two team groups to the team whose id sorts first, and says so in a note', async () => {
    const both = person(1);
    const tenant: FakeTenant = {
      users: [both, person(2), owner],
      groups: [
        { id: groupId(1), displayName: 'team-Zeta', members: [both.id, oid(2)], owners: [owner.id] },
        { id: groupId(2), displayName: 'team-Alpha', members: [both.id], owners: [owner.id] },
      ],
    };
    const { directory } = setUp(tenant);

    const resolution = await directory.resolve([both.id, oid(2)]);

    expect(resolution.users.get(both.id)?.teamId).toBe('alpha');
    expect(resolution.users.get(oid(2))?.teamId).toBe('zeta');
    expect(resolution.notes).toHaveLength(1);
    expect(resolution.notes[0]).toContain('p1@contoso.example');
    expect(resolution.notes[0]).toContain(both.id);
    expect(resolution.notes[0]).toContain('alpha, zeta');
  });

  it('reads transitiveMembers when nested groups count', async () => {
    const tenant: FakeTenant = { users: [person(1), owner], groups: [{ id: groupId(1), displayName: 'TEAM-Ops', members: [oid(1)], owners: [owner.id] }] };
    const { stub, directory } = setUp(tenant, { strategy: { kind: 'group-prefix', prefix: 'team-', membership: 'transitive' } });

    const resolution = await directory.resolve([oid(1)]);

    expect(resolution.users.get(oid(1))?.teamId).toBe('ops');
    expect(stub.counts.byPath.get(`GET /groups/${groupId(1)}/transitiveMembers/microsoft.graph.user`)).toBe(1);
  });

  it('allocates guests normally with status guest, and treats disabled accounts as former with a note', async () => {
    const guest = person(1, { userType: 'Guest', userPrincipalName: 'ext_fabrikam.example#EXT#@contoso.example' });
    const disabled = person(2, { accountEnabled: false });
    const tenant: FakeTenant = { users: [guest, disabled, owner], groups: [{ id: groupId(1), displayName: 'team-data', members: [guest.id, disabled.id], owners: [owner.id] }] };
    const { directory } = setUp(tenant);

    const resolution = await directory.resolve([guest.id, disabled.id]);

    expect(resolution.users.get(guest.id)?.status).toBe('guest');
    expect(allocate(guest.id, resolution)).toMatchObject({ teamId: 'data', allocation: 'team' });
    expect(resolution.users.get(disabled.id)).toMatchObject({ status: 'former', teamId: 'data' });
    expect(allocate(disabled.id, resolution)).toMatchObject({ teamId: UNALLOCATED_TEAM, allocation: 'former-user' });
    expect(resolution.notes.join('\n')).toContain('1 disabled account(s) treated as former users');
  });

  it('charges disabled accounts to their team when asked to', async () => {
    const disabled = person(2, { accountEnabled: false });
    const tenant: FakeTenant = { users: [disabled, owner], groups: [{ id: groupId(1), displayName: 'team-data', members: [disabled.id], owners: [owner.id] }] };
    const { directory } = setUp(tenant, { directory: { disabledAccounts: 'member' } });

    const resolution = await directory.resolve([disabled.id]);

    expect(allocate(disabled.id, resolution)).toMatchObject({ teamId: 'data', allocation: 'team' });
  });
});

describe('GraphDirectory lookups through $batch', () => {
  it('resolves leftovers from mixed 200/404/429 sub-responses, retrying only the throttled one after its Retry-After', async () => {
    const inNoGroup = person(1);
    const throttled = person(2);
    const deleted = person(3, { displayName: 'Gone Person' });
    const neverSeen = oid(4);
    const tenant: FakeTenant = { users: [inNoGroup, throttled, owner], groups: [], deletedUsers: [deleted] };
    const { stub, clock, directory } = setUp(tenant, {
      stub: { fault: (r) => (r.inBatch && r.path === `/users/${throttled.id}` && r.attempt === 1 ? { status: 429, retryAfterSeconds: 7 } : undefined) },
    });

    const resolution = await directory.resolve([inNoGroup.id, throttled.id, deleted.id, neverSeen]);

    expect(clock.sleeps).toEqual([7000]);
    const userLookups = stub.requests.filter((r) => r.inBatch && r.path.startsWith('/users/'));
    expect(userLookups.map((r) => r.path)).toEqual([`/users/${inNoGroup.id}`, `/users/${throttled.id}`, `/users/${deleted.id}`, `/users/${neverSeen}`, `/users/${throttled.id}`]);
    expect(resolution.users.get(throttled.id)).toMatchObject({ status: 'member', teamId: UNALLOCATED_TEAM, upn: 'p2@contoso.example' });
    expect(resolution.users.get(inNoGroup.id)).toMatchObject({ status: 'member', teamId: UNALLOCATED_TEAM });
    expect(resolution.users.get(deleted.id)).toMatchObject({ status: 'former', displayName: 'Gone Person', teamId: UNALLOCATED_TEAM });
    expect(resolution.users.get(neverSeen)).toMatchObject({ status: 'former', displayName: '(deleted user)' });
    expect(allocate(deleted.id, resolution).allocation).toBe('former-user');
    expect(allocate(inNoGroup.id, resolution).allocation).toBe('unknown-user');
    expect(resolution.notes.join('\n')).toContain('2 user(s) belong to no team');
    // groups list, users batch, throttled retry batch, servicePrincipals batch (for the two 404s), deletedItems batch
    expect(directory.stats).toMatchObject({ calls: 5, batchCalls: 4, throttledSubRequests: 1, batchSubRequests: 4 + 1 + 2 + 2 });
  });

  it('sends at most 20 sub-requests per batch', async () => {
    const people = Array.from({ length: 45 }, (_, n) => person(n));
    const { stub, directory } = setUp({ users: people, groups: [] });

    const resolution = await directory.resolve(people.map((u) => u.id));

    expect(resolution.users.size).toBe(45);
    expect(stub.counts.batchEnvelopes).toBe(3);
    expect(stub.counts.subRequests).toBe(45);
  });

  it('leaves a user that stays throttled unknown, with a note, after the bounded attempts', async () => {
    const stubborn = person(1);
    const { clock, directory } = setUp(
      { users: [stubborn, person(2)], groups: [] },
      { stub: { fault: (r) => (r.inBatch && r.path === `/users/${stubborn.id}` ? { status: 429 } : undefined) }, directory: { maxSubRequestAttempts: 3 } },
    );

    const resolution = await directory.resolve([stubborn.id, oid(2)]);

    expect(resolution.users.has(stubborn.id)).toBe(false);
    expect(resolution.users.has(oid(2))).toBe(true);
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(resolution.notes.join('\n')).toContain(`1 user(s) could not be looked up in Graph and are left unallocated: ${stubborn.id} (429 after 3 attempts)`);
  });

  it('retries the whole batch after a 503 on the envelope, honouring its Retry-After', async () => {
    const people = [person(1), person(2)];
    const { stub, clock, directory } = setUp(
      { users: people, groups: [] },
      { stub: { fault: (r) => (r.path === '/$batch' && r.attempt === 1 ? { status: 503, retryAfterSeconds: 2 } : undefined) } },
    );

    const resolution = await directory.resolve(people.map((u) => u.id));

    expect(resolution.users.size).toBe(2);
    expect(clock.sleeps).toEqual([2000]);
    expect(stub.counts.byPath.get('POST /$batch')).toBe(2);
    expect(directory.stats.retriedCalls).toBe(1);
  });

  it('reports the users of a batch that keeps failing instead of crashing the run', async () => {
    const { clock, directory } = setUp(
      { users: [person(1)], groups: [] },
      { stub: { fault: (r) => (r.path === '/$batch' ? { status: 504 } : undefined) }, directory: { maxCallAttempts: 3 } },
    );

    const resolution = await directory.resolve([oid(1)]);

    expect(resolution.users.size).toBe(0);
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(resolution.notes.join('\n')).toContain('$batch failed with 504 after 3 attempts');
  });

  it('does not look up ids that are not object ids', async () => {
    const { stub, directory } = setUp({ users: [], groups: [] });

    const resolution = await directory.resolve(['not-a-guid', '']);

    expect(resolution.users.size).toBe(0);
    expect(stub.counts.batchEnvelopes).toBe(0);
    expect(resolution.notes.join('\n')).toContain('1 user id(s) are not Entra object ids');
  });
});

describe('GraphDirectory with the department and cost-center strategies', () => {
  const staff = [
    person(1, { department: 'Platform Engineering', costCenter: 'CC-1001' }),
    person(2, { department: 'Platform Engineering', costCenter: 'CC-1001' }),
    person(3, { department: 'Données & Analyse', costCenter: 'CC 2002' }),
    person(4, { department: null, costCenter: null }),
  ];
  const leads: MappingOverrides = { users: {}, teamLeads: { 'platform-engineering': ['lead@contoso.example'] } };

  it('lists all users in pages when many oids are asked, and derives teams from the department', async () => {
    const { stub, directory } = setUp({ users: staff, groups: [] }, { strategy: { kind: 'department' }, overrides: leads, stub: { maxPageSize: 2 }, directory: { batchOnlyUpTo: 0 } });

    const resolution = await directory.resolve(staff.map((u) => u.id));

    expect(stub.counts.byPath.get('GET /users')).toBe(2);
    expect(stub.counts.batchEnvelopes).toBe(0);
    expect(resolution.users.get(oid(1))?.teamId).toBe('platform-engineering');
    expect(resolution.users.get(oid(3))?.teamId).toBe('donnees-analyse');
    expect(resolution.users.get(oid(4))?.teamId).toBe(UNALLOCATED_TEAM);
    expect(resolution.teams.get('platform-engineering')).toEqual({ id: 'platform-engineering', name: 'Platform Engineering', leads: ['lead@contoso.example'] });
    expect(resolution.teams.get('donnees-analyse')).toEqual({ id: 'donnees-analyse', name: 'Données & Analyse', leads: [] });
    expect(resolution.notes.join('\n')).toContain('1 team(s) have no lead to send reports to: donnees-analyse');
    expect(resolution.notes.join('\n')).toContain('1 user(s) belong to no team (no usable department)');
  });

  it('looks a few oids up through $batch instead of listing the tenant', async () => {
    const { stub, directory } = setUp({ users: staff, groups: [] }, { strategy: { kind: 'department' }, overrides: leads });

    const resolution = await directory.resolve([oid(1), oid(3)]);

    expect(stub.counts.byPath.get('GET /users')).toBeUndefined();
    expect(stub.counts.batchEnvelopes).toBe(1);
    expect(resolution.users.get(oid(1))?.teamId).toBe('platform-engineering');
    expect(resolution.users.get(oid(3))?.teamId).toBe('donnees-analyse');
  });

  it('derives teams and their cost center from employeeOrgData.costCenter', async () => {
    const { directory } = setUp({ users: staff, groups: [] }, { strategy: { kind: 'cost-center' }, directory: { batchOnlyUpTo: 0 } });

    const resolution = await directory.resolve(staff.map((u) => u.id));

    expect(resolution.users.get(oid(1))?.teamId).toBe('cc-1001');
    expect(resolution.users.get(oid(3))?.teamId).toBe('cc-2002');
    expect(resolution.teams.get('cc-1001')).toEqual({ id: 'cc-1001', name: 'CC-1001', leads: [], costCenter: 'CC-1001' });
  });
});

describe('GraphDirectory overrides', () => {
  it('win over group membership, owners and group names, and skip the owners call they make useless', async () => {
    const tenant: FakeTenant = {
      users: [person(1), person(2), person(3), owner],
      groups: [
        { id: groupId(1), displayName: 'team-red', members: [oid(1), oid(2)], owners: [owner.id] },
        { id: groupId(2), displayName: 'team-blue', members: [oid(1)], owners: [owner.id] },
      ],
    };
    const overrides: MappingOverrides = {
      users: { [oid(1).toUpperCase()]: 'red', [oid(3)]: 'green' },
      teamLeads: { red: ['red-lead@contoso.example'], green: ['green-lead@contoso.example'] },
      teamNames: { green: 'Green Team' },
    };
    const { stub, directory } = setUp(tenant, { overrides });

    const resolution = await directory.resolve([oid(1), oid(2), oid(3)]);

    expect(resolution.users.get(oid(1))?.teamId).toBe('red');
    expect(resolution.users.get(oid(3))?.teamId).toBe('green');
    expect(resolution.notes).toEqual([]);
    expect(resolution.teams.get('red')?.leads).toEqual(['red-lead@contoso.example']);
    expect(resolution.teams.get('green')).toEqual({ id: 'green', name: 'Green Team', leads: ['green-lead@contoso.example'] });
    expect([...resolution.teams.keys()]).toEqual(['green', 'red']);
    expect(stub.counts.byPath.get(`GET /groups/${groupId(1)}/owners`)).toBeUndefined();
  });

  it('rejects overrides naming invalid team ids, listing every problem', () => {
    const make = () =>
      new GraphDirectory({
        client: graphClientWithAuthProvider(fakeAuthProvider),
        strategy: { kind: 'department' },
        overrides: { users: { [oid(1)]: 'Bad Team' }, teamLeads: { '-x': [] } },
      });
    expect(make).toThrowError(AppError);
    try {
      make();
    } catch (error) {
      expect((error as AppError).code).toBe('DIRECTORY_INVALID');
      expect((error as AppError).details).toHaveLength(2);
    }
  });
});

describe('GraphDirectory with service principals (automation identities)', () => {
  const spId = (n: number): string => fakeObjectId(3, n);
  const platform = (members: number[]) => ({ id: groupId(1), displayName: 'team-platform', members: members.map(oid), owners: [oid(900)] });
  const data = (members: number[]) => ({ id: groupId(2), displayName: 'team-data', members: members.map(oid), owners: [oid(900)] });

  it("charges a service principal to its owner's team, never as a former user", async () => {
    const tenant: FakeTenant = {
      users: [person(1), person(2), person(900)],
      groups: [platform([1]), data([2])],
      servicePrincipals: [{ id: spId(1), appId: 'app-1', displayName: 'ci-pipeline', owners: [oid(2)] }],
    };
    const { directory, stub } = setUp(tenant);
    const resolution = await directory.resolve([oid(1), spId(1)]);
    const principal = resolution.users.get(spId(1))!;
    expect(principal).toMatchObject({ teamId: 'data', displayName: 'ci-pipeline', status: 'member' });
    expect(allocate(spId(1), resolution)).toMatchObject({ teamId: 'data', allocation: 'team' });
    expect(resolution.teams.get('data')?.leads).toEqual(['p900@contoso.example']);
    // The 404 on /users led to /servicePrincipals, and deletedItems was never asked for it.
    const paths = stub.requests.map((r) => r.path);
    expect(paths).toContain(`/servicePrincipals/${spId(1)}`);
    expect(paths).not.toContain(`/directory/deletedItems/${spId(1)}`);
  });

  it('prefers a chargeback-team tag over the owners, and an override over both', async () => {
    const tenant: FakeTenant = {
      users: [person(2), person(900)],
      groups: [platform([]), data([2])],
      servicePrincipals: [
        { id: spId(1), appId: 'app-1', displayName: 'tagged agent', tags: ['WindowsAzureActiveDirectoryIntegratedApp', 'chargeback-team:platform'], owners: [oid(2)] },
        { id: spId(2), appId: 'app-2', displayName: 'overridden agent', tags: ['chargeback-team:platform'], owners: [oid(2)] },
      ],
    };
    const { directory, stub } = setUp(tenant, { overrides: { users: { [spId(2)]: 'data' }, teamLeads: {} } });
    const resolution = await directory.resolve([spId(1), spId(2)]);
    expect(resolution.users.get(spId(1))?.teamId).toBe('platform');
    expect(resolution.users.get(spId(2))?.teamId).toBe('data');
    // Neither needed its owners.
    expect(stub.requests.some((r) => r.path.endsWith('/owners') && r.path.startsWith('/servicePrincipals'))).toBe(false);
  });

  it('leaves an ownerless, untagged service principal unallocated as a member, with a note saying how to fix it', async () => {
    const tenant: FakeTenant = { users: [person(900)], groups: [platform([])], servicePrincipals: [{ id: spId(1), appId: 'app-1', displayName: 'orphan bot', owners: [] }] };
    const { directory } = setUp(tenant);
    const resolution = await directory.resolve([spId(1)]);
    expect(resolution.users.get(spId(1))).toMatchObject({ teamId: UNALLOCATED_TEAM, status: 'member' });
    expect(resolution.notes.join('\n')).toContain('"orphan bot"');
    expect(resolution.notes.join('\n')).toContain('chargeback-team:<team>');
  });

  it('still treats an oid that is neither a user nor a service principal as a deleted user', async () => {
    const gone = person(7, { displayName: 'Gone Person' });
    const { directory } = setUp({ users: [], groups: [platform([])], deletedUsers: [gone] });
    const resolution = await directory.resolve([gone.id]);
    expect(resolution.users.get(gone.id)).toMatchObject({ status: 'former', displayName: 'Gone Person' });
  });

  it('without Application.Read.All keeps the old reading (deleted users) and says which permission is missing', async () => {
    const tenant: FakeTenant = { users: [], groups: [platform([])], servicePrincipals: [{ id: spId(1), appId: 'app-1', displayName: 'ci', owners: [] }] };
    const { directory } = setUp(tenant, { stub: { fault: (r) => (r.inBatch && r.path.startsWith('/servicePrincipals') ? { status: 403, code: 'Authorization_RequestDenied' } : undefined) } });
    const resolution = await directory.resolve([spId(1)]);
    expect(resolution.users.get(spId(1))?.status).toBe('former');
    expect(resolution.notes.join('\n')).toContain('Application.Read.All');
  });
});

describe('GraphDirectory errors', () => {
  async function failure(promise: Promise<unknown>): Promise<AppError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }

  it('names the missing permission when Graph answers 403', async () => {
    const { directory } = setUp({ users: [], groups: [] }, { stub: { fault: (r) => (r.path === '/groups' ? { status: 403, code: 'Authorization_RequestDenied' } : undefined) } });
    const error = await failure(directory.resolve([oid(1)]));
    expect(error.code).toBe('DIRECTORY_INVALID');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('GroupMember.Read.All');
    expect(error.message).toContain('Authorization_RequestDenied');
  });

  it('names User.Read.All when a $batch user lookup is forbidden', async () => {
    const { directory } = setUp({ users: [person(1)], groups: [] }, { stub: { fault: (r) => (r.inBatch ? { status: 403, code: 'Authorization_RequestDenied' } : undefined) } });
    const error = await failure(directory.resolve([oid(1)]));
    expect(error.code).toBe('DIRECTORY_INVALID');
    expect(error.message).toContain('User.Read.All');
  });

  it('gives up on a listing that stays throttled with a retryable THROTTLED', async () => {
    const { clock, directory } = setUp({ users: [], groups: [] }, { stub: { fault: (r) => (r.path === '/groups' ? { status: 429, retryAfterSeconds: 3 } : undefined) }, directory: { maxCallAttempts: 3 } });
    const error = await failure(directory.resolve([oid(1)]));
    expect(error.code).toBe('THROTTLED');
    expect(error.retryable).toBe(true);
    expect(clock.sleeps).toEqual([3000, 3000]);
    expect(directory.callCount).toBe(3);
  });

  it('reports a listing that keeps failing with 5xx as a retryable INTERNAL', async () => {
    const { directory } = setUp({ users: [], groups: [] }, { stub: { fault: (r) => (r.path === '/groups' ? { status: 500 } : undefined) }, directory: { maxCallAttempts: 2 } });
    const error = await failure(directory.resolve([oid(1)]));
    expect(error.code).toBe('INTERNAL');
    expect(error.retryable).toBe(true);
  });
});

describe('graphClientFor', () => {
  it('asks the credential for the Graph .default scope and sends the token', async () => {
    const scopesAsked: string[][] = [];
    const credential: TokenCredential = {
      getToken: async (scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> => {
        scopesAsked.push([scopes].flat());
        return { token: FAKE_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const stub = graphStub({ users: [person(1)], groups: [] });
    server.use(...stub.handlers);

    const user = (await graphClientFor(credential).api(`/users/${oid(1)}`).get()) as { id: string };

    expect(user.id).toBe(oid(1));
    expect(scopesAsked).toEqual([['https://graph.microsoft.com/.default']]);
  });

  it('sends the token to a custom Graph root too', async () => {
    const stub = graphStub({ users: [person(1)], groups: [] }, { origin: 'https://graph.example.test' });
    server.use(...stub.handlers);

    const user = (await graphClientWithAuthProvider(fakeAuthProvider, { baseUrl: 'https://graph.example.test' }).api(`/users/${oid(1)}`).get()) as { id: string };

    expect(user.id).toBe(oid(1));
  });

  it('does not retry by itself, so the directory alone decides (one 503 = one request)', async () => {
    const stub = graphStub({ users: [], groups: [] }, { fault: () => ({ status: 503, retryAfterSeconds: 0 }) });
    server.use(...stub.handlers);
    await expect(graphClientWithAuthProvider(fakeAuthProvider).api('/users').get()).rejects.toMatchObject({ statusCode: 503 });
    expect(stub.counts.http).toBe(1);
  });
});

describe('teamIdFromName', () => {
  it('makes a valid team id out of a display name, or nothing', () => {
    expect(teamIdFromName('Platform Engineering')).toBe('platform-engineering');
    expect(teamIdFromName('  Équipe Données  ')).toBe('equipe-donnees');
    expect(teamIdFromName('R&D / ML.ops_')).toBe('r-d-ml.ops');
    expect(teamIdFromName('---')).toBeUndefined();
    expect(teamIdFromName('')).toBeUndefined();
    expect(teamIdFromName('x'.repeat(100))).toHaveLength(63);
  });
});

describe('GraphDirectory cancellation', () => {
  it("gives up a Graph request that does not answer when the caller's signal aborts, instead of hanging", async () => {
    const { http, delay } = await import('msw');
    let requests = 0;
    server.use(
      http.get(/\/groups/, async () => {
        requests += 1;
        await delay('infinite');
        return new Response(null, { status: 500 });
      }),
    );
    const directory = new GraphDirectory({ client: graphClientWithAuthProvider(fakeAuthProvider), strategy: { kind: 'group-prefix', prefix: 'team-' } });
    const controller = new AbortController();
    const lookup = directory.lookUpTeams(['platform'], { signal: controller.signal });
    await expect.poll(() => requests).toBe(1);
    controller.abort(new AppError('TIMEOUT', 'deadline', { retryable: true }));
    await expect(lookup).rejects.toMatchObject({ code: 'TIMEOUT' });
    // Not retried after the caller gave up.
    expect(requests).toBe(1);
  });
});
