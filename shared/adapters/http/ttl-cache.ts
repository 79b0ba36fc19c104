/**
 * A small read-through cache for the cost API (CachedCostReads). Rollups change at most a few times a day (the daily ingest,
 * the monthly close), so serving a team-month for a short TTL saves a Table Storage query per request while
 * keeping figures at most TTL seconds behind the store.
 *
 * - Concurrent misses for one key share a single load, so a burst after expiry costs one query.
 * - A failed load is not cached: the next request tries again.
 * - At most `maxEntries` keys are kept; the least recently used go first, so a caller probing many team ids
 *   cannot grow the process without bound.
 * - A TTL of 0 disables caching (every call loads).
 */
export interface TtlCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Milliseconds since the epoch; the use case passes its Clock so tests control expiry. */
  readonly now: () => number;
}

interface Entry<V> {
  readonly load: Promise<V>;
  /** Infinity while the load is in flight. */
  expiresAt: number;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(private readonly options: TtlCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    if (this.options.ttlMs <= 0) return load();
    const existing = this.entries.get(key);
    if (existing && existing.expiresAt > this.options.now()) {
      // Re-inserting moves the key to the back of the Map's order: the front is the least recently used.
      this.entries.delete(key);
      this.entries.set(key, existing);
      return existing.load;
    }
    const startedAt = this.options.now();
    const entry: Entry<V> = {
      load: load().then(
        (value) => {
          // Expiry counts from the start of the load: the data is at least that old.
          if (this.entries.get(key) === entry) entry.expiresAt = startedAt + this.options.ttlMs;
          return value;
        },
        (error: unknown) => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
          throw error;
        },
      ),
      expiresAt: Number.POSITIVE_INFINITY,
    };
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return entry.load;
  }

  clear(): void {
    this.entries.clear();
  }
}
