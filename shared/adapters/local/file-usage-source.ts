import { createHash } from 'node:crypto';
import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { AppError } from '../../domain/errors.js';
import {
  DEFAULT_METRIC_MAPPING,
  readCount,
  RowLocation,
  SourceDayTotalsCollector,
  UsageAggregator,
  type MetricMapping,
  type MetricSample,
  type SampleLocation,
  type SampleValue,
} from '../../domain/metric-mapping.js';
import { createDayResolver, type TimeWindow } from '../../domain/periods.js';
import { rawValueForReport, type SourceDayTotal, type UsageInput, type UsageReadResult } from '../../domain/usage.js';
import type { ReadUsageOptions, UsageSource } from '../../ports/usage-source.js';
import { LineSplitter } from './line-splitter.js';
import { ParseThread, type ExportFileRead } from './usage-parse-thread.js';
import type { ByteSink, FileFormat, SampleSink } from './usage-sample-batches.js';

export interface FileUsageSourceOptions {
  /** Exports of customMetrics (classic) or AppMetrics (workspace-based): .csv, or .ndjson/.jsonl/.json. */
  readonly files: readonly string[];
  readonly mapping?: MetricMapping;
  /**
   * Where files are read and parsed: 'auto' (the default) in a worker thread for files of at least
   * PARSE_IN_WORKER_MIN_BYTES, 'always' or 'never' (tests compare both on the same files).
   */
  readonly parseInWorker?: ParseInWorker;
}

export type ParseInWorker = 'auto' | 'always' | 'never';

/**
 * A parse thread costs 60-70 ms more than the inline read for a 2 MB file (its start, its modules, its first
 * batch), and saves 3-4 ms per MB when a core is free (163 MB: 2.0 s inline, 1.5 s in the thread): from about
 * 16 MB on it pays. A day's export at 10,000 users (5 MB) stays inline; the month's (163 MB) does not.
 */
export const PARSE_IN_WORKER_MIN_BYTES = 16 * 1024 * 1024;

const FORMAT_BY_EXTENSION: Readonly<Record<string, FileFormat>> = {
  '.csv': 'csv',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'ndjson',
};

const PROGRESS_EVERY_LINES = 250_000;
const ASCII_PIECE_BYTES = 1 << 19;
/** A stray quote must not swallow the rest of a 200 MB file into one record. */
const MAX_LINES_PER_CSV_RECORD = 1_000;

const TIMESTAMP_REASON: Readonly<Record<DateOrder, string>> = {
  monthFirst: 'timestamp is neither ISO 8601 nor M/D/YYYY, h:mm:ss AM',
  dayFirst: 'timestamp is neither ISO 8601 nor D/M/YYYY hh:mm:ss',
};

/** How a slash date is read: the portal's en-US `10/25/2026` (month first) or a European `25/10/2026`. */
export type DateOrder = 'monthFirst' | 'dayFirst';

/**
 * Reads usage from files exported from App Insights (portal "Export to CSV", or NDJSON written by a query
 * tool). Files are streamed line by line, so a month of metrics never sits in memory; only the aggregates do.
 */
export class FileUsageSource implements UsageSource {
  private readonly files: readonly string[];
  private readonly mapping: MetricMapping;
  private readonly parseInWorker: ParseInWorker;

  constructor(options: FileUsageSourceOptions) {
    this.files = [...options.files];
    this.mapping = options.mapping ?? DEFAULT_METRIC_MAPPING;
    this.parseInWorker = options.parseInWorker ?? 'auto';
  }

  /**
   * Every file is read in full, hashed (sha256) while it streams. A sample of a series at a minute already
   * read (overlapping exports, or the same file twice) is counted as a repeat and not summed; a file whose
   * bytes equal an earlier one's is named in `duplicates.files`.
   */
  async read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult> {
    const aggregator = new UsageAggregator(this.mapping, window, options.timeZone, { detectRepeats: true });
    const sink = new DayTotalsSink(this.mapping, window, options.timeZone, aggregator);
    const { inputs, duplicateFiles } = await this.readInto(sink, options);
    return aggregator.result(`file export: ${this.files.map((file) => basename(file)).join(', ')}`, { inputs, duplicateFiles, dayTotals: sink.totals.result() });
  }

  /** The same parse as read(), keeping only the sums per day and metric (read() returns them too). */
  async dayTotals(window: TimeWindow, options: ReadUsageOptions): Promise<SourceDayTotal[]> {
    const sink = new DayTotalsSink(this.mapping, window, options.timeZone, null);
    await this.readInto(sink, options);
    return sink.totals.result();
  }

