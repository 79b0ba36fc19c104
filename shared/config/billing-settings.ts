import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_CLAUDE_PUBLISHERS, type ClaudeChargeRule, type ResiduePolicy } from '../domain/billing.js';
import { DEFAULT_BILLING_CONTROLS, type BillingControlSettings } from '../domain/billing-controls.js';
import { list, oneOf, optionalText, problem, text, verbatim } from './setting-kinds.js';

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

/** The FOCUS column a charge is read from (the export reader takes the same two). */
export type BilledCostColumn = 'EffectiveCost' | 'BilledCost';

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
  readonly costColumn: BilledCostColumn;
  readonly rule: ClaudeChargeRule;
  readonly residue: ResiduePolicy;
  readonly controls: BillingControlSettings;
}

const B = BILLING_SETTING;
const CONTAINER_URL = /^https:\/\/[^/\s]+\/[a-z0-9-]{3,63}\/?$/;

/** A positive number; problems name the setting through the issue's path. */
function positiveNumber(fallback: number) {
  return verbatim().transform((value, ctx) => {
    const raw = value?.trim() ?? '';
    if (raw === '') return fallback;
    const number = Number(raw);
    if (!Number.isFinite(number) || number <= 0) problem(ctx, raw, `"${raw}" is not a positive number`);
    return number;
  });
}

/**
 * Two sections, parsed in this order: where the bill is (a choice that needs the settings of its kind, so one
 * check over all of them), then how it is read and controlled. Resource ids and publishers are separated by
 * `;` only, since a publisher's name may hold a comma.
 */
export function billingSections(projectRoot: string) {
  return {
    billingLocation: z
      .object({
        [B.source]: optionalText(),
        [B.files]: list(/;/).transform((files) => files.map((file) => path.resolve(projectRoot, file))),
        [B.containerUrl]: optionalText(),
        [B.blobConnectionString]: optionalText(),
        [B.container]: optionalText(),
        [B.blobPrefix]: text(''),
      })
      .transform((values, ctx): BilledCostLocation => {
        const files = values[B.files];
        const kind = values[B.source] ?? (files.length > 0 ? 'file' : 'none');
        const prefix = values[B.blobPrefix];
        const at = (name: string, message: string) => ctx.issues.push({ code: 'custom', path: [name], message, input: values, continue: true });
        if (kind === 'none') return { kind: 'none' };
        if (kind === 'file') {
          if (files.length === 0) at(B.files, `name at least one FOCUS export file (.csv or .csv.gz) when ${B.source} is file`);
          return { kind: 'file', files: Object.freeze(files) };
        }
        if (kind === 'blob') {
          const containerUrl = values[B.containerUrl];
          const connectionString = values[B.blobConnectionString];
          const container = values[B.container];
          if (containerUrl !== null) {
            if (!CONTAINER_URL.test(containerUrl)) at(B.containerUrl, `"${containerUrl}" must be an https container URL such as https://account.blob.core.windows.net/cost-exports`);
            return { kind: 'blob', containerUrl: containerUrl.replace(/\/$/, ''), prefix };
          }
          if (connectionString !== null && container !== null) return { kind: 'blob-connection', connectionString, container, prefix };
          at(B.source, `blob needs ${B.containerUrl} (managed identity) or ${B.blobConnectionString} and ${B.container}`);
          return { kind: 'none' };
        }
        at(B.source, `"${kind}" is not none, file or blob`);
        return { kind: 'none' };
      }),
    billing: z
      .object({
        [B.costColumn]: oneOf<BilledCostColumn>(['EffectiveCost', 'BilledCost'], 'EffectiveCost', (value) => `"${value}" is not EffectiveCost or BilledCost`),
        [B.residue]: oneOf<ResiduePolicy>(['bucket', 'proportional'], 'bucket', (value) => `"${value}" is not bucket or proportional`),
        [B.unmeteredDays]: oneOf(['hold', 'warn'], DEFAULT_BILLING_CONTROLS.unmeteredDays, (value) => `"${value}" is not hold or warn`),
        [B.ratioMin]: positiveNumber(DEFAULT_BILLING_CONTROLS.ratioBand.min),
        [B.ratioMax]: positiveNumber(DEFAULT_BILLING_CONTROLS.ratioBand.max),
        [B.foundryResourceIds]: list(/;/),
        // Unset means Anthropic; set but empty means no publisher counts (resource ids only).
        [B.publishers]: verbatim().transform((value) => (value === undefined ? [...DEFAULT_CLAUDE_PUBLISHERS] : value.split(';').map((item) => item.trim()).filter((item) => item !== ''))),
      })
      .check((ctx) => {
        const min = ctx.value[B.ratioMin];
        const max = ctx.value[B.ratioMax];
        if (min >= max) problem(ctx, null, `${B.ratioMin} (${min}) must be below ${B.ratioMax} (${max})`);
      }),
  };
}

type BillingSections = ReturnType<typeof billingSections>;

export function billingOf(location: z.output<BillingSections['billingLocation']>, values: z.output<BillingSections['billing']>): BillingSettings {
  return Object.freeze({
    location: Object.freeze(location),
    costColumn: values[B.costColumn],
    rule: Object.freeze({ resourceIds: Object.freeze(values[B.foundryResourceIds]), publishers: Object.freeze(values[B.publishers]) }),
    residue: values[B.residue],
    controls: Object.freeze({ ratioBand: Object.freeze({ min: values[B.ratioMin], max: values[B.ratioMax] }), unmeteredDays: values[B.unmeteredDays] }),
  });
}
