/**
 * Revision summaries (what the next revision's Changes sheet compares with) in the close records' table.
 *
 * Storage contract:
 *
 * - A summary is serialized as compact JSON (below) and cut into parts of at most 30,000 UTF-16 code units,
 *   so each part fits a String property (64 KiB) and an entity (1 MiB) whatever the characters; a month of
 *   10,000 users is about 25 parts.
 * - Part entities: PartitionKey `summary~` + encodeKeyPart(month), RowKey `r{revision}~part~{n}` with n
 *   zero-padded to 4 digits (so a revision's parts are the RowKey range [`r{revision}~`, `r{revision}~~`),
 *   which no other revision's keys fall in). Properties: month, revision, part, parts (Int32: this part's
 *   number and how many the summary has), digest (SHA-256 of the whole JSON, base64), text (the part).
 * - Parts are written in entity group transactions, stale parts of the same revision (from an earlier,
 *   longer attempt that did not get recorded) are deleted, and only then is the close record written: a
 *   close record's revision always has its summary complete. A reader still checks that every part is there
 *   and the digest matches, and treats anything else as corrupt.
 *
 * JSON (v1): `{"v":1,"total":"<minor units>","teams":[[teamId,"<amount>",linesDigest,[[userId,label,"<amount>"],...]],...],
 * "models":[[model,"<amount>"],...]}`; amounts are integer strings because they may pass 2^53.
 */
import { createHash } from 'node:crypto';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { RevisionSummary, RevisionTeamFigures } from '../../domain/revisions.js';
import { batchesOf, groupByPartition, listKeys, PER_OPERATION_OVERHEAD_BYTES, staleKeys } from './table-batches.js';
import { storageError } from './table-client.js';
import { encodeKeyPart, KEY_PART_SEPARATOR } from './table-keys.js';

/** 30,000 code units are at most 60,000 bytes in UTF-16, under the 64 KiB a String property holds. */
export const MAX_SUMMARY_PART_CHARS = 30_000;
const SUMMARY_FORMAT = 1;

export function summaryPartitionKey(month: string): string {
  return `summary${KEY_PART_SEPARATOR}${encodeKeyPart(month)}`;
}

function revisionPrefix(revision: number): string {
  return `r${revision}${KEY_PART_SEPARATOR}`;
}

export function summaryPartRowKey(revision: number, part: number): string {
  return `${revisionPrefix(revision)}part${KEY_PART_SEPARATOR}${String(part).padStart(4, '0')}`;
}

function revisionFilter(month: string, revision: number): string {
  const prefix = revisionPrefix(revision);
  // Keys are plain ASCII here: encoded parts never hold a quote.
  return `PartitionKey eq '${summaryPartitionKey(month)}' and RowKey ge '${prefix}' and RowKey lt '${prefix}${KEY_PART_SEPARATOR}'`;
}

/** Writes the summary of one revision, replacing whatever an earlier attempt at that revision left. */
export async function writeRevisionSummary(client: TableClient, month: string, revision: number, summary: RevisionSummary): Promise<void> {
  const text = encodeSummary(summary);
  const digest = digestOf(text);
  const parts = splitText(text, MAX_SUMMARY_PART_CHARS);
  const partitionKey = summaryPartitionKey(month);
  const entities = parts.map((part, index) => ({
    partitionKey,
    rowKey: summaryPartRowKey(revision, index),
    month,
    revision,
    part: index,
    parts: parts.length,
    digest,
    text: part,
  }));
  const partitions = groupByPartition(entities, 'Two summary parts with the same key');
  // A code unit is at most 3 bytes of UTF-8 in the request body.
  for (const batch of batchesOf(partitions, (entity) => entity.text.length * 3 + PER_OPERATION_OVERHEAD_BYTES)) {
    await submit(client, batch.map((entity): TransactionAction => ['upsert', entity, 'Replace']), `store the summary of ${month} revision ${revision}`);
  }
  const stored = await listKeys(client, revisionFilter(month, revision), `list the summary parts of ${month} revision ${revision}`);
  const stale = staleKeys(stored, partitions);
  for (const batch of batchesOf(groupByPartition(stale, 'Two stale summary parts with the same key'), () => PER_OPERATION_OVERHEAD_BYTES)) {
    await submit(client, batch.map((key): TransactionAction => ['delete', key]), `remove stale summary parts of ${month} revision ${revision}`);
  }
}

