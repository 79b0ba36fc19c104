/**
 * The cost page's development sign-in, for `serve` on a laptop: pick a demo person (a team lead, a member,
 * finance) and get an access token from the local token issuer, the same kind `token` prints.
 *
 * It exists only here, in cli/, which the deployment build (tsconfig.build.json) and package (.funcignore)
 * leave out; the Functions app's page config can only say MSAL (shared/adapters/http/web-app.ts). And `serve`
 * refuses to offer it when its settings look like Azure: a Functions host's variables, or a real Entra tenant.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { LocalRoute } from '../shared/adapters/http/local-host.js';
import { loadDirectoryFile } from '../shared/adapters/local/file-directory.js';
import { LOCAL_AUDIENCE, LOCAL_TENANT_ID, mintLocalToken, type LocalSigningKey } from '../shared/adapters/local/local-token-issuer.js';
import { AppError } from '../shared/domain/errors.js';
import type { WebSignIn } from '../shared/adapters/http/web-app.js';

/** A finance person who is in no team: finance is a role, not a team. */
export const DEMO_FINANCE_USER = { userId: '00000000-0000-4000-8000-0000000000f1', name: 'Fran Finance', upn: 'finance@contoso.example' } as const;

const TOKEN_LIFETIME_SECONDS = 8 * 3600;

/** Variables that only an Azure Functions host (or App Service) sets, and the setting that trusts real Entra. */
const AZURE_MARKERS = ['WEBSITE_INSTANCE_ID', 'WEBSITE_SITE_NAME', 'WEBSITE_HOSTNAME', 'FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'AzureWebJobsScriptRoot', 'AUTH_TENANT_ID'] as const;

/** Why development sign-in must stay off here (empty: it may be offered). */
export function reasonsAgainstDevelopmentSignIn(env: Readonly<Record<string, string | undefined>>): string[] {
  return AZURE_MARKERS.filter((name) => (env[name]?.trim() ?? '') !== '').map((name) =>
    name === 'AUTH_TENANT_ID' ? `${name} is set: the real Entra sign-in is configured` : `${name} is set: this looks like an Azure Functions host`,
  );
}

export function assertDevelopmentSignInAllowed(env: Readonly<Record<string, string | undefined>>): void {
  const reasons = reasonsAgainstDevelopmentSignIn(env);
  if (reasons.length > 0) {
    throw new AppError('CONFIG_INVALID', 'the development sign-in is for a local machine only; start serve with --no-dev-sign-in here', { details: reasons });
  }
}

export interface DemoPerson {
  readonly userId: string;
  readonly name: string;
  readonly upn: string;
  readonly roles: readonly string[];
  /** What the person sees, for the picker: "Lead of Platform", "Member of Data", "Finance". */
  readonly description: string;
}

/** Every team's first lead, one plain member, and finance, from the directory file. */
export async function demoPeople(directoryFile: string, financeRole: string): Promise<DemoPerson[]> {
  const directory = await loadDirectoryFile(directoryFile);
  const users = [...directory.users.values()].filter((user) => user.status === 'member');
  const byUpn = new Map(users.map((user) => [user.upn.toLowerCase(), user]));
  const people: DemoPerson[] = [];
  const leads = new Set<string>();
  for (const team of [...directory.teams.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const lead = team.leads.map((upn) => byUpn.get(upn.toLowerCase())).find((user) => user !== undefined);
    if (lead === undefined || leads.has(lead.userId)) continue;
    leads.add(lead.userId);
    people.push({ userId: lead.userId, name: lead.displayName, upn: lead.upn, roles: [], description: `Lead of ${team.name}` });
  }
  const member = users.find((user) => !leads.has(user.userId) && directory.teams.has(user.teamId));
  if (member !== undefined) {
    const team = directory.teams.get(member.teamId)!;
    people.splice(1, 0, { userId: member.userId, name: member.displayName, upn: member.upn, roles: [], description: `Member of ${team.name}` });
  }
  people.splice(member === undefined ? 1 : 2, 0, { ...DEMO_FINANCE_USER, roles: [financeRole], description: 'Finance (every team)' });
  return people;
}

/** GET /api/dev/sign-in/users and POST /api/dev/sign-in/token, for the people `demoPeople` offers only. */
export function developmentSignInRoutes(options: { key: LocalSigningKey; people: readonly DemoPerson[]; now?: () => Date }): LocalRoute[] {
  const json = (status: number, body: unknown): HttpResponseInit => ({
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  });
  const users = async (): Promise<HttpResponseInit> =>
    json(200, { users: options.people.map(({ userId, name, upn, description }) => ({ userId, name, upn, description })) });
  const token = async (request: HttpRequest): Promise<HttpResponseInit> => {
    // A JSON content type makes a cross-site form post impossible without a CORS preflight, which nothing here answers.
    if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      return json(415, { error: { code: 'BAD_REQUEST', message: 'Send {"userId": "..."} as application/json' } });
    }
    let userId: unknown;
    try {
      userId = ((await request.json()) as { userId?: unknown } | null)?.userId;
    } catch {
      return json(400, { error: { code: 'BAD_REQUEST', message: 'Send {"userId": "..."} as JSON' } });
    }
    const person = options.people.find((candidate) => candidate.userId === userId);
    if (person === undefined) return json(403, { error: { code: 'FORBIDDEN', message: 'Only the demo people listed by /api/dev/sign-in/users can sign in here' } });
    const issuedAt = options.now?.() ?? new Date();
    const accessToken = await mintLocalToken(options.key, {
      userId: person.userId,
      roles: [...person.roles],
      tenantId: LOCAL_TENANT_ID,
      audience: LOCAL_AUDIENCE,
      upn: person.upn,
      name: person.name,
      issuedAt,
      expiresInSeconds: TOKEN_LIFETIME_SECONDS,
    });
    return json(200, { accessToken, expiresOn: new Date(issuedAt.getTime() + TOKEN_LIFETIME_SECONDS * 1000).toISOString(), user: { userId: person.userId, name: person.name, upn: person.upn } });
  };
  return [
    { name: 'devSignInUsers', segments: ['dev', 'sign-in', 'users'], handler: users },
    { name: 'devSignInToken', segments: ['dev', 'sign-in', 'token'], handler: token, methods: ['POST'] },
  ];
}

export const DEVELOPMENT_SIGN_IN: WebSignIn = { kind: 'development', usersUrl: '../dev/sign-in/users', tokenUrl: '../dev/sign-in/token' };
