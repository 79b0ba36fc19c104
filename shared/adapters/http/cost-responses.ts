/**
 * The wire format of the cost API. JSON amounts are decimal strings in the response's currency ("1234.56"),
 * never floating-point numbers; token counts are integers. CSV is one long table (one row per figure, a
 * `section` column saying what the row is), so a single file holds a response and pivots well in a spreadsheet.
 */
import { formatMinorUnits } from '../../domain/money.js';
import { TOKEN_KINDS, totalTokens, zeroTokens, type TokenCounts } from '../../domain/tokens.js';
import type { AllTeamsCosts, BudgetStatus, CostFigures, FiguresSource, Forecast, MyCosts, TeamCosts, TeamTotal } from '../../use-cases/lookup-costs.js';

export interface FiguresJson {
  readonly amount: string;
  readonly tokens: TokenCounts;
  readonly totalTokens: number;
  readonly requests: number;
  readonly unpricedTokens: number;
}

function figures(value: CostFigures): FiguresJson {
  return {
    amount: formatMinorUnits(value.amount),
    tokens: { ...value.tokens },
    totalTokens: totalTokens(value.tokens),
    requests: value.requests,
    unpricedTokens: value.unpricedTokens,
  };
}

function teamTotal(value: TeamTotal) {
  return { ...figures(value), exactAmount: value.exactAmount, users: value.users };
}

function sourceJson(source: FiguresSource) {
  return source.status === 'closed'
    ? { status: source.status, revision: source.revision, closedAt: source.closedAt.toISOString() }
    : { status: source.status, asOf: source.asOf };
}

function budgetJson(budget: BudgetStatus | null) {
  if (budget === null) return null;
  return {
    amount: formatMinorUnits(budget.amount),
    currency: budget.currency,
    used: formatMinorUnits(budget.used),
    remaining: formatMinorUnits(budget.remaining),
    usedPercent: budget.usedPercent,
  };
}

function forecastJson(forecast: Forecast | null) {
  if (forecast === null) return null;
  return {
    amount: formatMinorUnits(forecast.amount),
    exactAmount: forecast.exactAmount,
    budgetPercent: forecast.budgetPercent,
    basis: forecast.basis,
    today: forecast.today,
    workingDayRate: forecast.workingDayRate === null ? null : formatMinorUnits(forecast.workingDayRate),
    weekendDayRate: forecast.weekendDayRate === null ? null : formatMinorUnits(forecast.weekendDayRate),
    remainingWorkingDays: forecast.remainingWorkingDays,
    remainingWeekendDays: forecast.remainingWeekendDays,
  };
}

export function teamCostsJson(result: TeamCosts) {
  const breakdown = result.breakdown;
  return {
    month: result.month,
    team: result.team,
    currency: result.currency,
    access: result.access,
    view: result.view,
    source: sourceJson(result.source),
    total: teamTotal(result.total),
    budget: budgetJson(result.budget),
    forecast: forecastJson(result.forecast),
    breakdown: {
      scope: breakdown.scope,
      total: figures(breakdown.total),
      byModel: breakdown.byModel.map((model) => ({ model: model.model, pricedModel: model.pricedModel, ...figures(model) })),
      byTier: breakdown.byTier.map((tier) => ({ tier: tier.tier, ...figures(tier) })),
      byUser: breakdown.byUser.map((user) => ({ userId: user.userId, userName: user.userName, upn: user.upn, allocation: user.allocation, ...figures(user) })),
      byDay: breakdown.byDay.map((day) => ({ day: day.day, ...figures(day) })),
      lines:
        breakdown.lines === null
          ? null
          : breakdown.lines.map((line) => ({ model: line.model, pricedModel: line.pricedModel, tier: line.tier, allocation: line.allocation, ...figures(line) })),
    },
    asOf: result.asOf.toISOString(),
  };
}

/**
 * A full team view's wire text, built once per result object. CostLookup hands every finance or lead caller
 * the same (never mutated) result while nothing it was built from changes, so ~64 KB of JSON for a 200-user
 * team is serialized once per cached view instead of once per request. Member views are built per caller and
 * are serialized each time. Entries go with their result object.
 */
const fullViewTexts = new WeakMap<TeamCosts, { json?: string; csv?: string }>();

export function teamCostsJsonText(result: TeamCosts): string {
  if (result.view !== 'full') return JSON.stringify(teamCostsJson(result));
  const texts = textsOf(result);
  return (texts.json ??= JSON.stringify(teamCostsJson(result)));
}

export function teamCostsCsvText(result: TeamCosts): string {
  if (result.view !== 'full') return teamCostsCsv(result);
  const texts = textsOf(result);
  return (texts.csv ??= teamCostsCsv(result));
}

function textsOf(result: TeamCosts): { json?: string; csv?: string } {
  let texts = fullViewTexts.get(result);
  if (texts === undefined) fullViewTexts.set(result, (texts = {}));
  return texts;
}

export function allTeamsJson(result: AllTeamsCosts) {
  return {
    month: result.month,
    currency: result.currency,
    source: sourceJson(result.source),
    total: teamTotal(result.total),
    teams: result.teams.map((team) => ({
      teamId: team.teamId,
      teamName: team.teamName,
      costCenter: team.costCenter,
      ...teamTotal(team),
      budget: budgetJson(team.budget),
      forecast: forecastJson(team.forecast),
    })),
    asOf: result.asOf.toISOString(),
  };
}

