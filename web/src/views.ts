/**
 * The three views. Every figure shown is a field of an API response, formatted, never recomputed: the page's
 * totals are the API's totals (which already add up to the cent). The only arithmetic is for charts (running
 * spend) and the change from last month.
 */
import type { AllTeams, Figures, MyCosts, Source, TeamCosts, TeamRow } from './api';
import { UNALLOCATED_TEAM } from './api';
import { barChart, burnDownChart, cumulativeChart } from './charts';
import { h } from './dom';
import { change, compactCount, count, dateTime, dayLabel, money, monthName, percentText, signedMoney } from './format';
import { daysInMonth } from './months';

export function sourceBadge(source: Source): HTMLElement {
  return source.status === 'closed'
    ? h('p', { class: 'badge closed', 'data-figure': 'source' }, `Closed · revision ${source.revision} · ${dateTime(source.closedAt)}`)
    : h('p', { class: 'badge open', 'data-figure': 'source' }, source.asOf === null ? 'Month to date · no usage yet' : `Month to date · through ${dayLabel(source.asOf)}`);
}

function card(label: string, value: string, figure: string, note?: string | HTMLElement | null, tone = ''): HTMLElement {
  return h('div', { class: `card ${tone}` }, h('p', { class: 'card-label' }, label), h('p', { class: 'card-value', 'data-figure': figure }, value), note ? h('p', { class: 'card-note' }, note) : null);
}

function section(title: string, id: string, ...children: (Node | null | false)[]): HTMLElement {
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function wideSection(title: string, id: string, ...children: (Node | null | false)[]): HTMLElement {
  // Full width: chart and table side by side on a desktop, stacked on a phone.
  const panel = section(title, id, h('div', { class: 'split' }, ...children.filter((child): child is Node => child !== null && child !== false)));
  panel.classList.add('wide');
  return panel;
}

function scrollTable(label: string, table: HTMLTableElement): HTMLElement {
  // Focusable so a keyboard can scroll a wide table on a narrow screen.
  return h('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

function figuresTable(label: string, keyHeader: string, rows: { key: string; figures: Figures; attributes?: Record<string, string> }[], currency: string | null): HTMLElement {
  return scrollTable(
    label,
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, label),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, keyHeader), h('th', { scope: 'col', class: 'num' }, 'Cost'), h('th', { scope: 'col', class: 'num secondary' }, 'Tokens'), h('th', { scope: 'col', class: 'num secondary' }, 'Requests'))),
      h(
        'tbody',
        {},
        rows.map((row) =>
          h(
            'tr',
            row.attributes ?? {},
            h('th', { scope: 'row' }, row.key),
            h('td', { class: 'num', 'data-figure': 'amount' }, money(row.figures.amount, currency), row.figures.unpricedTokens > 0 ? h('span', { class: 'flag' }, `${compactCount(row.figures.unpricedTokens)} unpriced tokens`) : null),
            h('td', { class: 'num secondary' }, compactCount(row.figures.totalTokens)),
            h('td', { class: 'num secondary' }, count(row.figures.requests)),
          ),
        ),
      ),
    ),
  );
}

function spentByDay(days: { day: string; amount: string }[]): Map<string, number> {
  return new Map(days.map((day) => [day.day, Number(day.amount)]));
}

function throughDay(source: Source, month: string): string | null {
  if (source.status === 'closed') return daysInMonth(month).at(-1)!;
  return source.asOf;
}

