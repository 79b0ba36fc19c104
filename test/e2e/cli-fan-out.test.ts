import { simpleParser } from 'mailparser';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, type CliRun } from '../support/cli.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** Who got which mail, with the names of the files it carried. */
async function outbox(dir: string) {
  const mails = [];
  for (const name of (await readdir(dir)).sort()) {
    const parsed = await simpleParser(await readFile(path.join(dir, name)));
    const to = (Array.isArray(parsed.to) ? parsed.to : [parsed.to]).flatMap((address) => address?.value.map((entry) => entry.address) ?? []);
    mails.push({ to: to.sort().join(','), subject: parsed.subject, files: parsed.attachments.map((file) => file.filename).sort() });
  }
  return mails.sort((a, b) => a.subject!.localeCompare(b.subject!) || a.to.localeCompare(b.to));
}

/** The per-team table the close prints: the same figures whichever way the close delivered them. */
const teamTable = (run: CliRun) => run.stdout.slice(run.stdout.indexOf('Team  '), run.stdout.indexOf('Controls:'));

describe('close --workers: the workbooks and mails as work items on Azurite queues', () => {
  let data: string;
  let inline: CliRun;
  let fanned: CliRun;
  let fannedOut: string;
  let fannedEnv: Record<string, string>;
  let inlineOut: string;

  beforeAll(async () => {
    data = await mkdtemp(path.join(os.tmpdir(), 'fan-out-data-'));
    const generated = await cli(['generate', '--month', '2026-10', '--users', '30', '--teams', '4', '--seed', '3', '--out', data]);
    expect(generated.code).toBe(0);
    const args = ['close', '--month', '2026-10', '--usage', path.join(data, 'usage-2026-10.ndjson'), '--directory', path.join(data, 'directory.json'), '--finance', 'fin@contoso.example'];
    inlineOut = await mkdtemp(path.join(os.tmpdir(), 'fan-out-inline-'));
    fannedOut = await mkdtemp(path.join(os.tmpdir(), 'fan-out-queued-'));
    // Mail pacing would space the mails 2 s apart; the test asks for speed, the pacing has its own tests.
    const common = { STORAGE_CONNECTION_STRING: azuriteConnectionString(), MAIL_MESSAGES_PER_MINUTE: '6000' };
    fannedEnv = { ...common, TABLE_PREFIX: uniqueTableName('fanned') };
    [inline, fanned] = await Promise.all([
      cli([...args, '--out', inlineOut], { ...common, TABLE_PREFIX: uniqueTableName('inline') }),
      // No WORK_QUEUES_* set: the command line starts Azurite's queue service under --out itself.
      cli([...args, '--out', fannedOut, '--workers', '3'], fannedEnv),
    ]);
  }, 180_000);

  it('closes with the same figures and sends the same mails with the same files as the inline close', async () => {
    expect(inline.code, inline.stderr).toBe(0);
    expect(fanned.code, fanned.stderr).toBe(0);
    expect(teamTable(fanned)).toEqual(teamTable(inline));
    expect(teamTable(fanned)).toContain('Total');
    const queued = await outbox(path.join(fannedOut, 'outbox'));
    expect(queued).toEqual(await outbox(path.join(inlineOut, 'outbox')));
    expect(queued.find((mail) => mail.to === 'fin@contoso.example')?.files).toContain('chargeback-2026-10.xlsx');
    expect(fanned.stdout).toMatch(/Work items: +\d+ done, 0 superseded, 0 pending, by 3 worker\(s\)/);
    expect(fanned.stdout).toMatch(/Team mails: +4 owed, 4 sent/);
  });

  it('joins the team items\' parts into the FOCUS export the inline close writes, and leaves no part behind', async () => {
    const focus = (out: string) => readFile(path.join(out, 'reports', 'focus-2026-10.csv'));
    const joined = await focus(fannedOut);
    expect(joined.equals(await focus(inlineOut))).toBe(true);
    expect(joined.toString('utf8').split('\r\n').length).toBeGreaterThan(100);
    const reports = await readdir(path.join(fannedOut, 'reports'));
    expect(reports.filter((name) => name.includes('.parts'))).toEqual([]);
    // Each team item left its lines for the finance item: four teams, four files.
    expect(reports.filter((name) => /^work-2026-10-r1-totals-.+\.json$/.test(name))).toHaveLength(4);
  });

  it('sends nothing when run again, and says so', async () => {
    const again = await cli(['close', '--month', '2026-10', '--usage', path.join(data, 'usage-2026-10.ndjson'), '--directory', path.join(data, 'directory.json'), '--finance', 'fin@contoso.example', '--out', fannedOut, '--workers', '2'], fannedEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Finance mail: +already sent/);
    expect(again.stdout).toMatch(/Team mails: +4 owed, 0 sent, 4 already sent/);
    expect((await readdir(path.join(fannedOut, 'outbox'))).length).toBe(5);
  });

  it('refuses a worker count that is not a positive whole number', async () => {
    const run = await cli(['close', '--month', '2026-10', '--workers', '0', '--out', fannedOut]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/workers/);
  });
});
