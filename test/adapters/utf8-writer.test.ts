import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8Writer } from '../../shared/adapters/utf8-writer.js';

describe('Utf8Writer', () => {
  it('writes ASCII a byte a character, and any other text as UTF-8, growing past its first size', () => {
    const writer = new Utf8Writer(4);
    writer.writeAscii('12.5,');
    writer.writeAscii('-0.000001');
    writer.writeAscii('7\u20ac8');
    writer.write('caf\u00e9');
    writer.writeBytes(Buffer.from('\r\n'));
    writer.writeAscii('\u{1F600}');
    expect(writer.take().toString('utf8')).toBe('12.5,-0.0000017\u20ac8caf\u00e9\r\n\u{1F600}');
  });

  it('gives the bytes Buffer.from gives, whatever mix of pieces and methods', () => {
    const piece = fc.oneof(fc.string({ unit: 'grapheme-ascii' }), fc.string({ unit: 'grapheme' }), fc.stringMatching(/^-?\d{1,12}(\.\d{1,8})?$/));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('ascii', 'text', 'bytes'), piece), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (pieces, initial) => {
        const writer = new Utf8Writer(initial);
        for (const [how, text] of pieces) {
          if (how === 'ascii') writer.writeAscii(text);
          else if (how === 'text') writer.write(text);
          else writer.writeBytes(Buffer.from(text, 'utf8'));
        }
        expect(writer.take().equals(Buffer.from(pieces.map(([, text]) => text).join(''), 'utf8'))).toBe(true);
      }),
    );
  });
});
