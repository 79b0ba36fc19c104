/**
 * The cost page in a real browser: Debian's Chromium (/usr/bin/chromium, no browser download) driven by
 * playwright-core, against `serve` started as `npm run chargeback -- serve` would start it, on a demo month
 * closed by the real `demo` command. Each role signs in through the page's development sign-in; the figures
 * on screen are checked against what the API answers for the same person. Screenshots go to out/screenshots/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { cli, spawnCli } from '../support/cli.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

// Only inside page.evaluate callbacks, which run in the browser; the test project compiles without DOM types.
declare const document: any;
declare const window: any;

const CHROMIUM = '/usr/bin/chromium';
const MONTH = '2026-10';
const SCREENSHOTS = path.join(PROJECT_ROOT, 'out', 'screenshots');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Person {
  userId: string;
  name: string;
  upn: string;
  description: string;
}

/** `serve --port 0`, resolved with the page's address once it prints it. */
function startServe(out: string, env: Record<string, string>): Promise<{ child: ChildProcess; pageUrl: string; origin: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(['serve', '--port', '0', '--out', out], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Cost page on (http:\/\/127\.0\.0\.1:\d+)(\/api\/web\/)/.exec(stdout);
      if (match) resolve({ child, pageUrl: match[1]! + match[2]!, origin: match[1]! });
    });
    child.on('close', (code) => reject(new Error(`serve stopped (${code}) before printing its address:\n${stdout}\n${stderr}`)));
  });
}

const usd = (amount: string, locale = 'en-US') => new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD' }).format(Number(amount));

