import { describe, expect, it } from 'vitest';
import { CONTROL, DEFAULT_CLOSE_CONTROL_LIMITS, evaluateCloseControls, type CloseControlInput } from '../../shared/domain/close-controls.js';
import { worstOutcome } from '../../shared/domain/controls.js';
import { monthWindow } from '../../shared/domain/periods.js';

const window = monthWindow('2026-10', 'Europe/Berlin');

function input(overrides: Partial<CloseControlInput> = {}, usage: Partial<CloseControlInput['usage']> = {}, report: Partial<CloseControlInput['report']> = {}): CloseControlInput {
  return {
    month: '2026-10',
    window,
    now: new Date('2026-11-05T00:00:00Z'),
    graceDays: 2,
    preview: false,
    usage: { rows: 100, rejects: { count: 0, samples: [], byReason: {} }, skipped: {}, inputs: [{ name: 'a.csv', rows: 1000 }], ...usage },
    report: {
      grandTotal: 10_000n,
      currency: 'USD',
      teams: [{ teamId: 'data', teamName: 'Data', leads: [], users: 1, tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, requests: 0, amount: 10_000n, unpricedTokens: 0 }],
      crossCheck: { reportedTotalTokens: 500, countedTokens: 500 },
      ...report,
    },
    limits: DEFAULT_CLOSE_CONTROL_LIMITS,
    ...overrides,
  };
}

const outcomeOf = (id: string, controls: ReturnType<typeof evaluateCloseControls>) => controls.find((control) => control.id === id)?.outcome;

describe('the close controls', () => {
  it('pass a complete, clean month', () => {
    const controls = evaluateCloseControls(input());
    expect(worstOutcome(controls)).toBe('pass');
    expect(controls.map((control) => control.id).sort()).toEqual(Object.values(CONTROL).sort());
  });

  it('refuse a month before its end plus grace in its own zone, and only warn on a preview', () => {
    // Berlin's October ends at 2026-10-31T23:00Z; with 2 days of grace it closes from 2026-11-02T23:00Z.
    expect(outcomeOf(CONTROL.periodOpen, evaluateCloseControls(input({ now: new Date('2026-11-02T22:59:59Z') })))).toBe('refuse');
    expect(outcomeOf(CONTROL.periodOpen, evaluateCloseControls(input({ now: new Date('2026-11-02T23:00:00Z') })))).toBe('pass');
    expect(outcomeOf(CONTROL.periodOpen, evaluateCloseControls(input({ now: new Date('2026-10-15T00:00:00Z'), preview: true })))).toBe('warn');
    expect(evaluateCloseControls(input({ now: new Date('2026-10-15T00:00:00Z') }))[0]!.message).toMatch(/has not ended yet/);
  });

  it('refuse empty input and say why: rows outside the month, all rejected, or nothing at all', () => {
    const wrongMonth = evaluateCloseControls(input({}, { rows: 0, skipped: { 'outside window': 1662 } }));
    expect(outcomeOf(CONTROL.usageEmpty, wrongMonth)).toBe('refuse');
    expect(wrongMonth.find((control) => control.id === CONTROL.usageEmpty)!.message).toMatch(/1662 rows were outside the month/);
    const empty = evaluateCloseControls(input({}, { rows: 0, inputs: [{ name: 'empty.ndjson', rows: 0 }] }));
    expect(empty.find((control) => control.id === CONTROL.usageEmpty)!.message).toMatch(/the input is empty/);
  });

  it('refuse repeated input, whatever its size', () => {
    const controls = evaluateCloseControls(input({}, { duplicates: { count: 1, files: [], samples: ['b.csv:2 repeats a.csv:2'] } }));
    expect(outcomeOf(CONTROL.usageDuplicates, controls)).toBe('refuse');
  });

  it('hold rejects above the share set, measured against every row read, and warn below it', () => {
    const rejects = (count: number) => ({ count, samples: [], byReason: { 'valueSum is negative': count } });
    expect(outcomeOf(CONTROL.usageRejects, evaluateCloseControls(input({}, { rejects: rejects(10) })))).toBe('warn');
    expect(outcomeOf(CONTROL.usageRejects, evaluateCloseControls(input({}, { rejects: rejects(11) })))).toBe('hold');
  });

  it('hold any gateway total mismatch by default, and allow one within a tolerance when set', () => {
    const off = { crossCheck: { reportedTotalTokens: 1_000_001, countedTokens: 1_000_000 } };
    expect(outcomeOf(CONTROL.totalTokens, evaluateCloseControls(input({}, {}, off)))).toBe('hold');
    const tolerant = { ...DEFAULT_CLOSE_CONTROL_LIMITS, totalTokensTolerance: 0.000001 };
    expect(outcomeOf(CONTROL.totalTokens, evaluateCloseControls(input({ limits: tolerant }, {}, off)))).toBe('warn');
    expect(outcomeOf(CONTROL.totalTokens, evaluateCloseControls(input({}, {}, { crossCheck: { reportedTotalTokens: null, countedTokens: 9 } })))).toBe('pass');
  });

  it('warn, never hold, on a month total that moves a lot or a team that doubles', () => {
    const previousMonth = { month: '2026-09', grandTotal: 5_000n, teams: [{ teamId: 'data', teamName: 'Data', amount: 5_000n }] };
    const controls = evaluateCloseControls(input({}, {}, { previousMonth }));
    expect(outcomeOf(CONTROL.monthChange, controls)).toBe('warn');
    expect(outcomeOf(CONTROL.teamGrowth, controls)).toBe('warn');
    expect(worstOutcome(controls)).toBe('warn');
    const steady = { month: '2026-09', grandTotal: 9_000n, teams: [{ teamId: 'data', teamName: 'Data', amount: 9_000n }] };
    expect(worstOutcome(evaluateCloseControls(input({}, {}, { previousMonth: steady })))).toBe('pass');
  });
});
