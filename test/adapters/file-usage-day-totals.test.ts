import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileUsageSource } from '../../shared/adapters/local/file-usage-source.js';
import { startOfDayInZone, type TimeWindow } from '../../shared/domain/periods.js';

const ZONE = 'Europe/Berlin';
const WINDOW: TimeWindow = { start: startOfDayInZone('2026-10-25', ZONE), end: startOfDayInZone('2026-10-27', ZONE) };
const dims = { UserId: 'oid-a', Model: 'claude-sonnet-4-6', Tier: 'Claude.Standard' };
const sample = (timestamp: string, name: string, valueSum: number, valueCount = 1) => JSON.stringify({ timestamp, name, valueSum, valueCount, customDimensions: dims });

function exportFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'file-day-totals-')), 'usage.ndjson');
  writeFileSync(
    file,
    [
      sample('2026-10-24T21:59:00Z', 'Prompt Tokens', 9), // 24 October in Berlin: outside the window
      sample('2026-10-24T22:00:00Z', 'Prompt Tokens', 100, 2), // 25 October 00:00 in Berlin (CEST)
      sample('2026-10-24T22:00:00Z', 'Total Tokens', 100, 2),
      sample('2026-10-25T22:59:00Z', 'Prompt Tokens', 50), // 25 October 23:59 in Berlin (CET since 03:00)
      sample('2026-10-25T23:00:00Z', 'Completion Tokens', 7), // 26 October
      sample('2026-10-25T23:01:00Z', 'Requests', 3), // not a metric the usage reads
      sample('2026-10-25T23:02:00Z', 'Prompt Tokens', -4), // rejected by the read, still counted as held
      'not json',
    ].join('\n') + '\n',
  );
  return file;
}

describe('FileUsageSource day totals', () => {
  it('sums what the file holds per day in the zone and metric, the same on its own as from a read', async () => {
    const file = exportFile();
    const source = new FileUsageSource({ files: [file] });
    const totals = await source.dayTotals(WINDOW, { timeZone: ZONE });
    expect(totals).toEqual([
      { day: '2026-10-25', metric: 'Prompt Tokens', valueSum: 150, valueCount: 3 },
      { day: '2026-10-25', metric: 'Total Tokens', valueSum: 100, valueCount: 2 },
      { day: '2026-10-26', metric: 'Completion Tokens', valueSum: 7, valueCount: 1 },
      { day: '2026-10-26', metric: 'Prompt Tokens', valueSum: -4, valueCount: 1 },
    ]);
    const read = await source.read(WINDOW, { timeZone: ZONE });
    expect(read.dayTotals).toEqual(totals);
    expect(read.days?.get('2026-10-26')?.rejects.byReason).toEqual({ 'valueSum is negative': 1 });
    expect(read.days?.get('2026-10-25')?.reportedTotalTokens).toBe(100);
    expect(read.rejects.count).toBe(2);

    appendFileSync(file, `${sample('2026-10-26T10:00:00Z', 'Completion Tokens', 0)}\n`);
    const later = await source.dayTotals(WINDOW, { timeZone: ZONE });
    expect(later.filter((total) => total.day === '2026-10-25')).toEqual(totals.filter((total) => total.day === '2026-10-25'));
    expect(later.find((total) => total.day === '2026-10-26' && total.metric === 'Completion Tokens')).toEqual({ day: '2026-10-26', metric: 'Completion Tokens', valueSum: 7, valueCount: 2 });
  });
});
