import { Decimal } from 'decimal.js';
import type { TeamBudgetStatus, ThresholdCrossing, UnallocatedCrossing } from '../domain/budgets.js';
import { formatAmount, monthLabel } from '../domain/amount-text.js';
import { currencyMinorUnits } from '../domain/currency.js';
import { toMinorUnits, type Money } from '../domain/money.js';
import type { ChatMessage } from '../ports/chat-notifier.js';
import type { OutgoingMail } from '../ports/mailer.js';

/** Who and what drives a team's month: shown in an alert so a lead knows where to look first. */
export interface SpendDriver {
  readonly label: string;
  readonly cost: Money;
  readonly tokens: number;
}

export interface AlertText {
  readonly subject: string;
  readonly chat: ChatMessage;
  readonly mail: Pick<OutgoingMail, 'subject' | 'text' | 'html'>;
}

export const money2 = (amount: Money, currency: string): string => formatAmount(toMinorUnits(amount, currencyMinorUnits(currency)), currency);
/** Rounded down, so 99.96% never reads as a reached 100.0%. */
export const percent1 = (value: Money): string => `${value.toDecimalPlaces(1, Decimal.ROUND_DOWN).toFixed(1)}%`;
const count = (value: number) => value.toLocaleString('en-US');
const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function render(title: string, summary: string, facts: { name: string; value: string }[], details: string[], link: { title: string; url: string } | undefined, severity: ChatMessage['severity']): AlertText {
  const text = [title, '', summary, '', ...facts.map((fact) => `${fact.name}: ${fact.value}`), ...(details.length > 0 ? ['', ...details] : []), ...(link ? ['', `${link.title}: ${link.url}`] : [])].join('\n');
  const html = `<!doctype html><html><body style="font-family:Segoe UI,Arial,sans-serif;color:#222">
<h2 style="margin:0 0 8px;color:${severity === 'attention' ? '#a4262c' : '#8a5300'}">${escapeHtml(title)}</h2>
<p>${escapeHtml(summary)}</p>
<table style="border-collapse:collapse">${facts.map((fact) => `<tr><td style="padding:2px 12px 2px 0;color:#555">${escapeHtml(fact.name)}</td><td style="padding:2px 0"><strong>${escapeHtml(fact.value)}</strong></td></tr>`).join('')}</table>
${details.length > 0 ? `<ul>${details.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>` : ''}
${link ? `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.title)}</a></p>` : ''}
</body></html>`;
  return { subject: title, chat: { title, summary, facts, details, ...(link ? { link } : {}), severity }, mail: { subject: title, text, html } };
}

function driverLines(heading: string, drivers: readonly SpendDriver[], currency: string): string[] {
  if (drivers.length === 0) return [];
  return [`${heading}: ${drivers.map((driver) => `${driver.label} ${money2(driver.cost, currency)} (${count(driver.tokens)} tokens)`).join('; ')}`];
}

