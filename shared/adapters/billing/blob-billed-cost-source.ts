import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, ContainerClient, RestError, type BlobItem } from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import type { ClaudeChargeRule } from '../../domain/billing.js';
import { AppError } from '../../domain/errors.js';
import type { BilledCostRead, BilledCostSource } from '../../ports/billed-cost-source.js';
import { readFocusExport, type CostColumn } from './focus-export-reader.js';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The FOCUS export as Cost Management delivers it to a Blob container: under the export's folder, one folder
 * per date range ("20261001-20261031") and in it one folder per run, holding the run's CSV parts (gzip when
 * compression is on) and a manifest. A daily month-to-date export writes a new run every day; each run holds
 * the whole month so far, so only the newest run of the month's range is read, never two runs added up.
 */
export class BlobBilledCostSource implements BilledCostSource {
  constructor(
    private readonly container: ContainerClient,
    private readonly prefix: string,
    private readonly costColumn: CostColumn,
  ) {}

  /** With the managed identity: the container URL must be https, since a token travels with each request. */
  static withCredential(containerUrl: string, credential: TokenCredential, prefix: string, costColumn: CostColumn): BlobBilledCostSource {
    if (!containerUrl.startsWith('https://')) throw new AppError('CONFIG_INVALID', `the billed-cost container URL ${containerUrl} must use https to carry a credential`);
    return new BlobBilledCostSource(new ContainerClient(containerUrl, credential), prefix, costColumn);
  }

  /** With a connection string: Azurite on loopback over http, anything else over https only. */
  static fromConnectionString(connectionString: string, containerName: string, prefix: string, costColumn: CostColumn): BlobBilledCostSource {
    let container: ContainerClient;
    try {
      container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
    } catch (error) {
      throw new AppError('CONFIG_INVALID', `the billed-cost blob connection string is not usable: ${(error as Error).message}`, { cause: error });
    }
    const url = new URL(container.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) {
      throw new AppError('CONFIG_INVALID', `the billed-cost blob endpoint ${url.protocol}//${url.host} must be https (or http to the local emulator)`);
    }
    return new BlobBilledCostSource(container, prefix, costColumn);
  }

  async read(month: string, rule: ClaudeChargeRule): Promise<BilledCostRead> {
    const blobs = await this.translate(`listing ${this.where()}`, () => this.listExportParts());
    const parts = newestRunOf(blobs, month);
    const names = parts.map((blob) => blob.name);
    return readFocusExport(
      names.map((name) => ({ name, open: () => this.translate(`reading ${name}`, () => this.download(name)) })),
      { month, rule, costColumn: this.costColumn, description: parts.length === 0 ? `no FOCUS export for ${month} in ${this.where()}` : `FOCUS export ${this.where()}: ${names.join(', ')} (${this.costColumn})` },
    );
  }

  private where(): string {
    return `${this.container.containerName}/${this.prefix}`;
  }

  private async listExportParts(): Promise<BlobItem[]> {
    const items: BlobItem[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: this.prefix })) {
      if (/\.csv(\.gz)?$/i.test(blob.name)) items.push(blob);
    }
    return items;
  }

  private async download(name: string): Promise<Readable> {
    const response = await this.container.getBlobClient(name).download();
    if (!response.readableStreamBody) throw new AppError('BILLED_SOURCE_UNAVAILABLE', `the blob ${name} returned no body`, { retryable: true });
    return response.readableStreamBody as Readable;
  }

  private async translate<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof AppError) throw error;
      const status = error instanceof RestError ? error.statusCode : undefined;
      if (status === 403 || status === 401) {
        throw new AppError('BILLED_SOURCE_UNAVAILABLE', `${what}: access denied (${status}); the function's identity needs Storage Blob Data Reader on the export container`, { cause: error });
      }
      if (status === 404) throw new AppError('BILLED_SOURCE_UNAVAILABLE', `${what}: the container does not exist`, { cause: error });
      throw new AppError('BILLED_SOURCE_UNAVAILABLE', `${what}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
  }
}

const RANGE = /(^|\/)(\d{8})-(\d{8})\//;

/**
 * The parts of the newest run of the month's export: blobs under a "YYYYMMDD-YYYYMMDD" folder starting on the
 * month's first day, grouped by the folder they sit in (the run), the run last written winning. Blobs that sit
 * under no date-range folder (files copied in by hand) are all read when no run matches.
 */
export function newestRunOf(blobs: readonly Pick<BlobItem, 'name' | 'properties'>[], month: string): Pick<BlobItem, 'name' | 'properties'>[] {
  const firstDay = `${month.replace('-', '')}01`;
  const runs = new Map<string, { parts: Pick<BlobItem, 'name' | 'properties'>[]; written: number }>();
  const undated: Pick<BlobItem, 'name' | 'properties'>[] = [];
  for (const blob of blobs) {
    const range = RANGE.exec(blob.name);
    if (!range) {
      undated.push(blob);
      continue;
    }
    if (range[2] !== firstDay) continue;
    const run = blob.name.slice(0, blob.name.lastIndexOf('/'));
    const entry = runs.get(run) ?? { parts: [], written: 0 };
    entry.parts.push(blob);
    entry.written = Math.max(entry.written, blob.properties.lastModified?.getTime() ?? 0);
    runs.set(run, entry);
  }
  const newest = [...runs.entries()].sort(([runA, a], [runB, b]) => b.written - a.written || runB.localeCompare(runA))[0];
  const chosen = newest ? newest[1].parts : undated;
  return [...chosen].sort((a, b) => a.name.localeCompare(b.name));
}
