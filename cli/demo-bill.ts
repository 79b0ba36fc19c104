import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../shared/domain/errors.js';
import { money, sumMoney, type Money } from '../shared/domain/money.js';
import { monthWindow, daysOfMonth } from '../shared/domain/periods.js';
import type { PriceBook } from '../shared/domain/price-book.js';
import { groupMonthlyUsage, priceMonthlyUsage } from '../shared/domain/rollup.js';
import type { UsageSource } from '../shared/ports/usage-source.js';
import { seededRandom } from './demo-generator.js';

/**
 * A demo month's Azure bill, written as Cost Management's "Cost and usage details (FOCUS)" export (FOCUS 1.0r2:
 * the 96 columns of Microsoft's dataset in its order, dates with seconds, UTF-8 with a byte order mark): Claude
 * billed in CCU on a demo Foundry account at a contractual discount, with the cache and long-context premiums
 * the gateway's metrics miss, next to the other services of the subscription (Storage, API Management,
 * Functions, Log Analytics) that the close must leave out.
 */
export const FOCUS_1_0_COLUMNS = [
  'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingAccountType', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart',
  'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart', 'CommitmentDiscountCategory',
  'CommitmentDiscountId', 'CommitmentDiscountName', 'CommitmentDiscountStatus', 'CommitmentDiscountType', 'ConsumedQuantity', 'ConsumedUnit',
  'ContractedCost', 'ContractedUnitPrice', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice', 'PricingCategory', 'PricingQuantity',
  'PricingUnit', 'ProviderName', 'PublisherName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName', 'ResourceType', 'ServiceCategory',
  'ServiceName', 'SkuId', 'SkuPriceId', 'SubAccountId', 'SubAccountName', 'SubAccountType', 'Tags', 'x_AccountId', 'x_AccountName',
  'x_AccountOwnerId', 'x_BilledCostInUsd', 'x_BilledUnitPrice', 'x_BillingAccountId', 'x_BillingAccountName', 'x_BillingExchangeRate',
  'x_BillingExchangeRateDate', 'x_BillingProfileId', 'x_BillingProfileName', 'x_ContractedCostInUsd', 'x_CostAllocationRuleName', 'x_CostCenter',
  'x_CustomerId', 'x_CustomerName', 'x_EffectiveCostInUsd', 'x_EffectiveUnitPrice', 'x_InvoiceId', 'x_InvoiceIssuerId', 'x_InvoiceSectionId',
  'x_InvoiceSectionName', 'x_ListCostInUsd', 'x_PartnerCreditApplied', 'x_PartnerCreditRate', 'x_PricingBlockSize', 'x_PricingCurrency',
  'x_PricingSubcategory', 'x_PricingUnitDescription', 'x_PublisherCategory', 'x_PublisherId', 'x_ResellerId', 'x_ResellerName',
  'x_ResourceGroupName', 'x_ResourceType', 'x_ServicePeriodEnd', 'x_ServicePeriodStart', 'x_SkuDescription', 'x_SkuDetails',
  'x_SkuIsCreditEligible', 'x_SkuMeterCategory', 'x_SkuMeterId', 'x_SkuMeterName', 'x_SkuMeterSubcategory', 'x_SkuOfferId', 'x_SkuOrderId',
  'x_SkuOrderName', 'x_SkuPartNumber', 'x_SkuRegion', 'x_SkuServiceFamily', 'x_SkuTerm', 'x_SkuTier',
] as const;

const SUBSCRIPTION = '/subscriptions/00000000-0000-4000-8000-00000000d0e0';
const RESOURCE_GROUP = `${SUBSCRIPTION}/resourceGroups/rg-chargeback-demo`;
export const DEMO_FOUNDRY_RESOURCE_ID = `${RESOURCE_GROUP}/providers/Microsoft.CognitiveServices/accounts/contoso-foundry-demo`;
/** USD per Claude Consumption Unit, as on Anthropic's other cloud platforms. */
const CCU_PRICE = money('0.01');
/** The demo organization's contractual discount on Anthropic's list rates. */
export const DEMO_DISCOUNT = money('0.85');

interface BillRow {
  readonly day: string;
  readonly billed: Money;
  readonly list: Money;
  readonly quantity: Money;
  readonly unit: string;
  readonly unitPrice: Money;
  readonly publisher: string;
  readonly publisherCategory: 'Marketplace' | 'Cloud Provider';
  readonly resourceId: string;
  readonly resourceName: string;
  readonly resourceType: string;
  readonly service: string;
  readonly serviceCategory: string;
  readonly meter: string;
  readonly meterCategory: string;
}

