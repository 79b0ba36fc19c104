/**
 * Leases in Azure Table Storage, so that two closes of one month never run at once.
 *
 * Storage contract: PartitionKey `lease`, RowKey = encodeKeyPart(name). Properties: holder (String),
 * expiresAt (Edm.DateTime). Taking a free lease is an insert (409 when it exists); taking an expired one, renewing
 * and releasing are conditional on the ETag last seen, so of two runs racing for one lease exactly one wins.
 * While held, the lease is renewed in the background every third of its duration; a run that dies lets it
 * expire.
 */
import type { TableClient } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';
import type { HeldLease, LeaseAcquisition, Leases } from '../../ports/lease.js';
import { ensureTable, statusOf, storageError } from './table-client.js';
import { encodeKeyPart } from './table-keys.js';

const LEASE_PARTITION = 'lease';

export interface TableLeasesOptions {
  readonly durationMs?: number;
  readonly now?: () => Date;
}

export class TableLeases implements Leases {
  private readonly durationMs: number;
  private readonly now: () => Date;

  private constructor(
    private readonly client: TableClient,
    options: TableLeasesOptions,
  ) {
    this.durationMs = options.durationMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
  }

  static async create(client: TableClient, options: TableLeasesOptions = {}): Promise<TableLeases> {
    if (options.durationMs !== undefined && (!Number.isInteger(options.durationMs) || options.durationMs < 1000)) {
      throw new AppError('INVALID_ARGUMENT', `a lease lasts at least 1000 ms, got ${options.durationMs}`);
    }
    await ensureTable(client);
    return new TableLeases(client, options);
  }

  async acquire(name: string, holder: string): Promise<LeaseAcquisition> {
    const rowKey = encodeKeyPart(name);
    const expiresAt = (): Date => new Date(this.now().getTime() + this.durationMs);
    try {
      const created = await this.client.createEntity({ partitionKey: LEASE_PARTITION, rowKey, holder, expiresAt: expiresAt() });
      return { acquired: true, lease: this.held(name, rowKey, holder, requireEtag(created.etag)) };
    } catch (error) {
      if (statusOf(error) !== 409) throw storageError(`take the lease ${name}`, error);
    }
    const current = await this.read(name, rowKey);
    if (current && current.expiresAt.getTime() > this.now().getTime() && current.holder !== holder) {
      return { acquired: false, heldBy: current.holder, expiresAt: current.expiresAt };
    }
    try {
      const entity = { partitionKey: LEASE_PARTITION, rowKey, holder, expiresAt: expiresAt() };
      const taken = current
        ? await this.client.updateEntity(entity, 'Replace', { etag: current.etag })
        : await this.client.createEntity(entity);
      return { acquired: true, lease: this.held(name, rowKey, holder, requireEtag(taken.etag)) };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409 || status === 404) {
        const winner = await this.read(name, rowKey);
        return { acquired: false, heldBy: winner?.holder ?? 'another run', expiresAt: winner?.expiresAt ?? expiresAt() };
      }
      throw storageError(`take over the expired lease ${name}`, error);
    }
  }

  private async read(name: string, rowKey: string): Promise<{ holder: string; expiresAt: Date; etag: string } | undefined> {
    try {
      const entity = await this.client.getEntity<{ holder?: unknown; expiresAt?: unknown }>(LEASE_PARTITION, rowKey);
      const holder = typeof entity.holder === 'string' ? entity.holder : 'unknown';
      const expiresAt = entity.expiresAt instanceof Date ? entity.expiresAt : new Date(0);
      return { holder, expiresAt, etag: requireEtag(entity.etag) };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw storageError(`read the lease ${name}`, error);
    }
  }

  private held(name: string, rowKey: string, holder: string, firstEtag: string): HeldLease {
    let etag = firstEtag;
    let lost: AppError | undefined;
    let released = false;
    // Renewals run one after another: two in flight with one ETag (the background timer and a caller, on a
    // slow store) would make the later one fail with 412 and the lease look lost while this run holds it.
    let inFlight: Promise<void> = Promise.resolve();
    const renewOnce = async (): Promise<void> => {
      if (lost) throw lost;
      if (released) return;
      try {
        const renewed = await this.client.updateEntity(
          { partitionKey: LEASE_PARTITION, rowKey, holder, expiresAt: new Date(this.now().getTime() + this.durationMs) },
          'Replace',
          { etag },
        );
        etag = requireEtag(renewed.etag);
      } catch (error) {
        const status = statusOf(error);
        if (status === 412 || status === 404) {
          lost = new AppError('BUSY', `the lease ${name} was lost (it expired and another run took it): this run stops before sending anything more`);
          throw lost;
        }
        throw storageError(`renew the lease ${name}`, error);
      }
    };
    const renew = (): Promise<void> => {
      const next = inFlight.then(renewOnce, renewOnce);
      inFlight = next.catch(() => undefined);
      return next;
    };
    const timer = setInterval(() => {
      renew().catch(() => undefined);
    }, Math.max(500, Math.floor(this.durationMs / 3)));
    timer.unref();
    return {
      name,
      holder,
      renew,
      release: async () => {
        clearInterval(timer);
        await inFlight;
        if (released || lost) return;
        released = true;
        try {
          await this.client.deleteEntity(LEASE_PARTITION, rowKey, { etag });
        } catch (error) {
          const status = statusOf(error);
          // Gone or taken over already: either way it is no longer ours to free.
          if (status !== 404 && status !== 412) throw storageError(`release the lease ${name}`, error);
        }
      },
    };
  }
}

function requireEtag(etag: string | undefined): string {
  if (!etag) throw new AppError('STORAGE_FAILED', 'the table service returned no ETag for a lease');
  return etag;
}
