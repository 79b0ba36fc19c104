import { describe, expect, it } from 'vitest';
import { trueUp, type BilledCharge } from '../../shared/domain/billing.js';
import { billingControls } from '../../shared/domain/billing-controls.js';
import { worstOutcome } from '../../shared/domain/controls.js';
import { money } from '../../shared/domain/money.js';
import type { MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens } from '../../shared/domain/tokens.js';

function charge(day: string, amount: string, currency = 'USD'): BilledCharge {
  return { day, amount: money(amount), currency, resourceId: '/r', publisher: 'Anthropic', meter: 'CCU', service: 'Claude', chargeCategory: 'Usage', consumedQuantity: '1', consumedUnit: 'CCU' };
}

function lineWithDays(days: Record<string, string>): MonthlyLine {
  const usage = Object.entries(days).map(([day, cost]) => ({ day, tokens: { ...zeroTokens(), output: 10 }, requests: 1, cost: money(cost), priceEntryId: 'p' }));
  return {
    teamId: 'alpha', userId: 'u1', model: 'm', tier: 't', allocation: 'team', userName: 'u1', upn: 'u1@x', pricedModel: 'm', month: '2026-10',
    tokens: { ...zeroTokens(), output: 10 * usage.length }, requests: usage.length, cost: usage.reduce((sum, day) => sum.plus(day.cost), money(0)),
    unpricedTokens: zeroTokens(), currency: 'USD', priceEntryIds: ['p'], days: usage,
  };
}

function controlsFor(lines: MonthlyLine[], charges: BilledCharge[], settings?: Parameters<typeof billingControls>[1]) {
  return billingControls({ trueUp: trueUp(lines, charges, { currency: 'USD', policy: 'bucket' }), charges, priceBookCurrency: 'USD' }, settings);
}

describe('billing controls', () => {
  const lines = [lineWithDays({ '2026-10-01': '100', '2026-10-02': '100' })];

  it('pass a bill at a discount inside the band', () => {
    const results = controlsFor(lines, [charge('2026-10-01', '80'), charge('2026-10-02', '80')]);
    expect(worstOutcome(results)).toBe('pass');
    expect(results.find((result) => result.id === 'billed.ratio')?.message).toContain('0.800');
  });

  it('hold a ratio above the band and below it', () => {
    const above = controlsFor(lines, [charge('2026-10-01', '150'), charge('2026-10-02', '70')]);
    expect(above.find((result) => result.id === 'billed.ratio')).toMatchObject({ outcome: 'hold' });
    expect(above.find((result) => result.id === 'billed.ratio')!.message).toContain('1.100');
    // 1.05 itself is inside: the band is inclusive.
    const edge = controlsFor(lines, [charge('2026-10-01', '105'), charge('2026-10-02', '105')]);
    expect(edge.find((result) => result.id === 'billed.ratio')!.outcome).toBe('pass');
    const below = controlsFor(lines, [charge('2026-10-01', '40')]);
    expect(below.find((result) => result.id === 'billed.ratio')!.outcome).toBe('hold');
    const narrow = controlsFor(lines, [charge('2026-10-01', '80'), charge('2026-10-02', '80')], { ratioBand: { min: 0.9, max: 1 }, unmeteredDays: 'hold' });
    expect(narrow.find((result) => result.id === 'billed.ratio')!.outcome).toBe('hold');
  });

  it('flag billed days with no metered usage, as a hold or a warning', () => {
    const charges = [charge('2026-10-01', '90'), charge('2026-10-02', '90'), charge('2026-10-07', '3.5')];
    const held = controlsFor(lines, charges).find((result) => result.id === 'billed.unmetered-days')!;
    expect(held.outcome).toBe('hold');
    expect(held.details).toEqual(['2026-10-07: billed 3.50']);
    const warned = controlsFor(lines, charges, { ratioBand: { min: 0.5, max: 1.05 }, unmeteredDays: 'warn' }).find((result) => result.id === 'billed.unmetered-days')!;
    expect(warned.outcome).toBe('warn');
  });

  it('hold a bill in another currency than the price book', () => {
    const results = controlsFor(lines, [charge('2026-10-01', '80', 'EUR'), charge('2026-10-02', '80', 'EUR')]);
    expect(results.find((result) => result.id === 'billed.currency')).toMatchObject({ outcome: 'hold' });
  });

  it('hold a bill with nothing priced to compare it with, and check nothing without a bill', () => {
    const results = controlsFor([], [charge('2026-10-01', '5')]);
    expect(results.find((result) => result.id === 'billed.ratio')!.outcome).toBe('hold');
    expect(controlsFor(lines, [])).toEqual([]);
  });
});

describe('billing controls on a bill still arriving', () => {
  it('compare the bill with the usage of the days it reaches, not the whole month', () => {
    const lines = [lineWithDays({ '2026-10-01': '100', '2026-10-02': '100', '2026-10-20': '100' })];
    const charges = [charge('2026-10-01', '85'), charge('2026-10-02', '85')];
    const results = billingControls({ trueUp: trueUp(lines, charges, { currency: 'USD', policy: 'bucket' }), charges, priceBookCurrency: 'USD', billedThrough: '2026-10-02' });
    const ratio = results.find((result) => result.id === 'billed.ratio')!;
    expect(ratio.outcome).toBe('pass');
    expect(ratio.message).toBe('billed/list is 0.850 through 2026-10-02, inside the band 0.5–1.05');
    // Against the whole month the same bill would look like a third off.
    const whole = billingControls({ trueUp: trueUp(lines, charges, { currency: 'USD', policy: 'bucket' }), charges, priceBookCurrency: 'USD' });
    expect(whole.find((result) => result.id === 'billed.ratio')!.outcome).toBe('pass');
    expect(whole.find((result) => result.id === 'billed.ratio')!.message).toContain('0.567');
  });
});
