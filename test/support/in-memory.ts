import type { DirectoryResolution } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';
import type { PriceBook } from '../../shared/domain/price-book.js';
import type { MonthReport } from '../../shared/domain/report.js';
import type { RevisionSummary } from '../../shared/domain/revisions.js';
import { compareLines, lineKey, totalsOf, type MonthlyLine } from '../../shared/domain/rollup.js';
import { usageRowsOf, type UsageReadResult, type UsageRow } from '../../shared/domain/usage.js';
import type { AlertChannel, AlertClaim, AlertLedger, AlertRecord, AlertSettlement, ClaimOutcome } from '../../shared/ports/alert-ledger.js';
import type { ArtifactStore } from '../../shared/ports/artifacts.js';
import type { Directory } from '../../shared/ports/directory.js';
import type { CloseAttempt, CloseRegistry, DeliveryLedger, DeliveryRecord, HeldClose, MonthClose } from '../../shared/ports/ledger.js';
import type { HeldLease, LeaseAcquisition, Leases } from '../../shared/ports/lease.js';
import type { Mailer, OutgoingMail, SentMail } from '../../shared/ports/mailer.js';
import type { PriceBookSource } from '../../shared/ports/price-book-source.js';
import type { ReportRenderer } from '../../shared/ports/report-renderer.js';
import type { RevisionedRollupStore } from '../../shared/ports/rollup-store.js';
import type { Clock } from '../../shared/ports/runtime.js';
import type { UsageSource } from '../../shared/ports/usage-source.js';
import { summarizeTeamDays, type DayLine, type TeamDayTotal } from '../../shared/domain/daily.js';
import { createDayResolver, type TimeWindow } from '../../shared/domain/periods.js';
import type { DailyRollupStore } from '../../shared/ports/daily-rollup-store.js';
import type { DayIngestSummary } from '../../shared/domain/day-ingest.js';
import type { IngestRun, IngestRunLog } from '../../shared/ports/ingest-runs.js';
import type { ReadUsageOptions } from '../../shared/ports/usage-source.js';
import type { MailPacer, PoisonedMessage, WorkMessage, WorkQueueName, WorkQueues } from '../../shared/ports/work-queues.js';
import type { DrainableWorkQueues, ReceivedWorkMessage } from '../../shared/adapters/local/queue-drain.js';
import { mailSlotIntervalMs } from '../../shared/adapters/azure/table-mail-pacer.js';
import { isSafeArtifactName } from '../../shared/adapters/local/directory-artifacts.js';

/** In-memory stand-ins for use-case tests; test/contracts runs each storage port's tests on these and on the Table adapters alike. */
export class InMemoryRollupStore implements RevisionedRollupStore {
  /** The published lines of each month. */
  readonly months = new Map<string, Map<string, MonthlyLine>>();
  /** By `${month}|r${revision}`: written, not yet published. */
  readonly revisions = new Map<string, Map<string, MonthlyLine>>();
  readonly published = new Map<string, number>();

  async replaceMonth(month: string, lines: readonly MonthlyLine[]) {
    assertMonthText(month);
    const other = lines.find((line) => line.month !== month);
    if (other) throw new AppError('INVALID_ARGUMENT', `a line of ${other.month} is not a line of ${month}`);
    const previous = this.months.get(month) ?? new Map();
    const next = new Map(lines.map((line) => [lineKey(line), line]));
    if (next.size !== lines.length) throw new AppError('INVALID_ARGUMENT', `two lines of ${month} have the same key`);
    const deleted = [...previous.keys()].filter((key) => !next.has(key)).length;
    this.months.set(month, next);
    this.published.set(month, 0);
    return { written: lines.length, deleted };
  }

  async writeRevision(month: string, revision: number, lines: readonly MonthlyLine[]) {
    const key = `${month}|r${revision}`;
    const previous = this.revisions.get(key) ?? new Map();
    const next = new Map(lines.map((line) => [lineKey(line), line]));
    this.revisions.set(key, next);
    return { written: lines.length, deleted: [...previous.keys()].filter((k) => !next.has(k)).length };
  }

