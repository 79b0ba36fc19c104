import { randomBytes } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphClientWithAuthProvider } from '../../shared/adapters/azure/graph-client.js';
import { GraphMailer, UPLOAD_CHUNK_UNIT_BYTES, type GraphMailerOptions } from '../../shared/adapters/azure/graph-mailer.js';
import { messageIdFor } from '../../shared/adapters/mail-composition.js';
import { AppError } from '../../shared/domain/errors.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';
import { FAKE_TOKEN, fakeAuthProvider } from '../support/graph-stub.js';

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const GRAPH = 'https://graph.microsoft.com/v1.0';
const MAILBOX = 'chargeback@contoso.example';
const USER = `${GRAPH}/users/${encodeURIComponent(MAILBOX)}`;
const DRAFT_ID = 'AAMkADI5MAAIT3drCAAA=';
const UPLOAD_URL = `https://outlook.office.com/api/v2.0/Users('a8e8e219@72aa88bf')/Messages('${DRAFT_ID}')/AttachmentSessions('AAMkADI5MAAIT3k0tAAA=')?authtoken=pre-authenticated`;
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | null;
  readonly contentRange?: string | null;
  readonly body?: unknown;
  readonly bytes?: Buffer;
}

function fakeClock() {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
}

function mailer(options: Partial<GraphMailerOptions> = {}) {
  const clock = fakeClock();
  const graphMailer = new GraphMailer({ client: graphClientWithAuthProvider(fakeAuthProvider), mailbox: MAILBOX, sleep: clock.sleep, ...options });
  return { mailer: graphMailer, sleeps: clock.sleeps };
}

function financeMail(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  const workbook = Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from([0x00, 0xff, 0xfe, 0x80]), Buffer.alloc(20_000, 0xa5)]);
  return {
    from: 'Chargeback <chargeback@contoso.example>',
    to: ['finance@contoso.example', 'Controller <controller@contoso.example>'],
    cc: ['platform-lead@contoso.example'],
    subject: 'LLM gateway chargeback 2026-10 — 2,574.32 USD',
    text: 'The October chargeback is attached.',
    html: '<p>The October chargeback is attached.</p>',
    attachments: [{ filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: workbook }],
    idempotencyKey: 'finance-monthly/2026-10/rev-1',
    ...overrides,
  };
}

async function record(request: Request, seen: Seen[], kind: 'json' | 'bytes' | 'none' = 'json'): Promise<Seen> {
  const entry: Seen = {
    method: request.method,
    url: request.url,
    authorization: request.headers.get('authorization'),
    contentRange: request.headers.get('content-range'),
    ...(kind === 'json' ? { body: await request.json().catch(() => undefined) } : {}),
    ...(kind === 'bytes' ? { bytes: Buffer.from(await request.arrayBuffer()) } : {}),
  };
  seen.push(entry);
  return entry;
}

