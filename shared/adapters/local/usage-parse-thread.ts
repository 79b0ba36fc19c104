import { createHash, type Hash } from 'node:crypto';
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { AppError, type ErrorCode } from '../../domain/errors.js';
import type { MetricMapping } from '../../domain/metric-mapping.js';
import { SampleBatchReader, type FileFormat, type SampleBatch, type SampleSink } from './usage-sample-batches.js';

/** What the parse thread is started with. */
export interface ParseThreadData {
  readonly mapping: MetricMapping;
  /** One Int32: the batches the main thread has replayed so far. The worker waits on it. */
  readonly replayed: SharedArrayBuffer;
  readonly recordsPerBatch: number;
  readonly batchesInFlight: number;
}

export interface ReadRequest {
  readonly path: string;
  readonly format: FileFormat;
  readonly progress: boolean;
}

/** An error as it crosses the thread: an AppError keeps its code, message, details and retryable. */
export interface ThreadError {
  readonly code: ErrorCode | null;
  readonly name: string;
  readonly message: string;
  readonly details: readonly string[];
  readonly retryable: boolean;
  readonly stack: string | undefined;
  readonly cause: unknown;
}

export type ParseThreadMessage =
  | { readonly type: 'batch'; readonly batch: SampleBatch }
  | { readonly type: 'done'; readonly dataRows: number }
  | { readonly type: 'failed'; readonly error: ThreadError };

/**
 * Records per batch: big enough that posting a batch costs little per row, small enough that a batch
 * (about 72 bytes a record in its two arrays) stays far under a megabyte.
 */
const RECORDS_PER_BATCH = 8_192;
/**
 * The worker reads on while this many batches wait for the main thread, then waits itself: a few batches
 * keep both threads busy, and a 1.6 GB file never piles up in messages when the main thread is the slower.
 */
const BATCHES_IN_FLIGHT = 4;

export interface ExportFileRead {
  readonly sha256: string;
  readonly dataRows: number;
}

/**
 * A worker thread that reads, splits and parses export files, while the main thread replays the samples it
 * sends into the sink (the aggregation stays on the main thread, as it is) and hashes the file's bytes,
 * which the worker sends beside them: hashing is the one step that needs no parse, and the main thread
 * would otherwise wait on the worker for as long as it takes. One file at a time;
 * `close()` ends the thread and must be called on every path.
 */
export class ParseThread {
  private readonly worker: Worker;
  private readonly replayed: Int32Array;
  private readonly batches = new SampleBatchReader();
  private current: {
    readonly path: string;
    readonly sink: SampleSink;
    readonly onProgress: ((message: string) => void) | undefined;
    readonly hash: Hash;
    readonly resolve: (read: ExportFileRead) => void;
    readonly reject: (error: unknown) => void;
  } | null = null;
  /** Why the thread can read no more (it failed or ended); every later read fails with it. */
  private broken: AppError | null = null;
  private closed = false;

  constructor(mapping: MetricMapping) {
    const replayed = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    this.replayed = new Int32Array(replayed);
    const workerData: ParseThreadData = { mapping, replayed, recordsPerBatch: RECORDS_PER_BATCH, batchesInFlight: BATCHES_IN_FLIGHT };
    try {
      this.worker = startWorker(workerData);
    } catch (error) {
      throw new AppError('INTERNAL', `the usage parse thread could not start: ${(error as Error).message}`, { cause: error });
    }
    this.worker.on('message', (message: ParseThreadMessage) => this.receive(message));
    this.worker.on('error', (error) => this.fail(new AppError('INTERNAL', `the usage parse thread failed: ${error.message}`, { cause: error })));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new AppError('INTERNAL', `the usage parse thread stopped unexpectedly (exit code ${code})`));
    });
  }

  read(path: string, format: FileFormat, sink: SampleSink, onProgress: ((message: string) => void) | undefined): Promise<ExportFileRead> {
    if (this.current !== null) throw new Error('ParseThread reads one file at a time');
    if (this.broken !== null) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new AppError('INTERNAL', 'the usage parse thread was closed'));
    return new Promise<ExportFileRead>((resolve, reject) => {
      this.batches.startFile(basename(path));
      this.current = { path, sink, onProgress, hash: createHash('sha256'), resolve, reject };
      const request: ReadRequest = { path, format, progress: onProgress !== undefined };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }

  private receive(message: ParseThreadMessage): void {
    const current = this.current;
    if (current === null || this.broken !== null) return;
    try {
      if (message.type === 'batch') {
        this.batches.replay(message.batch, current.sink, current.onProgress, current.hash);
        Atomics.add(this.replayed, 0, 1);
        Atomics.notify(this.replayed, 0);
      } else if (message.type === 'done') {
        this.current = null;
        current.resolve({ sha256: current.hash.digest('hex'), dataRows: message.dataRows });
      } else {
        this.fail(errorFromThread(message.error, current.path));
      }
    } catch (error) {
      // The sink or the progress callback threw, as it would have inline: the read ends with that error.
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.broken !== null) return;
    this.broken = error instanceof AppError ? error : new AppError('INTERNAL', `the usage parse thread cannot go on: ${String(error)}`, { cause: error });
    const current = this.current;
    this.current = null;
    // The worker may be waiting for the batches it sent: it is stopped, not left to read on.
    void this.close();
    current?.reject(error);
  }
}

/**
 * From compiled JavaScript (dist/) the worker is its .js file. From TypeScript sources (tsx, vitest) the
 * worker needs tsx's loader, and on Node 20 a worker started with `execArgv: ['--import', 'tsx']` (or the
 * parent's tsx flags) still refuses the .ts entry: a small bootstrap registers tsx's hooks in the worker
 * first and then imports the .ts file. There is no inline fallback: a worker that cannot start fails the read.
 */
function startWorker(workerData: ParseThreadData): Worker {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new Worker(new URL('./usage-parse-worker.js', here), { workerData });
  const entry = new URL('./usage-parse-worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, execArgv: [] });
}

function errorFromThread(error: ThreadError, path: string): Error {
  if (error.code !== null) {
    return new AppError(error.code, error.message, { retryable: error.retryable, details: error.details, ...(error.cause === undefined ? {} : { cause: error.cause }) });
  }
  const failure = new AppError('INTERNAL', `${path}: the usage parse thread failed: ${error.name}: ${error.message}`);
  if (error.stack !== undefined) failure.stack = `${failure.stack ?? ''}\nin the parse thread: ${error.stack}`;
  return failure;
}
