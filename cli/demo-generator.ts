import { formatPortalTimestamp } from '../shared/adapters/local/file-usage-source.js';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../shared/domain/errors.js';
import { assertTimeZone, daysOfMonth, parseMonth, startOfDayInZone } from '../shared/domain/periods.js';
import type { DirectoryDocument, DirectoryUserEntry } from '../shared/adapters/local/file-directory.js';

/**
 * A deterministic demo: an organization (the local directory file) and a month of gateway token metrics in the
 * shape App Insights exports them. Same options, same bytes: every random draw comes from a seeded PRNG keyed
 * by what it decides (a user's profile, a user's day), so adding a user does not reshuffle everybody else.
 */
export interface DemoOptions {
  /** YYYY-MM. */
  month: string;
  users: number;
  teams: number;
  seed: number;
  /** Calendar days and business hours are those of this IANA zone; UTC by default. */
  timeZone?: string;
  /**
   * Models by name. The family decides who uses it: "sonnet" is the daily driver, "haiku" the small helper,
   * "opus" the Premium tier's heavy model. A model of no known family is treated as an unreleased preview that
   * a couple of users try on a few days (the demo's unpriced model). Within a family the first listed is the
   * most common.
   */
  models?: readonly string[];
}

export const DEMO_UNPRICED_MODEL = 'claude-3-unreleased-preview';

/** Spread with a month: `{ ...DEMO_DEFAULTS, month: '2026-10' }`. */
export const DEMO_DEFAULTS: Readonly<Required<Omit<DemoOptions, 'month'>>> = Object.freeze({
  users: 120,
  teams: 8,
  seed: 42,
  timeZone: 'UTC',
  models: Object.freeze(['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-6', 'claude-haiku-4-5-20251001', DEMO_UNPRICED_MODEL]),
});

/** The directory document plus what the demo knows that the directory does not. */
export interface DemoOrganization extends DirectoryDocument {
  /** Oids that use the gateway but are missing from the directory (not yet synced, or removed outright). */
  readonly unknownUserIds: readonly string[];
}

export const METRIC_NAMES = ['Prompt Tokens', 'Completion Tokens', 'Total Tokens'] as const;
export type DemoMetricName = (typeof METRIC_NAMES)[number];

export const TIER_STANDARD = 'Claude.Standard';
export const TIER_PREMIUM = 'Claude.Premium';

export interface DemoUsageSummary {
  readonly file: string;
  readonly format: 'ndjson' | 'csv';
  readonly month: string;
  readonly timeZone: string;
  /** Metric rows written (three per aggregate), not counting a CSV header. */
  readonly rows: number;
  /** user x model x tier x day aggregates; each is written as one row per metric name. */
  readonly aggregates: number;
  readonly tokensByMetric: Readonly<Record<DemoMetricName, number>>;
  /** The sum of valueCount over the aggregates (each metric row of an aggregate carries the same count). */
  readonly requests: number;
  /** Distinct non-empty UserIds in the file, known or not. */
  readonly users: number;
  /** UserIds in the file that the directory does not list. */
  readonly unknownUserIds: readonly string[];
  /** Metric rows whose UserId is empty or missing. */
  readonly rowsWithoutUserId: number;
  /** Aggregates per model, for checking the mix (and that the preview model appears). */
  readonly aggregatesByModel: Readonly<Record<string, number>>;
}

// ---------------------------------------------------------------------------------------------------------------
// PRNG: sfc32 seeded through a string hash, so a stream can be named by what it decides.

export type Random = () => number;

function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashKey(key: string, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** A small fast generator (sfc32) whose state comes from the seed and a list of names, e.g. (42, 'day', oid, day). */
export function seededRandom(seed: number, ...names: readonly (string | number)[]): Random {
  const key = `${seed}\u0000${names.join('\u0000')}`;
  let a = hashKey(key, 0x9e3779b9);
  let b = hashKey(key, 0x243f6a88);
  let c = hashKey(key, 0xb7e15162);
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i += 1) next();
  return next;
}

