/**
 * The team cost API under a steady load, on the local stack: an in-memory Azurite holding a month of 10,000
 * users in 50 teams (synthesized rollup lines, ~2 per user, ~21 days each), the directory file, and the
 * Functions handlers served over node:http in this process (the `serve` command's server). autocannon, in a
 * worker thread, sends a fixed 200 requests/s for 20 s over 20 connections, alternating team lookups by the
 * team's lead and by finance across all teams. Prints first-hit (uncached) latency per team, then steady-state
 * p50/p99 and throughput. Target: p99 <= 25 ms with no errors.
 *
 * How the load is shaped (--load): autocannon's `overallRate` gives each connection rate/connections requests
 * a second, sent back to back as soon as each response arrives, and every connection's second starts at the
 * same instant. So 'aligned' (autocannon's own shape) fires all 200 requests of a second within ~150 ms, 20 at
 * a time. 'staggered' (the default) runs one autocannon per connection at the same per-connection rate, their
 * seconds started connections/rate apart, so the same 200 requests/s arrive spread over the second, as
 * independent clients' would. Both run the same requests over the same number of connections.
 *
 * Either way the load generator is warmed up first (a short unmeasured run in the same worker), because
 * autocannon builds its clients synchronously: cold, that blocks its thread for tens of milliseconds while the
 * first requests are already on the clock, and those milliseconds (not the server's) would be the run's
 * maximum. Latency figures are autocannon's (which back-fills 1 ms-spaced samples for every slow response, its
 * coordinated-omission correction) and, next to them, the raw per-request percentiles.
 *
 *   npm run bench:api      (or: npx tsx --expose-gc bench/api.bench.ts --users 10000 --teams 50 --rate 200 --seconds 20)
 *   add --no-cache to measure every request going to Table Storage (COST_CACHE_TTL_SECONDS=0)
 *   add --load aligned for autocannon's own burst-per-second shape
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { tableClientFor } from '../shared/adapters/azure/table-client.js';
import { TableCloseRegistry } from '../shared/adapters/azure/table-ledger.js';
import { TableRollupStore } from '../shared/adapters/azure/table-rollup-store.js';
import { startAzurite } from '../shared/adapters/local/azurite.js';
import { seededRandom } from '../cli/demo-generator.js';
import { createLocalSigningKey, LOCAL_AUDIENCE, LOCAL_TENANT_ID, mintLocalToken } from '../shared/adapters/local/local-token-issuer.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings, SETTING } from '../shared/config/settings.js';
import { FINANCE_ROLE } from '../shared/domain/access.js';
import { UNALLOCATED_TEAM } from '../shared/domain/directory.js';
import { money, sumMoney, toMinorUnits, type Money } from '../shared/domain/money.js';
import { daysOfMonth } from '../shared/domain/periods.js';
import type { DayUsage, MonthlyLine } from '../shared/domain/rollup.js';
import { zeroTokens } from '../shared/domain/tokens.js';
import { silentLogger } from '../shared/ports/runtime.js';
import { startCostApiServer } from '../cli/serve.js';

interface AutocannonRequest {
  method: 'GET';
  path: string;
  headers: Record<string, string>;
}
interface AutocannonResult {
  latency: Record<'p50' | 'p90' | 'p99' | 'max' | 'average', number>;
  requests: { average: number; total: number };
  throughput: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
interface LoadOptions {
  url: string;
  connections: number;
  rate: number;
  seconds: number;
  warmUpSeconds: number;
  shape: 'aligned' | 'staggered';
  requests: AutocannonRequest[];
}
interface LoadResult {
  result: AutocannonResult;
  /** Every response's latency in ms, as autocannon timed it, without the back-filled samples. */
  raw: number[];
}

/**
 * The load generator, run in a worker thread so its own parsing does not share the server's event loop. Plain
 * JavaScript source (eval) so the bench runs the same compiled or under tsx. The worker runs autocannon itself
 * (autocannon's `workers` option would start a fresh, cold thread for every run, warm-up included) and combines
 * the per-connection runs with autocannon's own aggregateResult, so the figures are autocannon's statistics.
 */
