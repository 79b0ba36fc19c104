/**
 * Entity group transactions built as their wire form and sent through the table client's own pipeline (its
 * credential, retries and API version). The SDK's `submitTransaction` builds each operation by running a
 * whole request through a second pipeline and serialising it again: at 10,000 users that was 2 of the store's
 * 2.5 CPU seconds, time the close's single thread needs for its workbooks while Azurite or the service writes.
 *
 * The body is what the SDK sends (captured from it): a multipart/mixed batch holding one changeset, each
 * operation an `application/http` part with the entity's URL and its JSON, counts typed as Edm.Int64.
 */
import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { Utf8Writer } from '../utf8-writer.js';
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type PipelineResponse } from '@azure/core-rest-pipeline';

/** The property values this project stores: a bigint is an Edm.Int64, the rest are JSON's own types. */
export type EntityValue = string | number | boolean | bigint;

/** An entity to write, keys first, as the SDK names them. */
export type EntityProperties = { readonly partitionKey: string; readonly rowKey: string } & { readonly [name: string]: EntityValue };

export type TransactionOperation =
  /** Insert or replace the whole entity (the SDK's `['upsert', entity, 'Replace']`). */
  | { readonly kind: 'upsert'; readonly entity: EntityProperties }
  /** Delete whatever version is stored (the SDK's `['delete', key]`, If-Match: *). */
  | { readonly kind: 'delete'; readonly partitionKey: string; readonly rowKey: string };

/** Insert or replace `entity` whole. */
export function upsertOf(entity: EntityProperties): TransactionOperation {
  return { kind: 'upsert', entity };
}

/** The delete of one stored key, whatever version it holds. */
export function deleteOf(key: { readonly partitionKey: string; readonly rowKey: string }): TransactionOperation {
  return { kind: 'delete', partitionKey: key.partitionKey, rowKey: key.rowKey };
}

/** The keys an operation touches (a transaction's operations all share its partition). */
export function keyOf(operation: TransactionOperation): { readonly partitionKey: string; readonly rowKey: string } {
  return operation.kind === 'upsert' ? operation.entity : operation;
}

const CRLF = '\r\n';
/** One HTTP client for every transaction of the process, as the SDK keeps one per client. */
let sharedHttpClient: HttpClient | undefined;

/**
 * Sends `operations` (one partition, at most 100, within 4 MiB: the caller's batching sees to that) as one
 * transaction. Resolves when the service applied all of them; otherwise rejects with a `RestError` carrying
 * the HTTP status and the service's error code, as the SDK's own transaction does, so `storageError`
 * translates both alike.
 */
export async function submitEntityTransaction(client: TableClient, operations: readonly TransactionOperation[], signal?: AbortSignal): Promise<void> {
  if (operations.length === 0) return;
  const batchBoundary = `batch_${randomUUID()}`;
  const request = createPipelineRequest({
    url: `${tableBaseUrl(client)}/$batch`,
    method: 'POST',
    body: transactionBody(client, operations, batchBoundary),
    headers: createHttpHeaders({
      'Content-Type': `multipart/mixed; boundary=${batchBoundary}`,
      Accept: 'application/json',
      DataServiceVersion: '3.0;',
      MaxDataServiceVersion: '3.0;NetFx',
      'Accept-Charset': 'UTF-8',
    }),
    allowInsecureConnection: new URL(client.url).protocol === 'http:',
    ...(signal ? { abortSignal: signal } : {}),
  });
  sharedHttpClient ??= createDefaultHttpClient();
  const response = await client.pipeline.sendRequest(sharedHttpClient, request);
  throwIfRefused(response);
}

/**
 * The multipart body of one transaction, as the UTF-8 bytes that go on the wire: each part is encoded into one
 * buffer as it is made, rather than joined into a string of some 200 KB that the HTTP client encodes again.
 * Exported for the tests that check its shape.
 */
