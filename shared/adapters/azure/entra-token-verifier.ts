import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { AppError } from '../../domain/errors.js';
import type { Caller } from '../../domain/access.js';
import { DEFAULT_VERIFIED_TOKEN_CACHE, VerifiedTokenCache } from './verified-token-cache.js';

export type { Caller } from '../../domain/access.js';

export interface AccessTokenVerifier {
  /** Resolves to the proven caller, or rejects with AppError UNAUTHENTICATED (details[0] is a machine code). */
  verify(authorizationHeader: string | undefined): Promise<Caller>;
}

export interface EntraTokenVerifierOptions {
  /** The tenant (directory) id, a GUID: tokens from any other tenant are refused. */
  tenantId: string;
  /** The API's client id and/or application ID URI, as the token's `aud` carries it. */
  audience: string | string[];
  /** Defaults to the tenant's v2 and v1 issuers. */
  issuers?: string[];
  jwks: JWTVerifyGetKey;
  clockToleranceSeconds?: number;
  now?: () => Date;
  /**
   * Tokens that verified are remembered (by their exact text) so a repeated token skips the RS256 check;
   * see VerifiedTokenCache for why that is safe. Default: up to 1000 tokens for at most 5 minutes each.
   * `false` verifies every request in full.
   */
  verifiedTokenCache?: { maxEntries: number; maxAgeSeconds: number } | false;
}

/** Machine codes in AppError.details[0]; safe to log and to return to the caller. */
export type TokenRejection =
  | 'missing_token'
  | 'bad_scheme'
  | 'malformed_token'
  | 'bad_algorithm'
  | 'unknown_key'
  | 'bad_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'bad_issuer'
  | 'bad_audience'
  | 'bad_tenant'
  | 'missing_oid'
  | 'bad_roles'
  | 'bad_claims';

const GENERIC_MESSAGE = 'The access token is missing or invalid';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)[ ]*$/i;
// Entra tokens are a few KiB; anything far larger is not one and is not worth parsing.
const MAX_TOKEN_LENGTH = 16 * 1024;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 120;

export function entraIssuers(tenantId: string, authorityHost = 'https://login.microsoftonline.com'): string[] {
  return [`${authorityHost}/${tenantId}/v2.0`, `https://sts.windows.net/${tenantId}/`];
}

export class EntraTokenVerifier implements AccessTokenVerifier {
  private readonly tenantId: string;
  private readonly audience: string | string[];
  private readonly issuers: string[];
  private readonly jwks: JWTVerifyGetKey;
  private readonly clockToleranceSeconds: number;
  private readonly now: () => Date;
  private readonly verified: VerifiedTokenCache | undefined;

  constructor(options: EntraTokenVerifierOptions) {
    if (!GUID.test(options.tenantId)) {
      throw new AppError('CONFIG_INVALID', 'The Entra tenant id must be a GUID', { details: [`tenantId: ${options.tenantId}`] });
    }
    const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
    if (audiences.length === 0 || audiences.some((a) => a.trim() === '')) {
      throw new AppError('CONFIG_INVALID', 'The token audience must be set', { details: ['audience is empty'] });
    }
    this.tenantId = options.tenantId.toLowerCase();
    this.audience = options.audience;
    this.issuers = options.issuers ?? entraIssuers(this.tenantId);
    this.jwks = options.jwks;
    this.clockToleranceSeconds = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    this.now = options.now ?? (() => new Date());
    const cache = options.verifiedTokenCache ?? { maxEntries: DEFAULT_VERIFIED_TOKEN_CACHE.maxEntries, maxAgeSeconds: DEFAULT_VERIFIED_TOKEN_CACHE.maxAgeMs / 1000 };
    this.verified =
      cache === false ? undefined : new VerifiedTokenCache({ maxEntries: cache.maxEntries, maxAgeMs: cache.maxAgeSeconds * 1000, clockToleranceSeconds: this.clockToleranceSeconds });
  }

