import { readFile } from 'node:fs/promises';
import { isValidTeamId, UNALLOCATED_TEAM } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import type { MappingOverrides } from '../azure/graph-directory.js';
import { looksLikeMailAddress } from './file-directory.js';

/**
 * Hand-maintained corrections to what Microsoft Graph says (DIRECTORY_OVERRIDES_FILE). JSON, UTF-8:
 *
 * ```json
 * {
 *   "users": { "<Entra oid>": "platform", "<another oid>": "_unallocated" },
 *   "teamLeads": { "platform": ["lead@contoso.example"] },
 *   "teamNames": { "platform": "Platform Engineering" }
 * }
 * ```
 *
 * - `users`: oid -> team id; `_unallocated` deliberately charges nobody. Oids are compared without regard to
 *   case (Entra object ids are GUIDs), so the same oid twice in different case is a problem unless both agree.
 * - `teamLeads`: team id -> mail addresses that replace the group owners (an empty list means "no lead").
 * - `teamNames`: team id -> the name shown in reports.
 * - Every section is optional. Keys starting with `_` (such as `"_comment"`) are ignored; any other unknown
 *   key is reported, because a misspelt section would otherwise silently change nothing.
 */
const SECTIONS = ['users', 'teamLeads', 'teamNames'] as const;

/** Validates a parsed overrides document; every problem is reported at once in one DIRECTORY_INVALID. */
export function parseDirectoryOverrides(document: unknown, source: string): MappingOverrides {
  if (!isRecord(document)) throw invalid(source, ['the document must be a JSON object with "users", "teamLeads" and/or "teamNames"']);
  const problems: string[] = [];
  for (const key of Object.keys(document)) {
    if (!key.startsWith('_') && !(SECTIONS as readonly string[]).includes(key)) {
      problems.push(`"${key}" is not a known section (expected ${SECTIONS.map((s) => `"${s}"`).join(', ')}; prefix a key with "_" for a comment)`);
    }
  }
  const users = parseUsers(document['users'], problems);
  const teamLeads = parseTeamLeads(document['teamLeads'], problems);
  const teamNames = parseTeamNames(document['teamNames'], problems);
  if (problems.length > 0) throw invalid(source, problems);
  return Object.freeze({ users: Object.freeze(users), teamLeads: Object.freeze(teamLeads), teamNames: Object.freeze(teamNames) });
}

/** Reads and validates an overrides file. A missing file or bad JSON is DIRECTORY_INVALID too. */
export async function loadDirectoryOverridesFile(path: string): Promise<MappingOverrides> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(error)})`;
    throw new AppError('DIRECTORY_INVALID', `Directory overrides file ${path} ${reason}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new AppError('DIRECTORY_INVALID', `Directory overrides file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseDirectoryOverrides(document, path);
}

function parseUsers(raw: unknown, problems: string[]): Record<string, string> {
  const users: Record<string, string> = {};
  if (raw === undefined) return users;
  if (!isRecord(raw)) {
    problems.push('"users" must be an object mapping Entra object ids to team ids');
    return users;
  }
  const byLowerCase = new Map<string, { oid: string; teamId: string }>();
  for (const [oid, teamId] of Object.entries(raw)) {
    const where = `users["${oid}"]`;
    if (oid.trim() === '' || oid !== oid.trim()) {
      problems.push(`${where}: the user id must be non-empty without surrounding spaces`);
      continue;
    }
    if (typeof teamId !== 'string') {
      problems.push(`${where}: the team id must be a string, not ${describe(teamId)}`);
      continue;
    }
    if (teamId !== UNALLOCATED_TEAM && !isValidTeamId(teamId)) {
      problems.push(`${where}: "${teamId}" is not a valid team id (lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters; or "${UNALLOCATED_TEAM}")`);
      continue;
    }
    const earlier = byLowerCase.get(oid.toLowerCase());
    if (earlier !== undefined && earlier.teamId !== teamId) {
      problems.push(`${where}: the same user as users["${earlier.oid}"] (ids differ only in case) but a different team ("${teamId}" vs "${earlier.teamId}")`);
      continue;
    }
    byLowerCase.set(oid.toLowerCase(), { oid, teamId });
    users[oid] = teamId;
  }
  return users;
}

function parseTeamLeads(raw: unknown, problems: string[]): Record<string, readonly string[]> {
  const teamLeads: Record<string, readonly string[]> = {};
  if (raw === undefined) return teamLeads;
  if (!isRecord(raw)) {
    problems.push('"teamLeads" must be an object mapping team ids to lists of mail addresses');
    return teamLeads;
  }
  for (const [teamId, leads] of Object.entries(raw)) {
    const where = `teamLeads["${teamId}"]`;
    const before = problems.length;
    checkTeamKey(teamId, where, problems);
    if (!Array.isArray(leads)) {
      problems.push(`${where}: must be a list of mail addresses (it may be empty), not ${describe(leads)}`);
      continue;
    }
    leads.forEach((lead: unknown, index) => {
      if (typeof lead !== 'string' || !looksLikeMailAddress(lead)) problems.push(`${where}[${index}]: ${describe(lead)} is not a mail address`);
    });
    if (problems.length === before) teamLeads[teamId] = Object.freeze([...new Set(leads as string[])]);
  }
  return teamLeads;
}

function parseTeamNames(raw: unknown, problems: string[]): Record<string, string> {
  const teamNames: Record<string, string> = {};
  if (raw === undefined) return teamNames;
  if (!isRecord(raw)) {
    problems.push('"teamNames" must be an object mapping team ids to display names');
    return teamNames;
  }
  for (const [teamId, name] of Object.entries(raw)) {
    const where = `teamNames["${teamId}"]`;
    const before = problems.length;
    checkTeamKey(teamId, where, problems);
    if (typeof name !== 'string' || name.trim() === '') problems.push(`${where}: the name must be a non-empty string, not ${describe(name)}`);
    if (problems.length === before) teamNames[teamId] = (name as string).trim();
  }
  return teamNames;
}

function checkTeamKey(teamId: string, where: string, problems: string[]): void {
  if (teamId === UNALLOCATED_TEAM) problems.push(`${where}: "${UNALLOCATED_TEAM}" is reserved and has neither leads nor a name to set`);
  else if (!isValidTeamId(teamId)) problems.push(`${where}: "${teamId}" is not a valid team id`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

function invalid(source: string, problems: readonly string[]): AppError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new AppError('DIRECTORY_INVALID', `Directory overrides file ${source} is invalid (${count})`, { details: problems });
}
