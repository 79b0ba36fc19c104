import type { AccessToken, TokenCredential } from '@azure/identity';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApimNamedValueBlockList } from '../../shared/adapters/azure/apim-named-value-block-list.js';

const ARM = 'https://arm.test';
const NAMED_VALUE = '/subscriptions/s1/resourceGroups/rg-gw/providers/Microsoft.ApiManagement/service/apim-gw/namedValues/chargeback-blocked-oids';
const credential: TokenCredential = {
  async getToken(scope): Promise<AccessToken> {
    expect(scope).toBe('https://management.azure.com/.default');
    return { token: 'arm-token', expiresOnTimestamp: 4_102_444_800_000 };
  },
};

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** A named value held by a fake Resource Manager; records every write. */
function fakeArm(initial: string, status = 200) {
  const state = { value: initial, writes: [] as unknown[] };
  server.use(
    http.post(`${ARM}${NAMED_VALUE}/listValue`, ({ request }) => {
      if (status !== 200) return HttpResponse.json({ error: { code: 'AuthorizationFailed' } }, { status });
      expect(request.headers.get('authorization')).toBe('Bearer arm-token');
      expect(new URL(request.url).searchParams.get('api-version')).toBe('2022-08-01');
      return HttpResponse.json({ value: state.value });
    }),
    http.put(`${ARM}${NAMED_VALUE}`, async ({ request }) => {
      const body = (await request.json()) as { properties: { value: string } };
      state.writes.push(body);
      state.value = body.properties.value;
      return HttpResponse.json({ id: NAMED_VALUE, properties: body.properties }, { status: 202 });
    }),
  );
  return state;
}

const list = () => new ApimNamedValueBlockList({ namedValueId: NAMED_VALUE, credential, armEndpoint: ARM });

describe('the gateway block list as an APIM named value', () => {
  it('writes the oids the policy reads, and nothing when they did not change', async () => {
    const arm = fakeArm('none');
    expect(await list().publish(['a1', 'b2'])).toEqual({ changed: true });
    expect(arm.writes).toEqual([{ properties: { displayName: 'chargeback-blocked-oids', value: 'a1;b2', secret: false } }]);
    expect(await list().publish(['a1', 'b2'])).toEqual({ changed: false });
    expect(arm.writes).toHaveLength(1);
    // Lifting writes "none": a named value cannot be empty.
    expect(await list().publish([])).toEqual({ changed: true });
    expect(arm.value).toBe('none');
  });

  it('names the role it needs when Resource Manager refuses', async () => {
    fakeArm('none', 403);
    await expect(list().publish(['a1'])).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('API Management Service Contributor') });
  });

  it('refuses a list longer than a named value holds instead of blocking only part of it', async () => {
    fakeArm('none');
    const oids = Array.from({ length: 120 }, (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`);
    await expect(list().publish(oids)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('4096') });
  });

  it('refuses a resource id that is not a named value', () => {
    expect(() => new ApimNamedValueBlockList({ namedValueId: '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim', credential })).toThrow(/named value/);
  });
});
