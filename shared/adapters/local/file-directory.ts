import { readFile } from 'node:fs/promises';
import { TEAM_ID, UNALLOCATED_TEAM, type DirectoryResolution, type DirectoryUser, type Team } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import type { Directory } from '../../ports/directory.js';

/**
 * The local directory file: who is in which team, and who leads each team. JSON, UTF-8:
 *
 * ```json
 * {
 *   "teams": [
 *     { "id": "platform", "name": "Platform Engineering", "leads": ["lead@contoso.example"], "costCenter": "CC-1001",
 *       "leadOids": ["<Entra oid of a lead>"] }
 *   ],
 *   "users": [
 *     { "userId": "<Entra oid>", "teamId": "platform", "displayName": "Ada Lovelace", "upn": "ada@contoso.example",
 *       "status": "member" }
 *   ]
 * }
 * ```
 *
 * - `teams[].id` follows TEAM_ID (lowercase letter or digit first, then `a-z 0-9 . _ -`, at most 63 characters)
 *   and is unique; `_unallocated` is reserved. `leads` are mail addresses (an empty list is allowed and noted);
 *   `costCenter` is optional.
 * - Lead oids: the cost API lets a lead see their team by the lead's Entra object id (`oid`), never by a
 *   name or mail address in the token (their owners can change those). A lead's oid is taken from the `users`
 *   entry whose `upn` equals the lead address (compared without case), and from the optional `leadOids` list
 *   for leads who are not listed as users. A file without `leadOids` keeps working unchanged.
 * - `users[].userId` is the Entra object id the gateway emits as UserId, compared exactly as written.
 *   `teamId` names a declared team. `status` is `member` (default), `guest` or `former` (deleted or disabled:
 *   kept so old usage is explained, charged to the unallocated team).
 * - A user listed more than once is not an error: the first entry in file order wins and the run notes say so,
 *   because real org charts put people in two teams and the chargeback must still pick exactly one.
 * - Keys not listed here are ignored, so a file can carry comments such as `"_comment": "..."`.
 */
export interface DirectoryDocument {
  readonly teams: readonly DirectoryTeamEntry[];
  readonly users: readonly DirectoryUserEntry[];
}

export interface DirectoryTeamEntry {
  readonly id: string;
  readonly name: string;
  readonly leads: readonly string[];
  readonly leadOids?: readonly string[];
  readonly costCenter?: string;
}

export interface DirectoryUserEntry {
  readonly userId: string;
  readonly teamId: string;
  readonly displayName: string;
  readonly upn: string;
  readonly status?: DirectoryUser['status'];
}

const USER_STATUSES: readonly DirectoryUser['status'][] = ['member', 'guest', 'former'];

/** Deliberately loose: one @, no spaces, a dot in the domain. Guest UPNs such as `a_b.example#EXT#@t.example` pass. */
const MAIL_ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function looksLikeMailAddress(value: string): boolean {
  return MAIL_ADDRESS.test(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value) ?? String(value);
}

/**
 * Validates a parsed directory document and turns it into a resolution of every user it lists. Every problem is
 * collected and reported in one AppError('DIRECTORY_INVALID') whose details name the entry, so a person can fix
 * the file in one pass. `source` names the file (or whatever the document came from) in messages.
 */
