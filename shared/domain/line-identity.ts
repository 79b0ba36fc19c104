import { createHash } from 'node:crypto';
import { dayTuplesOf, type MonthlyLine } from './rollup.js';
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

const counts = (tokens: TokenCounts) => TOKEN_KINDS.map((kind) => tokens[kind]);

const FIELD_VALUE: Readonly<Record<LineField, (line: MonthlyLine) => unknown>> = {
  teamId: (line) => line.teamId,
  userId: (line) => line.userId,
  model: (line) => line.model,
  tier: (line) => line.tier,
  allocation: (line) => line.allocation,
  userName: (line) => line.userName,
  pricedModel: (line) => line.pricedModel,
  tokens: (line) => counts(line.tokens),
  unpricedTokens: (line) => counts(line.unpricedTokens),
  requests: (line) => line.requests,
  cost: (line) => line.cost.toFixed(),
  priceEntryIds: (line) => line.priceEntryIds,
  days: (line) => dayTuplesOf(line).map((day) => [day[0], [day[1], day[2], day[3], day[4], day[5]], day[6], day[7], day[8]]),
};

/** A line as text, through the given fields in their order: equal texts, equal lines in those fields. */
export function lineIdentity(line: MonthlyLine, fields: readonly LineField[]): string {
  return JSON.stringify(fields.map((field) => FIELD_VALUE[field](line)));
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
