import type { TokenCredential } from '@azure/identity';
import { TableClient } from '@azure/data-tables';
import { AppError } from '../../domain/errors.js';

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Table Storage's naming rule, checked when settings load rather than at the first request. */
export function validateTableName(name: string): string {
  if (!TABLE_NAME.test(name) || name.toLowerCase() === 'tables') {
    throw new AppError(
      'CONFIG_INVALID',
      `"${name}" is not a valid table name: use 3-63 letters and digits, starting with a letter (and not "tables")`,
    );
  }
  return name;
}

/**
 * A client for one table from a storage connection string. Plain http is allowed only towards the local
 * emulator (Azurite on loopback); anywhere else the account key would travel unencrypted, so it is refused.
 */
export function tableClientFor(connectionString: string, tableName: string): TableClient {
  validateTableName(tableName);
  let client: TableClient;
  try {
    client = TableClient.fromConnectionString(connectionString, tableName);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `The storage connection string is not usable: ${messageOf(error)}`, { cause: error });
  }
  let endpoint: URL;
  try {
    endpoint = new URL(client.url);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', 'The storage connection string has no valid table endpoint', { cause: error });
  }
  if (endpoint.protocol === 'https:') return client;
  if (endpoint.protocol === 'http:' && LOCAL_HOSTS.has(endpoint.hostname)) {
    return TableClient.fromConnectionString(connectionString, tableName, { allowInsecureConnection: true });
  }
  throw new AppError(
    'CONFIG_INVALID',
    `The storage connection string points at ${endpoint.protocol}//${endpoint.host}: only https, or http to the local emulator (127.0.0.1 or localhost), is allowed`,
  );
}

/** A client for one table reached with an Entra credential (the managed identity in Azure): https only. */
export function tableClientWithCredential(endpoint: string, tableName: string, credential: TokenCredential): TableClient {
  validateTableName(tableName);
  if (!endpoint.startsWith('https://')) {
    throw new AppError('CONFIG_INVALID', `The table endpoint ${endpoint} must use https to carry a credential`);
  }
  return new TableClient(endpoint, tableName, credential);
}

/** Creates the table when it does not exist yet; an existing table is fine. */
export async function ensureTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    if (statusOf(error) === 409) return;
    throw storageError(`create table ${client.tableName}`, error);
  }
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set(['REQUEST_SEND_ERROR', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Translates an SDK failure into STORAGE_FAILED. Throttling, timeouts, server-side errors and dropped
 * connections are worth retrying; a 4xx other than 408/429 is a bug or a bad input and is not.
 */
export function storageError(action: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const status = statusOf(error);
  const code = codeOf(error);
  const retryable = status !== undefined ? RETRYABLE_STATUS.has(status) : code !== undefined && NETWORK_CODES.has(code);
  const reason = [status !== undefined ? `HTTP ${status}` : undefined, code, messageOf(error).split('\n')[0]].filter(Boolean).join(', ');
  return new AppError('STORAGE_FAILED', `Table Storage could not ${action}: ${reason}`, { retryable, cause: error });
}
