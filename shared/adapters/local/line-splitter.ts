const LF = 10;
const CR = '\r';
const LF_TEXT = '\n';

/**
 * Cuts text that arrives in pieces into lines exactly as node:readline does with `crlfDelay: Infinity`: a line
 * ends at LF, CRLF or a lone CR; a CR that ends one piece and an LF that starts the next are one line end;
 * the text after the last line end is a line when the input ends, unless it is empty. It does the same work as
 * readline without its per-piece RegExp and event emitter, which cost a fifth of reading a large export.
 *
 * Pieces are text already decoded (a StringDecoder keeps a UTF-8 sequence split between two byte chunks
 * whole). An exception thrown by `onLine` leaves the splitter: the caller stops reading.
 */
export class LineSplitter {
  /** The start of a line whose end has not arrived yet. */
  private partial = '';
  /** The last piece ended with CR: an LF starting the next piece belongs to that line end. */
  private endedWithCr = false;

  constructor(private readonly onLine: (text: string) => void) {}

  push(text: string): void {
    let start = 0;
    if (this.endedWithCr) {
      this.endedWithCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    let lf = text.indexOf(LF_TEXT, start);
    // Most exports have no CR at all: one search per piece tells, and lines are then cut at LF only.
    let cr = text.indexOf(CR, start);
    while (lf !== -1 || cr !== -1) {
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        end = lf;
        next = lf + 1;
        lf = text.indexOf(LF_TEXT, next);
      } else {
        end = cr;
        next = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        if (next === cr + 2) lf = text.indexOf(LF_TEXT, next);
        cr = text.indexOf(CR, next);
        if (end === text.length - 1) this.endedWithCr = true;
      }
      const line = this.partial === '' ? text.slice(start, end) : this.partial + text.slice(start, end);
      this.partial = '';
      start = next;
      this.onLine(line);
    }
    if (start < text.length) this.partial = this.partial === '' ? text.slice(start) : this.partial + text.slice(start);
  }

  /** The input ended: its last line, when it had no line end. */
  end(): void {
    const last = this.partial;
    this.partial = '';
    if (last.length > 0) this.onLine(last);
  }
}
