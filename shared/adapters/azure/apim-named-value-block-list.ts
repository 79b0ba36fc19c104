import type { TokenCredential } from '@azure/identity';
import { blockListValue, NAMED_VALUE_MAX_LENGTH } from '../../domain/budget-actions.js';
import { AppError } from '../../domain/errors.js';
import type { GatewayBlockList } from '../../ports/gateway-block-list.js';

const API_VERSION = '2022-08-01';
const NAMED_VALUE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ApiManagement\/service\/[^/]+\/namedValues\/[^/]+$/i;

/**
 * The budget block list as an API Management named value (chargeback-blocked-oids), written through Azure
 * Resource Manager. The identity needs namedValues read and write on the APIM instance (API Management Service
 * Contributor, or a custom role with just those two actions).
 */
export class ApimNamedValueBlockList implements GatewayBlockList {
  constructor(
    private readonly options: { readonly namedValueId: string; readonly credential: TokenCredential; readonly armEndpoint?: string },
  ) {
    if (!NAMED_VALUE_ID.test(options.namedValueId)) {
      throw new AppError('CONFIG_INVALID', `"${options.namedValueId}" is not the resource id of an API Management named value (.../service/<apim>/namedValues/<name>)`);
    }
  }

  async publish(userIds: readonly string[]): Promise<{ changed: boolean }> {
    const value = blockListValue(userIds);
    if (value.length > NAMED_VALUE_MAX_LENGTH) {
      throw new AppError('CONFIG_INVALID', `${userIds.length} oids do not fit in an API Management named value (${value.length} of ${NAMED_VALUE_MAX_LENGTH} characters); see docs/gateway.md`);
    }
    const url = `${this.options.armEndpoint ?? 'https://management.azure.com'}${this.options.namedValueId}`;
    const current = await this.call('read the block list', `${url}/listValue?api-version=${API_VERSION}`, 'POST');
    if ((current as { value?: unknown } | null)?.value === value) return { changed: false };
    const name = this.options.namedValueId.split('/').pop()!;
    await this.call('write the block list', `${url}?api-version=${API_VERSION}`, 'PUT', { properties: { displayName: name, value, secret: false } });
    return { changed: true };
  }

  private async call(what: string, url: string, method: string, body?: unknown): Promise<unknown> {
    const token = await this.options.credential.getToken('https://management.azure.com/.default');
    if (!token) throw new AppError('UNAUTHENTICATED', `could not ${what}: no token for Azure Resource Manager`);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new AppError('INTERNAL', `could not ${what}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
    }
    if (response.status === 404 && method === 'POST') return null;
    if (response.status === 401 || response.status === 403) {
      throw new AppError('FORBIDDEN', `could not ${what} (HTTP ${response.status}): give the identity API Management Service Contributor (or namedValues read/write) on the APIM instance`);
    }
    if (!response.ok) {
      const retryable = response.status === 429 || response.status >= 500;
      throw new AppError(response.status === 429 ? 'THROTTLED' : 'INTERNAL', `could not ${what}: HTTP ${response.status}`, { retryable });
    }
    const text = await response.text();
    return text === '' ? null : (JSON.parse(text) as unknown);
  }
}
