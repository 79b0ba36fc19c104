/**
 * Every failure the product reports carries a stable code and whether retrying the same call may succeed.
 * Adapters translate SDK errors into these at the boundary; use cases and triggers only ever see AppError.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'PRICE_BOOK_INVALID'
  | 'DIRECTORY_INVALID'
  | 'USAGE_INPUT_INVALID'
  | 'USAGE_SOURCE_UNAVAILABLE'
  | 'USAGE_PARTIAL_RESULT'
  | 'BILLED_INPUT_INVALID'
  | 'BILLED_SOURCE_UNAVAILABLE'
  | 'INVALID_ARGUMENT'
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'STORAGE_FAILED'
  | 'MAIL_FAILED'
  | 'THROTTLED'
  /** The close's controls found input that cannot be right: nothing was stored or mailed. */
  | 'CLOSE_REFUSED'
  /** Another run holds the month's lease: this one did nothing. */
  | 'BUSY'
  /** A call did not answer within its deadline: retryable. */
  | 'TIMEOUT'
  | 'INTERNAL';

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Human-readable problems, one per line, when an input has several (e.g. a price book). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; details?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? [];
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Renders an error for a person: the message, then every detail on its own line. */
export function describeError(error: unknown): string {
  if (isAppError(error)) {
    const head = `${error.code}: ${error.message}`;
    return error.details.length === 0 ? head : [head, ...error.details.map((d) => `  - ${d}`)].join('\n');
  }
  if (error instanceof Error) return `INTERNAL: ${error.message}`;
  return `INTERNAL: ${String(error)}`;
}
