/**
 * How fast the cost page loads against the local API with 10,000 users: the real `demo` command closes a
 * month of 10,000 users in 50 teams into a fresh Azurite, `serve` hosts the API and the page, and Debian's
 * Chromium (playwright-core) opens the page as a lead, a member and finance. For each, after signing in once,
 * the page is reloaded several times and the time from navigation start to the figures being on screen
 * (the page sets main[data-ready] after its last API answer is drawn) is printed: the first view after
 * sign-in (from the view's start) and the median and worst full page loads. The API's own first (cache-cold)
 * reads are timed before, apart from the page. A figure to watch, not a timed test.
 *
 *   npx tsx bench/page.bench.ts [--users 10000] [--teams 50] [--reloads 5]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startAzurite } from '../shared/adapters/local/azurite.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';

const { values } = parseArgs({ options: { users: { type: 'string', default: '10000' }, teams: { type: 'string', default: '50' }, reloads: { type: 'string', default: '5' } } });
const MONTH = '2026-10';
const CLI = path.join(PROJECT_ROOT, 'cli', 'main.ts');

function run(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${args[0]} exited ${code}`))));
  });
}

function serve(out: string, env: Record<string, string>): Promise<{ child: ChildProcess; origin: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0', '--out', out], { cwd: PROJECT_ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1', ...env } });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /Cost page on (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (match) resolve({ child, origin: match[1]! });
    });
    child.on('close', (code) => reject(new Error(`serve exited ${code}`)));
  });
}

const out = await mkdtemp(path.join(os.tmpdir(), 'page-bench-'));
const azurite = await startAzurite();
let server: { child: ChildProcess; origin: string } | undefined;
try {
  const env = { STORAGE_CONNECTION_STRING: azurite.connectionString, TABLE_PREFIX: 'pagebench' };
  const started = performance.now();
  await run(['demo', '--month', MONTH, '--users', values.users!, '--teams', values.teams!, '--out', out], env);
  console.log(`demo month ${MONTH}: ${values.users} users in ${values.teams} teams closed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  server = await serve(out, env);
  const people = ((await (await fetch(`${server.origin}/api/dev/sign-in/users`)).json()) as { users: { userId: string; description: string }[] }).users;
  const roles = [people.find((p) => p.description.startsWith('Lead of'))!, people.find((p) => p.description.startsWith('Member of'))!, people.find((p) => p.description.startsWith('Finance'))!];

  // The API's own first reads (its cache cold), apart from the page: the whole month for finance's list, one
  // team partition for a lead. The page loads below then measure the page on a warm API.
  const token = async (userId: string) =>
    ((await (await fetch(`${server!.origin}/api/dev/sign-in/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })).json()) as { accessToken: string }).accessToken;
  const timed = async (url: string, userId: string) => {
    const authorization = `Bearer ${await token(userId)}`;
    const begun = performance.now();
    const response = await fetch(url, { headers: { authorization } });
    await response.arrayBuffer();
    return `${(performance.now() - begun).toFixed(0)} ms (${response.status})`;
  };
  const financeCold = await timed(`${server.origin}/api/teams?month=${MONTH}`, roles[2]!.userId);
  const mine = (await (await fetch(`${server.origin}/api/me/costs?month=${MONTH}`, { headers: { authorization: `Bearer ${await token(roles[0]!.userId)}` } })).json()) as { byTeam: { teamId: string }[] };
  const leadCold = await timed(`${server.origin}/api/teams/${mine.byTeam[0]!.teamId}/costs?month=${MONTH}`, roles[0]!.userId);
  console.log(`\nAPI first reads (cache cold): GET /api/teams ${financeCold}; a lead's GET /api/teams/{team}/costs ${leadCold}`);

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  console.log(`\nPage load, navigation start to figures on screen (${values.reloads} reloads after the first):`);
  for (const person of roles) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.origin}/api/web/`);
    await page.click(`button.person[data-user-id="${person.userId}"]`);
    await page.waitForSelector('main[data-ready]');
    // The first view after sign-in: the page's own start (assets cached from here on) on the API warmed above.
    const cold = Number(await page.getAttribute('main', 'data-rendered-ms'));
    const loads: number[] = [];
    for (let index = 0; index <= Number(values.reloads); index += 1) {
      await page.reload();
      await page.waitForSelector('main[data-ready]');
      loads.push(await page.evaluate(() => performance.now()));
    }
    loads.sort((a, b) => a - b);
    const rows = await page.locator('tr').count();
    console.log(
      `  ${person.description.padEnd(28)} first view after sign-in ${cold.toFixed(0).padStart(4)} ms   page load median ${loads[Math.floor(loads.length / 2)]!.toFixed(0).padStart(4)} ms   worst ${loads.at(-1)!.toFixed(0).padStart(4)} ms   (${rows} table rows)`,
    );
    await context.close();
  }
  await browser.close();
} finally {
  server?.child.kill('SIGTERM');
  await azurite.stop();
  await rm(out, { recursive: true, force: true });
}
