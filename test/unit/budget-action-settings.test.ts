import { describe, expect, it } from 'vitest';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const NAMED_VALUE = '/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/apim/namedValues/chargeback-blocked-oids';

describe('budget action settings', () => {
  it('are off by default', () => {
    const { budgets } = loadSettings(base, { projectRoot: '/app' });
    expect([budgets.blockAtPercent, budgets.blockListNamedValueId]).toEqual([null, null]);
  });

  it('need the level and the named value together', () => {
    const both = loadSettings({ ...base, [SETTING.budgetBlockAtPercent]: '120', [SETTING.gatewayBlockedOidsNamedValueId]: NAMED_VALUE }, { projectRoot: '/app' });
    expect([both.budgets.blockAtPercent, both.budgets.blockListNamedValueId]).toEqual([120, NAMED_VALUE]);
    expect(() => loadSettings({ ...base, [SETTING.budgetBlockAtPercent]: '120' }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({ details: [expect.stringContaining('go together')] }),
    );
    expect(() => loadSettings({ ...base, [SETTING.budgetBlockAtPercent]: '12.5', [SETTING.gatewayBlockedOidsNamedValueId]: NAMED_VALUE }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({ details: [expect.stringContaining('whole percentage')] }),
    );
  });
});
