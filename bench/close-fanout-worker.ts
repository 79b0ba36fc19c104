/**
 * One worker process of the fan-out bench: drains the close's work queues with one worker, through the same
 * handlers as the queue-triggered functions, and prints what it did as one JSON line: items and time per
 * queue, the longest item, and the process's peak RSS (what one Functions instance would need).
 */
import { createServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings } from '../shared/config/settings.js';
import type { WorkHandler, WorkQueueName } from '../shared/ports/work-queues.js';
import { silentLogger, type Logger } from '../shared/ports/runtime.js';
import { closeWorkHandlers } from '../shared/use-cases/close-work.js';
import { benchSettings, mb } from './support.js';

const started = performance.now();
/** With BENCH_HEAP set (and --expose-gc), each progress step prints this worker's live heap, as the close bench does. */
const heapLogger: Logger = {
  ...silentLogger,
  progress: (step, message) => {
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    process.stderr.write(`[heap ${process.pid} at ${((performance.now() - started) / 1000).toFixed(1)} s] ${step} (${message}): ${mb(memory.heapUsed)} MB used, external ${mb(memory.external)} MB, rss ${mb(memory.rss)} MB\n`);
  },
};
const services = await createServices(loadSettings(benchSettings(), { projectRoot: PROJECT_ROOT }), { logger: process.env.BENCH_HEAP ? heapLogger : silentLogger });
if (!services.closeWork || !services.drainWorkQueues) throw new Error('the bench worker has no work queues');
const handlers = closeWorkHandlers(services.closeWork);
const byQueue: Partial<Record<WorkQueueName, { items: number; ms: number; longestMs: number }>> = {};
const timed = Object.fromEntries(
  Object.entries(handlers).map(([queue, handler]) => [
    queue,
    (async (message, meta) => {
      const itemStart = performance.now();
      try {
        await handler(message, meta);
      } finally {
        const ms = performance.now() - itemStart;
        const figures = (byQueue[queue as WorkQueueName] ??= { items: 0, ms: 0, longestMs: 0 });
        figures.items += 1;
        figures.ms += ms;
        figures.longestMs = Math.max(figures.longestMs, ms);
      }
    }) satisfies WorkHandler,
  ]),
);
const drained = await services.drainWorkQueues(timed, { workers: 1, retryDelaySeconds: 1, pollIntervalMs: [50, 250] });
process.stdout.write(
  `${JSON.stringify({
    pid: process.pid,
    seconds: (performance.now() - started) / 1000,
    byQueue,
    totals: drained.totals,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);
