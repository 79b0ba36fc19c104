import type { TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { BlobArtifactStore } from '../../shared/adapters/azure/blob-artifacts.js';
import { DirectoryArtifactStore } from '../../shared/adapters/local/directory-artifacts.js';
import { createArtifactStore } from '../../shared/composition-root.js';
import { ARTIFACT_SETTING } from '../../shared/config/artifact-settings.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const credential: TokenCredential = { getToken: async () => ({ token: 'test', expiresOnTimestamp: Date.now() + 60_000 }) };
const AZURITE = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;';

describe('artifact settings', () => {
  it('default to the local folder, a 10 MB attachment limit and links valid for 168 hours', () => {
    const settings = loadSettings(base, { projectRoot: '/app' });
    expect(settings.artifacts).toEqual({ location: { kind: 'directory' }, mail: { attachMaxBytes: 10_485_760, linkHours: 168 } });
    expect(createArtifactStore(settings)).toBeInstanceOf(DirectoryArtifactStore);
  });

  it('read a container with the identity, or a connection string and a container name for Azurite', () => {
    const identity = loadSettings({ ...base, [ARTIFACT_SETTING.store]: 'blob', [ARTIFACT_SETTING.containerUrl]: 'https://acct.blob.core.windows.net/artifacts/', [ARTIFACT_SETTING.attachMaxMb]: '0.5', [ARTIFACT_SETTING.linkHours]: '24' }, { projectRoot: '/app' });
    expect(identity.artifacts).toEqual({ location: { kind: 'blob', containerUrl: 'https://acct.blob.core.windows.net/artifacts' }, mail: { attachMaxBytes: 524_288, linkHours: 24 } });
    expect(createArtifactStore(identity, { credential })).toBeInstanceOf(BlobArtifactStore);

    const local = loadSettings({ ...base, [ARTIFACT_SETTING.store]: 'blob', [ARTIFACT_SETTING.blobConnectionString]: AZURITE }, { projectRoot: '/app' });
    expect(local.artifacts.location).toEqual({ kind: 'blob-connection', connectionString: AZURITE, container: 'artifacts' });
    expect(createArtifactStore(local)).toBeInstanceOf(BlobArtifactStore);
  });

  it('name every problem at once', () => {
    expect(() =>
      loadSettings({ ...base, [ARTIFACT_SETTING.store]: 'blob', [ARTIFACT_SETTING.attachMaxMb]: '-1', [ARTIFACT_SETTING.linkHours]: '169' }, { projectRoot: '/app' }),
    ).toThrow(
      expect.objectContaining({
        details: [
          'ARTIFACT_STORE: blob needs ARTIFACTS_CONTAINER_URL (managed identity) or ARTIFACTS_BLOB_CONNECTION_STRING',
          expect.stringContaining('ARTIFACT_ATTACH_MAX_MB: "-1" is not a size in MB'),
          expect.stringContaining('ARTIFACT_LINK_HOURS: "169"'),
        ],
      }),
    );
    expect(() => loadSettings({ ...base, [ARTIFACT_SETTING.store]: 'blob', [ARTIFACT_SETTING.containerUrl]: 'http://acct.blob.core.windows.net/artifacts' }, { projectRoot: '/app' })).toThrow(
      expect.objectContaining({ details: [expect.stringContaining('must be an https container URL')] }),
    );
    expect(() => loadSettings({ ...base, [ARTIFACT_SETTING.store]: 's3' }, { projectRoot: '/app' })).toThrow(expect.objectContaining({ details: ['ARTIFACT_STORE: "s3" is not directory or blob'] }));
  });
});
