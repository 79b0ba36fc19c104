import type { JWTVerifyGetKey } from 'jose';
import type { ApiSettings } from '../../config/settings.js';
import { AppError } from '../../domain/errors.js';
import type { Clock } from '../../ports/runtime.js';
import { discoverEntraJwks, EntraTokenVerifier, type AccessTokenVerifier } from '../azure/entra-token-verifier.js';

/**
 * A key set that discovers the tenant's signing keys on the first token it checks, not at startup: building
 * the services (and every timer function with them) never waits on, or fails because of, Entra. Discovery is
 * cached per process by discoverEntraJwks, and jose caches and rotates the keys themselves.
 */
export function lazyEntraJwks(tenantId: string): JWTVerifyGetKey {
  return async (protectedHeader, token) => (await discoverEntraJwks(tenantId)).jwks(protectedHeader, token);
}

/** The verifier the cost API uses in Azure, from AUTH_TENANT_ID / AUTH_AUDIENCE. */
export function accessTokenVerifierFor(api: Pick<ApiSettings, 'tenantId' | 'audiences'>, clock?: Clock): AccessTokenVerifier {
  const tenantId = api.tenantId;
  if (tenantId === null) return unconfiguredVerifier;
  return new EntraTokenVerifier({
    tenantId,
    audience: [...api.audiences],
    jwks: lazyEntraJwks(tenantId),
    ...(clock === undefined ? {} : { now: () => clock.now() }),
  });
}

/** Refuses every request as a server problem: with no tenant configured no token can be trusted. */
const unconfiguredVerifier: AccessTokenVerifier = {
  verify: async () => {
    throw new AppError('CONFIG_INVALID', 'the cost API is not configured: set AUTH_TENANT_ID and AUTH_AUDIENCE');
  },
};
