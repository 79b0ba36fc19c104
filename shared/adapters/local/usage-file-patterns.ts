import { readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * USAGE_FILES entries may use `*` in the file name (not in folders), e.g. `out/demo/usage-*.ndjson`, so the
 * sample settings keep pointing at whatever month the demo last wrote. Matches are sorted; a pattern that
 * matches nothing is kept as written, so the usage source reports it as a missing file.
 */
export function expandUsageFilePatterns(files: readonly string[]): string[] {
  return files.flatMap((file) => {
    const name = path.basename(file);
    if (!name.includes('*')) return [file];
    const folder = path.dirname(file);
    const pattern = new RegExp(`^${name.split('*').map(escapeRegExp).join('.*')}$`);
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return [file];
    }
    const matches = names.filter((candidate) => pattern.test(candidate)).sort().map((candidate) => path.join(folder, candidate));
    return matches.length > 0 ? matches : [file];
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
