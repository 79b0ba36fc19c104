import type { Logger } from '../../ports/runtime.js';

/**
 * A logger for people at a terminal: progress and warnings go to stderr with the elapsed time, so stdout
 * keeps only the run's result (and can be piped).
 */
export function consoleLogger(options: { verbose?: boolean; quiet?: boolean; stream?: NodeJS.WritableStream } = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
  const write = (level: string, message: string, properties?: Record<string, unknown>) => {
    const extra = properties && options.verbose ? ` ${JSON.stringify(properties)}` : '';
    stream.write(`${stamp()} ${level}${message}${extra}\n`);
  };
  return {
    info: (message, properties) => (options.quiet ? undefined : write('', message, properties)),
    warn: (message, properties) => write('warning: ', message, properties),
    error: (message, properties) => write('error: ', message, properties),
    progress: (step, message) => (options.quiet ? undefined : write('', `[${step}] ${message}`)),
  };
}