  async publishRevision(month: string, revision: number) {
    const lines = this.revisions.get(`${month}|r${revision}`) ?? (revision === this.published.get(month) ? this.months.get(month) : undefined) ?? new Map();
    this.months.set(month, new Map(lines));
    this.published.set(month, revision);
    for (const key of [...this.revisions.keys()]) if (key.startsWith(`${month}|r`) && key !== `${month}|r${revision}`) this.revisions.delete(key);
  }

  async publishedRevision(month: string) {
    return this.published.get(month) ?? (this.months.has(month) ? 0 : undefined);
  }

  async readRevision(month: string, revision: number) {
    const lines = this.revisions.get(`${month}|r${revision}`) ?? (this.published.get(month) === revision ? this.months.get(month) : undefined);
    return [...(lines?.values() ?? [])].sort(compareLines);
  }

  async readTeamMonth(month: string, teamId: string) {
    return (await this.readMonth(month)).filter((line) => line.teamId === teamId);
  }

  async readMonth(month: string) {
    assertMonthText(month);
    return [...(this.months.get(month)?.values() ?? [])].sort(compareLines);
  }

  async readMonthTotals(month: string) {
    return (await this.readMonth(month)).map(totalsOf);
  }
}

function assertMonthText(month: string): void {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new AppError('INVALID_ARGUMENT', `"${month}" is not a month (YYYY-MM)`);
}

export class InMemoryCloseRegistry implements CloseRegistry {
  readonly closes = new Map<string, MonthClose>();
  /** By `${month}|r${revision}`. */
  readonly summaries = new Map<string, RevisionSummary>();
  async get(month: string) {
    return this.closes.get(month);
  }
  async put(close: MonthClose) {
    const { summary, ...record } = close;
    this.closes.set(close.month, record);
    if (summary) this.summaries.set(`${close.month}|r${close.revision}`, summary);
  }
  async summary(month: string, revision: number) {
    return this.summaries.get(`${month}|r${revision}`);
  }
  readonly drafts = new Map<string, HeldClose>();
  readonly attemptLog: CloseAttempt[] = [];
  async draft(month: string) {
    return this.drafts.get(month);
  }
  async putDraft(close: HeldClose) {
    this.drafts.set(close.month, close);
  }
  async clearDraft(month: string) {
    this.drafts.delete(month);
  }
  async recordAttempt(attempt: CloseAttempt) {
    this.attemptLog.unshift(attempt);
  }
  async attempts(month: string, limit = 50) {
    return this.attemptLog.filter((attempt) => attempt.month === month).slice(0, limit);
  }
}

/** Leases in a map; `now` decides expiry, so a test can let a lease lapse. */
export class InMemoryLeases implements Leases {
  readonly held = new Map<string, { holder: string; expiresAt: number }>();
  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly durationMs = 60_000,
  ) {}
  async acquire(name: string, holder: string): Promise<LeaseAcquisition> {
    const current = this.held.get(name);
    if (current && current.holder !== holder && current.expiresAt > this.now().getTime()) {
      return { acquired: false, heldBy: current.holder, expiresAt: new Date(current.expiresAt) };
    }
    this.held.set(name, { holder, expiresAt: this.now().getTime() + this.durationMs });
    const lease: HeldLease = {
      name,
      holder,
      renew: async () => {
        const mine = this.held.get(name);
        if (!mine || mine.holder !== holder) throw new AppError('BUSY', `the lease ${name} was lost`);
        mine.expiresAt = this.now().getTime() + this.durationMs;
      },
      release: async () => {
        if (this.held.get(name)?.holder === holder) this.held.delete(name);
      },
    };
    return { acquired: true, lease };
  }
}

