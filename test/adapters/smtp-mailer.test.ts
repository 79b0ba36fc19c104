import { simpleParser, type AddressObject } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { messageIdFor } from '../../shared/adapters/mail-composition.js';
import { SmtpMailer } from '../../shared/adapters/smtp-mailer.js';
import { AppError } from '../../shared/domain/errors.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';
import { closeSmtpServers, startSmtpServer } from '../support/smtp-server.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

afterEach(closeSmtpServers);

function mailerFor(server: { port: number }, extra: Partial<ConstructorParameters<typeof SmtpMailer>[0]> = {}): SmtpMailer {
  return new SmtpMailer({ host: '127.0.0.1', port: server.port, secure: false, connectionTimeoutMs: 5_000, socketTimeoutMs: 5_000, ...extra });
}

function financeMail(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  // Bytes that are not valid UTF-8 prove the attachment survives the transfer encoding untouched.
  const workbook = Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]), Buffer.alloc(50_000, 0xa5)]);
  return {
    from: 'Chargeback <chargeback@contoso.example>',
    to: ['finance@contoso.example', 'Controller <controller@contoso.example>'],
    cc: ['platform-lead@contoso.example'],
    subject: 'LLM gateway chargeback 2026-10 — 2,574.32 USD',
    text: 'The October chargeback is attached.',
    html: '<p>The October chargeback is attached.</p><p><b>Grand total:</b> $2,574.32</p>',
    attachments: [{ filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: workbook }],
    idempotencyKey: 'finance-monthly/2026-10/rev-1',
    ...overrides,
  };
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  return (Array.isArray(field) ? field : field ? [field] : []).flatMap((item) => item.value.map((entry) => entry.address ?? ''));
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('SmtpMailer', () => {
  it('delivers the message to a real SMTP server: recipients, subject, html and the workbook bytes', async () => {
    const server = await startSmtpServer();
    const mail = financeMail();

    const sent = await mailerFor(server).send(mail);

    expect(sent).toEqual({ messageId: messageIdFor(mail.idempotencyKey), location: `smtp://127.0.0.1:${server.port}` });
    expect(server.received).toHaveLength(1);
    const [delivery] = server.received;
    expect(delivery!.mailFrom).toBe('chargeback@contoso.example');
    expect(delivery!.rcptTo.sort()).toEqual(['controller@contoso.example', 'finance@contoso.example', 'platform-lead@contoso.example']);

    const parsed = await simpleParser(delivery!.raw);
    expect(addresses(parsed.to)).toEqual(['finance@contoso.example', 'controller@contoso.example']);
    expect(addresses(parsed.cc)).toEqual(['platform-lead@contoso.example']);
    expect(parsed.subject).toBe(mail.subject);
    expect(parsed.html).toContain('<b>Grand total:</b> $2,574.32');
    expect(parsed.messageId).toBe(sent.messageId);
    expect(parsed.headers.get('x-idempotency-key')).toBe(mail.idempotencyKey);
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]!.filename).toBe('chargeback-2026-10.xlsx');
    expect(parsed.attachments[0]!.contentType).toBe(XLSX);
    expect(Buffer.compare(parsed.attachments[0]!.content, mail.attachments[0]!.content)).toBe(0);
  });

  it('sends the same Message-ID again for a retried delivery, and logs in when credentials are set', async () => {
    const server = await startSmtpServer();
    const mailer = mailerFor(server, { auth: { user: 'relay-user', pass: 's3cret' } });

    const first = await mailer.send(financeMail());
    const retry = await mailer.send(financeMail());

    expect(retry.messageId).toBe(first.messageId);
    const ids = await Promise.all(server.received.map(async (delivery) => (await simpleParser(delivery.raw)).messageId));
    expect(ids).toEqual([first.messageId, first.messageId]);
    expect(server.logins).toEqual(['relay-user:s3cret', 'relay-user:s3cret']);
  });

  it('reports a 4xx rejection as a retryable MAIL_FAILED', async () => {
    const server = await startSmtpServer({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 }));
      },
    });

    const error = await rejection(mailerFor(server).send(financeMail()));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('451');
    expect(server.received).toHaveLength(0);
  });

  it('reports a 5xx rejection as a MAIL_FAILED that retrying will not fix', async () => {
    const server = await startSmtpServer({
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('Message rejected by policy'), { responseCode: 550 })));
      },
    });

    const error = await rejection(mailerFor(server).send(financeMail()));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('550');
  });

  it('reports a server that cannot be reached as a retryable MAIL_FAILED', async () => {
    const server = await startSmtpServer();
    const port = server.port;
    await server.close();

    const error = await rejection(mailerFor({ port }).send(financeMail()));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(true);
  });

  it('succeeds when only some recipients are refused, and says which', async () => {
    const server = await startSmtpServer({
      onRcptTo(address, _session, callback) {
        callback(address.address === 'platform-lead@contoso.example' ? Object.assign(new Error('No such user'), { responseCode: 550 }) : undefined);
      },
    });
    const logged: string[] = [];

    const sent = await mailerFor(server, { log: (message) => logged.push(message) }).send(financeMail());

    expect(sent.messageId).toBe(messageIdFor('finance-monthly/2026-10/rev-1'));
    expect(server.received[0]!.rcptTo.sort()).toEqual(['controller@contoso.example', 'finance@contoso.example']);
    expect(logged.join('\n')).toContain('platform-lead@contoso.example');
  });

  it('refuses a header with a line break before connecting', async () => {
    const server = await startSmtpServer();
    const error = await rejection(mailerFor(server).send(financeMail({ subject: 'Report\r\nBcc: attacker@evil.example' })));
    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(false);
    expect(server.received).toHaveLength(0);
  });
});
