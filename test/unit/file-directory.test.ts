import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDirectory, parseDirectoryDocument } from '../../shared/adapters/local/file-directory.js';
import { allocate, UNALLOCATED_TEAM } from '../../shared/domain/directory.js';
import { AppError } from '../../shared/domain/errors.js';

const ADA = '0b7f3c52-1d2e-4a8b-9c3d-5e6f7a8b9c01';
const GRACE = '1c8a4d63-2e3f-4b9c-8d4e-6f7a8b9c0d12';
const ALAN = '2d9b5e74-3f4a-4cad-9e5f-7a8b9c0d1e23';

function validDocument() {
  return {
    teams: [
      { id: 'platform', name: 'Platform Engineering', leads: ['lead@contoso.example'], costCenter: 'CC-1001' },
      { id: 'payments', name: 'Payments', leads: ['pay.lead@contoso.example', 'second@contoso.example'] },
    ],
    users: [
      { userId: ADA, teamId: 'platform', displayName: 'Ada Lovelace', upn: 'ada@contoso.example' },
      { userId: GRACE, teamId: 'payments', displayName: 'Grace Hopper', upn: 'grace@contoso.example', status: 'guest' },
      { userId: ALAN, teamId: 'payments', displayName: 'Alan Turing', upn: 'alan@contoso.example', status: 'former' },
    ],
  };
}

