import { describe, expect, it } from 'vitest';
import { PacedMailer } from '../../shared/adapters/paced-mailer.js';
import type { Mailer, OutgoingMail, SentMail } from '../../shared/ports/mailer.js';

/** Time that only moves when someone sleeps or the test advances it. */
function fakeClock(start = 1_000_000) {
  let time = start;
  const sleeps: number[] = [];
  return {
    now: () => time,
    advance: (ms: number) => {
      time += ms;
    },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      time += ms;
    },
    sleeps,
  };
}

/** Records when each mail reached the real mailer. */
function recordingMailer(clock: { now: () => number }, fail?: (mail: OutgoingMail) => boolean) {
  const sentAt: { key: string; at: number }[] = [];
  const mailer: Mailer = {
    async send(mail: OutgoingMail): Promise<SentMail> {
      sentAt.push({ key: mail.idempotencyKey, at: clock.now() });
      if (fail?.(mail)) throw new Error('refused');
      return { messageId: `<${mail.idempotencyKey}@test>`, location: 'test' };
    },
  };
  return { mailer, sentAt };
}

function mail(n: number, from = 'Chargeback <chargeback@contoso.example>'): OutgoingMail {
  return { from, to: ['lead@contoso.example'], subject: `report ${n}`, text: '', html: '', attachments: [], idempotencyKey: `mail-${n}` };
}

describe('PacedMailer', () => {
  it('holds the 31st message of a minute until the first one leaves the rolling window', async () => {
    const clock = fakeClock(0);
    const { mailer, sentAt } = recordingMailer(clock);
    const paced = new PacedMailer(mailer, { messagesPerMinute: 30, now: clock.now, sleep: clock.sleep });

    await paced.send(mail(1));
    clock.advance(10_000);
    for (let n = 2; n <= 30; n += 1) await paced.send(mail(n));
    expect(clock.sleeps).toEqual([]);

    await paced.send(mail(31));
    // The first left the window at 60 s, 50 s after the others were sent at 10 s.
    expect(clock.sleeps).toEqual([50_000]);
    expect(sentAt[30]).toEqual({ key: 'mail-31', at: 60_000 });

    await paced.send(mail(32));
    // Messages 2..30 (sent at 10 s) are still in the window: the 32nd waits for them, not for a fixed minute.
    expect(clock.sleeps).toEqual([50_000, 10_000]);
    expect(sentAt[31]).toEqual({ key: 'mail-32', at: 70_000 });
    expect(sentAt.map((entry) => entry.key)).toEqual(Array.from({ length: 32 }, (_, i) => `mail-${i + 1}`));
  });

  it('never lets more than the limit start in any 60 s, even when sends are started all at once', async () => {
    const clock = fakeClock();
    const { mailer, sentAt } = recordingMailer(clock);
    const paced = new PacedMailer(mailer, { messagesPerMinute: 5, now: clock.now, sleep: clock.sleep });

    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => paced.send(mail(i + 1))));

    expect(results).toHaveLength(12);
    expect(sentAt.map((entry) => entry.key)).toEqual(Array.from({ length: 12 }, (_, i) => `mail-${i + 1}`));
    for (const { at } of sentAt) {
      expect(sentAt.filter((other) => other.at >= at && other.at < at + 60_000).length).toBeLessThanOrEqual(5);
    }
    expect(sentAt[11]!.at - sentAt[0]!.at).toBe(120_000);
  });

  it('counts each mailbox on its own', async () => {
    const clock = fakeClock();
    const { mailer } = recordingMailer(clock);
    const paced = new PacedMailer(mailer, { messagesPerMinute: 2, now: clock.now, sleep: clock.sleep });

    await paced.send(mail(1, 'a@contoso.example'));
    await paced.send(mail(2, 'A <A@contoso.example>'));
    await paced.send(mail(3, 'b@contoso.example'));
    await paced.send(mail(4, 'b@contoso.example'));
    expect(clock.sleeps).toEqual([]);

    await paced.send(mail(5, 'a@contoso.example'));
    expect(clock.sleeps).toEqual([60_000]);
  });

  it('counts failed sends against the window and passes the failure through', async () => {
    const clock = fakeClock();
    const { mailer } = recordingMailer(clock, (m) => m.idempotencyKey === 'mail-1');
    const paced = new PacedMailer(mailer, { messagesPerMinute: 1, now: clock.now, sleep: clock.sleep });

    await expect(paced.send(mail(1))).rejects.toThrow('refused');
    await paced.send(mail(2));
    expect(clock.sleeps).toEqual([60_000]);
  });
});
