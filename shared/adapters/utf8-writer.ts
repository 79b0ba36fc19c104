/**
 * Texts encoded as UTF-8 one after another straight into a buffer, rather than joined into one string that is
 * encoded again when it is written: what the Table transactions' bodies and the FOCUS export's chunks are made of.
 */
export class Utf8Writer {
  private buffer: Buffer;
  private used = 0;

  /** No buffer until the first write (and after a `take`, until the next one). */
  constructor(private readonly initialBytes: number) {
    this.buffer = NO_BUFFER;
  }

  /** Bytes written since the last `take`. */
  get length(): number {
    return this.used;
  }

  /** Whether `text` certainly fits in the room left without the buffer growing. */
  private fits(text: string): boolean {
    return this.used + mostBytes(text) <= this.buffer.length;
  }

  /** Appends `text`, in a buffer of `initialBytes` at first, growing it (at least doubling it) when it might not fit. */
  write(text: string): void {
    if (!this.fits(text)) this.grow(mostBytes(text));
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  private grow(atLeast: number): void {
    const grown = Buffer.allocUnsafe(Math.max(this.initialBytes, this.buffer.length * 2, this.used + atLeast));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }

  /**
   * Appends `text`, most often ASCII (a number's digits and signs), a byte per character: for a few characters
   * the encoder's call costs more than the loop. Anything else goes through `write`.
   */
  writeAscii(text: string): void {
    const length = text.length;
    if (this.used + length > this.buffer.length) this.grow(length);
    const buffer = this.buffer;
    let at = this.used;
    for (let index = 0; index < length; index++) {
      const code = text.charCodeAt(index);
      if (code > 0x7f) return this.write(text);
      buffer[at++] = code;
    }
    this.used = at;
  }

  /** Appends bytes already encoded (a piece written many times over, encoded once). */
  writeBytes(bytes: Buffer): void {
    if (this.used + bytes.length > this.buffer.length) this.grow(bytes.length);
    this.used += bytes.copy(this.buffer, this.used);
  }

  /** The bytes written so far; the next write starts a new buffer, as the bytes taken stay in use. */
  take(): Buffer {
    const bytes = this.buffer.subarray(0, this.used);
    this.buffer = NO_BUFFER;
    this.used = 0;
    return bytes;
  }
}

const NO_BUFFER = Buffer.alloc(0);

/** Each UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, two units, is 4). */
function mostBytes(text: string): number {
  return text.length * 3;
}
