/** What the benchmarks share: the generated month, phase timings from the use cases' progress, and peak RSS. */
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import type { Logger } from '../shared/ports/runtime.js';

export const BENCH_MODELS = ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-6', 'claude-opus-4-8'];

export const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/**
 * Starts this bench again with V8's old space capped at `heapMb` (a node flag), unless it already runs so;
 * answers true in the process that should go on.
 */
export function runWithHeapCap(heapMb: number, marker: string): boolean {
  if (process.env[marker] === String(heapMb)) return true;
  const child = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [marker]: String(heapMb) },
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
  peakAtEnd: number;
}

/** Turns a use case's progress steps into phase timings: a phase lasts until the next one starts. */
export function phaseRecorder(peakRss: () => number) {
  const phases: Phase[] = [];
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
      const last = phases[phases.length - 1];
      if (last?.step === step) return;
      if (last) {
        last.end = now;
        last.peakAtEnd = peakRss();
      }
      phases.push({ step, start: now, end: now, peakAtEnd: 0 });
    },
  };
  const finish = () => {
    const last = phases[phases.length - 1];
    if (last) {
      last.end = performance.now();
      last.peakAtEnd = peakRss();
    }
  };
  return { logger, phases, finish };
}
