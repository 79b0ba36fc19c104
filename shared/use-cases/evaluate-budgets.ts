import {
  evaluateTeamBudgets,
  unallocatedCrossings,
  type DailyAmount,
  type TeamBudgetStatus,
  type ThresholdCrossing,
} from '../domain/budgets.js';
import { UNALLOCATED_TEAM } from '../domain/directory.js';
import { describeError } from '../domain/errors.js';
import { sumMoney, type Money } from '../domain/money.js';
import { dayInZone, monthOfDay, parseDay, parseMonth } from '../domain/periods.js';
import { totalTokens } from '../domain/tokens.js';
import type { AlertChannel, AlertLedger } from '../ports/alert-ledger.js';
import type { BudgetSource } from '../ports/budget-source.js';
import type { ChatNotifier } from '../ports/chat-notifier.js';
import type { Directory } from '../ports/directory.js';
import type { Mailer } from '../ports/mailer.js';
import type { PriceBookSource } from '../ports/price-book-source.js';
import type { Clock, Logger } from '../ports/runtime.js';
import type { SpendDetailSource, SpendLine, TeamSpendSource } from '../ports/team-spend.js';
import { composeBudgetAlert, composeUnallocatedAlert, composeUnpricedModelAlert, percent1, type AlertText, type SpendDriver } from './budget-alert-mail.js';

export interface EvaluateBudgetsDeps {
  readonly budgets: BudgetSource;
  /** Only for the currency budgets must be in and the price book named in an unpriced-model alert. */
  readonly priceBooks: PriceBookSource;
  readonly spend: TeamSpendSource;
  /** The month's lines so far: who and which models drive a team's spend, and which models have no price. */
  readonly details: SpendDetailSource;
  readonly directory: Directory;
  readonly alerts: AlertLedger;
  readonly mailer: Mailer;
  /** The Teams channel, when TEAMS_WEBHOOK_URL is set. */
  readonly chat?: ChatNotifier;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: {
    readonly timeZone: string;
    readonly mailFrom: string;
    readonly financeRecipients: readonly string[];
    /** Copy finance on team budget alerts. */
    readonly ccFinance: boolean;
    /** Where a lead looks the numbers up; `{teamId}` and `{month}` are filled in. */
    readonly costLookupUrl: string | null;
    /** Percent levels of the unallocated share of the month's tokens that alert finance. */
    readonly unallocatedAlertPercents: readonly number[];
    /** A claim older than this is taken to belong to a run that died (default 15 minutes). */
    readonly staleClaimMs?: number;
    readonly trailingWorkingDays?: number;
  };
}

export interface EvaluateBudgetsRequest {
  /** The month to evaluate; default: the month of `today`. */
  readonly month?: string;
  /** The evaluation day in the reporting zone; default: the clock's day there. */
  readonly today?: string;
}

export type AlertKind = 'budget' | 'unpriced-model' | 'unallocated';

export interface AlertOutcome {
  readonly key: string;
  readonly kind: AlertKind;
  readonly channel: AlertChannel;
  /**
   * sent: went out now; already-sent: an earlier run sent it; superseded: recorded, not announced (a higher
   * level said more); busy: another run holds it right now; failed: will be retried by the next run;
   * no-recipients: nobody to send to (nothing recorded, so it goes once someone is configured); lost-claim:
   * sent, but another run took the claim over as stale meanwhile and may send it too.
   */
  readonly status: 'sent' | 'already-sent' | 'superseded' | 'busy' | 'failed' | 'no-recipients' | 'lost-claim';
  readonly subject?: string;
  readonly error?: string;
}

export interface EvaluateBudgetsResult {
  readonly month: string;
  readonly today: string;
  readonly budgetSource: string;
  readonly teams: readonly TeamBudgetStatus[];
  readonly alerts: readonly AlertOutcome[];
}

/** What each alert outcome means, in words for whoever reads a run's summary. */
export const ALERT_STATUS_MEANINGS: Readonly<Record<AlertOutcome['status'], string>> = {
  sent: 'sent now',
  'already-sent': 'sent by an earlier run, not repeated',
  superseded: 'not sent: a higher alert level of the same kind speaks for it',
  busy: 'being sent by another run right now',
  failed: 'could not be sent; the next run tries again',
  'no-recipients': 'nobody to send it to yet; it goes once a lead or finance address is set',
  'lost-claim': 'sent, but another run took its claim over meanwhile and may send it too',
};

