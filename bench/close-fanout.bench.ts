/**
 * The fanned-out close on the local stack: the close run (figures, controls, store, publish, dispatch) in this
 * process, then N worker processes that drain the team, finance and mail items from Azurite's queues through
 * the queue triggers' handlers, each as one Functions instance would. Prints the close's phases with peak
 * RSS, then per worker the items it ran, its longest item and its peak RSS.
 *
 *   npm run bench:fanout                                        (10,000 users, 50 teams, 4 workers)
 *   npm run bench:fanout -- --users 100000 --teams 500 --workers 4
 *   npm run bench:fanout -- --usage-from daily-rollups     (the ingest stores the month first; the close reads it back)
 *
 * Mail pacing is set far above Exchange's 30 a minute (--mails-per-minute, default 6000) so that the run
 * measures the work, not the wait; the pacing itself is proved on a test clock (test/use-cases/close-fan-out.test.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAzurite, startAzuriteQueue } from '../shared/adapters/local/azurite.js';
import { createServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING } from '../shared/config/settings.js';
import { closeMonth } from '../shared/use-cases/close-month.js';
import { generateMonth, ingestMonthInAChildProcess, mb, phaseRecorder, rssSampler, runBenchProcess, runWithHeapCap } from './support.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    teams: { type: 'string', default: '50' },
    workers: { type: 'string', default: '4' },
    month: { type: 'string', default: '2026-10' },
    'mails-per-minute': { type: 'string', default: '6000' },
    keep: { type: 'boolean', default: false },
    'heap-mb': { type: 'string' },
    /** As in the close bench: usage-source reads the export in the close; daily-rollups ingests the month first. */
    'usage-from': { type: 'string', default: 'usage-source' },
  },
});
const usageFrom = values['usage-from'] === 'daily-rollups' ? 'daily-rollups' : 'usage-source';
const users = Number(values.users);
const teams = Number(values.teams);
const workers = Number(values.workers);
const month = values.month!;
// As deployed: 1,536 MB of old space on a 2,048 MB instance (docs/scale.md); 384 MB for the 10k month.
const heapMb = Number(values['heap-mb'] ?? (users <= 10_000 ? 384 : 1024));
runWithHeapCap(heapMb, 'FANOUT_BENCH_HEAP_MB');
const TARGET_SECONDS = users <= 10_000 ? 10 : 180;
const TARGET_RSS_MB = users <= 10_000 ? 500 : 1024;

interface WorkerReport {
  pid: number;
  seconds: number;
  byQueue: Record<string, { items: number; ms: number; longestMs: number }>;
  totals: { completed: number; retried: number; poisoned: number };
  peakRssMb: number;
}

async function runWorker(environment: Record<string, string>): Promise<WorkerReport> {
  return JSON.parse((await runBenchProcess('close-fanout-worker.js', environment, heapMb)).trim().split('\n').at(-1)!) as WorkerReport;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'fanout-bench-'));
