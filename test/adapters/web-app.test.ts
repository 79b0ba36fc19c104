import functions from '@azure/functions';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { webHandler } from '../../functions/http-web.js';
import { msalPageConfig, safeRelativePath, type WebPageConfig } from '../../shared/adapters/http/web-app.js';
import { processWebPageConfig } from '../../shared/composition-root.js';
import { loadWebSignInSettings } from '../../shared/config/settings.js';

const { HttpRequest } = functions;

let root: string;
let secret: string;
const config: WebPageConfig = { signIn: { kind: 'msal', tenantId: 't', clientId: 'c', scopes: ['api://c/Costs.Read'] } };

beforeAll(async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'web-app-'));
  root = path.join(base, 'web');
  await mkdir(path.join(root, 'assets'), { recursive: true });
  await writeFile(path.join(root, 'index.html'), '<!doctype html><title>page</title>');
  await writeFile(path.join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  await writeFile(path.join(root, 'assets', 'index-abc123.css'), 'body{}');
  await writeFile(path.join(root, '.source-hash'), 'hidden');
  secret = path.join(base, 'secret.txt');
  await writeFile(secret, 'not for the web');
});

async function get(pathBelowWeb: string, headers: Record<string, string> = {}, method = 'GET') {
  const handler = webHandler(() => config, root);
  const request = new HttpRequest({ method, url: `https://func.example/api/web/${pathBelowWeb}`, headers, params: { path: pathBelowWeb } });
  const response = await handler(request);
  const responseHeaders = new Headers(response.headers as Record<string, string>);
  const body = response.body === undefined ? '' : Buffer.from(response.body as Uint8Array).toString('utf8');
  return { status: response.status ?? 200, headers: responseHeaders, body };
}

describe('the cost page function', () => {
  it('serves the page and its files with their content types, hashed files cached for a year, the page revalidated', async () => {
    const page = await get('');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<title>page</title>');

    const script = await get('assets/index-abc123.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get('assets/index-abc123.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await get('assets/index-abc123.js');
    const again = await get('assets/index-abc123.js', { 'if-none-match': first.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('redirects /api/web to /api/web/ so the relative files resolve', async () => {
    const handler = webHandler(() => config, root);
    const response = await handler(new HttpRequest({ method: 'GET', url: 'https://func.example/api/web?x=1', params: {} }));
    expect(response.status).toBe(301);
    expect(new Headers(response.headers as Record<string, string>).get('location')).toBe('/api/web/?x=1');
  });

  it.each(['../secret.txt', 'assets/../../secret.txt', '..%2fsecret.txt', '%2e%2e/secret.txt', '..\\secret.txt', '.source-hash', 'assets//index-abc123.js', 'assets/%00.js', '/assets/../../secret.txt'])(
    'never serves anything outside the page: %s',
    async (attempt) => {
      const response = await get(attempt);
      expect(response.status).toBe(404);
      expect(response.body).not.toContain('not for the web');
      expect(response.body).not.toContain('hidden');
    },
  );

  it('reads an absolute-looking path as a name below the page, never as a file of the machine', async () => {
    const response = await get('/etc/passwd');
    expect(response.body).toContain('<title>page</title>');
    expect(response.body).not.toMatch(/root:/);
  });

  it('answers 404 for a missing file, and the page itself for an address without an extension', async () => {
    expect((await get('assets/missing.js')).status).toBe(404);
    const view = await get('teams');
    expect(view.status).toBe(200);
    expect(view.body).toContain('<title>page</title>');
  });

  it('refuses methods other than GET and HEAD', async () => {
    expect((await get('', {}, 'POST')).status).toBe(405);
    const head = await get('', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it("hands out the page's sign-in configuration, never cached", async () => {
    const response = await get('config.json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(response.body)).toEqual(config);
  });

  it('says the page is not built rather than serving nothing', async () => {
    const handler = webHandler(() => config, path.join(root, 'nowhere'));
    const response = await handler(new HttpRequest({ method: 'GET', url: 'https://func.example/api/web/', params: { path: '' } }));
    expect(response.status).toBe(503);
  });

  it('keeps only plain relative names', () => {
    expect(safeRelativePath('assets/index-abc.js')).toEqual(['assets', 'index-abc.js']);
    expect(safeRelativePath('')).toEqual([]);
    expect(safeRelativePath('a/../b')).toBeUndefined();
    expect(safeRelativePath('.env')).toBeUndefined();
  });
});

describe("the deployed page's sign-in", () => {
  const tenant = '11111111-2222-3333-4444-555555555555';
  const client = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

  it('is MSAL against the API app registration named by AUTH_AUDIENCE', () => {
    const config = msalPageConfig(loadWebSignInSettings({ AUTH_TENANT_ID: tenant, AUTH_AUDIENCE: `api://${client};${client}` }));
    expect(config.signIn).toEqual({ kind: 'msal', tenantId: tenant, clientId: client, scopes: [`api://${client}/Costs.Read`] });
  });

  it('takes WEB_CLIENT_ID and WEB_API_SCOPE when given', () => {
    const config = msalPageConfig(loadWebSignInSettings({ AUTH_TENANT_ID: tenant, AUTH_AUDIENCE: 'api://chargeback', WEB_CLIENT_ID: client, WEB_API_SCOPE: 'api://chargeback/Other.Read' }));
    expect(config.signIn).toEqual({ kind: 'msal', tenantId: tenant, clientId: client, scopes: ['api://chargeback/Other.Read'] });
  });

  it('is never the development sign-in: unconfigured settings give an explanation instead', () => {
    for (const env of [{}, { AUTH_AUDIENCE: client }, { AUTH_TENANT_ID: tenant, AUTH_AUDIENCE: 'api://no-client-id' }]) {
      const config = msalPageConfig(loadWebSignInSettings(env));
      expect(config.signIn.kind).not.toBe('development');
    }
    expect(msalPageConfig(loadWebSignInSettings({})).signIn.kind).toBe('unconfigured');
  });

  it('refuses a WEB_CLIENT_ID that is not a client id, under its name', () => {
    expect(() => loadWebSignInSettings({ AUTH_TENANT_ID: tenant, AUTH_AUDIENCE: 'api://chargeback', WEB_CLIENT_ID: 'chargeback-spa' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', details: ['WEB_CLIENT_ID: "chargeback-spa" is not an application (client) id (a GUID)'] }),
    );
  });

  it('is read once per process, like the other services', () => {
    const env: Record<string, string> = { AUTH_TENANT_ID: tenant, AUTH_AUDIENCE: client };
    const pageConfig = processWebPageConfig(env);
    expect(pageConfig().signIn).toMatchObject({ kind: 'msal', clientId: client });
    env['WEB_CLIENT_ID'] = '99999999-2222-3333-4444-555555555555';
    expect(pageConfig().signIn).toMatchObject({ kind: 'msal', clientId: client });
  });
});
