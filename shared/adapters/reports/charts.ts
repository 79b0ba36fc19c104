import { createRequire } from 'node:module';
import { formatAmount } from '../../domain/amount-text.js';
import { daysOfMonth } from '../../domain/periods.js';
import type { ReportWithoutLines } from '../../domain/report.js';

/**
 * Charts for the finance mail, where a reader would rather look than read: spend by day, by model, and each
 * team's share. exceljs cannot write Excel charts (its issue #141 has been open since 2016), so each chart is
 * an SVG built here and rendered to PNG by resvg (a prebuilt binary shipped in the npm package, no download).
 * The numbers stay in the tables beside them; an image is never the only place a figure is shown.
 */
export interface ChartImage {
  /** Content-ID of the inline image: the HTML refers to it as `cid:<contentId>`. */
  readonly contentId: string;
  readonly filename: string;
  /** What the chart shows, in words, for readers whose client blocks images or who use a screen reader. */
  readonly altText: string;
  readonly png: Buffer;
}

const WIDTH = 640;
const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';
const BAR = '#2f6db5';
const MUTED = '#555555';
const MAX_BARS = 8;

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function text(x: number, y: number, content: string, options: { anchor?: 'start' | 'middle' | 'end'; size?: number; color?: string; bold?: boolean } = {}): string {
  return `<text x="${x}" y="${y}" font-family="${FONT}" font-size="${options.size ?? 12}" fill="${options.color ?? '#222222'}" text-anchor="${options.anchor ?? 'start'}"${options.bold ? ' font-weight="bold"' : ''}>${escapeXml(content)}</text>`;
}

function svgDocument(height: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}"><rect width="${WIDTH}" height="${height}" fill="#ffffff"/>${text(16, 24, title, { size: 15, bold: true })}${body}</svg>`;
}

/** Vertical bars, one per day of the month, the highest day's amount on the axis. */
export function spendByDaySvg(report: ReportWithoutLines): string {
  const amounts = new Map((report.daily ?? []).map((day) => [day.day, day.amount]));
  const days = daysOfMonth(report.month);
  const max = days.reduce((top, day) => (amounts.get(day) ?? 0n) > top ? (amounts.get(day) ?? 0n) : top, 0n);
  const left = 16;
  const top = 56;
  const plotHeight = 160;
  const slot = (WIDTH - left - 16) / days.length;
  const bars = days
    .map((day, index) => {
      const amount = amounts.get(day) ?? 0n;
      const height = max === 0n ? 0 : (Number(amount) / Number(max)) * plotHeight;
      const x = left + index * slot;
      const label = index === 0 || (index + 1) % 5 === 0 ? text(x + slot / 2, top + plotHeight + 16, String(index + 1), { anchor: 'middle', size: 11, color: MUTED }) : '';
      return `<rect x="${(x + 1).toFixed(1)}" y="${(top + plotHeight - height).toFixed(1)}" width="${Math.max(1, slot - 2).toFixed(1)}" height="${height.toFixed(1)}" fill="${BAR}"/>${label}`;
    })
    .join('');
  const axis = `<line x1="${left}" y1="${top + plotHeight}" x2="${WIDTH - 16}" y2="${top + plotHeight}" stroke="${MUTED}" stroke-width="1"/>`;
  const scale = text(left, top - 8, `highest day ${formatAmount(max, report.currency)}`, { size: 11, color: MUTED });
  return svgDocument(top + plotHeight + 32, `Spend by day, ${report.month} (${report.timeZone})`, `${scale}${bars}${axis}`);
}

interface LabelledAmount {
  readonly label: string;
  readonly amount: bigint;
}

/** The largest items, and the rest summed into one bar, so the bars add up to the total. */
function largest(items: readonly LabelledAmount[], others: (count: number) => string): LabelledAmount[] {
  const sorted = [...items].sort((a, b) => (b.amount > a.amount ? 1 : b.amount < a.amount ? -1 : a.label.localeCompare(b.label)));
  if (sorted.length <= MAX_BARS) return sorted;
  const rest = sorted.slice(MAX_BARS - 1);
  return [...sorted.slice(0, MAX_BARS - 1), { label: others(rest.length), amount: rest.reduce((sum, item) => sum + item.amount, 0n) }];
}

