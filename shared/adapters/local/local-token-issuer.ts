import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { AppError } from '../../domain/errors.js';
import { EntraTokenVerifier, entraIssuers } from '../azure/entra-token-verifier.js';

/**
 * A stand-in for Entra when running locally: an RS256 key whose tokens look like Entra v2 access tokens for a
 * made-up tenant. Never configured in Azure, where the verifier uses the tenant's published keys.
 */
export const LOCAL_TENANT_ID = '00000000-0000-0000-0000-000000000001';
export const LOCAL_AUDIENCE = 'api://llm-chargeback-local';
export const LOCAL_SIGNING_KEY_FILE = 'local-signing-key.json';

export interface LocalSigningKey {
  readonly privateJwk: JWK;
  readonly publicJwks: JSONWebKeySet;
}

export interface LocalTokenClaims {
  userId: string;
  roles: string[];
  tenantId: string;
  audience: string;
  issuer?: string;
  expiresInSeconds?: number;
  notBefore?: Date;
  /** Defaults to now; set it to mint tokens that are already expired. */
  issuedAt?: Date;
  name?: string;
  upn?: string;
}

export async function createLocalSigningKey(): Promise<LocalSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const decorate = (jwk: JWK): JWK => ({ ...jwk, kid, alg: 'RS256', use: 'sig' });
  return { privateJwk: decorate(await exportJWK(privateKey)), publicJwks: { keys: [decorate(publicJwk)] } };
}

/** Shares one key between the `serve` and `token` commands by keeping it in `<dir>/local-signing-key.json`. */
export async function loadOrCreateLocalSigningKey(dir: string): Promise<LocalSigningKey> {
  const path = join(dir, LOCAL_SIGNING_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return existing;
  const created = await createLocalSigningKey();
  await mkdir(dir, { recursive: true });
  try {
    // 'wx' so two commands starting at once cannot overwrite each other's key; the loser reads the winner's.
    await writeFile(path, `${JSON.stringify(created, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
    return created;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const winner = await readKeyFile(path);
      if (winner) return winner;
    }
    throw new AppError('CONFIG_INVALID', `Could not write the local signing key to ${path}`, { cause: error });
  }
}

async function readKeyFile(path: string): Promise<LocalSigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('CONFIG_INVALID', `Could not read the local signing key ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `The local signing key ${path} is not JSON; delete it to create a new one`, { cause: error });
  }
  const key = parsed as Partial<LocalSigningKey> | null;
  const privateJwk = key?.privateJwk;
  const publicKey = key?.publicJwks?.keys?.[0];
  if (!privateJwk || privateJwk.kty !== 'RSA' || typeof privateJwk.d !== 'string' || !privateJwk.kid || publicKey?.kid !== privateJwk.kid) {
    throw new AppError('CONFIG_INVALID', `The local signing key ${path} is not an RSA key pair; delete it to create a new one`);
  }
  return { privateJwk, publicJwks: { keys: [publicKey] } };
}

export async function mintLocalToken(key: LocalSigningKey, claims: LocalTokenClaims): Promise<string> {
  const issuedAt = claims.issuedAt ?? new Date();
  const issuedAtSeconds = Math.floor(issuedAt.getTime() / 1000);
  const signingKey = await importJWK(key.privateJwk, 'RS256');
  const payload: Record<string, unknown> = {
    oid: claims.userId,
    tid: claims.tenantId,
    roles: claims.roles,
    ver: '2.0',
    ...(claims.name === undefined ? {} : { name: claims.name }),
    ...(claims.upn === undefined ? {} : { preferred_username: claims.upn }),
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.privateJwk.kid ?? '' })
    .setIssuer(claims.issuer ?? entraIssuers(claims.tenantId)[0]!)
    .setAudience(claims.audience)
    .setSubject(claims.userId)
    .setIssuedAt(issuedAtSeconds)
    .setNotBefore(claims.notBefore ?? issuedAtSeconds)
    .setExpirationTime(issuedAtSeconds + (claims.expiresInSeconds ?? 3600))
    .sign(signingKey);
}

export function localVerifier(
  key: LocalSigningKey,
  options: { tenantId: string; audience: string | string[]; clockToleranceSeconds?: number; now?: () => Date },
): EntraTokenVerifier {
  return new EntraTokenVerifier({ ...options, jwks: createLocalJWKSet(key.publicJwks) });
}