/** "4 superseded (not sent: a higher alert level ...), 1 sent (sent now)". */
export function describeAlertCounts(alerts: readonly Pick<AlertOutcome, 'status'>[]): string {
  if (alerts.length === 0) return 'none due';
  const counts = new Map<AlertOutcome['status'], number>();
  for (const alert of alerts) counts.set(alert.status, (counts.get(alert.status) ?? 0) + 1);
  return [...counts.entries()].map(([status, n]) => `${n} ${status} (${ALERT_STATUS_MEANINGS[status]})`).join(', ');
}

export const DEFAULT_STALE_CLAIM_MS = 15 * 60 * 1000;
const TOP_DRIVERS = 3;

/** The cost API's path for a team's month (docs/api.md): named in alerts when no cost page URL is set. */
export function costApiPath(teamId: string, month: string): string {
  return `/api/teams/${encodeURIComponent(teamId)}/costs?month=${encodeURIComponent(month)}`;
}

/**
 * Checks every team's month-to-date spend and forecast against its budget and tells the team's leads (finance
 * in copy) once per threshold; tells finance once about each unpriced model and each level of unallocated
 * usage. Every alert goes out at most once per channel, across reruns and concurrent runs (AlertLedger), and
 * a channel that failed is retried by the next run without repeating the channels that worked.
 */
export async function evaluateBudgets(deps: EvaluateBudgetsDeps, request: EvaluateBudgetsRequest = {}): Promise<EvaluateBudgetsResult> {
  const { settings, logger } = deps;
  const today = request.today !== undefined ? parseDay(request.today) : dayInZone(deps.clock.now(), settings.timeZone);
  const month = request.month !== undefined ? parseMonth(request.month) : monthOfDay(today);

  const priceBook = await deps.priceBooks.load();
  const plan = await deps.budgets.load({ currency: priceBook.currency });
  const budgets = plan.budgetsFor(month);
  logger.progress('budgets', `evaluating ${budgets.length} budget(s) for ${month} as of ${today} (${plan.source})`);

  const [series, lines] = await Promise.all([deps.spend.monthToDate(month), deps.details.monthLines(month)]);
  const spendByTeam = new Map<string, DailyAmount[]>();
  for (const entry of series) {
    const list = spendByTeam.get(entry.teamId) ?? [];
    list.push({ day: entry.day, cost: entry.cost });
    spendByTeam.set(entry.teamId, list);
  }
  const teams = evaluateTeamBudgets({
    month,
    today,
    budgets,
    spend: spendByTeam,
    ...(settings.trailingWorkingDays !== undefined ? { options: { trailingWorkingDays: settings.trailingWorkingDays } } : {}),
  });

  const directory = await deps.directory.resolve([...new Set(lines.map((line) => line.userId).filter((id) => id !== ''))].sort());
  const outcomes: AlertOutcome[] = [];
  const channels: AlertChannel[] = deps.chat ? ['mail', 'teams'] : ['mail'];

  for (const status of teams) {
    const team = directory.teams.get(status.budget.teamId);
    const teamName = team?.name ?? status.budget.teamId;
    if (!team) logger.warn(`team "${status.budget.teamId}" has a budget but is not in the directory: its alerts go to finance`);
    for (const crossing of status.crossings) {
      const key = budgetAlertKey(crossing);
      if (!crossing.headline) {
        outcomes.push(...(await supersede(deps, key, 'budget', channels, `a higher level was crossed in the same run`)));
        continue;
      }
      const leads = team?.leads ?? [];
      const teamLines = lines.filter((line) => line.teamId === status.budget.teamId);
      const text = composeBudgetAlert({
        status,
        crossing,
        teamName,
        timeZone: settings.timeZone,
        topUsers: topDrivers(teamLines, (line) => line.userName || line.upn || line.userId),
        topModels: topDrivers(teamLines, (line) => line.model),
        lookup: { url: lookupUrl(settings.costLookupUrl, status.budget.teamId, month), apiPath: costApiPath(status.budget.teamId, month) },
        ...(leads.length === 0 ? { note: `${teamName} has no lead in the directory, so this went to finance.` } : {}),
      });
      const to = leads.length > 0 ? leads : settings.financeRecipients;
      const cc = leads.length > 0 && settings.ccFinance ? settings.financeRecipients.filter((address) => !leads.includes(address)) : [];
      outcomes.push(...(await deliver(deps, { key, kind: 'budget', channels, text, to, cc })));
    }
  }

  outcomes.push(...(await financeAlerts(deps, { month, lines, series, channels, priceBookVersion: priceBook.version })));

  for (const outcome of outcomes) {
    if (outcome.status === 'sent') logger.info(`alert ${outcome.key} sent by ${outcome.channel}: ${outcome.subject ?? ''}`);
    if (outcome.status === 'failed') logger.error(`alert ${outcome.key} failed by ${outcome.channel} (the next run retries it): ${outcome.error ?? ''}`);
    if (outcome.status === 'lost-claim') logger.warn(`alert ${outcome.key} (${outcome.channel}) was re-claimed by another run while this one sent it`);
  }
  for (const status of teams) {
    logger.progress(
      'budgets',
      `${status.budget.teamId}: ${percent1(status.actualPercent)} of budget spent, forecast ${percent1(status.forecastPercent)}, ${status.daysLeft} day(s) left`,
    );
  }
  return { month, today, budgetSource: plan.source, teams, alerts: outcomes };
}