/** Unrelated services of the subscription, billed every day: amounts per day before a little daily noise. */
const OTHER_SERVICES = [
  { service: 'Storage Accounts', category: 'Storage', meterCategory: 'Storage', meter: 'Hot LRS Data Stored', unit: '1 GB/Month', unitPrice: '0.0208', quantity: 23.5, type: 'Microsoft.Storage/storageAccounts', name: 'stchargedemo' },
  { service: 'API Management', category: 'Integration', meterCategory: 'API Management', meter: 'Standard v2 Unit', unit: '1 Hour', unitPrice: '0.9589', quantity: 24, type: 'Microsoft.ApiManagement/service', name: 'apim-llm-gateway-demo' },
  { service: 'Functions', category: 'Compute', meterCategory: 'Functions', meter: 'Flex Consumption On Demand Execution Time', unit: '1 GB Second', unitPrice: '0.000026', quantity: 5200, type: 'Microsoft.Web/sites', name: 'func-chargeback-demo' },
  { service: 'Log Analytics', category: 'Management and Governance', meterCategory: 'Log Analytics', meter: 'Analytics Logs Data Ingestion', unit: '1 GB', unitPrice: '2.30', quantity: 0.35, type: 'Microsoft.OperationalInsights/workspaces', name: 'log-gateway-demo' },
] as const;

/**
 * The bill's rows from the list-price cost of each day's metered usage: CCU = list x discount x (1 + the day's
 * premiums) / CCU price, rounded to a hundredth of a CCU; every day of the month carries the other services.
 */
