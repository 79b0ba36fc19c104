import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { expect } from 'vitest';

export interface Call {
  status: number;
  headers: Headers;
  body: string;
  /** The parsed body, or undefined when it is not JSON; tests check it field by field. */
  json: any;
}

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Calls a Functions HTTP handler the way the host would, with a GET to /api/<path>. */
export async function invoke(
  handler: Handler,
  path: string,
  options: { headers?: Record<string, string>; params?: Record<string, string>; log?: (line: string) => void } = {},
): Promise<Call> {
  const request = new HttpRequest({ method: 'GET', url: `http://localhost/api/${path}`, headers: options.headers ?? {}, params: options.params ?? {} });
  const log = options.log;
  const context = new InvocationContext({
    invocationId: 'test-invocation',
    functionName: 'test',
    ...(log ? { logHandler: (_level: unknown, ...args: unknown[]) => log(args.map(String).join(' ')) } : {}),
  });
  const response = await handler(request, context);
  const body = typeof response.body === 'string' ? response.body : '';
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: response.status ?? 200, headers: new Headers(response.headers as Record<string, string>), body, json };
}

export const cents = (amount: string) => BigInt(amount.replace('.', ''));
export const sumOf = (items: { amount: string }[]) => items.reduce((sum, item) => sum + cents(item.amount), 0n);

/** Every breakdown list of a cost response adds up to its total, to the cent. */
export function expectReconciled(breakdown: any): void {
  const total = cents(breakdown.total.amount);
  expect(sumOf(breakdown.byModel)).toBe(total);
  expect(sumOf(breakdown.byTier)).toBe(total);
  expect(sumOf(breakdown.byUser)).toBe(total);
  expect(sumOf(breakdown.byDay)).toBe(total);
  if (breakdown.lines) expect(sumOf(breakdown.lines)).toBe(total);
}