export function myCostsJson(result: MyCosts) {
  return {
    month: result.month,
    user: result.user,
    currency: result.currency,
    source: sourceJson(result.source),
    total: figures(result.total),
    budget: result.budget,
    byTeam: result.byTeam.map((team) => ({ teamId: team.teamId, teamName: team.teamName, costCenter: team.costCenter, allocation: team.allocation, ...figures(team) })),
    byModel: result.byModel.map((model) => ({ model: model.model, pricedModel: model.pricedModel, ...figures(model) })),
    byTier: result.byTier.map((tier) => ({ tier: tier.tier, ...figures(tier) })),
    byDay: result.byDay.map((day) => ({ day: day.day, ...figures(day) })),
    lines: result.lines.map((line) => ({ teamId: line.teamId, model: line.model, pricedModel: line.pricedModel, tier: line.tier, allocation: line.allocation, ...figures(line) })),
    asOf: result.asOf.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// CSV

const TOKEN_COLUMNS: Record<(typeof TOKEN_KINDS)[number], string> = {
  input: 'input_tokens',
  output: 'output_tokens',
  cacheRead: 'cache_read_tokens',
  cacheWrite5m: 'cache_write_5m_tokens',
  cacheWrite1h: 'cache_write_1h_tokens',
};

export const CSV_COLUMNS = [
  'month',
  'scope',
  'section',
  'key',
  'name',
  'amount',
  'currency',
  ...TOKEN_KINDS.map((kind) => TOKEN_COLUMNS[kind]),
  'total_tokens',
  'requests',
  'unpriced_tokens',
] as const;

interface CsvRow {
  readonly scope: string;
  readonly section: string;
  readonly key: string;
  readonly name: string;
  readonly figures: CostFigures;
}

function csv(month: string, currency: string | null, rows: readonly CsvRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) {
    const cells = [
      month,
      row.scope,
      row.section,
      textCell(row.key),
      textCell(row.name),
      formatMinorUnits(row.figures.amount),
      currency ?? '',
      ...TOKEN_KINDS.map((kind) => String(row.figures.tokens[kind])),
      String(totalTokens(row.figures.tokens)),
      String(row.figures.requests),
      String(row.figures.unpricedTokens),
    ];
    lines.push(cells.join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Quotes as RFC 4180 wants, and defuses text a spreadsheet would run as a formula (names come from the
 * directory and model ids from the gateway: neither is ours to trust).
 */
function textCell(value: string): string {
  const defused = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

/**
 * The budget and the forecast as rows of the same table: `key` is the team, `name` the percentage of the
 * budget (used, forecast), `amount` the budget or the forecast; their token and request columns are zero.
 */
function budgetRows(scope: string, teamId: string, budget: BudgetStatus | null, forecast: Forecast | null): CsvRow[] {
  const amountOnly = (amount: bigint): CostFigures => ({ amount, tokens: zeroTokens(), requests: 0, unpricedTokens: 0 });
  const rows: CsvRow[] = [];
  if (budget !== null) rows.push({ scope, section: 'budget', key: teamId, name: `${budget.usedPercent}%`, figures: amountOnly(budget.amount) });
  if (forecast !== null) rows.push({ scope, section: 'forecast', key: teamId, name: `${forecast.budgetPercent}%`, figures: amountOnly(forecast.amount) });
  return rows;
}

export function teamCostsCsv(result: TeamCosts): string {
  const breakdown = result.breakdown;
  const scope = breakdown.scope;
  const rows: CsvRow[] = [{ scope: 'team', section: 'total', key: result.team.id, name: result.team.name, figures: result.total }];
  rows.push(...budgetRows('team', result.team.id, result.budget, result.forecast));
  if (scope === 'caller') {
    const self = breakdown.byUser[0];
    rows.push({ scope, section: 'total', key: self?.userId ?? '', name: self?.userName ?? '', figures: breakdown.total });
  }
  for (const model of breakdown.byModel) rows.push({ scope, section: 'model', key: model.model, name: model.pricedModel ?? '', figures: model });
  for (const tier of breakdown.byTier) rows.push({ scope, section: 'tier', key: tier.tier, name: '', figures: tier });
  for (const user of breakdown.byUser) rows.push({ scope, section: 'user', key: user.userId, name: user.userName, figures: user });
  for (const day of breakdown.byDay) rows.push({ scope, section: 'day', key: day.day, name: '', figures: day });
  for (const line of breakdown.lines ?? []) rows.push({ scope, section: 'line', key: line.model, name: line.tier, figures: line });
  return csv(result.month, result.currency, rows);
}

export function allTeamsCsv(result: AllTeamsCosts): string {
  const rows: CsvRow[] = [{ scope: 'organization', section: 'total', key: '', name: '', figures: result.total }];
  for (const team of result.teams) rows.push({ scope: 'organization', section: 'team', key: team.teamId, name: team.teamName, figures: team });
  for (const team of result.teams) rows.push(...budgetRows('organization', team.teamId, team.budget, team.forecast));
  return csv(result.month, result.currency, rows);
}

export function myCostsCsv(result: MyCosts): string {
  const scope = 'caller';
  const rows: CsvRow[] = [{ scope, section: 'total', key: result.user.id, name: result.user.name, figures: result.total }];
  for (const team of result.byTeam) rows.push({ scope, section: 'team', key: team.teamId, name: team.teamName, figures: team });
  for (const model of result.byModel) rows.push({ scope, section: 'model', key: model.model, name: model.pricedModel ?? '', figures: model });
  for (const tier of result.byTier) rows.push({ scope, section: 'tier', key: tier.tier, name: '', figures: tier });
  for (const day of result.byDay) rows.push({ scope, section: 'day', key: day.day, name: '', figures: day });
  for (const line of result.lines) rows.push({ scope, section: 'line', key: line.model, name: line.tier, figures: line });
  return csv(result.month, result.currency, rows);
}
