/** A short message for a chat channel (a Microsoft Teams channel through its incoming webhook). */
export interface ChatMessage {
  readonly title: string;
  readonly summary: string;
  readonly facts: readonly { readonly name: string; readonly value: string }[];
  /** Further lines under the facts, e.g. the top users and models. */
  readonly details: readonly string[];
  readonly link?: { readonly title: string; readonly url: string };
  readonly severity: 'warning' | 'attention';
}

export interface ChatNotifier {
  /** Posts the message; throws AppError (retryable when a later attempt may work). */
  post(message: ChatMessage): Promise<{ readonly location: string }>;
}
