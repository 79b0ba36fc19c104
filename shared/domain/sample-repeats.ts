import { AppError } from './errors.js';

/**
 * The set of (series, minute) pairs already counted, with where each was first read.
 *
 * A month of 10,000 users is ~780,000 pairs. A Set of numbers or a Map of strings costs 40-100 bytes a pair
 * and a string per location; this open-addressing table keeps 12 bytes a slot in two typed arrays (the pair
 * as one integer-valued double, and the first location packed into 32 bits), so the check costs about
 * 12-25 MB at that size rather than hundreds.
 */
export class SeenSamplePairs {
  /** key + 1 per slot; 0 marks an empty slot. */
  private keys: Float64Array;
  private origins: Uint32Array;
  private mask: number;
  private filled = 0;

  constructor(initialSlots = 1 << 14) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(16, initialSlots)));
    this.keys = new Float64Array(slots);
    this.origins = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.filled;
  }

  /**
   * Adds `key` (a non-negative safe integer) with `origin` when it is new and returns -1; when it was added
   * before, changes nothing and returns the origin it was first added with.
   */
  addOrFind(key: number, origin: number): number {
    if (!Number.isSafeInteger(key) || key < 0 || key >= Number.MAX_SAFE_INTEGER) {
      throw new AppError('INTERNAL', `sample pair key ${key} is not a safe non-negative integer`);
    }
    const stored = key + 1;
    let slot = slotOf(stored) & this.mask;
    for (;;) {
      const found = this.keys[slot]!;
      if (found === 0) break;
      if (found === stored) return this.origins[slot]!;
      slot = (slot + 1) & this.mask;
    }
    this.keys[slot] = stored;
    this.origins[slot] = origin >>> 0;
    this.filled += 1;
    // Linear probing stays short below ~80% full.
    if (this.filled * 5 > this.keys.length * 4) this.grow();
    return -1;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldOrigins = this.origins;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.origins = new Uint32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    for (let index = 0; index < oldKeys.length; index += 1) {
      const stored = oldKeys[index]!;
      if (stored === 0) continue;
      let slot = slotOf(stored) & this.mask;
      while (this.keys[slot] !== 0) slot = (slot + 1) & this.mask;
      this.keys[slot] = stored;
      this.origins[slot] = oldOrigins[index]!;
    }
  }
}

/** Mixes both 32-bit halves: keys differ mostly in their low bits (minutes) and in the high ones (series). */
function slotOf(stored: number): number {
  const low = stored >>> 0;
  const high = Math.floor(stored / 0x1_0000_0000) >>> 0;
  let hash = Math.imul(low ^ Math.imul(high, 0x85eb_ca6b), 0x9e37_79b1);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b_3c6d);
  return (hash ^ (hash >>> 13)) >>> 0;
}
