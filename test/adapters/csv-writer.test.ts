import { describe, expect, it } from 'vitest';
import { csvNumber, csvRecord, csvText } from '../../shared/adapters/reports/csv-writer.js';
import { money } from '../../shared/domain/money.js';
import { parseCsv } from '../support/csv.js';

describe('the one CSV writer', () => {
  it('defuses text a spreadsheet would run as a formula with a leading single quote', () => {
    expect(csvText('=HYPERLINK("http://evil.example","x")')).toBe(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
    expect(csvText('@SUM(A1:A9)')).toBe(`'@SUM(A1:A9)`);
    expect(csvText('+1')).toBe(`'+1`);
    expect(csvText('-1')).toBe(`'-1`);
    expect(csvText('\tcmd')).toBe(`'\tcmd`);
    expect(csvText('\rcmd')).toBe(`"'\rcmd"`);
  });

  it('leaves ordinary text alone and quotes as RFC 4180 asks', () => {
    expect(csvText('plain')).toBe('plain');
    expect(csvText('')).toBe('');
    expect(csvText('a,b')).toBe('"a,b"');
    expect(csvText('say "hi"')).toBe('"say ""hi"""');
    expect(csvText('two\nlines')).toBe('"two\nlines"');
    expect(csvText("it's = fine")).toBe("it's = fine");
  });

  it('writes numbers as numbers, negative ones included, and refuses anything else in a number cell', () => {
    expect(csvNumber(-1)).toBe('-1');
    expect(csvNumber(money('-12.50'))).toBe('-12.5');
    expect(csvNumber(12n)).toBe('12');
    expect(csvNumber('0.000001')).toBe('0.000001');
    expect(() => csvNumber('=1+1')).toThrow(/not a plain decimal/);
    expect(() => csvNumber('1e5')).toThrow(/not a plain decimal/);
    expect(() => csvNumber(' 1')).toThrow(/not a plain decimal/);
  });

  it('gives records a CSV reader reads back to the text that was meant, each cell starting safely', () => {
    const hostile = ['=HYPERLINK("http://x")', '@SUM(1)', '+1', '-1', '\tx', '\rx', 'a,"b"\r\nc'];
    const text = csvRecord([...hostile, money('-3.25'), 7]);
    const [cells] = parseCsv(text);
    expect(cells).toEqual([...hostile.slice(0, 6).map((value) => `'${value}`), 'a,"b"\r\nc', '-3.25', '7']);
  });
});
