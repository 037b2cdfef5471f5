// Readers to protect in the security tests: confirmed readers with topics, deliveries and events, and a
// snapshot of everything stored about them, to compare before and after a barrage of hostile requests.
import type { Database } from '../../src/db/client.ts';

export interface SeededReader {
  id: string;
  email: string;
  tokenVersion: number;
}

/** Confirmed readers with two topics, keywords, a sent digest, a confirm email and their events. */
export async function seedReaders(db: Database, emails: string[]): Promise<SeededReader[]> {
  const topics = await db.topic.findMany({ take: 2, orderBy: { slug: 'asc' } });
  const readers: SeededReader[] = [];
  for (const [i, email] of emails.entries()) {
    const reader = await db.subscriber.create({
      data: {
        email,
        status: 'active',
        confirmedAt: new Date('2026-11-01T07:00:00Z'),
        includeKeywords: ['diffusion', `keyword${i}`],
        excludeKeywords: ['quantum'],
        timeZone: 'Europe/Vienna',
        sendHour: 7,
        topics: { create: topics.map((topic) => ({ topicId: topic.id })) },
        deliveries: {
          create: [
            {
              kind: 'confirm',
              digestKey: `v1:seed-${i}`,
              status: 'sent',
              dueAt: new Date('2026-11-01T06:00:00Z'),
              sentAt: new Date('2026-11-01T06:00:05Z'),
            },
            {
              kind: 'digest',
              digestKey: '2026-11-02',
              status: 'sent',
              dueAt: new Date('2026-11-02T06:00:00Z'),
              sentAt: new Date('2026-11-02T06:00:05Z'),
            },
          ],
        },
        events: { create: [{ type: 'signup', data: { seeded: true } }, { type: 'confirm' }] },
      },
    });
    readers.push({ id: reader.id, email: reader.email, tokenVersion: reader.tokenVersion });
  }
  return readers;
}

/** Everything stored about these readers (and the suppression list), in a stable order. */
export async function snapshotReaders(db: Database, ids: string[]) {
  const where = { subscriberId: { in: ids } };
  return {
    subscribers: await db.subscriber.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } }),
    topics: await db.subscriberTopic.findMany({ where, orderBy: [{ subscriberId: 'asc' }, { topicId: 'asc' }] }),
    deliveries: await db.delivery.findMany({ where, orderBy: { id: 'asc' } }),
    events: await db.event.findMany({ where, orderBy: { id: 'asc' } }),
    suppressions: await db.suppression.findMany({ orderBy: { addressHash: 'asc' } }),
  };
}