  async verify(authorizationHeader: string | undefined): Promise<Caller> {
    const token = bearerToken(authorizationHeader);
    const currentDate = this.now();
    const remembered = this.verified?.get(token, currentDate.getTime());
    if (remembered !== undefined) return remembered;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        // Pinning the algorithm is what refuses `alg: none` and HS256 signed with our public key.
        algorithms: ['RS256'],
        issuer: this.issuers,
        audience: this.audience,
        clockTolerance: this.clockToleranceSeconds,
        currentDate,
        requiredClaims: ['exp', 'iss', 'aud'],
      }));
    } catch (error) {
      throw translateJoseError(error);
    }
    const caller = this.callerFrom(payload);
    // exp is a required claim and jose has checked it is a number; nbf, when present, too.
    this.verified?.remember(token, caller, { exp: payload.exp!, nbf: payload.nbf }, currentDate.getTime());
    return caller;
  }

  private callerFrom(payload: JWTPayload): Caller {
    const tid = payload['tid'];
    if (typeof tid !== 'string' || tid.toLowerCase() !== this.tenantId) throw rejected('bad_tenant');
    const oid = payload['oid'];
    if (typeof oid !== 'string' || !GUID.test(oid)) throw rejected('missing_oid');
    const roles = payload['roles'] ?? [];
    if (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === 'string')) throw rejected('bad_roles');
    const name = optionalString(payload['name']);
    // v2 tokens carry preferred_username; v1 tokens carry upn (or unique_name for guests).
    const upn = optionalString(payload['preferred_username']) ?? optionalString(payload['upn']) ?? optionalString(payload['unique_name']);
    return {
      userId: oid.toLowerCase(),
      tenantId: tid.toLowerCase(),
      roles: [...roles],
      ...(name === undefined ? {} : { name }),
      ...(upn === undefined ? {} : { upn }),
    };
  }
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') throw rejected('missing_token');
  if (header.length > MAX_TOKEN_LENGTH) throw rejected('malformed_token');
  if (!/^Bearer(\s|$)/i.test(header.trimStart())) throw rejected('bad_scheme');
  const match = BEARER.exec(header.trim());
  if (!match?.[1]) throw rejected('malformed_token');
  return match[1];
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function rejected(code: TokenRejection, cause?: unknown): AppError {
  return new AppError('UNAUTHENTICATED', GENERIC_MESSAGE, { details: [code], ...(cause === undefined ? {} : { cause }) });
}

/**
 * Maps jose's errors to a rejection code. A key set that cannot be fetched is our outage, not the caller's
 * fault, so it is reported as a retryable INTERNAL error rather than a 401 that would make clients drop a
 * good token.
 */
function translateJoseError(error: unknown): AppError {
  if (error instanceof joseErrors.JWTExpired) return rejected('token_expired', error);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const byClaim: Record<string, TokenRejection> = { nbf: 'token_not_yet_valid', iss: 'bad_issuer', aud: 'bad_audience' };
    return rejected(byClaim[error.claim] ?? 'bad_claims', error);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) return rejected('bad_algorithm', error);
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) return rejected('unknown_key', error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return rejected('bad_signature', error);
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWKInvalid) {
    return rejected('malformed_token', error);
  }
  return new AppError('INTERNAL', 'The token signing keys could not be retrieved', {
    retryable: true,
    details: ['signing_keys_unavailable'],
    cause: error,
  });
}

export interface EntraJwksDiscovery {
  readonly jwks: JWTVerifyGetKey;
  readonly issuer: string;
  readonly jwksUri: string;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const discoveries = new Map<string, Promise<EntraJwksDiscovery>>();

/**
 * Reads the tenant's OpenID metadata once per process and returns a key set that fetches (and rotates) the
 * signing keys itself. A failed discovery is not cached, so the next request tries again.
 */
export async function discoverEntraJwks(
  tenantId: string,
  fetchImpl?: FetchLike,
  options: { authorityHost?: string } = {},
): Promise<EntraJwksDiscovery> {
  const authorityHost = options.authorityHost ?? 'https://login.microsoftonline.com';
  const metadataUrl = `${authorityHost}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`;
  const cached = discoveries.get(metadataUrl);
  if (cached) return cached;
  const pending = discover(metadataUrl, fetchImpl);
  discoveries.set(metadataUrl, pending);
  pending.catch(() => discoveries.delete(metadataUrl));
  return pending;
}

/** Forgets discovered key sets (tests, or after the tenant's configuration changed). */
export function clearEntraJwksCache(): void {
  discoveries.clear();
}

async function discover(metadataUrl: string, fetchImpl: FetchLike | undefined): Promise<EntraJwksDiscovery> {
  let response: Response;
  try {
    response = await (fetchImpl ?? fetch)(metadataUrl, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new AppError('INTERNAL', 'Could not reach the Entra OpenID metadata endpoint', { retryable: true, details: [metadataUrl], cause: error });
  }
  if (response.status === 400 || response.status === 404) {
    throw new AppError('CONFIG_INVALID', 'Entra has no OpenID metadata for this tenant; check the tenant id', {
      details: [`${metadataUrl} answered ${response.status}`],
    });
  }
  if (!response.ok) {
    throw new AppError('INTERNAL', 'The Entra OpenID metadata endpoint failed', { retryable: true, details: [`${metadataUrl} answered ${response.status}`] });
  }
  let metadata: unknown;
  try {
    metadata = await response.json();
  } catch (error) {
    throw new AppError('INTERNAL', 'The Entra OpenID metadata is not JSON', { retryable: true, details: [metadataUrl], cause: error });
  }
  const jwksUri = (metadata as { jwks_uri?: unknown } | null)?.jwks_uri;
  const issuer = (metadata as { issuer?: unknown } | null)?.issuer;
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://') || typeof issuer !== 'string') {
    throw new AppError('INTERNAL', 'The Entra OpenID metadata lacks an https jwks_uri or an issuer', { retryable: true, details: [metadataUrl] });
  }
  const jwks = createRemoteJWKSet(new URL(jwksUri), {
    ...(fetchImpl === undefined ? {} : { [customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init) }),
  });
  return { jwks, issuer, jwksUri };
}
