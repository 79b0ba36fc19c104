import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutboxMailer, messageIdFor, outboxFileName } from '../../shared/adapters/local/outbox-mailer.js';
import { AppError } from '../../shared/domain/errors.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

let outbox: string;

beforeEach(async () => {
  outbox = path.join(await mkdtemp(path.join(tmpdir(), 'outbox-test-')), 'outbox');
});

afterEach(async () => {
  await rm(path.dirname(outbox), { recursive: true, force: true });
});

function financeMail(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  // Bytes that are not valid UTF-8 prove the attachment survives the base64 round trip untouched.
  const workbook = Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x0d]), Buffer.alloc(4096, 0xa5)]);
  return {
    from: 'Chargeback <chargeback@contoso.example>',
    to: ['finance@contoso.example', 'controller@contoso.example'],
    cc: ['platform-lead@contoso.example'],
    subject: 'LLM gateway chargeback 2026-10 — 2,574.32 USD',
    text: 'The October chargeback is attached.\nGrand total: $2,574.32',
    html: '<p>The October chargeback is attached.</p><p><b>Grand total:</b> $2,574.32</p>',
    attachments: [{ filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: workbook }],
    idempotencyKey: 'finance-monthly/2026-10/rev-1',
    ...overrides,
  };
}

async function expectRefused(promise: Promise<unknown>, detail: RegExp): Promise<void> {
  await expect(promise).rejects.toSatisfy(
    (error: unknown) =>
      error instanceof AppError && error.code === 'MAIL_FAILED' && !error.retryable && error.details.some((line) => detail.test(line)),
  );
}

