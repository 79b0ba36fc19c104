import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { billCoversMonth, selectClaudeCharges, trueUp, type BilledCharge } from '../../shared/domain/billing.js';
import { UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { money, type Money } from '../../shared/domain/money.js';
import { lineKey, type MonthlyLine } from '../../shared/domain/rollup.js';
import { zeroTokens } from '../../shared/domain/tokens.js';

function charge(day: string, amount: string, partial: Partial<BilledCharge> = {}): BilledCharge {
  return {
    day,
    amount: money(amount),
    currency: 'USD',
    resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/foundry',
    publisher: 'Anthropic',
    meter: 'Claude Consumption Unit',
    service: 'Claude',
    chargeCategory: 'Usage',
    consumedQuantity: '100',
    consumedUnit: 'CCU',
    ...partial,
  };
}

/** A monthly line with the given list cost per day (null: an unpriced day). */
function line(teamId: string, userId: string, model: string, days: Record<string, string | null>): MonthlyLine {
  const dayUsage = Object.entries(days).map(([day, cost]) => ({
    day,
    tokens: { ...zeroTokens(), input: 1000 },
    requests: 1,
    cost: cost === null ? null : money(cost),
    priceEntryId: cost === null ? null : `${model}@2026-01-01`,
  }));
  const priced = dayUsage.filter((day) => day.cost !== null);
  return {
    teamId,
    userId,
    model,
    tier: 'Claude.Standard',
    allocation: teamId === UNALLOCATED_TEAM ? 'unknown-user' : 'team',
    userName: userId,
    upn: `${userId}@contoso.example`,
    pricedModel: model,
    month: '2026-10',
    tokens: { ...zeroTokens(), input: 1000 * dayUsage.length },
    requests: dayUsage.length,
    cost: priced.reduce<Money>((sum, day) => sum.plus(day.cost!), money(0)),
    unpricedTokens: { ...zeroTokens(), input: 1000 * (dayUsage.length - priced.length) },
    currency: 'USD',
    priceEntryIds: priced.length > 0 ? [`${model}@2026-01-01`] : [],
    days: dayUsage,
  };
}

describe('selecting Claude charges', () => {
  it('keeps the Foundry resource and the Anthropic publisher, counts the rest per service', () => {
    const rule = { resourceIds: ['/SUBSCRIPTIONS/S/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/other'], publishers: ['Anthropic'] };
    const { claude, leftOut } = selectClaudeCharges(
      [
        charge('2026-10-01', '10'),
        charge('2026-10-01', '4', { publisher: '', resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/other' }),
        charge('2026-10-01', '1.5', { publisher: 'Microsoft', resourceId: '/x/storage', service: 'Storage' }),
        charge('2026-10-02', '2.25', { publisher: 'Microsoft', resourceId: '/x/storage', service: 'Storage' }),
        charge('2026-10-02', '7', { publisher: 'Microsoft', resourceId: '/x/apim', service: 'API Management' }),
        charge('2026-09-30', '100'),
      ],
      rule,
      '2026-10',
    );
    expect(claude.map((row) => row.amount.toFixed())).toEqual(['10', '4']);
    expect(leftOut.rows).toBe(3);
    expect(leftOut.byService.map((service) => [service.service, service.rows, service.amount.toFixed()])).toEqual([
      ['API Management', 1, '7'],
      ['Storage', 2, '3.75'],
    ]);
  });
});

describe('the true-up', () => {
  it('shares each day’s bill over that day’s lines by their list cost, to the cent of the billed total', () => {
    const lines = [
      line('alpha', 'u1', 'claude-sonnet-4-6', { '2026-10-01': '6', '2026-10-02': '1' }),
      line('beta', 'u2', 'claude-sonnet-4-6', { '2026-10-01': '4' }),
    ];
    // Day 1: list 10, billed 5 (half); day 2: list 1, billed 1 (full price).
    const result = trueUp(lines, [charge('2026-10-01', '5'), charge('2026-10-02', '1')], { currency: 'USD', policy: 'proportional' });
    expect(result.billedTotal).toBe(600n);
    expect(result.ratio?.toFixed(4)).toBe('0.5455');
    expect(result.days.map((day) => [day.day, day.ratio?.toFixed()])).toEqual([
      ['2026-10-01', '0.5'],
      ['2026-10-02', '1'],
    ]);
    // alpha: 6/10 of 5 + all of 1 = 4; beta: 4/10 of 5 = 2.
    expect(result.teams.map((team) => [team.teamId, team.amount])).toEqual([
      ['alpha', 400n],
      ['beta', 200n],
    ]);
    expect(result.lines.get(lineKey(lines[0]!))?.amount).toBe(400n);
  });

  it('keeps the bill of a day without priced usage in the unattributed bucket, or shares it, as configured', () => {
    const lines = [line('alpha', 'u1', 'm', { '2026-10-01': '3' }), line('beta', 'u2', 'm', { '2026-10-01': '1' })];
    const charges = [charge('2026-10-01', '2'), charge('2026-10-05', '1')];
    const bucket = trueUp(lines, charges, { currency: 'USD', policy: 'bucket' });
    expect(bucket.unattributed.amount).toBe(100n);
    expect(bucket.unattributed.days).toEqual(['2026-10-05']);
    expect(bucket.teams.map((team) => team.amount)).toEqual([150n, 50n]);

    const shared = trueUp(lines, charges, { currency: 'USD', policy: 'proportional' });
    expect(shared.unattributed.amount).toBe(0n);
    expect(shared.teams.map((team) => team.amount)).toEqual([225n, 75n]);
  });

  it('puts everything billed in the bucket when nothing was priced, and gives unpriced lines nothing', () => {
    const lines = [line('alpha', 'u1', 'unknown-model', { '2026-10-01': null })];
    const result = trueUp(lines, [charge('2026-10-01', '12.345')], { currency: 'USD', policy: 'proportional' });
    expect(result.ratio).toBeNull();
    expect(result.billedTotal).toBe(1235n);
    expect(result.unattributed.amount).toBe(1235n);
    expect(result.teams.map((team) => team.amount)).toEqual([0n]);
  });

  it('with no bill, every share is zero and the ratio is zero', () => {
    const lines = [line('alpha', 'u1', 'm', { '2026-10-01': '3' })];
    const result = trueUp(lines, [], { currency: 'USD', policy: 'bucket' });
    expect(result.billedTotal).toBe(0n);
    expect(result.ratio?.toFixed()).toBe('0');
    expect(result.teams[0]!.amount).toBe(0n);
  });

  const day = fc.integer({ min: 1, max: 5 }).map((d) => `2026-10-0${d}`);
  const cost = fc.oneof(
    fc.constant(null),
    fc.constant('0'),
    fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 999_999 })).map(([whole, micro]) => `${whole}.${String(micro).padStart(6, '0')}`),
  );
  const linesArbitrary = fc
    .array(
      fc.record({
        team: fc.constantFrom('alpha', 'beta', 'gamma', UNALLOCATED_TEAM),
        user: fc.constantFrom('u1', 'u2', 'u3'),
        model: fc.constantFrom('m1', 'm2'),
        days: fc.dictionary(day, cost, { minKeys: 1, maxKeys: 5 }),
      }),
      { maxLength: 12 },
    )
    .map((specs) => {
      const unique = new Map(specs.map((spec) => [`${spec.team}|${spec.user}|${spec.model}`, spec]));
      return [...unique.values()].map((spec) => line(spec.team, spec.user, spec.model, spec.days));
    });
  const chargesArbitrary = fc.array(
    fc.tuple(day, fc.integer({ min: 0, max: 90_000 }), fc.integer({ min: 0, max: 9999 })).map(([d, whole, frac]) => charge(d, `${whole}.${String(frac).padStart(4, '0')}`)),
    { maxLength: 10 },
  );

  it('conserves the billed total at every level, each share within one minor unit of its exact value', () => {
    fc.assert(
      fc.property(linesArbitrary, chargesArbitrary, fc.constantFrom('proportional' as const, 'bucket' as const), (lines, charges, policy) => {
        const result = trueUp(lines, charges, { currency: 'USD', policy });
        const billedCents = charges.reduce((sum, row) => sum.plus(row.amount), money(0)).times(100);
        // The billed total is the exact sum of the Claude rows rounded once (half up) to the cent.
        expect(Number(result.billedTotal)).toBe(billedCents.toDecimalPlaces(0, 4).toNumber());
        const teamSum = result.teams.reduce((sum, team) => sum + team.amount, 0n) + result.unattributed.amount;
        expect(teamSum).toBe(result.billedTotal);
        const userSum = result.users.reduce((sum, user) => sum + user.amount, 0n) + result.unattributed.amount;
        expect(userSum).toBe(result.billedTotal);
        const lineSum = [...result.lines.values()].reduce((sum, share) => sum + share.amount, 0n) + result.unattributed.amount;
        expect(lineSum).toBe(result.billedTotal);
        for (const share of [...result.teams, ...result.users, ...result.lines.values()]) {
          expect(share.exact.times(100).minus(share.amount.toString()).abs().lessThan(1)).toBe(true);
        }
        // The exact shares themselves add up to the bill: nothing is lost before rounding.
        const exactSum = result.teams.reduce((sum, team) => sum.plus(team.exact), money(0)).plus(result.unattributed.exact);
        expect(exactSum.minus(result.billedExact).abs().lessThan('1e-20')).toBe(true);
        // A line with no list cost gets nothing: its share cannot be known.
        for (const monthly of lines) if (monthly.cost.isZero()) expect(result.lines.get(lineKey(monthly))!.amount).toBe(0n);
      }),
      { numRuns: 300 },
    );
  });

  it('shares in proportion to list cost: equal list costs on the same days get equal exact shares', () => {
    fc.assert(
      fc.property(chargesArbitrary, fc.integer({ min: 1, max: 4 }), (charges, copies) => {
        const lines = Array.from({ length: copies }, (_, index) => line(`t${index}`, 'u', 'm', { '2026-10-01': '2.5', '2026-10-03': '1' }));
        const result = trueUp(lines, charges, { currency: 'USD', policy: 'proportional' });
        const exacts = result.teams.map((team) => team.exact.toFixed(20));
        expect(new Set(exacts).size).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('bill coverage', () => {
  it('is complete once a charge reaches the month’s last day', () => {
    expect(billCoversMonth('2026-10-31', '2026-10-31')).toBe(true);
    expect(billCoversMonth('2026-11-01', '2026-10-31')).toBe(true);
    expect(billCoversMonth('2026-10-30', '2026-10-31')).toBe(false);
    expect(billCoversMonth(null, '2026-10-31')).toBe(false);
  });
});
