import { describe, expect, it } from 'vitest';
import { costApiHandler, type CostApiServices } from '../../shared/adapters/http/cost-api.js';
import { RejectionLog } from '../../shared/adapters/http/rejection-log.js';
import { AppError } from '../../shared/domain/errors.js';
import { invoke } from '../support/http-api.js';

/** Services whose token check rejects every request the way a flood of bad or missing tokens is rejected. */
const rejecting: CostApiServices = {
  accessTokens: {
    verify: async (header: string | undefined) => {
      throw new AppError('UNAUTHENTICATED', 'rejected', { details: [header === undefined ? 'missing_token' : 'bad_signature'] });
    },
  } as CostApiServices['accessTokens'],
  costLookup: {} as CostApiServices['costLookup'],
};

describe('rejected requests are logged in aggregate', () => {
  it('logs the first of each reason, then one line with the count per interval, not one line per request', async () => {
    let now = 1_000_000;
    const rejections = new RejectionLog({ intervalMs: 60_000, now: () => now });
    const handler = costApiHandler('all-teams', async () => rejecting, rejections);
    const logs: string[] = [];
    const log = (line: string) => logs.push(line);

    for (let index = 0; index < 500; index += 1) {
      const response = await invoke(handler, 'teams', { headers: index % 2 === 0 ? {} : { authorization: 'Bearer x.y.z' }, log });
      expect(response.status).toBe(401);
    }
    expect(logs).toHaveLength(2);
    expect(logs[0]).toContain('missing_token');
    expect(logs[1]).toContain('bad_signature');

    now += 61_000;
    await invoke(handler, 'teams', { log });
    expect(logs).toHaveLength(4);
    expect(logs[2]).toMatch(/249 more request\(s\) rejected as all-teams 401 UNAUTHENTICATED \(missing_token\) in the last 6\d s/);
    expect(logs[3]).toContain('answered 401 UNAUTHENTICATED (missing_token)');

    rejections.flush({ progress: () => {}, info: () => {}, warn: log, error: () => {} });
    expect(logs.at(-1)).toMatch(/249 more request\(s\) rejected as all-teams 401 UNAUTHENTICATED \(bad_signature\)/);
  });
});
