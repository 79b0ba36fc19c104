import type { TokenCredential } from '@azure/identity';
import { BlobSASPermissions, BlobServiceClient, ContainerClient, type BlockBlobClient, RestError, SASProtocol, type BlobGenerateSasUrlOptions, type UserDelegationKey } from '@azure/storage-blob';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
/** What a part's marker block holds: the service does not need it, but a block must have a body to be staged. */
const MARKER_BYTES = Buffer.from([0x0a]);

/**
 * A part is kept as uncommitted blocks of the artifact's own blob, so the join is one Put Block List that
 * names them in order: nothing is copied (the FOCUS export is 2.9 GB at 100k users, and Azurite has no Put
 * Block From URL for a server-side copy), and until then readers see the old blob or none (uncommitted blocks
 * are invisible). The service requires every block id of one blob to have the same length (it answers 400
 * InvalidBlobOrBlock otherwise), and `saveStream`'s are 43 characters (`<uuid>-<index>`), so a part's are too:
 *
 *   content block i:  <part hash, 20 hex> '-' <attempt, 15 hex> '-' <i, 6 digits>
 *   marker:           <part hash, 20 hex> '#' <attempt, 15 hex> '-' <number of content blocks, 6 digits>
 *
 * The part hash is the start of sha256(part name) (a part name may be 200 bytes, an id at most 64). Every
 * save of a part is an attempt of its own, and its one-byte marker is staged only after all its content
 * blocks were, so a marker means "this attempt is complete, and has this many blocks": a producer that fails
 * half-way leaves blocks without a marker, which no join uses and the service discards at the next commit (or
 * after a week without writes). Attempt ids start with a millisecond time stamp, increasing within a process,
 * so when a part was saved more than once the join takes the latest complete attempt (saving again replaces;
 * the retried saves of one part carry the same bytes, so clocks a little apart across instances do not matter).
 * Markers are never committed: the commit lists content blocks only. Anything else committed to `name` meanwhile
 * (save, saveStream) lets the parts go too, so an artifact made of parts is written by joinParts only (Azure
 * also drops them on a Put Blob; Azurite 3.35 keeps them then, so tests cannot show that).
 *
 * Azure's limits, far away: 100,000 uncommitted blocks per blob and 50,000 committed; at 8 MiB blocks the 2.9
 * GB export of 500 teams is about 350 full blocks, plus a last short block and a marker per part.
 */
