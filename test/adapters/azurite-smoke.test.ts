import { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

describe('the Azurite started for the test run', () => {
  it('stores and returns an entity', async () => {
    const client = TableClient.fromConnectionString(azuriteConnectionString(), uniqueTableName('smoke'), { allowInsecureConnection: true });
    await client.createTable();
    await client.upsertEntity({ partitionKey: 'p', rowKey: 'r', value: 42 });
    const entity = await client.getEntity<{ value: number }>('p', 'r');
    expect(entity.value).toBe(42);
  });
});
