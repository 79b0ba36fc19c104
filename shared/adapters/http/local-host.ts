/**
 * Hosts the cost API's Functions handlers over node:http, for the local `serve` command and the benchmark.
 * Each request becomes the same HttpRequest + InvocationContext the Functions host would build, so the code
 * under test locally is exactly the code that runs in Azure; only routing lives here.
 */
import functions, { type HttpResponseInit } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../ports/runtime.js';
import { costApiHandler, type CostApiHandler, type CostApiServicesGetter, type CostEndpoint } from './cost-api.js';

// The package is CommonJS and Node's ESM loader cannot see these two as named exports; the default export has them.
const { HttpRequest, InvocationContext } = functions;

export interface LocalRoute {
  /** The function name, as the Functions app registers it. */
  readonly name: string;
  /** Path segments after /api; a segment `{name}` captures a route parameter, a last `{*name}` the rest of the path. */
  readonly segments: readonly string[];
  readonly handler: CostApiHandler;
  /** GET when absent. */
  readonly methods?: readonly string[];
}

const FUNCTION_NAMES: Record<CostEndpoint, string> = { 'team-costs': 'teamCosts', 'all-teams': 'teams', 'my-costs': 'myCosts' };

export function costApiRoutes(getServices: CostApiServicesGetter): LocalRoute[] {
  const route = (endpoint: CostEndpoint, path: string): LocalRoute => ({ name: FUNCTION_NAMES[endpoint], segments: path.split('/'), handler: costApiHandler(endpoint, getServices) });
  return [route('team-costs', 'teams/{team}/costs'), route('all-teams', 'teams'), route('my-costs', 'me/costs')];
}

export interface LocalHost {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface LocalHostOptions {
  readonly routes: readonly LocalRoute[];
  /** 0 picks a free port. */
  readonly port: number;
  /** Loopback by default: the local signing key is no secret worth exposing to the network. */
  readonly host?: string;
  readonly logger: Logger;
  /** Where `/` sends a browser (the cost page), if anywhere. */
  readonly rootRedirect?: string;
}

/** A request body the local host hands to a route (small JSON forms only). */
const MAX_BODY_BYTES = 16 * 1024;

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    serve(req, res, options).catch((error: unknown) => {
      options.logger.error(`local host: ${String(error)}`);
      if (!res.headersSent) writeJson(res, 500, { error: { code: 'INTERNAL', message: 'The request failed' } });
      else res.destroy();
    });
  });
  // Keep-alive connections would hold close() open; a local tool should stop at once.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, options: LocalHostOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '' && options.rootRedirect !== undefined) {
    res.writeHead(302, { location: options.rootRedirect, 'cache-control': 'no-store' });
    return void res.end();
  }
  if (!path.startsWith('/api/')) return writeJson(res, 404, { error: { code: 'NOT_FOUND', message: 'No such endpoint' } });
  const match = matchRoute(options.routes, path.slice('/api/'.length).split('/'));
  if (match === undefined) return writeJson(res, 404, { error: { code: 'NOT_FOUND', message: 'No such endpoint' } });
  if ('badEncoding' in match) return writeJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'The path is not valid URL encoding' } });
  const methods = match.route.methods ?? ['GET'];
  if (!methods.includes(req.method ?? '')) {
    res.setHeader('allow', methods.join(', '));
    return writeJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `Only ${methods.join(', ')} is supported` } });
  }
  const body = req.method === 'POST' ? await readBody(req) : undefined;
  // GET reads nothing from a body; drain it so the connection can be reused.
  if (body === undefined) req.resume();
  if (body === null) return writeJson(res, 413, { error: { code: 'BAD_REQUEST', message: 'The request body is too large' } });

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    url: `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`,
    headers,
    params: match.params,
    ...(body === undefined ? {} : { body: { string: body } }),
  });
  const context = new InvocationContext({ invocationId: randomUUID(), functionName: match.route.name, logHandler: logHandlerFor(options.logger) });
  writeResponse(res, await match.route.handler(request, context));
}

function matchRoute(routes: readonly LocalRoute[], segments: readonly string[]): { route: LocalRoute; params: Record<string, string> } | { badEncoding: true } | undefined {
  for (const route of routes) {
    const rest = route.segments.at(-1)?.startsWith('{*') === true;
    if (rest ? segments.length < route.segments.length - 1 : route.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let matched = true;
    for (let index = 0; index < route.segments.length && matched; index += 1) {
      const pattern = route.segments[index]!;
      const segment = segments[index] ?? '';
      if (pattern.startsWith('{*') && pattern.endsWith('}')) {
        try {
          params[pattern.slice(2, -1)] = segments.slice(index).map(decodeURIComponent).join('/');
        } catch {
          return { badEncoding: true };
        }
      } else if (pattern.startsWith('{') && pattern.endsWith('}')) {
        try {
          // The Functions host hands route parameters over decoded; so does this host.
          params[pattern.slice(1, -1)] = decodeURIComponent(segment);
        } catch {
          return { badEncoding: true };
        }
      } else {
        matched = pattern === segment;
      }
    }
    if (matched) return { route, params };
  }
  return undefined;
}

function writeResponse(res: ServerResponse, response: HttpResponseInit): void {
  const headers = new Headers(response.headers as Record<string, string> | undefined);
  let body = response.body;
  if (response.jsonBody !== undefined) {
    body = JSON.stringify(response.jsonBody);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  res.statusCode = response.status ?? 200;
  headers.forEach((value, name) => res.setHeader(name, value));
  if (body === undefined || body === null) return void res.end();
  if (typeof body === 'string' || body instanceof Uint8Array) return void res.end(body);
  throw new Error('the local host writes string or byte bodies only');
}

/** The body as text, or null when it is larger than the local host accepts. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

function logHandlerFor(logger: Logger) {
  return (level: string, ...args: unknown[]): void => {
    const [message, properties] = args as [unknown, Record<string, unknown> | undefined];
    const text = String(message);
    if (level === 'error' || level === 'critical') logger.error(text, properties);
    else if (level === 'warning') logger.warn(text, properties);
    else if (level === 'information') logger.info(text, properties);
  };
}