function captureError(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

describe('parseDirectoryDocument', () => {
  it('reads teams and users, defaulting status to member and keeping cost centers', () => {
    const resolution = parseDirectoryDocument(validDocument(), 'directory.json');

    expect([...resolution.teams.keys()]).toEqual(['platform', 'payments']);
    expect(resolution.teams.get('platform')).toEqual({ id: 'platform', name: 'Platform Engineering', leads: ['lead@contoso.example'], costCenter: 'CC-1001' });
    expect(resolution.teams.get('payments')?.costCenter).toBeUndefined();
    expect(resolution.users.get(ADA)).toEqual({ userId: ADA, teamId: 'platform', displayName: 'Ada Lovelace', upn: 'ada@contoso.example', status: 'member' });
    expect(resolution.users.get(GRACE)?.status).toBe('guest');
    expect(resolution.notes).toEqual([]);
  });

  it('keeps former users so their usage is explained, and allocation sends it to the unallocated team', () => {
    const resolution = parseDirectoryDocument(validDocument(), 'directory.json');

    expect(resolution.users.get(ALAN)?.status).toBe('former');
    expect(allocate(ALAN, resolution)).toMatchObject({ teamId: UNALLOCATED_TEAM, allocation: 'former-user' });
    expect(allocate(GRACE, resolution)).toMatchObject({ teamId: 'payments', allocation: 'team' });
  });

  it('reports every problem of the file at once, naming the file and each entry', () => {
    const document = {
      teams: [
        { id: 'Platform!', name: 'Bad id', leads: [] },
        { id: '_unallocated', name: 'Reserved', leads: ['x@contoso.example'] },
        { id: 'payments', name: 'Payments', leads: ['not-an-address'] },
        { id: 'payments', name: 'Payments again', leads: [] },
        { id: 'growth', name: '', leads: 'lead@contoso.example', costCenter: 7 },
      ],
      users: [
        { userId: ADA, teamId: 'nowhere', displayName: 'Ada', upn: 'ada@contoso.example' },
        { userId: '', teamId: 'payments', displayName: 'Nobody', upn: 'nobody' },
        { userId: GRACE, teamId: 'payments', displayName: 'Grace', upn: 'grace@contoso.example', status: 'retired' },
        'not an object',
      ],
    };

    const error = captureError(() => parseDirectoryDocument(document, '/data/directory.json'));

    expect(error.code).toBe('DIRECTORY_INVALID');
    expect(error.message).toContain('/data/directory.json');
    const details = error.details.join('\n');
    expect(details).toMatch(/teams\[0\]: team id "Platform!" is not valid/);
    expect(details).toMatch(/teams\[1\]: team id "_unallocated" is reserved/);
    expect(details).toMatch(/teams\[2\]\.leads\[0\]: "not-an-address" is not a mail address/);
    expect(details).toMatch(/teams\[3\]: team id "payments" is declared more than once/);
    expect(details).toMatch(/teams\[4\]: "name" is required/);
    expect(details).toMatch(/teams\[4\]: "leads" is required and must be an array/);
    expect(details).toMatch(/teams\[4\]: "costCenter" must be a non-empty string/);
    expect(details).toMatch(/users\[0\]: teamId "nowhere" is not a declared team/);
    expect(details).toMatch(/users\[1\]: "userId" is required/);
    expect(details).toMatch(/users\[1\]: "upn" "nobody" is not a user principal name/);
    expect(details).toMatch(/users\[2\]: "status" "retired" must be one of member, guest, former/);
    expect(details).toMatch(/users\[3\]: a user must be an object/);
    expect(error.details).toHaveLength(12);
  });

  it('rejects a document that is not an object or lacks the arrays', () => {
    expect(captureError(() => parseDirectoryDocument([], 'a.json')).details).toEqual(['the document must be a JSON object with "teams" and "users" arrays']);
    const missing = captureError(() => parseDirectoryDocument({ teams: {} }, 'b.json'));
    expect(missing.details).toEqual(['"teams" must be an array of teams', '"users" must be an array of users']);
  });

  it('charges a user listed in two teams to the first team in the file and says so in the notes', () => {
    const document = validDocument();
    document.users.push({ userId: ADA, teamId: 'payments', displayName: 'Ada Lovelace', upn: 'ada@contoso.example' });

    const resolution = parseDirectoryDocument(document, 'directory.json');

    expect(resolution.users.get(ADA)?.teamId).toBe('platform');
    expect(resolution.notes).toHaveLength(1);
    expect(resolution.notes[0]).toContain(ADA);
    expect(resolution.notes[0]).toContain('Ada Lovelace');
    expect(resolution.notes[0]).toContain('"platform"');
    expect(resolution.notes[0]).toContain('"payments"');
  });

  it('notes a team without leads, since nobody would receive its reports', () => {
    const document = validDocument();
    document.teams[1]!.leads = [];

    const resolution = parseDirectoryDocument(document, 'directory.json');

    expect(resolution.notes).toEqual([expect.stringContaining('"payments"')]);
  });
});

describe('FileDirectory', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'file-directory-'));
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('returns only the users asked for and known, with every declared team', async () => {
    const file = path.join(folder, 'directory.json');
    await writeFile(file, JSON.stringify(validDocument()));
    const directory = new FileDirectory(file);

    const unknown = '9f9f9f9f-0000-4000-8000-000000000000';
    const resolution = await directory.resolve([ADA, unknown, '', ALAN]);

    expect([...resolution.users.keys()]).toEqual([ADA, ALAN]);
    expect(resolution.users.has(unknown)).toBe(false);
    expect([...resolution.teams.keys()]).toEqual(['platform', 'payments']);
    expect(allocate(unknown, resolution)).toMatchObject({ teamId: UNALLOCATED_TEAM, allocation: 'unknown-user' });
  });

  it('reads the file once and keeps what it read', async () => {
    const file = path.join(folder, 'directory.json');
    await writeFile(file, JSON.stringify(validDocument()));
    const directory = new FileDirectory(file);
    await directory.resolve([ADA]);

    await writeFile(file, 'this is no longer JSON');

    expect((await directory.resolve([ADA])).users.get(ADA)?.teamId).toBe('platform');
  });

  it('fails clearly on a missing file, and succeeds once the file is there', async () => {
    const file = path.join(folder, 'missing.json');
    const directory = new FileDirectory(file);

    await expect(directory.resolve([ADA])).rejects.toMatchObject({ code: 'DIRECTORY_INVALID', message: `Directory file ${file} does not exist` });

    await writeFile(file, JSON.stringify(validDocument()));
    expect((await directory.resolve([ADA])).users.size).toBe(1);
  });

  it('fails clearly on a file that is not JSON', async () => {
    const file = path.join(folder, 'broken.json');
    await writeFile(file, '{ "teams": [ ');

    await expect(new FileDirectory(file).resolve([])).rejects.toMatchObject({
      code: 'DIRECTORY_INVALID',
      message: expect.stringMatching(new RegExp(`^Directory file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON`)),
    });
  });

  it('accepts a file saved with a byte-order mark', async () => {
    const file = path.join(folder, 'bom.json');
    await writeFile(file, `\uFEFF${JSON.stringify(validDocument())}`);

    expect((await new FileDirectory(file).resolve([GRACE])).users.get(GRACE)?.displayName).toBe('Grace Hopper');
  });

  it('reports validation problems with the file name', async () => {
    const file = path.join(folder, 'invalid.json');
    await writeFile(file, JSON.stringify({ teams: [{ id: 'Bad Id', name: 'x', leads: [] }], users: [] }));

    await expect(new FileDirectory(file).resolve([])).rejects.toMatchObject({
      code: 'DIRECTORY_INVALID',
      message: expect.stringContaining(file),
      details: [expect.stringContaining('"Bad Id"')],
    });
  });
});

describe('FileDirectory oid matching', () => {
  it('finds a user whose oid the usage wrote in another case, keyed by the id it was asked for', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { FileDirectory } = await import('../../shared/adapters/local/file-directory.js');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dir-case-'));
    const file = path.join(dir, 'directory.json');
    const oid = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
    await writeFile(
      file,
      JSON.stringify({
        teams: [{ id: 'payments', name: 'Payments', leads: ['lead@contoso.example'] }],
        users: [{ userId: oid, teamId: 'payments', displayName: 'Ada', upn: 'ada@contoso.example' }],
      }),
    );
    const asked = oid.toUpperCase();
    const resolution = await new FileDirectory(file).resolve([asked, 'someone-else']);
    expect([...resolution.users.keys()]).toEqual([asked]);
    expect(resolution.users.get(asked)?.teamId).toBe('payments');
  });
});