/** Lead and finance: the team in full. Member: the team's total and budget, and their own figures. */
export function teamView(costs: TeamCosts, previous: TeamCosts | null): HTMLElement {
  const currency = costs.currency ?? costs.budget?.currency ?? null;
  const full = costs.view === 'full';
  const breakdown = costs.breakdown;
  const days = daysInMonth(costs.month);
  const through = throughDay(costs.source, costs.month);
  const budget = costs.budget;
  const forecast = costs.forecast;
  const thresholds = budget?.actualThresholds ?? [100];
  const overBudget = budget !== null && Number(budget.remaining) < 0;
  const forecastOver = forecast?.budgetPercent !== null && forecast?.budgetPercent !== undefined && Number(forecast.budgetPercent) > 100;

  // Month to date is compared with the same days of last month, a closed month with the whole of it.
  const sameDays = costs.source.status === 'open' && costs.source.asOf !== null ? Number(costs.source.asOf.slice(8, 10)) : null;
  const cents = (amount: string) => Math.round(Number(amount) * 100);
  const previousTotal =
    previous === null || previous.currency === null
      ? null
      : sameDays === null
        ? cents(previous.total.amount) / 100
        : previous.breakdown.byDay.filter((day) => Number(day.day.slice(8, 10)) <= sameDays).reduce((sum, day) => sum + cents(day.amount), 0) / 100;
  const delta = previousTotal === null ? null : (cents(costs.total.amount) - Math.round(previousTotal * 100)) / 100;
  const compared = previous === null ? '' : sameDays === null ? monthName(previous.month) : `${dayLabel(`${previous.month}-01`)}–${dayLabel(`${previous.month}-${String(sameDays).padStart(2, '0')}`)}`;
  const deltaNote = delta === null ? 'no figures for the month before' : previousTotal === 0 ? `from ${money(0, currency)} (${compared})` : `${change(delta / previousTotal!)} on ${compared}`;

  const cards = h(
    'div',
    { class: 'cards' },
    card(full ? 'Team spend' : 'Team total', money(costs.total.amount, currency), 'team-total', `${compactCount(costs.total.totalTokens)} tokens · ${count(costs.total.requests)} requests`),
    budget === null
      ? card('Budget', 'none set', 'budget')
      : card('Budget', money(budget.amount, currency), 'budget', `${percentText(budget.usedPercent)} used · ${money(Math.abs(Number(budget.remaining)), currency)} ${Number(budget.remaining) < 0 ? 'over' : 'left'}`, overBudget ? 'alert' : ''),
    forecast === null
      ? null
      : card(
          costs.source.status === 'closed' ? 'Month end' : 'Forecast month end',
          money(forecast.amount, currency),
          'forecast',
          forecast.budgetPercent === null ? forecast.basis : `${percentText(forecast.budgetPercent)} of budget${costs.source.status === 'closed' || forecast.remainingWorkingDays === null ? '' : ` · ${forecast.remainingWorkingDays} working and ${forecast.remainingWeekendDays} weekend days to go`}`,
          forecastOver ? 'alert' : '',
        ),
    full ? card('Change from last month', delta === null ? '–' : signedMoney(delta, currency), 'change', deltaNote) : null,
    !full ? card('Your cost', money(breakdown.total.amount, currency), 'own-total', `${compactCount(breakdown.total.totalTokens)} tokens · ${count(breakdown.total.requests)} requests`) : null,
    costs.total.unpricedTokens > 0 ? card('Unpriced tokens', compactCount(costs.total.unpricedTokens), 'unpriced', 'no price was in force: not in the cost', 'alert') : null,
  );

  // A member's breakdown is their own: burning the team's budget down with it would mislead.
  const chartPanel = section(
    !full ? 'Your spend to date' : budget === null ? 'Spend to date' : 'Budget burn-down',
    'burn-title',
    !full || budget === null
      ? cumulativeChart(days, spentByDay(breakdown.byDay), through, currency)
      : burnDownChart({ days, spentByDay: spentByDay(breakdown.byDay), budget: Number(budget.amount), forecast: forecast === null ? null : Number(forecast.amount), thresholds, currency, throughDay: through }),
    !full ? h('p', { class: 'note' }, 'Your own spend; the team is shown as its total and budget only.') : null,
  );

  const byDay = section(
    full ? 'Spend by day' : 'Your spend by day',
    'day-title',
    barChart('Spend by day', breakdown.byDay.map((day) => dayLabel(day.day)), breakdown.byDay.map((day) => Number(day.amount)), currency),
    h('details', {}, h('summary', {}, 'Figures by day'), figuresTable('Spend by day', 'Day', breakdown.byDay.map((day) => ({ key: dayLabel(day.day), figures: day })), currency)),
  );

  const previousModels = new Map((previous?.breakdown.byModel ?? []).map((model) => [model.model, Number(model.amount)]));
  const byModel = section(
    full ? 'By model' : 'Your models',
    'model-title',
    barChart('Spend by model', breakdown.byModel.map((model) => model.model), breakdown.byModel.map((model) => Number(model.amount)), currency, { horizontal: true, height: 60 + 34 * breakdown.byModel.length }),
    figuresTable('Spend by model', 'Model', breakdown.byModel.map((model) => ({ key: model.pricedModel === null ? `${model.model} (unpriced)` : model.model, figures: model, attributes: { 'data-model': model.model } })), currency),
    full && previous !== null && previous.currency !== null && costs.source.status === 'closed'
      ? h(
          'p',
          { class: 'note' },
          'Change from last month: ',
          breakdown.byModel.map((model, index) => `${index > 0 ? ' · ' : ''}${model.model} ${signedMoney(Number(model.amount) - (previousModels.get(model.model) ?? 0), currency)}`).join(''),
        )
      : null,
  );

  const byTier = section(full ? 'By tier' : 'Your tiers', 'tier-title', figuresTable('Spend by tier', 'Tier', breakdown.byTier.map((tier) => ({ key: tier.tier, figures: tier })), currency));

  const users = [...breakdown.byUser].sort((a, b) => Number(b.amount) - Number(a.amount));
  const byUser = full
    ? wideSection(
        `By person (${count(users.length)})`,
        'user-title',
        barChart('Top spenders', users.slice(0, 10).map((user) => user.userName || user.upn || user.userId), users.slice(0, 10).map((user) => Number(user.amount)), currency, { horizontal: true, height: 60 + 30 * Math.min(users.length, 10) }),
        figuresTable('Spend by person', 'Person', users.map((user) => ({ key: user.userName || user.upn || user.userId, figures: user, attributes: { 'data-user-id': user.userId } })), currency),
      )
    : null;

  const billed = costs.billed;
  const billedPanel =
    billed === null || billed === undefined
      ? null
      : section(
          'Billed vs list',
          'billed-title',
          h('div', { class: 'cards' }, card('List price', money(billed.listAmount ?? costs.total.amount, currency), 'list'), card('Billed', money(billed.amount, billed.currency ?? currency), 'billed')),
        );

  return h(
    'div',
    { class: 'view', 'data-view': full ? 'team-full' : 'member', 'data-team-id': costs.team.id },
    h('div', { class: 'view-head' }, h('h2', { class: 'view-title' }, costs.team.name, costs.team.costCenter ? h('span', { class: 'muted' }, ` · ${costs.team.costCenter}`) : null), sourceBadge(costs.source)),
    cards,
    h('div', { class: 'grid' }, chartPanel, byDay, byModel, byTier, billedPanel, byUser),
  );
}