export function parseDirectoryDocument(document: unknown, source: string): DirectoryResolution {
  const problems: string[] = [];
  const notes: string[] = [];

  if (!isRecord(document)) {
    throw invalid(source, ['the document must be a JSON object with "teams" and "users" arrays']);
  }
  const rawTeams = document['teams'];
  const rawUsers = document['users'];
  if (!Array.isArray(rawTeams)) problems.push('"teams" must be an array of teams');
  if (!Array.isArray(rawUsers)) problems.push('"users" must be an array of users');

  const teams = new Map<string, Team>();
  const teamsSeen = new Set<string>();
  (Array.isArray(rawTeams) ? rawTeams : []).forEach((raw, index) => {
    const team = parseTeam(raw, `teams[${index}]`, problems);
    if (team === undefined) return;
    if (teamsSeen.has(team.id)) {
      problems.push(`teams[${index}]: team id "${team.id}" is declared more than once`);
      return;
    }
    teamsSeen.add(team.id);
    if (team.valid) teams.set(team.id, team.team);
  });

  const users = new Map<string, DirectoryUser>();
  (Array.isArray(rawUsers) ? rawUsers : []).forEach((raw, index) => {
    const user = parseUser(raw, `users[${index}]`, problems);
    if (user === undefined) return;
    if (user.teamId !== undefined && !teamsSeen.has(user.teamId)) {
      problems.push(`users[${index}]: teamId "${user.teamId}" is not a declared team`);
    }
    if (!user.valid || user.userId === undefined) return;
    const earlier = users.get(user.userId);
    if (earlier !== undefined) {
      notes.push(
        earlier.teamId === user.user.teamId
          ? `User ${describeUser(earlier)} is listed more than once in team "${earlier.teamId}"; the first entry is used.`
          : `User ${describeUser(earlier)} is listed in teams "${earlier.teamId}" and "${user.user.teamId}"; charged to "${earlier.teamId}", the first in the file.`,
      );
      return;
    }
    users.set(user.userId, user.user);
  });

  if (problems.length > 0) throw invalid(source, problems);

  const oidByUpn = new Map([...users.values()].map((user) => [user.upn.trim().toLowerCase(), user.userId]));
  for (const [teamId, team] of teams) {
    const fromUsers = team.leads.map((lead) => oidByUpn.get(lead.trim().toLowerCase())).filter((oid): oid is string => oid !== undefined);
    const leadIds = [...new Set([...(team.leadIds ?? []), ...fromUsers])];
    teams.set(teamId, { ...team, ...(leadIds.length > 0 ? { leadIds } : {}) });
  }
  for (const team of teams.values()) {
    if (team.leads.length === 0) notes.push(`Team "${team.id}" (${team.name}) has no lead: nobody receives its reports or budget alerts.`);
  }
  return { users, teams, notes };
}

function describeUser(user: DirectoryUser): string {
  return `${user.displayName} <${user.upn}> (${user.userId})`;
}

function invalid(source: string, problems: readonly string[]): AppError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new AppError('DIRECTORY_INVALID', `Directory file ${source} is invalid (${count})`, { details: problems });
}

type Parsed<T> = { valid: true; team: T } | { valid: false };

function parseTeam(raw: unknown, where: string, problems: string[]): ({ id: string } & Parsed<Team>) | undefined {
  if (!isRecord(raw)) {
    problems.push(`${where}: a team must be an object with id, name and leads`);
    return undefined;
  }
  const before = problems.length;
  const { id, name, leads, costCenter, leadOids } = raw;

  if (typeof id !== 'string' || id === '') {
    problems.push(`${where}: "id" is required and must be a string`);
  } else if (id === UNALLOCATED_TEAM) {
    problems.push(`${where}: team id "${id}" is reserved for usage no team can be charged for`);
  } else if (!TEAM_ID.test(id)) {
    problems.push(`${where}: team id "${id}" is not valid: use lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters`);
  }
  if (typeof name !== 'string' || name.trim() === '') problems.push(`${where}: "name" is required and must be a non-empty string`);
  if (!Array.isArray(leads)) {
    problems.push(`${where}: "leads" is required and must be an array of mail addresses (it may be empty)`);
  } else {
    leads.forEach((lead: unknown, index) => {
      if (typeof lead !== 'string' || !looksLikeMailAddress(lead)) problems.push(`${where}.leads[${index}]: ${quote(lead)} is not a mail address`);
    });
  }
  if (leadOids !== undefined) {
    if (!Array.isArray(leadOids)) problems.push(`${where}: "leadOids" must be an array of Entra object ids when present`);
    else
      leadOids.forEach((oid: unknown, index) => {
        if (typeof oid !== 'string' || oid.trim() === '' || oid !== oid.trim()) problems.push(`${where}.leadOids[${index}]: ${quote(oid)} is not an object id`);
      });
  }
  if (costCenter !== undefined && (typeof costCenter !== 'string' || costCenter.trim() === '')) {
    problems.push(`${where}: "costCenter" must be a non-empty string when present`);
  }

  if (typeof id !== 'string' || id === '') return undefined;
  if (problems.length > before) return { id, valid: false };
  const team: Team = {
    id,
    name: (name as string).trim(),
    leads: [...(leads as string[])],
    ...(Array.isArray(leadOids) && leadOids.length > 0 ? { leadIds: [...(leadOids as string[])] } : {}),
    ...(typeof costCenter === 'string' ? { costCenter: costCenter.trim() } : {}),
  };
  return { id, valid: true, team };
}

