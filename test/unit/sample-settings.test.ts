import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandUsageFilePatterns } from '../../shared/adapters/local/usage-file-patterns.js';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const sample: Record<string, string> = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'local.settings.sample.json'), 'utf8')).Values;

describe('local.settings.sample.json', () => {
  it('lists every setting the app reads', () => {
    expect(Object.values(SETTING).filter((name) => !(name in sample))).toEqual([]);
  });

  it('lists every setting the README names', () => {
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Settings'), readme.indexOf('## Azure Functions'));
    const named = [...new Set([...table.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)].map((match) => match[1]!))];
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((name) => !(name in sample))).toEqual([]);
  });

  it('loads without a problem and points at the usage the demo writes, whatever its month', () => {
    const settings = loadSettings(sample, { projectRoot: PROJECT_ROOT });
    expect(settings.usage).toEqual({ kind: 'file', files: [path.join(PROJECT_ROOT, 'out', 'demo', 'usage-*.ndjson')] });
  });
});

describe('USAGE_FILES patterns', () => {
  it('expand * in the file name to the matching files in order, and keep a pattern that matches nothing', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'usage-patterns-'));
    for (const name of ['usage-2026-11.ndjson', 'usage-2026-10.ndjson', 'usage-2026-10.csv', 'directory.json']) await writeFile(path.join(folder, name), '');
    expect(expandUsageFilePatterns([path.join(folder, 'usage-*.ndjson'), path.join(folder, 'plain.csv')])).toEqual([
      path.join(folder, 'usage-2026-10.ndjson'),
      path.join(folder, 'usage-2026-11.ndjson'),
      path.join(folder, 'plain.csv'),
    ]);
    expect(expandUsageFilePatterns([path.join(folder, 'none-*.ndjson')])).toEqual([path.join(folder, 'none-*.ndjson')]);
  });
});
