import { AppError } from '../domain/errors.js';
import type { ChatMessage, ChatNotifier } from '../ports/chat-notifier.js';

const TIMEOUT_MS = 15_000;
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * The body a Teams incoming webhook (and a Teams "Workflows" webhook, which replaces the retiring Office 365
 * connectors and takes the same body) expects for an Adaptive Card: a message whose attachments hold the card
 * under the content type application/vnd.microsoft.card.adaptive.
 */
export function adaptiveCardPayload(message: ChatMessage): Record<string, unknown> {
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: message.title, size: 'Large', weight: 'Bolder', color: message.severity === 'attention' ? 'Attention' : 'Warning', wrap: true },
    { type: 'TextBlock', text: message.summary, wrap: true },
    { type: 'FactSet', facts: message.facts.map((fact) => ({ title: fact.name, value: fact.value })) },
    ...message.details.map((line) => ({ type: 'TextBlock', text: line, wrap: true, spacing: 'Small' })),
  ];
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
    msteams: { width: 'Full' },
  };
  if (message.link) card['actions'] = [{ type: 'Action.OpenUrl', title: message.link.title, url: message.link.url }];
  return {
    type: 'message',
    summary: message.title,
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }],
  };
}

/** Posts alerts to a Microsoft Teams channel through its webhook URL (TEAMS_WEBHOOK_URL). */
export class TeamsWebhookNotifier implements ChatNotifier {
  constructor(
    private readonly url: string,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  async post(message: ChatMessage): Promise<{ location: string }> {
    const where = new URL(this.url).host;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(adaptiveCardPayload(message)),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new AppError('MAIL_FAILED', `The Teams webhook at ${where} could not be reached: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      throw new AppError('MAIL_FAILED', `The Teams webhook at ${where} answered HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`, {
        retryable: RETRYABLE_STATUS.has(response.status),
      });
    }
    // The classic connector answers 200 with a text body; a refusal it reports that way names the failure.
    if (/failed|error/i.test(text) && text.trim() !== '1') {
      throw new AppError('MAIL_FAILED', `The Teams webhook at ${where} refused the card: ${text.slice(0, 300)}`, { retryable: false });
    }
    return { location: `teams:${where}` };
  }
}
