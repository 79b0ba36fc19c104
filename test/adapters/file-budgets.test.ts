import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBudgetSource, noBudgets } from '../../shared/adapters/local/file-budgets.js';

async function file(content: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'budgets-'));
  const target = path.join(dir, 'budgets.json');
  await writeFile(target, content, 'utf8');
  return target;
}

describe('FileBudgetSource', () => {
  it('loads a valid file (with a byte-order mark) in the price book currency', async () => {
    const target = await file(`\uFEFF${JSON.stringify({ currency: 'USD', teams: [{ teamId: 'payments', amount: '250.75' }] })}`);
    const plan = await new FileBudgetSource(target).load({ currency: 'USD' });
    expect(plan.budgetsFor('2026-10').map((b) => [b.teamId, b.amount.toFixed(), b.actualThresholds, b.forecastThresholds])).toEqual([['payments', '250.75', [50, 80, 100], [100]]]);
  });

  it('names the file and every problem', async () => {
    const target = await file(JSON.stringify({ currency: 'USD', teams: [{ teamId: 'payments', amount: 0 }, { teamId: '', amount: '5', forecastThresholds: [100, 100] }] }));
    await expect(new FileBudgetSource(target).load({ currency: 'USD' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      details: [
        `${target}: teams[0].amount: must be more than zero, got 0`,
        expect.stringContaining(`${target}: teams[1].teamId: "" is not a team id`),
        `${target}: teams[1].forecastThresholds: lists a percentage twice`,
      ],
    });
  });

  it('refuses a missing file and a file that is not JSON', async () => {
    await expect(new FileBudgetSource('/nonexistent/budgets.json').load({ currency: 'USD' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('does not exist') });
    await expect(new FileBudgetSource(await file('{ nope')).load({ currency: 'USD' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('not valid JSON') });
  });

  it('has no budgets when none is configured', async () => {
    expect((await noBudgets.load({ currency: 'EUR' })).budgetsFor('2026-10')).toEqual([]);
  });
});
