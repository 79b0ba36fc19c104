import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBilledCostSource } from '../../shared/adapters/billing/file-billed-cost-source.js';
import { DEMO_FOUNDRY_RESOURCE_ID, ensureDemoBill } from '../../cli/demo-bill.js';
import { DEFAULT_CLAUDE_PUBLISHERS } from '../../shared/domain/billing.js';
import { money } from '../../shared/domain/money.js';

describe('the demo bill', () => {
  it('is a FOCUS export the reader takes: Claude at a discount on the Foundry account, every day of the month covered by other services', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'demo-bill-'));
    // List cost on two days only: 100.00 and 40.00.
    const list = new Map([
      ['2026-10-05', money('100')],
      ['2026-10-06', money('40')],
    ]);
    const { file, generated } = await ensureDemoBill(dir, { month: '2026-10', seed: 7 }, async () => list);
    expect(generated).toBe(true);
    const read = await new FileBilledCostSource([file], 'EffectiveCost').read('2026-10', { resourceIds: [], publishers: DEFAULT_CLAUDE_PUBLISHERS });
    expect(read.claude.map((charge) => charge.day)).toEqual(['2026-10-05', '2026-10-06']);
    expect(read.claude.every((charge) => charge.resourceId === DEMO_FOUNDRY_RESOURCE_ID && charge.consumedUnit === '1 CCU')).toBe(true);
    // 0.85 discount with 2-6 % of premiums the metrics miss: between 0.867 and 0.901 of list.
    for (const [index, charge] of read.claude.entries()) {
      const ratio = charge.amount.dividedBy(index === 0 ? 100 : 40).toNumber();
      expect(ratio).toBeGreaterThan(0.867 - 0.0001);
      expect(ratio).toBeLessThan(0.901 + 0.0001);
    }
    expect(read.lastChargeDay).toBe('2026-10-31');
    expect(read.leftOut.byService.map((service) => [service.service, service.rows])).toEqual([
      ['API Management', 31],
      ['Log Analytics', 31],
      ['Storage Accounts', 31],
      ['Functions', 31],
    ]);
    const again = await ensureDemoBill(dir, { month: '2026-10', seed: 7 }, async () => {
      throw new Error('not asked again');
    });
    expect(again.generated).toBe(false);
  });
});
