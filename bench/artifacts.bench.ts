/**
 * The streamed save of a large FOCUS export into a Blob container: Azurite's Blob service on disk (a temporary
 * folder, removed afterwards), an export of --mb MiB produced in 64 KiB string chunks (the size the FOCUS
 * writer yields), uploaded by BlobArtifactStore.saveStream. Prints the time, the committed size and this
 * process's peak RSS, sampled every 20 ms, beside its RSS before the upload: the upload must not grow with the
 * export (the port's promise; about three 8 MiB blocks are held at a time).
 *
 *   npx tsx bench/artifacts.bench.ts --mb 2048
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BlobArtifactStore } from '../shared/adapters/azure/blob-artifacts.js';
import { startAzuriteBlob } from '../shared/adapters/local/azurite.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '512' } } });
const mebibytes = Number(values.mb);
const MB = 1024 * 1024;

const folder = await mkdtemp(path.join(os.tmpdir(), 'artifacts-bench-'));
const azurite = await startAzuriteBlob({ location: folder });
try {
  const store = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'artifacts');
  const row = 'BilledCost,ChargePeriodStart,ConsumedQuantity,x'.padEnd(255, 'y') + '\n';
  const chunk = row.repeat(256);
  const chunks = Math.ceil((mebibytes * MB) / chunk.length);
  function* produce(): Generator<string> {
    for (let index = 0; index < chunks; index++) yield chunk;
  }

  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  await store.saveStream('focus-bench.csv', produce(), 'text/csv; charset=utf-8');
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  const properties = await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('artifacts').getBlobClient('focus-bench.csv').getProperties();
  const size = properties.contentLength ?? 0;
  console.log(`streamed save of ${(size / MB).toFixed(0)} MiB in ${seconds.toFixed(1)} s (${(size / MB / seconds).toFixed(0)} MiB/s)`);
  console.log(`RSS before ${(before / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB`);
} finally {
  await azurite.stop();
  await rm(folder, { recursive: true, force: true });
}
