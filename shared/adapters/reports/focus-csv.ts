import { UNALLOCATED_TEAM, UNALLOCATED_TEAM_NAME } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import { money, priceTokens, ZERO } from '../../domain/money.js';
import { dayWindow } from '../../domain/periods.js';
import type { PriceEntry } from '../../domain/price-book.js';
import { TOKEN_KINDS, TOKEN_KIND_LABELS, type TokenKind } from '../../domain/tokens.js';
import type { CostExporter, CostExportMonth } from '../../ports/cost-export.js';

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

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, and quotes inside are doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRecord(values: readonly string[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/**
 * One row per monthly line x day x token kind with tokens. Each token kind has its own unit price, so a row
 * per kind is what makes ListUnitPrice x PricingQuantity = ListCost hold on every row. Costs are the exact
 * decimals the rollups hold (never rounded), so the file's BilledCost adds up to the month's exact total;
 * rounding is left to whoever presents them.
 */
export function buildFocusCsv(month: CostExportMonth): string {
  const entries = new Map<string, PriceEntry>(month.priceBook.models.flatMap((model) => model.prices).map((entry) => [entry.id, entry]));
  const billingStart = instant(month.window.start);
  const billingEnd = instant(month.window.end);
  const teamName = (teamId: string) => (teamId === UNALLOCATED_TEAM ? UNALLOCATED_TEAM_NAME : (month.teamNames.get(teamId) ?? teamId));
  const chargeWindows = new Map<string, { start: string; end: string }>();
  const chargeWindow = (day: string) => {
    let window = chargeWindows.get(day);
    if (!window) {
      const { start, end } = dayWindow(day, month.timeZone);
      window = { start: instant(start), end: instant(end) };
      chargeWindows.set(day, window);
    }
    return window;
  };

  const out: string[] = [csvRecord(FOCUS_COLUMNS)];
  for (const line of month.lines) {
    const tags = JSON.stringify({ team: line.teamId, user: line.userId, tier: line.tier, allocation: line.allocation });
    for (const day of line.days) {
      const entry = day.priceEntryId === null ? null : entries.get(day.priceEntryId);
      if (entry === undefined) {
        throw new AppError('INTERNAL', `price entry ${day.priceEntryId} of ${line.model} on ${day.day} is not in price book ${month.priceBook.version}`);
      }
      const { start, end } = chargeWindow(day.day);
      for (const kind of TOKEN_KINDS) {
        const tokens = day.tokens[kind];
        if (tokens === 0) continue;
        const unitPrice = entry ? entry.perMillion[kind] : null;
        const cost = unitPrice ? priceTokens(tokens, unitPrice) : ZERO;
        const row: Record<FocusColumn, string> = {
          BillingPeriodStart: billingStart,
          BillingPeriodEnd: billingEnd,
          ChargePeriodStart: start,
          ChargePeriodEnd: end,
          BillingCurrency: month.currency,
          BilledCost: cost.toFixed(),
          EffectiveCost: cost.toFixed(),
          ListCost: cost.toFixed(),
          ContractedCost: cost.toFixed(),
          ChargeCategory: 'Usage',
          ChargeFrequency: 'Usage-Based',
          ChargeDescription: describe(line.model, kind, day.day, entry, month.currency),
          ConsumedQuantity: String(tokens),
          ConsumedUnit: 'Tokens',
          PricingCategory: entry ? 'Standard' : '',
          PricingQuantity: money(tokens).dividedBy(TOKENS_PER_PRICING_UNIT).toFixed(),
          PricingUnit: '1M Tokens',
          ListUnitPrice: unitPrice?.toFixed() ?? '',
          ContractedUnitPrice: unitPrice?.toFixed() ?? '',
          ServiceName: SERVICE_NAME,
          ServiceCategory: SERVICE_CATEGORY,
          ProviderName: PROVIDER,
          PublisherName: PROVIDER,
          SkuId: line.pricedModel ?? '',
          SkuPriceId: entry?.id ?? '',
          ResourceId: line.model,
          ResourceName: line.model,
          SubAccountId: line.teamId,
          SubAccountName: teamName(line.teamId),
          Tags: tags,
          x_TokenKind: kind,
        };
        out.push(csvRecord(FOCUS_COLUMNS.map((column) => row[column])));
      }
    }
  }
  return out.join('');
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
}
