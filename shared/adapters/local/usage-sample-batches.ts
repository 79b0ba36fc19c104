import { Buffer } from 'node:buffer';
import { RowLocation, type MetricSample, type SampleLocation, type SampleValue, type UsageAggregator } from '../../domain/metric-mapping.js';

/** Where the export readers put each sample and each row they could not read. */
export type SampleSink = Pick<UsageAggregator, 'add' | 'reject'>;

export type FileFormat = 'csv' | 'ndjson';

/** Where a file's bytes go as they stream, in order: a sha256 hash, or the parse thread's way to one. */
export interface ByteSink {
  update(chunk: Buffer): void;
}

/**
 * Bytes wait for the next batch up to this much: a file with few rows per megabyte (blank or very long
 * lines) must not pile its bytes up in the writer.
 */
const MAX_PENDING_CHUNK_BYTES = 4 << 20;

/**
 * The calls an export reader made on its sink (and the progress lines it wrote), in their order, packed so
 * that a worker thread can hand them to the main thread without cloning one object per row: numbers in a
 * Float64Array, small integers and ids of interned texts in a Uint32Array (both transferred, not copied),
 * and only what is rare (a reject, a count that could not be read, a location of another form) as objects.
 */
export interface SampleBatch {
  readonly records: number;
  /** NUMBERS_PER_RECORD per record: the timestamp (ms), valueSum and valueCount. */
  readonly numbers: Float64Array;
  /** FIELDS_PER_RECORD per record: what the record is (KIND_*), the line, and the ids of name, userId, model, tier. */
  readonly fields: Uint32Array;
  /** The interned texts first used in this batch, numbered on from the texts already sent. */
  readonly newTexts: string[];
  /** The texts sent before are forgotten and numbering starts again at 0 (the table reached its bound). */
  readonly restartTexts: boolean;
  /** The rare parts, in the order of the records that use them. */
  readonly extras: BatchExtra[];
  /** The file's bytes read since the last batch (copies, transferred), in order. */
  readonly chunks: ArrayBuffer[];
}

/** A location as it crosses the thread: a line of the file being read, a text, or a line of another source. */
type EncodedLocation = string | { readonly source: string; readonly line: number };

interface RejectCall {
  readonly location: EncodedLocation;
  readonly reason: string;
  readonly raw: string | undefined;
  readonly day: string | undefined;
}

type BatchExtra = SampleValue | EncodedLocation | RejectCall;

const NUMBERS_PER_RECORD = 3;
const FIELDS_PER_RECORD = 6;
/** A sample whose valueSum is not a number: it is the next extra. */
const KIND_SUM_EXTRA = 1;
/** A sample whose valueCount is not a number: it is the next extra (after the valueSum's, if any). */
const KIND_COUNT_EXTRA = 2;
/** A sample whose location is not a line of the file being read: it is the next extra (after the values'). */
const KIND_LOCATION_EXTRA = 4;
const KIND_REJECT = 8;
const KIND_PROGRESS = 16;

/**
 * A month's distinct names, users, models and tiers number thousands; the bound only keeps a file whose
 * every row has another value from growing the tables on both threads without end.
 */
export const MAX_INTERNED_TEXTS = 1 << 20;

const SLOTS_PER_FIELD = 4;
const NAME_SLOTS = 0;
const USER_SLOTS = SLOTS_PER_FIELD;
const MODEL_SLOTS = 2 * SLOTS_PER_FIELD;
const TIER_SLOTS = 3 * SLOTS_PER_FIELD;

/**
 * A sink that records every call into batches and hands each full batch to `post` (with the buffers to
 * transfer). `startFile` names the file whose `RowLocation`s are packed as bare line numbers.
 */
export class SampleBatchWriter implements SampleSink, ByteSink {
  private readonly ids = new Map<string, number>();
  private readonly recentTexts: (string | undefined)[] = new Array<string | undefined>(4 * SLOTS_PER_FIELD).fill(undefined);
  private readonly recentIds = new Uint32Array(4 * SLOTS_PER_FIELD);
  private readonly nextSlot = new Uint8Array(4);
  private fileName = '';
  private records = 0;
  private numbers: Float64Array;
  private fields: Uint32Array;
  private newTexts: string[] = [];
  private restartTexts = false;
  private extras: BatchExtra[] = [];
  private chunks: ArrayBuffer[] = [];
  private chunkBytes = 0;

