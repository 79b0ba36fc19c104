/**
 * Serves the cost page (the built single-page app under dist/web) from the same origin as the cost API, so the
 * page calls /api/... without CORS. Used by the Functions app (functions/http-web.ts) and by the local `serve`.
 *
 * Only names made of plain segments are served, each resolved inside the root: no `..`, no encoded slashes,
 * no dot files. Vite's hashed files under assets/ are cached for a year; everything else is revalidated.
 * `config.json` is not a file: it tells the page how to sign in, from the settings of whoever serves it.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** How the page signs people in; the page shows the matching sign-in and nothing else. */
export type WebSignIn =
  | { readonly kind: 'msal'; readonly tenantId: string; readonly clientId: string; readonly scopes: readonly string[] }
  /** Local `serve` only (cli/dev-sign-in.ts): pick a demo user, get a token from the local issuer. */
  | { readonly kind: 'development'; readonly usersUrl: string; readonly tokenUrl: string }
  | { readonly kind: 'unconfigured'; readonly message: string };

export interface WebPageConfig {
  readonly signIn: WebSignIn;
  /** The month the page opens on when the address names none (the demo's month locally); else the current month. */
  readonly defaultMonth?: string;
}

export interface WebAppOptions {
  /** The folder holding index.html and assets/ (dist/web). */
  readonly root: string;
  readonly config: () => WebPageConfig | Promise<WebPageConfig>;
  /** Keep files in memory after the first read (the deployed package never changes under a running app). */
  readonly keepInMemory?: boolean;
}

export type WebAppHandler = (request: HttpRequest) => Promise<HttpResponseInit>;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

// Same origin for the API; Entra for MSAL's token requests and its hidden-iframe renewals.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self' https://login.microsoftonline.com",
  'frame-src https://login.microsoftonline.com',
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': CONTENT_SECURITY_POLICY,
};

interface StaticFile {
  readonly body: Uint8Array;
  readonly etag: string;
}

/** The page's path below the route (`{*path}`): undefined when it is not a plain relative file name. */
export function safeRelativePath(raw: string | undefined): string[] | undefined {
  const value = (raw ?? '').replace(/^\/+/, '');
  if (value === '') return [];
  if (value.includes('\\') || value.includes('\0') || value.includes('%')) return undefined;
  const segments = value.split('/');
  if (segments.at(-1) === '') segments.pop();
  if (segments.length > 8 || segments.some((segment) => !SEGMENT.test(segment))) return undefined;
  return segments;
}

export function webAppHandler(options: WebAppOptions): WebAppHandler {
  const root = path.resolve(options.root);
  const kept = new Map<string, StaticFile>();

  async function load(relative: string): Promise<StaticFile | null> {
    const cached = kept.get(relative);
    if (cached !== undefined) return cached;
    const full = path.resolve(root, relative);
    if (full !== root && !full.startsWith(root + path.sep)) return null;
    let file: StaticFile | null;
    try {
      const body = await readFile(full);
      file = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ENOTDIR') throw error;
      file = null;
    }
    // Only files that exist: names that do not are the caller's to choose, and must not grow the map.
    if (options.keepInMemory && file !== null) kept.set(relative, file);
    return file;
  }

  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'Only GET is supported', { allow: 'GET, HEAD' });
    const segments = safeRelativePath(request.params['path']);
    if (segments === undefined) return plain(404, 'Not found');
    const relative = segments.join('/');
    // The page's files are relative to it: /api/web must become /api/web/ for them to resolve.
    const address = new URL(request.url);
    if (relative === '' && !address.pathname.endsWith('/')) {
      return { status: 301, headers: { ...COMMON_HEADERS, location: `${address.pathname}/${address.search}`, 'cache-control': 'no-store' } };
    }
    if (relative === 'config.json') {
      return {
        status: 200,
        headers: { ...COMMON_HEADERS, 'content-type': CONTENT_TYPES['.json']!, 'cache-control': 'no-store' },
        body: JSON.stringify(await options.config()),
      };
    }
    const extension = path.extname(relative);
    // An address without a file extension is a view of the page itself (history-style links).
    const name = relative === '' || extension === '' ? 'index.html' : relative;
    const file = await load(name);
    if (file === null) return plain(name === 'index.html' ? 503 : 404, name === 'index.html' ? 'The cost page is not built: run npm run build:web' : 'Not found');
    const headers: Record<string, string> = {
      ...COMMON_HEADERS,
      'content-type': CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream',
      'cache-control': name.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
      etag: file.etag,
    };
    if (request.headers.get('if-none-match') === file.etag) return { status: 304, headers };
    return { status: 200, headers, body: request.method === 'HEAD' ? undefined : file.body };
  };
}

function plain(status: number, message: string, extra: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra }, body: message };
}

/** The page's configuration in Azure: MSAL against the API's app registration, when the settings name it. */
export function msalPageConfig(signIn: { tenantId: string | null; clientId: string | null; apiScope: string | null }): WebPageConfig {
  if (signIn.tenantId === null || signIn.clientId === null || signIn.apiScope === null) {
    return { signIn: { kind: 'unconfigured', message: 'Sign-in is not configured: set AUTH_TENANT_ID and AUTH_AUDIENCE (and WEB_CLIENT_ID if the audience has no client id)' } };
  }
  return { signIn: { kind: 'msal', tenantId: signIn.tenantId, clientId: signIn.clientId, scopes: [signIn.apiScope] } };
}