const [tables, queues] = await Promise.all([startAzurite(), startAzuriteQueue()]);
const sampler = rssSampler();
try {
  process.stdout.write(`Generating ${users} users in ${teams} teams, ${month} ...\n`);
  const data = await generateMonth({ month, users, teams, out: work });
  process.stdout.write(`  ${data.metricRows.toLocaleString('en-US')} metric rows (${data.megabytes} MB) in ${data.seconds.toFixed(1)} s (not part of the close)\n\n`);
  const environment: Record<string, string> = {
    [SETTING.usageFiles]: data.usageFile,
    [SETTING.directoryFile]: data.directoryFile,
    [SETTING.storageConnection]: tables.connectionString,
    [SETTING.financeRecipients]: 'finance@contoso.example',
    [SETTING.outboxDir]: path.join(work, 'outbox'),
    [SETTING.artifactsDir]: path.join(work, 'reports'),
    WORK_QUEUES_CONNECTION_STRING: queues.connectionString,
    MAIL_MESSAGES_PER_MINUTE: values['mails-per-minute']!,
    [SETTING.closeUsageFrom]: usageFrom,
  };

  // The daily ingest is the only reader of the usage (issue 15): it stores the month's days before the close,
  // in a process of its own, as the daily timer would have across the month.
  if (usageFrom === 'daily-rollups') {
    const ingestSeconds = await ingestMonthInAChildProcess(month, environment, heapMb);
    process.stdout.write(`  the daily ingest stored the month's days in ${ingestSeconds.toFixed(1)} s (not part of the close)\n`);
  }
  process.stdout.write('\n');

  sampler.reset();
  const recorder = phaseRecorder(() => sampler.peak);
  const started = performance.now();
  const services = await createServices(loadSettings(environment, { projectRoot: PROJECT_ROOT }), { logger: recorder.logger, fanOutClose: true });
  const result = await closeMonth(services.closeMonth, { month });
  recorder.finish();
  const closeSeconds = (performance.now() - started) / 1000;
  const closePeak = sampler.peak;
  process.stdout.write('the close run      seconds  peak RSS\n');
  for (const phase of recorder.phases) process.stdout.write(`  ${phase.step.padEnd(16)} ${((phase.end - phase.start) / 1000).toFixed(2).padStart(7)} ${`${mb(phase.peakAtEnd)} MB`.padStart(9)}\n`);
  process.stdout.write(`  ${'total'.padEnd(16)} ${closeSeconds.toFixed(2).padStart(7)} ${`${mb(closePeak)} MB`.padStart(9)}   (${result.dispatched?.teamsQueued ?? 0} team items queued)\n\n`);

  const drainStart = performance.now();
  const reports = await Promise.all(Array.from({ length: workers }, () => runWorker(environment)));
  const drainSeconds = (performance.now() - drainStart) / 1000;
  process.stdout.write(`${workers} worker processes   seconds  items (team/finance/mail)  longest item  peak RSS\n`);
  for (const report of reports) {
    const items = ['close-team', 'close-finance', 'close-mail'].map((queue) => report.byQueue[queue]?.items ?? 0).join('/');
    const longest = Math.max(0, ...Object.values(report.byQueue).map((queue) => queue.longestMs)) / 1000;
    process.stdout.write(`  pid ${String(report.pid).padEnd(14)} ${report.seconds.toFixed(2).padStart(7)}  ${items.padStart(24)}  ${`${longest.toFixed(2)} s`.padStart(12)}  ${`${report.peakRssMb} MB`.padStart(8)}\n`);
  }
  const perQueue = (queue: string) => {
    const all = reports.map((report) => report.byQueue[queue]).filter((figures) => figures !== undefined);
    const items = all.reduce((sum, figures) => sum + figures.items, 0);
    const ms = all.reduce((sum, figures) => sum + figures.ms, 0);
    return `${items} item(s), ${(ms / Math.max(1, items) / 1000).toFixed(2)} s each on average, longest ${(Math.max(0, ...all.map((figures) => figures.longestMs)) / 1000).toFixed(2)} s`;
  };
  const workerPeak = Math.max(...reports.map((report) => report.peakRssMb));
  const failed = reports.reduce((sum, report) => sum + report.totals.retried + report.totals.poisoned, 0);
  const mails = (await readdir(path.join(work, 'outbox'))).length;
  const wall = closeSeconds + drainSeconds;
  const everyProcess = Math.max(workerPeak, Number(mb(closePeak)));
  process.stdout.write(
    `\nteam items:    ${perQueue('close-team')}\nfinance item:  ${perQueue('close-finance')}\nmail items:    ${perQueue('close-mail')}\n` +
      `retried or poisoned deliveries: ${failed}; mails in the outbox: ${mails}\n\n` +
      `close run ${closeSeconds.toFixed(1)} s + drain ${drainSeconds.toFixed(1)} s = ${wall.toFixed(1)} s (target <= ${TARGET_SECONDS} s: ${wall <= TARGET_SECONDS ? 'met' : 'MISSED'})\n` +
      `peak RSS of every process: close run ${mb(closePeak)} MB, workers up to ${workerPeak} MB (target <= ${TARGET_RSS_MB} MB each: ${everyProcess <= TARGET_RSS_MB ? 'met' : 'MISSED'}; Azurite runs in its own processes)\n`,
  );
} finally {
  sampler.stop();
  await Promise.all([tables.stop(), queues.stop()]);
  if (!values.keep) await rm(work, { recursive: true, force: true });
}