  constructor(
    private readonly recordsPerBatch: number,
    private readonly post: (batch: SampleBatch, transfer: ArrayBuffer[]) => void,
    private readonly maxInternedTexts = MAX_INTERNED_TEXTS,
  ) {
    this.numbers = new Float64Array(recordsPerBatch * NUMBERS_PER_RECORD);
    this.fields = new Uint32Array(recordsPerBatch * FIELDS_PER_RECORD);
  }

  startFile(fileName: string): void {
    this.fileName = fileName;
  }

  add(sample: MetricSample, location: SampleLocation): void {
    if (this.ids.size + 4 > this.maxInternedTexts) this.restartTextTable();
    const name = this.idOf(sample.name, NAME_SLOTS);
    const userId = this.idOf(sample.userId, USER_SLOTS);
    const model = this.idOf(sample.model, MODEL_SLOTS);
    const tier = this.idOf(sample.tier, TIER_SLOTS);
    let kind = 0;
    let valueSum = 0;
    let valueCount = 0;
    if (typeof sample.valueSum === 'number') valueSum = sample.valueSum;
    else {
      kind |= KIND_SUM_EXTRA;
      this.extras.push(sample.valueSum);
    }
    if (typeof sample.valueCount === 'number') valueCount = sample.valueCount;
    else {
      kind |= KIND_COUNT_EXTRA;
      this.extras.push(sample.valueCount);
    }
    const line = this.lineOf(location);
    if (line < 0) {
      kind |= KIND_LOCATION_EXTRA;
      this.extras.push(encodeLocation(location));
    }
    this.write(kind, line < 0 ? 0 : line, sample.timestamp.getTime(), valueSum, valueCount, name, userId, model, tier);
  }

