import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { chargeSelection, type BilledCharge, type ClaudeChargeRule } from '../../domain/billing.js';
import { AppError } from '../../domain/errors.js';
import { money } from '../../domain/money.js';
import type { BilledCostRead } from '../../ports/billed-cost-source.js';
import { CSV_INCOMPLETE, parseCsvRecord, parseExportTimestamp } from '../local/file-usage-source.js';

/**
 * Reads Cost Management's "Cost and usage details (FOCUS)" export as Azure writes it: CSV with a header row
 * of FOCUS 1.0 column names (BilledCost, EffectiveCost, BillingCurrency, ChargePeriodStart, ...), optionally
 * gzip-compressed, dates as ISO 8601 UTC ("2024-01-01T00:00Z" in 1.0, "2024-01-01T00:00:00Z" in 1.0r2).
 * See docs/billing.md for the columns and the sources they were checked against.
 */

/** Which cost column is the charge: EffectiveCost (amortized, the default) or BilledCost (as invoiced). */
export type CostColumn = 'EffectiveCost' | 'BilledCost';

export const FOCUS_COLUMNS = {
  chargePeriodStart: 'ChargePeriodStart',
  chargePeriodEnd: 'ChargePeriodEnd',
  currency: 'BillingCurrency',
  resourceId: 'ResourceId',
  publisher: 'PublisherName',
  meter: 'x_SkuMeterName',
  /** FOCUS 1.2-preview renamed x_SkuMeterName to SkuMeter. */
  meter12: 'SkuMeter',
  service: 'ServiceName',
  chargeCategory: 'ChargeCategory',
  consumedQuantity: 'ConsumedQuantity',
  consumedUnit: 'ConsumedUnit',
} as const;

const REQUIRED = [FOCUS_COLUMNS.chargePeriodStart, FOCUS_COLUMNS.currency, FOCUS_COLUMNS.resourceId, FOCUS_COLUMNS.publisher] as const;
const MAX_PROBLEMS = 20;
const DAY_MS = 86_400_000;

export interface FocusExportPart {
  /** A file path or blob name: for messages, and `.gz` says it is compressed. */
  readonly name: string;
  open(): Promise<Readable>;
}

/**
 * Streams every part through the Claude selection: rows of other services are counted, not kept. A row that
 * cannot be read (a bad date or amount) fails the whole read, naming the first few: a bill read in part would
 * true the month up to the wrong total.
 */
export async function readFocusExport(parts: readonly FocusExportPart[], options: { month: string; rule: ClaudeChargeRule; costColumn: CostColumn; description: string }): Promise<BilledCostRead> {
  const selection = chargeSelection(options.rule, options.month);
  const problems: string[] = [];
  let rows = 0;
  let lastChargeDay: string | null = null;
  for (const part of parts) {
    const stream = await part.open();
    const text = /\.gz$/i.test(part.name) ? stream.pipe(createGunzip()) : stream;
    let header: Map<string, number> | undefined;
    let pending = '';
    let lineNumber = 0;
    const lines = createInterface({ input: text, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        lineNumber += 1;
        const record = pending === '' ? line : `${pending}\n${line}`;
        const fields = parseCsvRecord(record);
        if (fields === CSV_INCOMPLETE) {
          pending = record;
          continue;
        }
        pending = '';
        if (!header) {
          header = headerOf(fields, part.name, options.costColumn);
          continue;
        }
        if (fields.length === 1 && fields[0]!.trim() === '') continue;
        rows += 1;
        const charge = chargeOf(fields, header, options.costColumn, (problem) => {
          if (problems.length < MAX_PROBLEMS) problems.push(`${part.name} line ${lineNumber}: ${problem}`);
        });
        if (!charge) continue;
        if (lastChargeDay === null || charge.lastDay > lastChargeDay) lastChargeDay = charge.lastDay;
        selection.add(charge.charge);
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError('BILLED_INPUT_INVALID', `${part.name} could not be read as a FOCUS export (CSV, or CSV gzip-compressed): ${(error as Error).message}`, { cause: error });
    }
    if (!header) throw new AppError('BILLED_INPUT_INVALID', `${part.name} is empty: a FOCUS export starts with a header row`);
  }
  if (problems.length > 0) {
    throw new AppError('BILLED_INPUT_INVALID', `the billed-cost export has rows that cannot be read; nothing was trued up`, { details: problems });
  }
  const { claude, leftOut } = selection.result();
  return { claude, leftOut, lastChargeDay, rows, sourceDescription: options.description };
}

function headerOf(fields: readonly string[], name: string, costColumn: CostColumn): Map<string, number> {
  // Azure writes a UTF-8 byte order mark before the first column name.
  const header = new Map(fields.map((field, index) => [field.replace(/^\uFEFF/, '').trim(), index]));
  const missing = [...REQUIRED, costColumn].filter((column) => !header.has(column));
  if (missing.length > 0) {
    throw new AppError('BILLED_INPUT_INVALID', `${name} is not a Cost Management FOCUS export: missing column(s) ${missing.join(', ')}`, {
      details: [`columns found: ${[...header.keys()].slice(0, 12).join(', ')}${header.size > 12 ? ', ...' : ''}`],
    });
  }
  return header;
}

function chargeOf(fields: readonly string[], header: ReadonlyMap<string, number>, costColumn: CostColumn, problem: (text: string) => void): { charge: BilledCharge; lastDay: string } | undefined {
  const field = (column: string) => {
    const index = header.get(column);
    return index === undefined ? '' : (fields[index] ?? '').trim();
  };
  const start = parseExportTimestamp(field(FOCUS_COLUMNS.chargePeriodStart));
  if (Number.isNaN(start)) {
    problem(`${FOCUS_COLUMNS.chargePeriodStart} "${field(FOCUS_COLUMNS.chargePeriodStart)}" is not an ISO 8601 date and time`);
    return undefined;
  }
  const endText = field(FOCUS_COLUMNS.chargePeriodEnd);
  const end = endText === '' ? start + DAY_MS : parseExportTimestamp(endText);
  if (Number.isNaN(end) || end <= start) {
    problem(`${FOCUS_COLUMNS.chargePeriodEnd} "${endText}" is not an ISO 8601 date and time after the start`);
    return undefined;
  }
  const amountText = field(costColumn);
  let amount;
  try {
    amount = money(amountText === '' ? 'x' : amountText);
  } catch {
    problem(`${costColumn} "${amountText}" is not a number`);
    return undefined;
  }
  const currency = field(FOCUS_COLUMNS.currency);
  if (!/^[A-Za-z]{3}$/.test(currency)) {
    problem(`${FOCUS_COLUMNS.currency} "${currency}" is not a currency code`);
    return undefined;
  }
  return {
    charge: {
      day: utcDay(start),
      amount,
      currency: currency.toUpperCase(),
      resourceId: field(FOCUS_COLUMNS.resourceId),
      publisher: field(FOCUS_COLUMNS.publisher),
      meter: field(FOCUS_COLUMNS.meter) || field(FOCUS_COLUMNS.meter12),
      service: field(FOCUS_COLUMNS.service),
      chargeCategory: field(FOCUS_COLUMNS.chargeCategory),
      consumedQuantity: field(FOCUS_COLUMNS.consumedQuantity),
      consumedUnit: field(FOCUS_COLUMNS.consumedUnit),
    },
    // The end is exclusive: a charge for 1 October ends at 2 October 00:00.
    lastDay: utcDay(end - 1),
  };
}

function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}
