/**
 * The wire format of the cost API. JSON amounts are decimal strings in the response's currency ("1234.56"),
 * never floating-point numbers; token counts are integers.
 *
 * CSV holds one kind of row per file, chosen with `?view=` (COST_CSV_VIEWS; docs/api.md), so a SUM over the
 * amount column of any file is the total it breaks down. Every row repeats the month and the team (with its
 * cost center) so files can be stacked for posting. A model or line without a price says "not priced" in
 * `priced_as` (its amount is 0.00 and its tokens are in `unpriced_tokens`). Text cells are guarded against
 * formula injection (csv-cells.ts).
 */
import { formatMinorUnits } from '../../domain/money.js';
import { AppError } from '../../domain/errors.js';
import { TOKEN_KINDS, totalTokens, type TokenCounts } from '../../domain/tokens.js';
import { csvTable, type CsvCell } from './csv-cells.js';
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
const fullViewTexts = new WeakMap<TeamCosts, { json?: string; csv: Partial<Record<string, string>> }>();

export function teamCostsJsonText(result: TeamCosts): string {
  if (result.view !== 'full') return JSON.stringify(teamCostsJson(result));
  const texts = textsOf(result);
  return (texts.json ??= JSON.stringify(teamCostsJson(result)));
}

export function teamCostsCsvText(result: TeamCosts, view: CostCsvView<'team-costs'> = 'users'): string {
  if (result.view !== 'full') return teamCostsCsv(result, view);
  const texts = textsOf(result);
  return (texts.csv[view] ??= teamCostsCsv(result, view));
}

