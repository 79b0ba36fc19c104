import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobBilledCostSource, newestRunOf } from '../../shared/adapters/billing/blob-billed-cost-source.js';
import { startAzuriteBlob, type RunningAzurite } from '../../shared/adapters/local/azurite.js';
import { DEFAULT_CLAUDE_PUBLISHERS } from '../../shared/domain/billing.js';

const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'focus-1.0-cost-export.csv');
const rule = { resourceIds: [], publishers: DEFAULT_CLAUDE_PUBLISHERS };

describe('the FOCUS export in a Blob container (Azurite)', () => {
  let azurite: RunningAzurite;
  let container: ContainerClient;

  beforeAll(async () => {
    azurite = await startAzuriteBlob();
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('cost-exports');
    await container.create();
    const fixture = await readFile(FIXTURE);
    // An older run of the same range with a different bill: only the newest run may count.
    const older = fixture.toString('utf8').replace('2.7936,', '99.99,').replace(/,2\.7936,/g, ',99.99,');
    await container.getBlockBlobClient('focus/claude-daily/20261001-20261031/run-a/part_0_0001.csv').upload(older, Buffer.byteLength(older));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const compressed = gzipSync(fixture);
    await container.getBlockBlobClient('focus/claude-daily/20261001-20261031/run-b/part_0_0001.csv.gz').upload(compressed, compressed.length);
    await container.getBlockBlobClient('focus/claude-daily/20261001-20261031/run-b/manifest.json').upload('{}', 2);
    await container.getBlockBlobClient('focus/claude-daily/20260901-20260930/run-c/part_0_0001.csv').upload(older, Buffer.byteLength(older));
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  it('reads the newest run of the month’s export, gzip included, and nothing else', async () => {
    const source = BlobBilledCostSource.fromConnectionString(azurite.connectionString, 'cost-exports', 'focus/claude-daily/', 'EffectiveCost');
    const read = await source.read('2026-10', rule);
    expect(read.claude.map((charge) => charge.amount.toFixed())).toEqual(['2.7936', '3.1']);
    expect(read.rows).toBe(6);
    expect(read.sourceDescription).toContain('run-b/part_0_0001.csv.gz');
    expect(read.lastChargeDay).toBe('2026-10-31');
  });

  it('finds nothing for a month without an export, and says so', async () => {
    const source = BlobBilledCostSource.fromConnectionString(azurite.connectionString, 'cost-exports', 'focus/other/', 'EffectiveCost');
    const read = await source.read('2026-10', rule);
    expect(read.claude).toEqual([]);
    expect(read.lastChargeDay).toBeNull();
    expect(read.sourceDescription).toContain('no FOCUS export for 2026-10');
  });

  it('reports a missing container as unavailable, not as an empty bill', async () => {
    const source = BlobBilledCostSource.fromConnectionString(azurite.connectionString, 'no-such-container', '', 'EffectiveCost');
    await expect(source.read('2026-10', rule)).rejects.toMatchObject({ code: 'BILLED_SOURCE_UNAVAILABLE' });
  });

  it('refuses a credential over plain http', () => {
    expect(() => BlobBilledCostSource.withCredential('http://account.blob.core.windows.net/exports', { getToken: async () => null }, '', 'EffectiveCost')).toThrow(/https/);
  });
});

describe('choosing the run to read', () => {
  const blob = (name: string, at: string) => ({ name, properties: { lastModified: new Date(at) } }) as Parameters<typeof newestRunOf>[0][number];

  it('takes the run written last, whatever its name', () => {
    const chosen = newestRunOf(
      [
        blob('x/20261001-20261031/zzz/part_0_0001.csv.gz', '2026-11-02T06:00:00Z'),
        blob('x/20261001-20261031/aaa/part_0_0001.csv.gz', '2026-11-03T06:00:00Z'),
        blob('x/20261001-20261031/aaa/part_0_0002.csv.gz', '2026-11-03T06:01:00Z'),
        blob('x/20261101-20261130/bbb/part_0_0001.csv.gz', '2026-11-04T06:00:00Z'),
      ],
      '2026-10',
    );
    expect(chosen.map((item) => item.name)).toEqual(['x/20261001-20261031/aaa/part_0_0001.csv.gz', 'x/20261001-20261031/aaa/part_0_0002.csv.gz']);
  });

  it('reads files outside any dated run only when no run matches', () => {
    expect(newestRunOf([blob('manual/october.csv', '2026-11-01T00:00:00Z')], '2026-10').map((item) => item.name)).toEqual(['manual/october.csv']);
  });
});
