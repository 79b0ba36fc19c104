/**
 * The usage parse thread (started by ParseThread, never imported): reads each file it is asked for with the
 * same readers as the inline path, into a sink that packs their calls into batches for the main thread.
 */
import { basename } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../domain/errors.js';
import { readExportFile } from './file-usage-source.js';
import type { ParseThreadData, ParseThreadMessage, ReadRequest, ThreadError } from './usage-parse-thread.js';
import { SampleBatchWriter, type SampleBatch } from './usage-sample-batches.js';

const port = parentPort;
if (port === null) throw new Error('usage-parse-worker runs as a worker thread');
const { mapping, replayed, recordsPerBatch, batchesInFlight } = workerData as ParseThreadData;
const replayedBatches = new Int32Array(replayed);
let postedBatches = 0;

function postBatch(batch: SampleBatch, transfer: ArrayBuffer[]): void {
  // Waits (blocking this thread only) until the main thread has caught up to fewer than batchesInFlight.
  for (;;) {
    const seen = Atomics.load(replayedBatches, 0);
    if (postedBatches - seen < batchesInFlight) break;
    Atomics.wait(replayedBatches, 0, seen);
  }
  postedBatches += 1;
  const message: ParseThreadMessage = { type: 'batch', batch };
  port!.postMessage(message, transfer);
}

const writer = new SampleBatchWriter(recordsPerBatch, postBatch);

async function readOne(request: ReadRequest): Promise<void> {
  writer.startFile(basename(request.path));
  let message: ParseThreadMessage;
  try {
    const dataRows = await readExportFile(request.path, request.format, mapping, writer, request.progress ? (line) => writer.progress(line) : undefined, writer);
    writer.flush();
    message = { type: 'done', dataRows };
  } catch (error) {
    // The calls made before the error reach the sink first, as they would have inline.
    writer.flush();
    message = { type: 'failed', error: threadError(error) };
  }
  try {
    port!.postMessage(message);
  } catch {
    // The error's cause cannot be cloned: it stays behind, the rest goes.
    if (message.type === 'failed') port!.postMessage({ ...message, error: { ...message.error, cause: undefined } });
    else throw new Error('the parse result could not be posted');
  }
}

function threadError(error: unknown): ThreadError {
  const known = error instanceof Error ? error : new Error(String(error));
  return {
    code: error instanceof AppError ? error.code : null,
    name: known.name,
    message: known.message,
    details: error instanceof AppError ? error.details : [],
    retryable: error instanceof AppError ? error.retryable : false,
    stack: known.stack,
    cause: known.cause,
  };
}

port.on('message', (request: ReadRequest) => {
  void readOne(request);
});