function textsOf(result: TeamCosts): { json?: string; csv: Partial<Record<string, string>> } {
  let texts = fullViewTexts.get(result);
  if (texts === undefined) fullViewTexts.set(result, (texts = { csv: {} }));
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

/** The row kinds each endpoint's CSV offers; the first is the default. */
export const COST_CSV_VIEWS = {
  'team-costs': ['users', 'total', 'models', 'tiers', 'days', 'lines'],
  'all-teams': ['teams', 'total'],
  'my-costs': ['lines', 'total', 'teams', 'models', 'tiers', 'days'],
} as const;

export type CostCsvEndpoint = keyof typeof COST_CSV_VIEWS;
export type CostCsvView<E extends CostCsvEndpoint> = (typeof COST_CSV_VIEWS)[E][number];

/** The view asked for (`?view=`), or the endpoint's default; anything else is a 400 that lists the views. */
export function csvView<E extends CostCsvEndpoint>(endpoint: E, requested: string | null): CostCsvView<E> {
  const views: readonly string[] = COST_CSV_VIEWS[endpoint];
  if (requested === null) return views[0] as CostCsvView<E>;
  if (!views.includes(requested)) throw new AppError('BAD_REQUEST', `view must be one of ${views.join(', ')}`);
  return requested as CostCsvView<E>;
}

const TOKEN_COLUMNS: Record<(typeof TOKEN_KINDS)[number], string> = {
  input: 'input_tokens',
  output: 'output_tokens',
  cacheRead: 'cache_read_tokens',
  cacheWrite5m: 'cache_write_5m_tokens',
  cacheWrite1h: 'cache_write_1h_tokens',
};

export const FIGURE_COLUMNS = ['amount', 'currency', ...TOKEN_KINDS.map((kind) => TOKEN_COLUMNS[kind]), 'total_tokens', 'requests', 'unpriced_tokens'] as const;

export const NOT_PRICED = 'not priced';

const text = (value: string): CsvCell => ({ text: value });
const number = (value: number | bigint | string): CsvCell => ({ number: value });
const optional = (value: string | null): CsvCell => (value === null ? null : text(value));

function figureCells(value: CostFigures, currency: string | null): CsvCell[] {
  return [
    number(formatMinorUnits(value.amount)),
    optional(currency),
    ...TOKEN_KINDS.map((kind) => number(value.tokens[kind])),
    number(totalTokens(value.tokens)),
    number(value.requests),
    number(value.unpricedTokens),
  ];
}

const BUDGET_COLUMNS = ['budget', 'budget_used_percent', 'forecast', 'forecast_budget_percent'] as const;

function budgetCells(budget: BudgetStatus | null, forecast: Forecast | null): CsvCell[] {
  return [
    budget === null ? null : number(formatMinorUnits(budget.amount)),
    budget === null ? null : number(budget.usedPercent),
    forecast === null ? null : number(formatMinorUnits(forecast.amount)),
    forecast === null ? null : number(forecast.budgetPercent),
  ];
}

const SOURCE_COLUMNS = ['source', 'revision'] as const;

function sourceCells(source: FiguresSource): CsvCell[] {
  return [text(source.status), source.status === 'closed' ? number(source.revision) : null];
}

export function teamCostsCsv(result: TeamCosts, view: CostCsvView<'team-costs'> = 'users'): string {
  const breakdown = result.breakdown;
  const lead = ['month', 'team_id', 'team_name', 'cost_center', 'scope'];
  const leadCells = (): CsvCell[] => [text(result.month), text(result.team.id), text(result.team.name), optional(result.team.costCenter), text(breakdown.scope)];
  const currency = result.currency;
  switch (view) {
    case 'total':
      return csvTable(
        [...lead, ...FIGURE_COLUMNS, 'exact_amount', 'users', ...BUDGET_COLUMNS, ...SOURCE_COLUMNS],
        [[...leadCells(), ...figureCells(result.total, currency), number(result.total.exactAmount), result.total.users === null ? null : number(result.total.users), ...budgetCells(result.budget, result.forecast), ...sourceCells(result.source)]],
      );
    case 'models':
      return csvTable([...lead, 'model', 'priced_as', ...FIGURE_COLUMNS], breakdown.byModel.map((model) => [...leadCells(), text(model.model), text(model.pricedModel ?? NOT_PRICED), ...figureCells(model, currency)]));
    case 'tiers':
      return csvTable([...lead, 'tier', ...FIGURE_COLUMNS], breakdown.byTier.map((tier) => [...leadCells(), text(tier.tier), ...figureCells(tier, currency)]));
    case 'users':
      return csvTable(
        [...lead, 'user_id', 'user_name', 'upn', 'allocation', ...FIGURE_COLUMNS],
        breakdown.byUser.map((user) => [...leadCells(), text(user.userId), text(user.userName), text(user.upn), text(user.allocation), ...figureCells(user, currency)]),
      );
    case 'days':
      return csvTable([...lead, 'day', ...FIGURE_COLUMNS], breakdown.byDay.map((day) => [...leadCells(), text(day.day), ...figureCells(day, currency)]));
    case 'lines':
      if (breakdown.lines === null) throw new AppError('BAD_REQUEST', 'view lines lists your own lines (as a member); a full team view has users, models, tiers and days');
      return csvTable(
        [...lead, 'model', 'priced_as', 'tier', 'allocation', ...FIGURE_COLUMNS],
        breakdown.lines.map((line) => [...leadCells(), text(line.model), text(line.pricedModel ?? NOT_PRICED), text(line.tier), text(line.allocation), ...figureCells(line, currency)]),
      );
  }
}

export function allTeamsCsv(result: AllTeamsCosts, view: CostCsvView<'all-teams'> = 'teams'): string {
  const currency = result.currency;
  if (view === 'total') {
    return csvTable(
      ['month', ...FIGURE_COLUMNS, 'exact_amount', 'users', ...SOURCE_COLUMNS],
      [[text(result.month), ...figureCells(result.total, currency), number(result.total.exactAmount), result.total.users === null ? null : number(result.total.users), ...sourceCells(result.source)]],
    );
  }
  return csvTable(
    ['month', 'team_id', 'team_name', 'cost_center', ...FIGURE_COLUMNS, 'exact_amount', 'users', ...BUDGET_COLUMNS, ...SOURCE_COLUMNS],
    result.teams.map((team) => [
      text(result.month),
      text(team.teamId),
      text(team.teamName),
      optional(team.costCenter),
      ...figureCells(team, currency),
      number(team.exactAmount),
      team.users === null ? null : number(team.users),
      ...budgetCells(team.budget, team.forecast),
      ...sourceCells(result.source),
    ]),
  );
}

export function myCostsCsv(result: MyCosts, view: CostCsvView<'my-costs'> = 'lines'): string {
  const lead = ['month', 'user_id'];
  const leadCells = (): CsvCell[] => [text(result.month), text(result.user.id)];
  const currency = result.currency;
  const teamOf = new Map(result.byTeam.map((team) => [team.teamId, team]));
  switch (view) {
    case 'total':
      return csvTable([...lead, 'user_name', 'upn', ...FIGURE_COLUMNS, ...SOURCE_COLUMNS], [[...leadCells(), text(result.user.name), text(result.user.upn), ...figureCells(result.total, currency), ...sourceCells(result.source)]]);
    case 'teams':
      return csvTable(
        [...lead, 'team_id', 'team_name', 'cost_center', 'allocation', ...FIGURE_COLUMNS],
        result.byTeam.map((team) => [...leadCells(), text(team.teamId), text(team.teamName), optional(team.costCenter), text(team.allocation), ...figureCells(team, currency)]),
      );
    case 'models':
      return csvTable([...lead, 'model', 'priced_as', ...FIGURE_COLUMNS], result.byModel.map((model) => [...leadCells(), text(model.model), text(model.pricedModel ?? NOT_PRICED), ...figureCells(model, currency)]));
    case 'tiers':
      return csvTable([...lead, 'tier', ...FIGURE_COLUMNS], result.byTier.map((tier) => [...leadCells(), text(tier.tier), ...figureCells(tier, currency)]));
    case 'days':
      return csvTable([...lead, 'day', ...FIGURE_COLUMNS], result.byDay.map((day) => [...leadCells(), text(day.day), ...figureCells(day, currency)]));
    case 'lines':
      return csvTable(
        [...lead, 'team_id', 'cost_center', 'model', 'priced_as', 'tier', 'allocation', ...FIGURE_COLUMNS],
        result.lines.map((line) => [
          ...leadCells(),
          text(line.teamId),
          optional(teamOf.get(line.teamId)?.costCenter ?? null),
          text(line.model),
          text(line.pricedModel ?? NOT_PRICED),
          text(line.tier),
          text(line.allocation),
          ...figureCells(line, currency),
        ]),
      );
  }
}
