import { describe, expect, it } from 'vitest';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { TableMailPacer } from '../../shared/adapters/azure/table-mail-pacer.js';
import type { MailPacer } from '../../shared/ports/work-queues.js';
import { InMemoryMailSlots } from '../support/in-memory.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

/** The MailPacer contract (one mailbox's sends spaced across every worker): the Table adapter on Azurite and the in-memory one. */
const pacers: [string, (messagesPerMinute: number) => MailPacer][] = [
  ['TableMailPacer (Azurite)', (messagesPerMinute) => new TableMailPacer(tableClientFor(azuriteConnectionString(), uniqueTableName('mailpacer')), { messagesPerMinute, backoffMs: () => 0 })],
  ['InMemoryMailSlots', (messagesPerMinute) => new InMemoryMailSlots(messagesPerMinute)],
];

const at = (iso: string) => new Date(iso);

describe.each(pacers)('%s', (_name, create) => {
  it('gives an idle mailbox now, and each next send one interval (a minute over the rate) after the last slot', async () => {
    const pacer = create(30);
    expect(await pacer.reserve('finance-bot@contoso.example', at('2026-12-01T06:00:00.000Z'))).toEqual(at('2026-12-01T06:00:00.000Z'));
    expect(await pacer.reserve('finance-bot@contoso.example', at('2026-12-01T06:00:00.500Z'))).toEqual(at('2026-12-01T06:00:02.000Z'));
    expect(await pacer.reserve('Finance-Bot@Contoso.example', at('2026-12-01T06:00:01.000Z'))).toEqual(at('2026-12-01T06:00:04.000Z'));
    // Another mailbox has its own slots.
    expect(await pacer.reserve('other@contoso.example', at('2026-12-01T06:00:01.000Z'))).toEqual(at('2026-12-01T06:00:01.000Z'));
    // Idle again once its last slot has passed.
    expect(await pacer.reserve('finance-bot@contoso.example', at('2026-12-01T06:10:00.000Z'))).toEqual(at('2026-12-01T06:10:00.000Z'));
  });

  it('rounds an interval that is not a whole millisecond up, so the rate is never exceeded', async () => {
    const pacer = create(7);
    const now = at('2026-12-01T06:00:00.000Z');
    await pacer.reserve('m@contoso.example', now);
    expect((await pacer.reserve('m@contoso.example', now)).getTime() - now.getTime()).toBe(8572);
  });

  it('gives N callers racing for one mailbox N distinct slots, one interval apart', async () => {
    const pacer = create(30);
    const now = at('2026-12-01T06:00:00.000Z');
    const slots = await Promise.all(Array.from({ length: 12 }, () => pacer.reserve('team-mail@contoso.example', now)));
    const times = slots.map((slot) => slot.getTime() - now.getTime()).sort((a, b) => a - b);
    expect(times).toEqual(Array.from({ length: 12 }, (_, index) => index * 2000));
  });
});
