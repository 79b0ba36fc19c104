import type { TokenCredential } from '@azure/identity';
import { BlobSASPermissions, BlobServiceClient, ContainerClient, RestError, SASProtocol, type BlobGenerateSasUrlOptions, type UserDelegationKey } from '@azure/storage-blob';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../domain/errors.js';
import type { ArtifactLink, ArtifactStore } from '../../ports/artifacts.js';
import { isSafeArtifactName } from '../local/directory-artifacts.js';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HOUR_MS = 3_600_000;
/** Azure refuses a user delegation key (and so a link) valid for longer than seven days. */
export const MAX_LINK_HOURS = 7 * 24;
/** A link is valid from a little before now: the storage service's clock may be behind ours. */
const CLOCK_SKEW_MS = 5 * 60_000;
const DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks uploaded at once by a streamed save: what it holds in memory is about this many blocks plus one. */
const BLOCKS_IN_FLIGHT = 2;

export interface BlobArtifactOptions {
  /** The time links are valid from; the composition root passes its clock. */
  readonly now?: () => Date;
  /** The size of the blocks a streamed save uploads. */
  readonly blockBytes?: number;
}

/**
 * Keeps generated files in a Blob container: workbooks in one request, the FOCUS export in blocks as it is
 * produced, committed at the end, so a reader sees the old blob or the whole new one (uncommitted blocks are
 * invisible). Links are read-only SAS URLs: signed with a user delegation key of the managed identity in Azure
 * (no account key exists there), with the account key for a connection string (Azurite).
 */
export class BlobArtifactStore implements ArtifactStore {
  private readonly now: () => Date;
  private readonly blockBytes: number;
  private containerReady: Promise<void> | undefined;
  private delegation: { readonly key: UserDelegationKey; readonly expiresOn: Date } | undefined;

  private constructor(
    private readonly container: ContainerClient,
    private readonly signing: { readonly kind: 'shared-key' } | { readonly kind: 'user-delegation'; readonly service: BlobServiceClient },
    /** Azurite: the container is created on first use. In Azure the Bicep creates it and the identity only writes blobs. */
    private readonly createContainer: boolean,
    options: BlobArtifactOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  }

  /** With the managed identity against an https container URL (ARTIFACTS_CONTAINER_URL). */
  static withCredential(containerUrl: string, credential: TokenCredential, options: BlobArtifactOptions = {}): BlobArtifactStore {
    if (!containerUrl.startsWith('https://')) throw new AppError('CONFIG_INVALID', `the artifacts container URL ${containerUrl} must use https to carry a credential`);
    const container = new ContainerClient(containerUrl, credential);
    const service = new BlobServiceClient(new URL(containerUrl).origin, credential);
    return new BlobArtifactStore(container, { kind: 'user-delegation', service }, false, options);
  }

  /** With a connection string (Azurite locally): http only to loopback, the container created when missing. */
  static fromConnectionString(connectionString: string, containerName: string, options: BlobArtifactOptions = {}): BlobArtifactStore {
    let container: ContainerClient;
    try {
      container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
    } catch (error) {
      throw new AppError('CONFIG_INVALID', `the artifacts blob connection string is not usable: ${(error as Error).message}`, { cause: error });
    }
    const url = new URL(container.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) {
      throw new AppError('CONFIG_INVALID', `the artifacts blob endpoint ${url.protocol}//${url.host} must be https (or http to the local emulator)`);
    }
    return new BlobArtifactStore(container, { kind: 'shared-key' }, true, options);
  }

  async save(name: string, content: Buffer, contentType: string): Promise<string> {
    assertSafeName(name);
    return this.translate(`saving ${name}`, async () => {
      await this.ready();
      const blob = this.container.getBlockBlobClient(name);
      // Up to 256 MB this is one Put Blob; above, blocks and one commit: either way the blob changes whole.
      await blob.uploadData(content, { blobHTTPHeaders: { blobContentType: contentType }, blockSize: this.blockBytes, concurrency: BLOCKS_IN_FLIGHT });
      return blob.url;
    });
  }

