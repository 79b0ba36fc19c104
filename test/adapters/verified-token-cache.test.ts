import { base64url, createLocalJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { EntraTokenVerifier } from '../../shared/adapters/azure/entra-token-verifier.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, mintLocalToken, type LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { AppError } from '../../shared/domain/errors.js';
import { fixedClock } from '../support/in-memory.js';

const ISSUED = '2026-03-01T12:00:00.000Z';
const USER = '2f1a6c44-7b0e-4d8e-9a55-0c3e8d1b7a10';
const OTHER_USER = '3f1a6c44-7b0e-4d8e-9a55-0c3e8d1b7a11';

let key: LocalSigningKey;
let otherKey: LocalSigningKey;

beforeAll(async () => {
  key = await createLocalSigningKey();
  otherKey = await createLocalSigningKey();
});

/** A verifier whose key lookups are counted: one lookup is one full signature verification. */
function countingVerifier(options: { clockToleranceSeconds?: number; cache?: { maxEntries: number; maxAgeSeconds: number } | false } = {}) {
  const clock = fixedClock(ISSUED);
  const keys = createLocalJWKSet(key.publicJwks);
  const counter = { verifications: 0 };
  const jwks: JWTVerifyGetKey = (header, token) => {
    counter.verifications += 1;
    return keys(header, token);
  };
  const verifier = new EntraTokenVerifier({
    tenantId: LOCAL_TENANT_ID,
    audience: LOCAL_AUDIENCE,
    jwks,
    now: () => clock.now(),
    ...(options.clockToleranceSeconds === undefined ? {} : { clockToleranceSeconds: options.clockToleranceSeconds }),
    ...(options.cache === undefined ? {} : { verifiedTokenCache: options.cache }),
  });
  return { verifier, clock, counter };
}

const mint = (overrides: Partial<Parameters<typeof mintLocalToken>[1]> = {}, signingKey: LocalSigningKey = key) =>
  mintLocalToken(signingKey, {
    userId: USER,
    roles: ['Chargeback.Finance'],
    tenantId: LOCAL_TENANT_ID,
    audience: LOCAL_AUDIENCE,
    issuedAt: new Date(ISSUED),
    expiresInSeconds: 600,
    upn: 'ada@contoso.example',
    ...overrides,
  });

async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe('UNAUTHENTICATED');
  return (error as AppError).details[0] ?? '';
}

