import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { fromTaggedJson, toTaggedJson } from '../../shared/domain/tagged-json.js';

describe('tagged JSON', () => {
  it('brings back bigint, Decimal, Date, Map, Set and bytes as themselves, nested', () => {
    const value = {
      amount: 123456789012345678901234567890n,
      cost: new Decimal('0.000000000000000001'),
      at: new Date('2026-11-30T23:00:00.000Z'),
      teams: new Map([['platform', { leads: ['a@example.com'], budget: 5000n }]]),
      ids: new Set(['x', 'y']),
      attachment: Buffer.from([0, 1, 2, 250, 255]),
      plain: { text: 'kept', list: [1, 'two', null] },
    };
    const back = fromTaggedJson<typeof value>(toTaggedJson(value), 'test');
    expect(back.amount).toBe(123456789012345678901234567890n);
    expect(back.cost).toBeInstanceOf(Decimal);
    expect(back.cost.toString()).toBe('1e-18');
    expect(back.at).toEqual(new Date('2026-11-30T23:00:00.000Z'));
    expect(back.teams.get('platform')?.budget).toBe(5000n);
    expect([...back.ids]).toEqual(['x', 'y']);
    expect(Buffer.isBuffer(back.attachment) && [...back.attachment]).toEqual([0, 1, 2, 250, 255]);
    expect(back.plain).toEqual({ text: 'kept', list: [1, 'two', null] });
  });

  it('leaves an ordinary object with a $-key among others alone, and names what it could not read', () => {
    expect(fromTaggedJson('{"$date":"2026-01-01T00:00:00Z","other":1}', 'x')).toEqual({ $date: '2026-01-01T00:00:00Z', other: 1 });
    expect(() => fromTaggedJson('{"broken"', 'the work context')).toThrow(/the work context is not readable/);
  });
});