export class InMemoryDeliveryLedger implements DeliveryLedger {
  readonly records = new Map<string, DeliveryRecord>();
  private version = 0;
  async get(key: string) {
    return this.records.get(key);
  }
  async put(record: DeliveryRecord) {
    this.records.set(record.key, { ...record, etag: `v${++this.version}` });
  }
  async claim(record: DeliveryRecord, previous: DeliveryRecord | undefined) {
    const current = this.records.get(record.key);
    if (previous === undefined ? current !== undefined : current?.etag !== previous.etag) return false;
    await this.put(record);
    return true;
  }
}

/** Keeps every mail it was asked to send; can be told to fail the next sends. */
export class RecordingMailer implements Mailer {
  readonly sent: OutgoingMail[] = [];
  failuresLeft = 0;
  /** Fails every send this returns true for (e.g. the server going down half-way through a run). */
  failWhen: ((mail: OutgoingMail, sentSoFar: number) => boolean) | null = null;

  async send(mail: OutgoingMail): Promise<SentMail> {
    if (this.failWhen?.(mail, this.sent.length)) throw new AppError('MAIL_FAILED', 'the mail server is down', { retryable: true });
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
  /** With `links`, a store that hands out links like a Blob container (valid from `links.now`); without, a folder. */
  constructor(private readonly links?: { readonly baseUrl: string; readonly now: Date }) {}
  async link(name: string, expiresInHours: number) {
    if (!this.links) return undefined;
    if (!this.files.has(name)) throw new Error(`no artifact ${name} to link to`);
    const expiresAt = new Date(this.links.now.getTime() + expiresInHours * 3_600_000);
    return { url: `${this.links.baseUrl}/${encodeURIComponent(name)}?se=${expiresAt.toISOString()}`, expiresAt };
  }
  async save(name: string, content: Buffer) {
    this.files.set(name, content);
    return `memory:${name}`;
  }
  async read(name: string) {
    return this.files.get(name);
  }
  async saveStream(name: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>) {
    const parts: Buffer[] = [];
    for await (const chunk of chunks) parts.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    this.files.set(name, Buffer.concat(parts));
    return `memory:${name}`;
  }
  /** Saved parts by artifact name, then part name; and what each finished join was made of. */
  readonly parts = new Map<string, Map<string, Buffer>>();
  readonly joined = new Map<string, string>();
  async savePart(name: string, part: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>) {
    assertArtifactNames(name, part);
    const pieces: Buffer[] = [];
    for await (const chunk of chunks) pieces.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    let saved = this.parts.get(name);
    if (!saved) this.parts.set(name, (saved = new Map()));
    saved.set(part, Buffer.concat(pieces));
  }
  async joinParts(name: string, parts: readonly string[]) {
    assertArtifactNames(name, ...parts);
    const saved = this.parts.get(name);
    const missing = parts.find((part) => !saved?.has(part));
    if (missing !== undefined) {
      if (this.joined.get(name) === JSON.stringify(parts)) return `memory:${name}`;
      throw new AppError('NOT_FOUND', `part ${missing} of ${name} was never saved`);
    }
    this.files.set(name, Buffer.concat(parts.map((part) => saved!.get(part)!)));
    this.joined.set(name, JSON.stringify(parts));
    this.parts.delete(name);
    return `memory:${name}`;
  }
}

/** The names a real store accepts: the fake refuses the others as they do. */
function assertArtifactNames(...names: string[]): void {
  const unsafe = names.find((name) => !isSafeArtifactName(name));
  if (unsafe !== undefined) throw new AppError('INVALID_ARGUMENT', `Artifact name ${JSON.stringify(unsafe)} is not a plain file name.`);
}

export class StaticUsageSource implements UsageSource {
  constructor(public rows: UsageRow[]) {}
  async read(): Promise<UsageReadResult> {
    return {
      rows: usageRowsOf(this.rows),
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
  async lookUpTeams(teamIds: readonly string[]) {
    return new Map([...this.resolution.teams].filter(([teamId]) => teamIds.includes(teamId)));
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

/** A renderer that skips building workbooks: the "file" is the team totals as JSON, enough to compare runs. */
export class TeamTotalsRenderer implements ReportRenderer {
  async financeWorkbook(report: MonthReport): Promise<Buffer> {
    return teamTotalsJson(report);
  }
  async teamWorkbook(report: MonthReport): Promise<Buffer> {
    return teamTotalsJson(report);
  }
}

function teamTotalsJson(report: MonthReport): Buffer {
  return Buffer.from(JSON.stringify(report.teams, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
}

/** Daily rollups keyed like the Table adapter: a day's lines and team totals are replaced as a whole. */
export class InMemoryDailyRollupStore implements DailyRollupStore {
  readonly days = new Map<string, { lines: DayLine[]; totals: TeamDayTotal[] }>();
  /** Fails the replace of these days (once each), to simulate a crash half-way through a run. */
  readonly failOnce = new Set<string>();
  readonly replaced: string[] = [];
  /** What the ingest read per day; a replaced day loses its summary until the ingest records the new one. */
  readonly summaries = new Map<string, DayIngestSummary>();

  async replaceDay(day: string, lines: readonly DayLine[]) {
    const other = lines.find((line) => line.day !== day);
    if (other) throw new AppError('INVALID_ARGUMENT', `a line of ${other.day} is not a line of ${day}`);
    // The summary goes first, as in the Table adapter: a day whose replace failed reads as not ingested.
    this.summaries.delete(day);
    if (this.failOnce.delete(day)) throw new AppError('STORAGE_FAILED', `storage went away while writing ${day}`, { retryable: true });
    const previous = this.days.get(day);
    const totals = summarizeTeamDays(day, lines);
    const key = (line: DayLine) => `${line.teamId}\u0000${line.userId}\u0000${line.model}\u0000${line.tier}`;
    const next = new Set(lines.map(key));
    const nextTeams = new Set(totals.map((total) => total.teamId));
    const deletedLines = (previous?.lines ?? []).filter((line) => !next.has(key(line))).length;
    const deletedTotals = (previous?.totals ?? []).filter((total) => !nextTeams.has(total.teamId)).length;
    if (lines.length === 0) this.days.delete(day);
    else this.days.set(day, { lines: [...lines], totals });
    this.replaced.push(day);
    return { lines: lines.length, deletedLines, totals: totals.length, deletedTotals };
  }

  async readDay(day: string) {
    return [...(this.days.get(day)?.lines ?? [])];
  }

  async readTeamDays(month: string, teamId: string, throughDay: string) {
    return [...this.days.entries()]
      .filter(([day]) => day.startsWith(`${month}-`) && day <= throughDay)
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([, stored]) => stored.lines.filter((line) => line.teamId === teamId).sort((a, b) => a.userId.localeCompare(b.userId) || a.model.localeCompare(b.model) || a.tier.localeCompare(b.tier)));
  }

  async readTeamDailySeries(month: string, teamId: string) {
    return (await this.readMonthDailySeries(month)).filter((total) => total.teamId === teamId);
  }

  async readMonthDailySeries(month: string) {
    return [...this.days.entries()]
      .filter(([day]) => day.startsWith(`${month}-`))
      .flatMap(([, stored]) => stored.totals)
      .sort((a, b) => a.teamId.localeCompare(b.teamId) || a.day.localeCompare(b.day));
  }

  async putDaySummary(summary: DayIngestSummary) {
    this.summaries.set(summary.day, structuredClone(summary));
  }

  async readDaySummaries(month: string) {
    return [...this.summaries.values()].filter((summary) => summary.day.startsWith(`${month}-`)).sort((a, b) => a.day.localeCompare(b.day)).map((summary) => structuredClone(summary));
  }
}

export class InMemoryIngestRunLog implements IngestRunLog {
  readonly runs: IngestRun[] = [];
  async record(run: IngestRun) {
    this.runs.push(run);
  }
  async lastSucceeded() {
    return [...this.runs].reverse().find((run) => run.status === 'succeeded');
  }
  async recent(limit: number) {
    return [...this.runs].reverse().slice(0, limit);
  }
}

/**
 * A usage source holding rows the way App Insights holds metrics: it returns only the rows of days inside the
 * window asked for, records each window, and can be told to fail the next reads.
 */
export class WindowedUsageSource implements UsageSource {
  readonly windows: TimeWindow[] = [];
  failuresLeft = 0;

  constructor(public rows: UsageRow[]) {}

  async read(window: TimeWindow, options: ReadUsageOptions): Promise<UsageReadResult> {
    this.windows.push(window);
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new AppError('USAGE_PARTIAL_RESULT', 'the query returned a partial result');
    }
    const dayOf = createDayResolver(options.timeZone);
    const first = dayOf(window.start);
    const last = dayOf(new Date(window.end.getTime() - 1));
    return {
      rows: usageRowsOf(this.rows.filter((row) => row.day >= first && row.day <= last)),
      rejects: { count: 0, samples: [], byReason: {} },
      skipped: {},
      reportedTotalTokens: null,
      sourceDescription: 'windowed rows',
    };
  }
}

/** The alert ledger's state machine with a version per record, as the Table adapter keeps it with ETags. */
export class InMemoryAlertLedger implements AlertLedger {
  private readonly records = new Map<string, { record: AlertRecord; version: number }>();
  private versions = 0;

  async claim(key: string, channel: AlertChannel, options: { now: Date; staleAfterMs: number }): Promise<ClaimOutcome> {
    const id = `${channel}\u0000${key}`;
    const existing = this.records.get(id);
    if (existing) {
      const { record } = existing;
      if (record.state === 'sent' || record.state === 'superseded') return { status: 'done', record };
      if (record.state === 'claimed' && options.now.getTime() - record.claimedAt.getTime() < options.staleAfterMs) return { status: 'busy', record };
    }
    const attempt = (existing?.record.attempts ?? 0) + 1;
    const version = ++this.versions;
    this.records.set(id, { record: { key, channel, state: 'claimed', attempts: attempt, claimedAt: options.now, updatedAt: options.now }, version });
    return { status: 'claimed', claim: { key, channel, attempt, claimedAt: options.now, version: String(version) } };
  }

  async settle(claim: AlertClaim, settlement: AlertSettlement, now: Date): Promise<boolean> {
    const id = `${claim.channel}\u0000${claim.key}`;
    const existing = this.records.get(id);
    if (!existing || String(existing.version) !== claim.version) return false;
    const record: AlertRecord = {
      key: claim.key,
      channel: claim.channel,
      state: settlement.state,
      attempts: claim.attempt,
      claimedAt: claim.claimedAt,
      updatedAt: now,
      ...(settlement.state === 'failed' ? { lastError: settlement.error } : { detail: settlement.detail }),
    };
    this.records.set(id, { record, version: ++this.versions });
    return true;
  }

  async get(key: string, channel: AlertChannel) {
    return this.records.get(`${channel}\u0000${key}`)?.record;
  }
}

interface QueuedMessage {
  readonly id: string;
  readonly text: string;
  readonly insertedAt: number;
  visibleAt: number;
  dequeueCount: number;
  receipt: string;
}

/**
 * Work queues in memory with Queue Storage's semantics, for use-case tests and the drain: delays and
 * visibility in real milliseconds (or `now`), dequeue counts raised on each receive, receipts that a later
 * receive invalidates, and `<queue>-poison` copies. Run it with drainWorkQueues like the Storage adapter.
 */
export class InMemoryQueueStorage implements WorkQueues, DrainableWorkQueues {
  readonly queues = new Map<string, QueuedMessage[]>();
  private sequence = 0;
  constructor(private readonly now: () => number = () => Date.now()) {}

  async send(queue: WorkQueueName, message: WorkMessage, options: { readonly delaySeconds?: number } = {}): Promise<void> {
    const text = JSON.stringify(message);
    if (Buffer.byteLength(Buffer.from(text).toString('base64')) > 64 * 1024) throw new AppError('INVALID_ARGUMENT', `a ${queue} message is over 64 KiB once encoded`);
    const delay = options.delaySeconds ?? 0;
    if (!(delay >= 0 && delay <= 7 * 24 * 3600)) throw new AppError('INVALID_ARGUMENT', `a delay of ${delay} s is outside 0 to 7 days`);
    this.put(queue, text, delay);
  }

  async poisoned(queue: WorkQueueName, limit: number): Promise<PoisonedMessage[]> {
    return this.list(`${queue}-poison`)
      .slice(0, Math.min(limit, 32))
      .map((message) => ({ id: message.id, insertedAt: new Date(message.insertedAt), body: parsedOrText(message.text) }));
  }

  async poisonedCount(queue: WorkQueueName): Promise<number> {
    return this.list(`${queue}-poison`).length;
  }

  async receive(queue: WorkQueueName, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage | undefined> {
    const now = this.now();
    const message = this.list(queue).find((candidate) => candidate.visibleAt <= now);
    if (!message) return undefined;
    message.visibleAt = now + visibilityTimeoutSeconds * 1000;
    message.dequeueCount += 1;
    message.receipt = `r${++this.sequence}`;
    return { id: message.id, text: message.text, dequeueCount: message.dequeueCount, receipt: message.receipt };
  }

  async complete(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void> {
    const list = this.list(queue);
    const index = list.findIndex((candidate) => candidate.id === message.id && candidate.receipt === message.receipt);
    if (index >= 0) list.splice(index, 1);
  }

  async release(queue: WorkQueueName, message: ReceivedWorkMessage, delaySeconds: number): Promise<void> {
    const held = this.list(queue).find((candidate) => candidate.id === message.id && candidate.receipt === message.receipt);
    if (held) held.visibleAt = this.now() + delaySeconds * 1000;
  }

  async extend(queue: WorkQueueName, message: ReceivedWorkMessage, visibilityTimeoutSeconds: number): Promise<ReceivedWorkMessage> {
    const held = this.list(queue).find((candidate) => candidate.id === message.id && candidate.receipt === message.receipt);
    if (!held) throw new AppError('STORAGE_FAILED', `message ${message.id} of ${queue} was received again by someone else or is gone`);
    held.visibleAt = this.now() + visibilityTimeoutSeconds * 1000;
    held.receipt = `r${++this.sequence}`;
    return { ...message, receipt: held.receipt };
  }

  async poison(queue: WorkQueueName, message: ReceivedWorkMessage): Promise<void> {
    this.put(`${queue}-poison`, message.text, 0);
    await this.complete(queue, message);
  }

  async pending(queue: WorkQueueName): Promise<number> {
    return this.list(queue).length;
  }

  private put(queue: string, text: string, delaySeconds: number): void {
    const now = this.now();
    this.list(queue).push({ id: `m${++this.sequence}`, text, insertedAt: now, visibleAt: now + delaySeconds * 1000, dequeueCount: 0, receipt: '' });
  }

  private list(queue: string): QueuedMessage[] {
    let list = this.queues.get(queue);
    if (!list) this.queues.set(queue, (list = []));
    return list;
  }
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One mailbox's next free slot in a map: what TableMailPacer keeps in Table Storage. */
export class InMemoryMailSlots implements MailPacer {
  readonly nextSlot = new Map<string, number>();
  constructor(private readonly messagesPerMinute: number) {}
  async reserve(mailbox: string, now: Date): Promise<Date> {
    const key = mailbox.trim().toLowerCase();
    const slot = Math.max(now.getTime(), this.nextSlot.get(key) ?? Number.NEGATIVE_INFINITY);
    this.nextSlot.set(key, slot + mailSlotIntervalMs(this.messagesPerMinute));
    return new Date(slot);
  }
}
