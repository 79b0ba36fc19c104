import type { Caller } from '../../domain/access.js';

/**
 * Remembers, for a short while, access tokens whose signature and claims were fully verified, so a client
 * sending the same token again and again (a dashboard, a script) does not cost an RS256 verification per
 * request.
 *
 * Why this is safe:
 * - The key is the exact token string (header, claims and signature). An entry is only ever written after a
 *   full verification of that very string succeeded, so any change to any byte of a token misses and is
 *   verified from scratch: the cache cannot vouch for a token it has not seen verified.
 * - It never rejects on its own. It answers only when the time checks jose makes (`nbf`, `exp`, with the
 *   same clock tolerance, at the same whole-second resolution) would pass now; anything else falls through
 *   to the full verification, which produces the usual rejection.
 * - An entry lives at most `maxAgeMs` after it was verified, well within the 10 minutes jose's remote key
 *   set already trusts a fetched key for, so a key Entra withdraws stops being honoured no later than it
 *   would without the cache.
 * - At most `maxEntries` tokens are kept (least recently used go first); only tokens that verified get in,
 *   so garbage sent by a caller cannot grow it.
 */
export interface VerifiedTokenCacheOptions {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  /** The verifier's clock tolerance, in seconds: the same slack jose allows on nbf and exp. */
  readonly clockToleranceSeconds: number;
}

export const DEFAULT_VERIFIED_TOKEN_CACHE = { maxEntries: 1000, maxAgeMs: 5 * 60_000 } as const;

interface Entry {
  readonly caller: Caller;
  readonly notBefore: number | undefined;
  readonly expires: number;
  readonly verifiedAt: number;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: VerifiedTokenCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** The caller proven by `token`, if it was verified recently and is still within its validity at `nowMs`. */
  get(token: string, nowMs: number): Caller | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    const now = Math.floor(nowMs / 1000);
    const tolerance = this.options.clockToleranceSeconds;
    const fresh = nowMs >= entry.verifiedAt && nowMs - entry.verifiedAt < this.options.maxAgeMs;
    // The same comparisons as jose's validateClaimsSet, so a hit is exactly a token jose would accept now.
    const inValidity = (entry.notBefore === undefined || entry.notBefore <= now + tolerance) && entry.expires > now - tolerance;
    if (!fresh || !inValidity) {
      this.entries.delete(token);
      return undefined;
    }
    this.entries.delete(token);
    this.entries.set(token, entry);
    return copyOf(entry.caller);
  }

  /** Call only after `token` passed full verification at `nowMs`; `exp`/`nbf` are its claims as verified. */
  remember(token: string, caller: Caller, claims: { readonly exp: number; readonly nbf?: number | undefined }, nowMs: number): void {
    if (this.options.maxEntries <= 0 || this.options.maxAgeMs <= 0) return;
    this.entries.delete(token);
    this.entries.set(token, { caller: copyOf(caller), expires: claims.exp, notBefore: claims.nbf, verifiedAt: nowMs });
    while (this.entries.size > this.options.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Callers get their own copy: nothing they do to it can change what the next request with the token sees. */
function copyOf(caller: Caller): Caller {
  return { ...caller, roles: [...caller.roles] };
}
