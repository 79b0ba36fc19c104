import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { ClaudeChargeRule } from '../../domain/billing.js';
import { AppError } from '../../domain/errors.js';
import type { BilledCostRead, BilledCostSource } from '../../ports/billed-cost-source.js';
import { readFocusExport, type CostColumn } from './focus-export-reader.js';

/** FOCUS export files downloaded from Cost Management (or written by the demo): .csv or .csv.gz. */
export class FileBilledCostSource implements BilledCostSource {
  constructor(
    private readonly files: readonly string[],
    private readonly costColumn: CostColumn,
  ) {}

  async read(month: string, rule: ClaudeChargeRule): Promise<BilledCostRead> {
    const missing: string[] = [];
    for (const file of this.files) {
      try {
        await access(file);
      } catch {
        missing.push(file);
      }
    }
    if (missing.length > 0) throw new AppError('BILLED_INPUT_INVALID', `billed-cost export file(s) not found`, { details: missing });
    return readFocusExport(
      this.files.map((file) => ({ name: file, open: async () => createReadStream(file) })),
      { month, rule, costColumn: this.costColumn, description: `FOCUS export ${this.files.map((file) => path.basename(file)).join(', ')} (${this.costColumn})` },
    );
  }
}
