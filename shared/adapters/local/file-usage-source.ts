import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { createInterface } from 'node:readline';
import { AppError } from '../../domain/errors.js';
import { DEFAULT_METRIC_MAPPING, UsageAggregator, type MetricMapping } from '../../domain/metric-mapping.js';
import type { TimeWindow } from '../../domain/periods.js';
import type { UsageReadResult } from '../../domain/usage.js';
import type { ReadUsageOptions, UsageSource } from '../../ports/usage-source.js';

export interface FileUsageSourceOptions {
  /** Exports of customMetrics (classic) or AppMetrics (workspace-based): .csv, or .ndjson/.jsonl/.json. */
  readonly files: readonly string[];
  readonly mapping?: MetricMapping;
}

type FileFormat = 'csv' | 'ndjson';

const FORMAT_BY_EXTENSION: Readonly<Record<string, FileFormat>> = {
  '.csv': 'csv',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'ndjson',
};

const PROGRESS_EVERY_LINES = 250_000;
/** A stray quote must not swallow the rest of a 200 MB file into one record. */
const MAX_LINES_PER_CSV_RECORD = 1_000;

const TIMESTAMP_REASON = 'timestamp is neither ISO 8601 nor M/D/YYYY, h:mm:ss AM';

/**
 * Reads usage from files exported from App Insights (portal "Export to CSV", or NDJSON written by a query
 * tool). Files are streamed line by line, so a month of metrics never sits in memory; only the aggregates do.
 */
export class FileUsageSource implements UsageSource {
  private readonly files: readonly string[];
  private readonly mapping: MetricMapping;

  constructor(options: FileUsageSourceOptions) {
    this.files = [...options.files];
    this.mapping = options.mapping ?? DEFAULT_METRIC_MAPPING;
  }

  async read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult> {
    const plan = await this.checkFiles();
    const aggregator = new UsageAggregator(this.mapping, window, options.timeZone);
    for (const { path, format } of plan) {
      const reader = format === 'csv' ? new CsvExportReader(path, this.mapping, aggregator) : new NdjsonExportReader(path, this.mapping, aggregator);
      await streamLines(path, reader, options.onProgress);
    }
    return aggregator.result(`file export: ${this.files.map((file) => basename(file)).join(', ')}`);
  }

  /** Every unusable file is named at once, before anything is read. */
  private async checkFiles(): Promise<{ path: string; format: FileFormat }[]> {
    if (this.files.length === 0) throw new AppError('USAGE_INPUT_INVALID', 'no usage export file was given');
    const problems: string[] = [];
    const plan: { path: string; format: FileFormat }[] = [];
    for (const path of this.files) {
      const format = FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
      if (format === undefined) {
        problems.push(`${path}: unsupported file type "${extname(path) || '(none)'}" (expected .csv, .ndjson, .jsonl or .json)`);
        continue;
      }
      try {
        const info = await stat(path);
        if (!info.isFile()) problems.push(`${path}: is not a file`);
        else plan.push({ path, format });
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

interface LineReader {
  line(text: string, lineNumber: number): void;
  end(): void;
}

async function streamLines(path: string, reader: LineReader, onProgress: ((message: string) => void) | undefined): Promise<void> {
  const name = basename(path);
  const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  let failed = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (failed) return;
        failed = true;
        lines.close();
        input.destroy();
        reject(error);
      };
      input.once('error', (error) =>
        fail(new AppError('USAGE_INPUT_INVALID', `${path}: read failed: ${error.message}`, { cause: error })),
      );
      lines.on('line', (text) => {
        if (failed) return;
        lineNumber += 1;
        try {
          reader.line(lineNumber === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, lineNumber);
        } catch (error) {
          fail(error);
          return;
        }
        if (onProgress !== undefined && lineNumber % PROGRESS_EVERY_LINES === 0) {
          onProgress(`${name}: ${lineNumber.toLocaleString('en-US')} lines read`);
        }
      });
      lines.once('close', () => {
        if (failed) return;
        try {
          reader.end();
          resolve();
        } catch (error) {
          fail(error);
        }
      });
    });
  } finally {
    lines.close();
  }
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
 */
class CsvExportReader implements LineReader {
  private readonly name: string;
  private readonly dimensions: DimensionReader;
  private columns: CsvColumns | null = null;
  private readonly pending: { text: string; lineNumber: number }[] = [];
  private readonly timestamps = new TimestampParser();

