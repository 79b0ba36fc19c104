#!/usr/bin/env node
// Builds the cost page (dist/web) when it is missing or its sources changed since the last build, so
// `npm test` and `npm start` work on a fresh clone without a separate step. The sources' hash is kept in
// dist/web/.source-hash; an unchanged tree costs a few milliseconds. `--force` builds regardless (npm run build:web).
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(webDir);
const outDir = path.join(root, 'dist', 'web');
const stampFile = path.join(outDir, '.source-hash');

async function files(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const found = await Promise.all(entries.map((entry) => (entry.isDirectory() ? files(path.join(dir, entry.name)) : [path.join(dir, entry.name)])));
  return found.flat();
}

const sources = [...(await files(webDir)), path.join(root, 'package-lock.json')].sort();
const hash = createHash('sha256');
for (const file of sources) hash.update(path.relative(root, file)).update('\0').update(await readFile(file)).update('\0');
const digest = hash.digest('hex');

const previous = await readFile(stampFile, 'utf8').catch(() => '');
const forced = process.argv.includes('--force');
if (!forced && previous.trim() === digest && (await readFile(path.join(outDir, 'index.html')).then(() => true, () => false))) process.exit(0);

const started = Date.now();
const { build } = await import('vite');
await build({ configFile: path.join(webDir, 'vite.config.ts') });
await writeFile(stampFile, `${digest}\n`);
process.stderr.write(`cost page built into dist/web in ${Date.now() - started} ms\n`);
