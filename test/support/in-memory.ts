import type { DirectoryResolution } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';
import type { PriceBook } from '../../shared/domain/price-book.js';
import { compareLines, lineKey, type MonthlyLine } from '../../shared/domain/rollup.js';
import type { UsageReadResult, UsageRow } from '../../shared/domain/usage.js';
import type { ArtifactStore } from '../../shared/ports/artifacts.js';
import type { Directory } from '../../shared/ports/directory.js';
import type { CloseRegistry, DeliveryLedger, DeliveryRecord, MonthClose } from '../../shared/ports/ledger.js';
import type { Mailer, OutgoingMail, SentMail } from '../../shared/ports/mailer.js';
import type { PriceBookSource } from '../../shared/ports/price-book-source.js';
import type { RollupStore } from '../../shared/ports/rollup-store.js';
import type { Clock } from '../../shared/ports/runtime.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';

/** In-memory stand-ins for use-case tests; every adapter also has a contract test against the real thing. */
export class InMemoryRollupStore implements RollupStore {
  readonly months = new Map<string, Map<string, MonthlyLine>>();

  async replaceMonth(month: string, lines: readonly MonthlyLine[]) {
    const previous = this.months.get(month) ?? new Map();
    const next = new Map(lines.map((line) => [lineKey(line), line]));
    const deleted = [...previous.keys()].filter((key) => !next.has(key)).length;
    this.months.set(month, next);
    return { written: lines.length, deleted };
  }

  async readTeamMonth(month: string, teamId: string) {
    return (await this.readMonth(month)).filter((line) => line.teamId === teamId);
  }

  async readMonth(month: string) {
    return [...(this.months.get(month)?.values() ?? [])].sort(compareLines);
  }
}

export class InMemoryCloseRegistry implements CloseRegistry {
  readonly closes = new Map<string, MonthClose>();
  async get(month: string) {
    return this.closes.get(month);
  }
  async put(close: MonthClose) {
    this.closes.set(close.month, close);
  }
}

export class InMemoryDeliveryLedger implements DeliveryLedger {
  readonly records = new Map<string, DeliveryRecord>();
  async get(key: string) {
    return this.records.get(key);
  }
  async put(record: DeliveryRecord) {
    this.records.set(record.key, record);
  }
}

/** Keeps every mail it was asked to send; can be told to fail the next sends. */
export class RecordingMailer implements Mailer {
  readonly sent: OutgoingMail[] = [];
  failuresLeft = 0;

  async send(mail: OutgoingMail): Promise<SentMail> {
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new AppError('MAIL_FAILED', 'the mail server is down', { retryable: true });
    }
    this.sent.push(mail);
    return { messageId: `<${this.sent.length}@test>`, location: `memory:${this.sent.length}` };
  }
}

export class InMemoryArtifacts implements ArtifactStore {
  readonly files = new Map<string, Buffer>();
  async save(name: string, content: Buffer) {
    this.files.set(name, content);
    return `memory:${name}`;
  }
}

export class StaticUsageSource implements UsageSource {
  constructor(public rows: UsageRow[]) {}
  async read(): Promise<UsageReadResult> {
    return {
      rows: this.rows,
      rejects: { count: 0, samples: [], byReason: {} },
      skipped: {},
      reportedTotalTokens: null,
      sourceDescription: 'static rows',
    };
  }
}

export class StaticDirectory implements Directory {
  constructor(private readonly resolution: DirectoryResolution) {}
  async resolve() {
    return this.resolution;
  }
}

export class StaticPriceBooks implements PriceBookSource {
  constructor(private readonly book: PriceBook) {}
  async load() {
    return this.book;
  }
}

export function fixedClock(iso: string): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return { now: () => now, set: (next) => (now = new Date(next)) };
}
