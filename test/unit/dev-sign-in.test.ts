import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { assertDevelopmentSignInAllowed, reasonsAgainstDevelopmentSignIn } from '../../cli/dev-sign-in.js';
import { runServe } from '../../cli/serve.js';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { AppError } from '../../shared/domain/errors.js';

const logger = { progress: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as never;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the development sign-in', () => {
  it('may be offered on a developer machine', () => {
    expect(reasonsAgainstDevelopmentSignIn({ PATH: '/usr/bin', STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' })).toEqual([]);
  });

  it.each([
    ['WEBSITE_INSTANCE_ID', 'abc123'],
    ['WEBSITE_SITE_NAME', 'func-chargeback'],
    ['FUNCTIONS_WORKER_RUNTIME', 'node'],
    ['FUNCTIONS_EXTENSION_VERSION', '~4'],
    ['AUTH_TENANT_ID', '11111111-2222-3333-4444-555555555555'],
  ])('is refused when %s is set', (name, value) => {
    expect(() => assertDevelopmentSignInAllowed({ [name]: value })).toThrow(AppError);
    expect(reasonsAgainstDevelopmentSignIn({ [name]: value })[0]).toContain(name);
  });

  it('stops serve before it starts anything when the settings look like Azure', async () => {
    vi.stubEnv('WEBSITE_INSTANCE_ID', 'a1b2c3');
    const out = path.join(os.tmpdir(), 'never-created-by-serve');
    await expect(runServe({ port: 0, out, logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('stops serve when the real Entra sign-in is configured', async () => {
    vi.stubEnv('AUTH_TENANT_ID', '11111111-2222-3333-4444-555555555555');
    await expect(runServe({ port: 0, out: path.join(os.tmpdir(), 'never-created-by-serve'), logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('is not in what the Functions app deploys: nothing under functions/ or shared/ reaches cli/', async () => {
    const build = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    expect(build.include.sort()).toEqual(['functions', 'shared']);
    const ignored = (await readFile(path.join(PROJECT_ROOT, '.funcignore'), 'utf8')).split('\n').map((line) => line.trim());
    expect(ignored).toContain('cli/');
    expect(ignored).toContain('dist/cli/');
    for (const dir of ['functions', 'shared']) {
      const files = (await readdir(path.join(PROJECT_ROOT, dir), { recursive: true })).filter((file) => file.endsWith('.ts'));
      for (const file of files) {
        const text = await readFile(path.join(PROJECT_ROOT, dir, file), 'utf8');
        expect(text, `${dir}/${file}`).not.toMatch(/(from|import)\s*\(?\s*['"][^'"]*\bcli\//);
        expect(text, `${dir}/${file}`).not.toMatch(/(from|import)\s*\(?\s*['"][^'"]*dev-sign-in/);
      }
    }
  });
});
