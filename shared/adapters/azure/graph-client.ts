import type { TokenCredential } from '@azure/identity';
import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  RedirectHandler,
  RedirectHandlerOptions,
  TelemetryHandler,
  type AuthenticationProvider,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
// The package has no "exports" map, so Node's ESM resolver needs the file, not the folder.
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';

export const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default';

export interface GraphClientOptions {
  /** Graph root for a national cloud, e.g. https://graph.microsoft.us (default https://graph.microsoft.com). */
  readonly baseUrl?: string;
}

/**
 * A Graph client for the app's managed identity (or any Azure credential).
 *
 * The SDK's default middleware chain contains a RetryHandler that silently retries 429/503/504 up to three
 * times with real timers. GraphDirectory (and later the mailer) do their own bounded, observable retries:
 * per-sub-request Retry-After inside $batch, call counting, injected sleep in tests. Two retry layers would
 * multiply attempts and hide throttling from our counters, so this chain leaves the RetryHandler out.
 */
export function graphClientFor(credential: TokenCredential, options: GraphClientOptions = {}): Client {
  const scope = options.baseUrl === undefined ? GRAPH_DEFAULT_SCOPE : `${trimSlash(options.baseUrl)}/.default`;
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [scope] });
  return graphClientWithAuthProvider(authProvider, options);
}

/** The same client shape with any auth provider: tests pass a fake one and keep the production middleware. */
export function graphClientWithAuthProvider(authProvider: AuthenticationProvider, options: GraphClientOptions = {}): Client {
  const middleware: Middleware[] = [
    new AuthenticationHandler(authProvider),
    new RedirectHandler(new RedirectHandlerOptions()),
    new TelemetryHandler(),
    new HTTPMessageHandler(),
  ];
  return Client.initWithMiddleware({
    middleware,
    // The auth handler only attaches the token for hosts it knows: the public and national Graph clouds, or these.
    ...(options.baseUrl === undefined ? {} : { baseUrl: `${trimSlash(options.baseUrl)}/`, customHosts: new Set([new URL(options.baseUrl).hostname]) }),
    defaultVersion: 'v1.0',
  });
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
