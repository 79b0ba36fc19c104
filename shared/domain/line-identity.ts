import { createHash } from 'node:crypto';
import type { MonthlyLine } from './rollup.js';
import type { TokenCounts } from './tokens.js';

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

/** A number as JSON.stringify writes it. */
const jsonNumber = (value: number): string => (Number.isFinite(value) ? `${value}` : 'null');
const jsonString = (value: string | null): string => (value === null ? 'null' : JSON.stringify(value));
const counts = (tokens: TokenCounts): string =>
  `[${jsonNumber(tokens.input)},${jsonNumber(tokens.output)},${jsonNumber(tokens.cacheRead)},${jsonNumber(tokens.cacheWrite5m)},${jsonNumber(tokens.cacheWrite1h)}]`;

/**
 * Each field as the JSON text JSON.stringify gives its value (written directly: a month's days are hundreds of
 * thousands of small arrays, which the close built and serialized twice). TOKEN_KINDS order for counts.
 */
const FIELD_JSON: Readonly<Record<LineField, (line: MonthlyLine) => string>> = {
  teamId: (line) => jsonString(line.teamId),
  userId: (line) => jsonString(line.userId),
  model: (line) => jsonString(line.model),
  tier: (line) => jsonString(line.tier),
  allocation: (line) => jsonString(line.allocation),
  userName: (line) => jsonString(line.userName),
  pricedModel: (line) => jsonString(line.pricedModel),
  tokens: (line) => counts(line.tokens),
  unpricedTokens: (line) => counts(line.unpricedTokens),
  requests: (line) => jsonNumber(line.requests),
  cost: (line) => jsonString(line.cost.toFixed()),
  priceEntryIds: (line) => JSON.stringify(line.priceEntryIds),
  days: (line) => {
    let json = '[';
    for (const day of line.days) {
      if (json.length > 1) json += ',';
      json += `[${jsonString(day.day)},${counts(day.tokens)},${jsonNumber(day.requests)},${day.cost === null ? 'null' : `"${day.cost.toFixed()}"`},${jsonString(day.priceEntryId)}]`;
    }
    return `${json}]`;
  },
};

/** A line as text, through the given fields in their order: equal texts, equal lines in those fields. */
export function lineIdentity(line: MonthlyLine, fields: readonly LineField[]): string {
  let text = '[';
  for (let index = 0; index < fields.length; index++) text += (index === 0 ? '' : ',') + FIELD_JSON[fields[index]!](line);
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
