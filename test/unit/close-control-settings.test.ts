import { describe, expect, it } from 'vitest';
import { loadSettings, SETTING } from '../../shared/config/settings.js';

const base = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };

describe('close control settings', () => {
  it('default to 1% rejects, exact totals, warnings at a 50% month change or a doubled team, nobody to tell, a 2-minute lease', () => {
    const { closeControls, api } = loadSettings(base, { projectRoot: '/app' });
    expect(closeControls).toEqual({
      limits: { maxRejectRatio: 0.01, totalTokensTolerance: 0, monthChangeWarnRatio: 0.5, teamGrowthWarnFactor: 2 },
      operatorRecipients: [],
      leaseSeconds: 120,
    });
    expect(api.callTimeoutMs).toBe(5000);
  });

  it('read percentages as ratios', () => {
    const { closeControls } = loadSettings(
      {
        ...base,
        [SETTING.operatorRecipients]: 'ops@contoso.example; oncall@contoso.example',
        [SETTING.closeMaxRejectPercent]: '2.5',
        [SETTING.closeTotalTokensTolerancePercent]: '0.1',
        [SETTING.closeWarnMonthChangePercent]: '300',
        [SETTING.closeWarnTeamGrowthFactor]: '1.5',
        [SETTING.closeLeaseSeconds]: '600',
      },
      { projectRoot: '/app' },
    );
    expect(closeControls).toEqual({
      limits: { maxRejectRatio: 0.025, totalTokensTolerance: 0.001, monthChangeWarnRatio: 3, teamGrowthWarnFactor: 1.5 },
      operatorRecipients: ['ops@contoso.example', 'oncall@contoso.example'],
      leaseSeconds: 600,
    });
  });

  it('report every problem at once, under the setting', () => {
    expect(() =>
      loadSettings(
        {
          ...base,
          [SETTING.operatorRecipients]: 'ops',
          [SETTING.closeMaxRejectPercent]: '101',
          [SETTING.closeWarnMonthChangePercent]: '-5',
          [SETTING.closeWarnTeamGrowthFactor]: '0.5',
          [SETTING.closeLeaseSeconds]: '5',
          [SETTING.costCallTimeoutMs]: '50',
        },
        { projectRoot: '/app' },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: expect.arrayContaining([
          'OPERATOR_RECIPIENTS: "ops" is not a mail address',
          'CLOSE_MAX_REJECT_PERCENT: "101" must be a number from 0 to 100',
          'CLOSE_WARN_MONTH_CHANGE_PERCENT: "-5" must be a number from 0 to 10000',
          'CLOSE_WARN_TEAM_GROWTH_FACTOR: "0.5" must be a number from 1 to 1000',
          'CLOSE_LEASE_SECONDS: "5" must be a whole number from 10 to 3600',
          'COST_CALL_TIMEOUT_MS: "50" must be a whole number from 100 to 60000',
        ]),
      }),
    );
  });
});