export function transactionBody(client: Pick<TableClient, 'url' | 'tableName'>, operations: readonly TransactionOperation[], batchBoundary: string): Buffer {
  const changeset = `changeset_${randomUUID()}`;
  const entityUrl = `${tableBaseUrl(client)}/${client.tableName}`;
  const head = `--${changeset}${CRLF}Content-Type: application/http${CRLF}Content-Transfer-Encoding: binary${CRLF}${CRLF}`;
  const body = new Utf8Writer(256 * 1024);
  body.write(`--${batchBoundary}${CRLF}Content-Type: multipart/mixed; boundary=${changeset}${CRLF}${CRLF}`);
  for (const operation of operations) {
    const { partitionKey, rowKey } = keyOf(operation);
    const target = `${entityUrl}(PartitionKey='${keyInUrl(partitionKey)}',RowKey='${keyInUrl(rowKey)}')`;
    if (operation.kind === 'upsert') {
      body.write(`${head}PUT ${target} HTTP/1.1${CRLF}Content-Type: application/json${CRLF}DataServiceVersion: 3.0${CRLF}Accept: application/json${CRLF}${CRLF}`);
      body.write(entityJson(operation.entity));
      body.write(CRLF);
    } else {
      body.write(`${head}DELETE ${target} HTTP/1.1${CRLF}DataServiceVersion: 3.0${CRLF}Accept: application/json${CRLF}If-Match: *${CRLF}${CRLF}`);
    }
  }
  body.write(`--${changeset}--${CRLF}--${batchBoundary}--${CRLF}`);
  return body.take();
}

/**
 * The entity as the service reads it: `PartitionKey` and `RowKey` under their wire names, a bigint as its
 * decimal text with an `@odata.type` of Edm.Int64 beside it, everything else as JSON has it.
 */
export function entityJson(entity: EntityProperties): string {
  // Pieces joined once, rather than an object of wire names (its keys made per entity) or a text grown by +=
  // (a chain of pieces flattened when it is encoded): the store's largest cost of its own at 10,000 users.
  const pieces: string[] = ['{"PartitionKey":', JSON.stringify(entity.partitionKey), ',"RowKey":', JSON.stringify(entity.rowKey)];
  for (const name in entity) {
    if (name === 'partitionKey' || name === 'rowKey') continue;
    const value = entity[name]!;
    const names = wireNames(name);
    if (typeof value === 'bigint') {
      pieces.push(names.key, '"', value.toString(), names.int64);
    } else {
      if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`property ${name} is ${value}, which JSON cannot carry`);
      pieces.push(names.key, JSON.stringify(value));
    }
  }
  pieces.push('}');
  return pieces.join('');
}

/** A property's JSON texts, made once per name: `,"name":` and, for an Int64, `",name@odata.type":"Edm.Int64"`. */
interface WireNames {
  readonly key: string;
  readonly int64: string;
}
const wireNamesByProperty = new Map<string, WireNames>();
function wireNames(name: string): WireNames {
  let names = wireNamesByProperty.get(name);
  if (names === undefined) {
    names = { key: `,${JSON.stringify(name)}:`, int64: `",${JSON.stringify(`${name}@odata.type`)}:"Edm.Int64"` };
    if (wireNamesByProperty.size < 10_000) wireNamesByProperty.set(name, names);
  }
  return names;
}

/** A key inside the entity's URL: OData doubles its quotes, then the whole of it is percent-encoded. */
function keyInUrl(key: string): string {
  return encodeURIComponent(key.replaceAll("'", "''"));
}

function tableBaseUrl(client: Pick<TableClient, 'url'>): string {
  return client.url.endsWith('/') ? client.url.slice(0, -1) : client.url;
}

/**
 * A transaction is applied whole or not at all: the batch answers 202 with one response per operation when it
 * was applied, and otherwise (still 202) with the one operation that failed, its status and error.
 */
function throwIfRefused(response: PipelineResponse): void {
  const body = response.bodyAsText ?? '';
  if (response.status < 200 || response.status >= 300) throw serviceError(body, response.status, response);
  for (const part of body.split('--changesetresponse_').slice(1)) {
    const status = /HTTP\/1\.1 (\d{3})/.exec(part);
    if (status === null) continue;
    const code = Number(status[1]);
    if (code >= 300) throw serviceError(/\{[\s\S]*\}/.exec(part)?.[0] ?? '', code, response);
  }
}

function serviceError(body: string, statusCode: number, response: PipelineResponse): RestError {
  let message = `the transaction was refused with HTTP ${statusCode}`;
  let code: string | undefined;
  try {
    const error = (JSON.parse(body) as { 'odata.error'?: { code?: unknown; message?: { value?: unknown } } })['odata.error'];
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message?.value === 'string') message = error.message.value;
  } catch {
    // Not JSON (a proxy's page, an empty body): the status says enough.
  }
  return new RestError(message, { statusCode, ...(code ? { code } : {}), request: response.request, response });
}