describe('verified-token cache of EntraTokenVerifier', () => {
  it('verifies a token once and answers the same token again from the cache, with the same caller', async () => {
    const { verifier, counter } = countingVerifier();
    const token = await mint();
    const first = await verifier.verify(`Bearer ${token}`);
    const second = await verifier.verify(`Bearer ${token}`);
    expect(second).toEqual(first);
    expect(second).toEqual({ userId: USER, tenantId: LOCAL_TENANT_ID, upn: 'ada@contoso.example', roles: ['Chargeback.Finance'] });
    expect(counter.verifications).toBe(1);
  });

  it('verifies a different token string in full, even for the same user', async () => {
    const { verifier, counter } = countingVerifier();
    await verifier.verify(`Bearer ${await mint()}`);
    const other = await verifier.verify(`Bearer ${await mint({ userId: OTHER_USER, roles: [] })}`);
    expect(other.userId).toBe(OTHER_USER);
    expect(other.roles).toEqual([]);
    const reissued = await mint({ issuedAt: new Date(Date.parse(ISSUED) + 1000) });
    await verifier.verify(`Bearer ${reissued}`);
    expect(counter.verifications).toBe(3);
  });

  it('never lets a tampered copy of a cached token through', async () => {
    const { verifier, counter } = countingVerifier();
    const token = await mint({ roles: [] });
    await verifier.verify(`Bearer ${token}`);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
    const elevated = base64url.encode(JSON.stringify({ ...claims, roles: ['Chargeback.Finance'] }));
    expect(await rejectionOf(verifier.verify(`Bearer ${header}.${elevated}.${signature}`))).toBe('bad_signature');
    // Same claims, a signature from a key the tenant does not publish under the trusted kid.
    const forged = await mint({ roles: [] }, { ...otherKey, privateJwk: { ...otherKey.privateJwk, kid: key.privateJwk.kid! } });
    expect(forged).not.toBe(token);
    expect(await rejectionOf(verifier.verify(`Bearer ${forged}`))).toBe('bad_signature');
    // One changed character inside the signature (not the last, whose low bits base64url does not use).
    const flipped = `${header}.${payload}.${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    expect(await rejectionOf(verifier.verify(`Bearer ${flipped}`))).toBe('bad_signature');
    expect(counter.verifications).toBe(4);
    // The genuine token is still a hit.
    await verifier.verify(`Bearer ${token}`);
    expect(counter.verifications).toBe(4);
  });

  it('honours exp: a cached token is refused once it has expired, exactly as without the cache', async () => {
    const { verifier, clock, counter } = countingVerifier({ clockToleranceSeconds: 0, cache: { maxEntries: 10, maxAgeSeconds: 3600 } });
    const token = await mint({ expiresInSeconds: 600 });
    await verifier.verify(`Bearer ${token}`);
    clock.set('2026-03-01T12:09:59.999Z');
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: USER });
    expect(counter.verifications).toBe(1);
    clock.set('2026-03-01T12:10:00.000Z');
    expect(await rejectionOf(verifier.verify(`Bearer ${token}`))).toBe('token_expired');
    expect(await rejectionOf(verifier.verify(`Bearer ${token}`))).toBe('token_expired');
  });

  it('honours exp with the clock tolerance, the same slack jose gives', async () => {
    const { verifier, clock, counter } = countingVerifier({ clockToleranceSeconds: 120, cache: { maxEntries: 10, maxAgeSeconds: 3600 } });
    const token = await mint({ expiresInSeconds: 600 });
    await verifier.verify(`Bearer ${token}`);
    clock.set('2026-03-01T12:11:59.000Z');
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: USER });
    expect(counter.verifications).toBe(1);
    clock.set('2026-03-01T12:12:00.000Z');
    expect(await rejectionOf(verifier.verify(`Bearer ${token}`))).toBe('token_expired');
  });

  it('honours nbf when the clock moves back before a cached token became valid', async () => {
    const { verifier, clock } = countingVerifier({ clockToleranceSeconds: 0, cache: { maxEntries: 10, maxAgeSeconds: 3600 } });
    const token = await mint({ notBefore: new Date('2026-03-01T12:00:00Z') });
    await verifier.verify(`Bearer ${token}`);
    clock.set('2026-03-01T11:59:59.000Z');
    expect(await rejectionOf(verifier.verify(`Bearer ${token}`))).toBe('token_not_yet_valid');
  });

  it('verifies a token in full again once its cache entry is older than the maximum age', async () => {
    const { verifier, clock, counter } = countingVerifier({ cache: { maxEntries: 10, maxAgeSeconds: 60 } });
    const token = await mint({ expiresInSeconds: 3600 });
    await verifier.verify(`Bearer ${token}`);
    clock.set('2026-03-01T12:00:59.000Z');
    await verifier.verify(`Bearer ${token}`);
    expect(counter.verifications).toBe(1);
    clock.set('2026-03-01T12:01:00.000Z');
    await verifier.verify(`Bearer ${token}`);
    expect(counter.verifications).toBe(2);
  });

  it('keeps at most maxEntries tokens, dropping the least recently used', async () => {
    const { verifier, counter } = countingVerifier({ cache: { maxEntries: 2, maxAgeSeconds: 300 } });
    const tokens = await Promise.all([USER, OTHER_USER, '4f1a6c44-7b0e-4d8e-9a55-0c3e8d1b7a12'].map((userId) => mint({ userId })));
    await verifier.verify(`Bearer ${tokens[0]}`);
    await verifier.verify(`Bearer ${tokens[1]}`);
    await verifier.verify(`Bearer ${tokens[0]}`);
    await verifier.verify(`Bearer ${tokens[2]}`);
    expect(counter.verifications).toBe(3);
    await verifier.verify(`Bearer ${tokens[0]}`);
    expect(counter.verifications).toBe(3);
    await verifier.verify(`Bearer ${tokens[1]}`);
    expect(counter.verifications).toBe(4);
  });

  it('caches nothing that failed: a rejected token is rejected every time', async () => {
    const { verifier, counter } = countingVerifier();
    const foreign = await mint({ tenantId: '99999999-9999-4999-8999-999999999999', issuer: `https://login.microsoftonline.com/${LOCAL_TENANT_ID}/v2.0` });
    expect(await rejectionOf(verifier.verify(`Bearer ${foreign}`))).toBe('bad_tenant');
    expect(await rejectionOf(verifier.verify(`Bearer ${foreign}`))).toBe('bad_tenant');
    expect(counter.verifications).toBe(2);
  });

  it('hands every request its own copy of the caller', async () => {
    const { verifier } = countingVerifier();
    const token = await mint();
    const first = await verifier.verify(`Bearer ${token}`);
    (first.roles as string[]).push('Smuggled.Role');
    expect((await verifier.verify(`Bearer ${token}`)).roles).toEqual(['Chargeback.Finance']);
  });

  it('verifies every request in full when the cache is turned off', async () => {
    const { verifier, counter } = countingVerifier({ cache: false });
    const token = await mint();
    await verifier.verify(`Bearer ${token}`);
    await verifier.verify(`Bearer ${token}`);
    expect(counter.verifications).toBe(2);
  });
});
