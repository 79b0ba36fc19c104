import { app, type InvocationContext, type Timer } from '@azure/functions';
import { inInvocationScope, invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { firstCloseDay, monthToClose } from '../shared/domain/closing.js';
import { describeError, isAppError } from '../shared/domain/errors.js';
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
      const result = await closeMonth({ ...services.closeMonth, logger }, { month, notifyOperatorOfRefusal: true, runId: `timer ${context.invocationId}` });
      if (result.state === 'held') {
        // Logged as an error so that an Application Insights alert on failures picks it up; the operator was mailed once per reason.
        logger.error(`the close of ${month} is held for review (revision ${result.revision}): nothing was sent to finance or teams`, {
          month,
          revision: result.revision,
          holds: result.controls.filter((control) => control.outcome === 'hold').map((control) => control.id),
        });
        return;
      }
      const uncertain = [result.mail, ...result.teams.map((team) => team.mail)].filter((mail) => mail.status === 'uncertain').length;
      if (uncertain > 0) logger.error(`${uncertain} mail(s) of ${month} are uncertain: a run stopped between sending and recording them; check and run close --resend-uncertain`);
      if (result.dispatched) {
        const { teamsQueued, financeQueued, mailsQueued, done } = result.dispatched;
        logger.info(
          `closed ${month}: revision ${result.revision}${result.changed ? '' : ' (unchanged)'}, ${result.report.teams.length} teams; queued ${teamsQueued} team item(s), ${financeQueued ? 'the finance item' : 'no finance item'} and ${mailsQueued} mail(s) (${done} item(s) already done)`,
          { month, revision: result.revision, changed: result.changed, grandTotalMinorUnits: result.report.grandTotal.toString(), teamsQueued, mailsQueued, done, stuckWork: result.stuckWork?.length ?? 0 },
        );
        return;
      }
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
      // A refusal or a busy month is an answer, not a failure to retry: the next scheduled run tries again,
      // and the refusal was recorded and told to the operator once.
      if (isAppError(error) && (error.code === 'CLOSE_REFUSED' || error.code === 'BUSY')) return;
      // Rethrown so the host records the failure and its retry policy can apply.
      throw error;
    }
  });
}

app.timer('monthlyClose', {
  schedule: '%MONTHLY_CLOSE_SCHEDULE%',
  handler: monthlyCloseHandler(),
});
