import { describe, expect, it } from 'vitest';
import { environmentWith } from '../../cli/options.js';
import { COMMAND_LINE_FLAGS, loadSettings, SETTING, type SettingsSource } from '../../shared/config/settings.js';
import { AppError } from '../../shared/domain/errors.js';

const BASE = { [SETTING.usageFiles]: 'usage.ndjson', [SETTING.directoryFile]: 'directory.json' };
const load = (source: SettingsSource) => loadSettings(source, { projectRoot: '/project' });

function problemsOf(source: SettingsSource): readonly string[] {
  try {
    load(source);
  } catch (error) {
    if (error instanceof AppError && error.code === 'CONFIG_INVALID') return error.details as readonly string[];
    throw error;
  }
  throw new Error('expected the settings to be refused');
}

describe('the settings schema', () => {
  it('names the command-line option that set a value next to the setting', () => {
    expect(problemsOf({ ...BASE, [SETTING.timeZone]: 'Mars/Olympus', [SETTING.mailFrom]: 'nobody', [COMMAND_LINE_FLAGS]: { [SETTING.timeZone]: '--time-zone' } })).toEqual([
      'REPORTING_TIME_ZONE (--time-zone): "Mars/Olympus" is not an IANA time zone (for example UTC or Europe/Paris)',
      'MAIL_FROM: "nobody" is not a mail address',
    ]);
  });

  it('learns from the command line which option gave which setting', () => {
    const source = environmentWith({ [SETTING.financeRecipients]: 'not-an-address', [SETTING.directoryFile]: undefined });
    expect(source[COMMAND_LINE_FLAGS]).toEqual({ [SETTING.financeRecipients]: '--finance' });
    expect(problemsOf({ ...source, ...BASE })).toContain('FINANCE_RECIPIENTS (--finance): "not-an-address" is not a mail address');
  });

  it('checks GRAPH_BASE_URL the same way for the directory and for mail: https, the Graph root only', () => {
    for (const url of ['http://graph.example', 'https://graph.microsoft.us/v1.0']) {
      const viaMail = problemsOf({ ...BASE, [SETTING.mailTransport]: 'graph', [SETTING.mailSenderMailbox]: 'chargeback@contoso.example', [SETTING.graphBaseUrl]: url });
      const viaDirectory = problemsOf({ ...BASE, [SETTING.directorySource]: 'graph', [SETTING.graphBaseUrl]: url });
      expect(viaMail).toHaveLength(1);
      expect(viaMail).toEqual(viaDirectory);
    }
    const both = load({ ...BASE, [SETTING.mailTransport]: 'graph', [SETTING.mailSenderMailbox]: 'chargeback@contoso.example', [SETTING.directorySource]: 'graph', [SETTING.graphBaseUrl]: 'https://graph.microsoft.us/' });
    expect([both.mail.graphBaseUrl, both.directory.kind === 'graph' && both.directory.baseUrl]).toEqual(['https://graph.microsoft.us', 'https://graph.microsoft.us']);
    // One problem, reported once, when both the directory and mail use it.
    expect(problemsOf({ ...BASE, [SETTING.mailTransport]: 'graph', [SETTING.mailSenderMailbox]: 'chargeback@contoso.example', [SETTING.directorySource]: 'graph', [SETTING.graphBaseUrl]: 'ftp://x' })).toEqual([
      'GRAPH_BASE_URL: "ftp://x" must use https (plain http only towards localhost)',
    ]);
  });

  it('reads every yes/no setting the same way', () => {
    const smtp = { ...BASE, [SETTING.mailTransport]: 'smtp', [SETTING.smtpHost]: 'relay.contoso.example' };
    expect(load({ ...smtp, [SETTING.smtpSecure]: 'YES', [SETTING.alertCcFinance]: 'No' })).toMatchObject({ mail: { smtp: { secure: true } }, budgets: { ccFinance: false } });
    expect(load({ ...smtp, [SETTING.smtpRequireTls]: '0', [SETTING.alertCcFinance]: '1' })).toMatchObject({ mail: { smtp: { requireTLS: false } }, budgets: { ccFinance: true } });
    expect(problemsOf({ ...smtp, [SETTING.smtpSecure]: 'maybe', [SETTING.alertCcFinance]: 'maybe' })).toEqual([
      'SMTP_SECURE: "maybe" is neither true nor false',
      'ALERT_CC_FINANCE: "maybe" is neither true nor false',
    ]);
  });

  it('reports every section\u2019s problems in one go, settings first, then what concerns several', () => {
    expect(
      problemsOf({
        [SETTING.usageSource]: 'app-insights',
        [SETTING.directorySource]: 'graph',
        [SETTING.directoryCacheTtlHours]: 'soon',
        [SETTING.mailTransport]: 'smtp',
        [SETTING.smtpUser]: 'relay',
        [SETTING.authTenantId]: '00000000-0000-4000-8000-00000000000A',
        [SETTING.unallocatedAlertPercents]: '10;200',
        [SETTING.tablePrefix]: '1bad',
      }),
    ).toEqual([
      'APPINSIGHTS_WORKSPACE_ID or APPINSIGHTS_RESOURCE_ID: name the Log Analytics workspace (its id) or the Application Insights resource (its resource id)',
      'DIRECTORY_CACHE_TTL_HOURS: "soon" is not a number of hours (0 or more, e.g. 24 or 0.5)',
      'TABLE_PREFIX: "1bad" must be 1-30 letters and digits, starting with a letter',
      'SMTP_HOST: name the SMTP server (e.g. smtp.office365.com) when MAIL_TRANSPORT is smtp',
      'SMTP_USER and SMTP_PASSWORD: set both or neither',
      "AUTH_AUDIENCE: name the API's client id or application ID URI (api://...) that tokens are issued for",
      'UNALLOCATED_ALERT_PERCENTS: "200" is not a whole percentage from 1 to 100',
    ]);
  });

  it('freezes what it returns', () => {
    const settings = load(BASE);
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.mail)).toBe(true);
    expect(settings.api.tenantId).toBeNull();
  });
});