/** Horizontal bars with their label on the left and the figure on the right. */
function horizontalBars(title: string, items: readonly LabelledAmount[], figure: (item: LabelledAmount) => string): string {
  const top = 44;
  const row = 26;
  const labelWidth = 200;
  const figureWidth = 150;
  const plotWidth = WIDTH - 16 - labelWidth - figureWidth;
  const max = items.reduce((most, item) => (item.amount > most ? item.amount : most), 0n);
  const bars = items
    .map((item, index) => {
      const y = top + index * row;
      const width = max <= 0n || item.amount <= 0n ? 0 : (Number(item.amount) / Number(max)) * plotWidth;
      const label = item.label.length > 30 ? `${item.label.slice(0, 29)}\u2026` : item.label;
      return (
        text(16, y + 16, label) +
        `<rect x="${16 + labelWidth}" y="${y + 4}" width="${Math.max(width, 0).toFixed(1)}" height="${row - 10}" fill="${BAR}"/>` +
        text(WIDTH - 16, y + 16, figure(item), { anchor: 'end' })
      );
    })
    .join('');
  return svgDocument(top + items.length * row + 12, title, bars);
}

export function spendByModelSvg(report: ReportWithoutLines): string {
  const items = largest(
    report.models.map((model) => ({ label: model.model, amount: model.amount })),
    (count) => `${count} other models`,
  );
  return horizontalBars(`Spend by model, ${report.month}`, items, (item) => formatAmount(item.amount, report.currency));
}

export function teamShareSvg(report: ReportWithoutLines): string {
  const items = largest(
    report.teams.map((team) => ({ label: team.teamName, amount: team.amount })),
    (count) => `${count} other teams`,
  );
  const share = (amount: bigint) => (report.grandTotal === 0n ? '0.0%' : `${((Number(amount) / Number(report.grandTotal)) * 100).toFixed(1)}%`);
  return horizontalBars(`Share of the total by team, ${report.month}`, items, (item) => `${share(item.amount)}  ${formatAmount(item.amount, report.currency)}`);
}

type ResvgModule = typeof import('@resvg/resvg-js');
let resvg: ResvgModule | null | undefined;

/**
 * resvg's binary comes in a per-platform npm package. Loaded on first use, and a deployment whose platform
 * package is missing sends its mails without charts rather than failing the close over a picture.
 */
function renderer(): ResvgModule | null {
  if (resvg === undefined) {
    try {
      resvg = createRequire(import.meta.url)('@resvg/resvg-js') as ResvgModule;
    } catch {
      resvg = null;
    }
  }
  return resvg;
}

/** True when charts can be drawn here. */
export function chartsAvailable(): boolean {
  return renderer() !== null;
}

function png(svg: string): Buffer {
  // System fonts when there are any (DejaVu on Debian); without them the bars still draw.
  const { Resvg } = renderer()!;
  return Buffer.from(new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: '#ffffff' }).render().asPng());
}

/** The finance mail's charts; none for a month without spend (nothing to look at) or where resvg cannot load. */
export function financeCharts(report: ReportWithoutLines): ChartImage[] {
  if (report.grandTotal <= 0n || !chartsAvailable()) return [];
  const top = (items: readonly LabelledAmount[]) => items.slice(0, 3).map((item) => `${item.label} ${formatAmount(item.amount, report.currency)}`).join(', ');
  const busiest = [...(report.daily ?? [])].sort((a, b) => (b.amount > a.amount ? 1 : b.amount < a.amount ? -1 : 0))[0];
  const byDay: ChartImage[] =
    report.daily && report.daily.length > 0
      ? [
          {
            contentId: `spend-by-day-${report.month}@chargeback`,
            filename: `spend-by-day-${report.month}.png`,
            altText: `Spend by day in ${report.month}${busiest ? `; the highest day was ${busiest.day} with ${formatAmount(busiest.amount, report.currency)}` : ''}.`,
            png: png(spendByDaySvg(report)),
          },
        ]
      : [];
  return [
    ...byDay,
    {
      contentId: `spend-by-model-${report.month}@chargeback`,
      filename: `spend-by-model-${report.month}.png`,
      altText: `Spend by model: ${top(report.models.map((model) => ({ label: model.model, amount: model.amount })).sort((a, b) => Number(b.amount - a.amount)))}.`,
      png: png(spendByModelSvg(report)),
    },
    {
      contentId: `team-share-${report.month}@chargeback`,
      filename: `team-share-${report.month}.png`,
      altText: `Share of the total by team: ${top(report.teams.map((team) => ({ label: team.teamName, amount: team.amount })).sort((a, b) => Number(b.amount - a.amount)))}.`,
      png: png(teamShareSvg(report)),
    },
  ];
}
