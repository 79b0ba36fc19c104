import type { BudgetPlan } from '../domain/budgets.js';

/** Where the teams' monthly budgets are kept: a JSON file (BUDGETS_FILE), or nothing at all. */
export interface BudgetSource {
  /** Loads and validates the budgets; throws CONFIG_INVALID listing every problem, including a currency that is not `currency`. */
  load(options: { currency: string }): Promise<BudgetPlan>;
}
