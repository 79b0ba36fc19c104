import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { HOST_SETTINGS, loadSettings, settingNames } from '../../shared/config/settings.js';

const sample = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');

/** The README's "## Settings" section, up to the next section. */
function settingsSection(): string {
  const start = readme.indexOf('\n## Settings\n');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

const sorted = (names: Iterable<string>) => [...names].sort();

describe('the settings the docs show and the settings the schema reads', () => {
  const known = new Set(settingNames());

  it('sees the schema (the comparison is not vacuous)', () => {
    expect(known.size).toBeGreaterThan(50);
    for (const name of ['USAGE_SOURCE', 'DIRECTORY_SOURCE', 'MAIL_TRANSPORT', 'SMTP_HOST', 'APPINSIGHTS_WORKSPACE_ID', 'DIRECTORY_CACHE_TTL_HOURS', ...HOST_SETTINGS]) expect(known).toContain(name);
  });

  it('local.settings.sample.json lists every setting, and nothing else', () => {
    const listed = new Set(Object.keys(sample.Values));
    expect(sorted([...known].filter((name) => !listed.has(name)))).toEqual([]);
    expect(sorted([...listed].filter((name) => !known.has(name)))).toEqual([]);
  });

  it('local.settings.sample.json holds working local values', () => {
    const settings = loadSettings(sample.Values, { projectRoot: '/project' });
    expect(settings.usage.kind).toBe('file');
    expect(settings.storage.connectionString).toContain('127.0.0.1:10002');
  });

  it('the README settings table names every setting the app reads, and only those', () => {
    const named = new Set([...settingsSection().matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)].map((match) => match[1]!));
    const appSettings = [...known].filter((name) => !(HOST_SETTINGS as readonly string[]).includes(name));
    expect(sorted(appSettings.filter((name) => !named.has(name)))).toEqual([]);
    expect(sorted([...named].filter((name) => !known.has(name)))).toEqual([]);
  });
});
