import { AsyncLocalStorage } from 'node:async_hooks';
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

const runningInvocation = new AsyncLocalStorage<Logger>();

/**
 * Runs a trigger's handler with its invocation's logger as the current one, so that process-scoped services
 * (built once, with `invocationScopedLogger`) log into the invocation that is running, not into the first
 * one, whose context the host has already closed.
 */
export function inInvocationScope<Input, Output>(
  handler: (input: Input, context: InvocationContext) => Promise<Output>,
): (input: Input, context: InvocationContext) => Promise<Output> {
  return (input, context) => runningInvocation.run(invocationLogger(context), () => handler(input, context));
}

/** The logger of the invocation running now; `fallback` outside any (a service built or used by a test or a script). */
export function invocationScopedLogger(fallback: Logger): Logger {
  const current = () => runningInvocation.getStore() ?? fallback;
  return {
    info: (message, properties) => current().info(message, properties),
    warn: (message, properties) => current().warn(message, properties),
    error: (message, properties) => current().error(message, properties),
    progress: (step, message) => current().progress(step, message),
  };
}