export function composeBudgetAlert(input: {
  readonly status: TeamBudgetStatus;
  readonly crossing: ThresholdCrossing;
  readonly teamName: string;
  readonly timeZone: string;
  readonly topUsers: readonly SpendDriver[];
  readonly topModels: readonly SpendDriver[];
  /**
   * Where a lead sees the team's costs: the cost page (COST_LOOKUP_URL) when one is set, otherwise the cost
   * API's path, which the lead's own Entra sign-in opens. Never a command: leads do not run the CLI.
   */
  readonly lookup: { readonly url: string | null; readonly apiPath: string };
  readonly note?: string;
}): AlertText {
  const { status, crossing, teamName } = input;
  const { budget, forecast } = status;
  const currency = budget.currency;
  const label = monthLabel(budget.month);
  const title =
    crossing.kind === 'actual'
      ? `Budget alert: ${teamName} has spent ${percent1(status.actualPercent)} of its ${label} LLM budget`
      : `Budget forecast: ${teamName} is on track to spend ${percent1(status.forecastPercent)} of its ${label} LLM budget`;
  const summary =
    crossing.kind === 'actual'
      ? `Spend so far has reached the ${crossing.threshold}% alert level of the team's ${money2(budget.amount, currency)} budget for ${label}.`
      : `The month-end forecast has reached the ${crossing.threshold}% alert level of the team's ${money2(budget.amount, currency)} budget for ${label}.`;
  const projection =
    forecast.basis === 'month-over'
      ? 'the month is over'
      : forecast.basis === 'no-complete-day'
        ? 'no complete day yet to project from'
        : `at ${money2(forecast.workingDayRate, currency)} per working day and ${money2(forecast.weekendDayRate, currency)} per weekend day`;
  const facts = [
    { name: 'Spent so far', value: `${money2(forecast.actual, currency)} (${percent1(status.actualPercent)})` },
    { name: 'Budget', value: money2(budget.amount, currency) },
    { name: 'Forecast for the month', value: `${money2(forecast.forecast, currency)} (${percent1(status.forecastPercent)}), ${projection}` },
    {
      name: 'Days left',
      value:
        status.daysLeft === 0
          ? `none: the month is over (checked on ${forecast.today}, ${input.timeZone})`
          : `${status.daysLeft} (${forecast.remainingWorkingDays} working, ${forecast.remainingWeekendDays} weekend), today ${forecast.today} in ${input.timeZone}`,
    },
  ];
  const details = [
    ...driverLines('Top users', input.topUsers, currency),
    ...driverLines('Top models', input.topModels, currency),
    input.lookup.url
      ? `Your team's costs, by user, model and day: ${input.lookup.url}`
      : `Your team's costs, by user, model and day: the cost API at ${input.lookup.apiPath} (sign in with your work account)`,
    ...(input.note ? [input.note] : []),
  ];
  const link = input.lookup.url ? { title: 'Open your team\u2019s costs', url: input.lookup.url } : undefined;
  return render(title, summary, facts, details, link, crossing.threshold >= 100 ? 'attention' : 'warning');
}

export function composeUnpricedModelAlert(input: {
  readonly month: string;
  readonly model: string;
  readonly unpricedTokens: number;
  readonly teams: readonly string[];
  /** The price book's version (content hash), not its file: a server path means nothing to finance. */
  readonly priceBookVersion: string;
}): AlertText {
  const title = `Finance alert: model "${input.model}" has no price (${monthLabel(input.month)})`;
  const summary = `${count(input.unpricedTokens)} tokens of ${input.model} were used in ${monthLabel(input.month)} with no price in force. They are reported on an explicit unpriced line ("not priced"), not charged as zero, until the operator adds a price for the model (or an alias or pattern) to the price book.`;
  const facts = [
    { name: 'Unpriced tokens so far', value: count(input.unpricedTokens) },
    { name: 'Teams using it', value: input.teams.join(', ') || '(none)' },
    { name: 'Price book version', value: input.priceBookVersion },
  ];
  return render(title, summary, facts, [], undefined, 'attention');
}

export function composeUnallocatedAlert(input: { readonly crossing: UnallocatedCrossing; readonly lookup: { readonly url: string | null; readonly apiPath: string } }): AlertText {
  const { crossing } = input;
  const share = new Decimal(crossing.unallocatedTokens).times(100).dividedBy(crossing.totalTokens);
  const title = `Finance alert: ${share.toDecimalPlaces(1, Decimal.ROUND_DOWN).toFixed(1)}% of ${monthLabel(crossing.month)} LLM usage is unallocated`;
  const summary = `The share of tokens no team can be charged for (users without an id, unknown to the directory, or former users) has reached the ${crossing.level}% alert level.`;
  const facts = [
    { name: 'Unallocated tokens', value: count(crossing.unallocatedTokens) },
    { name: 'All tokens this month', value: count(crossing.totalTokens) },
  ];
  const where = input.lookup.url ?? `the cost API at ${input.lookup.apiPath}`;
  return render(title, summary, facts, [`Who they are: ${where}; at month end, the Unallocated sheet of the finance workbook lists them with the reason for each.`], input.lookup.url ? { title: 'Open the unallocated usage', url: input.lookup.url } : undefined, 'warning');
}
