export interface Clock {
  now(): Date;
}

/** Structured enough for Application Insights, readable enough for a terminal. */
export interface Logger {
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
  /** A step of a long run: the CLI shows it as progress, a function logs it. */
  progress(step: string, message: string): void;
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  progress: () => undefined,
};
