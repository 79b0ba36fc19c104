import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../ports/runtime.js';

/** Routes the use cases' logs to the invocation, so they land in Application Insights with its id. */
export function invocationLogger(context: InvocationContext): Logger {
  const withProps = (message: string, properties?: Record<string, unknown>) => (properties ? [message, properties] : [message]);
  return {
    info: (message, properties) => context.log(...withProps(message, properties)),
    warn: (message, properties) => context.warn(...withProps(message, properties)),
    error: (message, properties) => context.error(...withProps(message, properties)),
    progress: (step, message) => context.log(`[${step}] ${message}`),
  };
}
