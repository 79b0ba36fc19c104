import { http, HttpResponse, type HttpHandler } from 'msw';

/** A small in-memory Entra tenant; the stub answers Graph requests from it. */
export interface FakeUser {
  readonly id: string;
  readonly displayName: string;
  readonly userPrincipalName: string;
  readonly mail?: string | null;
  readonly userType?: 'Member' | 'Guest';
  readonly accountEnabled?: boolean;
  readonly department?: string | null;
  readonly costCenter?: string | null;
}

export interface FakeGroup {
  readonly id: string;
  readonly displayName: string;
  /** user ids */
  readonly members: readonly string[];
  /** user ids */
  readonly owners: readonly string[];
}

/** An automation identity: app-only tokens carry its oid; Graph answers it at /servicePrincipals/{id}. */
export interface FakeServicePrincipal {
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  readonly tags?: readonly string[];
  /** user ids */
  readonly owners: readonly string[];
}

export interface FakeTenant {
  readonly users: readonly FakeUser[];
  readonly groups: readonly FakeGroup[];
  /** Users in the recycle bin: 404 on /users/{id}, 200 on /directory/deletedItems/{id}. */
  readonly deletedUsers?: readonly FakeUser[];
  readonly servicePrincipals?: readonly FakeServicePrincipal[];
}

export interface StubRequest {
  readonly method: string;
  /** Path after /v1.0, e.g. "/users/abc" or "/$batch". */
  readonly path: string;
  readonly url: URL;
  readonly inBatch: boolean;
  /** How many times this method + path + query has been asked so far, this one included. */
  readonly attempt: number;
}

export interface StubFault {
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly code?: string;
}

export interface GraphStubOptions {
  readonly origin?: string;
  /** The server's page size cap: min($top, this). Small values force paging in tests. */
  readonly maxPageSize?: number;
  readonly token?: string;
  /** Lets a test throttle or fail chosen requests (top-level or inside $batch). */
  readonly fault?: (request: StubRequest) => StubFault | undefined;
}

export interface GraphStubCounts {
  /** HTTP requests that reached the stub. */
  http: number;
  batchEnvelopes: number;
  subRequests: number;
  /** method + path (no query) -> count, top-level requests only. */
  readonly byPath: Map<string, number>;
}

export interface GraphStub {
  readonly handlers: HttpHandler[];
  readonly counts: GraphStubCounts;
  /** Every request served, sub-requests included, in order. */
  readonly requests: StubRequest[];
  reset(): void;
}

interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export const FAKE_TOKEN = 'fake-graph-token';

/** An auth provider for the real Graph client that needs no Entra. */
export const fakeAuthProvider = { getAccessToken: async (): Promise<string> => FAKE_TOKEN };