  constructor(
    private readonly path: string,
    private readonly mapping: MetricMapping,
    private readonly aggregator: UsageAggregator,
  ) {
    this.name = basename(path);
    this.dimensions = new DimensionReader(mapping);
  }

  line(text: string, lineNumber: number): void {
    if (this.pending.length === 0) {
      if (text.length === 0) return;
      const fields = splitCsvRecord(text, false);
      if (fields === CSV_INCOMPLETE) this.pending.push({ text, lineNumber });
      else this.record(fields, lineNumber);
      return;
    }
    this.pending.push({ text, lineNumber });
    const fields = splitCsvRecord(this.pending.map((part) => part.text).join('\n'), false);
    if (fields !== CSV_INCOMPLETE) {
      // A record spanning lines that does not fit the header is a stray quote that swallowed the next line.
      if (this.columns !== null && fields.length !== this.columns.count) return this.abandonPendingRecord();
      const start = this.pending[0]!.lineNumber;
      this.pending.length = 0;
      this.record(fields, start);
    } else if (this.pending.length >= MAX_LINES_PER_CSV_RECORD) {
      this.abandonPendingRecord();
    }
  }

  end(): void {
    while (this.pending.length > 0) this.abandonPendingRecord();
    if (this.columns === null) throw new AppError('USAGE_INPUT_INVALID', `${this.path}: the file is empty (no header row)`);
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
    this.aggregator.reject(`${this.name}:${first.lineNumber}`, 'unclosed quote in a CSV field');
    for (const part of rest) this.line(part.text, part.lineNumber);
  }

  private record(fields: string[], lineNumber: number): void {
    const columns = this.columns;
    if (columns === null) {
      this.columns = findCsvColumns(this.path, fields.map(unquoteCsv), this.mapping);
      return;
    }
    const location = `${this.name}:${lineNumber}`;
    if (fields.length !== columns.count) {
      if (fields.length === 1 && fields[0]!.trim() === '') return;
      return this.aggregator.reject(location, `wrong number of fields (the header has ${columns.count})`);
    }
    const instant = this.timestamps.parse(unquoteCsv(fields[columns.time]!));
    if (Number.isNaN(instant)) return this.aggregator.reject(location, TIMESTAMP_REASON);

