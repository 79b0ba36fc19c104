import { RestError, type TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { deleteOf, entityJson, submitEntityTransaction, transactionBody, type EntityProperties } from '../../shared/adapters/azure/entity-transactions.js';
import { ensureTable, storageError, tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

async function freshTable(): Promise<TableClient> {
  const client = tableClientFor(azuriteConnectionString(), uniqueTableName('transactions'));
  await ensureTable(client);
  return client;
}

/** What the service holds, each property with the EDM type it was stored as. */
async function stored(client: TableClient, partitionKey: string, rowKey: string): Promise<Record<string, unknown> | undefined> {
  try {
    const { etag: _etag, timestamp: _timestamp, ...rest } = await client.getEntity<Record<string, unknown>>(partitionKey, rowKey, { disableTypeConversion: true });
    delete rest['Timestamp'];
    delete rest['odata.metadata'];
    return rest;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

// Keys may not hold / \\ # ? or control characters; everything else must survive the URL and the body.
const AWKWARD_PARTITION = "2026-10.r1|o'brien's team %& ünï 🚀";
const AWKWARD_ROW = "a''b'c=1+2;x,y(z)@é*[]";

describe('entity group transactions on Azurite', () => {
  it('stores awkward keys and each value with its EDM type, exactly as the SDK stores them', async () => {
    const client = await freshTable();
    const properties = { text: 'say "hi"\n\u0000', small: 7, fraction: 1.5, big: 9_007_199_254_740_993n, yes: true, empty: '' };
    await submitEntityTransaction(client, [{ kind: 'upsert', entity: { partitionKey: AWKWARD_PARTITION, rowKey: AWKWARD_ROW, ...properties } }]);
    await client.upsertEntity({ partitionKey: 'sdk', rowKey: AWKWARD_ROW, ...properties }, 'Replace');

    const ours = await stored(client, AWKWARD_PARTITION, AWKWARD_ROW);
    expect(ours).toEqual({ ...(await stored(client, 'sdk', AWKWARD_ROW)), partitionKey: AWKWARD_PARTITION });
    expect(ours?.['big']).toEqual({ type: 'Int64', value: '9007199254740993' });
    expect(ours?.['text']).toEqual({ type: 'String', value: 'say "hi"\n\u0000' });
  });

  it('replaces the whole entity on upsert, and deletes whatever version is stored', async () => {
    const client = await freshTable();
    await submitEntityTransaction(client, [
      { kind: 'upsert', entity: { partitionKey: 'p', rowKey: 'kept', a: 1, b: 'two' } },
      { kind: 'upsert', entity: { partitionKey: 'p', rowKey: 'gone', a: 1 } },
    ]);
    await submitEntityTransaction(client, [{ kind: 'upsert', entity: { partitionKey: 'p', rowKey: 'kept', a: 3 } }, deleteOf({ partitionKey: 'p', rowKey: 'gone' })]);

    expect(Object.keys((await stored(client, 'p', 'kept'))!).sort()).toEqual(['a', 'partitionKey', 'rowKey']);
    expect((await client.getEntity<{ a: number }>('p', 'kept')).a).toBe(3);
    expect(await stored(client, 'p', 'gone')).toBeUndefined();
  });

  it('applies a transaction whole or not at all, and says which status and code refused it', async () => {
    const client = await freshTable();
    const failure = await submitEntityTransaction(client, [
      { kind: 'upsert', entity: { partitionKey: 'p', rowKey: 'new', a: 1 } },
      deleteOf({ partitionKey: 'p', rowKey: 'never-stored' }),
    ]).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(RestError);
    expect((failure as RestError).statusCode).toBe(404);
    expect((failure as RestError).code).toBe('ResourceNotFound');
    expect(await stored(client, 'p', 'new')).toBeUndefined();
    const translated = storageError('write a batch', failure);
    expect(translated.code).toBe('STORAGE_FAILED');
    expect(translated.retryable).toBe(false);
    expect(translated.message).toMatch(/HTTP 404, ResourceNotFound/);
  });

  it('reports a missing table as the service refusing the whole batch', async () => {
    const client = await freshTable();
    await client.deleteTable();
    const failure = await submitEntityTransaction(client, [{ kind: 'upsert', entity: { partitionKey: 'p', rowKey: 'r', a: 1 } }]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RestError);
    expect((failure as RestError).statusCode).toBe(404);
    expect(storageError('write a batch', failure).retryable).toBe(false);
  });

  it('writes JSON any parser reads back as the wire entity: names and texts escaped, bigints typed', () => {
    const entity: EntityProperties = { partitionKey: 'p"\\', rowKey: 'r\u2028', 'odd "name"': 'ünï\u0000"', n: -1.25e-7, big: -12n, ok: false, days: '[["2026-10-01",1,"0.5"]]' };
    expect(JSON.parse(entityJson(entity))).toEqual({
      PartitionKey: 'p"\\',
      RowKey: 'r\u2028',
      'odd "name"': 'ünï\u0000"',
      n: -1.25e-7,
      big: '-12',
      'big@odata.type': 'Edm.Int64',
      ok: false,
      days: '[["2026-10-01",1,"0.5"]]',
    });
  });

  it('refuses a number JSON cannot carry instead of storing null', () => {
    expect(() => entityJson({ partitionKey: 'p', rowKey: 'r', broken: Number.NaN })).toThrow(/broken is NaN/);
    expect(() => entityJson({ partitionKey: 'p', rowKey: 'r', broken: Number.POSITIVE_INFINITY })).toThrow(/broken is Infinity/);
  });

  it('frames every operation as its own part of one changeset', () => {
    const body = transactionBody({ url: 'https://acct.table.core.windows.net/', tableName: 'Rollups' }, [
      { kind: 'upsert', entity: { partitionKey: "a'b", rowKey: 'r 1', n: 1n } },
      deleteOf({ partitionKey: "a'b", rowKey: 'r/2' }),
      { kind: 'upsert', entity: { partitionKey: "a'b", rowKey: 'ü', text: 'é🚀'.repeat(50_000) } },
    ], 'batch_fixed').toString('utf8');

    const lines = body.split('\r\n');
    // Past the first buffer's size, and in characters of two and four bytes: the body still reads back whole.
    expect(lines).toContain(`{"PartitionKey":"a'b","RowKey":"ü","text":"${'é🚀'.repeat(50_000)}"}`);
    expect(lines[0]).toBe('--batch_fixed');
    expect(lines).toContain("PUT https://acct.table.core.windows.net/Rollups(PartitionKey='a''b',RowKey='r%201') HTTP/1.1");
    expect(lines).toContain("DELETE https://acct.table.core.windows.net/Rollups(PartitionKey='a''b',RowKey='r%2F2') HTTP/1.1");
    expect(lines).toContain('{"PartitionKey":"a\'b","RowKey":"r 1","n":"1","n@odata.type":"Edm.Int64"}');
    expect(lines).toContain('If-Match: *');
    expect(body.endsWith('--batch_fixed--\r\n')).toBe(true);
  });
});