  private async readInto(sink: SampleSink, options: ReadUsageOptions): Promise<{ inputs: UsageInput[]; duplicateFiles: string[] }> {
    const plan = await this.checkFiles();
    const inputs: UsageInput[] = [];
    const duplicateFiles: string[] = [];
    const firstByHash = new Map<string, { name: string; fullPath: string }>();
    // One thread serves every file it is given, and ends with the read whichever way the read ends.
    let thread: ParseThread | null = null;
    try {
      for (const { path, format, bytes } of plan) {
        let read: ExportFileRead;
        if (this.parsesInWorker(bytes)) {
          thread ??= new ParseThread(this.mapping);
          read = await thread.read(path, format, sink, options.onProgress);
        } else {
          const hash = createHash('sha256');
          const dataRows = await readExportFile(path, format, this.mapping, sink, options.onProgress, hash);
          read = { sha256: hash.digest('hex'), dataRows };
        }
        const { sha256 } = read;
        const name = basename(path);
        inputs.push({ name, sha256, rows: read.dataRows });
        const first = firstByHash.get(sha256);
        if (first === undefined) firstByHash.set(sha256, { name, fullPath: resolve(path) });
        else if (first.fullPath === resolve(path)) duplicateFiles.push(`${name} was given twice (sha256 ${sha256.slice(0, 16)}…)`);
        else duplicateFiles.push(`${name} is the same file as ${first.name} (sha256 ${sha256.slice(0, 16)}…)`);
      }
    } finally {
      await thread?.close();
    }
    return { inputs, duplicateFiles };
  }

  private parsesInWorker(bytes: number): boolean {
    return this.parseInWorker === 'always' || (this.parseInWorker === 'auto' && bytes >= PARSE_IN_WORKER_MIN_BYTES);
  }