export function demoBillRows(month: string, dailyList: ReadonlyMap<string, Money>, seed: number): BillRow[] {
  const rows: BillRow[] = [];
  for (const day of daysOfMonth(month)) {
    const list = dailyList.get(day);
    if (list && !list.isZero()) {
      // Cache writes and long-context requests the gateway does not meter: 2-6 % on top, day by day.
      const premium = money(seededRandom(seed, 'bill-premium', day)() * 0.04 + 0.02).toDecimalPlaces(4);
      const quantity = list.times(DEMO_DISCOUNT).times(premium.plus(1)).dividedBy(CCU_PRICE).toDecimalPlaces(2);
      rows.push({
        day,
        billed: quantity.times(CCU_PRICE),
        list: quantity.times(CCU_PRICE).dividedBy(DEMO_DISCOUNT).toDecimalPlaces(4),
        quantity,
        unit: '1 CCU',
        unitPrice: CCU_PRICE,
        publisher: 'Anthropic',
        publisherCategory: 'Marketplace',
        resourceId: DEMO_FOUNDRY_RESOURCE_ID,
        resourceName: 'contoso-foundry-demo',
        resourceType: 'Microsoft.CognitiveServices/accounts',
        service: 'Claude in Microsoft Foundry',
        serviceCategory: 'AI and Machine Learning',
        meter: 'Claude Consumption Unit',
        meterCategory: 'Claude',
      });
    }
    for (const other of OTHER_SERVICES) {
      const quantity = money(other.quantity * (0.9 + seededRandom(seed, 'bill', other.service, day)() * 0.2)).toDecimalPlaces(4);
      const billed = quantity.times(other.unitPrice).toDecimalPlaces(6);
      rows.push({
        day,
        billed,
        list: billed,
        quantity,
        unit: other.unit,
        unitPrice: money(other.unitPrice),
        publisher: 'Microsoft',
        publisherCategory: 'Cloud Provider',
        resourceId: `${RESOURCE_GROUP}/providers/${other.type}/${other.name}`,
        resourceName: other.name,
        resourceType: other.type,
        service: other.service,
        serviceCategory: other.category,
        meter: other.meter,
        meterCategory: other.meterCategory,
      });
    }
  }
  return rows;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function nextDayOf(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** The rows as Azure writes the export: BOM, header, CRLF line ends, every column present (most empty). */
export function demoBillCsv(month: string, rows: readonly BillRow[]): string {
  const periodStart = `${month}-01T00:00:00Z`;
  const periodEnd = `${nextDayOf(daysOfMonth(month).at(-1)!)}T00:00:00Z`;
  const lines = [FOCUS_1_0_COLUMNS.join(',')];
  for (const row of rows) {
    const values: Partial<Record<(typeof FOCUS_1_0_COLUMNS)[number], string>> = {
      BilledCost: row.billed.toFixed(),
      EffectiveCost: row.billed.toFixed(),
      ContractedCost: row.billed.toFixed(),
      ListCost: row.list.toFixed(),
      BillingAccountId: '/providers/Microsoft.Billing/billingAccounts/demo:demo_2019-05-31',
      BillingAccountName: 'Contoso (demo)',
      BillingAccountType: 'Billing Profile',
      BillingCurrency: 'USD',
      BillingPeriodStart: periodStart,
      BillingPeriodEnd: periodEnd,
      ChargeCategory: 'Usage',
      ChargeDescription: row.meter,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodStart: `${row.day}T00:00:00Z`,
      ChargePeriodEnd: `${nextDayOf(row.day)}T00:00:00Z`,
      ConsumedQuantity: row.quantity.toFixed(),
      ConsumedUnit: row.unit,
      PricingQuantity: row.quantity.toFixed(),
      PricingUnit: row.unit,
      PricingCategory: 'Standard',
      ListUnitPrice: row.unitPrice.toFixed(),
      ContractedUnitPrice: row.unitPrice.toFixed(),
      InvoiceIssuerName: 'Microsoft',
      ProviderName: 'Microsoft',
      PublisherName: row.publisher,
      RegionId: 'swedencentral',
      RegionName: 'Sweden Central',
      ResourceId: row.resourceId,
      ResourceName: row.resourceName,
      ResourceType: row.resourceType,
      ServiceCategory: row.serviceCategory,
      ServiceName: row.service,
      SubAccountId: SUBSCRIPTION,
      SubAccountName: 'Contoso AI (demo)',
      SubAccountType: 'Subscription',
      Tags: '{"env":"demo","workload":"llm-gateway"}',
      x_BilledCostInUsd: row.billed.toFixed(),
      x_EffectiveCostInUsd: row.billed.toFixed(),
      x_ListCostInUsd: row.list.toFixed(),
      x_BillingExchangeRate: '1',
      x_PricingCurrency: 'USD',
      x_PublisherCategory: row.publisherCategory,
      x_ResourceGroupName: 'rg-chargeback-demo',
      x_ResourceType: row.resourceType,
      x_SkuMeterCategory: row.meterCategory,
      x_SkuMeterName: row.meter,
    };
    lines.push(FOCUS_1_0_COLUMNS.map((column) => csvField(values[column] ?? '')).join(','));
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

/** The list-price cost of each day's metered usage, as the close will price it. */
export async function dailyListCost(month: string, usage: UsageSource, priceBook: PriceBook): Promise<Map<string, Money>> {
  const read = await usage.read(monthWindow(month, 'UTC'), { timeZone: 'UTC' });
  const lines = priceMonthlyUsage(groupMonthlyUsage(month, read.rows, { users: new Map(), teams: new Map(), notes: [] }), priceBook);
  const byDay = new Map<string, Money[]>();
  for (const line of lines) {
    for (const day of line.days) {
      if (day.cost === null) continue;
      const costs = byDay.get(day.day) ?? [];
      costs.push(day.cost);
      byDay.set(day.day, costs);
    }
  }
  return new Map([...byDay].map(([day, costs]) => [day, sumMoney(costs)]));
}

/** Writes `<dir>/billed-costs-<month>.csv` once, like the demo's usage; a rerun reuses it. */
export async function ensureDemoBill(dir: string, options: { month: string; seed: number }, dailyList: () => Promise<ReadonlyMap<string, Money>>): Promise<{ file: string; generated: boolean }> {
  const file = path.join(dir, `billed-costs-${options.month}.csv`);
  try {
    await access(file);
    return { file, generated: false };
  } catch {
    // not written yet
  }
  try {
    await mkdir(dir, { recursive: true });
    const temporary = `${file}.${process.pid}.partial`;
    await writeFile(temporary, demoBillCsv(options.month, demoBillRows(options.month, await dailyList(), options.seed)), 'utf8');
    await rename(temporary, file);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('STORAGE_FAILED', `Could not write the demo bill ${file}: ${(error as Error).message}`, { cause: error });
  }
  return { file, generated: true };
}
