import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, createLocalJWKSet, exportSPKI, importJWK, SignJWT } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  clearEntraJwksCache,
  discoverEntraJwks,
  EntraTokenVerifier,
} from '../../shared/adapters/azure/entra-token-verifier.js';
import {
  createLocalSigningKey,
  LOCAL_AUDIENCE,
  LOCAL_SIGNING_KEY_FILE,
  LOCAL_TENANT_ID,
  loadOrCreateLocalSigningKey,
  localVerifier,
  mintLocalToken,
} from '../../shared/adapters/local/local-token-issuer.js';
import type { LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { AppError, describeError } from '../../shared/domain/errors.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const USER = '2f1a6c44-7b0e-4d8e-9a55-0c3e8d1b7a10';
const OTHER_TENANT = '99999999-9999-4999-8999-999999999999';
const V2_ISSUER = `https://login.microsoftonline.com/${LOCAL_TENANT_ID}/v2.0`;

let key: LocalSigningKey;
let otherKey: LocalSigningKey;
let verifier: EntraTokenVerifier;

beforeAll(async () => {
  key = await createLocalSigningKey();
  otherKey = await createLocalSigningKey();
  verifier = localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => NOW });
});

const mint = (overrides: Partial<Parameters<typeof mintLocalToken>[1]> = {}, signingKey: LocalSigningKey = key) =>
  mintLocalToken(signingKey, {
    userId: USER,
    roles: ['Chargeback.Finance'],
    tenantId: LOCAL_TENANT_ID,
    audience: LOCAL_AUDIENCE,
    issuedAt: NOW,
    name: 'Ada Lovelace',
    upn: 'ada@contoso.example',
    ...overrides,
  });

/** Signs an arbitrary claim set with the trusted key, for claims mintLocalToken would never produce. */
async function signRaw(payload: JWTPayload): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.privateJwk.kid! })
    .sign(await importJWK(key.privateJwk, 'RS256'));
}

const baseClaims = (): JWTPayload => ({
  iss: V2_ISSUER,
  aud: LOCAL_AUDIENCE,
  tid: LOCAL_TENANT_ID,
  oid: USER,
  iat: NOW_SECONDS,
  nbf: NOW_SECONDS,
  exp: NOW_SECONDS + 3600,
  roles: [],
});

async function rejection(header: string | undefined, token = header ?? '', using: EntraTokenVerifier = verifier): Promise<AppError> {
  const error = await using.verify(header).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  const appError = error as AppError;
  if (token !== '') {
    expect(appError.message).not.toContain(token);
    expect(appError.details.join(' ')).not.toContain(token);
    expect(describeError(appError)).not.toContain(token);
  }
  return appError;
}

async function expectRejected(token: string, reason: string): Promise<AppError> {
  const error = await rejection(`Bearer ${token}`, token);
  expect(error.code).toBe('UNAUTHENTICATED');
  expect(error.message).toBe('The access token is missing or invalid');
  expect(error.details).toEqual([reason]);
  expect(error.retryable).toBe(false);
  return error;
}

