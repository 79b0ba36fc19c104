import { Decimal } from 'decimal.js';
import { AppError } from './errors.js';

/**
 * JSON that keeps what plain JSON loses in a report or a close's context: bigint amounts, exact decimals,
 * instants, maps and bytes (a mail's attachment) come back as the same types, so a work item read back in another process computes the
 * same figures as the process that wrote it.
 */
export function toTaggedJson(value: unknown): string {
  return JSON.stringify(value, function replace(this: Record<string, unknown>, key: string, plain: unknown) {
    // `this[key]` is the value before its own toJSON (Date, Decimal) turned it into a string.
    const original = key === '' ? value : this[key];
    if (typeof original === 'bigint') return { $bigint: original.toString() };
    if (original instanceof Date) return { $date: original.toISOString() };
    if (Decimal.isDecimal(original)) return { $decimal: (original as Decimal).toString() };
    if (original instanceof Map) return { $map: [...original.entries()] };
    if (original instanceof Set) return { $set: [...original.values()] };
    if (original instanceof Uint8Array) return { $base64: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') };
    return plain;
  });
}

export function fromTaggedJson<T = unknown>(text: string, what: string): T {
  try {
    return JSON.parse(text, (_key, plain: unknown) => {
      if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) return plain;
      const tagged = plain as Record<string, unknown>;
      const keys = Object.keys(tagged);
      if (keys.length !== 1) return plain;
      if (typeof tagged.$bigint === 'string') return BigInt(tagged.$bigint);
      if (typeof tagged.$date === 'string') return new Date(tagged.$date);
      if (typeof tagged.$decimal === 'string') return new Decimal(tagged.$decimal);
      if (Array.isArray(tagged.$map)) return new Map(tagged.$map as [unknown, unknown][]);
      if (Array.isArray(tagged.$set)) return new Set(tagged.$set as unknown[]);
      if (typeof tagged.$base64 === 'string') return Buffer.from(tagged.$base64, 'base64');
      return plain;
    }) as T;
  } catch (error) {
    throw new AppError('INTERNAL', `${what} is not readable tagged JSON: ${(error as Error).message}`, { cause: error });
  }
}
