import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/domain/errors.js';
import { assertKeySize, decodeKeyPart, encodeKeyPart, isStorableKey, joinKeyParts, MAX_KEY_BYTES, splitKey } from '../../shared/adapters/azure/table-keys.js';

const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('/', '\\', '#', '?', '~', '%', '!', "'", '\u0000', '\u007f', 'a', '-', '_', '.', 'é', '\ud83d\ude00'), maxLength: 20 }),
  // Lone surrogates: not Unicode, but a JS string can hold them, so the encoding must stay total.
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units)),
);

describe('table key escaping', () => {
  it('leaves plain ids readable and escapes everything else', () => {
    expect(encodeKeyPart('2026-10')).toBe('2026-10');
    expect(encodeKeyPart('3f2b9c1e-7d4a-4e0b-9a55-1c2d3e4f5a6b')).toBe('3f2b9c1e-7d4a-4e0b-9a55-1c2d3e4f5a6b');
    expect(encodeKeyPart('claude-sonnet-4.5_x')).toBe('claude-sonnet-4.5_x');
    expect(encodeKeyPart('a/b#c?d\\e~f%g')).toBe('a!2Fb!23c!3Fd!5Ce!7Ef!25g');
    expect(encodeKeyPart('!')).toBe('!21');
    expect(encodeKeyPart('é')).toBe('!C3!A9');
    expect(encodeKeyPart('\ud83d\ude00')).toBe('!F0!9F!98!80');
    expect(encodeKeyPart('\ud800')).toBe('!uD800');
  });

  it('gives the empty string a reserved form distinct from every other value', () => {
    expect(encodeKeyPart('')).toBe('!');
    expect(decodeKeyPart('!')).toBe('');
    for (const other of ['-', '_', '!', ' ', '\u0000', '%00']) expect(encodeKeyPart(other)).not.toBe(encodeKeyPart(''));
  });

  it('round-trips every string', () => {
    fc.assert(fc.property(anyString, (value) => decodeKeyPart(encodeKeyPart(value)) === value), { numRuns: 2000 });
  });

  it('keeps a leading byte order mark (U+FEFF), which a UTF-8 decoder drops by default', () => {
    for (const value of ['\uFEFF', '\uFEFFclaude', 'a\uFEFF', '\uFEFF\uFEFF']) expect(decodeKeyPart(encodeKeyPart(value))).toBe(value);
    expect(splitKey(joinKeyParts(['\uFEFF', '']))).toEqual(['\uFEFF', '']);
  });

  it('never emits a character Table Storage forbids, nor ~ or %', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        const encoded = encodeKeyPart(value);
        return /^[A-Za-z0-9._!-]+$/.test(encoded) && encoded < '~';
      }),
      { numRuns: 2000 },
    );
  });

  it('is injective: different values never share an encoding', () => {
    fc.assert(fc.property(anyString, anyString, (a, b) => a === b || encodeKeyPart(a) !== encodeKeyPart(b)), { numRuns: 2000 });
  });

  it('joins and splits composite keys unambiguously', () => {
    fc.assert(
      fc.property(fc.array(anyString, { minLength: 1, maxLength: 4 }), (parts) => {
        const key = joinKeyParts(parts);
        return JSON.stringify(splitKey(key)) === JSON.stringify(parts) && (key.length > MAX_KEY_BYTES || isStorableKey(key));
      }),
      { numRuns: 1000 },
    );
    expect(joinKeyParts(['', 'a~b', ''])).toBe('!~a!7Eb~!');
  });

  it('refuses malformed stored parts instead of guessing', () => {
    for (const bad of ['', '!2', '!zz', '!uD8', 'a/b', 'a~b', '!C3']) {
      expect(() => decodeKeyPart(bad), bad).toThrow(AppError);
    }
  });

  it('reports a key over 1 KiB clearly and as not retryable', () => {
    expect(() => assertKeySize('x'.repeat(MAX_KEY_BYTES), 'RowKey', 'Line y')).not.toThrow();
    try {
      assertKeySize('x'.repeat(MAX_KEY_BYTES + 1), 'RowKey', 'Line y');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('STORAGE_FAILED');
      expect((error as AppError).retryable).toBe(false);
      expect((error as AppError).message).toMatch(/Line y.*RowKey.*1025 bytes.*1024-byte limit/);
    }
  });
});
