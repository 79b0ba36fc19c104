/**
 * Sign-in, as the server's config.json says: MSAL against the API's app registration in Azure, or (local
 * `serve` only) a development sign-in that picks a demo person. The page never decides which on its own.
 */
import { h, replaceChildren } from './dom';

export type SignInConfig =
  | { kind: 'msal'; tenantId: string; clientId: string; scopes: string[] }
  | { kind: 'development'; usersUrl: string; tokenUrl: string }
  | { kind: 'unconfigured'; message: string };

export interface PageConfig {
  signIn: SignInConfig;
  defaultMonth?: string;
}

export interface Session {
  readonly name: string;
  readonly upn: string;
  token(): Promise<string>;
  signOut(): Promise<void>;
}

export async function loadConfig(): Promise<PageConfig> {
  const response = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
  if (!response.ok) throw new Error(`The page configuration could not be read (${response.status})`);
  return (await response.json()) as PageConfig;
}

/** Resolves with a session once someone is signed in; until then renders the sign-in into `main`. */
export async function signIn(config: SignInConfig, main: HTMLElement): Promise<Session> {
  switch (config.kind) {
    case 'msal':
      return msalSignIn(config, main);
    case 'development':
      return developmentSignIn(config, main);
    default:
      replaceChildren(main, h('section', { class: 'panel' }, h('h2', {}, 'Sign-in is not available'), h('p', {}, config.message)));
      return new Promise<Session>(() => undefined);
  }
}

async function msalSignIn(config: Extract<SignInConfig, { kind: 'msal' }>, main: HTMLElement): Promise<Session> {
  const { PublicClientApplication, InteractionRequiredAuthError } = await import('@azure/msal-browser');
  const redirectUri = new URL('./', document.baseURI).href;
  const client = new PublicClientApplication({
    auth: { clientId: config.clientId, authority: `https://login.microsoftonline.com/${config.tenantId}`, redirectUri, postLogoutRedirectUri: redirectUri },
    cache: { cacheLocation: 'sessionStorage' },
  });
  await client.initialize();
  const redirect = await client.handleRedirectPromise();
  const account = redirect?.account ?? client.getAllAccounts()[0];
  if (account === undefined) {
    replaceChildren(
      main,
      h(
        'section',
        { class: 'panel sign-in' },
        h('h2', {}, 'Sign in'),
        h('p', {}, 'Sign in with your work account to see the LLM costs you may see.'),
        h('button', { type: 'button', class: 'primary', onclick: () => void client.loginRedirect({ scopes: config.scopes, redirectStartPage: location.href }) }, 'Sign in with Microsoft'),
      ),
    );
    return new Promise<Session>(() => undefined);
  }
  client.setActiveAccount(account);
  return {
    name: account.name ?? account.username,
    upn: account.username,
    token: async () => {
      try {
        return (await client.acquireTokenSilent({ scopes: config.scopes, account })).accessToken;
      } catch (error) {
        if (error instanceof InteractionRequiredAuthError) await client.acquireTokenRedirect({ scopes: config.scopes, account });
        throw error;
      }
    },
    signOut: () => client.logoutRedirect({ account }),
  };
}

const DEV_TOKEN_KEY = 'llm-costs.development-session';

interface DevelopmentSession {
  accessToken: string;
  expiresOn: string;
  user: { userId: string; name: string; upn: string };
}

async function developmentSignIn(config: Extract<SignInConfig, { kind: 'development' }>, main: HTMLElement): Promise<Session> {
  const kept = readKept();
  if (kept !== undefined) return developmentSession(kept);
  const response = await fetch(new URL(config.usersUrl, document.baseURI), { cache: 'no-store' });
  const { users } = (await response.json()) as { users: { userId: string; name: string; upn: string; description: string }[] };
  return new Promise<Session>((resolve) => {
    const choose = async (userId: string) => {
      const answer = await fetch(new URL(config.tokenUrl, document.baseURI), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) });
      if (!answer.ok) throw new Error(`The development sign-in refused (${answer.status})`);
      const session = (await answer.json()) as DevelopmentSession;
      sessionStorage.setItem(DEV_TOKEN_KEY, JSON.stringify(session));
      resolve(developmentSession(session));
    };
    replaceChildren(
      main,
      h(
        'section',
        { class: 'panel sign-in' },
        h('h2', {}, 'Development sign-in'),
        h('p', {}, 'This local server signs you in as a demo person with a token from the local issuer. Azure never offers this.'),
        h(
          'ul',
          { class: 'people' },
          users.map((user) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: 'person', 'data-user-id': user.userId, onclick: () => void choose(user.userId) },
                h('span', { class: 'person-role' }, user.description),
                h('span', { class: 'person-name' }, `${user.name} · ${user.upn}`),
              ),
            ),
          ),
        ),
      ),
    );
    main.querySelector<HTMLButtonElement>('button.person')?.focus();
  });
}

function readKept(): DevelopmentSession | undefined {
  try {
    const session = JSON.parse(sessionStorage.getItem(DEV_TOKEN_KEY) ?? 'null') as DevelopmentSession | null;
    if (session !== null && Date.parse(session.expiresOn) > Date.now() + 60_000) return session;
  } catch {
    // a broken entry: sign in again
  }
  sessionStorage.removeItem(DEV_TOKEN_KEY);
  return undefined;
}

function developmentSession(session: DevelopmentSession): Session {
  return {
    name: session.user.name,
    upn: session.user.upn,
    token: async () => session.accessToken,
    signOut: async () => {
      sessionStorage.removeItem(DEV_TOKEN_KEY);
      location.reload();
    },
  };
}
