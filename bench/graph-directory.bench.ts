/**
 * How many Graph calls GraphDirectory needs for a large tenant, against the msw stub (no network).
 * Run: npx tsx bench/graph-directory.bench.ts [sizes...]   (default 10000 100000)
 */
import { setupServer } from 'msw/node';
import { graphClientWithAuthProvider } from '../shared/adapters/azure/graph-client.js';
import { GraphDirectory } from '../shared/adapters/azure/graph-directory.js';
import { fakeAuthProvider, graphStub, syntheticTenant } from '../test/support/graph-stub.js';

const TEAMS = 50;
const LEFTOVER_SHARE = 0.01;
const BATCH_LIMIT = 20;

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const server = setupServer();
server.listen({ onUnhandledRequest: 'error' });

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

for (const size of sizes.length > 0 ? sizes : [10_000, 100_000]) {
  const { tenant, userIds, leftoverCount } = syntheticTenant({ users: size, teams: TEAMS, leftoverShare: LEFTOVER_SHARE });
  const stub = graphStub(tenant);
  server.resetHandlers(...stub.handlers);
  const directory = new GraphDirectory({
    client: graphClientWithAuthProvider(fakeAuthProvider),
    strategy: { kind: 'group-prefix', prefix: 'team-' },
    sleep: async () => {},
  });
  global.gc?.();
  peakRss = process.memoryUsage().rss;
  const rssBefore = peakRss;
  const started = performance.now();

  const resolution = await directory.resolve(userIds);

  const elapsed = performance.now() - started;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const stats = directory.stats;
  const deletedCount = tenant.deletedUsers?.length ?? 0;
  const listTarget = Math.ceil(size / 999) + TEAMS * 2;
  const batchTarget = Math.ceil(leftoverCount / BATCH_LIMIT) + Math.ceil(deletedCount / BATCH_LIMIT);
  const allocated = [...resolution.users.values()].filter((user) => user.teamId !== '_unallocated').length;

  console.log(`\n${size.toLocaleString('en')} users, ${TEAMS} team groups, ${leftoverCount} only resolvable one by one (${deletedCount} deleted)`);
  console.log(`  listing calls      ${stats.listCalls}   (target ceil(N/999) + teams x 2 = ${listTarget}; 1 groups page + member pages + owners pages)`);
  console.log(`  $batch calls       ${stats.batchCalls}   (target ceil(leftovers/20) + ceil(deleted/20) = ${batchTarget}); ${stats.batchSubRequests} sub-requests`);
  console.log(`  Graph calls total  ${stats.calls}   (stub saw ${stub.counts.http} HTTP requests)`);
  console.log(`  resolved           ${resolution.users.size} users (${allocated} in a team), ${resolution.teams.size} teams, ${resolution.notes.length} notes`);
  console.log(`  wall time          ${(elapsed / 1000).toFixed(2)} s`);
  console.log(`  RSS                ${mib(rssBefore)} before, ${mib(peakRss)} peak (sampled every 20 ms; includes the in-memory tenant and msw)`);
}

clearInterval(sampler);
server.close();
