/** What one daily ingest run did, kept so the next run knows which days it still owes. */
export interface IngestRun {
  /** Unique per run: the start instant plus a random suffix. */
  readonly id: string;
  readonly trigger: string;
  readonly status: 'succeeded' | 'failed';
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  /** The calendar days read (in the reporting zone), first and last included. */
  readonly firstDay: string;
  readonly lastDay: string;
  readonly dayCount: number;
  readonly windowStart: Date;
  readonly windowEnd: Date;
  /** Usage rows read, day lines written, source rows rejected; 0 for what a failed run did not reach. */
  readonly rows: number;
  readonly lines: number;
  readonly rejects: number;
  /**
   * Every day up to and including this one is ingested (as of this run): the catch-up mark. A failed run
   * carries the previous mark forward; null before the first success.
   */
  readonly coveredThrough: string | null;
  readonly error?: string;
}

export interface IngestRunLog {
  /** Appends a run to the history; a succeeded run also becomes the one lastSucceeded() returns. */
  record(run: IngestRun): Promise<void>;
  lastSucceeded(): Promise<IngestRun | undefined>;
  /** The most recent runs, newest first. */
  recent(limit: number): Promise<IngestRun[]>;
}
