#!/usr/bin/env node
// What the Functions app ships: a production install (`npm ci --omit=dev`) and the compiled functions.
// This installs exactly that into a temporary folder, builds with tsconfig.build.json into it, imports every
// dist/functions/*.js there (so only production packages can resolve) and prints the install's size.
// Fails when a function does not load or the install outgrows the budget (160 MB, see the README).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_MB = 160;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'chargeback-production-'));
const run = (command, args, cwd) => execFileSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });

try {
  for (const file of ['package.json', 'package-lock.json', 'host.json']) cpSync(path.join(root, file), path.join(work, file));
  cpSync(path.join(root, 'data'), path.join(work, 'data'), { recursive: true });
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], work);
  run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(work, 'dist')], root);

  const functions = readdirSync(path.join(work, 'dist', 'functions')).filter((name) => name.endsWith('.js'));
  if (functions.length === 0) throw new Error('the build produced no dist/functions/*.js');
  // One fresh Node per check, from inside the install: packages resolve from its node_modules only.
  const imports = functions.map((name) => `await import('./dist/functions/${name}');`).join(' ');
  run(process.execPath, ['--input-type=module', '--eval', `${imports} console.log('loaded ${functions.length} functions: ${functions.join(', ')}');`], work);

  const bytes = sizeOnDisk(path.join(work, 'node_modules'));
  const megabytes = bytes / 1024 / 1024;
  console.log(`npm ci --omit=dev: node_modules holds ${megabytes.toFixed(1)} MB on disk (${readdirSync(path.join(work, 'node_modules')).length} top-level entries)`);
  if (megabytes > MAX_MB) throw new Error(`the production install is ${megabytes.toFixed(1)} MB, over the ${MAX_MB} MB budget`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Allocated size, as `du` counts it (blocks of 512 bytes), without following links. */
function sizeOnDisk(folder) {
  let total = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    const stats = statSync(full, { throwIfNoEntry: false });
    if (entry.isSymbolicLink() || !stats) continue;
    total += stats.blocks * 512;
    if (entry.isDirectory()) total += sizeOnDisk(full);
  }
  return total;
}