  reject(location: SampleLocation, reason: string, raw?: string, day?: string): void {
    this.extras.push({ location: encodeLocation(location), reason, raw, day });
    this.write(KIND_REJECT, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  progress(message: string): void {
    this.extras.push(message);
    this.write(KIND_PROGRESS, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  /** Keeps a copy of the bytes for the main thread (the stream may reuse its buffers). */
  update(chunk: Buffer): void {
    this.chunks.push(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length) as ArrayBuffer);
    this.chunkBytes += chunk.length;
    if (this.chunkBytes >= MAX_PENDING_CHUNK_BYTES) this.flush();
  }

  /** Posts what was recorded since the last batch, if anything. */
  flush(): void {
    if (this.records === 0 && this.chunks.length === 0) return;
    const batch: SampleBatch = {
      records: this.records,
      numbers: this.numbers,
      fields: this.fields,
      newTexts: this.newTexts,
      restartTexts: this.restartTexts,
      extras: this.extras,
      chunks: this.chunks,
    };
    this.records = 0;
    this.numbers = new Float64Array(this.recordsPerBatch * NUMBERS_PER_RECORD);
    this.fields = new Uint32Array(this.recordsPerBatch * FIELDS_PER_RECORD);
    this.newTexts = [];
    this.restartTexts = false;
    this.extras = [];
    this.chunks = [];
    this.chunkBytes = 0;
    this.post(batch, [batch.numbers.buffer as ArrayBuffer, batch.fields.buffer as ArrayBuffer, ...batch.chunks]);
  }

  private write(kind: number, line: number, instant: number, valueSum: number, valueCount: number, name: number, userId: number, model: number, tier: number): void {
    const at = this.records * NUMBERS_PER_RECORD;
    this.numbers[at] = instant;
    this.numbers[at + 1] = valueSum;
    this.numbers[at + 2] = valueCount;
    const field = this.records * FIELDS_PER_RECORD;
    this.fields[field] = kind;
    this.fields[field + 1] = line;
    this.fields[field + 2] = name;
    this.fields[field + 3] = userId;
    this.fields[field + 4] = model;
    this.fields[field + 5] = tier;
    this.records += 1;
    if (this.records === this.recordsPerBatch) this.flush();
  }

  /** The line of a RowLocation in the file being read, or -1 when the location must travel as it is. */
  private lineOf(location: SampleLocation): number {
    if (typeof location === 'string' || location.source !== this.fileName) return -1;
    const line = location.line;
    return Number.isInteger(line) && line >= 0 && line <= 0xffffffff ? line : -1;
  }

  /**
   * Texts arrive as new strings from JSON.parse on every row, and a Map lookup hashes each one again. A few
   * recent texts per field are compared first: a row's metric is one of a handful of names, and a series'
   * metrics (each one row) share their user, model and tier.
   */
  private idOf(text: string, firstSlot: number): number {
    const recent = this.recentTexts;
    for (let slot = firstSlot; slot < firstSlot + SLOTS_PER_FIELD; slot += 1) {
      if (recent[slot] === text) return this.recentIds[slot]!;
    }
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(text, id);
      this.newTexts.push(text);
    }
    const field = firstSlot / SLOTS_PER_FIELD;
    const slot = firstSlot + this.nextSlot[field]!;
    this.nextSlot[field] = (this.nextSlot[field]! + 1) % SLOTS_PER_FIELD;
    recent[slot] = text;
    this.recentIds[slot] = id;
    return id;
  }

  /** The records so far name texts by their old numbers: they leave first. */
  private restartTextTable(): void {
    this.flush();
    this.ids.clear();
    this.recentTexts.fill(undefined);
    this.restartTexts = true;
  }
}

function encodeLocation(location: SampleLocation): EncodedLocation {
  return typeof location === 'string' ? location : { source: location.source, line: location.line };
}

function decodeLocation(location: EncodedLocation): SampleLocation {
  return typeof location === 'string' ? location : new RowLocation(location.source, location.line);
}

/** Replays batches written by a SampleBatchWriter into a sink: the same calls, in the same order. */
export class SampleBatchReader {
  private readonly texts: string[] = [];
  private fileName = '';

  startFile(fileName: string): void {
    this.fileName = fileName;
  }

  replay(batch: SampleBatch, sink: SampleSink, onProgress: ((message: string) => void) | undefined, bytes: ByteSink): void {
    for (const chunk of batch.chunks) bytes.update(Buffer.from(chunk));
    const texts = this.texts;
    if (batch.restartTexts) texts.length = 0;
    for (const text of batch.newTexts) texts.push(text);
    const { numbers, fields, extras } = batch;
    let extra = 0;
    for (let record = 0; record < batch.records; record += 1) {
      const field = record * FIELDS_PER_RECORD;
      const kind = fields[field]!;
      if (kind === KIND_REJECT) {
        const call = extras[extra++] as RejectCall;
        sink.reject(decodeLocation(call.location), call.reason, call.raw, call.day);
        continue;
      }
      if (kind === KIND_PROGRESS) {
        const message = extras[extra++] as string;
        onProgress?.(message);
        continue;
      }
      const at = record * NUMBERS_PER_RECORD;
      const valueSum = (kind & KIND_SUM_EXTRA) === 0 ? numbers[at + 1]! : (extras[extra++] as SampleValue);
      const valueCount = (kind & KIND_COUNT_EXTRA) === 0 ? numbers[at + 2]! : (extras[extra++] as SampleValue);
      const location = (kind & KIND_LOCATION_EXTRA) === 0 ? new RowLocation(this.fileName, fields[field + 1]!) : decodeLocation(extras[extra++] as EncodedLocation);
      sink.add(
        {
          timestamp: new Date(numbers[at]!),
          name: texts[fields[field + 2]!]!,
          valueSum,
          valueCount,
          userId: texts[fields[field + 3]!]!,
          model: texts[fields[field + 4]!]!,
          tier: texts[fields[field + 5]!]!,
        },
        location,
      );
    }
  }
}
