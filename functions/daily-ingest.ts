import { app, type InvocationContext, type Timer } from '@azure/functions';
import { inInvocationScope, invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { describeError } from '../shared/domain/errors.js';
import { ingestDaily, type IngestDailyResult } from '../shared/use-cases/ingest-daily.js';
import { evaluateBudgetsAfterIngest } from '../shared/use-cases/evaluate-budgets.js';

/** What the daily ingest uses of the process's services. */
export type DailyIngestServices = Pick<Services, 'ingestDaily' | 'evaluateBudgets'>;

/**
 * Ingests the trailing complete days (INGEST_TRAILING_DAYS, default 3) plus any days missed since the last
 * successful run, on the schedule in DAILY_INGEST_SCHEDULE (e.g. "0 30 5 * * *": 05:30 UTC, after the
 * previous day has closed in the reporting zone and most late metrics have arrived).
 */
export function dailyIngestHandler(getServices: () => Promise<DailyIngestServices> = servicesFromEnvironment) {
  return inInvocationScope(async (timer: Timer, context: InvocationContext): Promise<IngestDailyResult> => {
    const logger = invocationLogger(context);
    try {
      const services = await getServices();
      if (timer.isPastDue) logger.warn('the daily ingest runs late (timer past due)');
      const result = await ingestDaily({ ...services.ingestDaily, logger }, { trigger: 'timer' });
      await evaluateBudgetsAfterIngest({ ...services.evaluateBudgets, logger }, result.months);
      logger.info(`ingested ${result.plan.firstDay} to ${result.plan.lastDay}: ${result.usage.rows} usage rows, ${result.stored.lines} day lines`, {
        runId: result.run.id,
        days: result.days.length,
        catchUpDays: result.plan.catchUpDays,
        months: result.months,
        rejects: result.usage.rejects.count,
        coveredThrough: result.run.coveredThrough,
      });
      return result;
    } catch (error) {
      logger.error(`daily ingest failed: ${describeError(error)}`);
      // Rethrown so the host records the failure and its retry policy can apply.
      throw error;
    }
  });
}

app.timer('dailyIngest', {
  schedule: '%DAILY_INGEST_SCHEDULE%',
  handler: dailyIngestHandler(),
});