const LOAD_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const autocannon = require(workerData.autocannonPath);
const { url, connections, rate, seconds, warmUpSeconds, shape, requests } = workerData.load;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function run(duration, raw) {
  const single = (options) => {
    const instance = autocannon({ url, duration, requests, ...options });
    if (raw) instance.on('response', (_client, _status, _bytes, latency) => raw.push(latency));
    return instance;
  };
  if (shape === 'aligned') return [await single({ connections, overallRate: rate })];
  // One connection per autocannon run, each at its share of the rate (as overallRate splits it), started
  // evenly over the second.
  const runs = [];
  for (let index = 0; index < connections; index += 1) {
    const share = Math.floor(rate / connections) + (index < rate % connections ? 1 : 0);
    runs.push(single({ connections: 1, connectionRate: share }));
    await sleep(1000 / connections);
  }
  return Promise.all(runs);
}
(async () => {
  await run(warmUpSeconds, null);
  const raw = [];
  const results = await run(seconds, raw);
  const result = autocannon.aggregateResult(results, { url, connections });
  // aggregateResult leaves the per-second request and byte rates to its caller: each run lasted the given seconds.
  result.requests.average = result.requests.total / seconds;
  result.throughput.average = result.throughput.total / seconds;
  parentPort.postMessage({ result, raw });
})().catch((error) => { throw error; });
`;

function runLoad(load: LoadOptions): Promise<LoadResult> {
  const autocannonPath = createRequire(import.meta.url).resolve('autocannon');
  const worker = new Worker(LOAD_WORKER_SOURCE, { eval: true, workerData: { autocannonPath, load } });
  return new Promise((resolve, reject) => {
    worker.once('message', (message: LoadResult) => resolve(message));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the load worker exited (${code}) without a result`)));
  });
}

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    teams: { type: 'string', default: '50' },
    month: { type: 'string', default: '2026-10' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '20' },
    load: { type: 'string', default: 'staggered' },
    'no-cache': { type: 'boolean', default: false },
  },
});
const USERS = Number(values.users);
const TEAMS = Number(values.teams);
const MONTH = values.month!;
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const TARGET_P99_MS = 25;
const LOAD_SHAPE = values.load === 'aligned' ? 'aligned' : 'staggered';
if (values.load !== LOAD_SHAPE) throw new Error('--load must be staggered or aligned');

const MODELS = [
  { model: 'claude-sonnet-4-6', tier: 'Claude.Standard', input: '3', output: '15' },
  { model: 'claude-haiku-4-5', tier: 'Claude.Standard', input: '1', output: '5' },
  { model: 'claude-opus-4-6', tier: 'Claude.Premium', input: '5', output: '25' },
];
const MILLION = money(1_000_000);

const oid = (kind: number, n: number) => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const teamId = (index: number) => `team-${String(index + 1).padStart(2, '0')}`;

function organization() {
  const teams = Array.from({ length: TEAMS }, (_, index) => ({ id: teamId(index), name: `Team ${index + 1}`, leads: [`lead${index + 1}@contoso.example`] }));
  const users = Array.from({ length: USERS }, (_, n) => {
    const team = n % TEAMS;
    // The first member of each team is its lead.
    const upn = n < TEAMS ? `lead${team + 1}@contoso.example` : `user${n}@contoso.example`;
    return { userId: oid(1, n), teamId: teamId(team), displayName: `User ${n}`, upn, status: 'member' as const };
  });
  return { teams, users };
}

function linesFor(org: ReturnType<typeof organization>): MonthlyLine[] {
  const workdays = daysOfMonth(MONTH).filter((day) => ![0, 6].includes(new Date(`${day}T00:00:00Z`).getUTCDay()));
  const lines: MonthlyLine[] = [];
  const addLine = (teamId: string, userId: string, userName: string, upn: string, allocation: MonthlyLine['allocation'], choice: (typeof MODELS)[number], random: () => number) => {
    const days: DayUsage[] = workdays
      .filter(() => random() < 0.9)
      .map((day) => {
        const input = Math.floor(20_000 + random() * 2_000_000);
        const output = Math.floor(input * (0.03 + random() * 0.05));
        const cost = money(choice.input).times(input).plus(money(choice.output).times(output)).dividedBy(MILLION);
        return { day, tokens: { ...zeroTokens(), input, output }, requests: 1 + Math.floor(random() * 80), cost, priceEntryId: `${choice.model}@2026-01-01` };
      });
    if (days.length === 0) return;
    const tokens = zeroTokens();
    for (const day of days) {
      tokens.input += day.tokens.input;
      tokens.output += day.tokens.output;
    }
    lines.push({
      month: MONTH,
      teamId,
      userId,
      model: choice.model,
      tier: choice.tier,
      allocation,
      userName,
      upn,
      pricedModel: choice.model,
      tokens,
      requests: days.reduce((sum, day) => sum + day.requests, 0),
      cost: sumMoney(days.map((day) => day.cost as Money)),
      unpricedTokens: zeroTokens(),
      currency: 'USD',
      priceEntryIds: [`${choice.model}@2026-01-01`],
      days,
    });
  };
  for (const user of org.users) {
    const random = seededRandom(7, 'api-bench', user.userId);
    const count = 1 + Math.floor(random() * 3);
    for (const choice of MODELS.slice(0, count)) addLine(user.teamId, user.userId, user.displayName, user.upn, 'team', choice, random);
  }
  // A few hundred oids the directory does not know, as a real tenant has.
  for (let n = 0; n < Math.round(USERS * 0.02); n += 1) addLine(UNALLOCATED_TEAM, oid(2, n), '', '', 'unknown-user', MODELS[0]!, seededRandom(7, 'unknown', n));
  return lines;
}

