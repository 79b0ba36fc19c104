import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * An msw server for one test file, started before its tests and reset after each. A request no handler takes
 * is an error, except towards loopback: the local Azurite the tests also talk to.
 */
export function stubRemoteHttp(): SetupServer {
  const server = setupServer();
  beforeAll(() =>
    server.listen({
      onUnhandledRequest: (request, print) => {
        if (!LOOPBACK.has(new URL(request.url).hostname)) print.error();
      },
    }),
  );
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}
