import path from 'node:path';
import { DEFAULT_CLAUDE_PUBLISHERS, type ClaudeChargeRule, type ResiduePolicy } from '../domain/billing.js';
import { DEFAULT_BILLING_CONTROLS, type BillingControlSettings } from '../domain/billing-controls.js';
import type { CostColumn } from '../adapters/billing/focus-export-reader.js';

/** The settings of the true-up to Azure's bill, kept in one block (docs/billing.md). */
export const BILLING_SETTING = {
  source: 'BILLED_COST_SOURCE',
  files: 'BILLED_COST_FILES',
  containerUrl: 'BILLED_COST_CONTAINER_URL',
  blobConnectionString: 'BILLED_COST_BLOB_CONNECTION_STRING',
  container: 'BILLED_COST_CONTAINER',
  blobPrefix: 'BILLED_COST_BLOB_PREFIX',
  costColumn: 'BILLED_COST_COLUMN',
  foundryResourceIds: 'BILLED_FOUNDRY_RESOURCE_IDS',
  publishers: 'BILLED_PUBLISHERS',
  residue: 'BILLED_RESIDUE',
  ratioMin: 'BILLED_RATIO_MIN',
  ratioMax: 'BILLED_RATIO_MAX',
  unmeteredDays: 'BILLED_UNMETERED_DAYS',
} as const;

/**
 * Where the bill comes from. `none`: no bill, every close is an estimate at list prices. `file`: FOCUS export
 * files (`close --billed-costs`). `blob`: Cost Management's export in a Blob container, with the managed
 * identity (BILLED_COST_CONTAINER_URL) or a connection string (BILLED_COST_BLOB_CONNECTION_STRING and
 * BILLED_COST_CONTAINER, e.g. Azurite).
 */
export type BilledCostLocation =
  | { readonly kind: 'none' }
  | { readonly kind: 'file'; readonly files: readonly string[] }
  | { readonly kind: 'blob'; readonly containerUrl: string; readonly prefix: string }
  | { readonly kind: 'blob-connection'; readonly connectionString: string; readonly container: string; readonly prefix: string };

export interface BillingSettings {
  readonly location: BilledCostLocation;
  readonly costColumn: CostColumn;
  readonly rule: ClaudeChargeRule;
  readonly residue: ResiduePolicy;
  readonly controls: BillingControlSettings;
}

type Source = Readonly<Record<string, string | undefined>>;

export function readBillingSettings(source: Source, problems: string[], projectRoot: string): BillingSettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const list = (name: string) =>
    text(name)
      .split(';')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const files = list(BILLING_SETTING.files).map((file) => path.resolve(projectRoot, file));
  const kind = text(BILLING_SETTING.source) || (files.length > 0 ? 'file' : 'none');
  const prefix = text(BILLING_SETTING.blobPrefix);
  let location: BilledCostLocation = { kind: 'none' };
  if (kind === 'file') {
    if (files.length === 0) problems.push(`${BILLING_SETTING.files}: name at least one FOCUS export file (.csv or .csv.gz) when ${BILLING_SETTING.source} is file`);
    location = { kind: 'file', files };
  } else if (kind === 'blob') {
    const containerUrl = text(BILLING_SETTING.containerUrl);
    const connectionString = text(BILLING_SETTING.blobConnectionString);
    const container = text(BILLING_SETTING.container);
    if (containerUrl !== '') {
      if (!/^https:\/\/[^/\s]+\/[a-z0-9-]{3,63}\/?$/.test(containerUrl)) problems.push(`${BILLING_SETTING.containerUrl}: "${containerUrl}" must be an https container URL such as https://account.blob.core.windows.net/cost-exports`);
      location = { kind: 'blob', containerUrl: containerUrl.replace(/\/$/, ''), prefix };
    } else if (connectionString !== '' && container !== '') {
      location = { kind: 'blob-connection', connectionString, container, prefix };
    } else {
      problems.push(`${BILLING_SETTING.source}: blob needs ${BILLING_SETTING.containerUrl} (managed identity) or ${BILLING_SETTING.blobConnectionString} and ${BILLING_SETTING.container}`);
    }
  } else if (kind !== 'none') {
    problems.push(`${BILLING_SETTING.source}: "${kind}" is not none, file or blob`);
  }

  const costColumn = text(BILLING_SETTING.costColumn) || 'EffectiveCost';
  if (costColumn !== 'EffectiveCost' && costColumn !== 'BilledCost') problems.push(`${BILLING_SETTING.costColumn}: "${costColumn}" is not EffectiveCost or BilledCost`);
  const residue = text(BILLING_SETTING.residue) || 'bucket';
  if (residue !== 'bucket' && residue !== 'proportional') problems.push(`${BILLING_SETTING.residue}: "${residue}" is not bucket or proportional`);
  const unmeteredDays = text(BILLING_SETTING.unmeteredDays) || DEFAULT_BILLING_CONTROLS.unmeteredDays;
  if (unmeteredDays !== 'hold' && unmeteredDays !== 'warn') problems.push(`${BILLING_SETTING.unmeteredDays}: "${unmeteredDays}" is not hold or warn`);
  const ratio = (name: string, fallback: number) => {
    const value = text(name);
    if (value === '') return fallback;
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) problems.push(`${name}: "${value}" is not a positive number`);
    return number;
  };
  const min = ratio(BILLING_SETTING.ratioMin, DEFAULT_BILLING_CONTROLS.ratioBand.min);
  const max = ratio(BILLING_SETTING.ratioMax, DEFAULT_BILLING_CONTROLS.ratioBand.max);
  if (min >= max) problems.push(`${BILLING_SETTING.ratioMin} (${min}) must be below ${BILLING_SETTING.ratioMax} (${max})`);
  const publishers = source[BILLING_SETTING.publishers] === undefined ? [...DEFAULT_CLAUDE_PUBLISHERS] : list(BILLING_SETTING.publishers);

  return Object.freeze({
    location,
    costColumn: costColumn as CostColumn,
    rule: Object.freeze({ resourceIds: Object.freeze(list(BILLING_SETTING.foundryResourceIds)), publishers: Object.freeze(publishers) }),
    residue: residue as ResiduePolicy,
    controls: Object.freeze({ ratioBand: Object.freeze({ min, max }), unmeteredDays: unmeteredDays as 'hold' | 'warn' }),
  });
}
