import { AppError } from '../../domain/errors.js';

/**
 * Escaping of PartitionKey / RowKey parts for Azure Table Storage.
 *
 * Table Storage forbids `/ \ # ?` and control characters in keys, limits them to 1 KiB, and several real
 * and emulated code paths mishandle `%` and `'` in keys (point operations and batch deletes on keys holding
 * `%` fail on the service and on Azurite), so percent-encoding is not used. Instead:
 *
 * - `A-Z a-z 0-9 . _ -` stay as they are (so GUID user ids, team ids and most model ids are readable);
 * - every other character becomes `!` followed by its UTF-8 bytes as two upper-case hex digits each
 *   (`/` -> `!2F`, `~` -> `!7E`, `%` -> `!25`, `é` -> `!C3!A9`);
 * - a lone UTF-16 surrogate (not valid Unicode, so it has no UTF-8 form) becomes `!u` + four hex digits;
 * - the empty string becomes the single reserved character `!`, which no non-empty value can encode to
 *   (in an encoded value `!` is always followed by hex digits or `u`).
 *
 * An encoded part therefore only ever holds `[A-Za-z0-9._!-]`: plain ASCII, one byte per character, never
 * `~`, so `~` can separate parts of a composite key unambiguously, and every encoded part sorts below `~`.
 * The mapping is injective and `decodeKeyPart(encodeKeyPart(s)) === s` for every string.
 */

export const KEY_PART_SEPARATOR = '~';
/** Table Storage's limit for PartitionKey and RowKey, each. Encoded keys are ASCII: characters are bytes. */
export const MAX_KEY_BYTES = 1024;

const EMPTY_MARKER = '!';
const PLAIN = /^[A-Za-z0-9._-]$/;
const ALL_PLAIN = /^[A-Za-z0-9._-]+$/;
const HEX = '0123456789ABCDEF';
const utf8 = new TextEncoder();

function hexByte(byte: number): string {
  return HEX[byte >> 4]! + HEX[byte & 0x0f]!;
}

export function encodeKeyPart(value: string): string {
  if (value === '') return EMPTY_MARKER;
  // Most ids (oids, model ids, tiers) need no escaping: one test rather than one per character.
  if (ALL_PLAIN.test(value)) return value;
  let out = '';
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index);
    const char = value[index]!;
    if (PLAIN.test(char)) {
      out += char;
      continue;
    }
    let codePoint = unit;
    let width = 1;
    if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < value.length) {
      const next = value.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        width = 2;
      }
    }
    if (width === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      out += `!u${hexByte(unit >> 8)}${hexByte(unit & 0xff)}`;
      continue;
    }
    for (const byte of utf8.encode(String.fromCodePoint(codePoint))) out += `!${hexByte(byte)}`;
    index += width - 1;
  }
  return out;
}

function invalidPart(encoded: string, why: string): AppError {
  return new AppError('STORAGE_FAILED', `Stored key part "${encoded}" is not a valid encoded key: ${why}`);
}

export function decodeKeyPart(encoded: string): string {
  if (encoded === EMPTY_MARKER) return '';
  if (encoded === '') throw invalidPart(encoded, 'empty (the empty value is stored as "!")');
  let out = '';
  let bytes: number[] = [];
  const flushBytes = (): void => {
    if (bytes.length === 0) return;
    try {
      // ignoreBOM keeps a leading U+FEFF as the character it is; by default the decoder would drop it.
      out += new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
    } catch {
      throw invalidPart(encoded, 'escaped bytes are not UTF-8');
    }
    bytes = [];
  };
  let index = 0;
  while (index < encoded.length) {
    const char = encoded[index]!;
    if (char !== '!') {
      if (!PLAIN.test(char)) throw invalidPart(encoded, `unexpected character ${JSON.stringify(char)}`);
      flushBytes();
      out += char;
      index += 1;
      continue;
    }
    if (encoded[index + 1] === 'u') {
      const hex = encoded.slice(index + 2, index + 6);
      if (!/^[0-9A-F]{4}$/.test(hex)) throw invalidPart(encoded, `bad surrogate escape at ${index}`);
      flushBytes();
      out += String.fromCharCode(parseInt(hex, 16));
      index += 6;
      continue;
    }
    const hex = encoded.slice(index + 1, index + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) throw invalidPart(encoded, `bad escape at ${index}`);
    bytes.push(parseInt(hex, 16));
    index += 3;
  }
  flushBytes();
  return out;
}

/** Encodes each part and joins them with `~`; `splitKey` reverses it. */
export function joinKeyParts(parts: readonly string[]): string {
  return parts.map(encodeKeyPart).join(KEY_PART_SEPARATOR);
}

export function splitKey(key: string): string[] {
  return key.split(KEY_PART_SEPARATOR).map(decodeKeyPart);
}

/** True when `key` may be used as a PartitionKey or RowKey as it is. */
export function isStorableKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_BYTES && !/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(key);
}

/** Rejects a key over Table Storage's 1 KiB limit before the service does, naming what it belongs to. */
export function assertKeySize(key: string, kind: 'PartitionKey' | 'RowKey', owner: string): void {
  if (key.length > MAX_KEY_BYTES) {
    throw new AppError(
      'STORAGE_FAILED',
      `${owner}: its ${kind} would be ${key.length} bytes once escaped, over Table Storage's ${MAX_KEY_BYTES}-byte limit`,
      { retryable: false },
    );
  }
}

/**
 * Bounds of the range holding every composite key whose first part is `firstPart`: lower inclusive, upper
 * exclusive. The upper bound works because every encoded part sorts below the separator.
 */
export function keysStartingWith(firstPart: string): { from: string; to: string } {
  const prefix = `${encodeKeyPart(firstPart)}${KEY_PART_SEPARATOR}`;
  return { from: prefix, to: `${prefix}${KEY_PART_SEPARATOR}` };
}
