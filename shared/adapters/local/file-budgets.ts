import { readFile } from 'node:fs/promises';
import { EMPTY_BUDGET_PLAN, parseBudgetDocument, type BudgetPlan } from '../../domain/budgets.js';
import { AppError } from '../../domain/errors.js';
import type { BudgetSource } from '../../ports/budget-source.js';

/** Budgets from a JSON file (see BudgetDocument in domain/budgets.ts), read and validated on every load. */
export class FileBudgetSource implements BudgetSource {
  constructor(private readonly filePath: string) {}

  async load(options: { currency: string }): Promise<BudgetPlan> {
    let text: string;
    try {
      text = await readFile(this.filePath, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      const reason = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(error)})`;
      throw new AppError('CONFIG_INVALID', `Budgets file ${this.filePath} ${reason}`, { cause: error });
    }
    let document: unknown;
    try {
      // A byte-order mark is what Windows editors add; JSON.parse rejects it.
      document = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (error) {
      throw new AppError('CONFIG_INVALID', `Budgets file ${this.filePath} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    return parseBudgetDocument(document, this.filePath, options);
  }
}

/** BUDGETS_FILE unset: no team has a budget, so no budget alert can fire (finance alerts still can). */
export const noBudgets: BudgetSource = {
  load: async ({ currency }) => EMPTY_BUDGET_PLAN(currency),
};
