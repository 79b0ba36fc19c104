/**
 * Writing many entities to Azure Table Storage: entity group transactions hold at most 100 entities of one
 * partition and 4 MiB, and a few of them run at a time.
 */
import type { TableClient } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import { storageError } from './table-client.js';

export type EntityKey = { partitionKey: string; rowKey: string };

const MAX_BATCH_ENTITIES = 100;
/** The service's limit is 4 MiB per transaction; the margin covers multipart framing we do not count. */
const MAX_BATCH_BYTES = 3.5 * 1024 * 1024;
/** What one operation adds to a transaction besides its entity; also the whole size of a delete. */
export const PER_OPERATION_OVERHEAD_BYTES = 1024;

/** Groups by PartitionKey then RowKey; two items with the same keys are refused with `duplicateMessage`. */
export function groupByPartition<T extends EntityKey>(items: readonly T[], duplicateMessage: string): Map<string, Map<string, T>> {
  const partitions = new Map<string, Map<string, T>>();
  for (const item of items) {
    let rows = partitions.get(item.partitionKey);
    if (!rows) {
      rows = new Map();
      partitions.set(item.partitionKey, rows);
    }
    if (rows.has(item.rowKey)) {
      throw new AppError('INVALID_ARGUMENT', `${duplicateMessage}: PartitionKey "${item.partitionKey}", RowKey "${item.rowKey}"`);
    }
    rows.set(item.rowKey, item);
  }
  return partitions;
}

/** Splits each partition, in key order, into transactions within the entity-count and size limits. */
export function batchesOf<T extends EntityKey>(partitions: Map<string, Map<string, T>>, sizeOf: (item: T) => number): T[][] {
  const batches: T[][] = [];
  for (const partitionKey of [...partitions.keys()].sort()) {
    const rows = partitions.get(partitionKey)!;
    let batch: T[] = [];
    let bytes = 0;
    for (const rowKey of [...rows.keys()].sort()) {
      const item = rows.get(rowKey)!;
      const size = sizeOf(item);
      if (batch.length > 0 && (batch.length === MAX_BATCH_ENTITIES || bytes + size > MAX_BATCH_BYTES)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += size;
    }
    if (batch.length > 0) batches.push(batch);
  }
  return batches;
}

/** Runs `work` over `items`, `concurrency` at a time; after the first failure starts nothing new and rethrows it. */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** The keys of the entities matching `filter`, without their properties. */
/** The keys matching `filter`; at most `limit` of them when given (enough to tell whether there are any). */
export async function listKeys(client: TableClient, filter: string, action: string, limit = Infinity): Promise<EntityKey[]> {
  const keys: EntityKey[] = [];
  try {
    for await (const entity of client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
      keys.push({ partitionKey: entity.partitionKey!, rowKey: entity.rowKey! });
      if (keys.length >= limit) break;
    }
  } catch (error) {
    throw storageError(action, error);
  }
  return keys;
}

/** The stored keys that the new set, grouped by `groupByPartition`, no longer holds. */
export function staleKeys(stored: readonly EntityKey[], partitions: Map<string, Map<string, EntityKey>>): EntityKey[] {
  return stored.filter((key) => !partitions.get(key.partitionKey)?.has(key.rowKey));
}
