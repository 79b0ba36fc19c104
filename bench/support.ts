/** What the benchmarks share: the generated month, phase timings from the use cases' progress, and peak RSS. */
import { spawn, spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import type { Logger } from '../shared/ports/runtime.js';

export const BENCH_MODELS = ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-6', 'claude-opus-4-8'];

export const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/**
 * The allocator's settings the deployment gives the worker process of an instance whose V8 old space is
 * capped at `heapMb` (infra/app/function-app.bicep: the 2,048 MB instance and up): a bench's memory is measured
 * as deployed. One set in the environment wins, to compare.
 */
export function deployedMallocSettings(heapMb: number): Readonly<Record<string, string>> {
  return heapMb >= 1024 ? { MALLOC_MMAP_THRESHOLD_: '65536' } : {};
}

/**
 * Starts this bench again with V8's old space capped at `heapMb` (a node flag) and the deployed allocator
 * settings, unless it already runs so; answers true in the process that should go on.
 */
export function runWithHeapCap(heapMb: number, marker: string): boolean {
  if (process.env[marker] === String(heapMb)) return true;
  const child = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...deployedMallocSettings(heapMb), ...process.env, [marker]: String(heapMb) },
  });
  process.exit(child.status ?? 1);
}

/** Samples this process's RSS every 25 ms; `peak` is the highest seen since start (or the last reset). */
export function rssSampler() {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 25);
  return {
    get peak() {
      return Math.max(peak, process.memoryUsage.rss());
    },
    reset: () => (peak = process.memoryUsage.rss()),
    stop: () => clearInterval(timer),
  };
}

/** Generates a month with the CLI in a child process, so that the memory measured is the bench's alone. */
export async function generateMonth(options: { month: string; users: number; teams: number; out: string }): Promise<{ directoryFile: string; usageFile: string; metricRows: number; megabytes: string; seconds: number }> {
  const started = performance.now();
  const generated = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'main.ts'), '--quiet', 'generate', '--month', options.month, '--users', String(options.users), '--teams', String(options.teams), '--seed', '7', '--models', BENCH_MODELS.join(','), '--out', options.out],
    { encoding: 'utf8' },
  );
  if (generated.status !== 0) throw new Error(`generating the bench data failed: ${generated.stderr}`);
  const usageFile = path.join(options.out, `usage-${options.month}.ndjson`);
  return {
    directoryFile: path.join(options.out, 'directory.json'),
    usageFile,
    metricRows: Number(/([0-9]+) metric rows/.exec(generated.stdout)?.[1] ?? NaN),
    megabytes: mb((await stat(usageFile)).size),
    seconds: (performance.now() - started) / 1000,
  };
}

export interface Phase {
  readonly step: string;
  readonly start: number;
  end: number;
  readonly cpuStart: number;
  cpuEnd: number;
  peakAtEnd: number;
  /** Ran beside another phase (phaseRecorder's `overlapping`). */
  overlaps?: boolean;
}

/**
 * CPU time of this process (all its threads, garbage collection included), in seconds. Beside wall time because
 * the machine is shared: wall time also counts the time other processes had the cores (Azurite's CPU is its own).
 */
export function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Turns a use case's progress steps into phase timings: a phase lasts until the next one starts. Steps named in
 * `overlapping.steps` run beside the others (the close builds its reports while the store writes): they form a
 * second track, each lasting until the next step of its own track, and both tracks end where `overlapping.join`
 * starts, the last phase of each at its own last message. Such phases print with `overlaps` set; their CPU
 * seconds are the process's, so they count the other track's work too.
 */
export function phaseRecorder(peakRss: () => number, overlapping?: { readonly steps: ReadonlySet<string>; readonly join: string }) {
  const phases: Phase[] = [];
  const open: { main?: Phase; side?: Phase } = {};
  const lastMessage = new Map<Phase, { at: number; cpu: number; peak: number }>();
  const end = (phase: Phase | undefined, at: number, cpu: number, peak: number) => {
    if (!phase) return;
    phase.end = at;
    phase.cpuEnd = cpu;
    phase.peakAtEnd = peak;
  };
  const logger: Logger = {
    info: () => undefined,
    warn: (message) => process.stderr.write(`warning: ${message}\n`),
    error: (message) => process.stderr.write(`error: ${message}\n`),
    progress: (step) => {
      if (process.env.BENCH_HEAP) {
        // With --expose-gc the live heap is measured after a full collection; without it, what V8 holds on to.
        (globalThis as { gc?: () => void }).gc?.();
        const memory = process.memoryUsage();
        process.stderr.write(`[heap] before ${step}: ${mb(memory.heapUsed)} MB used of ${mb(memory.heapTotal)} MB, external ${mb(memory.external)} MB, rss ${mb(memory.rss)} MB\n`);
      }
      const now = performance.now();
      const cpu = cpuSeconds();
      const peak = peakRss();
      const track = overlapping?.steps.has(step) ? 'side' : 'main';
      const current = open[track];
      if (current?.step === step) {
        lastMessage.set(current, { at: now, cpu, peak });
        return;
      }
      if (overlapping && step === overlapping.join) {
        // Both tracks are done by the join: each last phase ended with its own last message.
        for (const phase of [open.main, open.side]) {
          const last = phase && lastMessage.get(phase);
          if (phase && last) end(phase, last.at, last.cpu, last.peak);
          else end(phase, now, cpu, peak);
        }
        delete open.side;
      } else {
        end(current, now, cpu, peak);
      }
      const phase: Phase = { step, start: now, end: now, cpuStart: cpu, cpuEnd: cpu, peakAtEnd: 0, overlaps: track === 'side' || (overlapping !== undefined && open.side !== undefined) };
      if (open.side && track === 'main') open.side.overlaps = true;
      phases.push(phase);
      open[track] = phase;
      lastMessage.set(phase, { at: now, cpu, peak });
    },
  };
  const finish = () => {
    for (const phase of [open.main, open.side]) end(phase, performance.now(), cpuSeconds(), peakRss());
  };
  return { logger, phases, finish };
}

/**
 * Runs a compiled bench script (dist/bench/<script>) with the app settings `environment`, V8's old space capped
 * as the bench's own, and answers what it printed.
 */
export function runBenchProcess(script: string, environment: Record<string, string>, heapMb: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, path.join(PROJECT_ROOT, 'dist', 'bench', script)], {
      env: { ...deployedMallocSettings(heapMb), ...process.env, BENCH_SETTINGS: JSON.stringify(environment) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} exited with ${code}`))));
  });
}

/** The app settings a bench script was started with (runBenchProcess). */
export function benchSettings(): Record<string, string> {
  return JSON.parse(process.env.BENCH_SETTINGS ?? '{}') as Record<string, string>;
}

/**
 * Stores the month's days in the daily rollups in a process of its own, as the daily ingest timer would have
 * across the month: what a close from the daily rollups reads. Answers the seconds it took.
 */
export async function ingestMonthInAChildProcess(month: string, environment: Record<string, string>, heapMb: number): Promise<number> {
  const started = performance.now();
  await runBenchProcess('ingest-month.js', { ...environment, BENCH_INGEST_MONTH: month }, heapMb);
  return (performance.now() - started) / 1000;
}
