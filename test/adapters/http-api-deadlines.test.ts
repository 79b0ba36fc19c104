/**
 * A storage account that stops answering (here: a paused proxy in front of the real Azurite, the same thing a
 * paused Azurite process does to a client) must not hang a cost API request: the call is given up at its
 * deadline, the SDK request is cancelled, and the caller gets 503 with a retryable code and Retry-After.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teamCostsHandler } from '../../functions/http-team-costs.js';
import { teamsHandler } from '../../functions/http-teams.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableDailyRollupStore } from '../../shared/adapters/azure/table-daily-rollup-store.js';
import { TableCloseRegistry } from '../../shared/adapters/azure/table-ledger.js';
import { TableRollupStore } from '../../shared/adapters/azure/table-rollup-store.js';
import type { CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, localVerifier, mintLocalToken, type LocalSigningKey } from '../../shared/adapters/local/local-token-issuer.js';
import { FINANCE_ROLE } from '../../shared/domain/access.js';
import { cachedCostLookup } from '../../shared/adapters/http/cached-cost-reads.js';
import { invoke } from '../support/http-api.js';
import { fixedClock, StaticDirectory } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** Forwards TCP to Azurite until paused; paused, it accepts and holds connections and forwards nothing. */
class PausableProxy {
  paused = false;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => {});
      const upstream = net.connect(this.target);
      upstream.on('error', () => client.destroy());
      client.on('data', (chunk) => {
        if (!this.paused) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!this.paused) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  /** A paused proxy also stops answering on the connections already open (kept alive by the SDK). */
  pause(): void {
    this.paused = true;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const MONTH = '2026-10';
const FINANCE = '0e000000-0000-4000-8000-000000000001';
let proxy: PausableProxy;
let key: LocalSigningKey;
let services: CostApiServices;
/** Every signal the lookup handed to the close registry. */
const signals: AbortSignal[] = [];

beforeAll(async () => {
  const connection = azuriteConnectionString();
  const endpoint = new URL(/TableEndpoint=([^;]+)/.exec(connection)![1]!);
  proxy = new PausableProxy({ host: endpoint.hostname, port: Number(endpoint.port) });
  const port = await proxy.listen();
  const throughProxy = connection.replace(/TableEndpoint=http:\/\/[^/;]+/, `TableEndpoint=http://127.0.0.1:${port}`);
  const [rollups, closes, daily] = await Promise.all([
    TableRollupStore.create(tableClientFor(throughProxy, uniqueTableName('deadlinerollups'))),
    TableCloseRegistry.create(tableClientFor(throughProxy, uniqueTableName('deadlinecloses'))),
    TableDailyRollupStore.create(tableClientFor(throughProxy, uniqueTableName('deadlinedaily')), tableClientFor(throughProxy, uniqueTableName('deadlinetotals'))),
  ]);
  await closes.put({ month: MONTH, revision: 1, fingerprint: 'f', closedAt: new Date('2026-11-02T06:00:00Z'), priceBookVersion: 'v', totalMinorUnits: '0', currency: 'USD' });
  key = await createLocalSigningKey();
  const clock = fixedClock('2026-11-10T12:00:00Z');
  services = {
    costLookup: cachedCostLookup({
      rollups,
      closes: {
        get: (month, options) => {
          if (options?.signal) signals.push(options.signal);
          return closes.get(month, options);
        },
      },
      dailyRollups: daily,
      directory: new StaticDirectory({ users: new Map(), teams: new Map([['platform', { id: 'platform', name: 'Platform', leads: [] }]]), notes: [] }),
      clock,
      settings: { timeZone: 'UTC', roles: { finance: FINANCE_ROLE }, cacheTtlSeconds: 0, callTimeoutMs: 300 },
    }),
    accessTokens: localVerifier(key, { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, now: () => clock.now() }),
  };
});

afterAll(async () => {
  await proxy.close();
});

describe('a storage account that stops answering', () => {
  it('answers 503 UNAVAILABLE with Retry-After instead of hanging, and cancels the storage request', async () => {
    const token = await mintLocalToken(key, { userId: FINANCE, roles: [FINANCE_ROLE], tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, issuedAt: new Date('2026-11-10T12:00:00Z') });
    const headers = { authorization: `Bearer ${token}` };
    // Answered while the store answers.
    expect((await invoke(teamsHandler(async () => services), `teams?month=${MONTH}`, { headers })).status).toBe(200);

    proxy.pause();
    const logs: string[] = [];
    for (const response of [
      await invoke(teamsHandler(async () => services), `teams?month=${MONTH}`, { headers, log: (line) => logs.push(line) }),
      await invoke(teamCostsHandler(async () => services), `teams/platform/costs?month=${MONTH}`, { headers, params: { team: 'platform' }, log: (line) => logs.push(line) }),
    ]) {
      expect(response.status).toBe(503);
      expect(response.json.error.code).toBe('UNAVAILABLE');
      expect(response.headers.get('retry-after')).toBe('5');
    }
    expect(logs.join('\n')).toContain('TIMEOUT');
    // The storage calls were told to give up (the SDK passes the signal on and aborts its HTTP request).
    expect(signals.length).toBeGreaterThan(1);
    expect(signals.at(-1)!.aborted).toBe(true);
    expect(signals.at(-1)!.reason).toMatchObject({ code: 'TIMEOUT', retryable: true });
  });
});
