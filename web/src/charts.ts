/**
 * Charts with Chart.js (only the pieces used are registered, to keep the bundle small). Every chart is a
 * canvas with role="img" and a one-line summary; the same figures are in a table beside it for screen readers
 * and keyboards.
 */
import { BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration, type ChartType } from 'chart.js';
import { h } from './dom';
import { dayLabel, money, wholeMoney } from './format';

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);
Chart.defaults.animation = false;
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#38424d';

const INK = '#1f5fa8';
const BUDGET = '#8a4b00';
const FORECAST = '#6b3fa0';
const THRESHOLD = '#9aa3ad';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const live = new Set<Chart<any>>();

/** Charts of the previous render are destroyed before the page draws new ones. */
export function destroyCharts(): void {
  for (const chart of live) chart.destroy();
  live.clear();
}

function figure<T extends ChartType>(summary: string, config: ChartConfiguration<T>, height = 240): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const box = h('div', { class: 'chart', style: `height:${height}px` }, canvas);
  // Drawn after the box is in the document, so Chart.js can measure it.
  queueMicrotask(() => {
    if (canvas.isConnected) live.add(new Chart<T>(canvas, config));
  });
  return box;
}

const moneyAxis = (currency: string | null) => ({
  beginAtZero: true,
  ticks: { callback: (value: string | number) => wholeMoney(Number(value), currency) },
});

export interface BurnDownInput {
  days: string[];
  /** Spend per day that has figures (complete days), in month order. */
  spentByDay: Map<string, number>;
  budget: number;
  /** Month-end total the API projects; null for none. */
  forecast: number | null;
  /** Percent thresholds of the budget to mark (e.g. 80, 100). */
  thresholds: number[];
  currency: string | null;
  /** Last day with figures (month to date), or the month's last day when closed. */
  throughDay: string | null;
}

/** Remaining budget day by day, the projected remainder to month end dashed, and the alert thresholds. */
export function burnDownChart(input: BurnDownInput): HTMLElement {
  let spent = 0;
  const remaining: (number | null)[] = [];
  const projected: (number | null)[] = [];
  const through = input.throughDay === null ? -1 : input.days.indexOf(input.throughDay);
  input.days.forEach((day, index) => {
    spent += input.spentByDay.get(day) ?? 0;
    remaining.push(index <= through ? round(input.budget - spent) : null);
  });
  const lastRemaining = through >= 0 ? remaining[through]! : input.budget;
  if (input.forecast !== null && through < input.days.length - 1) {
    const endRemaining = input.budget - input.forecast;
    const span = input.days.length - 1 - Math.max(through, 0);
    input.days.forEach((_, index) => {
      projected.push(index < through ? null : round(lastRemaining + ((endRemaining - lastRemaining) * (index - Math.max(through, 0))) / span));
    });
  }
  const datasets: ChartConfiguration<'line'>['data']['datasets'] = [
    { label: 'Budget remaining', data: remaining, borderColor: INK, backgroundColor: 'rgba(31,95,168,0.12)', fill: 'origin', pointRadius: 0, borderWidth: 2 },
  ];
  if (projected.length > 0) datasets.push({ label: 'Forecast', data: projected, borderColor: FORECAST, borderDash: [6, 4], pointRadius: 0, borderWidth: 2, fill: false });
  for (const percent of input.thresholds) {
    const level = round(input.budget * (1 - percent / 100));
    datasets.push({ label: `${percent}% used`, data: input.days.map(() => level), borderColor: percent >= 100 ? BUDGET : THRESHOLD, borderDash: [2, 3], pointRadius: 0, borderWidth: 1, fill: false });
  }
  const summary = `Budget burn-down: ${money(input.budget, input.currency)} budget, ${money(round(input.budget - spent), input.currency)} left${input.forecast === null ? '' : `, forecast month end ${money(input.forecast, input.currency)}`}`;
  return figure(summary, {
    type: 'line',
    data: { labels: input.days.map(dayLabel), datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: { y: { ...moneyAxis(input.currency), beginAtZero: false }, x: { ticks: { maxRotation: 0, autoSkipPadding: 12 } } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 14 } }, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${money(Number(item.raw), input.currency)}` } } },
    },
  });
}

/** Cumulative spend when a team has no budget to burn down. */
export function cumulativeChart(days: string[], spentByDay: Map<string, number>, throughDay: string | null, currency: string | null): HTMLElement {
  let spent = 0;
  const through = throughDay === null ? -1 : days.indexOf(throughDay);
  const data = days.map((day, index) => {
    spent += spentByDay.get(day) ?? 0;
    return index <= through ? round(spent) : null;
  });
  return figure(`Spend to date: ${money(round(spent), currency)}`, {
    type: 'line',
    data: { labels: days.map(dayLabel), datasets: [{ label: 'Spend to date', data, borderColor: INK, backgroundColor: 'rgba(31,95,168,0.12)', fill: 'origin', pointRadius: 0, borderWidth: 2 }] },
    options: { responsive: true, maintainAspectRatio: false, scales: { y: moneyAxis(currency), x: { ticks: { maxRotation: 0, autoSkipPadding: 12 } } }, plugins: { legend: { display: false } } },
  });
}

/** One bar per label (days, models, tiers, users). */
export function barChart(title: string, labels: string[], values: number[], currency: string | null, options: { horizontal?: boolean; height?: number } = {}): HTMLElement {
  const largest = labels.length === 0 ? '' : `; largest ${labels[values.indexOf(Math.max(...values))]} at ${money(Math.max(...values), currency)}`;
  return figure(
    `${title}: ${labels.length} bars${largest}`,
    {
      type: 'bar',
      data: { labels, datasets: [{ label: title, data: values, backgroundColor: INK, borderRadius: 2, maxBarThickness: 28 }] },
      options: {
        indexAxis: options.horizontal ? 'y' : 'x',
        responsive: true,
        maintainAspectRatio: false,
        scales: options.horizontal ? { x: moneyAxis(currency), y: { ticks: { autoSkip: false } } } : { y: moneyAxis(currency), x: { ticks: { maxRotation: 0, autoSkipPadding: 8 } } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => money(Number(item.raw), currency) } } },
      },
    },
    options.height ?? 220,
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
