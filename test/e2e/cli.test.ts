import { TableClient } from '@azure/data-tables';
import ExcelJS from 'exceljs';
import { simpleParser } from 'mailparser';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli, type CliRun } from '../support/cli.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

async function entities(prefix: string, table: string) {
  const client = TableClient.fromConnectionString(azuriteConnectionString(), `${prefix}${table}`, { allowInsecureConnection: true });
  const rows: Record<string, unknown>[] = [];
  for await (const entity of client.listEntities()) {
    const { timestamp: _timestamp, etag: _etag, ...rest } = entity as Record<string, unknown>;
    rows.push(rest);
  }
  return rows;
}

async function files(dir: string) {
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (name) => ({ name, mtime: (await stat(path.join(dir, name))).mtimeMs })));
}

describe('the command line on the embedded default', () => {
  let out: string;
  let env: Record<string, string>;
  let prefix: string;
  let first: CliRun;

  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'cli-e2e-'));
    prefix = uniqueTableName('e2e');
    env = { STORAGE_CONNECTION_STRING: azuriteConnectionString(), TABLE_PREFIX: prefix };
    first = await cli(['demo', '--month', '2026-10', '--users', '40', '--teams', '4', '--out', out], env);
  }, 120_000);

  it('closes the demo month and prints per-team totals that add up', () => {
    expect(first.stderr).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Chargeback 2026-10 \(revision 1\)/);
    const amounts = [...first.stdout.matchAll(/^(?!Total)\S.*?\s([\d,]+\.\d\d)$/gm)].map((m) => Number(m[1]!.replace(/,/g, '')));
    const total = Number(/^Total\s.*?([\d,]+\.\d\d)$/m.exec(first.stdout)![1]!.replace(/,/g, ''));
    expect(amounts.length).toBeGreaterThan(2);
    expect(Math.round(amounts.reduce((a, b) => a + b, 0) * 100)).toBe(Math.round(total * 100));
    expect(first.stdout).toMatch(/Unallocated/);
    expect(first.stdout).toMatch(/Unpriced:\s+claude-3-unreleased-preview/);
  });

  it('leaves a workbook whose totals reconcile and whose tokens equal the tokens in the input', async () => {
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(path.join(out, 'reports', 'chargeback-2026-10.xlsx'));
    const summary = workbook.getWorksheet('Summary')!;
    const header = summary.getColumn(1).values.findIndex((v) => v === 'Team');
    const headerRow = summary.getRow(header);
    const column = (name: string) => (headerRow.values as unknown[]).findIndex((v) => v === name);
    const amountColumn = column('Amount');
    const tokensColumn = column('Total tokens');
    let amountSum = 0;
    let tokenSum = 0;
    let totalRow: ExcelJS.Row | undefined;
    for (let r = header + 1; r <= summary.rowCount; r += 1) {
      const row = summary.getRow(r);
      if (row.getCell(1).value === 'Total') {
        totalRow = row;
        break;
      }
      amountSum += Math.round(Number(row.getCell(amountColumn).value) * 100);
      tokenSum += Number(row.getCell(tokensColumn).value);
    }
    expect(totalRow).toBeDefined();
    expect(amountSum).toBe(Math.round(Number(totalRow!.getCell(amountColumn).value) * 100));

    const usage = (await readFile(path.join(out, 'demo', 'usage-2026-10.ndjson'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const inputTokens = usage.filter((row) => row.name === 'Prompt Tokens' || row.name === 'Completion Tokens').reduce((sum, row) => sum + row.valueSum, 0);
    expect(tokenSum).toBe(inputTokens);
    expect(Number(totalRow!.getCell(tokensColumn).value)).toBe(inputTokens);
  });

  it('mails finance a real MIME message carrying that workbook', async () => {
    const outbox = path.join(out, 'outbox');
    const names = (await readdir(outbox)).filter((name) => name.includes('finance'));
    expect(names).toHaveLength(1);
    const mail = await simpleParser(await readFile(path.join(outbox, names[0]!)));
    expect(mail.subject).toMatch(/October 2026/);
    const attachment = mail.attachments.find((a) => a.filename === 'chargeback-2026-10.xlsx');
    expect(attachment).toBeDefined();
    expect(attachment!.content.equals(await readFile(path.join(out, 'reports', 'chargeback-2026-10.xlsx')))).toBe(true);
  });

  it('gives identical rollup rows and sends no second mail when run again', async () => {
    const rollupsBefore = await entities(prefix, 'Rollups');
    const outboxBefore = await files(path.join(out, 'outbox'));
    const second = await cli(['demo', '--month', '2026-10', '--users', '40', '--teams', '4', '--out', out], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/revision 1, unchanged/);
    expect(second.stdout).toMatch(/already sent/);
    expect(await entities(prefix, 'Rollups')).toEqual(rollupsBefore);
    expect(await files(path.join(out, 'outbox'))).toEqual(outboxBefore);
  }, 60_000);

  it('refuses a bad month with a clear message and exit code 2', async () => {
    const run = await cli(['close', '--month', '2026-13', '--usage', 'x.ndjson', '--directory', 'y.json'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"2026-13" is not a month: expected YYYY-MM/);
  });

  it('refuses the export of another month, an empty file and the same file twice: exit 2, nothing stored, nothing mailed', async () => {
    const demoUsage = path.join(out, 'demo', 'usage-2026-10.ndjson');
    const copy = path.join(out, 'usage-copy.ndjson');
    const empty = path.join(out, 'empty.ndjson');
    await writeFile(copy, await readFile(demoUsage));
    await writeFile(empty, '');
    const tables = { ...env, TABLE_PREFIX: uniqueTableName('refused') };
    const refusedOut = path.join(out, 'refused');
    const directory = path.join(out, 'demo', 'directory.json');
    const cases: [string[], RegExp][] = [
      [['--month', '2026-09', '--usage', demoUsage], /no usage rows fall in 2026-09; \d+ rows were outside the month/],
      [['--month', '2026-10', '--usage', empty], /no usage rows fall in 2026-10/],
      [['--month', '2026-10', '--usage', demoUsage, copy], /usage\.duplicates|repeat data already read/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(['close', ...args, '--directory', directory, '--out', refusedOut], tables);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/CLOSE_REFUSED/);
      expect(run.stderr).toMatch(message);
    }
    await expect(readdir(path.join(refusedOut, 'outbox'))).rejects.toThrow(/ENOENT/);
    expect(await entities(tables.TABLE_PREFIX, 'Rollups')).toEqual([]);
  }, 60_000);

  it('previews with --dry-run: the mails it would send are in the preview folder, and nothing is stored or sent', async () => {
    const tables = { ...env, TABLE_PREFIX: uniqueTableName('dry') };
    const dryOut = path.join(out, 'dry');
    const run = await cli(['close', '--month', '2026-10', '--usage', path.join(out, 'demo', 'usage-2026-10.ndjson'), '--directory', path.join(out, 'demo', 'directory.json'), '--finance', 'fin@contoso.example', '--out', dryOut, '--dry-run'], tables);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/DRY RUN: nothing was stored or sent/);
    expect((await readdir(path.join(dryOut, 'preview', '2026-10', 'outbox'))).length).toBeGreaterThan(1);
    await expect(readdir(path.join(dryOut, 'outbox'))).rejects.toThrow(/ENOENT/);
    expect(await entities(tables.TABLE_PREFIX, 'Rollups')).toEqual([]);
  }, 60_000);

  it('lists every problem of a malformed price book and exits 2 without closing anything', async () => {
    const prices = path.join(out, 'bad-prices.json');
    await writeFile(
      prices,
      JSON.stringify({ currency: 'USD', models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-02-30', perMillionTokens: { input: '-1' } }] }] }),
    );
    const run = await cli(['close', '--month', '2026-10', '--usage', path.join(out, 'demo', 'usage-2026-10.ndjson'), '--directory', path.join(out, 'demo', 'directory.json'), '--prices', prices, '--out', out], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PRICE_BOOK_INVALID/);
    expect(run.stderr).toMatch(/bad-prices\.json: models\[0\] \(claude-x\)\.prices\[0\]\.effectiveFrom/);
    expect(run.stderr).toMatch(/perMillionTokens\.output/);
  });

  it('holds a month with mostly rejected rows, names each rejected row, and sends it only when a person releases it', async () => {
    const csv = path.join(out, 'bad-rows.csv');
    const dims = (user: string) => `"{""UserId"":""${user}"",""Model"":""claude-sonnet-4-6"",""Tier"":""Claude.Standard""}"`;
    await writeFile(
      csv,
      [
        'timestamp [UTC],name,valueSum,valueCount,customDimensions',
        `"10/5/2026, 9:00:00.000 AM",Prompt Tokens,1000,2,${dims('a')}`,
        `"10/5/2026, 9:00:00.000 AM",Prompt Tokens,-5,1,${dims('a')}`,
        `not a time,Prompt Tokens,10,1,${dims('a')}`,
        `"10/6/2026, 9:00:00.000 AM",Completion Tokens,300,2,${dims('')}`,
      ].join('\r\n'),
    );
    const closeArgs = ['close', '--month', '2026-10', '--usage', csv, '--directory', path.join(out, 'demo', 'directory.json'), '--finance', 'fin@contoso.example', '--operator', 'ops@contoso.example', '--out', path.join(out, 'bad-rows')];
    const tables = { ...env, TABLE_PREFIX: uniqueTableName('rej') };
    const outbox = path.join(out, 'bad-rows', 'outbox');

    const held = await cli(closeArgs, tables);
    expect(held.code).toBe(3);
    expect(held.stdout).toMatch(/HELD FOR REVIEW/);
    expect(held.stdout).toMatch(/Rejected rows:\s+2/);
    expect(held.stdout).toMatch(/Total\s.*\s1,300\s/);
    // Each rejected row by file and line, with its raw value, on stderr and in the rejects file.
    expect(held.stderr).toMatch(/bad-rows\.csv:3: valueSum is negative/);
    expect(held.stderr).toMatch(/bad-rows\.csv:4: /);
    const rejects = await readFile(path.join(out, 'bad-rows', 'reports', 'rejects-2026-10.csv'), 'utf8');
    expect(rejects).toMatch(/bad-rows\.csv:3,valueSum is negative/);
    expect(rejects).toMatch(/bad-rows\.csv:4,/);
    // Only the operator heard of it.
    const heldMails = await Promise.all((await readdir(outbox)).map(async (name) => simpleParser(await readFile(path.join(outbox, name)))));
    expect(heldMails.map((mail) => mail.to && !Array.isArray(mail.to) ? mail.to.text : '')).toEqual(['ops@contoso.example']);
    expect(heldMails[0]!.subject).toMatch(/held for review: usage\.rejects/);

    const again = await cli(closeArgs, tables);
    expect(again.code).toBe(3);
    expect((await readdir(outbox)).length).toBe(1);

    const released = await cli([...closeArgs, '--release-hold', '--reason', 'the two bad rows were test traffic'], tables);
    expect(released.code).toBe(0);
    expect(released.stdout).toMatch(/Released:\s+by .*: the two bad rows were test traffic/);
    expect(released.stdout).toMatch(/Finance mail:\s+sent to fin@contoso\.example/);
  });

  it('finds the demo files under --out for every command: directory show and budgets check need no flags', async () => {
    const directory = JSON.parse(await readFile(path.join(out, 'demo', 'directory.json'), 'utf8'));
    const user = directory.users[0];
    const show = await cli(['directory', 'show', user.userId, '--out', out], env);
    expect(show.stderr).not.toMatch(/DIRECTORY_FILE/);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(user.teamId);
    const budgets = await cli(['budgets', 'check', '--month', '2026-10', '--out', out], env);
    expect(budgets.stderr).not.toMatch(/DIRECTORY_FILE|no BUDGETS_FILE given/);
    expect(budgets.code).toBe(0);
  }, 60_000);

  it('names the flag, not the setting, for a bad --time-zone', async () => {
    const run = await cli(['close', '--month', '2026-10', '--time-zone', 'Mars/Olympus_Mons', '--out', out], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--time-zone');
    expect(run.stderr).toContain('"Mars/Olympus_Mons" is not an IANA time zone');
    expect(run.stderr).not.toContain('REPORTING_TIME_ZONE');
  });

  it('refuses a token role the API does not know', async () => {
    const run = await cli(['token', '--user', '00000000-0000-4000-8000-0000000000f1', '--role', 'Chargeback.Finanse', '--out', out], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--role "Chargeback\.Finanse": not a role the API checks; use Chargeback\.Finance/);
    expect(run.stdout).toBe('');
    const ok = await cli(['token', '--user', '00000000-0000-4000-8000-0000000000f1', '--role', 'Chargeback.Finance', '--out', out], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('.')).toHaveLength(3);
  });

  it('explains itself with --help', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['demo', 'close', 'generate']) expect(run.stdout).toContain(command);
  });
});

/** Process ids whose parent is `pid` and whose command line contains `command` (Linux /proc). */
async function childrenOf(pid: number, command: string): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && (await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes(command)) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(process.platform !== 'linux')('the Azurite the command line starts', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops with the command line on ${signal}`, async () => {
      const out = await mkdtemp(path.join(os.tmpdir(), 'cli-kill-'));
      const { STORAGE_CONNECTION_STRING: _storage, STORAGE_TABLE_ENDPOINT: _endpoint, ...env } = process.env;
      // A month big enough that the close is still running when the signal comes.
      const child = spawnCli(['demo', '--month', '2026-10', '--users', '3000', '--teams', '8', '--out', out], { env, stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let azurite: number | undefined;
      await expect
        .poll(
          async () => {
            azurite = (await childrenOf(child.pid!, 'azurite'))[0];
            return azurite;
          },
          { timeout: 60_000, interval: 50 },
        )
        .toBeDefined();
      try {
        child.kill(signal);
        await exited;
        await expect.poll(() => isRunning(azurite!), { timeout: 10_000 }).toBe(false);
      } finally {
        // Never leave one behind, even when the test fails.
        if (azurite !== undefined && isRunning(azurite)) process.kill(azurite, 'SIGKILL');
      }
    }, 90_000);
  }
});