/** The summary written for that revision, or undefined when none was. */
export async function readRevisionSummary(client: TableClient, month: string, revision: number): Promise<RevisionSummary | undefined> {
  const what = `summary of ${month} revision ${revision}`;
  const entities: Record<string, unknown>[] = [];
  try {
    for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: revisionFilter(month, revision) } })) entities.push(entity);
  } catch (error) {
    throw storageError(`read the ${what}`, error);
  }
  if (entities.length === 0) return undefined;
  const corrupt = (why: string) => new AppError('STORAGE_FAILED', `Stored ${what} is not readable: ${why}`);
  const byPart = new Map<number, Record<string, unknown>>();
  for (const entity of entities) if (typeof entity.part === 'number') byPart.set(entity.part, entity);
  const first = byPart.get(0);
  if (!first || typeof first.parts !== 'number' || typeof first.digest !== 'string') throw corrupt('its first part is missing or malformed');
  const texts: string[] = [];
  for (let index = 0; index < first.parts; index++) {
    const entity = byPart.get(index);
    if (!entity || entity.digest !== first.digest || typeof entity.text !== 'string') throw corrupt(`part ${index} of ${first.parts} is missing or from another write`);
    texts.push(entity.text);
  }
  const text = texts.join('');
  if (digestOf(text) !== first.digest) throw corrupt('its parts do not match their digest');
  return decodeSummary(text, corrupt);
}

async function submit(client: TableClient, actions: TransactionAction[], action: string): Promise<void> {
  try {
    await client.submitTransaction(actions);
  } catch (error) {
    throw storageError(`${action} (a batch of ${actions.length})`, error);
  }
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/** Cuts `text` into pieces of at most `size` code units, never between the two halves of a surrogate pair. */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  do {
    let end = Math.min(start + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    pieces.push(text.slice(start, end));
    start = end;
  } while (start < text.length);
  return pieces;
}

type EncodedTeam = [teamId: string, amount: string, linesDigest: string, users: [userId: string, label: string, amount: string][]];

export function encodeSummary(summary: RevisionSummary): string {
  return JSON.stringify({
    v: SUMMARY_FORMAT,
    total: summary.grandTotal.toString(),
    teams: summary.teams.map((team): EncodedTeam => [team.teamId, team.amount.toString(), team.linesDigest, team.users.map((user) => [user.userId, user.label, user.amount.toString()])]),
    models: summary.models.map((model) => [model.model, model.amount.toString()]),
  });
}

export function decodeSummary(text: string, corrupt: (why: string) => AppError): RevisionSummary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt('it is not JSON');
  }
  const document = parsed as { v?: unknown; total?: unknown; teams?: unknown; models?: unknown } | null;
  if (document === null || typeof document !== 'object') throw corrupt('it is not an object');
  if (document.v !== SUMMARY_FORMAT) throw corrupt(`format ${String(document.v)} is unknown`);
  const amount = (value: unknown): bigint => {
    if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw corrupt('an amount is not an integer string');
    return BigInt(value);
  };
  const textOf = (value: unknown): string => {
    if (typeof value !== 'string') throw corrupt('a name is not a string');
    return value;
  };
  const list = (value: unknown): unknown[] => {
    if (!Array.isArray(value)) throw corrupt('a list is not an array');
    return value;
  };
  const teams = list(document.teams).map((entry): RevisionTeamFigures => {
    const [teamId, teamAmount, linesDigest, users] = list(entry);
    return {
      teamId: textOf(teamId),
      amount: amount(teamAmount),
      linesDigest: textOf(linesDigest),
      users: list(users).map((user) => {
        const [userId, label, userAmount] = list(user);
        return { userId: textOf(userId), label: textOf(label), amount: amount(userAmount) };
      }),
    };
  });
  const models = list(document.models).map((entry) => {
    const [model, modelAmount] = list(entry);
    return { model: textOf(model), amount: amount(modelAmount) };
  });
  return { grandTotal: amount(document.total), teams, models };
}