function between(random: Random, low: number, high: number): number {
  return low + (high - low) * random();
}

function integerBelow(random: Random, limit: number): number {
  return Math.floor(random() * limit);
}

function pick<T>(random: Random, list: readonly T[]): T {
  return list[integerBelow(random, list.length)] as T;
}

/** A standard normal draw (Box-Muller); 1 - u keeps the logarithm finite. */
function normal(random: Random): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function logNormal(random: Random, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(random));
}

/** Rounds to an integer with the fraction as the probability of rounding up, so small expectations still happen. */
function stochasticRound(random: Random, value: number): number {
  const floor = Math.floor(value);
  return floor + (random() < value - floor ? 1 : 0);
}

function hex(value: number, width: number): string {
  return (value >>> 0).toString(16).padStart(8, '0').slice(8 - width);
}

/** A version-4-shaped GUID, the form Entra object ids take. */
function guid(random: Random): string {
  const word = (): number => Math.floor(random() * 4294967296);
  const [w1, w2, w3, w4] = [word(), word(), word(), word()];
  return [
    hex(w1, 8),
    hex(w2 >>> 16, 4),
    hex(0x4000 | (w2 & 0x0fff), 4),
    hex(0x8000 | ((w3 >>> 16) & 0x3fff), 4),
    hex(w3 & 0xffff, 4) + hex(w4, 8),
  ].join('-');
}

// ---------------------------------------------------------------------------------------------------------------
// Options

interface ResolvedOptions {
  readonly month: string;
  readonly users: number;
  readonly teams: number;
  readonly seed: number;
  readonly timeZone: string;
  readonly models: readonly string[];
}

