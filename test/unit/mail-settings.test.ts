import type { AccessToken, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { OutboxMailer } from '../../shared/adapters/local/outbox-mailer.js';
import { PacedMailer } from '../../shared/adapters/paced-mailer.js';
import { createMailer } from '../../shared/composition-root.js';
import { loadSettings, type SettingsSource } from '../../shared/config/settings.js';
import { AppError } from '../../shared/domain/errors.js';
import { silentLogger } from '../../shared/ports/runtime.js';

const BASE: SettingsSource = { USAGE_FILES: 'usage.ndjson', DIRECTORY_FILE: 'directory.json' };

function load(extra: SettingsSource) {
  return loadSettings({ ...BASE, ...extra }, { projectRoot: '/project' });
}

function problemsOf(extra: SettingsSource): readonly string[] {
  try {
    load(extra);
  } catch (error) {
    if (error instanceof AppError && error.code === 'CONFIG_INVALID') return error.details;
    throw error;
  }
  return [];
}

/** Never asked for a token: building the Graph mailer must not touch the network. */
const unusedCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken | null> => {
    throw new Error('no token expected while wiring');
  },
};

describe('mail settings', () => {
  it('keep the outbox by default, paced at Exchange\'s 30 a minute when a real transport is chosen', () => {
    const settings = load({});
    expect(settings.mail).toMatchObject({ transport: 'outbox', outboxDir: '/project/out/outbox', smtp: null, senderMailbox: null, messagesPerMinute: 30 });
    expect(createMailer(settings, { logger: silentLogger })).toBeInstanceOf(OutboxMailer);
  });

  it('read an SMTP relay with STARTTLS required by default and implicit TLS on port 465', () => {
    expect(load({ MAIL_TRANSPORT: 'smtp', SMTP_HOST: 'smtp.office365.com', SMTP_USER: 'relay@contoso.example', SMTP_PASSWORD: 'pw' }).mail.smtp).toEqual({
      host: 'smtp.office365.com',
      port: 587,
      secure: false,
      requireTLS: true,
      user: 'relay@contoso.example',
      password: 'pw',
    });
    const implicit = load({ MAIL_TRANSPORT: 'smtp', SMTP_HOST: 'relay.contoso.example', SMTP_PORT: '465', SMTP_REQUIRE_TLS: 'false', MAIL_MESSAGES_PER_MINUTE: '10' });
    expect(implicit.mail.smtp).toMatchObject({ port: 465, secure: true, requireTLS: false, user: null, password: null });
    expect(implicit.mail.messagesPerMinute).toBe(10);
    expect(createMailer(implicit, { logger: silentLogger })).toBeInstanceOf(PacedMailer);
  });

  it('read the Graph sender mailbox and wire a paced Graph mailer without asking for a token', () => {
    const settings = load({ MAIL_TRANSPORT: 'graph', MAIL_SENDER_MAILBOX: 'chargeback@contoso.example' });
    expect(settings.mail).toMatchObject({ transport: 'graph', senderMailbox: 'chargeback@contoso.example', graphBaseUrl: null });
    expect(createMailer(settings, { logger: silentLogger, credential: unusedCredential })).toBeInstanceOf(PacedMailer);
  });

  it('report every mail problem at once', () => {
    expect(problemsOf({ MAIL_TRANSPORT: 'carrier-pigeon' })).toEqual([expect.stringContaining('MAIL_TRANSPORT: "carrier-pigeon" is not one of outbox, smtp, graph')]);
    expect(problemsOf({ MAIL_TRANSPORT: 'smtp', SMTP_USER: 'relay', SMTP_PORT: '99999', SMTP_SECURE: 'maybe' })).toEqual([
      expect.stringContaining('SMTP_HOST'),
      expect.stringContaining('SMTP_PORT'),
      expect.stringContaining('SMTP_SECURE'),
      expect.stringContaining('SMTP_USER and SMTP_PASSWORD'),
    ]);
    expect(problemsOf({ MAIL_TRANSPORT: 'graph' })).toEqual([expect.stringContaining('MAIL_SENDER_MAILBOX')]);
    expect(problemsOf({ MAIL_TRANSPORT: 'graph', MAIL_SENDER_MAILBOX: 'not a mailbox', MAIL_MESSAGES_PER_MINUTE: '0' })).toEqual([
      expect.stringContaining('MAIL_MESSAGES_PER_MINUTE'),
      expect.stringContaining('MAIL_SENDER_MAILBOX: "not a mailbox"'),
    ]);
  });
});