const PART_HASH_HEX = 20;
const PART_BLOCK = /^([0-9a-f]{20})([-#])([0-9a-f]{15})-(\d{6})$/;
let lastAttemptStamp = 0;

function partHash(part: string): string {
  return createHash('sha256').update(part, 'utf8').digest('hex').slice(0, PART_HASH_HEX);
}

/** 12 hex digits of milliseconds (enough until the year 10889), then 3 random ones against a tie across instances. */
function nextAttempt(): string {
  lastAttemptStamp = Math.max(Date.now(), lastAttemptStamp + 1);
  return lastAttemptStamp.toString(16).padStart(12, '0') + randomBytes(2).toString('hex').slice(0, 3);
}

function index6(index: number): string {
  return String(index).padStart(6, '0');
}

function blockId(text: string): string {
  return Buffer.from(text, 'latin1').toString('base64');
}

/** The service's error code: a HEAD (properties, the start of a download) answers without a body, so only the header carries it. */
function serviceErrorCode(error: unknown): string | undefined {
  if (!(error instanceof RestError)) return undefined;
  return error.code ?? error.response?.headers.get('x-ms-error-code') ?? undefined;
}

function isBlobNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404 && serviceErrorCode(error) === 'BlobNotFound';
}

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
    const blockIds = await this.stageBlocks(blob, chunks, (index) => blockId(`${upload}-${index6(index)}`), `saving ${name}`);
    return this.translate(`saving ${name}`, async () => {
      await blob.commitBlockList(blockIds, { blobHTTPHeaders: { blobContentType: contentType } });
      return blob.url;
    });
  }

  /**
   * Stages the chunks as blocks of `blockBytes` (the last one shorter), each uploaded as soon as it is full, at
   * most BLOCKS_IN_FLIGHT at a time, and answers their ids in order once all are staged. An error thrown by
   * the producer is passed on as it is; a storage failure becomes STORAGE_FAILED.
   */
  private async stageBlocks(
    blob: BlockBlobClient,
    chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
    idOf: (index: number) => string,
    what: string,
  ): Promise<string[]> {
    const blockIds: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let storageFailure: { error: unknown } | undefined;
    const stage = (bytes: Buffer) => {
      const id = idOf(blockIds.length);
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
    if (storageFailure) throw this.failure(what, storageFailure.error);
    return blockIds;
  }

  /** Stages the part's blocks on `name`'s own blob, then its marker (the block ids are explained above PART_HASH_HEX). */
  async savePart(name: string, part: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void> {
    assertSafeName(name);
    assertSafeName(part);
    const what = `saving part ${part} of ${name}`;
    await this.translate(what, () => this.ready());
    const blob = this.container.getBlockBlobClient(name);
    const hash = partHash(part);
    const attempt = nextAttempt();
    const contentIds = await this.stageBlocks(blob, chunks, (index) => blockId(`${hash}-${attempt}-${index6(index)}`), what);
    await this.translate(what, () => blob.stageBlock(blockId(`${hash}#${attempt}-${index6(contentIds.length)}`), MARKER_BYTES, MARKER_BYTES.length));
  }

  /**
   * Commits the listed parts' content blocks in order as `name`, in one Put Block List: the blob changes whole,
   * and the service discards every uncommitted block not listed (the markers, failed attempts), which lets the
   * parts go. The commit records a hash of the parts list in the blob's metadata, so a rerun of the same join
   * after the parts are gone is recognised and answered with the location.
   */
  async joinParts(name: string, parts: readonly string[], contentType: string): Promise<string> {
    assertSafeName(name);
    for (const part of parts) assertSafeName(part);
    const what = `joining the parts of ${name}`;
    await this.translate(what, () => this.ready());
    const blob = this.container.getBlockBlobClient(name);
    const joinedParts = createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('hex');
    return this.translate(what, async () => {
      const attempts = completeAttempts(await this.uncommittedBlockIds(blob));
      const blockIds: string[] = [];
      for (const part of parts) {
        const hash = partHash(part);
        const saved = attempts.get(hash);
        if (!saved) {
          if ((await this.joinedPartsOf(blob)) === joinedParts) return blob.url;
          throw new AppError('NOT_FOUND', `Part ${part} of ${name} was never saved, or was discarded: Azure keeps uncommitted blocks for a week, and a commit to ${name} drops them.`);
        }
        for (let index = 0; index < saved.blocks; index++) blockIds.push(blockId(`${hash}-${saved.attempt}-${index6(index)}`));
      }
      await blob.commitBlockList(blockIds, { blobHTTPHeaders: { blobContentType: contentType }, metadata: { joinedparts: joinedParts } });
      return blob.url;
    });
  }

  /** The ids (as text) of the blob's uncommitted blocks; none when the blob has no blocks at all (404). */
  private async uncommittedBlockIds(blob: BlockBlobClient): Promise<Set<string>> {
    try {
      const list = await blob.getBlockList('uncommitted');
      return new Set((list.uncommittedBlocks ?? []).map((block) => Buffer.from(block.name, 'base64').toString('latin1')));
    } catch (error) {
      if (isBlobNotFound(error)) return new Set();
      throw error;
    }
  }

  private async joinedPartsOf(blob: BlockBlobClient): Promise<string | undefined> {
    try {
      return (await blob.getProperties()).metadata?.['joinedparts'];
    } catch (error) {
      if (isBlobNotFound(error)) return undefined;
      throw error;
    }
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
      if (isBlobNotFound(error)) return undefined;
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

/**
 * For each part hash, its latest attempt that is complete: it has a marker, and every content block the
 * marker counts is there. Attempt ids compare as text in time order (fixed-width hex).
 */
function completeAttempts(ids: ReadonlySet<string>): Map<string, { readonly attempt: string; readonly blocks: number }> {
  const latest = new Map<string, { attempt: string; blocks: number }>();
  for (const id of ids) {
    const match = PART_BLOCK.exec(id);
    if (!match || match[2] !== '#') continue;
    const [, hash, , attempt, count] = match as unknown as [string, string, string, string, string];
    const blocks = Number(count);
    const known = latest.get(hash);
    if (known && known.attempt > attempt) continue;
    let complete = true;
    for (let index = 0; index < blocks && complete; index++) complete = ids.has(`${hash}-${attempt}-${index6(index)}`);
    if (complete) latest.set(hash, { attempt, blocks });
  }
  return latest;
}
