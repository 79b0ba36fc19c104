import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileBilledCostSource } from '../../shared/adapters/billing/file-billed-cost-source.js';
import { DEFAULT_CLAUDE_PUBLISHERS } from '../../shared/domain/billing.js';

/** A hand-written export with the 96 columns of Cost Management's FOCUS 1.0 dataset, a BOM and CRLF, as Azure writes it. */
const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'focus-1.0-cost-export.csv');
const FOUNDRY = '/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/contoso-foundry';
const byPublisher = { resourceIds: [], publishers: DEFAULT_CLAUDE_PUBLISHERS };

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'billed-'));
}

describe('the FOCUS export file source', () => {
  it('reads Claude’s rows from a FOCUS 1.0 export and counts the other services', async () => {
    const read = await new FileBilledCostSource([FIXTURE], 'EffectiveCost').read('2026-10', byPublisher);
    expect(read.rows).toBe(6);
    expect(read.claude.map((charge) => [charge.day, charge.amount.toFixed(), charge.currency, charge.meter, charge.consumedQuantity, charge.consumedUnit])).toEqual([
      ['2026-10-01', '2.7936', 'USD', 'Claude Consumption Unit', '279.36', '1 CCU'],
      ['2026-10-02', '3.1', 'USD', 'Claude Consumption Unit', '310', '1 CCU'],
    ]);
    expect(read.claude[0]!.resourceId).toBe(FOUNDRY);
    expect(read.leftOut.rows).toBe(4);
    expect(read.leftOut.byService.map((service) => [service.service, service.rows, service.amount.toFixed()])).toEqual([
      ['API Management', 1, '1.25'],
      ['Storage Accounts', 2, '0.9821'],
      ['Functions', 1, '0'],
    ]);
    // ChargePeriodEnd is exclusive: the last row is for 31 October and ends 1 November 00:00.
    expect(read.lastChargeDay).toBe('2026-10-31');
    expect(read.sourceDescription).toContain('focus-1.0-cost-export.csv');
  });

  it('selects by the Foundry resource id whatever its case, and reads BilledCost when configured', async () => {
    const read = await new FileBilledCostSource([FIXTURE], 'BilledCost').read('2026-10', { resourceIds: [FOUNDRY.toUpperCase()], publishers: [] });
    expect(read.claude.map((charge) => charge.amount.toFixed())).toEqual(['2.7936', '3.1']);
  });

  it('reads a gzip-compressed export the same way, and several parts together', async () => {
    const dir = await tempDir();
    const gz = path.join(dir, 'part_0_0001.csv.gz');
    await writeFile(gz, gzipSync(await readFile(FIXTURE)));
    const read = await new FileBilledCostSource([gz, FIXTURE], 'EffectiveCost').read('2026-10', byPublisher);
    expect(read.claude).toHaveLength(4);
    expect(read.rows).toBe(12);
  });

  it('ignores another month’s rows', async () => {
    const read = await new FileBilledCostSource([FIXTURE], 'EffectiveCost').read('2026-11', byPublisher);
    expect(read.claude).toEqual([]);
    expect(read.leftOut.rows).toBe(0);
  });

  it('refuses a file that is not a FOCUS export, naming the missing columns', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'actual.csv');
    await writeFile(file, 'Date,CostInBillingCurrency,BillingCurrencyCode,ResourceId\n10/01/2026,1.5,USD,/x\n');
    await expect(new FileBilledCostSource([file], 'EffectiveCost').read('2026-10', byPublisher)).rejects.toMatchObject({
      code: 'BILLED_INPUT_INVALID',
      message: expect.stringContaining('ChargePeriodStart, BillingCurrency, PublisherName, EffectiveCost'),
    });
  });

  it('refuses an export with unreadable rows rather than true up to part of the bill', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'broken.csv');
    await writeFile(file, 'ChargePeriodStart,ChargePeriodEnd,EffectiveCost,BillingCurrency,ResourceId,PublisherName\n2026-10-01T00:00Z,2026-10-02T00:00Z,abc,USD,/x,Anthropic\n10/02/2026,,1,USD,/x,Anthropic\n');
    const error = await new FileBilledCostSource([file], 'EffectiveCost').read('2026-10', byPublisher).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'BILLED_INPUT_INVALID' });
    expect((error as { details: string[] }).details).toEqual([
      expect.stringContaining('line 2: EffectiveCost "abc" is not a number'),
      expect.stringContaining('line 3: ChargePeriodStart "10/02/2026"'),
    ]);
  });

  it('names a file that does not exist', async () => {
    await expect(new FileBilledCostSource(['/nonexistent/export.csv'], 'EffectiveCost').read('2026-10', byPublisher)).rejects.toMatchObject({ code: 'BILLED_INPUT_INVALID' });
  });
});
