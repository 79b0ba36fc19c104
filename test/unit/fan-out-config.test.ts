import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../shared/adapters/azure/storage-work-queues.js';
import { DEFAULT_MAX_DEQUEUE_COUNT, DEFAULT_RETRY_DELAY_SECONDS } from '../../shared/adapters/local/queue-drain.js';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { WORK_QUEUES_CONNECTION } from '../../shared/config/settings.js';
import { WORK_QUEUE_NAMES } from '../../shared/ports/work-queues.js';

const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
const host = JSON.parse(read('host.json')) as { extensions?: { queues?: Record<string, unknown> } };

/** The local drain must do what the Functions host does with the same messages, and the infrastructure must name the same queues. */
describe('the fan-out configuration', () => {
  it('host.json sets the queue trigger to what the local drain does: Base64 messages, 5 deliveries, 30 s between retries', () => {
    const queues = host.extensions?.queues ?? {};
    expect(queues.messageEncoding).toBe('base64');
    expect(queues.maxDequeueCount).toBe(DEFAULT_MAX_DEQUEUE_COUNT);
    const [hours, minutes, seconds] = String(queues.visibilityTimeout).split(':').map(Number);
    expect(hours! * 3600 + minutes! * 60 + seconds!).toBe(DEFAULT_RETRY_DELAY_SECONDS);
  });

  it('encodes a message as Base64 of its UTF-8 JSON, as the trigger decodes it', () => {
    const text = JSON.stringify({ team: 'Équipe <&>', month: '2026-11' });
    expect(encodeMessage(text)).toBe(Buffer.from(text, 'utf8').toString('base64'));
    expect(Buffer.from(encodeMessage(text), 'base64').toString('utf8')).toBe(text);
    expect(decodeMessage(encodeMessage(text))).toBe(text);
    // Put on by hand (the portal, Storage Explorer) as plain JSON: taken as it is.
    expect(decodeMessage('{"team":"a"}')).toBe('{"team":"a"}');
  });

  it('the Bicep creates every work queue and gives the triggers the identity-based connection they name', () => {
    const main = read('infra/main.bicep');
    const queueList = /queueNames: \[([^\]]*)\]/.exec(main)?.[1] ?? '';
    expect(queueList.split(',').map((name) => name.trim().replace(/'/g, '')).sort()).toEqual([...WORK_QUEUE_NAMES].sort());
    const app = read('infra/app/function-app.bicep');
    for (const property of ['queueServiceUri', 'credential', 'clientId']) expect(app).toContain(`${WORK_QUEUES_CONNECTION}__${property}:`);
    expect(read('infra/app/rbac.bicep')).toMatch(/storageRoles = \[[^\]]*role\.storageQueueDataContributor/);
  });
});