export function graphStub(tenant: FakeTenant, options: GraphStubOptions = {}): GraphStub {
  const origin = options.origin ?? 'https://graph.microsoft.com';
  const maxPageSize = options.maxPageSize ?? 999;
  const token = options.token ?? FAKE_TOKEN;
  const users = new Map(tenant.users.map((user) => [user.id, user]));
  const deleted = new Map((tenant.deletedUsers ?? []).map((user) => [user.id, user]));
  const groups = new Map(tenant.groups.map((group) => [group.id, group]));
  const principals = new Map((tenant.servicePrincipals ?? []).map((principal) => [principal.id, principal]));
  const counts: GraphStubCounts = { http: 0, batchEnvelopes: 0, subRequests: 0, byPath: new Map() };
  const requests: StubRequest[] = [];
  const seen = new Map<string, number>();

  function track(method: string, url: URL, inBatch: boolean): StubRequest {
    const path = url.pathname.replace(/^\/v1\.0/, '');
    const key = `${method} ${path}${url.search}`;
    const attempt = (seen.get(key) ?? 0) + 1;
    seen.set(key, attempt);
    const request = { method, path, url, inBatch, attempt };
    requests.push(request);
    return request;
  }

  function faultAnswer(request: StubRequest): Answer | undefined {
    const fault = options.fault?.(request);
    if (!fault) return undefined;
    return {
      status: fault.status,
      headers: fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) },
      body: graphErrorBody(fault.code ?? (fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable'), `injected ${fault.status}`),
    };
  }

  function page<T>(url: URL, items: readonly T[], shape: (item: T, select: readonly string[] | undefined) => unknown): Answer {
    const top = Math.min(Number(url.searchParams.get('$top') ?? 100), maxPageSize);
    const offset = Number(url.searchParams.get('$skiptoken') ?? 0);
    const select = url.searchParams.get('$select')?.split(',');
    const value = items.slice(offset, offset + top).map((item) => shape(item, select));
    const body: Record<string, unknown> = { value };
    if (offset + top < items.length) {
      const next = new URL(url);
      next.searchParams.set('$skiptoken', String(offset + top));
      body['@odata.nextLink'] = next.toString();
    }
    return { status: 200, body };
  }

  function serveGet(url: URL, path: string): Answer {
    if (path === '/groups') {
      const filter = url.searchParams.get('$filter') ?? '';
      const match = /^startswith\(displayName,'((?:[^']|'')*)'\)$/.exec(filter);
      if (!match) return { status: 400, body: graphErrorBody('Request_UnsupportedQuery', `unsupported filter ${filter}`) };
      const prefix = (match[1] ?? '').replace(/''/g, "'").toLowerCase();
      return page(url, tenant.groups.filter((group) => group.displayName.toLowerCase().startsWith(prefix)), (group, select) =>
        pick({ id: group.id, displayName: group.displayName }, select),
      );
    }
    const members = /^\/groups\/([^/]+)\/(members|transitiveMembers)\/microsoft\.graph\.user$/.exec(path);
    if (members) {
      const group = groups.get(decodeURIComponent(members[1] ?? ''));
      if (!group) return notFound();
      return page(url, group.members.map((id) => users.get(id)).filter((user) => user !== undefined), userShape);
    }
    const owners = /^\/groups\/([^/]+)\/owners$/.exec(path);
    if (owners) {
      const group = groups.get(decodeURIComponent(owners[1] ?? ''));
      if (!group) return notFound();
      return page(url, group.owners.map((id) => users.get(id)).filter((user) => user !== undefined), (user, select) =>
        pick({ '@odata.type': '#microsoft.graph.user', ...(userShape(user, undefined) as object) }, select && ['@odata.type', ...select]),
      );
    }
    if (path === '/users') return page(url, tenant.users, userShape);
    const user = /^\/users\/([^/]+)$/.exec(path);
    if (user) {
      const found = users.get(decodeURIComponent(user[1] ?? ''));
      return found ? { status: 200, body: userShape(found, url.searchParams.get('$select')?.split(',')) } : notFound();
    }
    const principal = /^\/servicePrincipals\/([^/]+)$/.exec(path);
    if (principal) {
      const found = principals.get(decodeURIComponent(principal[1] ?? ''));
      const full = found && { id: found.id, appId: found.appId, displayName: found.displayName, tags: found.tags ?? [], accountEnabled: true, servicePrincipalType: 'Application' };
      return full ? { status: 200, body: pick(full, url.searchParams.get('$select')?.split(',')) } : notFound();
    }
    const principalOwners = /^\/servicePrincipals\/([^/]+)\/owners$/.exec(path);
    if (principalOwners) {
      const found = principals.get(decodeURIComponent(principalOwners[1] ?? ''));
      if (!found) return notFound();
      return page(url, found.owners.map((id) => users.get(id)).filter((user) => user !== undefined), (user, select) =>
        pick({ '@odata.type': '#microsoft.graph.user', ...(userShape(user, undefined) as object) }, select && ['@odata.type', ...select]),
      );
    }
    const deletedItem = /^\/directory\/deletedItems\/([^/]+)$/.exec(path);
    if (deletedItem) {
      const found = deleted.get(decodeURIComponent(deletedItem[1] ?? ''));
      return found ? { status: 200, body: { '@odata.type': '#microsoft.graph.user', ...(userShape(found, undefined) as object) } } : notFound();
    }
    return { status: 400, body: graphErrorBody('BadRequest', `the stub does not serve ${path}`) };
  }

  function serveSubRequest(sub: { id?: string; method?: string; url?: string }): Answer & { id: string } {
    counts.subRequests += 1;
    const id = String(sub.id ?? '');
    if (sub.method !== 'GET' || typeof sub.url !== 'string' || !sub.url.startsWith('/')) {
      return { id, status: 400, body: graphErrorBody('BadRequest', 'the stub serves relative GET sub-requests only') };
    }
    const url = new URL(`${origin}/v1.0${sub.url}`);
    const request = track('GET', url, true);
    return { id, ...(faultAnswer(request) ?? serveGet(url, request.path)) };
  }

  const handler = http.all(`${origin}/*`, async ({ request }) => {
    counts.http += 1;
    const url = new URL(request.url);
    const tracked = track(request.method, url, false);
    const pathKey = `${request.method} ${tracked.path}`;
    counts.byPath.set(pathKey, (counts.byPath.get(pathKey) ?? 0) + 1);
    if (request.headers.get('authorization') !== `Bearer ${token}`) {
      return reply({ status: 401, body: graphErrorBody('InvalidAuthenticationToken', 'Access token is empty or invalid.') });
    }
    const fault = faultAnswer(tracked);
    if (fault) return reply(fault);

    if (request.method === 'POST' && tracked.path === '/$batch') {
      counts.batchEnvelopes += 1;
      const body = (await request.json()) as { requests?: { id?: string; method?: string; url?: string }[] };
      const subRequests = body.requests ?? [];
      if (subRequests.length === 0 || subRequests.length > 20) {
        return reply({ status: 400, body: graphErrorBody('BadRequest', `a batch holds 1 to 20 requests, got ${subRequests.length}`) });
      }
      // Graph does not promise the order of sub-responses; reversing proves callers match them by id.
      const responses = subRequests.map(serveSubRequest).reverse();
      return reply({ status: 200, body: { responses } });
    }
    if (request.method === 'GET') return reply(serveGet(url, tracked.path));
    return reply({ status: 405, body: graphErrorBody('MethodNotAllowed', `${request.method} ${tracked.path}`) });
  });

  return {
    handlers: [handler],
    counts,
    requests,
    reset() {
      counts.http = 0;
      counts.batchEnvelopes = 0;
      counts.subRequests = 0;
      counts.byPath.clear();
      requests.length = 0;
      seen.clear();
    },
  };
}

