/**
 * A revision's delivery progress in Azure Table Storage.
 *
 * Storage contract: PartitionKey = encodeKeyPart(month) + "~r" + revision, RowKey = encodeKeyPart(item id).
 * Properties: kind (String), state ('pending' | 'done' | 'superseded'), summary, mail, location (String, when
 * done), updatedAt (Edm.DateTime). One partition per revision: the finance item's "are all teams done" is a
 * single-partition query. A plan inserts the rows it lacks and keeps the others, done or not.
 */
import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import type { CloseProgress, PlannedWorkItem, WorkItemState, WorkOutcome } from '../../ports/close-progress.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { decodeKeyPart, encodeKeyPart, KEY_PART_SEPARATOR } from './table-keys.js';

interface ProgressEntity {
  kind?: unknown;
  state?: unknown;
  summary?: unknown;
  mail?: unknown;
  location?: unknown;
  updatedAt?: unknown;
}

/** Up to this many items, a plan inserts them without first reading the revision's items. */
const FEW_ITEMS = 8;

export class TableCloseProgress implements CloseProgress {
  private readonly now: () => Date;
  private tableReady: Promise<void> | undefined;

  /** The table is created on first use: a process that never fans a close out (an HTTP function) never asks for it. */
  constructor(
    private readonly client: TableClient,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async plan(month: string, revision: number, items: readonly PlannedWorkItem[]): Promise<void> {
    await this.ready();
    const partitionKey = partitionOf(month, revision);
    // A dispatch's plan of hundreds of items reads what exists first rather than meet a conflict per item done;
    // a work item planning its one mail just inserts it.
    const known = items.length > FEW_ITEMS ? new Set((await this.items(month, revision)).map((item) => item.id)) : new Set<string>();
    // Inserts only: an item a worker already completed must not be set back to pending by a rerun's plan.
    for (const item of items) {
      if (known.has(item.id)) continue;
      try {
        await this.client.createEntity({ partitionKey, rowKey: encodeKeyPart(item.id), kind: item.kind, state: 'pending', updatedAt: this.now() });
      } catch (error) {
        if (statusOf(error) !== 409) throw storageError(`plan the delivery of ${month} revision ${revision}`, error);
      }
    }
  }

  async complete(month: string, revision: number, itemId: string, outcome: WorkOutcome): Promise<void> {
    await this.ready();
    const kind = kindOf(itemId);
    try {
      await this.client.upsertEntity(
        {
          partitionKey: partitionOf(month, revision),
          rowKey: encodeKeyPart(itemId),
          kind,
          state: outcome.status,
          summary: outcome.summary,
          ...(outcome.mail !== undefined ? { mail: outcome.mail } : {}),
          ...(outcome.location !== undefined ? { location: outcome.location } : {}),
          updatedAt: this.now(),
        },
        'Replace',
      );
    } catch (error) {
      throw storageError(`record ${itemId} of ${month} revision ${revision} as done`, error);
    }
  }

  async item(month: string, revision: number, itemId: string): Promise<WorkItemState | undefined> {
    await this.ready();
    try {
      return fromEntity(await this.client.getEntity<ProgressEntity>(partitionOf(month, revision), encodeKeyPart(itemId)));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError(`read ${itemId} of ${month} revision ${revision}`, error);
    }
  }

  async items(month: string, revision: number): Promise<WorkItemState[]> {
    await this.ready();
    const partitionKey = partitionOf(month, revision);
    const items: WorkItemState[] = [];
    try {
      const query = this.client.listEntities<ProgressEntity>({ queryOptions: { filter: `PartitionKey eq '${partitionKey}'` } });
      for await (const entity of query) items.push(fromEntity(entity));
    } catch (error) {
      throw storageError(`read the delivery progress of ${month} revision ${revision}`, error);
    }
    return items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async hasPending(month: string, revision: number, kind: PlannedWorkItem['kind']): Promise<boolean> {
    await this.ready();
    const filter = odata`PartitionKey eq ${partitionOf(month, revision)} and kind eq ${kind} and state eq ${'pending'}`;
    try {
      // A page may come back empty with a continuation (the service's own time limits): read on until one
      // holds an item or none is left.
      for await (const page of this.client.listEntities({ queryOptions: { filter, select: ['RowKey'] } }).byPage({ maxPageSize: 1 })) {
        if (page.length > 0) return true;
      }
    } catch (error) {
      throw storageError(`read the pending ${kind} items of ${month} revision ${revision}`, error);
    }
    return false;
  }

  private ready(): Promise<void> {
    this.tableReady ??= ensureTable(this.client).catch((error: unknown) => {
      this.tableReady = undefined;
      throw error;
    });
    return this.tableReady;
  }
}

function partitionOf(month: string, revision: number): string {
  return `${encodeKeyPart(month)}${KEY_PART_SEPARATOR}r${revision}`;
}

function kindOf(itemId: string): PlannedWorkItem['kind'] {
  return itemId === 'finance' ? 'finance' : itemId.startsWith('mail~') ? 'mail' : 'team';
}

function fromEntity(entity: TableEntityResult<ProgressEntity>): WorkItemState {
  const id = decodeKeyPart(entity.rowKey ?? '');
  const state = entity.state === 'done' || entity.state === 'superseded' ? entity.state : 'pending';
  const updatedAt = entity.updatedAt instanceof Date ? entity.updatedAt : new Date(0);
  const kind = entity.kind === 'team' || entity.kind === 'finance' || entity.kind === 'mail' ? entity.kind : kindOf(id);
  if (state === 'pending') return { id, kind, state, updatedAt };
  const outcome: WorkOutcome = {
    status: state,
    summary: typeof entity.summary === 'string' ? entity.summary : '',
    ...(typeof entity.mail === 'string' ? { mail: entity.mail } : {}),
    ...(typeof entity.location === 'string' ? { location: entity.location } : {}),
  };
  return { id, kind, state, outcome, updatedAt };
}
