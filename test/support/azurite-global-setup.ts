import type { TestProject } from 'vitest/node';
import { startAzurite, startAzuriteQueue, type RunningAzurite } from '../../shared/adapters/local/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
    /** Azurite's Queue service: each test file uses its own queue name prefix. */
    azuriteQueueConnectionString: string;
  }
}

let azurites: RunningAzurite[] = [];

/** One in-memory Azurite (tables, and queues) for the whole test run; each test file uses its own names. */
export async function setup(project: TestProject): Promise<void> {
  azurites = await Promise.all([startAzurite(), startAzuriteQueue()]);
  project.provide('azuriteConnectionString', azurites[0]!.connectionString);
  project.provide('azuriteQueueConnectionString', azurites[1]!.connectionString);
}

export async function teardown(): Promise<void> {
  await Promise.all(azurites.map((azurite) => azurite.stop()));
}