function parseUser(
  raw: unknown,
  where: string,
  problems: string[],
): ({ userId?: string; teamId?: string } & ({ valid: true; user: DirectoryUser } | { valid: false })) | undefined {
  if (!isRecord(raw)) {
    problems.push(`${where}: a user must be an object with userId, teamId, displayName and upn`);
    return undefined;
  }
  const before = problems.length;
  const { userId, teamId, displayName, upn, status } = raw;

  const userIdOk = typeof userId === 'string' && userId.trim() !== '' && userId === userId.trim();
  if (!userIdOk) problems.push(`${where}: "userId" is required and must be a non-empty string without surrounding spaces`);
  if (typeof teamId !== 'string' || teamId === '') problems.push(`${where}: "teamId" is required and must be a string`);
  if (typeof displayName !== 'string' || displayName.trim() === '') problems.push(`${where}: "displayName" is required and must be a non-empty string`);
  if (typeof upn !== 'string' || !looksLikeMailAddress(upn)) problems.push(`${where}: "upn" ${quote(upn)} is not a user principal name (name@domain)`);
  if (status !== undefined && !(USER_STATUSES as readonly unknown[]).includes(status)) {
    problems.push(`${where}: "status" ${quote(status)} must be one of ${USER_STATUSES.join(', ')}`);
  }

  const ids = {
    ...(userIdOk ? { userId: userId as string } : {}),
    ...(typeof teamId === 'string' && teamId !== '' ? { teamId } : {}),
  };
  if (problems.length > before) return { ...ids, valid: false };
  const user: DirectoryUser = {
    userId: userId as string,
    teamId: teamId as string,
    displayName: (displayName as string).trim(),
    upn: upn as string,
    status: (status as DirectoryUser['status'] | undefined) ?? 'member',
  };
  return { ...ids, valid: true, user };
}

/** Reads and validates a directory file (see DirectoryDocument). Missing files and bad JSON are DIRECTORY_INVALID. */
export async function loadDirectoryFile(path: string): Promise<DirectoryResolution> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(error)})`;
    throw new AppError('DIRECTORY_INVALID', `Directory file ${path} ${reason}`, { cause: error });
  }
  let document: unknown;
  try {
    // A byte-order mark is what Windows editors add; JSON.parse rejects it.
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new AppError('DIRECTORY_INVALID', `Directory file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseDirectoryDocument(document, path);
}

/** The Directory port over a local JSON file, read and validated once, on first use. */
export class FileDirectory implements Directory {
  private loading: Promise<DirectoryResolution> | undefined;

  constructor(private readonly path: string) {}

  async resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    const all = await this.load();
    const byLowerCase = this.lowerCaseIndex(all);
    const users = new Map<string, DirectoryUser>();
    for (const userId of userIds) {
      // Oids are GUIDs: a gateway or export that changed their case must not turn a known user unknown.
      const user = all.users.get(userId) ?? byLowerCase.get(userId.toLowerCase());
      if (user !== undefined) users.set(userId, user);
    }
    return { users, teams: all.teams, notes: all.notes };
  }

  async lookUpTeams(teamIds: readonly string[]): Promise<ReadonlyMap<string, Team>> {
    const all = await this.load();
    return new Map(teamIds.flatMap((teamId) => (all.teams.has(teamId) ? [[teamId, all.teams.get(teamId)!] as const] : [])));
  }

  private index: Map<string, DirectoryUser> | undefined;

  private lowerCaseIndex(all: DirectoryResolution): Map<string, DirectoryUser> {
    this.index ??= new Map([...all.users].map(([userId, user]) => [userId.toLowerCase(), user]));
    return this.index;
  }

  private load(): Promise<DirectoryResolution> {
    if (this.loading === undefined) {
      // A failed load is forgotten so that fixing the file and retrying works without a restart.
      this.loading = loadDirectoryFile(this.path).catch((error: unknown) => {
        this.loading = undefined;
        throw error;
      });
    }
    return this.loading;
  }
}
