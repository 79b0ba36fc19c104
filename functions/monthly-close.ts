import { app, type InvocationContext, type Timer } from '@azure/functions';
import { invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { describeError } from '../shared/domain/errors.js';
import { previousMonth } from '../shared/domain/periods.js';
import type { Logger } from '../shared/ports/runtime.js';
import { closeMonth } from '../shared/use-cases/close-month.js';

/** Closes the previous month (in the reporting time zone) on the schedule in MONTHLY_CLOSE_SCHEDULE. */
export function monthlyCloseHandler(getServices: (logger: Logger) => Promise<Services> = servicesFromEnvironment) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    const logger = invocationLogger(context);
    try {
      const services = await getServices(logger);
      const month = previousMonth(services.clock.now(), services.settings.timeZone);
      if (timer.isPastDue) logger.warn(`the monthly close for ${month} runs late (timer past due)`);
      const result = await closeMonth({ ...services.closeMonth, logger }, { month });
      logger.info(`closed ${month}: revision ${result.revision}, ${result.report.teams.length} teams, mail ${result.mail.status}`, {
        month,
        revision: result.revision,
        changed: result.changed,
        grandTotalMinorUnits: result.report.grandTotal.toString(),
        rejects: result.usage.rejects.count,
      });
    } catch (error) {
      logger.error(`monthly close failed: ${describeError(error)}`);
      // Rethrown so the host records the failure and its retry policy can apply.
      throw error;
    }
  };
}

app.timer('monthlyClose', {
  schedule: '%MONTHLY_CLOSE_SCHEDULE%',
  handler: monthlyCloseHandler(),
});
