import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { closeWorkHandler } from '../../functions/close-work.js';
import { closeMonth } from '../../shared/use-cases/close-month.js';
import type { CloseWorkDeps } from '../../shared/use-cases/close-work.js';
import { testCloseDeps } from '../support/close-deps.js';
import { testDirectory, tokens, usageRow } from '../support/domain-fixtures.js';
import { fixedClock, RecordingMailer, StaticDirectory, StaticUsageSource } from '../support/in-memory.js';
import { InMemoryCloseProgress } from '../support/in-memory-close-progress.js';
import { ClockedWorkQueues, RecordedMailSlots } from '../support/in-memory-work-queues.js';

function invocation(triggerMetadata: Record<string, unknown>) {
  const logs: string[] = [];
  const context = new InvocationContext({ invocationId: 'inv-1', functionName: 'closeTeam', triggerMetadata, logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`) });
  return { context, logs };
}

async function closedOctober() {
  const clock = fixedClock('2026-11-03T06:00:00Z');
  const mailer = new RecordingMailer();
  const deps = testCloseDeps({
    usageSource: new StaticUsageSource([usageRow({ day: '2026-10-07', userId: 'u1', tokens: tokens({ input: 1_000_000 }) })]),
    directory: new StaticDirectory(testDirectory([{ userId: 'u1', teamId: 'payments' }], [{ id: 'payments', name: 'Payments', leads: ['lead@contoso.example'] }])),
    mailer,
    clock,
  });
  const queues = new ClockedWorkQueues(clock);
  const progress = new InMemoryCloseProgress(() => clock.now());
  await closeMonth({ ...deps, fanOut: { queues, progress } }, { month: '2026-10' });
  const closeWork: CloseWorkDeps = { ...deps, queues, progress, pacer: new RecordedMailSlots(30) };
  return { closeWork, queues, mailer };
}

describe('the close work-item queue triggers', () => {
  it('run the item named by the message, with the delivery count the host passes', async () => {
    const { closeWork, queues } = await closedOctober();
    const team = queues.take();
    const { context } = invocation({ id: 'msg-1', dequeueCount: 2 });
    await closeWorkHandler('close-team', async () => ({ closeWork }))(team.body, context);
    expect((await closeWork.progress.items('2026-10', 1)).find((item) => item.id === 'team~payments')?.state).toBe('done');
    expect(queues.waiting.map((message) => message.queue).sort()).toEqual(['close-finance', 'close-mail']);
  });

  it('throw a bad message back to the host, logged with its delivery count, so that it is retried and then poisoned', async () => {
    const { closeWork } = await closedOctober();
    const { context, logs } = invocation({ id: 'msg-9', dequeueCount: 5 });
    await expect(closeWorkHandler('close-mail', async () => ({ closeWork }))({ month: 'soon' }, context)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(logs.some((line) => line.startsWith('error') && line.includes('close-mail item failed (delivery 5)'))).toBe(true);
  });

  it('say clearly that no queues are configured when a message arrives without them', async () => {
    const { context } = invocation({ id: 'msg-2', dequeueCount: 1 });
    await expect(closeWorkHandler('close-finance', async () => ({}))({ month: '2026-10', revision: 1 }, context)).rejects.toThrow(/no work queues are configured/);
  });
});
