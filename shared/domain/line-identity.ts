import { createHash } from 'node:crypto';
import { jsonNumber } from './line-days.js';
import { daysIdentityJson, type MonthlyLine } from './rollup.js';
import { TOKEN_KINDS, type TokenCounts } from './tokens.js';

/**
 * What makes two monthly lines the same line, said once. Two questions use it with two field lists:
 * - did the month's money change? (a close's fingerprint: a new fingerprint makes a new revision);
 * - did anything a report shows of a team change? (a revision's per-team digest: its leads are told).
 *
 * Stored closes and stored revision summaries hold values made from these lists, so the lists and the
 * encoding below must not change: the values are pinned in test/unit/line-identity.test.ts.
 */
export type LineField =
  | 'teamId'
  | 'userId'
  | 'model'
  | 'tier'
  | 'allocation'
  | 'userName'
  | 'pricedModel'
  | 'tokens'
  | 'unpricedTokens'
  | 'requests'
  | 'cost'
  | 'priceEntryIds'
  | 'days';

/** Who is charged what: the fields a close's fingerprint covers. A name or a model's price mapping alone is not money. */
export const MONEY_FIELDS: readonly LineField[] = ['teamId', 'userId', 'model', 'tier', 'allocation', 'tokens', 'unpricedTokens', 'requests', 'cost', 'priceEntryIds', 'days'];

/**
 * What a report shows of a line: the money fields plus the user's name and the priced model. (The UPN is left
 * out as it always was: digests already stored were made without it.)
 */
export const SHOWN_FIELDS: readonly LineField[] = [
  'teamId',
  'userId',
  'model',
  'tier',
  'allocation',
  'userName',
  'pricedModel',
  'tokens',
  'unpricedTokens',
  'requests',
  'cost',
  'priceEntryIds',
  'days',
];

/**
 * Each field as the JSON text `JSON.stringify` gives of its value, written directly: the arrays of arrays
 * `JSON.stringify` walked per line were most of fingerprinting's cost. The values themselves (a day is
 * [day, [five counts], requests, cost, price entry]) are spelled out in test/unit/line-identity.test.ts,
 * which holds this text to theirs.
 */
const FIELD_TEXT: Readonly<Record<LineField, (line: MonthlyLine) => string>> = {
  teamId: (line) => JSON.stringify(line.teamId),
  userId: (line) => JSON.stringify(line.userId),
  model: (line) => JSON.stringify(line.model),
  tier: (line) => JSON.stringify(line.tier),
  allocation: (line) => JSON.stringify(line.allocation),
  userName: (line) => JSON.stringify(line.userName),
  pricedModel: (line) => JSON.stringify(line.pricedModel),
  tokens: (line) => countsText(line.tokens),
  unpricedTokens: (line) => countsText(line.unpricedTokens),
  requests: (line) => jsonNumber(line.requests),
  cost: (line) => JSON.stringify(line.cost.toFixed()),
  priceEntryIds: (line) => JSON.stringify(line.priceEntryIds),
  days: (line) => daysIdentityJson(line),
};

function countsText(tokens: TokenCounts): string {
  return `[${TOKEN_KINDS.map((kind) => jsonNumber(tokens[kind])).join(',')}]`;
}

/** A line as text, through the given fields in their order: equal texts, equal lines in those fields. */
export function lineIdentity(line: MonthlyLine, fields: readonly LineField[]): string {
  let text = '[';
  for (let index = 0; index < fields.length; index++) text += (index === 0 ? '' : ',') + FIELD_TEXT[fields[index]!](line);
  return `${text}]`;
}

/** The fingerprint a close records: the money fields of its lines, in the order they were stored. */
export function linesFingerprint(lines: readonly MonthlyLine[]): string {
  const hash = createHash('sha256');
  for (const line of lines) {
    hash.update(lineIdentity(line, MONEY_FIELDS));
    hash.update('\n');
  }
  return hash.digest('hex');
}

/** Per team, a digest of the shown fields of its lines, in any order: equal digests, equal lines as shown. */
export function teamLineDigests(lines: readonly MonthlyLine[]): Map<string, string> {
  // Lines are bucketed first and turned into text one team at a time: the texts of a whole month at 100,000
  // users (days included) were hundreds of MB at once, and the close ran out of heap here.
  const byTeam = new Map<string, MonthlyLine[]>();
  for (const line of lines) {
    const teamLines = byTeam.get(line.teamId);
    if (teamLines) teamLines.push(line);
    else byTeam.set(line.teamId, [line]);
  }
  const digests = new Map<string, string>();
  for (const [teamId, teamLines] of byTeam) {
    const identities = teamLines.map((line) => lineIdentity(line, SHOWN_FIELDS));
    const hash = createHash('sha256');
    identities.sort().forEach((identity, index) => hash.update(index === 0 ? identity : `\n${identity}`));
    digests.set(teamId, hash.digest('base64'));
  }
  return digests;
}