type SortKey = 'name' | 'amount' | 'budget' | 'used' | 'forecast' | 'tokens' | 'unpriced' | 'costCenter';

interface FinanceState {
  filter: string;
  sort: SortKey;
  descending: boolean;
}

const financeState: FinanceState = { filter: '', sort: 'amount', descending: true };

function sortValue(team: TeamRow, key: SortKey): number | string {
  switch (key) {
    case 'name':
      return team.teamName.toLowerCase();
    case 'costCenter':
      return String(team.costCenter ?? '');
    case 'amount':
      return Number(team.amount);
    case 'budget':
      return team.budget === null ? -1 : Number(team.budget.amount);
    case 'used':
      return team.budget === null ? -1 : Number(team.budget.usedPercent);
    case 'forecast':
      return team.forecast === null ? -1 : Number(team.forecast.amount);
    case 'tokens':
      return team.totalTokens;
    case 'unpriced':
      return team.unpricedTokens;
  }
}

export function visibleTeams(all: AllTeams): TeamRow[] {
  const needle = financeState.filter.trim().toLowerCase();
  const rows = all.teams.filter((team) => needle === '' || `${team.teamId} ${team.teamName} ${team.costCenter ?? ''}`.toLowerCase().includes(needle));
  const direction = financeState.descending ? -1 : 1;
  return rows.sort((a, b) => {
    const left = sortValue(a, financeState.sort);
    const right = sortValue(b, financeState.sort);
    return (left < right ? -1 : left > right ? 1 : 0) * direction || a.teamId.localeCompare(b.teamId);
  });
}

