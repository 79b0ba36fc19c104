import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TeamsWebhookNotifier } from '../../shared/adapters/teams-webhook.js';
import type { ChatMessage } from '../../shared/ports/chat-notifier.js';

const URL_ = 'https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const message: ChatMessage = {
  title: 'Budget alert: Payments has spent 85.0% of its October 2026 LLM budget',
  summary: 'Spend so far has reached the 80% alert level.',
  facts: [{ name: 'Budget', value: 'USD 100.00' }],
  details: ['Top users: Ada USD 50.00'],
  link: { title: 'Open the team cost lookup', url: 'https://costs.contoso.example/teams/payments' },
  severity: 'warning',
};

describe('TeamsWebhookNotifier', () => {
  it('posts an Adaptive Card in the message envelope the webhook expects', async () => {
    const bodies: unknown[] = [];
    server.use(
      http.post(URL_, async ({ request }) => {
        expect(request.headers.get('content-type')).toBe('application/json');
        bodies.push(await request.json());
        return new HttpResponse('1', { status: 200 });
      }),
    );
    await new TeamsWebhookNotifier(URL_).post(message);
    expect(bodies).toHaveLength(1);
    const body = bodies[0] as { type: string; attachments: { contentType: string; contentUrl: null; content: Record<string, unknown> }[] };
    expect(body.type).toBe('message');
    expect(body.attachments).toHaveLength(1);
    expect(body.attachments[0]!.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(body.attachments[0]!.contentUrl).toBeNull();
    const card = body.attachments[0]!.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4', actions: [{ type: 'Action.OpenUrl', url: message.link!.url }] });
    expect(JSON.stringify(card['body'])).toContain('USD 100.00');
  });

  it('reports a server error as retryable and a refused card as not', async () => {
    server.use(http.post(URL_, () => new HttpResponse('busy', { status: 503 })));
    await expect(new TeamsWebhookNotifier(URL_).post(message)).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('HTTP 503') });
    server.use(http.post(URL_, () => new HttpResponse('Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400', { status: 200 })));
    await expect(new TeamsWebhookNotifier(URL_).post(message)).rejects.toMatchObject({ retryable: false });
    server.use(http.post(URL_, () => new HttpResponse(null, { status: 202 })));
    await expect(new TeamsWebhookNotifier(URL_).post(message)).resolves.toEqual({ location: 'teams:contoso.webhook.office.com' });
  });
});