  /**
   * Cuts the chunks into blocks, uploads each as soon as it is full (at most BLOCKS_IN_FLIGHT at a time), and
   * commits the block list at the end. A failing producer leaves only uncommitted blocks, which the service
   * discards; the blob keeps its old content.
   */
  async saveStream(name: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>, contentType: string): Promise<string> {
    assertSafeName(name);
    await this.translate(`saving ${name}`, () => this.ready());
    const blob = this.container.getBlockBlobClient(name);
    // Block ids are unique to this upload and all the same length, as the service requires of one blob's blocks.
    const upload = randomUUID();
    const blockIds: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let storageFailure: { error: unknown } | undefined;
    const stage = (bytes: Buffer) => {
      const id = Buffer.from(`${upload}-${String(blockIds.length).padStart(6, '0')}`).toString('base64');
      blockIds.push(id);
      const staged: Promise<void> = blob
        .stageBlock(id, bytes, bytes.length)
        .then(
          () => undefined,
          (error: unknown) => {
            storageFailure ??= { error };
          },
        )
        .finally(() => inFlight.delete(staged));
      inFlight.add(staged);
    };

    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        pending.push(bytes);
        pendingBytes += bytes.length;
        while (pendingBytes >= this.blockBytes) {
          const joined = Buffer.concat(pending, pendingBytes);
          stage(joined.subarray(0, this.blockBytes));
          const rest = joined.subarray(this.blockBytes);
          pending = rest.length > 0 ? [Buffer.from(rest)] : [];
          pendingBytes = rest.length;
          while (inFlight.size >= BLOCKS_IN_FLIGHT) await Promise.race(inFlight);
          if (storageFailure) break;
        }
        if (storageFailure) break;
      }
    } catch (error) {
      // The producer's own failure (a bad export) is its error, not a storage failure: passed on as it is.
      await Promise.allSettled(inFlight);
      throw error;
    }
    if (!storageFailure && pendingBytes > 0) stage(Buffer.concat(pending, pendingBytes));
    pending = [];
    await Promise.allSettled(inFlight);
    if (storageFailure) throw this.failure(`saving ${name}`, storageFailure.error);
    return this.translate(`saving ${name}`, async () => {
      await blob.commitBlockList(blockIds, { blobHTTPHeaders: { blobContentType: contentType } });
      return blob.url;
    });
  }

  async savePart(name: string, part: string, _chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void> {
    throw new AppError('INTERNAL', `saving part ${part} of ${name}: not built yet`);
  }

  async joinParts(name: string, _parts: readonly string[], _contentType: string): Promise<string> {
    throw new AppError('INTERNAL', `joining the parts of ${name}: not built yet`);
  }

  async link(name: string, expiresInHours: number): Promise<ArtifactLink> {
    assertSafeName(name);
    if (!(expiresInHours > 0 && expiresInHours <= MAX_LINK_HOURS)) {
      throw new AppError('INVALID_ARGUMENT', `a link may be valid for more than 0 and at most ${MAX_LINK_HOURS} hours, not ${expiresInHours}`);
    }
    const now = this.now();
    const wanted = new Date(now.getTime() + expiresInHours * HOUR_MS);
    const blob = this.container.getBlobClient(name);
    const sas = (expiresOn: Date): BlobGenerateSasUrlOptions => ({
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now.getTime() - CLOCK_SKEW_MS),
      expiresOn,
      protocol: new URL(blob.url).protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
    });
    return this.translate(`making a link to ${name}`, async () => {
      if (this.signing.kind === 'shared-key') return { url: await blob.generateSasUrl(sas(wanted)), expiresAt: wanted };
      const delegation = await this.delegationKey(this.signing.service, now, wanted);
      // A link cannot outlive the key that signs it.
      const expiresAt = wanted < delegation.expiresOn ? wanted : delegation.expiresOn;
      return { url: await blob.generateUserDelegationSasUrl(sas(expiresAt), delegation.key), expiresAt };
    });
  }

  async read(name: string): Promise<Buffer | undefined> {
    assertSafeName(name);
    try {
      await this.ready();
      return await this.container.getBlockBlobClient(name).downloadToBuffer();
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404 && error.code === 'BlobNotFound') return undefined;
      throw this.failure(`reading ${name}`, error);
    }
  }

  /**
   * One key for the run's links: asked for the longest validity Azure allows, and asked again only when it
   * would cut a new link short by more than an hour (a close mints one link per large workbook).
   */
  private async delegationKey(service: BlobServiceClient, now: Date, wanted: Date): Promise<{ key: UserDelegationKey; expiresOn: Date }> {
    if (this.delegation && this.delegation.expiresOn.getTime() >= wanted.getTime() - HOUR_MS) return this.delegation;
    const startsOn = new Date(now.getTime() - CLOCK_SKEW_MS);
    const expiresOn = new Date(startsOn.getTime() + MAX_LINK_HOURS * HOUR_MS);
    const key = await service.getUserDelegationKey(startsOn, expiresOn);
    this.delegation = { key, expiresOn };
    return this.delegation;
  }

  private ready(): Promise<void> {
    if (!this.createContainer) return Promise.resolve();
    this.containerReady ??= this.container.createIfNotExists().then(
      () => undefined,
      (error: unknown) => {
        this.containerReady = undefined;
        throw error;
      },
    );
    return this.containerReady;
  }

  private async translate<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  private failure(what: string, error: unknown): AppError {
    if (error instanceof AppError) return error;
    const status = error instanceof RestError ? error.statusCode : undefined;
    const where = this.container.url;
    if (status === 401 || status === 403) {
      return new AppError('STORAGE_FAILED', `${what} in ${where}: access denied (${status}); the function's identity needs Storage Blob Data Contributor on the container and Storage Blob Delegator on the account`, {
        cause: error,
      });
    }
    if (status === 404) return new AppError('STORAGE_FAILED', `${what} in ${where}: the container does not exist`, { cause: error });
    const retryable = status === undefined || status === 408 || status === 429 || status >= 500;
    return new AppError('STORAGE_FAILED', `${what} in ${where}: ${(error as Error).message}`, { retryable, cause: error });
  }
}

function assertSafeName(name: string): void {
  if (!isSafeArtifactName(name)) {
    throw new AppError('INVALID_ARGUMENT', `Artifact name ${JSON.stringify(name)} is not a plain file name.`, {
      details: ['Use a single file name of at most 200 bytes: no "/" or "\\", no "..", no control characters.'],
    });
  }
}