// Skipped on a machine without Debian's chromium, never in CI (where .ci/run installs it).
describe.skipIf(!existsSync(CHROMIUM) && process.env['CI'] !== 'true')('the cost page in Chromium', () => {
  let out: string;
  let serve: { child: ChildProcess; pageUrl: string; origin: string };
  let browser: Browser;
  let people: Person[];
  const contexts: BrowserContext[] = [];
  const timings: string[] = [];

  beforeAll(async () => {
    // `npm test` builds the page first; a direct `vitest run` of this file gets the same (a no-op when current).
    await new Promise<void>((resolve, reject) =>
      spawn(process.execPath, [path.join(PROJECT_ROOT, 'web', 'build-if-stale.mjs')], { cwd: PROJECT_ROOT, stdio: 'inherit' }).on('close', (code) => (code === 0 ? resolve() : reject(new Error(`building the page failed (${code})`)))),
    );
    out = await mkdtemp(path.join(os.tmpdir(), 'cost-page-'));
    const env = { STORAGE_CONNECTION_STRING: azuriteConnectionString(), TABLE_PREFIX: uniqueTableName('page') };
    const demo = await cli(['demo', '--month', MONTH, '--users', '60', '--teams', '4', '--out', out], env);
    expect(demo.code, demo.stderr).toBe(0);
    serve = await startServe(out, env);
    people = ((await (await fetch(`${serve.origin}/api/dev/sign-in/users`)).json()) as { users: Person[] }).users;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    serve?.child.kill('SIGTERM');
    if (timings.length > 0) process.stdout.write(`cost page render times (sign-in to figures): ${timings.join(', ')}\n`);
  });

  async function tokenFor(person: Person): Promise<string> {
    const response = await fetch(`${serve.origin}/api/dev/sign-in/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: person.userId }) });
    return ((await response.json()) as { accessToken: string }).accessToken;
  }

  async function api(person: Person, pathAndQuery: string): Promise<{ status: number; json: any }> {
    const response = await fetch(`${serve.origin}/api/${pathAndQuery}`, { headers: { authorization: `Bearer ${await tokenFor(person)}` } });
    return { status: response.status, json: await response.json() };
  }

  /** A fresh browser context (own storage), signed in through the page by keyboard: Tab to the person, Enter. */
  async function signedIn(person: Person, options: { locale?: string; width?: number; address?: string } = {}): Promise<{ page: Page; requests: { url: string; status: number }[] }> {
    const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: 900 }, locale: options.locale ?? 'en-US', bypassCSP: true });
    contexts.push(context);
    const page = await context.newPage();
    const requests: { url: string; status: number }[] = [];
    page.on('response', (response) => requests.push({ url: response.url(), status: response.status() }));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(options.address ?? `${serve.pageUrl}#month=${MONTH}`);
    const button = page.locator(`button.person[data-user-id="${person.userId}"]`);
    await button.waitFor();
    await button.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-ready]');
    timings.push(`${person.description}: ${await page.getAttribute('main', 'data-rendered-ms')} ms`);
    expect(errors).toEqual([]);
    return { page, requests };
  }

  async function figure(page: Page, name: string): Promise<string> {
    return (await page.locator(`[data-figure="${name}"]`).first().textContent())?.trim() ?? '';
  }

  async function expectNoSeriousAxeViolations(page: Page): Promise<void> {
    await page.addScriptTag({ content: await readFile(path.join(PROJECT_ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8') });
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ['violations'] });
      return result.violations.filter((v: any) => v.impact === 'serious' || v.impact === 'critical').map((v: any) => `${v.id}: ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`);
    });
    expect(violations).toEqual([]);
  }

  const lead = () => people.find((person) => person.description.startsWith('Lead of'))!;
  const member = () => people.find((person) => person.description.startsWith('Member of'))!;
  const finance = () => people.find((person) => person.description.startsWith('Finance'))!;

  it('opens on the demo month for a lead coming in at the server root, and shows the figures the API gives that lead', async () => {
    const { page } = await signedIn(lead(), { address: `${serve.origin}/` });
    expect(await page.getAttribute('main', 'data-ready')).toMatch(new RegExp(`^${MONTH}\\|`));
    expect(await page.inputValue('#month')).toBe(MONTH);
    const teamId = (await page.getAttribute('[data-view="team-full"]', 'data-team-id'))!;
    const answer = await api(lead(), `teams/${teamId}/costs?month=${MONTH}`);
    expect(answer.status).toBe(200);
    expect(answer.json.access).toBe('lead');
    expect(answer.json.source).toMatchObject({ status: 'closed', revision: 1 });

    expect(await figure(page, 'team-total')).toBe(usd(answer.json.total.amount));
    expect(await figure(page, 'source')).toContain('revision 1');
    if (answer.json.budget !== null) expect(await figure(page, 'budget')).toBe(usd(answer.json.budget.amount));
    if (answer.json.forecast !== null) expect(await figure(page, 'forecast')).toBe(usd(answer.json.forecast.amount));
    const rows = page.locator('tr[data-user-id]');
    expect(await rows.count()).toBe(answer.json.breakdown.byUser.length);
    for (const user of answer.json.breakdown.byUser.slice(0, 5)) {
      expect((await page.locator(`tr[data-user-id="${user.userId}"] [data-figure="amount"]`).textContent())?.trim()).toContain(usd(user.amount));
    }
    for (const model of answer.json.breakdown.byModel) {
      expect((await page.locator(`tr[data-model="${model.model}"] [data-figure="amount"]`).textContent())?.trim()).toContain(usd(model.amount));
    }
    expect(await page.locator('canvas[role="img"]').count()).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'lead-desktop.png'), fullPage: true });
    await expectNoSeriousAxeViolations(page);

    await page.setViewportSize({ width: 320, height: 800 });
    // Chart.js redraws on its ResizeObserver's next callback.
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 320, undefined, { timeout: 2000 }).catch(() => undefined);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'lead-320px.png'), fullPage: true });
    await expectNoSeriousAxeViolations(page);
  });

  it('signs in with MSAL where the server says so: a PKCE authorization request for the API scope, nothing local offered', async () => {
    const tenant = '11111111-2222-3333-4444-555555555555';
    const client = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    // The Functions app's config.json, as functions/http-web.ts builds it from AUTH_* settings.
    await page.route('**/api/web/config.json', (route) =>
      route.fulfill({ contentType: 'application/json', body: JSON.stringify({ signIn: { kind: 'msal', tenantId: tenant, clientId: client, scopes: [`api://${client}/Costs.Read`] } }) }),
    );
    // Entra, stubbed: the metadata MSAL reads first, then the authorize request it navigates to.
    const authorize: string[] = [];
    await context.route('https://login.microsoftonline.com/**', (route) => {
      const url = route.request().url();
      if (url.includes('openid-configuration')) {
        const base = `https://login.microsoftonline.com/${tenant}`;
        return route.fulfill({
          contentType: 'application/json',
          body: JSON.stringify({
            issuer: `${base}/v2.0`,
            authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
            token_endpoint: `${base}/oauth2/v2.0/token`,
            end_session_endpoint: `${base}/oauth2/v2.0/logout`,
            jwks_uri: `${base}/discovery/v2.0/keys`,
          }),
        });
      }
      authorize.push(url);
      return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Entra stub</title>' });
    });
    await page.goto(`${serve.pageUrl}#month=${MONTH}`);
    const button = page.getByRole('button', { name: 'Sign in with Microsoft' });
    await button.waitFor();
    expect(await page.locator('button.person').count()).toBe(0);
    await button.click();
    await page.waitForURL(/login\.microsoftonline\.com/);
    const request = new URL(authorize.find((url) => url.includes('/oauth2/v2.0/authorize'))!);
    expect(request.pathname).toBe(`/${tenant}/oauth2/v2.0/authorize`);
    expect(request.searchParams.get('client_id')).toBe(client);
    expect(request.searchParams.get('response_type')).toBe('code');
    expect(request.searchParams.get('code_challenge_method')).toBe('S256');
    expect(request.searchParams.get('scope')).toContain(`api://${client}/Costs.Read`);
    expect(request.searchParams.get('redirect_uri')).toBe(serve.pageUrl);
  });

  it('moves between months with the keyboard, and an empty month says so rather than showing zeros as spend', async () => {
    const { page } = await signedIn(lead());
    await page.focus('#previous-month');
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-ready^="2026-09|"]');
    expect(await page.inputValue('#month')).toBe('2026-09');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('previous-month');
    expect(await figure(page, 'source')).toMatch(/Month to date/);
  });

  it("does not show a lead another team's costs, through the page or its requests", async () => {
    const own = await api(lead(), `me/costs?month=${MONTH}`);
    const ownTeam = own.json.byTeam.find((team: any) => team.teamId !== '_unallocated').teamId;
    const all = await api(finance(), `teams?month=${MONTH}`);
    const other = all.json.teams.find((team: any) => team.teamId !== ownTeam && team.teamId !== '_unallocated').teamId;

    const { page, requests } = await signedIn(lead(), { address: `${serve.pageUrl}#month=${MONTH}&team=${other}` });
    expect(await page.locator('[data-problem="403"]').count()).toBe(1);
    expect(await page.locator('[data-view]').count()).toBe(0);
    const costRequests = requests.filter((request) => /\/api\/teams/.test(request.url));
    expect(costRequests.some((request) => request.url.includes(`/api/teams/${other}/costs`))).toBe(true);
    // Every answer about another team (and the all-teams list) was refused by the API.
    for (const request of costRequests.filter((request) => !request.url.includes(`/api/teams/${ownTeam}/`))) expect(request.status, request.url).toBe(403);
    expect(await page.content()).not.toContain(all.json.teams.find((team: any) => team.teamId === other).amount);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'lead-other-team-refused.png') });
  });

  it("shows a member their own cost and the team's total, and nobody else's figures", async () => {
    const { page } = await signedIn(member());
    const teamId = (await page.getAttribute('[data-view="member"]', 'data-team-id'))!;
    const answer = await api(member(), `teams/${teamId}/costs?month=${MONTH}`);
    expect(answer.json.view).toBe('own-lines-and-team-total');
    expect(await figure(page, 'team-total')).toBe(usd(answer.json.total.amount));
    expect(await figure(page, 'own-total')).toBe(usd(answer.json.breakdown.total.amount));
    expect(await page.locator('tr[data-user-id]').count()).toBe(0);
    expect(await figure(page, 'own-total')).not.toBe(await figure(page, 'team-total'));
    await page.screenshot({ path: path.join(SCREENSHOTS, 'member-desktop.png'), fullPage: true });
    await expectNoSeriousAxeViolations(page);
  });

  it('shows finance every team, sortable and filterable, in the reader’s locale, with a CSV of the view', async () => {
    const { page } = await signedIn(finance(), { locale: 'de-DE' });
    const answer = await api(finance(), `teams?month=${MONTH}`);
    expect(await figure(page, 'org-total')).toBe(usd(answer.json.total.amount, 'de-DE'));
    expect(await figure(page, 'revision')).toBe(String(answer.json.source.revision));
    const unallocated = answer.json.teams.find((team: any) => team.teamId === '_unallocated');
    expect(await figure(page, 'unallocated')).toBe(usd(unallocated.amount, 'de-DE'));
    expect(await page.locator('tr[data-team-id]').count()).toBe(answer.json.teams.length);
    for (const team of answer.json.teams) {
      expect((await page.locator(`tr[data-team-id="${team.teamId}"] [data-figure="amount"]`).textContent())?.trim()).toBe(usd(team.amount, 'de-DE'));
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, 'finance-desktop.png'), fullPage: true });
    await expectNoSeriousAxeViolations(page);

    // Sort by name, ascending.
    await page.click('button[data-sort="name"]');
    const names = await page.locator('tr[data-team-id] th').allTextContents();
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));

    // Filter to one team, then download exactly what is shown.
    const target = answer.json.teams.find((team: any) => team.teamId !== '_unallocated');
    await page.fill('#team-filter', target.teamName);
    expect(await page.locator('tr[data-team-id]').count()).toBe(1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download CSV (this view)')]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(`${MONTH},${target.teamId},`);
    expect(lines[1]).toContain(`,${target.amount},USD,`);

    // A team opens in full for finance.
    await page.fill('#team-filter', '');
    await page.click(`tr[data-team-id="${target.teamId}"] a`);
    await page.waitForSelector(`[data-view="team-full"][data-team-id="${target.teamId}"]`);
    await page.setViewportSize({ width: 320, height: 800 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'finance-team-320px.png'), fullPage: true });
  });
}, 240_000);