describe('OutboxMailer', () => {
  it('carries a large attachment byte for byte, however it is streamed into the message', async () => {
    // Over the size where the attachment is streamed in slices: a length that is no multiple of a slice or of 3.
    const workbook = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let index = 0; index < workbook.length; index++) workbook[index] = (index * 7919) % 251;
    const mail = financeMail({ attachments: [{ filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: workbook }] });
    const sent = await new OutboxMailer(outbox).send(mail);
    const raw = await readFile(sent.location);
    const parsed = await simpleParser(raw);
    expect(parsed.attachments).toHaveLength(1);
    expect(Buffer.compare(parsed.attachments[0]!.content, workbook)).toBe(0);
    // Base64 lines of 76 characters at most, as MIME asks.
    const longest = Math.max(...raw.toString('latin1').split('\r\n').map((line) => line.length));
    expect(longest).toBeLessThanOrEqual(998);
    expect(raw.toString('latin1')).toMatch(/\r\n[A-Za-z0-9+/]{76}\r\n[A-Za-z0-9+/]{76}\r\n/);
  });

  it('writes a real MIME message that a mail parser reads back field for field', async () => {
    const mail = financeMail();
    const sent = await new OutboxMailer(outbox).send(mail);

    expect(path.isAbsolute(sent.location)).toBe(true);
    expect(path.dirname(sent.location)).toBe(path.resolve(outbox));
    expect(sent.location.endsWith('.eml')).toBe(true);
    const raw = await readFile(sent.location);
    const parsed = await simpleParser(raw);

    expect(parsed.subject).toBe(mail.subject);
    expect(parsed.from?.value).toEqual([{ address: 'chargeback@contoso.example', name: 'Chargeback' }]);
    const addresses = (field: typeof parsed.to) => (Array.isArray(field) ? field : field ? [field] : []).flatMap((item) => item.value.map((entry) => entry.address));
    expect(addresses(parsed.to)).toEqual(mail.to);
    expect(addresses(parsed.cc)).toEqual(mail.cc);
    expect(parsed.text?.trim()).toBe(mail.text);
    expect(parsed.html).toContain('<b>Grand total:</b> $2,574.32');
    expect(parsed.messageId).toBe(sent.messageId);
    expect(parsed.headers.get('x-idempotency-key')).toBe(mail.idempotencyKey);

    expect(parsed.attachments).toHaveLength(1);
    const [attachment] = parsed.attachments;
    expect(attachment!.filename).toBe('chargeback-2026-10.xlsx');
    expect(attachment!.contentType).toBe(XLSX);
    expect(Buffer.compare(attachment!.content, mail.attachments[0]!.content)).toBe(0);
  });

  it('carries an inline image with its Content-ID, so the HTML part shows it in place', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const mail = financeMail({
      html: '<p><img src="cid:chart-1@chargeback" alt="a chart"></p>',
      attachments: [
        { filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: Buffer.from('x') },
        { filename: 'chart.png', contentType: 'image/png', content: png, contentId: 'chart-1@chargeback' },
      ],
    });
    const parsed = await simpleParser(await readFile((await new OutboxMailer(outbox).send(mail)).location));
    const image = parsed.attachments.find((attachment) => attachment.filename === 'chart.png')!;
    expect(image.contentId).toBe('<chart-1@chargeback>');
    expect(image.contentDisposition).toBe('inline');
    expect(Buffer.compare(image.content, png)).toBe(0);
  });

  it('gives the same Message-ID to the same idempotency key, and keeps a second send as a second file so a duplicate shows', async () => {
    const mailer = new OutboxMailer(outbox);
    const first = await mailer.send(financeMail());
    const again = await mailer.send(financeMail({ subject: 'resent' }));
    const other = await mailer.send(financeMail({ idempotencyKey: 'finance-monthly/2026-10/rev-2' }));

    expect(first.messageId).toMatch(/^<[0-9a-f]{32}@chargeback\.local>$/);
    expect(again.messageId).toBe(first.messageId);
    expect(path.basename(again.location)).toBe(path.basename(first.location).replace(/\.eml$/, '-2.eml'));
    expect(other.messageId).not.toBe(first.messageId);
    expect(other.location).not.toBe(first.location);
    expect(messageIdFor('finance-monthly/2026-10/rev-1')).toBe(first.messageId);
    // The resend is a file of its own, as a second message in an inbox would be; the first is left as it was.
    expect((await readdir(outbox)).sort()).toEqual([path.basename(first.location), path.basename(again.location), path.basename(other.location)].sort());
    expect((await simpleParser(await readFile(first.location))).subject).not.toBe('resent');
    expect((await simpleParser(await readFile(again.location))).subject).toBe('resent');
  });

  it('names outbox files safely, even for keys with separators', () => {
    const name = outboxFileName('../../etc/passwd');
    expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*\.eml$/);
    expect(name).not.toContain('..');
    expect(name).not.toContain('/');
    expect(outboxFileName('a/b')).not.toBe(outboxFileName('a_b'));
  });

  it('refuses a header with a line break, so no header can be injected', async () => {
    const mailer = new OutboxMailer(outbox);
    await expectRefused(mailer.send(financeMail({ subject: 'Report\r\nBcc: attacker@evil.example' })), /^subject contains a line break/);
    await expectRefused(mailer.send(financeMail({ to: ['finance@contoso.example\nBcc: attacker@evil.example'] })), /^to contains a line break/);
    await expectRefused(mailer.send(financeMail({ idempotencyKey: 'key\r\nX-Evil: 1' })), /^idempotency key contains a line break/);
    await expectRefused(
      mailer.send(financeMail({ attachments: [{ filename: 'a.xlsx\r\nX-Evil: 1', contentType: XLSX, content: Buffer.from('x') }] })),
      /^attachment file name contains a line break/,
    );
    await expect(readdir(outbox)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses addresses without exactly one "@" and mail without a recipient', async () => {
    const mailer = new OutboxMailer(outbox);
    await expectRefused(mailer.send(financeMail({ cc: ['platform-lead'] })), /^cc address "platform-lead"/);
    await expectRefused(mailer.send(financeMail({ from: 'a@b@c.example' })), /^from address/);
    await expectRefused(mailer.send(financeMail({ to: [] })), /no recipient/);
  });

  it('reports an outbox it cannot write to as MAIL_FAILED', async () => {
    const blocked = path.join(path.dirname(outbox), 'a-file');
    await writeFile(blocked, 'not a directory');
    await expect(new OutboxMailer(path.join(blocked, 'outbox')).send(financeMail())).rejects.toMatchObject({ code: 'MAIL_FAILED', retryable: false });
  });
});
