import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FOLDERS = ['shared', 'functions', 'cli'];

/** Every import, export-from and dynamic import of a module, type-only ones included. */
const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

interface Module {
  /** Project files this module imports, relative to the root, e.g. "shared/domain/money.ts". */
  readonly files: string[];
  /** npm packages it imports, by package name. */
  readonly packages: string[];
}

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function readModule(file: string): Module {
  const files: string[] = [];
  const packages: string[] = [];
  for (const match of withoutComments(readFileSync(path.join(ROOT, file), 'utf8')).matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? '';
    if (specifier.startsWith('.')) {
      files.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts'));
    } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
      const parts = specifier.split('/');
      packages.push(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
    }
  }
  return { files, packages };
}

const graph = new Map(FOLDERS.flatMap(sourceFiles).map((file) => [file, readModule(file)]));

/** Each cycle once, as the files along it. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file)?.files ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

function importsMatching(from: RegExp, to: RegExp): string[] {
  return [...graph.entries()].flatMap(([file, module]) => (from.test(file) ? module.files.filter((target) => to.test(target)).map((target) => `${file} -> ${target}`) : []));
}

/** Everything a set of entry files loads, themselves included. */
function reachableFrom(entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...(graph.get(file)?.files ?? []));
  }
  return seen;
}

describe('the import graph of shared/, functions/ and cli/', () => {
  it('sees the project (the walker is not vacuous)', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('functions/daily-ingest.ts')?.files).toContain('shared/composition-root.ts');
    expect(graph.get('cli/main.ts')?.packages).toContain('commander');
    for (const module of graph.values()) for (const target of module.files) expect(graph.has(target), target).toBe(true);
  });

  it('has no cycles', () => {
    expect(cycles().map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('keeps the domain, the use cases and config free of adapters', () => {
    expect(importsMatching(/^shared\/(domain|use-cases|config)\//, /^shared\/adapters\//)).toEqual([]);
  });

  it('keeps the domain and the use cases free of config and of the composition root', () => {
    expect(importsMatching(/^shared\/(domain|use-cases)\//, /^shared\/(config\/|composition-root\.ts$)/)).toEqual([]);
  });

  it('keeps the domain free of ports and use cases, and ports free of adapters and use cases', () => {
    expect(importsMatching(/^shared\/domain\//, /^shared\/(ports|use-cases|adapters|config)\//)).toEqual([]);
    expect(importsMatching(/^shared\/ports\//, /^shared\/(use-cases|adapters|config)\//)).toEqual([]);
  });

  it('never reaches from shared/ up into the triggers or the command line', () => {
    expect(importsMatching(/^shared\//, /^(functions|cli)\//)).toEqual([]);
  });

  it('loads only production packages from the functions the app deploys', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const deployed = reachableFrom([...graph.keys()].filter((file) => file.startsWith('functions/')));
    const devOnly = [...deployed].flatMap((file) => (graph.get(file)?.packages ?? []).filter((name) => !(name in manifest.dependencies)).map((name) => `${file} -> ${name}`));
    expect(devOnly).toEqual([]);
    expect([...deployed].filter((file) => file.startsWith('cli/'))).toEqual([]);
  });

  it('ships no production package the functions never load', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const deployed = reachableFrom([...graph.keys()].filter((file) => file.startsWith('functions/')));
    const loaded = new Set([...deployed].flatMap((file) => graph.get(file)?.packages ?? []));
    expect(Object.keys(manifest.dependencies).filter((name) => !loaded.has(name))).toEqual([]);
  });
});
