import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDirectoryOverridesFile, parseDirectoryOverrides } from '../../shared/adapters/local/directory-overrides-file.js';
import { AppError } from '../../shared/domain/errors.js';

const OID = 'abcdef01-0000-4000-8000-00000000000a';

function problemsOf(document: unknown): readonly string[] {
  try {
    parseDirectoryOverrides(document, 'overrides.json');
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DIRECTORY_INVALID');
    expect((error as AppError).message).toContain('overrides.json');
    return (error as AppError).details;
  }
  throw new Error('expected the document to be rejected');
}

describe('parseDirectoryOverrides', () => {
  it('reads users, team leads and team names, ignoring comment keys', () => {
    const overrides = parseDirectoryOverrides(
      {
        _comment: 'kept by finance',
        users: { [OID]: 'platform', 'aaaaaaaa-0000-4000-8000-000000000002': '_unallocated' },
        teamLeads: { platform: ['lead@contoso.example', 'lead@contoso.example', 'second@contoso.example'], 'r-d': [] },
        teamNames: { platform: '  Platform Engineering ' },
      },
      'overrides.json',
    );
    expect(overrides).toEqual({
      users: { [OID]: 'platform', 'aaaaaaaa-0000-4000-8000-000000000002': '_unallocated' },
      teamLeads: { platform: ['lead@contoso.example', 'second@contoso.example'], 'r-d': [] },
      teamNames: { platform: 'Platform Engineering' },
    });
  });

  it('accepts an empty document: every section is optional', () => {
    expect(parseDirectoryOverrides({}, 'x')).toEqual({ users: {}, teamLeads: {}, teamNames: {} });
  });

  it('reports every problem at once, naming the entry', () => {
    const problems = problemsOf({
      user: {},
      users: { [OID]: 'Bad Team', ' padded ': 'ok', [OID.toUpperCase()]: 'other', x: 7 },
      teamLeads: { platform: ['not-an-address', 3], _unallocated: [], 'Bad Id': ['a@contoso.example'], solo: 'a@contoso.example' },
      teamNames: { platform: '', '-x': 'Dash' },
    });
    expect(problems).toEqual([
      '"user" is not a known section (expected "users", "teamLeads", "teamNames"; prefix a key with "_" for a comment)',
      `users["${OID}"]: "Bad Team" is not a valid team id (lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters; or "_unallocated")`,
      'users[" padded "]: the user id must be non-empty without surrounding spaces',
      'users["x"]: the team id must be a string, not 7',
      'teamLeads["platform"][0]: "not-an-address" is not a mail address',
      'teamLeads["platform"][1]: 3 is not a mail address',
      'teamLeads["_unallocated"]: "_unallocated" is reserved and has neither leads nor a name to set',
      'teamLeads["Bad Id"]: "Bad Id" is not a valid team id',
      'teamLeads["solo"]: must be a list of mail addresses (it may be empty), not "a@contoso.example"',
      'teamNames["platform"]: the name must be a non-empty string, not ""',
      'teamNames["-x"]: "-x" is not a valid team id',
    ]);
  });

  it('refuses the same oid twice in different case with different teams, allows it when they agree', () => {
    expect(problemsOf({ users: { [OID]: 'red', [OID.toUpperCase()]: 'blue' } })).toEqual([
      `users["${OID.toUpperCase()}"]: the same user as users["${OID}"] (ids differ only in case) but a different team ("blue" vs "red")`,
    ]);
    expect(parseDirectoryOverrides({ users: { [OID]: 'red', [OID.toUpperCase()]: 'red' } }, 'x').users).toEqual({ [OID]: 'red', [OID.toUpperCase()]: 'red' });
  });

  it('rejects documents and sections of the wrong shape', () => {
    expect(problemsOf([])).toEqual(['the document must be a JSON object with "users", "teamLeads" and/or "teamNames"']);
    expect(problemsOf({ users: [], teamLeads: null, teamNames: 'x' })).toEqual([
      '"users" must be an object mapping Entra object ids to team ids',
      '"teamLeads" must be an object mapping team ids to lists of mail addresses',
      '"teamNames" must be an object mapping team ids to display names',
    ]);
  });
});

describe('loadDirectoryOverridesFile', () => {
  it('reads a file with a byte-order mark, and names the file when it is missing or not JSON', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'overrides-'));
    const good = path.join(dir, 'good.json');
    await writeFile(good, `\uFEFF${JSON.stringify({ users: { [OID]: 'platform' } })}`);
    expect((await loadDirectoryOverridesFile(good)).users).toEqual({ [OID]: 'platform' });

    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ "users": ');
    await expect(loadDirectoryOverridesFile(bad)).rejects.toMatchObject({ code: 'DIRECTORY_INVALID', message: expect.stringContaining(`${bad} is not valid JSON`) });
    await expect(loadDirectoryOverridesFile(path.join(dir, 'missing.json'))).rejects.toMatchObject({
      code: 'DIRECTORY_INVALID',
      message: expect.stringContaining('does not exist'),
    });
  });
});