/** The current view as CSV (what is filtered and sorted on screen), amounts as the API sent them. */
export function financeCsv(all: AllTeams, rows: TeamRow[]): string {
  const withCostCenter = all.teams.some((team) => team.costCenter);
  const header = ['month', 'team_id', 'team_name', ...(withCostCenter ? ['cost_center'] : []), 'amount', 'currency', 'budget', 'budget_used_percent', 'forecast', 'total_tokens', 'requests', 'unpriced_tokens', 'users', 'source', 'revision'];
  const cell = (value: string | number | null | undefined) => {
    const text = value === null || value === undefined ? '' : String(value);
    const defused = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
    return /[",\r\n]/.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
  };
  const revision = all.source.status === 'closed' ? all.source.revision : '';
  const lines = rows.map((team) =>
    [all.month, team.teamId, team.teamName, ...(withCostCenter ? [team.costCenter ?? ''] : []), team.amount, all.currency, team.budget?.amount, team.budget?.usedPercent, team.forecast?.amount, team.totalTokens, team.requests, team.unpricedTokens, team.users, all.source.status, revision].map(cell).join(','),
  );
  return [header.join(','), ...lines].join('\r\n') + '\r\n';
}

export function financeView(all: AllTeams, onOpenTeam: (teamId: string) => void, rerender: () => void): HTMLElement {
  const currency = all.currency;
  const withCostCenter = all.teams.some((team) => team.costCenter);
  const unallocated = all.teams.find((team) => team.teamId === UNALLOCATED_TEAM);
  const unpricedTokens = all.teams.reduce((sum, team) => sum + team.unpricedTokens, 0);
  const overBudget = all.teams.filter((team) => team.budget !== null && Number(team.budget.remaining) < 0).length;
  const rows = visibleTeams(all);

  const header = (label: string, key: SortKey, numeric = true, extra = '') => {
    const active = financeState.sort === key;
    return h(
      'th',
      { scope: 'col', class: `${numeric ? 'num' : ''} ${extra}`.trim(), 'aria-sort': active ? (financeState.descending ? 'descending' : 'ascending') : null },
      h(
        'button',
        {
          type: 'button',
          class: 'sort',
          'data-sort': key,
          onclick: () => {
            financeState.descending = active ? !financeState.descending : key !== 'name' && key !== 'costCenter';
            financeState.sort = key;
            rerender();
          },
        },
        label,
        h('span', { 'aria-hidden': 'true' }, active ? (financeState.descending ? ' ▼' : ' ▲') : ''),
      ),
    );
  };

  const csvLink = h('a', { class: 'button', download: `teams-${all.month}-view.csv`, href: '#' }, 'Download CSV (this view)');
  csvLink.addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([financeCsv(all, visibleTeams(all))], { type: 'text/csv' }));
    csvLink.href = url;
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  const filter = h('input', { type: 'search', id: 'team-filter', value: financeState.filter, placeholder: 'team, id or cost center', autocomplete: 'off' });
  filter.addEventListener('input', () => {
    financeState.filter = filter.value;
    rerender();
    const again = document.getElementById('team-filter') as HTMLInputElement | null;
    again?.focus();
    again?.setSelectionRange(again.value.length, again.value.length);
  });

  const table = h(
    'table',
    { class: 'teams' },
    h('caption', { class: 'visually-hidden' }, `Teams in ${monthName(all.month)}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        header('Team', 'name', false),
        withCostCenter ? header('Cost center', 'costCenter', false) : null,
        header('Cost', 'amount'),
        header('Budget', 'budget', true, 'secondary'),
        header('Used', 'used'),
        header('Forecast', 'forecast', true, 'secondary'),
        header('Tokens', 'tokens', true, 'secondary'),
        header('Unpriced tokens', 'unpriced', true, 'secondary'),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((team) =>
        h(
          'tr',
          { 'data-team-id': team.teamId, class: team.teamId === UNALLOCATED_TEAM ? 'unallocated' : '' },
          h('th', { scope: 'row' }, h('a', { href: `#month=${all.month}&team=${encodeURIComponent(team.teamId)}`, onclick: (event: Event) => (event.preventDefault(), onOpenTeam(team.teamId)) }, team.teamId === UNALLOCATED_TEAM ? 'Unallocated' : team.teamName)),
          withCostCenter ? h('td', {}, team.costCenter ?? '–') : null,
          h('td', { class: 'num', 'data-figure': 'amount' }, money(team.amount, currency)),
          h('td', { class: 'num secondary' }, team.budget === null ? '–' : money(team.budget.amount, currency)),
          h('td', { class: `num ${team.budget !== null && Number(team.budget.remaining) < 0 ? 'over' : ''}` }, team.budget === null ? '–' : percentText(team.budget.usedPercent)),
          h('td', { class: 'num secondary' }, team.forecast === null ? '–' : money(team.forecast.amount, currency)),
          h('td', { class: 'num secondary' }, compactCount(team.totalTokens)),
          h('td', { class: 'num secondary' }, team.unpricedTokens > 0 ? compactCount(team.unpricedTokens) : '–'),
        ),
      ),
    ),
  );

  return h(
    'div',
    { class: 'view', 'data-view': 'finance' },
    h('div', { class: 'view-head' }, h('h2', { class: 'view-title' }, 'All teams'), sourceBadge(all.source)),
    h(
      'div',
      { class: 'cards' },
      card('Total', money(all.total.amount, currency), 'org-total', `${count(all.teams.length)} teams · ${compactCount(all.total.totalTokens)} tokens`),
      card('Unallocated', unallocated === undefined ? money(0, currency) : money(unallocated.amount, currency), 'unallocated', 'usage no team could be found for', unallocated !== undefined && Number(unallocated.amount) > 0 ? 'warn' : ''),
      card('Unpriced tokens', compactCount(unpricedTokens), 'unpriced', unpricedTokens > 0 ? 'models with no price in force: not in any cost' : 'every token was priced', unpricedTokens > 0 ? 'alert' : ''),
      card('Over budget', count(overBudget), 'over-budget', 'teams past their budget'),
      all.source.status === 'closed' ? card('Revision', String(all.source.revision), 'revision', `closed ${dateTime(all.source.closedAt)}`) : null,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'teams-title' },
      h('h2', { id: 'teams-title' }, 'Teams'),
      h('div', { class: 'toolbar' }, h('label', { for: 'team-filter' }, 'Filter'), filter, csvLink, h('p', { class: 'muted', role: 'status' }, `${count(rows.length)} of ${count(all.teams.length)} teams`)),
      scrollTable('Teams', table),
    ),
    section(
      'Cost by team',
      'team-chart-title',
      barChart('Cost by team', rows.slice(0, 15).map((team) => (team.teamId === UNALLOCATED_TEAM ? 'Unallocated' : team.teamName)), rows.slice(0, 15).map((team) => Number(team.amount)), currency, { horizontal: true, height: 60 + 26 * Math.min(rows.length, 15) }),
    ),
  );
}

/** A member's own month across teams (from /api/me/costs), when they have no team page to open. */
export function myView(mine: MyCosts): HTMLElement {
  const currency = mine.currency;
  return h(
    'div',
    { class: 'view', 'data-view': 'me' },
    h('div', { class: 'view-head' }, h('h2', { class: 'view-title' }, 'Your usage'), sourceBadge(mine.source)),
    h('div', { class: 'cards' }, card('Your cost', money(mine.total.amount, currency), 'own-total', `${compactCount(mine.total.totalTokens)} tokens · ${count(mine.total.requests)} requests`)),
    h(
      'div',
      { class: 'grid' },
      section('By team', 'my-team-title', figuresTable('Your cost by team', 'Team', mine.byTeam.map((team) => ({ key: team.teamName, figures: team })), currency)),
      section('By model', 'my-model-title', figuresTable('Your cost by model', 'Model', mine.byModel.map((model) => ({ key: model.model, figures: model })), currency)),
    ),
  );
}
