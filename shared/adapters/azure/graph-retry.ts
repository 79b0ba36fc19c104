import { GraphError } from '@microsoft/microsoft-graph-client';

/**
 * The pieces of Graph retry handling the adapters share. The Graph client is built without the SDK's
 * RetryHandler (see graph-client.ts), so each adapter decides which failures it may repeat: a directory read
 * can be repeated after any 5xx, a mail send only where the request surely was not acted on.
 */

export const MAX_RETRY_DELAY_MS = 60_000;

/** The HTTP status of a failed Graph call; -1 when no answer came (fetch rejects with a TypeError). */
export function graphStatusOf(error: unknown): number {
  if (error instanceof GraphError) return error.statusCode;
  return -1;
}

/** Failures worth repeating for a request that is safe to repeat: throttling, 5xx and no answer at all. */
export function isTransientGraphStatus(status: number): boolean {
  return status === -1 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** A response header of a failed Graph call (e.g. Retry-After), if the SDK kept the headers. */
export function graphHeaderOf(error: unknown, name: string): string | undefined {
  if (!(error instanceof GraphError) || error.headers === undefined) return undefined;
  return error.headers.get(name) ?? undefined;
}

/**
 * How long to wait before attempt `attempt + 1`: Retry-After in seconds or as an HTTP date when the server sent
 * one, otherwise exponential backoff from 1 s; never more than `maxMs`.
 */
export function retryDelayMs(retryAfter: string | null | undefined, attempt: number, maxMs: number = MAX_RETRY_DELAY_MS): number {
  if (retryAfter !== undefined && retryAfter !== null && retryAfter.trim() !== '') {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, maxMs);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.min(Math.max(date - Date.now(), 0), maxMs);
  }
  return Math.min(1000 * 2 ** (attempt - 1), maxMs);
}