function resolveOptions(options: DemoOptions): ResolvedOptions {
  const problems: string[] = [];
  let month = options.month;
  try {
    month = parseMonth(options.month);
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (!Number.isSafeInteger(options.users) || options.users < 1) problems.push(`users must be a whole number of at least 1, got ${options.users}`);
  if (!Number.isSafeInteger(options.teams) || options.teams < 1) problems.push(`teams must be a whole number of at least 1, got ${options.teams}`);
  if (!Number.isSafeInteger(options.seed)) problems.push(`seed must be a whole number, got ${options.seed}`);
  const timeZone = options.timeZone ?? DEMO_DEFAULTS.timeZone;
  try {
    assertTimeZone(timeZone);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const models = options.models ?? [...DEMO_DEFAULTS.models];
  if (models.length === 0 || models.some((model) => typeof model !== 'string' || model.trim() === '')) {
    problems.push('models must be a non-empty list of model names');
  } else if (!models.some((model) => familyOf(model) === 'sonnet')) {
    problems.push('models must include a "sonnet" model: it is what every demo user works with');
  }
  if (problems.length > 0) throw new AppError('INVALID_ARGUMENT', 'Demo options are invalid', { details: problems });
  return { month, users: options.users, teams: options.teams, seed: options.seed, timeZone, models };
}

// ---------------------------------------------------------------------------------------------------------------
// Organization

const TEAM_NAMES = [
  'Platform', 'Payments', 'Data Science', 'Mobile', 'Identity', 'Search', 'Growth', 'Infrastructure', 'Security',
  'Developer Experience', 'Billing', 'Analytics', 'Marketplace', 'Notifications', 'Risk', 'Checkout',
  'Observability', 'Machine Learning', 'Web Frontend', 'Integrations', 'Compliance', 'Localization', 'Onboarding',
  'Customer Care Tools',
] as const;

const FIRST_NAMES = [
  'Ada', 'Alan', 'Amara', 'Andrei', 'Aiko', 'Beatriz', 'Bjorn', 'Chen', 'Chloe', 'Dmitri', 'Elena', 'Emeka', 'Farah',
  'Felix', 'Grace', 'Hana', 'Hugo', 'Ines', 'Ivan', 'Jamal', 'Jonas', 'Kavya', 'Kenji', 'Lara', 'Liam', 'Lucia',
  'Mateo', 'Maya', 'Mei', 'Nadia', 'Nikolai', 'Noah', 'Olga', 'Omar', 'Priya', 'Rafael', 'Rosa', 'Sami', 'Sofia',
  'Tariq', 'Tess', 'Uma', 'Victor', 'Wen', 'Yara', 'Yusuf', 'Zoe', 'Zainab',
] as const;

const LAST_NAMES = [
  'Abe', 'Adeyemi', 'Almeida', 'Berg', 'Brennan', 'Castillo', 'Chowdhury', 'Costa', 'Dubois', 'Eriksen', 'Fischer',
  'Garcia', 'Haddad', 'Hansen', 'Ibrahim', 'Ivanova', 'Jensen', 'Kaur', 'Kim', 'Kowalski', 'Lindqvist', 'Lopez',
  'Moreau', 'Murphy', 'Nakamura', 'Nguyen', 'Novak', 'Okafor', 'Olsen', 'Patel', 'Petrov', 'Quinn', 'Rossi',
  'Santos', 'Schmidt', 'Silva', 'Singh', 'Tanaka', 'Torres', 'Varga', 'Wagner', 'Wang', 'Weber', 'Yilmaz', 'Zhang',
] as const;

const MAIL_DOMAIN = 'contoso.example';

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function mailLocalPart(first: string, last: string): string {
  return `${slug(first)}.${slug(last)}`.replace(/-/g, '');
}

interface DraftUser {
  userId: string;
  teamIndex: number;
  displayName: string;
  upn: string;
  status: 'member' | 'guest' | 'former';
}

/**
 * A deterministic organization: teams of uneven size with one or two leads each (drawn from their members),
 * GUID-shaped oids, a few guests, a couple of former users, and a couple of unknown oids that use the gateway
 * without being in the directory. It depends on seed, users and teams only, so every month of a demo shares it.
 */
export function generateOrganization(options: DemoOptions): DemoOrganization {
  const { users: userCount, teams: teamCount, seed } = resolveOptions(options);
  const random = seededRandom(seed, 'organization', userCount, teamCount);

  const teams = Array.from({ length: teamCount }, (_, index) => {
    const base = TEAM_NAMES[index % TEAM_NAMES.length] as string;
    const round = Math.floor(index / TEAM_NAMES.length);
    const name = round === 0 ? base : `${base} ${round + 1}`;
    return { id: slug(name), name, costCenter: `CC-${1001 + index}`, weight: logNormal(random, 1, 0.6) };
  });

  const takenIds = new Set<string>();
  const newOid = (): string => {
    for (;;) {
      const oid = guid(random);
      if (!takenIds.has(oid)) {
        takenIds.add(oid);
        return oid;
      }
    }
  };
  const takenMail = new Set<string>();
  const newPerson = (): { displayName: string; local: string } => {
    const first = pick(random, FIRST_NAMES);
    const last = pick(random, LAST_NAMES);
    const base = mailLocalPart(first, last);
    let local = base;
    for (let n = 2; takenMail.has(local); n += 1) local = `${base}${n}`;
    takenMail.add(local);
    return { displayName: `${first} ${last}`, local };
  };

  const totalWeight = teams.reduce((sum, team) => sum + team.weight, 0);
  const chooseTeam = (): number => {
    let target = random() * totalWeight;
    for (let index = 0; index < teams.length; index += 1) {
      target -= (teams[index] as (typeof teams)[number]).weight;
      if (target < 0) return index;
    }
    return teams.length - 1;
  };

  const drafts: DraftUser[] = [];
  for (let index = 0; index < userCount; index += 1) {
    const person = newPerson();
    drafts.push({
      userId: newOid(),
      // Every team gets a first member before sizes follow the weights, so no team is empty when users allow.
      teamIndex: index < teamCount ? index : chooseTeam(),
      displayName: person.displayName,
      upn: `${person.local}@${MAIL_DOMAIN}`,
      status: 'member',
    });
  }
  drafts.sort((x, y) => x.teamIndex - y.teamIndex || compareText(x.displayName, y.displayName) || compareText(x.upn, y.upn));

  const leads = teams.map(() => [] as string[]);
  const leadIds = new Set<string>();
  for (let teamIndex = 0; teamIndex < teams.length; teamIndex += 1) {
    const members = drafts.filter((user) => user.teamIndex === teamIndex);
    const wanted = random() < 0.35 ? 2 : 1;
    for (let n = 0; n < wanted; n += 1) {
      const candidates = members.filter((user) => !leadIds.has(user.userId));
      if (candidates.length > 0) {
        const lead = pick(random, candidates);
        leadIds.add(lead.userId);
        (leads[teamIndex] as string[]).push(lead.upn);
      } else {
        (leads[teamIndex] as string[]).push(`${newPerson().local}@${MAIL_DOMAIN}`);
      }
    }
  }

  const nonLeads = drafts.filter((user) => !leadIds.has(user.userId));
  const formerCount = Math.min(2 + Math.floor(userCount / 1000), Math.floor(userCount / 10), nonLeads.length);
  const guestCount = Math.min(Math.floor(userCount * 0.02), nonLeads.length - formerCount);
  const shuffled = shuffle(random, nonLeads);
  shuffled.slice(0, formerCount).forEach((user) => (user.status = 'former'));
  shuffled.slice(formerCount, formerCount + guestCount).forEach((user) => {
    // How Entra writes a B2B guest's UPN: their own address, mangled, in the host tenant's default domain.
    user.status = 'guest';
    user.upn = `${user.upn.slice(0, user.upn.indexOf('@'))}_fabrikam.example#EXT#@contoso.onmicrosoft.com`;
  });

  const unknownUserIds = [newOid(), newOid()];

  return {
    teams: teams.map((team, index) => ({ id: team.id, name: team.name, leads: leads[index] as string[], costCenter: team.costCenter })),
    users: drafts.map((user) => ({
      userId: user.userId,
      teamId: (teams[user.teamIndex] as (typeof teams)[number]).id,
      displayName: user.displayName,
      upn: user.upn,
      status: user.status,
    })),
    unknownUserIds,
  };
}

function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function shuffle<T>(random: Random, list: readonly T[]): T[] {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = integerBelow(random, i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** Only the directory part of an organization: what goes into directory.json. */
export function directoryDocumentOf(org: DirectoryDocument): DirectoryDocument {
  return { teams: org.teams, users: org.users };
}

// ---------------------------------------------------------------------------------------------------------------
// Usage

type Family = 'sonnet' | 'haiku' | 'opus' | 'preview';

function familyOf(model: string): Family {
  if (/sonnet/i.test(model)) return 'sonnet';
  if (/haiku/i.test(model)) return 'haiku';
  if (/opus/i.test(model)) return 'opus';
  return 'preview';
}

interface UsageProfile {
  readonly userId: string;
  readonly tier: string;
  /** Chance of using the gateway on a weekday. */
  readonly engagement: number;
  /** Median prompt tokens on an active day. */
  readonly intensity: number;
  readonly outputRatio: number;
  /** One model per family: clients pin a model id, so a user sticks to theirs. */
  readonly modelByFamily: Readonly<Partial<Record<Family, string>>>;
  readonly haikuShare: number;
  readonly haikuDays: number;
  readonly opusShare: number;
  readonly opusDays: number;
  /** Index of the last day of the month the user can be active on (a former user leaves mid-month). */
  readonly lastDayIndex: number;
  /** Forced active on this day index so the user certainly appears in the file. */
  readonly mustAppearOn: number | undefined;
  readonly previewDays: ReadonlySet<number>;
}

interface Aggregate {
  readonly at: number;
  readonly userId: string;
  /** An empty UserId is written as "" or, for half of them, with the key left out. */
  readonly omitUserId: boolean;
  readonly model: string;
  readonly tier: string;
  readonly prompt: number;
  readonly completion: number;
  readonly requests: number;
}

const BUSINESS_START_MS = 8 * 3_600_000;
const BUSINESS_LENGTH_MS = 11 * 3_600_000;
const NO_USER_SHARE = 0.005;

function pickModel(random: Random, models: readonly string[], family: Family): string | undefined {
  const inFamily = models.filter((model) => familyOf(model) === family);
  if (inFamily.length === 0) return undefined;
  // The first model of a family is the common one; later ones (dated ids, older versions) are rarer.
  for (let index = 0; index < inFamily.length - 1; index += 1) if (random() < 0.7) return inFamily[index];
  return inFamily[inFamily.length - 1];
}

function buildProfile(
  settings: ResolvedOptions,
  userId: string,
  status: DirectoryUserEntry['status'] | 'unknown',
  dayCount: number,
  firstWeekday: number,
): Omit<UsageProfile, 'previewDays'> {
  const random = seededRandom(settings.seed, 'profile', userId);
  const premium = random() < 0.2;
  const modelByFamily: Partial<Record<Family, string>> = {};
  for (const family of ['sonnet', 'haiku', 'opus'] as const) {
    const model = pickModel(random, settings.models, family);
    if (model !== undefined) modelByFamily[family] = model;
  }
  // A heavy tail: most people use a moderate amount, a few power users run agents all day.
  const powerUser = random() < 0.04;
  const intensity = logNormal(random, 1_100_000, 0.7) * (powerUser ? between(random, 3, 8) : 1) * (premium ? 1.4 : 1);
  const engagement = random() < 0.15 ? between(random, 0.08, 0.3) : between(random, 0.55, 0.95);
  const former = status === 'former';
  return {
    userId,
    tier: premium ? TIER_PREMIUM : TIER_STANDARD,
    engagement,
    intensity,
    outputRatio: between(random, 0.03, 0.08),
    modelByFamily,
    haikuShare: between(random, 0.04, 0.2),
    haikuDays: between(random, 0.3, 0.8),
    opusShare: premium ? between(random, 0.35, 0.8) : 0,
    opusDays: premium ? between(random, 0.5, 0.95) : 0,
    lastDayIndex: former ? Math.max(firstWeekday, integerBelow(random, Math.ceil(dayCount / 2))) : dayCount - 1,
    mustAppearOn: former || status === 'unknown' ? firstWeekday : undefined,
  };
}

function isWeekend(day: string): boolean {
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  return weekday === 0 || weekday === 6;
}

/** The user's aggregates for one day: nothing, or one per model used that day. */
function userDay(settings: ResolvedOptions, profile: UsageProfile, day: string, dayIndex: number, dayStart: number, weekend: boolean): Aggregate[] {
  if (dayIndex > profile.lastDayIndex) return [];
  const random = seededRandom(settings.seed, 'day', profile.userId, day);
  const forced = profile.mustAppearOn === dayIndex || profile.previewDays.has(dayIndex);
  const chance = weekend ? profile.engagement * 0.1 : profile.engagement;
  if (!(random() < chance) && !forced) return [];

  const volume = logNormal(random, profile.intensity, 0.5) * (weekend ? 0.5 : 1);
  const shares: { model: string; share: number; tokensPerRequest: number }[] = [];
  const opus = profile.modelByFamily.opus;
  const haiku = profile.modelByFamily.haiku;
  let remaining = 1;
  if (opus !== undefined && random() < profile.opusDays) {
    const share = profile.opusShare * between(random, 0.7, 1.2);
    shares.push({ model: opus, share, tokensPerRequest: between(random, 35_000, 70_000) });
    remaining -= share;
  }
  if (haiku !== undefined && random() < profile.haikuDays) {
    const share = profile.haikuShare * between(random, 0.6, 1.4);
    shares.push({ model: haiku, share, tokensPerRequest: between(random, 6_000, 20_000) });
    remaining -= share;
  }
  const sonnet = profile.modelByFamily.sonnet as string;
  shares.unshift({ model: sonnet, share: Math.max(remaining, 0.05), tokensPerRequest: between(random, 25_000, 60_000) });
  if (profile.previewDays.has(dayIndex)) {
    for (const model of settings.models.filter((name) => familyOf(name) === 'preview')) {
      shares.push({ model, share: between(random, 0.05, 0.25), tokensPerRequest: between(random, 20_000, 50_000) });
    }
  }

  const aggregates: Aggregate[] = [];
  for (const { model, share, tokensPerRequest } of shares) {
    const prompt = Math.round(volume * share);
    if (prompt < 500) continue;
    aggregates.push({
      at: dayStart + BUSINESS_START_MS + integerBelow(random, BUSINESS_LENGTH_MS),
      userId: profile.userId,
      omitUserId: false,
      model,
      tier: profile.tier,
      prompt,
      completion: Math.max(1, Math.round(prompt * profile.outputRatio * between(random, 0.85, 1.15))),
      requests: Math.max(1, Math.round(prompt / tokensPerRequest)),
    });
  }
  return aggregates;
}

/** Traffic with no UserId: a script with a misconfigured token, a test harness. About 0.5% of aggregates. */
function anonymousDay(settings: ResolvedOptions, day: string, dayStart: number, weekend: boolean, userAggregates: number): Aggregate[] {
  const random = seededRandom(settings.seed, 'anonymous', day);
  const count = Math.max(weekend ? 0 : 1, stochasticRound(random, userAggregates * NO_USER_SHARE));
  const sonnet = settings.models.find((model) => familyOf(model) === 'sonnet') as string;
  // All of them are one series (no UserId): APIM writes one row per series per minute, so no two share one.
  const minutesTaken = new Set<number>();
  return Array.from({ length: count }, () => {
    const prompt = Math.round(logNormal(random, 400_000, 0.8));
    let at = dayStart + BUSINESS_START_MS + integerBelow(random, BUSINESS_LENGTH_MS);
    while (minutesTaken.has(Math.floor(at / 60_000))) at += 60_000;
    minutesTaken.add(Math.floor(at / 60_000));
    return {
      at,
      userId: '',
      omitUserId: random() < 0.5,
      model: sonnet,
      tier: TIER_STANDARD,
      prompt,
      completion: Math.max(1, Math.round(prompt * between(random, 0.03, 0.08))),
      requests: Math.max(1, Math.round(prompt / between(random, 20_000, 50_000))),
    };
  });
}

function compareAggregates(x: Aggregate, y: Aggregate): number {
  return x.at - y.at || compareText(x.userId, y.userId) || compareText(x.model, y.model);
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export { formatPortalTimestamp };

export const CSV_HEADER = 'timestamp [UTC],name,valueSum,valueCount,customDimensions';

function dimensionsOf(aggregate: Aggregate): Record<string, string> {
  const dimensions: Record<string, string> = {};
  if (!aggregate.omitUserId) dimensions['UserId'] = aggregate.userId;
  dimensions['Model'] = aggregate.model;
  dimensions['Tier'] = aggregate.tier;
  return dimensions;
}

function renderAggregate(aggregate: Aggregate, format: 'ndjson' | 'csv'): string {
  const values: Record<DemoMetricName, number> = {
    'Prompt Tokens': aggregate.prompt,
    'Completion Tokens': aggregate.completion,
    'Total Tokens': aggregate.prompt + aggregate.completion,
  };
  const instant = new Date(aggregate.at);
  const dimensions = JSON.stringify(dimensionsOf(aggregate));
  let text = '';
  if (format === 'ndjson') {
    const timestamp = instant.toISOString();
    for (const name of METRIC_NAMES) {
      text += `{"timestamp":"${timestamp}","name":"${name}","valueSum":${values[name]},"valueCount":${aggregate.requests},"customDimensions":${dimensions}}\n`;
    }
  } else {
    const timestamp = csvField(formatPortalTimestamp(instant));
    const dimensionsField = csvField(dimensions);
    for (const name of METRIC_NAMES) {
      text += `${timestamp},${name},${values[name]},${aggregate.requests},${dimensionsField}\r\n`;
    }
  }
  return text;
}

interface Tally {
  rows: number;
  aggregates: number;
  requests: number;
  rowsWithoutUserId: number;
  readonly tokensByMetric: Record<DemoMetricName, number>;
  readonly users: Set<string>;
  readonly aggregatesByModel: Record<string, number>;
}

const CHUNK_CHARS = 256 * 1024;

function* usageChunks(settings: ResolvedOptions, org: DemoOrganization, format: 'ndjson' | 'csv', tally: Tally): Generator<string> {
  const days = daysOfMonth(settings.month);
  const weekends = days.map(isWeekend);
  const firstWeekday = Math.max(0, weekends.indexOf(false));
  const weekdayIndexes = days.flatMap((_, index) => (weekends[index] ? [] : [index]));

  const previewRandom = seededRandom(settings.seed, 'preview', settings.month);
  const hasPreviewModel = settings.models.some((model) => familyOf(model) === 'preview');
  const activeMembers = org.users.filter((user) => (user.status ?? 'member') === 'member');
  const previewUsers = new Set(hasPreviewModel ? shuffle(previewRandom, activeMembers).slice(0, 2).map((user) => user.userId) : []);
  const previewDays = new Set(shuffle(previewRandom, weekdayIndexes.length > 0 ? weekdayIndexes : days.map((_, i) => i)).slice(0, 3));
  const noPreview = new Set<number>();

  const people: { userId: string; status: DirectoryUserEntry['status'] | 'unknown' }[] = [
    ...org.users.map((user) => ({ userId: user.userId, status: user.status ?? 'member' })),
    ...org.unknownUserIds.map((userId) => ({ userId, status: 'unknown' as const })),
  ];
  const profiles: UsageProfile[] = people.map(({ userId, status }) => ({
    ...buildProfile(settings, userId, status, days.length, firstWeekday),
    previewDays: previewUsers.has(userId) ? previewDays : noPreview,
  }));

  let buffer = format === 'csv' ? `${CSV_HEADER}\r\n` : '';
  for (let dayIndex = 0; dayIndex < days.length; dayIndex += 1) {
    const day = days[dayIndex] as string;
    const weekend = weekends[dayIndex] as boolean;
    const dayStart = startOfDayInZone(day, settings.timeZone).getTime();
    const aggregates: Aggregate[] = [];
    for (const profile of profiles) aggregates.push(...userDay(settings, profile, day, dayIndex, dayStart, weekend));
    aggregates.push(...anonymousDay(settings, day, dayStart, weekend, aggregates.length));
    aggregates.sort(compareAggregates);

    for (const aggregate of aggregates) {
      tally.aggregates += 1;
      tally.rows += METRIC_NAMES.length;
      tally.requests += aggregate.requests;
      tally.tokensByMetric['Prompt Tokens'] += aggregate.prompt;
      tally.tokensByMetric['Completion Tokens'] += aggregate.completion;
      tally.tokensByMetric['Total Tokens'] += aggregate.prompt + aggregate.completion;
      tally.aggregatesByModel[aggregate.model] = (tally.aggregatesByModel[aggregate.model] ?? 0) + 1;
      if (aggregate.userId === '') tally.rowsWithoutUserId += METRIC_NAMES.length;
      else tally.users.add(aggregate.userId);

      buffer += renderAggregate(aggregate, format);
      if (buffer.length >= CHUNK_CHARS) {
        yield buffer;
        buffer = '';
      }
    }
  }
  if (buffer.length > 0) yield buffer;
}

/**
 * Streams a month of gateway metrics to `filePath` in the export format the usage source reads, one row per
 * metric name per user x model x tier x day aggregate, at a business hour of that day in the time zone:
 *
 * - ndjson: `{"timestamp":"2026-10-05T09:13:22.123Z","name":"Prompt Tokens","valueSum":812345,"valueCount":19,
 *   "customDimensions":{"UserId":"<oid>","Model":"claude-sonnet-4-6","Tier":"Claude.Standard"}}` per line.
 * - csv: the portal's "Export to CSV": header `timestamp [UTC],name,valueSum,valueCount,customDimensions`, times
 *   like `"10/5/2026, 9:13:22.123 AM"` (UTC), customDimensions as a JSON string with doubled quotes, CRLF lines.
 *
 * "Total Tokens" is Prompt + Completion of the same aggregate, and valueCount (requests) is the same on its three
 * rows. The file is written through a temporary name and renamed, so a crash never leaves a truncated file that
 * a later run would reuse. Memory stays at one day of aggregates whatever the size of the organization.
 */
export async function writeDemoUsage(options: DemoOptions, org: DemoOrganization, filePath: string, format: 'ndjson' | 'csv'): Promise<DemoUsageSummary> {
  const settings = resolveOptions(options);
  if (format !== 'ndjson' && format !== 'csv') throw new AppError('INVALID_ARGUMENT', `Unknown demo usage format "${String(format)}": use ndjson or csv`);
  const tally: Tally = {
    rows: 0,
    aggregates: 0,
    requests: 0,
    rowsWithoutUserId: 0,
    tokensByMetric: { 'Prompt Tokens': 0, 'Completion Tokens': 0, 'Total Tokens': 0 },
    users: new Set(),
    aggregatesByModel: {},
  };

  const temporary = `${filePath}.${process.pid}.partial`;
  try {
    await mkdir(path.dirname(filePath), { recursive: true });
    // pipeline waits for 'drain' whenever the file stream's buffer is full: backpressure without extra code.
    await pipeline(Readable.from(usageChunks(settings, org, format, tally), { objectMode: false }), createWriteStream(temporary, { encoding: 'utf8' }));
    await rename(temporary, filePath);
  } catch (error) {
    await rm(temporary, { force: true });
    if (error instanceof AppError) throw error;
    throw new AppError('STORAGE_FAILED', `Could not write demo usage file ${filePath}: ${(error as Error).message}`, { cause: error });
  }

  const known = new Set(org.users.map((user) => user.userId));
  return {
    file: filePath,
    format,
    month: settings.month,
    timeZone: settings.timeZone,
    rows: tally.rows,
    aggregates: tally.aggregates,
    tokensByMetric: { ...tally.tokensByMetric },
    requests: tally.requests,
    users: tally.users.size,
    unknownUserIds: [...tally.users].filter((userId) => !known.has(userId)).sort(),
    rowsWithoutUserId: tally.rowsWithoutUserId,
    aggregatesByModel: { ...tally.aggregatesByModel },
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure `<dir>/directory.json` and `<dir>/usage-<month>.ndjson` exist, generating whichever is missing, so a
 * rerun of the demo reuses its data. `generated` says whether anything was written. The organization depends
 * only on seed, users and teams, so a directory written for one month fits the usage of any other.
 */
export async function ensureDemoData(dir: string, options: DemoOptions): Promise<{ usageFile: string; directoryFile: string; generated: boolean }> {
  const settings = resolveOptions(options);
  const usageFile = path.join(dir, `usage-${settings.month}.ndjson`);
  const directoryFile = path.join(dir, 'directory.json');
  const [haveUsage, haveDirectory] = await Promise.all([exists(usageFile), exists(directoryFile)]);
  if (haveUsage && haveDirectory) return { usageFile, directoryFile, generated: false };

  const org = generateOrganization(options);
  try {
    await mkdir(dir, { recursive: true });
    if (!haveDirectory) {
      const temporary = `${directoryFile}.${process.pid}.partial`;
      await writeFile(temporary, `${JSON.stringify(directoryDocumentOf(org), null, 2)}\n`, 'utf8');
      await rename(temporary, directoryFile);
    }
  } catch (error) {
    throw new AppError('STORAGE_FAILED', `Could not write demo directory file ${directoryFile}: ${(error as Error).message}`, { cause: error });
  }
  if (!haveUsage) await writeDemoUsage(options, org, usageFile, 'ndjson');
  return { usageFile, directoryFile, generated: true };
}
