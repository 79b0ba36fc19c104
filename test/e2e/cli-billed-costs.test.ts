import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { cli } from '../support/cli.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/**
 * A bill written by hand in the FOCUS 1.0 layout of the fixture: Claude billed 12.34 a day on the Foundry
 * account (31 days: 382.54), and Storage 0.50 a day beside it.
 */
async function writeBill(file: string, options: { claudePerDay: string; gzip?: boolean }): Promise<void> {
  const fixture = await readFile(path.join(PROJECT_ROOT, 'test', 'fixtures', 'focus-1.0-cost-export.csv'), 'utf8');
  const header = fixture.split('\r\n')[0]!.replace(/^\uFEFF/, '').split(',');
  const row = (values: Record<string, string>) => header.map((column) => values[column] ?? '').join(',');
  const lines = [header.join(',')];
  for (let day = 1; day <= 31; day += 1) {
    const start = `2026-10-${String(day).padStart(2, '0')}T00:00:00Z`;
    const end = day === 31 ? '2026-11-01T00:00:00Z' : `2026-10-${String(day + 1).padStart(2, '0')}T00:00:00Z`;
    const common = { ChargePeriodStart: start, ChargePeriodEnd: end, BillingCurrency: 'USD', ChargeCategory: 'Usage' };
    lines.push(
      row({ ...common, BilledCost: options.claudePerDay, EffectiveCost: options.claudePerDay, PublisherName: 'Anthropic', ResourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/foundry', ServiceName: 'Claude in Microsoft Foundry', x_SkuMeterName: 'Claude Consumption Unit', ConsumedQuantity: '1234', ConsumedUnit: '1 CCU' }),
      row({ ...common, BilledCost: '0.50', EffectiveCost: '0.50', PublisherName: 'Microsoft', ResourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st', ServiceName: 'Storage Accounts', x_SkuMeterName: 'Hot LRS Data Stored' }),
    );
  }
  const text = `\uFEFF${lines.join('\r\n')}\r\n`;
  await writeFile(file, options.gzip ? gzipSync(text) : text);
}

describe('close --billed-costs', () => {
  let out: string;
  let env: Record<string, string>;
  let usage: string;
  let directory: string;

  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'cli-billed-'));
    env = { STORAGE_CONNECTION_STRING: azuriteConnectionString(), TABLE_PREFIX: uniqueTableName('bill') };
    const generated = await cli(['generate', '--month', '2026-10', '--users', '12', '--teams', '3', '--out', path.join(out, 'data')], env);
    expect(generated.code).toBe(0);
    usage = path.join(out, 'data', 'usage-2026-10.ndjson');
    directory = path.join(out, 'data', 'directory.json');
  }, 60_000);

  it('trues the team amounts up to the billed total of the Claude rows, to the cent, and leaves the rest out', async () => {
    const bill = path.join(out, 'bill.csv.gz');
    await writeBill(bill, { claudePerDay: '12.34', gzip: true });
    // A bill made up per day is far from this small month's list cost, and bills days nobody used: the band is
    // widened and unmetered days only warn, so that the true-up itself (with its unattributed bucket) is what is tested here.
    const run = await cli(['close', '--month', '2026-10', '--usage', usage, '--directory', directory, '--billed-costs', bill, '--out', path.join(out, 'run1')], {
      ...env,
      BILLED_RATIO_MIN: '0.01',
      BILLED_RATIO_MAX: '100',
      BILLED_UNMETERED_DAYS: 'warn',
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('Basis:           trued up to the Azure invoice');
    expect(run.stdout).toContain('Billed (Claude): USD 382.54 in 31 row(s)');
    expect(run.stdout).toContain('Left out:        31 row(s): Storage Accounts USD 15.50 (31)');
    // The summary's team table: every row's last figure is its Billed amount (teams, then the unattributed bucket).
    const lines = run.stdout.split('\n');
    const table = lines.slice(lines.findIndex((line) => line.startsWith('Team ')) + 2, lines.findIndex((line) => line.startsWith('Total ')) - 1);
    const billed = table.map((line) => Number(/([\d,]+\.\d\d)$/.exec(line)![1]!.replace(/,/g, '')));
    expect(billed.length).toBeGreaterThanOrEqual(3);
    expect(Math.round(billed.reduce((sum, amount) => sum + amount, 0) * 100)).toBe(38254);
    expect(/^Total\s.*\s382\.54$/m.test(run.stdout)).toBe(true);
  }, 60_000);

  it('holds a bill far above the list-price estimate and says why', async () => {
    const bill = path.join(out, 'bill-high.csv');
    await writeBill(bill, { claudePerDay: '5000.00' });
    const october = await cli(['close', '--month', '2026-10', '--usage', usage, '--directory', directory, '--billed-costs', bill, '--out', path.join(out, 'run2')], { ...env, TABLE_PREFIX: uniqueTableName('billhi') });
    expect(october.code).toBe(3);
    expect(october.stdout).toMatch(/HELD FOR REVIEW/);
    expect(october.stdout).toMatch(/HOLD\s+billed\.ratio: billed\/list is \d+\.\d{3} .*outside the band 0\.5–1\.05/);
  }, 60_000);
});