function graphError(status: number, code: string, message: string, headers: Record<string, string> = {}) {
  return HttpResponse.json({ error: { code, message } }, { status, headers });
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** Exchange's side of a large-attachment send: a draft, its attachments, upload sessions and the send. */
function exchangeStub(options: { failPut?: boolean } = {}) {
  const seen: Seen[] = [];
  const uploads: { ranges: string[]; data: Buffer; size: number; item?: Record<string, unknown> } = { ranges: [], data: Buffer.alloc(0), size: 0 };
  const draft = `${USER}/messages/${encodeURIComponent(DRAFT_ID)}`;
  server.use(
    http.post(`${USER}/messages`, async ({ request }) => {
      await record(request, seen);
      return HttpResponse.json({ id: DRAFT_ID, isDraft: true }, { status: 201 });
    }),
    http.post(`${draft}/attachments`, async ({ request }) => {
      await record(request, seen);
      return HttpResponse.json({ id: 'attachment-1' }, { status: 201 });
    }),
    http.post(`${draft}/attachments/createUploadSession`, async ({ request }) => {
      const entry = await record(request, seen);
      const item = (entry.body as { AttachmentItem: Record<string, unknown> }).AttachmentItem;
      uploads.item = item;
      uploads.size = Number(item.size);
      return HttpResponse.json({ uploadUrl: UPLOAD_URL, expirationDateTime: '2026-11-03T07:00:00Z', nextExpectedRanges: ['0-'] }, { status: 201 });
    }),
    http.put('https://outlook.office.com/api/v2.0/*', async ({ request }) => {
      const entry = await record(request, seen, 'bytes');
      if (options.failPut) return graphError(400, 'ErrorInvalidRequest', 'bad range');
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(entry.contentRange ?? '');
      if (!match || Number(match[1]) !== uploads.data.length || Number(match[3]) !== uploads.size) {
        return graphError(416, 'InvalidRange', `unexpected Content-Range ${entry.contentRange}`);
      }
      if (Number(match[2]) - Number(match[1]) + 1 !== entry.bytes!.length) return graphError(400, 'InvalidRange', 'length does not match the range');
      uploads.ranges.push(entry.contentRange!);
      uploads.data = Buffer.concat([uploads.data, entry.bytes!]);
      if (uploads.data.length === uploads.size) {
        return new HttpResponse(null, { status: 201, headers: { Location: `https://outlook.office.com/api/v2.0/Users('x')/Messages('${DRAFT_ID}')/Attachments('big')` } });
      }
      return HttpResponse.json({ expirationDateTime: '2026-11-03T07:00:00Z', nextExpectedRanges: [String(uploads.data.length)] });
    }),
    http.post(`${draft}/send`, async ({ request }) => {
      await record(request, seen);
      return new HttpResponse(null, { status: 202 });
    }),
    http.delete(draft, async ({ request }) => {
      await record(request, seen, 'none');
      return new HttpResponse(null, { status: 204 });
    }),
  );
  return { seen, uploads };
}

describe('GraphMailer', () => {
  it('sends a mail with a small attachment in one sendMail call carrying recipients, base64 bytes and the idempotency header', async () => {
    const seen: Seen[] = [];
    server.use(
      http.post(`${USER}/sendMail`, async ({ request }) => {
        await record(request, seen);
        return new HttpResponse(null, { status: 202 });
      }),
    );
    const mail = financeMail();

    const sent = await mailer().mailer.send(mail);

    expect(sent).toEqual({ messageId: messageIdFor(mail.idempotencyKey), location: `graph:${MAILBOX}` });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBe(`Bearer ${FAKE_TOKEN}`);
    const body = seen[0]!.body as { message: Record<string, unknown>; saveToSentItems: boolean };
    expect(body.saveToSentItems).toBe(true);
    expect(body.message).toMatchObject({
      subject: mail.subject,
      body: { contentType: 'HTML', content: mail.html },
      toRecipients: [{ emailAddress: { address: 'finance@contoso.example' } }, { emailAddress: { address: 'controller@contoso.example', name: 'Controller' } }],
      ccRecipients: [{ emailAddress: { address: 'platform-lead@contoso.example' } }],
      internetMessageId: sent.messageId,
      internetMessageHeaders: [{ name: 'X-Idempotency-Key', value: mail.idempotencyKey }],
    });
    const attachments = body.message.attachments as Record<string, string>[];
    expect(attachments).toHaveLength(1);
    expect(attachments[0]).toMatchObject({ '@odata.type': '#microsoft.graph.fileAttachment', name: 'chargeback-2026-10.xlsx', contentType: XLSX });
    expect(Buffer.compare(Buffer.from(attachments[0]!.contentBytes!, 'base64'), mail.attachments[0]!.content)).toBe(0);
    for (const header of body.message.internetMessageHeaders as { name: string }[]) expect(header.name.toLowerCase().startsWith('x-')).toBe(true);
  });

  it('marks an inline image as inline with its content id', async () => {
    const seen: Seen[] = [];
    server.use(
      http.post(`${USER}/sendMail`, async ({ request }) => {
        await record(request, seen);
        return new HttpResponse(null, { status: 202 });
      }),
    );
    const mail = financeMail({ attachments: [{ filename: 'chart.png', contentType: 'image/png', content: Buffer.from('png'), contentId: 'chart-1@chargeback' }] });
    await mailer().mailer.send(mail);
    const attachments = (seen[0]!.body as { message: { attachments: Record<string, unknown>[] } }).message.attachments;
    expect(attachments[0]).toMatchObject({ name: 'chart.png', isInline: true, contentId: 'chart-1@chargeback' });
  });

  it('sends a large attachment through a draft and an upload session, in 320 KiB-multiple chunks that cover every byte', async () => {
    const { seen, uploads } = exchangeStub();
    const big = randomBytes(3_500_000);
    const mail = financeMail({
      attachments: [
        { filename: 'usage-2026-10.csv', contentType: 'text/csv', content: Buffer.from('day,user,tokens\n2026-10-01,a,1\n') },
        { filename: 'chargeback-2026-10.xlsx', contentType: XLSX, content: big },
      ],
    });
    const chunk = 2 * UPLOAD_CHUNK_UNIT_BYTES;

    const sent = await mailer({ uploadChunkBytes: chunk }).mailer.send(mail);

    expect(sent).toEqual({ messageId: messageIdFor(mail.idempotencyKey), location: `graph:${MAILBOX}` });
    const steps = seen.map((entry) => `${entry.method} ${new URL(entry.url).pathname.replace(/^.*\/messages/, '…/messages').replace(/^\/api\/v2\.0.*/, 'upload')}`);
    const puts = Math.ceil(big.length / chunk);
    expect(steps).toEqual([
      'POST …/messages',
      `POST …/messages/${encodeURIComponent(DRAFT_ID)}/attachments`,
      `POST …/messages/${encodeURIComponent(DRAFT_ID)}/attachments/createUploadSession`,
      ...Array.from({ length: puts }, () => 'PUT upload'),
      `POST …/messages/${encodeURIComponent(DRAFT_ID)}/send`,
    ]);

    expect(new URL(seen[0]!.url).pathname).toBe('/v1.0/users/chargeback%40contoso.example/messages');
    const draft = seen[0]!.body as Record<string, unknown>;
    expect(draft).toMatchObject({
      subject: mail.subject,
      internetMessageId: sent.messageId,
      internetMessageHeaders: [{ name: 'X-Idempotency-Key', value: mail.idempotencyKey }],
      toRecipients: [{ emailAddress: { address: 'finance@contoso.example' } }, { emailAddress: { address: 'controller@contoso.example', name: 'Controller' } }],
    });
    expect(draft).not.toHaveProperty('attachments');
    expect(seen[1]!.body).toMatchObject({ '@odata.type': '#microsoft.graph.fileAttachment', name: 'usage-2026-10.csv', contentBytes: mail.attachments[0]!.content.toString('base64') });
    expect(uploads.item).toEqual({ attachmentType: 'file', name: 'chargeback-2026-10.xlsx', size: big.length, contentType: XLSX });

    const expectedRanges = Array.from({ length: puts }, (_, i) => `bytes ${i * chunk}-${Math.min((i + 1) * chunk, big.length) - 1}/${big.length}`);
    expect(uploads.ranges).toEqual(expectedRanges);
    expect(Buffer.compare(uploads.data, big)).toBe(0);
    const putRequests = seen.filter((entry) => entry.method === 'PUT');
    for (const put of putRequests.slice(0, -1)) expect(put.bytes!.length % UPLOAD_CHUNK_UNIT_BYTES).toBe(0);
    for (const put of putRequests) expect(put.bytes!.length).toBeLessThanOrEqual(4 * 1024 * 1024);
    // The upload URL is pre-authenticated and not Graph: the bearer token must not go there.
    for (const put of putRequests) expect(put.authorization).toBeNull();
    for (const entry of seen.filter((e) => e.method !== 'PUT')) expect(entry.authorization).toBe(`Bearer ${FAKE_TOKEN}`);
  });

  it('takes the draft path when small attachments add up past the 4 MB request limit', async () => {
    const { seen } = exchangeStub();
    const parts = [randomBytes(2_000_000), randomBytes(2_000_000)];
    const mail = financeMail({ attachments: parts.map((content, i) => ({ filename: `part-${i}.xlsx`, contentType: XLSX, content })) });

    await mailer().mailer.send(mail);

    expect(seen.map((entry) => `${entry.method} ${entry.url.split('/').pop()}`)).toEqual([
      'POST messages',
      'POST attachments',
      'POST attachments',
      'POST send',
    ]);
  });

  it('deletes the half-built draft when an upload fails, and sends nothing', async () => {
    const { seen } = exchangeStub({ failPut: true });
    const mail = financeMail({ attachments: [{ filename: 'big.xlsx', contentType: XLSX, content: randomBytes(3_200_000) }] });

    const error = await rejection(mailer().mailer.send(mail));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(false);
    expect(seen.map((entry) => entry.method)).toEqual(['POST', 'POST', 'PUT', 'DELETE']);
  });

  it('waits as long as Retry-After says after a 429, then sends once', async () => {
    let calls = 0;
    server.use(
      http.post(`${USER}/sendMail`, () => {
        calls += 1;
        return calls === 1 ? graphError(429, 'ApplicationThrottled', 'Too many requests', { 'Retry-After': '7' }) : new HttpResponse(null, { status: 202 });
      }),
    );
    const { mailer: graphMailer, sleeps } = mailer();

    const sent = await graphMailer.send(financeMail());

    expect(sent.location).toBe(`graph:${MAILBOX}`);
    expect(calls).toBe(2);
    expect(sleeps).toEqual([7_000]);
  });

  it('gives up on a mailbox that stays unavailable after the bounded attempts, as a retryable MAIL_FAILED', async () => {
    let calls = 0;
    server.use(
      http.post(`${USER}/sendMail`, () => {
        calls += 1;
        return graphError(503, 'ServiceUnavailable', 'try later');
      }),
    );
    const { mailer: graphMailer, sleeps } = mailer({ maxAttempts: 3 });

    const error = await rejection(graphMailer.send(financeMail()));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(true);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([1_000, 2_000]);
  });

  it('reports a 403 as a MAIL_FAILED that names Mail.Send and is not retried', async () => {
    let calls = 0;
    server.use(
      http.post(`${USER}/sendMail`, () => {
        calls += 1;
        return graphError(403, 'ErrorAccessDenied', 'Access to OData is disabled.');
      }),
    );
    const { mailer: graphMailer, sleeps } = mailer();

    const error = await rejection(graphMailer.send(financeMail()));

    expect(error.code).toBe('MAIL_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('Mail.Send');
    expect(error.message).toContain(MAILBOX);
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('refuses chunk sizes Exchange would not take', () => {
    const client = graphClientWithAuthProvider(fakeAuthProvider);
    expect(() => new GraphMailer({ client, mailbox: MAILBOX, uploadChunkBytes: 1_000_000 })).toThrow(/320 KiB/);
    expect(() => new GraphMailer({ client, mailbox: MAILBOX, uploadChunkBytes: 14 * UPLOAD_CHUNK_UNIT_BYTES })).toThrow(/4 MiB/);
  });
});

describe('GraphMailer: was an uncertain mail sent?', () => {
  it('finds a sent message in Sent Items by its internetMessageId', async () => {
    const filters: string[] = [];
    server.use(
      http.get(`${USER}/mailFolders/sentitems/messages`, ({ request }) => {
        const filter = new URL(request.url).searchParams.get('$filter') ?? '';
        filters.push(filter);
        const sent = filter === `internetMessageId eq '${messageIdFor('2026-10|r1|finance')}'`;
        return HttpResponse.json({ value: sent ? [{ id: 'AAMk1', internetMessageId: messageIdFor('2026-10|r1|finance') }] : [] });
      }),
    );
    const { mailer: graph } = mailer();
    expect(await graph.wasSent({ idempotencyKey: '2026-10|r1|finance' })).toBe(true);
    expect(await graph.wasSent({ idempotencyKey: '2026-10|r1|team|data' })).toBe(false);
    expect(filters).toHaveLength(2);
  });

  it('cannot tell when it may not read the mailbox, and says so instead of guessing', async () => {
    server.use(http.get(`${USER}/mailFolders/sentitems/messages`, () => HttpResponse.json({ error: { code: 'ErrorAccessDenied', message: 'Access is denied.' } }, { status: 403 })));
    const logged: string[] = [];
    const { mailer: graph } = mailer({ log: (message) => logged.push(message) });
    expect(await graph.wasSent({ idempotencyKey: '2026-10|r1|finance' })).toBeUndefined();
    expect(logged.join('\n')).toMatch(/could not tell whether 2026-10\|r1\|finance was sent/);
  });
});
