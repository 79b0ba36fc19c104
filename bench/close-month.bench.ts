/**
 * Closes a generated month of 10,000 users by default (50 teams, 4 models, 2 tiers, 31 days) on the local stack:
 * the NDJSON export through the file usage source, the file directory, the shipped price book, Azurite
 * for the rollups, the exceljs workbook and the outbox. Prints wall time, peak RSS and rows/s per phase.
 *
 *   npm run bench                                  (10,000 users, 50 teams)
 *   npm run bench -- --users 100000 --teams 500    (the scale of issue 15; several minutes)
 *   npm run bench -- --usage-from daily-rollups    (the ingest stores the month first; the close reads it back)
 *
 * Compiled, as the Functions host runs it, with V8's old space capped (see heapMb). Beside the store phase it
 * prints the raw Azurite batch-upsert ceiling measured in the same run (written with the store's own transaction writer).
 */
import v8 from 'node:v8';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TableClient } from '@azure/data-tables';
import { entityJson, submitEntityTransaction, type EntityValue, type TransactionOperation } from '../shared/adapters/azure/entity-transactions.js';
import { runPool } from '../shared/adapters/azure/table-batches.js';
import { DEFAULT_BATCH_CONCURRENCY, rollupPartitionKey, rollupRowKey, TableRollupStore } from '../shared/adapters/azure/table-rollup-store.js';
import type { MonthlyLine } from '../shared/domain/rollup.js';
import { startAzurite } from '../shared/adapters/local/azurite.js';
import { createServices, tableFactory } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING } from '../shared/config/settings.js';
import { closeMonth } from '../shared/use-cases/close-month.js';
import { BENCH_MODELS, deployedMallocSettings, generateMonth, ingestMonthInAChildProcess, mb, phaseRecorder, rssSampler, runWithHeapCap } from './support.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    teams: { type: 'string', default: '50' },
    month: { type: 'string', default: '2026-10' },
    keep: { type: 'boolean', default: false },
    'heap-mb': { type: 'string' },
    /** usage-source: the close reads the generated export itself; daily-rollups: the ingest stores the month first, the close reads it back. */
    'usage-from': { type: 'string', default: 'usage-source' },
  },
});
const users = Number(values.users);
const teams = Number(values.teams);

/**
 * V8's old space is capped as the deployed app caps it (infra/app/function-app.bicep sets 1,024 MB for a
 * 2,048 MB Flex Consumption instance), or at 384 MB for the default 10k-user month: the close's live heap
 * stays near 125 MB there, and without a cap V8 lets garbage pile up to several times that before collecting.
 * The cap is a node flag, so the bench starts itself again with it (`--heap-mb` overrides).
 */
const heapMb = Number(values['heap-mb'] ?? (users <= 10_000 ? 384 : 1024));
runWithHeapCap(heapMb, 'CLOSE_BENCH_HEAP_MB');
const month = values.month!;
const usageFrom = values['usage-from'] === 'daily-rollups' ? 'daily-rollups' : 'usage-source';

// Issue 15's targets: S10k <= 10 s and 500 MB; S100k <= 180 s and 1 GB.
const TARGET_SECONDS = users <= 10_000 ? 10 : 180;
const TARGET_RSS_MB = users <= 10_000 ? 500 : 1024;
const STORE_SHARE_TARGET = 0.8;
/** Entities written for the raw ceiling and again by the store alone (whole partitions, at most the lines stored). */
const CEILING_ENTITIES = 25_000;

const sampler = rssSampler();

/**
 * The raw Azurite ceiling beside the store phase: batch upserts of entities shaped like the stored rollups
 * (copies of a sample read back from the Rollups table) under the stored lines' own keys, in the store's own
 * transactions, into a fresh table, with the store's concurrency and transaction writer, in the same run and the
 * same Azurite.
 */