    let dimensions = NO_DIMENSIONS;
    if (columns.dimensions >= 0) {
      const parsed = this.dimensions.fromCsvField(fields[columns.dimensions]!);
      if (parsed === null) return this.aggregator.reject(location, 'customDimensions is not a JSON object');
      dimensions = parsed;
    }
    this.aggregator.add(
      {
        timestamp: new Date(instant),
        name: unquoteCsv(fields[columns.name]!),
        valueSum: numberFromText(fields[columns.valueSum]!),
        valueCount: numberFromText(fields[columns.valueCount]!),
        userId: columns.userId >= 0 ? unquoteCsv(fields[columns.userId]!) : dimensions.userId,
        model: columns.model >= 0 ? unquoteCsv(fields[columns.model]!) : dimensions.model,
        tier: columns.tier >= 0 ? unquoteCsv(fields[columns.tier]!) : dimensions.tier,
      },
      location,
    );
  }
}

const CLASSIC_COLUMNS = { time: 'timestamp', name: 'name', valueSum: 'valueSum', valueCount: 'valueCount', dimensions: 'customDimensions' };
const WORKSPACE_COLUMNS = { time: 'TimeGenerated', name: 'Name', valueSum: 'Sum', valueCount: 'ItemCount', dimensions: 'Properties' };

/**
 * Classic customMetrics and workspace AppMetrics name the same facts differently. The schema is chosen by the
 * time column so that a classic export's `itemCount` (a sampling count) is never read as AppMetrics'
 * `ItemCount` (the number of measurements).
 */
function findCsvColumns(path: string, header: string[], mapping: MetricMapping): CsvColumns {
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
  private readonly timestamps = new TimestampParser();
  private sawContent = false;

  constructor(
    private readonly path: string,
    mapping: MetricMapping,
    private readonly aggregator: UsageAggregator,
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
    const location = `${this.name}:${lineNumber}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.aggregator.reject(location, 'line is not JSON');
    }
    if (!isPlainObject(parsed)) return this.aggregator.reject(location, 'line is not a JSON object');

    const time = parsed['timestamp'] ?? parsed['TimeGenerated'];
    if (typeof time !== 'string') return this.aggregator.reject(location, 'timestamp is missing');
    const instant = this.timestamps.parse(time);
    if (Number.isNaN(instant)) return this.aggregator.reject(location, TIMESTAMP_REASON);
    const name = parsed['name'] ?? parsed['Name'];
    if (typeof name !== 'string') return this.aggregator.reject(location, 'name is missing');
    const valueSum = parsed['valueSum'] ?? parsed['Sum'];
    if (valueSum === undefined || valueSum === null) return this.aggregator.reject(location, 'valueSum is missing');
    const valueCount = parsed['valueCount'] ?? parsed['ItemCount'];
    if (valueCount === undefined || valueCount === null) return this.aggregator.reject(location, 'valueCount is missing');

    const rawBag = parsed['customDimensions'] ?? parsed['Properties'];
    let dimensions: Dimensions | null;
    if (rawBag === undefined || rawBag === null) dimensions = NO_DIMENSIONS;
    else if (typeof rawBag === 'string') dimensions = this.dimensions.fromText(rawBag);
    else dimensions = isPlainObject(rawBag) ? this.dimensions.fromBag(rawBag) : null;
    if (dimensions === null) return this.aggregator.reject(location, 'customDimensions is not a JSON object');

    this.aggregator.add(
      {
        timestamp: new Date(instant),
        name,
        valueSum: numberFromJson(valueSum),
        valueCount: numberFromJson(valueCount),
        userId: dimensions.userId,
        model: dimensions.model,
        tier: dimensions.tier,
      },
      location,
    );
  }

  end(): void {}
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dimensionText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/** NaN for an empty field, so the aggregator rejects it instead of reading it as zero. */
function numberFromText(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

function numberFromJson(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return numberFromText(value);
  return Number.NaN;
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
export function parseCsvRecord(text: string): string[] | typeof CSV_INCOMPLETE {
  return splitCsvRecord(text, true);
}

/**
 * With `unescape` false, quoted fields lose their outer quotes but keep inner quotes doubled: the reader undoes
 * the doubling (unquoteCsv) only for the few fields it uses, and keys the dimension cache on the raw text.
 */
function splitCsvRecord(text: string, unescape: boolean): string[] | typeof CSV_INCOMPLETE {
  if (text.indexOf('"') === -1) return text.split(',');
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
    const comma = text.indexOf(',', position);
    if (comma === -1) {
      fields.push(value + text.slice(position));
      return fields;
    }
    fields.push(value + text.slice(position, comma));
    position = comma + 1;
  }
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const PORTAL_TIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:\s*([AP])\.?M\.?)?$/i;

/**
 * Milliseconds since the epoch, or NaN. ISO 8601 without a zone and the portal's locale form are UTC: the
 * portal labels the column `[UTC]`. JavaScript's own Date parsing is avoided because it reads a zoneless
 * date-time as local time.
 */
export function parseExportTimestamp(text: string): number {
  const trimmed = text.trim();
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
    let hour = Number(match[4]);
    const half = match[8]?.toUpperCase();
    if (half !== undefined) {
      if (hour < 1 || hour > 12) return Number.NaN;
      hour = (hour % 12) + (half === 'P' ? 12 : 0);
    }
    return utcInstant(Number(match[3]), Number(match[1]), Number(match[2]), hour, match[5], match[6], match[7], 0);
  }
  return Number.NaN;
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

/** Metric rows are pre-aggregated per interval, so runs of rows share one timestamp text. */
class TimestampParser {
  private lastText = '';
  private lastInstant = Number.NaN;

  parse(text: string): number {
    if (text !== this.lastText) {
      this.lastText = text;
      this.lastInstant = parseExportTimestamp(text);
    }
    return this.lastInstant;
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
