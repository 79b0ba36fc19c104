import './style.css';
import { ApiError, CostApi, UNALLOCATED_TEAM, type AllTeams, type MyCosts, type TeamCosts } from './api';
import { loadConfig, signIn, type PageConfig } from './auth';
import { destroyCharts } from './charts';
import { h, replaceChildren } from './dom';
import { monthName } from './format';
import { addMonths, currentMonth, MONTH } from './months';
import { financeView, myView, teamView } from './views';

const main = document.getElementById('main') as HTMLElement;
const sessionBox = document.getElementById('session') as HTMLElement;
const LAST_TEAM_KEY = 'llm-costs.team';

interface Place {
  month: string;
  team: string | null;
}

function place(config: PageConfig): Place {
  const params = new URLSearchParams(location.hash.slice(1));
  const month = params.get('month') ?? '';
  return { month: MONTH.test(month) ? month : (config.defaultMonth ?? currentMonth()), team: params.get('team') };
}

function teamOf(mine: MyCosts): string | null {
  return mine.byTeam.find((share) => share.teamId !== UNALLOCATED_TEAM)?.teamId ?? null;
}

function go(next: Place): void {
  const params = new URLSearchParams({ month: next.month });
  if (next.team !== null) params.set('team', next.team);
  location.hash = params.toString();
}

function monthPicker(current: Place, finance: boolean): HTMLElement {
  const input = h('input', { type: 'month', id: 'month', value: current.month, required: true });
  input.addEventListener('change', () => {
    if (MONTH.test(input.value)) go({ ...current, month: input.value });
  });
  return h(
    'nav',
    { class: 'toolbar month-bar', 'aria-label': 'Month and team' },
    h('button', { type: 'button', class: 'step', id: 'previous-month', 'aria-label': `Previous month, ${monthName(addMonths(current.month, -1))}`, onclick: () => go({ ...current, month: addMonths(current.month, -1) }) }, '‹'),
    h('label', { for: 'month' }, 'Month'),
    input,
    h('button', { type: 'button', class: 'step', id: 'next-month', 'aria-label': `Next month, ${monthName(addMonths(current.month, 1))}`, onclick: () => go({ ...current, month: addMonths(current.month, 1) }) }, '›'),
    finance && current.team !== null ? h('a', { href: `#month=${current.month}`, class: 'button' }, '← All teams') : null,
  );
}

function problem(error: unknown): HTMLElement {
  const text =
    error instanceof ApiError
      ? error.status === 403
        ? 'You are not allowed to see these costs.'
        : error.status === 401
          ? 'Your sign-in has expired: sign out and in again.'
          : `${error.message} (${error.code})`
      : String(error instanceof Error ? error.message : error);
  const month = new URLSearchParams(location.hash.slice(1)).get('month');
  return h(
    'div',
    { class: 'panel problem', role: 'alert', 'data-problem': error instanceof ApiError ? String(error.status) : 'error' },
    h('h2', {}, 'Nothing to show'),
    h('p', {}, text),
    error instanceof ApiError && error.status === 403 ? h('p', {}, h('a', { href: month === null ? '#' : `#month=${month}` }, 'Back to what you can see')) : null,
  );
}

async function start(): Promise<void> {
  const config = await loadConfig();
  const session = await signIn(config.signIn, main);
  replaceChildren(sessionBox, h('span', { class: 'who', 'data-upn': session.upn }, session.name), h('button', { type: 'button', class: 'link', onclick: () => void session.signOut() }, 'Sign out'));
  const api = new CostApi(() => session.token());
  let finance: boolean | undefined;
  let rendering = 0;

  async function show(): Promise<void> {
    const ticket = ++rendering;
    const here = place(config);
    const focused = document.activeElement?.id;
    const started = performance.now();
    const body = h('div', { class: 'content', 'aria-busy': 'true' }, h('p', { class: 'loading', role: 'status' }, `Loading ${monthName(here.month)}…`));
    const draw = (picker: boolean) => {
      destroyCharts();
      replaceChildren(main, monthPicker(here, picker), body);
      if (focused) document.getElementById(focused)?.focus();
    };
    draw(finance === true);
    let content: HTMLElement;
    try {
      let all: AllTeams | undefined;
      if (finance === undefined) {
        try {
          all = await api.teams(here.month);
          finance = true;
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 403)) throw error;
          finance = false;
        }
      }
      let team = here.team;
      if (team === null && !finance) {
        const mine = await api.myCosts(here.month);
        team = teamOf(mine) ?? localStorage.getItem(LAST_TEAM_KEY);
        // No usage of their own this month (yet): the team they used it in lately is the one they belong to.
        for (let back = 1; team === null && back <= 3; back += 1) team = teamOf(await api.myCosts(addMonths(here.month, -back)));
        if (team === null) content = myView(mine);
      }
      if (team !== null) {
        const [costs, previous] = await Promise.all([api.teamCosts(team, here.month), api.teamCosts(team, addMonths(here.month, -1)).catch(() => null as TeamCosts | null)]);
        if (!finance) localStorage.setItem(LAST_TEAM_KEY, costs.team.id);
        content = teamView(costs, previous);
      } else if (finance) {
        const figures = all ?? (await api.teams(here.month));
        const rerender = () => {
          const active = document.activeElement?.getAttribute('data-sort');
          destroyCharts();
          const view = financeView(figures, (teamId) => go({ month: here.month, team: teamId }), rerender);
          replaceChildren(body, view);
          if (active) (body.querySelector(`[data-sort="${active}"]`) as HTMLElement | null)?.focus();
        };
        content = financeView(figures, (teamId) => go({ month: here.month, team: teamId }), rerender);
      }
    } catch (error) {
      content = problem(error);
    }
    if (ticket !== rendering) return;
    draw(finance === true);
    body.removeAttribute('aria-busy');
    replaceChildren(body, content!);
    document.title = `LLM costs · ${monthName(here.month)}`;
    // The browser tests read this to report how long a view took to show.
    main.dataset['renderedMs'] = String(Math.round(performance.now() - started));
    main.dataset['ready'] = `${here.month}|${here.team ?? ''}|${ticket}`;
  }

  window.addEventListener('hashchange', () => void show());
  await show();
}

start().catch((error: unknown) => replaceChildren(main, problem(error)));