async function rawUpsertCeiling(table: (name: string) => TableClient, month: string, lines: readonly MonthlyLine[]) {
  const sample: Record<string, EntityValue>[] = [];
  // Untyped, so each property goes back with the EDM type it was stored with.
  for await (const entity of table('Rollups').listEntities<Record<string, unknown>>({ disableTypeConversion: true })) {
    if (entity.partitionKey === 'published') continue;
    const properties: Record<string, EntityValue> = {};
    for (const [name, value] of Object.entries(entity)) {
      if (name === 'etag' || name === 'timestamp' || name === 'partitionKey' || name === 'rowKey' || name.startsWith('odata')) continue;
      const { type, value: text } = value as { type: string; value: string };
      properties[name] = type === 'Int64' ? BigInt(text) : type === 'Int32' || type === 'Double' ? Number(text) : type === 'Boolean' ? text === 'true' : text;
    }
    sample.push(properties);
    if (sample.length >= 1000) break;
  }
  if (sample.length === 0) throw new Error('no stored rollups to copy for the raw ceiling');
  const meanBytes = sample.reduce((sum, entity) => sum + Buffer.byteLength(entityJson({ partitionKey: '', rowKey: '', ...entity })), 0) / sample.length;
  const fresh = table(`RawCeiling${process.pid}`);
  await fresh.createTable();
  // The store's own keys and transactions (a team's lines share a partition, a transaction holds at most 100 of
  // one partition's, in key order), each entity a copy of a sample entity: only building the entities is left out.
  const partitions = linesByPartition(month, lines);
  const batches: TransactionOperation[][] = [];
  let index = 0;
  for (const partitionKey of [...partitions.keys()].sort()) {
    const rows = partitions.get(partitionKey)!.map(rollupRowKey).sort();
    for (let row = 0; row < rows.length; row += 100) {
      batches.push(rows.slice(row, row + 100).map((rowKey) => ({ kind: 'upsert', entity: { ...sample[index++ % sample.length]!, partitionKey, rowKey } })));
    }
  }
  const started = performance.now();
  // The store's own transaction writer: the ceiling is Azurite's, not a slower client's.
  await runPool(batches, DEFAULT_BATCH_CONCURRENCY, (batch) => submitEntityTransaction(fresh, batch));
  const seconds = (performance.now() - started) / 1000;
  await fresh.deleteTable();
  return { entities: index, seconds, perSecond: index / seconds, meanBytes };
}

/** The stored lines by the partition the store writes them to (one per team). */
function linesByPartition(month: string, lines: readonly MonthlyLine[]): Map<string, MonthlyLine[]> {
  const partitions = new Map<string, MonthlyLine[]>();
  for (const line of lines) {
    const partitionKey = rollupPartitionKey(month, line.teamId, 1);
    const inPartition = partitions.get(partitionKey);
    if (inPartition) inPartition.push(line);
    else partitions.set(partitionKey, [line]);
  }
  return partitions;
}

/**
 * The lines of the month's first partitions, in key order, up to about `limit` (whole partitions): what the
 * ceiling and the store alone both write. The same number of entities matters: Azurite slows as a table grows.
 */
function firstPartitions(month: string, lines: readonly MonthlyLine[], limit: number): MonthlyLine[] {
  const partitions = linesByPartition(month, lines);
  const chosen: MonthlyLine[] = [];
  for (const partitionKey of [...partitions.keys()].sort()) {
    if (chosen.length >= limit) break;
    chosen.push(...partitions.get(partitionKey)!);
  }
  return chosen;
}

/**
 * The close's store with nothing beside it: lines the close stored, written again by the same store
 * (TableRollupStore, its concurrency) into a fresh table of the same Azurite, right after the ceiling. The close
 * builds its reports while it stores, so its own store phase measures the thread they share as much as the
 * writer; this measures the writer.
 */
async function storeAlone(table: (name: string) => TableClient, month: string, lines: readonly MonthlyLine[]) {
  const client = table(`StoreAlone${process.pid}`);
  const store = await TableRollupStore.create(client);
  const started = performance.now();
  await store.writeRevision(month, 1, lines);
  const seconds = (performance.now() - started) / 1000;
  await client.deleteTable();
  return { lines: lines.length, seconds, perSecond: lines.length / seconds };
}