describe('EntraTokenVerifier', () => {
  it('accepts a valid token and returns the caller from its claims', async () => {
    const caller = await verifier.verify(`Bearer ${await mint({ roles: ['Chargeback.Finance', 'Claude.Premium'] })}`);
    expect(caller).toEqual({
      userId: USER,
      tenantId: LOCAL_TENANT_ID,
      name: 'Ada Lovelace',
      upn: 'ada@contoso.example',
      roles: ['Chargeback.Finance', 'Claude.Premium'],
    });
  });

  it('accepts a v1 token (sts.windows.net issuer, upn claim) and a token with no roles claim', async () => {
    const { roles: _roles, ...claims } = baseClaims();
    const token = await signRaw({ ...claims, iss: `https://sts.windows.net/${LOCAL_TENANT_ID}/`, upn: 'bob@contoso.example' });
    expect(await verifier.verify(`Bearer ${token}`)).toEqual({ userId: USER, tenantId: LOCAL_TENANT_ID, upn: 'bob@contoso.example', roles: [] });
  });

  it('accepts any of several audiences and a lower-case bearer scheme', async () => {
    const both = localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: ['11111111-2222-3333-4444-555555555555', LOCAL_AUDIENCE], now: () => NOW });
    const caller = await both.verify(`bearer ${await mint({ audience: '11111111-2222-3333-4444-555555555555' })}`);
    expect(caller.userId).toBe(USER);
  });

  it('rejects an expired token', async () => {
    await expectRejected(await mint({ issuedAt: new Date(NOW.getTime() - 2 * 3600_000), expiresInSeconds: 3600 }), 'token_expired');
  });

  it('rejects a token expired by just more than the clock tolerance', async () => {
    await expectRejected(await mint({ issuedAt: new Date(NOW.getTime() - 3600_000 - 121_000), expiresInSeconds: 3600 }), 'token_expired');
  });

  it('rejects a token that is not yet valid', async () => {
    await expectRejected(await mint({ notBefore: new Date(NOW.getTime() + 10 * 60_000) }), 'token_not_yet_valid');
  });

  it('accepts tokens within the clock skew on either side', async () => {
    const justExpired = await mint({ issuedAt: new Date(NOW.getTime() - 3600_000 - 60_000), expiresInSeconds: 3600 });
    const almostValid = await mint({ notBefore: new Date(NOW.getTime() + 60_000) });
    await expect(verifier.verify(`Bearer ${justExpired}`)).resolves.toMatchObject({ userId: USER });
    await expect(verifier.verify(`Bearer ${almostValid}`)).resolves.toMatchObject({ userId: USER });
  });

  it('honours a configured clock tolerance', async () => {
    const strict = localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => NOW, clockToleranceSeconds: 0 });
    const justExpired = await mint({ issuedAt: new Date(NOW.getTime() - 3600_000 - 1_000), expiresInSeconds: 3600 });
    const error = await rejection(`Bearer ${justExpired}`, justExpired, strict);
    expect(error.details).toEqual(['token_expired']);
  });

  it('rejects a token for another audience', async () => {
    await expectRejected(await mint({ audience: 'api://someone-else' }), 'bad_audience');
  });

  it('rejects a token from another issuer', async () => {
    await expectRejected(await mint({ issuer: 'https://evil.example/v2.0' }), 'bad_issuer');
  });

  it('rejects a token whose issuer is another tenant', async () => {
    await expectRejected(await mint({ issuer: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0` }), 'bad_issuer');
  });

  it('rejects a token whose tid is another tenant even when the issuer matches', async () => {
    await expectRejected(await mint({ tenantId: OTHER_TENANT, issuer: V2_ISSUER }), 'bad_tenant');
  });

  it('rejects an unsigned token (alg none)', async () => {
    const encode = (value: object) => base64url.encode(JSON.stringify(value));
    const unsigned = `${encode({ alg: 'none', typ: 'JWT' })}.${encode(baseClaims())}.`;
    await expectRejected(unsigned, 'bad_algorithm');
  });

  it('rejects HS256 tokens signed with the public key as the HMAC secret', async () => {
    const publicJwk = key.publicJwks.keys[0]!;
    const publicPem = await exportSPKI((await importJWK(publicJwk, 'RS256')) as CryptoKey);
    const secrets = [new TextEncoder().encode(publicPem), new TextEncoder().encode(JSON.stringify(publicJwk))];
    for (const secret of secrets) {
      const forged = await new SignJWT(baseClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: publicJwk.kid! }).sign(secret);
      await expectRejected(forged, 'bad_algorithm');
    }
  });

  it('rejects other RSA algorithms made with the trusted key, which Entra never issues', async () => {
    // Entra's key set carries no "alg", so only the verifier's own pin can refuse these.
    const entraLike = new EntraTokenVerifier({
      tenantId: LOCAL_TENANT_ID,
      audience: LOCAL_AUDIENCE,
      now: () => NOW,
      jwks: createLocalJWKSet({ keys: key.publicJwks.keys.map(({ alg: _alg, ...rest }) => rest) }),
    });
    await expect(entraLike.verify(`Bearer ${await mint()}`)).resolves.toMatchObject({ userId: USER });
    for (const alg of ['RS512', 'PS256']) {
      const token = await new SignJWT(baseClaims())
        .setProtectedHeader({ alg, typ: 'JWT', kid: key.privateJwk.kid! })
        .sign(await importJWK({ ...key.privateJwk, alg }, alg));
      const error = await rejection(`Bearer ${token}`, token, entraLike);
      expect(error.details).toEqual(['bad_algorithm']);
    }
  });

  it('rejects a token signed by a key the tenant does not publish', async () => {
    await expectRejected(await mint({}, otherKey), 'unknown_key');
  });

  it('rejects a token signed by another key under a trusted kid', async () => {
    const impostor: LocalSigningKey = { ...otherKey, privateJwk: { ...otherKey.privateJwk, kid: key.privateJwk.kid! } };
    await expectRejected(await mint({}, impostor), 'bad_signature');
  });

  it('rejects a token whose payload was altered after signing', async () => {
    const [header, , signature] = (await mint({ roles: [] })).split('.');
    const elevated = base64url.encode(JSON.stringify({ ...baseClaims(), roles: ['Chargeback.Finance'] }));
    await expectRejected(`${header}.${elevated}.${signature}`, 'bad_signature');
  });

  it('rejects a token without an oid, or with one that is not a GUID', async () => {
    const { oid: _oid, ...withoutOid } = baseClaims();
    await expectRejected(await signRaw(withoutOid), 'missing_oid');
    await expectRejected(await signRaw({ ...baseClaims(), oid: 'not-a-guid' }), 'missing_oid');
  });

  it('rejects a roles claim that is not a list of strings', async () => {
    await expectRejected(await signRaw({ ...baseClaims(), roles: 'Chargeback.Finance' }), 'bad_roles');
    await expectRejected(await signRaw({ ...baseClaims(), roles: ['ok', 7] }), 'bad_roles');
  });

  it('rejects a token without an expiry', async () => {
    const { exp: _exp, ...claims } = baseClaims();
    await expectRejected(await signRaw(claims), 'bad_claims');
  });

  it('rejects a missing or empty Authorization header', async () => {
    for (const header of [undefined, '', '   ']) {
      const error = await rejection(header);
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.details).toEqual(['missing_token']);
    }
  });

  it('rejects other schemes', async () => {
    for (const header of ['Basic xyz', 'Token abc.def.ghi', 'Bearerabc.def.ghi']) {
      const error = await rejection(header, header.split(' ')[1] ?? header);
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.details).toEqual(['bad_scheme']);
    }
  });

  it('rejects garbage tokens without echoing them', async () => {
    await expectRejected('garbage-token-value', 'malformed_token');
    await expectRejected('bm90LWpzb24.e30.c2ln', 'malformed_token');
    // A well-formed header over junk is refused at the signature, before the payload is ever parsed.
    await expectRejected('eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln', 'bad_signature');
    const withSpace = await rejection('Bearer two parts', 'two parts');
    expect(withSpace.details).toEqual(['malformed_token']);
    const huge = `${'a'.repeat(20_000)}.b.c`;
    const tooLarge = await rejection(`Bearer ${huge}`, huge);
    expect(tooLarge.details).toEqual(['malformed_token']);
  });

  it('keeps the underlying reason in cause for server logs', async () => {
    const error = await expectRejected(await mint({ audience: 'api://someone-else' }), 'bad_audience');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('reports an unreachable key set as a retryable outage, not as a bad token', async () => {
    const offline = new EntraTokenVerifier({
      tenantId: LOCAL_TENANT_ID,
      audience: LOCAL_AUDIENCE,
      now: () => NOW,
      jwks: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const token = await mint();
    const error = await rejection(`Bearer ${token}`, token, offline);
    expect(error.code).toBe('INTERNAL');
    expect(error.retryable).toBe(true);
  });

  it('refuses a tenant id that is not a GUID at construction', () => {
    expect(() => new EntraTokenVerifier({ tenantId: 'contoso.onmicrosoft.com', audience: LOCAL_AUDIENCE, jwks: createLocalJWKSet(key.publicJwks) })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('loadOrCreateLocalSigningKey', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-signing-key-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the key once and shares it between commands', async () => {
    const first = await loadOrCreateLocalSigningKey(join(dir, 'nested'));
    const second = await loadOrCreateLocalSigningKey(join(dir, 'nested'));
    expect(second.privateJwk.kid).toBe(first.privateJwk.kid);
    const token = await mintLocalToken(first, { userId: USER, roles: [], tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE });
    await expect(localVerifier(second, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE }).verify(`Bearer ${token}`)).resolves.toMatchObject({
      userId: USER,
    });
    const stored = JSON.parse(await readFile(join(dir, 'nested', LOCAL_SIGNING_KEY_FILE), 'utf8')) as { publicJwks: { keys: unknown[] } };
    expect(stored.publicJwks.keys).toHaveLength(1);
  });

  it('gives two concurrent first runs the same key', async () => {
    const [a, b] = await Promise.all([loadOrCreateLocalSigningKey(join(dir, 'race')), loadOrCreateLocalSigningKey(join(dir, 'race'))]);
    expect(a.privateJwk.kid).toBe(b.privateJwk.kid);
  });

  it('refuses a corrupt key file instead of silently replacing it', async () => {
    await writeFile(join(dir, LOCAL_SIGNING_KEY_FILE), '{"privateJwk":{"kty":"oct"}}');
    await expect(loadOrCreateLocalSigningKey(dir)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('discoverEntraJwks', () => {
  const TENANT = '3c7e1a2b-4d5f-4a6b-8c9d-0e1f2a3b4c5d';
  const AUDIENCE = 'api://llm-chargeback';
  const metadataUrl = `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`;
  const jwksUri = `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`;
  let metadataRequests = 0;
  let jwksRequests = 0;

  const server = setupServer(
    http.get(metadataUrl, () => {
      metadataRequests += 1;
      return HttpResponse.json({ issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, jwks_uri: jwksUri });
    }),
    http.get(jwksUri, () => {
      jwksRequests += 1;
      // Entra publishes keys without "alg"; the verifier must cope.
      return HttpResponse.json({ keys: key.publicJwks.keys.map(({ alg: _alg, ...rest }) => rest) });
    }),
    http.get('https://login.microsoftonline.com/:tenant/v2.0/.well-known/openid-configuration', () =>
      HttpResponse.json({ error: 'invalid_tenant' }, { status: 400 }),
    ),
  );

  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => {
    clearEntraJwksCache();
    metadataRequests = 0;
    jwksRequests = 0;
  });
  afterAll(() => server.close());

  it('verifies a token end to end through the published key set', async () => {
    const discovery = await discoverEntraJwks(TENANT);
    expect(discovery).toMatchObject({ issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, jwksUri });
    const entra = new EntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, jwks: discovery.jwks, now: () => NOW });
    const token = await mint({ tenantId: TENANT, audience: AUDIENCE });
    await expect(entra.verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: USER, tenantId: TENANT });
    await expect(entra.verify(`Bearer ${await mint({ tenantId: TENANT, audience: AUDIENCE }, otherKey)}`)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      details: ['unknown_key'],
    });
    expect(jwksRequests).toBeGreaterThanOrEqual(1);
  });

  it('reads the metadata once per process', async () => {
    const first = await discoverEntraJwks(TENANT);
    const second = await discoverEntraJwks(TENANT);
    expect(second).toBe(first);
    expect(metadataRequests).toBe(1);
  });

  it('uses a given fetch for both the metadata and the keys', async () => {
    const seen: string[] = [];
    const recordingFetch = (input: string, init?: RequestInit) => {
      seen.push(input);
      return fetch(input, init);
    };
    const { jwks } = await discoverEntraJwks(TENANT, recordingFetch);
    const entra = new EntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, jwks, now: () => NOW });
    await entra.verify(`Bearer ${await mint({ tenantId: TENANT, audience: AUDIENCE })}`);
    expect(seen).toEqual([metadataUrl, jwksUri]);
  });

  it('reports an unknown tenant as a configuration problem and does not cache the failure', async () => {
    const unknown = '00000000-0000-4000-8000-00000000dead';
    await expect(discoverEntraJwks(unknown)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    server.use(
      http.get(`https://login.microsoftonline.com/${unknown}/v2.0/.well-known/openid-configuration`, () =>
        HttpResponse.json({ issuer: `https://login.microsoftonline.com/${unknown}/v2.0`, jwks_uri: jwksUri }),
      ),
    );
    await expect(discoverEntraJwks(unknown)).resolves.toMatchObject({ jwksUri });
    server.resetHandlers();
  });
});
