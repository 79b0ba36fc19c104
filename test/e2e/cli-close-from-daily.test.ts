import { TableClient } from '@azure/data-tables';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

async function entities(prefix: string, table: string): Promise<Record<string, unknown>[]> {
  const client = TableClient.fromConnectionString(azuriteConnectionString(), `${prefix}${table}`, { allowInsecureConnection: true });
  const rows: Record<string, unknown>[] = [];
  for await (const entity of client.listEntities()) {
    const { timestamp: _timestamp, etag: _etag, ...rest } = entity as Record<string, unknown>;
    rows.push(rest);
  }
  return rows.sort((a, b) => String(a.partitionKey).localeCompare(String(b.partitionKey)) || String(a.rowKey).localeCompare(String(b.rowKey)));
}

describe('a close from the daily rollups on the command line', () => {
  let out: string;
  let usageFile: string;
  let directoryFile: string;
  const storage = () => ({ STORAGE_CONNECTION_STRING: azuriteConnectionString() });

  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'cli-from-daily-'));
    const generated = await cli(['generate', '--month', '2026-10', '--users', '30', '--teams', '3', '--out', path.join(out, 'demo')]);
    expect(generated.code).toBe(0);
    usageFile = path.join(out, 'demo', 'usage-2026-10.ndjson');
    directoryFile = path.join(out, 'demo', 'directory.json');
  }, 60_000);

  it('closes from the days the ingest stored, ingests the rest itself, and stores what a close from the usage source stores', async () => {
    const fromDaily = uniqueTableName('fromdaily');
    const fromSource = uniqueTableName('fromsource');
    const files = ['--usage', usageFile, '--directory', directoryFile];

    const ingest = await cli(['ingest', '--from', '2026-10-01', '--to', '2026-10-15', ...files, '--out', out], { ...storage(), TABLE_PREFIX: fromDaily });
    expect(ingest.stderr).not.toMatch(/error/i);
    expect(ingest.code).toBe(0);

    const daily = await cli(['close', '--month', '2026-10', ...files, '--out', path.join(out, 'daily')], { ...storage(), TABLE_PREFIX: fromDaily, CLOSE_USAGE_FROM: 'daily-rollups' });
    expect(daily.code).toBe(0);
    expect(daily.stderr).toMatch(/ingesting 16 day\(s\) of 2026-10 again before the close: 16 never completely ingested \(2026-10-16 … 2026-10-31\)/);
    const source = await cli(['close', '--month', '2026-10', ...files, '--out', path.join(out, 'source')], { ...storage(), TABLE_PREFIX: fromSource, CLOSE_USAGE_FROM: 'usage-source' });
    expect(source.code).toBe(0);
    expect(source.stderr).not.toMatch(/ingesting/);

    // The same monthly rollups, entity for entity, and the same close (fingerprint, total).
    const [dailyRollups, sourceRollups] = await Promise.all([entities(fromDaily, 'Rollups'), entities(fromSource, 'Rollups')]);
    expect(dailyRollups.length).toBeGreaterThan(30);
    expect(dailyRollups).toEqual(sourceRollups);
    const closeOf = async (prefix: string) => (await entities(prefix, 'Closes')).filter((entity) => 'fingerprint' in entity).map(({ fingerprint, totalMinorUnits, revision }) => ({ fingerprint, totalMinorUnits, revision }));
    expect(await closeOf(fromDaily)).toEqual(await closeOf(fromSource));
    expect((await closeOf(fromDaily)).length).toBeGreaterThan(0);
    // The close ingested only what the daily ingest had not, and said so in the run log.
    const closeRuns = async () => (await entities(fromDaily, 'IngestRuns')).filter((run) => run.partitionKey === 'run' && run.trigger === 'close');
    const runs = await closeRuns();
    expect(runs.map((run) => `${String(run.firstDay)}..${String(run.lastDay)}`)).toEqual(['2026-10-16..2026-10-31']);

    // Run again: every day is stored and unchanged at the source, so nothing is read again and nothing is sent.
    const again = await cli(['close', '--month', '2026-10', ...files, '--out', path.join(out, 'daily')], { ...storage(), TABLE_PREFIX: fromDaily });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/ingesting/);
    expect(await closeRuns()).toHaveLength(1);
  }, 120_000);
});
