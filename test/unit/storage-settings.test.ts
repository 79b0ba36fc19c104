import type { TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { tableFactory } from '../../shared/composition-root.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const credential: TokenCredential = { getToken: async () => ({ token: 'test', expiresOnTimestamp: Date.now() + 60_000 }) };

describe('table storage settings', () => {
  it('reaches the tables through the managed identity when only the endpoint is set', () => {
    const settings = loadSettings({ ...base, [SETTING.storageTableEndpoint]: 'https://acct.table.core.windows.net' }, { projectRoot: '/app' });
    expect(settings.storage).toEqual({ connectionString: null, tableEndpoint: 'https://acct.table.core.windows.net', tablePrefix: 'chargeback' });
    const client = tableFactory(settings.storage, credential)('Rollups');
    expect(client.url).toBe('https://acct.table.core.windows.net');
    expect(client.tableName).toBe('chargebackRollups');
  });

  it('refuses a plain-http endpoint, which would carry the token in the clear', () => {
    expect(() => loadSettings({ ...base, [SETTING.storageTableEndpoint]: 'http://acct.table.core.windows.net' }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', details: [expect.stringMatching(/STORAGE_TABLE_ENDPOINT: .* must be an https table endpoint/)] }),
    );
  });

  it('says how to configure storage when neither way is set', () => {
    const settings = loadSettings(base, { projectRoot: '/app' });
    expect(() => tableFactory(settings.storage, credential)).toThrow(/set STORAGE_TABLE_ENDPOINT \(managed identity\) or STORAGE_CONNECTION_STRING/);
  });
});
