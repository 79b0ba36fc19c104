import { FocusCsvExporter } from '../../shared/adapters/reports/focus-csv.js';
import { HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import type { CloseMonthDeps } from '../../shared/use-cases/close-month.js';
import { testPriceBook } from './domain-fixtures.js';
import {
  fixedClock,
  InMemoryArtifacts,
  InMemoryCloseRegistry,
  InMemoryDeliveryLedger,
  InMemoryLeases,
  InMemoryRollupStore,
  RecordingMailer,
  StaticPriceBooks,
  TeamTotalsRenderer,
} from './in-memory.js';

/** What the close's settings are unless a test says otherwise: a UTC month, two days of grace, the default controls. */
export const TEST_CLOSE_SETTINGS: CloseMonthDeps['settings'] = {
  timeZone: 'UTC',
  financeRecipients: ['finance@contoso.example'],
  mailFrom: 'chargeback@contoso.example',
  operatorRecipients: ['ops@contoso.example'],
  graceDays: 2,
  controls: DEFAULT_CLOSE_CONTROL_LIMITS,
};

/**
 * The close's dependencies for a test: in-memory stores, the test price book, a clock on 3 November 2026, with
 * what the test is about given (its usage and directory always; any store, renderer or setting it looks at).
 */
export function testCloseDeps(
  given: Partial<Omit<CloseMonthDeps, 'settings'>> & Pick<CloseMonthDeps, 'usageSource' | 'directory'> & { readonly settings?: Partial<CloseMonthDeps['settings']> },
): CloseMonthDeps {
  const clock = given.clock ?? fixedClock('2026-11-03T06:00:00Z');
  return {
    priceBooks: new StaticPriceBooks(testPriceBook()),
    rollups: new InMemoryRollupStore(),
    closes: new InMemoryCloseRegistry(),
    deliveries: new InMemoryDeliveryLedger(),
    leases: new InMemoryLeases(() => clock.now()),
    renderer: new TeamTotalsRenderer(),
    reportMails: new HtmlReportMails(),
    costExport: new FocusCsvExporter(),
    artifacts: new InMemoryArtifacts(),
    mailer: new RecordingMailer(),
    logger: silentLogger,
    ...given,
    clock,
    settings: { ...TEST_CLOSE_SETTINGS, ...given.settings },
  };
}