async function seed(org: ReturnType<typeof organization>, connectionString: string, tablePrefix: string): Promise<number> {
  const lines = linesFor(org);
  const started = performance.now();
  const store = await TableRollupStore.create(tableClientFor(connectionString, `${tablePrefix}Rollups`));
  await store.replaceMonth(MONTH, lines);
  // The month counts as closed, so the API answers it from these rollups (an open month reads the daily store).
  const closes = await TableCloseRegistry.create(tableClientFor(connectionString, `${tablePrefix}Closes`));
  const total = sumMoney(lines.map((line) => line.cost));
  await closes.put({ month: MONTH, revision: 1, fingerprint: 'api-bench', closedAt: new Date(), priceBookVersion: 'api-bench', totalMinorUnits: toMinorUnits(total).toString(), currency: 'USD' });
  console.log(`\nSeeded ${lines.length.toLocaleString('en')} rollup lines (${USERS.toLocaleString('en')} users, ${TEAMS} teams) into Azurite in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return lines.length;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

const workDir = await mkdtemp(path.join(os.tmpdir(), 'api-bench-'));
const azurite = await startAzurite();
try {
  const org = organization();
  const directoryFile = path.join(workDir, 'directory.json');
  await writeFile(directoryFile, JSON.stringify(org));
  const tablePrefix = 'apibench';
  // Seeded in a function of its own so the generated lines are garbage before the load starts: the server
  // must not be measured against the bench's own heap.
  const lineCount = await seed(org, azurite.connectionString, tablePrefix);
  (globalThis as { gc?: () => void }).gc?.();

  const settings = loadSettings(
    {
      [SETTING.storageConnection]: azurite.connectionString,
      [SETTING.tablePrefix]: tablePrefix,
      [SETTING.directoryFile]: directoryFile,
      [SETTING.usageFiles]: path.join(workDir, 'unused.ndjson'),
      [SETTING.outboxDir]: path.join(workDir, 'outbox'),
      [SETTING.artifactsDir]: path.join(workDir, 'reports'),
      [SETTING.costCacheTtlSeconds]: values['no-cache'] ? '0' : '60',
    },
    { projectRoot: PROJECT_ROOT },
  );
  const key = await createLocalSigningKey();
  const server = await startCostApiServer({ settings, key, port: 0, logger: silentLogger });
  const claims = { tenantId: LOCAL_TENANT_ID, audience: LOCAL_AUDIENCE, expiresInSeconds: 3600 };
  const financeToken = await mintLocalToken(key, { ...claims, userId: oid(3, 1), roles: [FINANCE_ROLE], upn: 'finance@contoso.example' });
  const leadTokens = await Promise.all(org.teams.map((_, index) => mintLocalToken(key, { ...claims, userId: oid(1, index), roles: [], upn: `lead${index + 1}@contoso.example` })));

  const requests: AutocannonRequest[] = [];
  for (let index = 0; index < TEAMS * 2; index += 1) {
    const team = index % TEAMS;
    const byLead = index % 2 === 0;
    // Finance looks at a different team than the lead just did, so both paths see every team.
    const target = byLead ? team : (team + 17) % TEAMS;
    requests.push({
      method: 'GET',
      path: `/api/teams/${teamId(target)}/costs?month=${MONTH}`,
      headers: { authorization: `Bearer ${byLead ? leadTokens[team] : financeToken}` },
    });
  }

  // First hits: each one reads its team's partition from Table Storage and builds the view.
  const firstHits: number[] = [];
  for (let team = 0; team < TEAMS; team += 1) {
    const started = performance.now();
    const response = await fetch(`${server.url}/api/teams/${teamId(team)}/costs?month=${MONTH}`, { headers: { authorization: `Bearer ${leadTokens[team]}` } });
    const body = (await response.json()) as { total?: { users: number } };
    firstHits.push(performance.now() - started);
    if (response.status !== 200 || !body.total) throw new Error(`warm-up of ${teamId(team)} answered ${response.status}`);
  }
  firstHits.sort((a, b) => a - b);
  console.log(
    `First hit per team (the first reads the closed month whole, ${lineCount.toLocaleString("en-US")} lines, and the finance report; the others are slices of it): median ${ms(firstHits[Math.floor(TEAMS / 2)]!)}, max ${ms(firstHits.at(-1)!)}`,
  );

  // One request at a time, cached: the latency of the request path itself, with no queueing.
  const sequential: number[] = [];
  for (let index = 0; index < 400; index += 1) {
    const request = requests[index % requests.length]!;
    const started = performance.now();
    const response = await fetch(`${server.url}${request.path}`, { headers: request.headers });
    await response.arrayBuffer();
    sequential.push(performance.now() - started);
  }
  sequential.sort((a, b) => a - b);
  console.log(`One at a time (cached, 400 requests): p50 ${ms(sequential[200]!)}, p99 ${ms(sequential[396]!)}`);

  (globalThis as { gc?: () => void }).gc?.();
  const heapWarm = process.memoryUsage().heapUsed;
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const gcPauses: number[] = [];
  const gcObserver = new PerformanceObserver((list) => gcPauses.push(...list.getEntries().map((entry) => entry.duration)));
  gcObserver.observe({ entryTypes: ['gc'] });
  loopDelay.enable();
  const { result, raw } = await runLoad({
    url: server.url,
    connections: Number(values.connections),
    rate: RATE,
    seconds: SECONDS,
    warmUpSeconds: 2,
    shape: LOAD_SHAPE,
    requests,
  });
  raw.sort((a, b) => a - b);
  const rawAt = (fraction: number) => raw[Math.min(raw.length - 1, Math.floor(fraction * raw.length))] ?? 0;
  loopDelay.disable();
  gcObserver.disconnect();
  const heap = process.memoryUsage();
  console.log(`\nLoad: ${RATE} requests/s for ${SECONDS} s over ${values.connections} connections (${LOAD_SHAPE}), lead and finance team lookups over ${TEAMS} teams${values['no-cache'] ? ' (cache OFF)' : ' (cache TTL 60 s)'}`);
  console.log(`  requests     ${result.requests.total.toLocaleString('en')} (${result.requests.average.toFixed(0)}/s), ${(result.throughput.average / 1024).toFixed(0)} KiB/s`);
  console.log(`  latency      p50 ${ms(result.latency.p50)}   p90 ${ms(result.latency.p90)}   p99 ${ms(result.latency.p99)}   max ${ms(result.latency.max)}   mean ${ms(result.latency.average)}`);
  console.log(`  raw          p50 ${ms(rawAt(0.5))}   p90 ${ms(rawAt(0.9))}   p99 ${ms(rawAt(0.99))}   max ${ms(raw.at(-1) ?? 0)}   (${raw.length.toLocaleString('en')} responses, no back-filled samples)`);
  console.log(`  errors       ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  console.log(`  server loop  event-loop delay p50 ${ms(loopDelay.percentile(50) / 1e6)}, p99 ${ms(loopDelay.percentile(99) / 1e6)}, max ${ms(loopDelay.max / 1e6)}`);
  console.log(`  gc           ${gcPauses.length} pauses, ${ms(gcPauses.reduce((sum, pause) => sum + pause, 0))} in all, longest ${ms(Math.max(0, ...gcPauses))}`);
  console.log(`  memory       heap used after warm-up ${mib(heapWarm)} (cached views of ${TEAMS} teams), at the end ${mib(heap.heapUsed)}, rss ${mib(heap.rss)}`);
  const ok = result.latency.p99 <= TARGET_P99_MS && result.errors === 0 && result.non2xx === 0 && result.timeouts === 0;
  console.log(`  target       p99 <= ${TARGET_P99_MS} ms with no errors: ${ok ? 'met' : 'NOT met'}\n`);
  await server.close();
  process.exitCode = ok ? 0 : 1;
} finally {
  await azurite.stop();
  await rm(workDir, { recursive: true, force: true });
}
