import { z } from 'zod';
import { integer, matching, optionalText } from './setting-kinds.js';

/** Where a close's work items are queued (docs/fan-out.md), and how many a local run works on at once. */
export const WORK_QUEUE_SETTING = {
  url: 'WORK_QUEUES_URL',
  connectionString: 'WORK_QUEUES_CONNECTION_STRING',
  closeWorkers: 'CLOSE_WORKERS',
} as const;

/**
 * `url`: the account's queue service, reached with the managed identity (the deployed app). `connection`: a
 * connection string (Azurite). `none`: not configured; the command line then starts a local Azurite queue
 * service when a close first sends work.
 */
export type WorkQueueLocation =
  | { readonly kind: 'none' }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'connection'; readonly connectionString: string };

export interface WorkQueueSettings {
  readonly location: WorkQueueLocation;
  /** Work items a local drain runs at once (in Azure the host's batchSize and scale-out decide). */
  readonly closeWorkers: number;
}

const W = WORK_QUEUE_SETTING;
const QUEUE_SERVICE_URL = /^https:\/\/[^/\s]+\/?$/;

export function workQueueSections() {
  return {
    workQueues: z
      .object({
        // https only: the identity's token travels with every request.
        [W.url]: matching(QUEUE_SERVICE_URL, 'must be an https queue service URL such as https://account.queue.core.windows.net'),
        [W.connectionString]: optionalText(),
        [W.closeWorkers]: integer(4, 1, 64),
      })
      .transform((values): WorkQueueSettings => {
        const url = values[W.url];
        const connectionString = values[W.connectionString];
        const closeWorkers = values[W.closeWorkers];
        if (url !== null) return { location: { kind: 'url', url: url.replace(/\/$/, '') }, closeWorkers };
        if (connectionString !== null) return { location: { kind: 'connection', connectionString }, closeWorkers };
        return { location: { kind: 'none' }, closeWorkers };
      }),
  };
}

type WorkQueueSections = ReturnType<typeof workQueueSections>;

export function workQueuesOf(values: z.output<WorkQueueSections['workQueues']>): WorkQueueSettings {
  return Object.freeze({ location: Object.freeze(values.location), closeWorkers: values.closeWorkers });
}
