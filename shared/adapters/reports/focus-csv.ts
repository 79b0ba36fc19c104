import { UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import { fixedPointText, money, priceTokens, ZERO, type Money } from '../../domain/money.js';
import { dayWindow } from '../../domain/periods.js';
import { perTokenScaled, type PriceEntry } from '../../domain/price-book.js';
import { dayTuplesOf } from '../../domain/rollup.js';
import { TOKEN_KINDS, TOKEN_KIND_LABELS, type TokenKind } from '../../domain/tokens.js';
import type { CostExporter, CostExportMonth } from '../../ports/cost-export.js';
import type { RejectedRow } from '../../domain/usage.js';
import { rejectsCsv } from './rejects-csv.js';
import { csvNumber, csvText } from './csv-writer.js';
import { Utf8Writer } from '../utf8-writer.js';

/**
 * The columns of the export, in order. FOCUS 1.x names; `x_` marks our own columns, as the specification
 * asks of custom columns. docs/focus-mapping.md says where each value comes from.
 */
export const FOCUS_COLUMNS = [
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'BillingCurrency',
  'BilledCost',
  'EffectiveCost',
  'ListCost',
  'ContractedCost',
  'ChargeCategory',
  'ChargeFrequency',
  'ChargeDescription',
  'ConsumedQuantity',
  'ConsumedUnit',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ListUnitPrice',
  'ContractedUnitPrice',
  'ServiceName',
  'ServiceCategory',
  'ProviderName',
  'PublisherName',
  'SkuId',
  'SkuPriceId',
  'ResourceId',
  'ResourceName',
  'SubAccountId',
  'SubAccountName',
  'Tags',
  'x_TokenKind',
] as const;

export type FocusColumn = (typeof FOCUS_COLUMNS)[number];

const TOKENS_PER_PRICING_UNIT = money(1_000_000);
const PROVIDER = 'Anthropic';
const SERVICE_NAME = 'Claude';
const SERVICE_CATEGORY = 'AI and Machine Learning';

/** ISO 8601 in UTC to the second, the form FOCUS gives for its date/time columns. */
function instant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A text field: RFC 4180 quoting and the formula guard of the one CSV writer (docs/csv.md). Team names,
 * model ids and user ids come from outside and go through here; the figures we compute go through csvNumber.
 */
export const csvField = csvText;

function headerRecord(values: readonly string[]): string {
  return `${values.map(csvText).join(',')}\r\n`;
}

/**
 * One row per monthly line x day x token kind with tokens. Each token kind has its own unit price, so a row
 * per kind is what makes ListUnitPrice x PricingQuantity = ListCost hold on every row. Costs are the exact
 * decimals the rollups hold (never rounded), so the file's BilledCost adds up to the month's exact total;
 * rounding is left to whoever presents them.
 */
export function buildFocusCsv(month: CostExportMonth): string {
  return [...focusCsvRecords(month)].join('');
}

/** The header and then one CSV record per row, produced as they are read, so a month never sits in memory. */
export function* focusCsvRecords(month: CostExportMonth, options: { readonly header?: boolean } = {}): Generator<string> {
  let pieces: string[] = [];
  const sink: RowSink = { segment: (piece) => pieces.push(piece.text), text: (piece) => pieces.push(piece), number: (piece) => pieces.push(piece), recordDone: () => true };
  for (const _ of focusRecords(month, sink, options)) {
    yield pieces.join('');
    pieces = [];
  }
}

/**
 * The same records encoded straight into chunks of about `chunkBytes` (whole records each): the fixed
 * pieces of a row are copied as bytes encoded once, so a row makes no string of its own. At 10,000 users
 * the export is half a million rows; a string per row was most of the close's garbage.
 */
export function* focusCsvByteChunks(month: CostExportMonth, options: { readonly header?: boolean } = {}, chunkBytes = 256 * 1024): Generator<Buffer> {
  const chunk = new Utf8Writer(chunkBytes + CHUNK_HEADROOM_BYTES);
  const sink: RowSink = {
    segment: (piece) => chunk.writeBytes(piece.bytes),
    text: (piece) => chunk.write(piece),
    number: (piece) => chunk.writeAscii(piece),
    recordDone: () => chunk.length >= chunkBytes,
  };
  for (const _ of focusRecords(month, sink, options)) yield chunk.take();
  if (chunk.length > 0) yield chunk.take();
}

/** Room past a chunk's size for the record that crosses it: a row is well under a kilobyte. */
const CHUNK_HEADROOM_BYTES = 16 * 1024;

/** A fixed piece of the export's text with its UTF-8 bytes, encoded once and copied into every row that has it. */
interface Segment {
  readonly text: string;
  readonly bytes: Buffer;
}

function segment(text: string): Segment {
  return { text, bytes: Buffer.from(text, 'utf8') };
}

/** Where a record's pieces go: joined into a string, or encoded into a chunk. */
interface RowSink {
  segment(piece: Segment): void;
  text(piece: string): void;
  /** The text of a number we computed (csvNumber's plain decimals). */
  number(piece: string): void;
  /** After each record: whether the producer should yield now (a string per record, or a chunk when full). */
  recordDone(): boolean;
}

/** Writes the header and then each record's pieces to `sink`, yielding after a record when the sink asks. */
function* focusRecords(month: CostExportMonth, sink: RowSink, options: { readonly header?: boolean }): Generator<void> {
  const entries = new Map<string, PriceEntry>(month.priceBook.models.flatMap((model) => model.prices).map((entry) => [entry.id, entry]));
  const billingPeriod = `${csvField(instant(month.window.start))},${csvField(instant(month.window.end))}`;
  const currency = csvField(month.currency);
  const costCenterTag = (teamId: string): { costCenter?: string } => {
    const costCenter = month.teamCostCenters?.get(teamId);
    return costCenter === undefined ? {} : { costCenter };
  };
  const teamName = (teamId: string) => (teamId === UNALLOCATED_TEAM ? UNALLOCATED_TEAM_NAME : (month.teamNames.get(teamId) ?? teamId));

  // A month has a few dozen days and a handful of models, prices and kinds: the pieces that depend only on
  // those are made and encoded once, not once per row.
  const chargePeriods = new Map<string, Segment>();
  const chargePeriod = (day: string): Segment => {
    let fields = chargePeriods.get(day);
    if (fields === undefined) {
      const { start, end } = dayWindow(day, month.timeZone);
      fields = segment(`${billingPeriod},${csvField(instant(start))},${csvField(instant(end))},${currency},`);
      chargePeriods.set(day, fields);
    }
    return fields;
  };
  // Per model and day (the same day strings for every line), the pricing of each token kind.
  const pricings = new Map<string, Map<string, { entry: PriceEntry | null; kinds: KindPricing[] }>>();
  const pricingOf = (model: string, day: string, entry: PriceEntry | null): KindPricing[] => {
    let byDay = pricings.get(model);
    if (byDay === undefined) {
      byDay = new Map();
      pricings.set(model, byDay);
    }
    let found = byDay.get(day);
    if (found === undefined || found.entry !== entry) {
      const scaled = entry ? perTokenScaled(entry) : null;
      const kinds = TOKEN_KINDS.map((kind, index): KindPricing => {
        const unitPrice = entry ? entry.perMillion[kind] : null;
        const unitPriceText = unitPrice === null ? '' : csvNumber(unitPrice);
        return {
          unitPrice,
          // An unpriced kind costs 0 (0 units at 10^0); a price that is not a safe integer per token has no scale.
          perTokenUnits: entry === null ? 0 : scaled ? scaled.perToken[index]! : null,
          digits: scaled ? scaled.digits : 0,
          afterCosts: segment(`,${USAGE_CHARGE},${csvField(describe(model, kind, day, entry, month.currency))},`),
          afterQuantity: segment(`,${TOKENS_UNIT},${csvField(entry ? 'Standard' : '')},`),
          afterPricingQuantity: segment(`,${PRICING_UNIT},${unitPriceText},${unitPriceText},${SERVICE_FIELDS},`),
          skuPriceId: segment(`${csvField(entry?.id ?? '')},`),
        };
      });
      found = { entry, kinds };
      byDay.set(day, found);
    }
    return found.kinds;
  };

  if (options.header !== false) {
    sink.text(headerRecord(FOCUS_COLUMNS));
    if (sink.recordDone()) yield;
  }
  for (const line of month.lines) {
    const skuId = segment(`${csvField(line.pricedModel ?? '')},`);
    const resource = csvField(line.model);
    const tags = JSON.stringify({ team: line.teamId, user: line.userId, tier: line.tier, allocation: line.allocation, ...costCenterTag(line.teamId) });
    const lineFields = segment(`${resource},${resource},${csvField(line.teamId)},${csvField(teamName(line.teamId))},${csvField(tags)},`);
    // Tuples: a day's counts without a decimal of its cost, which the export works out per token kind.
    for (const day of dayTuplesOf(line)) {
      const [dayName, , , , , , , , priceEntryId] = day;
      const entry = priceEntryId === null ? null : entries.get(priceEntryId);
      if (entry === undefined) {
        throw new AppError('INTERNAL', `price entry ${priceEntryId} of ${line.model} on ${dayName} is not in price book ${month.priceBook.version}`);
      }
      const period = chargePeriod(dayName);
      const kinds = pricingOf(line.model, dayName, entry);
      for (let index = 0; index < TOKEN_KINDS.length; index++) {
        // Tuple slots 1 to 5 are the counts in TOKEN_KINDS order.
        const tokens = day[index + 1] as number;
        if (tokens === 0) continue;
        const price = kinds[index]!;
        // Figures we computed are number cells: checked to be plain decimals, never guarded, so a negative
        // amount (a credit) stays a number a spreadsheet adds up. The list cost is tokens x the price per token
        // in whole units of the entry's scale while that is a safe integer (exact), else in decimal.js.
        const units = price.perTokenUnits === null ? NaN : tokens * price.perTokenUnits;
        const exactUnits = Number.isSafeInteger(units) && units >= 0;
        const cost = exactUnits ? fixedPointText(units, price.digits) : csvNumber(price.unitPrice ? priceTokens(tokens, price.unitPrice) : ZERO);
        // Trued up: the day's bill shared by list cost, to 10 decimals (rates of a division do not end).
        const rate = month.billedRates?.get(dayName);
        const billed = rate === undefined ? cost : csvNumber(money(cost).times(rate).toDecimalPlaces(10));
        sink.segment(period);
        sink.number(`${billed},${billed},${cost},${cost}`);
        sink.segment(price.afterCosts);
        sink.number(csvNumber(tokens));
        sink.segment(price.afterQuantity);
        sink.number(csvNumber(perMillion(tokens)));
        sink.segment(price.afterPricingQuantity);
        sink.segment(skuId);
        sink.segment(price.skuPriceId);
        sink.segment(lineFields);
        sink.segment(KIND_ENDINGS[index]!);
        if (sink.recordDone()) yield;
      }
    }
  }
}

/** The last field of a row, its token kind, and the record's end. */
const KIND_ENDINGS: readonly Segment[] = TOKEN_KINDS.map((kind) => segment(`${csvField(kind)}\r\n`));

interface KindPricing {
  readonly unitPrice: Money | null;
  /** The price per token in whole 10^-digits units, when it is a safe integer (perTokenScaled). */
  readonly perTokenUnits: number | null;
  readonly digits: number;
  /** The fields between the costs and the quantity: the charge's category, frequency and description. */
  readonly afterCosts: Segment;
  /** Between the consumed and the pricing quantity: the unit and the pricing category. */
  readonly afterQuantity: Segment;
  /** Between the pricing quantity and the SKU: the pricing unit, unit prices and the service. */
  readonly afterPricingQuantity: Segment;
  readonly skuPriceId: Segment;
}

const USAGE_CHARGE = ['Usage', 'Usage-Based'].map(csvField).join(',');
const TOKENS_UNIT = csvField('Tokens');
const PRICING_UNIT = csvField('1M Tokens');
const SERVICE_FIELDS = [SERVICE_NAME, SERVICE_CATEGORY, PROVIDER, PROVIDER].map(csvField).join(',');

/** Tokens in millions, exactly: the integer's digits with the decimal point moved six places, no trailing zeros. */
export function perMillion(tokens: number): string {
  if (!Number.isSafeInteger(tokens) || tokens < 0) return money(tokens).dividedBy(TOKENS_PER_PRICING_UNIT).toFixed();
  const digits = String(tokens).padStart(7, '0');
  const whole = digits.slice(0, -6);
  const fraction = digits.slice(-6).replace(/0+$/, '');
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

function describe(model: string, kind: TokenKind, day: string, entry: PriceEntry | null, currency: string): string {
  const what = `${model} ${TOKEN_KIND_LABELS[kind].toLowerCase()} tokens on ${day}`;
  if (!entry) return `Unpriced: ${what}; the price book has no price for this model on this day, so they are counted but not charged`;
  return `${what} at ${entry.perMillion[kind].toFixed()} ${currency} per 1M tokens (price ${entry.id})`;
}

export class FocusCsvExporter implements CostExporter {
  focusCsv(month: CostExportMonth): Buffer {
    return Buffer.from(buildFocusCsv(month), 'utf8');
  }

  focusCsvChunks(month: CostExportMonth): Iterable<Buffer> {
    return focusCsvByteChunks(month);
  }

  focusCsvRowChunks(month: CostExportMonth): Iterable<Buffer> {
    return focusCsvByteChunks(month, { header: false });
  }

  focusCsvHeader(): Buffer {
    return Buffer.from(headerRecord(FOCUS_COLUMNS), 'utf8');
  }

  rejectsCsv(rows: readonly RejectedRow[]): Buffer {
    return rejectsCsv(rows);
  }
}
