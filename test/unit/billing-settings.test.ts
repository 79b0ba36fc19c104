import type { TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { BlobBilledCostSource } from '../../shared/adapters/billing/blob-billed-cost-source.js';
import { FileBilledCostSource } from '../../shared/adapters/billing/file-billed-cost-source.js';
import { createBilledCostSource } from '../../shared/composition-root.js';
import { BILLING_SETTING } from '../../shared/config/billing-settings.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const credential: TokenCredential = { getToken: async () => ({ token: 'test', expiresOnTimestamp: Date.now() + 60_000 }) };

describe('billing settings', () => {
  it('default to no bill, EffectiveCost, the Anthropic publisher, a bucket for the residue and the 0.5–1.05 band', () => {
    const { billing } = loadSettings(base, { projectRoot: '/app' });
    expect(billing).toEqual({
      location: { kind: 'none' },
      costColumn: 'EffectiveCost',
      rule: { resourceIds: [], publishers: ['Anthropic'] },
      residue: 'bucket',
      controls: { ratioBand: { min: 0.5, max: 1.05 }, unmeteredDays: 'hold' },
    });
    expect(createBilledCostSource({ billing })).toBeUndefined();
  });

  it('read files relative to the project, and a container with the identity', () => {
    const files = loadSettings({ ...base, [BILLING_SETTING.files]: 'bills/a.csv;bills/b.csv.gz', [BILLING_SETTING.foundryResourceIds]: '/subscriptions/s/x;/subscriptions/s/y' }, { projectRoot: '/app' }).billing;
    expect(files.location).toEqual({ kind: 'file', files: ['/app/bills/a.csv', '/app/bills/b.csv.gz'] });
    expect(files.rule.resourceIds).toEqual(['/subscriptions/s/x', '/subscriptions/s/y']);
    expect(createBilledCostSource({ billing: files })).toBeInstanceOf(FileBilledCostSource);

    const blob = loadSettings({ ...base, [BILLING_SETTING.source]: 'blob', [BILLING_SETTING.containerUrl]: 'https://acct.blob.core.windows.net/cost-exports', [BILLING_SETTING.blobPrefix]: 'focus/' }, { projectRoot: '/app' }).billing;
    expect(blob.location).toEqual({ kind: 'blob', containerUrl: 'https://acct.blob.core.windows.net/cost-exports', prefix: 'focus/' });
    expect(createBilledCostSource({ billing: blob }, { credential })).toBeInstanceOf(BlobBilledCostSource);
  });

  it('report every problem at once', () => {
    expect(() =>
      loadSettings(
        {
          ...base,
          [BILLING_SETTING.source]: 'blob',
          [BILLING_SETTING.costColumn]: 'ListCost',
          [BILLING_SETTING.residue]: 'spread',
          [BILLING_SETTING.ratioMin]: '1.2',
          [BILLING_SETTING.ratioMax]: '1.1',
          [BILLING_SETTING.unmeteredDays]: 'ignore',
        },
        { projectRoot: '/app' },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: [
          expect.stringContaining('BILLED_COST_SOURCE: blob needs BILLED_COST_CONTAINER_URL'),
          expect.stringContaining('BILLED_COST_COLUMN: "ListCost"'),
          expect.stringContaining('BILLED_RESIDUE: "spread"'),
          expect.stringContaining('BILLED_UNMETERED_DAYS: "ignore"'),
          expect.stringContaining('BILLED_RATIO_MIN (1.2) must be below BILLED_RATIO_MAX (1.1)'),
        ],
      }),
    );
    expect(() => loadSettings({ ...base, [BILLING_SETTING.source]: 'blob', [BILLING_SETTING.containerUrl]: 'http://acct.blob.core.windows.net/c1x' }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({ details: [expect.stringContaining('must be an https container URL')] }),
    );
  });
});
