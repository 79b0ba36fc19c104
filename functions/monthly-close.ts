import { app, type InvocationContext, type Timer } from '@azure/functions';
import { inInvocationScope, invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { firstCloseDay, monthToClose } from '../shared/domain/closing.js';
import { describeError } from '../shared/domain/errors.js';
import { previousMonth } from '../shared/domain/periods.js';
import { closeMonth } from '../shared/use-cases/close-month.js';

/** What the monthly close uses of the process's services. */
export interface MonthlyCloseServices extends Pick<Services, 'clock' | 'closeMonth'> {
  readonly settings: Pick<Services['settings'], 'timeZone' | 'monthlyClose'>;
}

/**
 * Runs on MONTHLY_CLOSE_SCHEDULE (daily, e.g. "0 0 6 * * *"). Closes the previous month (in the reporting
 * time zone) once MONTHLY_CLOSE_GRACE_DAYS have passed after the 1st, and on every later run of the month
 * closes it again: unchanged numbers send nothing, a mail that failed is retried, late data makes a revision.
 */
export function monthlyCloseHandler(getServices: () => Promise<MonthlyCloseServices> = servicesFromEnvironment) {
  return inInvocationScope(async (timer: Timer, context: InvocationContext): Promise<void> => {
    const logger = invocationLogger(context);
    try {
      const services = await getServices();
      const { timeZone, monthlyClose } = services.settings;
      const now = services.clock.now();
      const month = monthToClose(now, timeZone, monthlyClose.graceDays);
      if (month === null) {
        const waiting = previousMonth(now, timeZone);
        logger.info(`${waiting} is inside its ${monthlyClose.graceDays}-day grace period; it is closed from ${firstCloseDay(waiting, monthlyClose.graceDays)} (${timeZone})`);
        return;
      }
      if (timer.isPastDue) logger.warn(`the monthly close for ${month} runs late (timer past due)`);
      const result = await closeMonth({ ...services.closeMonth, logger }, { month });
      const teamMails = result.teams.filter((team) => team.mail.status === 'sent').length;
      logger.info(
        `closed ${month}: revision ${result.revision}${result.changed ? '' : ' (unchanged)'}, ${result.report.teams.length} teams, finance mail ${result.mail.status}, ${teamMails} team mail(s) sent`,
        {
          month,
          revision: result.revision,
          changed: result.changed,
          grandTotalMinorUnits: result.report.grandTotal.toString(),
          rejects: result.usage.rejects.count,
          teamMailsSent: teamMails,
        },
      );
    } catch (error) {
      logger.error(`monthly close failed: ${describeError(error)}`);
      // Rethrown so the host records the failure and its retry policy can apply.
      throw error;
    }
  });
}

app.timer('monthlyClose', {
  schedule: '%MONTHLY_CLOSE_SCHEDULE%',
  handler: monthlyCloseHandler(),
});
