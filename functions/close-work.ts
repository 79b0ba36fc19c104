import { app, type InvocationContext } from '@azure/functions';
import { inInvocationScope, invocationLogger } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment, type Services } from '../shared/composition-root.js';
import { WORK_QUEUES_CONNECTION } from '../shared/config/settings.js';
import { AppError, describeError } from '../shared/domain/errors.js';
import type { WorkQueueName } from '../shared/ports/work-queues.js';
import { closeWorkHandlers } from '../shared/use-cases/close-work.js';

/** What the close's work items use of the process's services. */
export type CloseWorkServices = Pick<Services, 'closeWork'>;


/**
 * Runs one work item of a fanned-out close (a team, the finance item, a mail) from its Storage queue. A
 * message the item could not finish is thrown back to the host, which retries it and after maxDequeueCount
 * (host.json) moves it to `<queue>-poison`; the next close run tells the operator about poison messages.
 */
export function closeWorkHandler(queue: WorkQueueName, getServices: () => Promise<CloseWorkServices> = servicesFromEnvironment) {
  return inInvocationScope(async (message: unknown, context: InvocationContext): Promise<void> => {
    const logger = invocationLogger(context);
    const meta = { id: String(context.triggerMetadata?.id ?? context.invocationId), dequeueCount: Number(context.triggerMetadata?.dequeueCount ?? 1) };
    try {
      const { closeWork } = await getServices();
      if (!closeWork) throw new AppError('CONFIG_INVALID', `a ${queue} message arrived but no work queues are configured (WORK_QUEUES_URL)`);
      await closeWorkHandlers({ ...closeWork, logger })[queue](message, meta);
    } catch (error) {
      logger.error(`${queue} item failed (delivery ${meta.dequeueCount}): ${describeError(error)}`, { queue, messageId: meta.id, dequeueCount: meta.dequeueCount });
      throw error;
    }
  });
}

for (const [name, queue] of [
  ['closeTeam', 'close-team'],
  ['closeFinance', 'close-finance'],
  ['closeMail', 'close-mail'],
] as const) {
  app.storageQueue(name, { queueName: queue, connection: WORK_QUEUES_CONNECTION, handler: closeWorkHandler(queue) });
}