export function budgetAlertKey(crossing: Pick<ThresholdCrossing, 'month' | 'teamId' | 'kind' | 'threshold'>): string {
  return `${crossing.month}|budget|${crossing.teamId}|${crossing.kind}|${crossing.threshold}`;
}

function lookupUrl(template: string | null, teamId: string, month: string): string | null {
  if (!template) return null;
  return template.replaceAll('{teamId}', encodeURIComponent(teamId)).replaceAll('{month}', encodeURIComponent(month));
}

function topDrivers(lines: readonly SpendLine[], labelOf: (line: SpendLine) => string): SpendDriver[] {
  const groups = new Map<string, { label: string; costs: Money[]; tokens: number }>();
  for (const line of lines) {
    const label = labelOf(line);
    const group = groups.get(label) ?? { label, costs: [], tokens: 0 };
    group.costs.push(line.cost);
    group.tokens += totalTokens(line.tokens);
    groups.set(label, group);
  }
  return [...groups.values()]
    .map((group) => ({ label: group.label, cost: sumMoney(group.costs), tokens: group.tokens }))
    .sort((a, b) => b.cost.comparedTo(a.cost) || b.tokens - a.tokens || a.label.localeCompare(b.label))
    .slice(0, TOP_DRIVERS);
}

async function financeAlerts(
  deps: EvaluateBudgetsDeps,
  input: { month: string; lines: readonly SpendLine[]; series: readonly { teamId: string; tokens: number }[]; channels: AlertChannel[]; priceBookVersion: string },
): Promise<AlertOutcome[]> {
  const outcomes: AlertOutcome[] = [];
  const finance = deps.settings.financeRecipients;

  const unpriced = new Map<string, { tokens: number; teams: Set<string> }>();
  for (const line of input.lines) {
    const tokens = totalTokens(line.unpricedTokens);
    if (tokens === 0) continue;
    const entry = unpriced.get(line.model) ?? { tokens: 0, teams: new Set<string>() };
    entry.tokens += tokens;
    entry.teams.add(line.teamId);
    unpriced.set(line.model, entry);
  }
  for (const [model, entry] of [...unpriced.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const text = composeUnpricedModelAlert({ month: input.month, model, unpricedTokens: entry.tokens, teams: [...entry.teams].sort(), priceBookVersion: input.priceBookVersion });
    outcomes.push(...(await deliver(deps, { key: `${input.month}|unpriced|${model}`, kind: 'unpriced-model', channels: input.channels, text, to: finance, cc: [] })));
  }

  let all = 0;
  let unallocated = 0;
  for (const entry of input.series) {
    all += entry.tokens;
    if (entry.teamId === UNALLOCATED_TEAM) unallocated += entry.tokens;
  }
  for (const crossing of unallocatedCrossings(input.month, unallocated, all, deps.settings.unallocatedAlertPercents)) {
    const key = `${input.month}|unallocated|${crossing.level}`;
    if (!crossing.headline) {
      outcomes.push(...(await supersede(deps, key, 'unallocated', input.channels, 'a higher level was crossed in the same run')));
      continue;
    }
    const lookup = { url: lookupUrl(deps.settings.costLookupUrl, UNALLOCATED_TEAM, input.month), apiPath: costApiPath(UNALLOCATED_TEAM, input.month) };
    const text = composeUnallocatedAlert({ crossing, lookup });
    outcomes.push(...(await deliver(deps, { key, kind: 'unallocated', channels: input.channels, text, to: finance, cc: [] })));
  }
  return outcomes;
}

/** Records a crossing that a higher one of the same run speaks for, so it never fires later on its own. */
async function supersede(deps: EvaluateBudgetsDeps, key: string, kind: AlertKind, channels: readonly AlertChannel[], why: string): Promise<AlertOutcome[]> {
  const outcomes: AlertOutcome[] = [];
  for (const channel of channels) {
    const now = deps.clock.now();
    const claimed = await deps.alerts.claim(key, channel, { now, staleAfterMs: deps.settings.staleClaimMs ?? DEFAULT_STALE_CLAIM_MS });
    if (claimed.status === 'claimed') {
      await deps.alerts.settle(claimed.claim, { state: 'superseded', detail: why }, now);
      outcomes.push({ key, kind, channel, status: 'superseded' });
    } else {
      outcomes.push({ key, kind, channel, status: claimed.status === 'busy' ? 'busy' : claimed.record.state === 'sent' ? 'already-sent' : 'superseded' });
    }
  }
  return outcomes;
}

/** Sends one alert on each channel that has not had it yet; a failing channel does not stop the others. */
async function deliver(
  deps: EvaluateBudgetsDeps,
  alert: { key: string; kind: AlertKind; channels: readonly AlertChannel[]; text: AlertText; to: readonly string[]; cc: readonly string[] },
): Promise<AlertOutcome[]> {
  const outcomes: AlertOutcome[] = [];
  const base = { key: alert.key, kind: alert.kind, subject: alert.text.subject };
  for (const channel of alert.channels) {
    if (channel === 'mail' && alert.to.length === 0) {
      deps.logger.warn(`no recipients for alert ${alert.key}: set the team's leads or FINANCE_RECIPIENTS`);
      outcomes.push({ ...base, channel, status: 'no-recipients' });
      continue;
    }
    const now = deps.clock.now();
    const claimed = await deps.alerts.claim(alert.key, channel, { now, staleAfterMs: deps.settings.staleClaimMs ?? DEFAULT_STALE_CLAIM_MS });
    if (claimed.status !== 'claimed') {
      outcomes.push({ ...base, channel, status: claimed.status === 'busy' ? 'busy' : claimed.record.state === 'sent' ? 'already-sent' : 'superseded' });
      continue;
    }
    let detail: string;
    try {
      if (channel === 'mail') {
        const sent = await deps.mailer.send({
          from: deps.settings.mailFrom,
          to: alert.to,
          ...(alert.cc.length > 0 ? { cc: alert.cc } : {}),
          ...alert.text.mail,
          attachments: [],
          idempotencyKey: `${alert.key}|mail`,
        });
        detail = `${sent.messageId} ${sent.location}`;
      } else {
        detail = (await deps.chat!.post(alert.text.chat)).location;
      }
    } catch (error) {
      const message = describeError(error);
      await deps.alerts.settle(claimed.claim, { state: 'failed', error: message }, deps.clock.now());
      outcomes.push({ ...base, channel, status: 'failed', error: message });
      continue;
    }
    const kept = await deps.alerts.settle(claimed.claim, { state: 'sent', detail }, deps.clock.now());
    outcomes.push({ ...base, channel, status: kept ? 'sent' : 'lost-claim' });
  }
  return outcomes;
}


/**
 * The daily ingest's hook: evaluates each month the ingest touched. A failure is logged, not thrown, so that
 * a mail or Teams outage never fails an ingest that succeeded; the next run retries what did not go out.
 */
export async function evaluateBudgetsAfterIngest(deps: EvaluateBudgetsDeps, months: readonly string[]): Promise<EvaluateBudgetsResult[]> {
  const results: EvaluateBudgetsResult[] = [];
  for (const month of months) {
    try {
      results.push(await evaluateBudgets(deps, { month }));
    } catch (error) {
      deps.logger.error(`budget evaluation for ${month} failed (the next run tries again): ${describeError(error)}`);
    }
  }
  return results;
}
