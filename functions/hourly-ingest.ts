import { app, type InvocationContext, type Timer } from '@azure/functions';
import { inInvocationScope, invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { describeError } from '../shared/domain/errors.js';
import { ingestHourly, type IngestHourlyResult } from '../shared/use-cases/ingest-hourly.js';

/** What the hourly ingest uses of the process's services (budget actions only when they are configured). */
export type HourlyIngestServices = Pick<Services, 'ingestDaily' | 'evaluateBudgets' | 'budgetActions'>;

/**
 * Ingests today so far (and yesterday in its first hours) and sends the budget alerts that are due, on the
 * schedule in HOURLY_INGEST_SCHEDULE (e.g. "0 5 * * * *": five past every hour, after App Insights has taken in
 * the metrics of the hour before). Disable it with the app setting AzureWebJobs.hourlyIngest.Disabled=true.
 */
export function hourlyIngestHandler(getServices: () => Promise<HourlyIngestServices> = servicesFromEnvironment) {
  return inInvocationScope(async (timer: Timer, context: InvocationContext): Promise<IngestHourlyResult> => {
    const logger = invocationLogger(context);
    try {
      const services = await getServices();
      if (timer.isPastDue) logger.warn('the hourly ingest runs late (timer past due)');
      const result = await ingestHourly({
        ingest: { ...services.ingestDaily, logger },
        budgets: { ...services.evaluateBudgets, logger },
        ...(services.budgetActions ? { budgetActions: services.budgetActions } : {}),
      });
      const sent = result.budgets.flatMap((month) => month.alerts).filter((alert) => alert.status === 'sent').length;
      logger.info(`hourly ingest of ${result.ingest.plan.firstDay} to ${result.ingest.plan.lastDay}: ${result.ingest.usage.rows} usage rows, ${sent} alert(s) sent`, {
        runId: result.ingest.run.id,
        months: result.ingest.months,
      });
      return result;
    } catch (error) {
      logger.error(`hourly ingest failed: ${describeError(error)}`);
      // Rethrown so the host records the failure and its retry policy can apply.
      throw error;
    }
  });
}

app.timer('hourlyIngest', {
  schedule: '%HOURLY_INGEST_SCHEDULE%',
  handler: hourlyIngestHandler(),
});