function reply(answer: Answer): Response {
  return HttpResponse.json(answer.body ?? null, { status: answer.status, headers: answer.headers ?? {} });
}

function userShape(user: FakeUser, select: readonly string[] | undefined): unknown {
  const full = {
    id: user.id,
    displayName: user.displayName,
    userPrincipalName: user.userPrincipalName,
    mail: user.mail ?? null,
    userType: user.userType ?? 'Member',
    accountEnabled: user.accountEnabled ?? true,
    department: user.department ?? null,
    employeeOrgData: { costCenter: user.costCenter ?? null, division: null },
  };
  // Like Graph, without $select only the default properties come back (no department, no employeeOrgData...).
  return pick(full, select ?? ['id', 'displayName', 'userPrincipalName', 'mail']);
}

function pick(record: Record<string, unknown>, select: readonly string[] | undefined): Record<string, unknown> {
  if (select === undefined) return record;
  const picked: Record<string, unknown> = {};
  for (const field of select) if (field in record) picked[field] = record[field];
  return picked;
}

function notFound(): Answer {
  return { status: 404, body: graphErrorBody('Request_ResourceNotFound', 'Resource does not exist or one of its queried reference-property objects are not present.') };
}

function graphErrorBody(code: string, message: string): unknown {
  return { error: { code, message, innerError: { 'request-id': '00000000-0000-0000-0000-000000000000' } } };
}

/** A deterministic object id: `kind` picks a namespace (users, groups...), `n` the object. */
export function fakeObjectId(kind: number, n: number): string {
  return `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export interface SyntheticTenant {
  readonly tenant: FakeTenant;
  /** The oids to resolve: every team member, the ones outside any team group, and the deleted ones. */
  readonly userIds: readonly string[];
  /** How many of userIds only a per-user lookup ($batch) can resolve. */
  readonly leftoverCount: number;
}

/**
 * `users` people spread round-robin over `teams` groups named "team-NN" with two owners each (owners are extra
 * users, not requested); `leftoverShare` of the oids are in no team group, one in ten of those deleted.
 */
export function syntheticTenant(options: { users: number; teams: number; leftoverShare: number; prefix?: string }): SyntheticTenant {
  const prefix = options.prefix ?? 'team-';
  const leftoverCount = Math.round(options.users * options.leftoverShare);
  const grouped = options.users - leftoverCount;
  const users: FakeUser[] = [];
  const deletedUsers: FakeUser[] = [];
  const members: string[][] = Array.from({ length: options.teams }, () => []);
  const userIds: string[] = [];
  for (let n = 0; n < options.users; n += 1) {
    const id = fakeObjectId(1, n);
    const user: FakeUser = { id, displayName: `User ${n}`, userPrincipalName: `user${n}@contoso.example`, mail: `user${n}@contoso.example` };
    userIds.push(id);
    if (n < grouped) {
      users.push(user);
      members[n % options.teams]?.push(id);
    } else if ((n - grouped) % 10 === 9) {
      deletedUsers.push(user);
    } else {
      users.push(user);
    }
  }
  const groups: FakeGroup[] = [];
  for (let t = 0; t < options.teams; t += 1) {
    const owners = [fakeObjectId(3, 2 * t), fakeObjectId(3, 2 * t + 1)];
    for (const [index, id] of owners.entries()) {
      users.push({ id, displayName: `Lead ${t}.${index}`, userPrincipalName: `lead${t}-${index}@contoso.example`, mail: `lead${t}-${index}@contoso.example` });
    }
    groups.push({ id: fakeObjectId(2, t), displayName: `${prefix}${String(t).padStart(2, '0')}`, members: members[t] ?? [], owners });
  }
  // Groups that merely look alike must not become teams.
  groups.push({ id: fakeObjectId(2, 10_000), displayName: 'all-staff', members: userIds.slice(0, 10), owners: [] });
  return { tenant: { users, groups, deletedUsers }, userIds, leftoverCount };
}