/** CRLF-terminated records in a file, counted as it streams past (after the close, outside the measurements). */
async function countRecords(file: string): Promise<number> {
  let records = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) records += 1;
  }
  return records;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'close-bench-'));
const azurite = await startAzurite();
try {
  process.stdout.write(`Generating ${users} users in ${teams} teams, ${BENCH_MODELS.length} models, 2 tiers, ${month} ...\n`);
  const { usageFile, directoryFile, metricRows, megabytes, seconds: generateSeconds } = await generateMonth({ month, users, teams, out: work });
  process.stdout.write(`  ${metricRows.toLocaleString('en-US')} metric rows (${megabytes} MB) in ${generateSeconds.toFixed(1)} s (not part of the close)\n`);

  const environment = {
    [SETTING.usageFiles]: usageFile,
      [SETTING.directoryFile]: directoryFile,
      [SETTING.storageConnection]: azurite.connectionString,
      [SETTING.financeRecipients]: 'finance@contoso.example',
      [SETTING.outboxDir]: path.join(work, 'outbox'),
      [SETTING.artifactsDir]: path.join(work, 'reports'),
    [SETTING.closeUsageFrom]: usageFrom,
  };
  if (usageFrom === 'daily-rollups') {
    const ingestSeconds = await ingestMonthInAChildProcess(month, environment, heapMb);
    process.stdout.write(`  the daily ingest stored the month's days in ${ingestSeconds.toFixed(1)} s (not part of the close, which reads them back)\n`);
  }
  process.stdout.write('\n');
  const settings = loadSettings(environment, { projectRoot: PROJECT_ROOT });
  sampler.reset();
  // The close builds its workbooks and export while the store writes (closeMonth), and mails once both are done.
  const recorder = phaseRecorder(() => sampler.peak, { steps: new Set(['workbook', 'export', 'team workbooks']), join: 'mail' });
  const rssBefore = sampler.peak;
  const started = performance.now();
  const services = await createServices(settings, { logger: recorder.logger });
  // The lines the close stores, kept for the store-alone measurement after it.
  let storedLines: readonly MonthlyLine[] = [];
  const rollups = services.closeMonth.rollups;
  const writeRevision = rollups.writeRevision.bind(rollups);
  rollups.writeRevision = (month, revision, lines, onProgress) => {
    storedLines = lines;
    return writeRevision(month, revision, lines, onProgress);
  };
  const result = await closeMonth(services.closeMonth, { month });
  recorder.finish();
  const wallSeconds = (performance.now() - started) / 1000;
  const peakRss = sampler.peak;
  sampler.stop();

  const measuredLines = firstPartitions(month, storedLines, CEILING_ENTITIES);
  const ceiling = await rawUpsertCeiling(tableFactory(settings.storage), month, measuredLines);
  const alone = await storeAlone(tableFactory(settings.storage), month, measuredLines);
  storedLines = [];
  const focusRows = (await countRecords(result.focusLocation ?? "")) - 1;
  const rowsOf: Record<string, number> = {
    usage: metricRows,
    pricing: result.usage.rows,
    figures: result.stored.written,
    publish: result.stored.written,
    store: result.stored.written,
    workbook: result.report.lines.length,
    export: focusRows,
    'team workbooks': result.report.lines.length,
  };
  const unitOf: Record<string, string> = { usage: 'metric rows', pricing: 'usage rows', figures: 'lines', store: 'lines', publish: 'lines', workbook: 'lines', export: 'FOCUS rows', 'team workbooks': 'lines' };
  process.stdout.write('phase            seconds    rows/s  CPU s  peak RSS      (rows)\n');
  for (const phase of recorder.phases) {
    const seconds = (phase.end - phase.start) / 1000;
    const rows = rowsOf[phase.step];
    const rate = rows !== undefined && seconds > 0 ? Math.round(rows / seconds).toLocaleString('en-US') : '';
    process.stdout.write(
      `${`${phase.overlaps ? '| ' : ''}${phase.step}`.padEnd(16)} ${seconds.toFixed(2).padStart(7)} ${rate.padStart(10)} ${(phase.cpuEnd - phase.cpuStart).toFixed(2).padStart(6)} ${`${mb(phase.peakAtEnd)} MB`.padStart(9)}      ${rows === undefined ? '' : `${rows.toLocaleString('en-US')} ${unitOf[phase.step]}`}\n`,
    );
    if (phase.step === 'store') {
      const share = rows !== undefined && seconds > 0 ? rows / seconds / ceiling.perSecond : NaN;
      const aloneShare = alone.perSecond / ceiling.perSecond;
      const verdict = (value: number) => `target >= ${STORE_SHARE_TARGET}: ${value >= STORE_SHARE_TARGET ? 'met' : 'MISSED'}`;
      process.stdout.write(
        `  raw ceiling    ${ceiling.seconds.toFixed(2).padStart(7)} ${Math.round(ceiling.perSecond).toLocaleString('en-US').padStart(10)}                     ${ceiling.entities.toLocaleString('en-US')} entities of ~${(ceiling.meanBytes / 1024).toFixed(1)} KB under the stored keys, in the store's transactions, ${DEFAULT_BATCH_CONCURRENCY} in flight: the close's store at ${share.toFixed(2)} of it${phase.overlaps ? ', with the reports beside it' : ` (${verdict(share)})`}\n` +
          `  store alone    ${alone.seconds.toFixed(2).padStart(7)} ${Math.round(alone.perSecond).toLocaleString('en-US').padStart(10)}                     ${alone.lines.toLocaleString('en-US')} of the lines by the same store into a fresh table, nothing beside it: at ${aloneShare.toFixed(2)} of the ceiling (${verdict(aloneShare)})\n`,
      );
    }
  }
  const overlapped = recorder.phases.filter((phase) => phase.overlaps);
  if (overlapped.length > 0) {
    const from = Math.min(...overlapped.map((phase) => phase.start));
    const to = Math.max(...overlapped.map((phase) => phase.end));
    const cpuFrom = Math.min(...overlapped.map((phase) => phase.cpuStart));
    const cpuTo = Math.max(...overlapped.map((phase) => phase.cpuEnd));
    process.stdout.write(
      `(| ran beside each other, ${((to - from) / 1000).toFixed(2)} s from the first to the last, ${(cpuTo - cpuFrom).toFixed(2)} CPU s in all; each one's CPU seconds are the whole process's while it ran)\n`,
    );
  }
  const wallOk = wallSeconds <= TARGET_SECONDS;
  const rssOk = peakRss / 1024 / 1024 <= TARGET_RSS_MB;
  process.stdout.write(
    `\nclose wall time: ${wallSeconds.toFixed(2)} s (target <= ${TARGET_SECONDS} s: ${wallOk ? 'met' : 'MISSED'}), load average ${os.loadavg()[0]!.toFixed(1)} at the end\n` +
      `peak RSS:        ${mb(peakRss)} MB, ${mb(rssBefore)} MB before the close (target <= ${TARGET_RSS_MB} MB: ${rssOk ? 'met' : 'MISSED'}; Azurite runs in its own process)\n` +
      `V8 heap limit:   ${mb(v8.getHeapStatistics().heap_size_limit)} MB (--max-old-space-size=${heapMb}; --heap-mb changes it)\n` +
      `allocator:       MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? '(glibc default)'} (deployed: ${deployedMallocSettings(heapMb).MALLOC_MMAP_THRESHOLD_ ?? 'the default'})\n` +
      `teams: ${result.report.teams.length}, lines: ${result.stored.written}, grand total ${result.report.currency} ${(Number(result.report.grandTotal) / 100).toFixed(2)}\n` +
      `finance workbook ${((await stat(result.workbookLocation)).size / 1024 / 1024).toFixed(1)} MB, FOCUS export ${mb((await stat(result.focusLocation ?? "")).size)} MB\n`,
  );
} finally {
  sampler.stop();
  await azurite.stop();
  if (!values.keep) await rm(work, { recursive: true, force: true });
}