  /** Every unusable file is named at once, before anything is read. */
  private async checkFiles(): Promise<{ path: string; format: FileFormat; bytes: number }[]> {
    if (this.files.length === 0) throw new AppError('USAGE_INPUT_INVALID', 'no usage export file was given');
    const problems: string[] = [];
    const plan: { path: string; format: FileFormat; bytes: number }[] = [];
    for (const path of this.files) {
      const format = FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
      if (format === undefined) {
        problems.push(`${path}: unsupported file type "${extname(path) || '(none)'}" (expected .csv, .ndjson, .jsonl or .json)`);
        continue;
      }
      try {
        const info = await stat(path);
        if (!info.isFile()) problems.push(`${path}: is not a file`);
        else plan.push({ path, format, bytes: info.size });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        problems.push(code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot be read (${code ?? String(error)})`);
      }
    }
    if (problems.length > 0) {
      throw new AppError('USAGE_INPUT_INVALID', `cannot read the usage export: ${problems.join('; ')}`, { details: problems });
    }
    return plan;
  }
}

/**
 * Sums every sample of a queried metric inside the window per calendar day and metric, as the App Insights
 * day totals query does, then hands it on to the aggregator (when there is one) unchanged.
 */
class DayTotalsSink implements SampleSink {
  readonly totals = new SourceDayTotalsCollector();
  private readonly metrics: Set<string>;
  private readonly dayOf: (instant: Date) => string;
  private readonly startMs: number;
  private readonly endMs: number;

  constructor(
    mapping: MetricMapping,
    window: TimeWindow,
    timeZone: string,
    private readonly aggregator: UsageAggregator | null,
  ) {
    this.metrics = new Set([...Object.keys(mapping.tokenKinds), mapping.requestCountMetric, ...(mapping.totalTokensMetric === null ? [] : [mapping.totalTokensMetric])]);
    this.dayOf = createDayResolver(timeZone);
    this.startMs = window.start.getTime();
    this.endMs = window.end.getTime();
  }

  add(sample: MetricSample, location: SampleLocation): void {
    const instant = sample.timestamp.getTime();
    if (instant >= this.startMs && instant < this.endMs && this.metrics.has(sample.name)) {
      this.totals.add(this.dayOf(sample.timestamp), sample.name, sample.valueSum, sample.valueCount);
    }
    this.aggregator?.add(sample, location);
  }

  reject(location: SampleLocation, reason: string, raw?: string, day?: string): void {
    this.aggregator?.reject(location, reason, raw, day);
  }
}

interface LineReader {
  line(text: string, lineNumber: number): void;
  end(): void;
  /** Data rows read: CSV records after the header, or non-blank NDJSON lines. */
  readonly dataRows: number;
}

/**
 * Reads one export file into `sink`, hands its bytes to `bytes`, and returns its data rows. The one parse of
 * an export: the main thread calls it for small files, the parse thread (usage-parse-worker.ts) for the
 * others, with sinks that carry the same calls and bytes over to the main thread.
 */
export async function readExportFile(
  path: string,
  format: FileFormat,
  mapping: MetricMapping,
  sink: SampleSink,
  onProgress: ((message: string) => void) | undefined,
  bytes: ByteSink,
): Promise<number> {
  const reader = format === 'csv' ? new CsvExportReader(path, mapping, sink) : new NdjsonExportReader(path, mapping, sink);
  await streamLines(path, reader, onProgress, bytes);
  return reader.dataRows;
}

/** Streams the file's lines into `reader` and its bytes into `bytes`. */
async function streamLines(path: string, reader: LineReader, onProgress: ((message: string) => void) | undefined, bytes: ByteSink): Promise<void> {
  const name = basename(path);
  // The decoder keeps a UTF-8 sequence split between two chunks whole, as readline's own decoder did.
  const decoder = new StringDecoder('utf8');
  let decoderIsEmpty = true;
  let lineNumber = 0;
  const lines = new LineSplitter((text) => {
    lineNumber += 1;
    reader.line(lineNumber === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, lineNumber);
    if (onProgress !== undefined && lineNumber % PROGRESS_EVERY_LINES === 0) {
      onProgress(`${name}: ${lineNumber.toLocaleString('en-US')} lines read`);
    }
  });
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (error) {
        throw new AppError('USAGE_INPUT_INVALID', `${path}: read failed: ${(error as Error).message}`, { cause: error });
      }
      if (next.done === true) break;
      const chunk = next.value;
      bytes.update(chunk);
      if (decoderIsEmpty && isAscii(chunk)) {
        // ASCII decodes to its bytes as they are: copying them costs half of decoding them as UTF-8. Pieces
        // stay under the size from which Node makes a string outside V8's heap, where it would linger.
        for (let start = 0; start < chunk.length; start += ASCII_PIECE_BYTES) {
          lines.push(chunk.toString('latin1', start, Math.min(start + ASCII_PIECE_BYTES, chunk.length)));
        }
      } else {
        lines.push(decoder.write(chunk));
        // After an ASCII byte the decoder holds no part of a character.
        if (chunk.length > 0) decoderIsEmpty = chunk[chunk.length - 1]! < 0x80;
      }
    }
  } finally {
    input.destroy();
  }
  lines.end();
  reader.end();
}

interface Dimensions {
  readonly userId: string;
  readonly model: string;
  readonly tier: string;
}

const NO_DIMENSIONS: Dimensions = Object.freeze({ userId: '', model: '', tier: '' });
/** Distinct dimension texts are users x models x tiers: thousands, not millions. The bound only guards memory. */
const MAX_CACHED_DIMENSION_TEXTS = 50_000;

/**
 * Picks the three dimensions out of a customDimensions/Properties bag. The same bag text comes back on many
 * rows (one per metric per interval), so the picked values are cached by text: a Map lookup instead of a
 * JSON.parse on the hot path.
 */
class DimensionReader {
  private readonly byText = new Map<string, Dimensions | null>();

  constructor(private readonly mapping: MetricMapping) {}

  /** null when the text is not a JSON object. */
  fromText(text: string): Dimensions | null {
    return this.cached(text, text);
  }

  /** The same, for a CSV field whose quotes are still doubled: undone only when the text is new. */
  fromCsvField(field: string): Dimensions | null {
    return this.cached(field, null);
  }

  private cached(key: string, text: string | null): Dimensions | null {
    let dimensions = this.byText.get(key);
    if (dimensions === undefined) {
      dimensions = this.parse(text ?? unquoteCsv(key));
      if (this.byText.size >= MAX_CACHED_DIMENSION_TEXTS) this.byText.clear();
      this.byText.set(key, dimensions);
    }
    return dimensions;
  }

  fromBag(bag: Record<string, unknown>): Dimensions {
    const names = this.mapping.dimensions;
    return { userId: dimensionText(bag[names.userId]), model: dimensionText(bag[names.model]), tier: dimensionText(bag[names.tier]) };
  }

  private parse(text: string): Dimensions | null {
    if (text.trim() === '') return NO_DIMENSIONS;
    try {
      const parsed: unknown = JSON.parse(text);
      return isPlainObject(parsed) ? this.fromBag(parsed) : null;
    } catch {
      return null;
    }
  }
}

interface CsvColumns {
  readonly time: number;
  readonly name: number;
  readonly valueSum: number;
  readonly valueCount: number;
  readonly dimensions: number;
  readonly userId: number;
  readonly model: number;
  readonly tier: number;
  readonly count: number;
}

/**
 * A query result exported as CSV: the portal writes a header, RFC 4180 quoting, `timestamp [UTC]`, and times
 * in the browser's locale. Columns are found by name, so any projection of customMetrics or AppMetrics works.
 *
 * A header separated by ';' is a European export (Excel saves CSV so where ',' is the decimal comma): it is
 * read with ';' between fields, ',' as the decimal separator and dates day first (D/M/YYYY), and the file is
 * refused at its end if its dates turn out to be month first (and the other way round), so that a day of 12
 * or less is never read with day and month swapped.
 */
class CsvExportReader implements LineReader {
  private readonly name: string;
  private readonly dimensions: DimensionReader;
  private columns: CsvColumns | null = null;
  private readonly pending: { text: string; lineNumber: number }[] = [];
  private delimiter: ',' | ';' = ',';
  private timestamps = new TimestampParser('monthFirst');
  dataRows = 0;

  constructor(
    private readonly path: string,
    private readonly mapping: MetricMapping,
    private readonly aggregator: SampleSink,
  ) {
    this.name = basename(path);
    this.dimensions = new DimensionReader(mapping);
  }

  line(text: string, lineNumber: number): void {
    if (this.columns === null && this.pending.length === 0 && text.length > 0) {
      this.delimiter = headerDelimiter(text);
      this.timestamps = new TimestampParser(this.delimiter === ';' ? 'dayFirst' : 'monthFirst');
    }
    if (this.pending.length === 0) {
      if (text.length === 0) return;
      const fields = splitCsvRecord(text, false, this.delimiter);
      if (fields === CSV_INCOMPLETE) this.pending.push({ text, lineNumber });
      else this.record(fields, lineNumber, text);
      return;
    }
    this.pending.push({ text, lineNumber });
    const joined = this.pending.map((part) => part.text).join('\n');
    const fields = splitCsvRecord(joined, false, this.delimiter);
    if (fields !== CSV_INCOMPLETE) {
      // A record spanning lines that does not fit the header is a stray quote that swallowed the next line.
      if (this.columns !== null && fields.length !== this.columns.count) return this.abandonPendingRecord();
      const start = this.pending[0]!.lineNumber;
      this.pending.length = 0;
      this.record(fields, start, joined);
    } else if (this.pending.length >= MAX_LINES_PER_CSV_RECORD) {
      this.abandonPendingRecord();
    }
  }

  end(): void {
    while (this.pending.length > 0) this.abandonPendingRecord();
    if (this.columns === null) throw new AppError('USAGE_INPUT_INVALID', `${this.path}: the file is empty (no header row)`);
    this.timestamps.assertOneOrder(this.path);
  }

  /**
   * The first pending line opened a quote that never closed: reject that line alone and read the lines after
   * it again, so one stray quote costs one row rather than the rest of the file.
   */
  private abandonPendingRecord(): void {
    const [first, ...rest] = this.pending;
    this.pending.length = 0;
    if (first === undefined) return;
    if (this.columns === null) throw new AppError('USAGE_INPUT_INVALID', `${this.path}:${first.lineNumber}: the header row has an unclosed quote`);
    this.dataRows += 1;
    this.aggregator.reject(`${this.name}:${first.lineNumber}`, 'unclosed quote in a CSV field', first.text);
    for (const part of rest) this.line(part.text, part.lineNumber);
  }

  private record(fields: string[], lineNumber: number, text: string): void {
    const columns = this.columns;
    if (columns === null) {
      this.columns = findCsvColumns(this.path, fields.map(unquoteCsv), this.mapping, this.delimiter);
      return;
    }
    const location = new RowLocation(this.name, lineNumber);
    if (fields.length !== columns.count) {
      if (fields.length === 1 && fields[0]!.trim() === '') return;
      this.dataRows += 1;
      return this.aggregator.reject(location, `wrong number of fields (the header has ${columns.count})`, text);
    }
    this.dataRows += 1;
    const timeText = unquoteCsv(fields[columns.time]!);
    const instant = this.timestamps.parse(timeText, lineNumber);
    if (Number.isNaN(instant)) return this.aggregator.reject(location, TIMESTAMP_REASON[this.timestamps.order], timeText);

    let dimensions = NO_DIMENSIONS;
    if (columns.dimensions >= 0) {
      const parsed = this.dimensions.fromCsvField(fields[columns.dimensions]!);
      if (parsed === null) return this.aggregator.reject(location, 'customDimensions is not a JSON object', unquoteCsv(fields[columns.dimensions]!));
      dimensions = parsed;
    }
    const decimalSeparator = this.delimiter === ';' ? ',' : '.';
    this.aggregator.add(
      {
        timestamp: new Date(instant),
        name: unquoteCsv(fields[columns.name]!),
        valueSum: readCount(unquoteCsv(fields[columns.valueSum]!), decimalSeparator),
        valueCount: readCount(unquoteCsv(fields[columns.valueCount]!), decimalSeparator),
        userId: columns.userId >= 0 ? unquoteCsv(fields[columns.userId]!) : dimensions.userId,
        model: columns.model >= 0 ? unquoteCsv(fields[columns.model]!) : dimensions.model,
        tier: columns.tier >= 0 ? unquoteCsv(fields[columns.tier]!) : dimensions.tier,
      },
      location,
    );
  }
}

/** ';' when the header has more semicolons than commas outside quotes (a European export), else ','. */
function headerDelimiter(header: string): ',' | ';' {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const char of header) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === ',') commas += 1;
    else if (!quoted && char === ';') semicolons += 1;
  }
  return semicolons > commas ? ';' : ',';
}

const CLASSIC_COLUMNS = { time: 'timestamp', name: 'name', valueSum: 'valueSum', valueCount: 'valueCount', dimensions: 'customDimensions' };
const WORKSPACE_COLUMNS = { time: 'TimeGenerated', name: 'Name', valueSum: 'Sum', valueCount: 'ItemCount', dimensions: 'Properties' };

/**
 * Classic customMetrics and workspace AppMetrics name the same facts differently. The schema is chosen by the
 * time column so that a classic export's `itemCount` (a sampling count) is never read as AppMetrics'
 * `ItemCount` (the number of measurements).
 */
function findCsvColumns(path: string, header: string[], mapping: MetricMapping, delimiter: ',' | ';'): CsvColumns {
  const names = header.map((raw) => {
    const text = raw.trim();
    const bracket = /^(.*?)\s*\[([^\]]*)\]$/.exec(text);
    return { base: (bracket ? bracket[1]! : text).toLowerCase(), unit: bracket ? bracket[2]!.trim() : null };
  });
  const indexOf = (column: string): number => names.findIndex((name) => name.base === column.toLowerCase());
  const schema = indexOf(CLASSIC_COLUMNS.time) < 0 && indexOf(WORKSPACE_COLUMNS.time) >= 0 ? WORKSPACE_COLUMNS : CLASSIC_COLUMNS;

  const time = indexOf(schema.time);
  const unit = time >= 0 ? names[time]!.unit : null;
  if (unit !== null && unit.toUpperCase() !== 'UTC') {
    throw new AppError(
      'USAGE_INPUT_INVALID',
      `${path}: the time column is "${header[time]!.trim()}", not UTC; set the portal's display time zone to UTC and export again`,
    );
  }
  const columns: CsvColumns = {
    time,
    name: indexOf(schema.name),
    valueSum: indexOf(schema.valueSum),
    valueCount: indexOf(schema.valueCount),
    dimensions: indexOf(schema.dimensions),
    // A query may have projected the dimensions into their own columns; they then win over the bag.
    userId: indexOf(mapping.dimensions.userId),
    model: indexOf(mapping.dimensions.model),
    tier: indexOf(mapping.dimensions.tier),
    count: header.length,
  };
  const missing: string[] = [];
  if (columns.time < 0) missing.push(schema === CLASSIC_COLUMNS ? 'timestamp [UTC] (or timestamp)' : 'TimeGenerated [UTC] (or TimeGenerated)');
  if (columns.name < 0) missing.push(schema.name);
  if (columns.valueSum < 0) missing.push(schema.valueSum);
  if (columns.valueCount < 0) missing.push(schema.valueCount);
  if (columns.dimensions < 0 && columns.userId < 0) missing.push(schema.dimensions);
  if (missing.length > 0) {
    // A ';' header is recognised before this; one column holding the whole header means another separator.
    const other = header.length === 1 ? [';', '\t', '|'].find((candidate) => candidate !== delimiter && header[0]!.includes(candidate)) : undefined;
    if (other !== undefined) {
      const shown = other === '\t' ? 'a tab' : `'${other}'`;
      throw new AppError('USAGE_INPUT_INVALID', `${path}: this file uses ${shown} as its delimiter; export it again as CSV with commas (the header is "${rawValueForReport(header[0]!.trim())}")`);
    }
    throw new AppError(
      'USAGE_INPUT_INVALID',
      `${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (the header has: ${header.map((h) => h.trim()).join(', ')})`,
      { details: missing.map((column) => `${path}: missing column ${column}`) },
    );
  }
  return columns;
}

/** One JSON object per line, with either the customMetrics or the AppMetrics field names. */
class NdjsonExportReader implements LineReader {
  private readonly name: string;
  private readonly dimensions: DimensionReader;
  private readonly timestamps = new TimestampParser('monthFirst');
  private sawContent = false;
  dataRows = 0;

  constructor(
    private readonly path: string,
    mapping: MetricMapping,
    private readonly aggregator: SampleSink,
  ) {
    this.name = basename(path);
    this.dimensions = new DimensionReader(mapping);
  }

  line(text: string, lineNumber: number): void {
    if (text.length === 0 || text.trim() === '') return;
    if (!this.sawContent) {
      this.sawContent = true;
      if (text.trimStart().startsWith('[')) {
        throw new AppError('USAGE_INPUT_INVALID', `${this.path}: is a JSON array; expected one JSON object per line (NDJSON)`);
      }
    }
    this.dataRows += 1;
    const location = new RowLocation(this.name, lineNumber);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.aggregator.reject(location, 'line is not JSON', text);
    }
    if (!isPlainObject(parsed)) return this.aggregator.reject(location, 'line is not a JSON object', text);

    const time = parsed['timestamp'] ?? parsed['TimeGenerated'];
    if (typeof time !== 'string') return this.aggregator.reject(location, 'timestamp is missing', text);
    const instant = this.timestamps.parse(time, lineNumber);
    if (Number.isNaN(instant)) return this.aggregator.reject(location, TIMESTAMP_REASON.monthFirst, time);
    const name = parsed['name'] ?? parsed['Name'];
    if (typeof name !== 'string') return this.aggregator.reject(location, 'name is missing', text);
    const valueSum = parsed['valueSum'] ?? parsed['Sum'];
    if (valueSum === undefined || valueSum === null) return this.aggregator.reject(location, 'valueSum is missing', text);
    const valueCount = parsed['valueCount'] ?? parsed['ItemCount'];
    if (valueCount === undefined || valueCount === null) return this.aggregator.reject(location, 'valueCount is missing', text);

    const rawBag = parsed['customDimensions'] ?? parsed['Properties'];
    let dimensions: Dimensions | null;
    if (rawBag === undefined || rawBag === null) dimensions = NO_DIMENSIONS;
    else if (typeof rawBag === 'string') dimensions = this.dimensions.fromText(rawBag);
    else dimensions = isPlainObject(rawBag) ? this.dimensions.fromBag(rawBag) : null;
    if (dimensions === null) return this.aggregator.reject(location, 'customDimensions is not a JSON object', JSON.stringify(rawBag));

    this.aggregator.add(
      {
        timestamp: new Date(instant),
        name,
        valueSum: countFromJson(valueSum),
        valueCount: countFromJson(valueCount),
        userId: dimensions.userId,
        model: dimensions.model,
        tier: dimensions.tier,
      },
      location,
    );
  }

  end(): void {
    this.timestamps.assertOneOrder(this.path);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dimensionText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/**
 * A JSON number is taken as it is (the aggregator accepts only non-negative integers up to 1e12, so `12.5`,
 * `-7` and `1e300` are refused there, while `1500` and `1.5e3` are the same JSON number); a string follows the
 * same strict rule as a CSV field.
 */
function countFromJson(value: unknown): SampleValue {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return readCount(value);
  return { problem: 'is not a number', raw: JSON.stringify(value) ?? String(value) };
}

/** Undoes RFC 4180 quote doubling in a field split with `unescape` false. */
function unquoteCsv(field: string): string {
  return field.indexOf('"') === -1 ? field : field.replaceAll('""', '"');
}

export const CSV_INCOMPLETE = Symbol('csv record continues on the next line');

/**
 * Splits one CSV record (RFC 4180: fields separated by commas, optionally quoted, `""` inside quotes is a
 * quote). Returns CSV_INCOMPLETE when the text ends inside a quoted field: the record continues on the next
 * line. Text after a closing quote is kept as part of the field rather than failing the row.
 */
export function parseCsvRecord(text: string, delimiter: ',' | ';' = ','): string[] | typeof CSV_INCOMPLETE {
  return splitCsvRecord(text, true, delimiter);
}

/**
 * With `unescape` false, quoted fields lose their outer quotes but keep inner quotes doubled: the reader undoes
 * the doubling (unquoteCsv) only for the few fields it uses, and keys the dimension cache on the raw text.
 */
function splitCsvRecord(text: string, unescape: boolean, delimiter: ',' | ';'): string[] | typeof CSV_INCOMPLETE {
  if (text.indexOf('"') === -1) return text.split(delimiter);
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    let value = '';
    if (text.charCodeAt(position) === 34) {
      let quote = text.indexOf('"', position + 1);
      let doubled = false;
      while (quote !== -1 && text.charCodeAt(quote + 1) === 34) {
        doubled = true;
        quote = text.indexOf('"', quote + 2);
      }
      if (quote === -1) return CSV_INCOMPLETE;
      value = text.slice(position + 1, quote);
      if (doubled && unescape) value = value.replaceAll('""', '"');
      position = quote + 1;
    }
    const comma = text.indexOf(delimiter, position);
    if (comma === -1) {
      fields.push(value + text.slice(position));
      return fields;
    }
    fields.push(value + text.slice(position, comma));
    position = comma + 1;
  }
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const PORTAL_TIME = /^(\d{1,2})([/.])(\d{1,2})\2(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:\s*([AP])\.?M\.?)?$/i;
/** Only a slash date can be read in the wrong order: a dotted one is always day first. */
const SLASH_DATE = /^\s*(\d{1,2})\/(\d{1,2})\/\d{4}/;

/**
 * Milliseconds since the epoch, or NaN. ISO 8601 without a zone and the portal's locale form are UTC: the
 * portal labels the column `[UTC]`. JavaScript's own Date parsing is avoided because it reads a zoneless
 * date-time as local time. A slash date is read month first (`10/25/2026`, the portal's en-US form) unless
 * `order` says day first; a dotted date (`25.10.2026`, as German locales write it) is always day first.
 */
export function parseExportTimestamp(text: string, order: DateOrder = 'monthFirst'): number {
  const trimmed = text.trim();
  const quick = isoUtcQuickly(trimmed);
  if (quick !== undefined) return quick;
  let match = ISO_TIME.exec(trimmed);
  if (match) {
    const offset = match[8];
    let offsetMinutes = 0;
    if (offset !== undefined && offset.toUpperCase() !== 'Z') {
      const digits = offset.replace(':', '');
      offsetMinutes = (offset[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
    }
    return utcInstant(Number(match[1]), Number(match[2]), Number(match[3]), Number(match[4]), match[5], match[6], match[7], offsetMinutes);
  }
  match = PORTAL_TIME.exec(trimmed);
  if (match) {
    let hour = Number(match[5]);
    const half = match[9]?.toUpperCase();
    if (half !== undefined) {
      if (hour < 1 || hour > 12) return Number.NaN;
      hour = (hour % 12) + (half === 'P' ? 12 : 0);
    }
    const dayFirst = order === 'dayFirst' || match[2] === '.';
    const month = Number(dayFirst ? match[3] : match[1]);
    const day = Number(dayFirst ? match[1] : match[3]);
    return utcInstant(Number(match[4]), month, day, hour, match[6], match[7], match[8], 0);
  }
  return Number.NaN;
}

/** The digit at `index` as a number, or NaN when the character there is not an ASCII digit. */
function digitAt(text: string, index: number): number {
  const code = text.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : Number.NaN;
}

/**
 * `YYYY-MM-DDThh:mm:ss[.f…]Z`, the form the export tools write on every row, read without the RegExp: the
 * instant ISO_TIME and utcInstant give for it (NaN for an impossible field), or undefined for any other
 * form, which the RegExp then reads.
 */
function isoUtcQuickly(text: string): number | undefined {
  const length = text.length;
  if (length < 20 || text.charCodeAt(length - 1) !== 90 /* Z */) return undefined;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined;
  let millis = 0;
  if (length > 20) {
    if (length === 21 || text.charCodeAt(19) !== 46 /* . */) return undefined;
    for (let index = 20; index < length - 1; index += 1) {
      const digit = digitAt(text, index);
      if (Number.isNaN(digit)) return undefined;
      if (index < 23) millis += digit * 10 ** (22 - index);
    }
  }
  const year = digitAt(text, 0) * 1000 + digitAt(text, 1) * 100 + digitAt(text, 2) * 10 + digitAt(text, 3);
  const month = digitAt(text, 5) * 10 + digitAt(text, 6);
  const day = digitAt(text, 8) * 10 + digitAt(text, 9);
  const hour = digitAt(text, 11) * 10 + digitAt(text, 12);
  const minute = digitAt(text, 14) * 10 + digitAt(text, 15);
  const second = digitAt(text, 17) * 10 + digitAt(text, 18);
  if (Number.isNaN(year + month + day + hour + minute + second)) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** As `new Date(Date.UTC(year, month, 0)).getUTCDate()` has it, which reads years 0 to 99 as 1900 to 1999. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  const calendarYear = year < 100 ? year + 1900 : year;
  return calendarYear % 4 === 0 && (calendarYear % 100 !== 0 || calendarYear % 400 === 0) ? 29 : 28;
}

function utcInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minuteText: string | undefined,
  secondText: string | undefined,
  fractionText: string | undefined,
  offsetMinutes: number,
): number {
  const minute = Number(minuteText ?? 0);
  const second = Number(secondText ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const millis = fractionText === undefined ? 0 : Number(fractionText.slice(0, 3).padEnd(3, '0'));
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

interface DateEvidence {
  readonly lineNumber: number;
  readonly text: string;
}

/**
 * Parses a file's timestamps in one date order and watches whether the file agrees. A date whose first number
 * is over 12 can only be day first, one whose second is over 12 only month first. A file that shows only the
 * other order is refused as a whole at its end: its days 1 to 12 were read with day and month swapped, and
 * no row can tell which those were. Runs of rows share one timestamp text (metrics are pre-aggregated per
 * interval), so each text is parsed once.
 */
class TimestampParser {
  private lastText = '';
  private lastInstant = Number.NaN;
  private dayFirstSeen: DateEvidence | null = null;
  private monthFirstSeen: DateEvidence | null = null;

  constructor(readonly order: DateOrder) {}

  parse(text: string, lineNumber: number): number {
    if (text !== this.lastText) {
      this.lastText = text;
      this.lastInstant = parseExportTimestamp(text, this.order);
      this.watch(text, lineNumber);
    }
    return this.lastInstant;
  }

  assertOneOrder(path: string): void {
    const contrary = this.order === 'monthFirst' ? this.dayFirstSeen : this.monthFirstSeen;
    const agreeing = this.order === 'monthFirst' ? this.monthFirstSeen : this.dayFirstSeen;
    if (contrary === null || agreeing !== null) return;
    const looks = this.order === 'monthFirst' ? 'D/M/YYYY' : 'M/D/YYYY';
    const read = this.order === 'monthFirst' ? "M/D/YYYY (the portal's English (United States) form)" : "D/M/YYYY (as a ';'-separated export)";
    throw new AppError(
      'USAGE_INPUT_INVALID',
      `${path}: dates look like ${looks} (line ${contrary.lineNumber}: "${rawValueForReport(contrary.text)}"), but this file is read as ${read}; ` +
        'its days 1 to 12 would be read with day and month swapped. Export it again with ISO 8601 times ' +
        '(add `| extend timestamp = tostring(timestamp)` to the query) or with the portal set to English (United States).',
      { retryable: false },
    );
  }

  private watch(text: string, lineNumber: number): void {
    if (this.dayFirstSeen !== null && this.monthFirstSeen !== null) return;
    const match = SLASH_DATE.exec(text);
    if (match === null) return;
    const first = Number(match[1]);
    const second = Number(match[2]);
    if (first > 12 && second <= 12) this.dayFirstSeen ??= { lineNumber, text: text.trim() };
    else if (second > 12 && first <= 12) this.monthFirstSeen ??= { lineNumber, text: text.trim() };
  }
}

/** The portal's en-US export form, in UTC: `10/25/2026, 1:30:00.000 AM`. */
export function formatPortalTimestamp(date: Date): string {
  const hour = date.getUTCHours();
  const twelve = hour % 12 === 0 ? 12 : hour % 12;
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return (
    `${date.getUTCMonth() + 1}/${date.getUTCDate()}/${date.getUTCFullYear()}, ` +
    `${twelve}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)} ${hour < 12 ? 'AM' : 'PM'}`
  );
}
