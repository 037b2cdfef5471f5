// Choosing and re-sending a digest's papers: late arrivals, sent papers, retries, stale claims.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeDigests } from '../../src/modules/digests/compose.ts';
import { choosePapers } from '../../src/modules/digests/papers.ts';
import { compileEmailTemplates } from '../../src/modules/mail/templates.ts';
import { testConfig } from '../helpers/config.ts';
import { claimDelivery, finishDelivery, markSent, releaseDelivery } from '../../src/modules/mail/deliveries.ts';
import { ingestFeed } from '../../src/modules/papers/ingest.ts';
import { openTestDatabase } from '../helpers/postgres.ts';

describe('digest papers and delivery claims', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let readerId: string;
  const reader = () => database.db.subscriber.findUniqueOrThrow({ where: { id: readerId } });

  beforeAll(async () => {
    database = await openTestDatabase();
    const merging = await database.db.topic.findUniqueOrThrow({ where: { slug: 'model-merging' } });
    readerId = (
      await database.db.subscriber.create({
        data: { email: 'r@example.org', status: 'active', topics: { create: { topicId: merging.id } } },
      })
    ).id;
  });
  afterAll(async () => {
    await database.close();
  });

  it('includes a paper that arrives after the previous digest even when its feed dates it earlier', async () => {
    const previousDigest = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await ingestFeed(database.db, [
      {
        paper: { id: '2611.00030', title: 'Late Model Merging' },
        publishedAt: new Date(previousDigest.getTime() - 3_600_000).toISOString(),
      },
    ]);
    const papers = await choosePapers(database.db, await reader(), previousDigest, new Date());
    expect(papers.map((p) => p.id)).toEqual(['2611.00030']);
  });

  it('never offers a paper already sent to the reader, however wide the window', async () => {
    const delivery = await database.db.delivery.create({
      data: {
        subscriberId: readerId,
        kind: 'digest',
        digestKey: '2026-11-27',
        dueAt: new Date(),
        status: 'sending',
        attempts: 1,
      },
    });
    await markSent(database.db, delivery, '<x@example.org>', ['2611.00030']);
    expect(await choosePapers(database.db, await reader(), new Date(0), new Date())).toEqual([]);
  });

  it('lets only the current claim move a delivery on', async () => {
    const row = await database.db.delivery.create({
      data: { subscriberId: readerId, kind: 'digest', digestKey: '2026-11-28', dueAt: new Date() },
    });
    const first = (await claimDelivery(database.db, row.id))!;
    // The first worker's lease runs out; a second takes over.
    await database.db.delivery.update({ where: { id: row.id }, data: { leaseUntil: new Date(Date.now() - 1) } });
    const second = (await claimDelivery(database.db, row.id))!;
    expect(second.attempts).toBe(first.attempts + 1);
    // The first worker's late answers change nothing.
    expect(await releaseDelivery(database.db, first, '451 late')).toBe(false);
    expect(await finishDelivery(database.db, first, 'failed', 'late')).toBe(false);
    expect(await markSent(database.db, first, '<late@example.org>')).toBe(false);
    expect(await database.db.delivery.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'sending',
      attempts: 2,
    });
    expect(await markSent(database.db, second, '<ok@example.org>')).toBe(true);
  });

  it('re-sends the papers chosen by the first attempt, even when newer ones have arrived since', async () => {
    const templates = await compileEmailTemplates();
    const config = testConfig({ DATABASE_URL: database.url, PUBLIC_URL: 'https://papers.example.org' });
    await database.db.subscriber.update({ where: { id: readerId }, data: { sendHour: 0, timeZone: 'UTC' } });
    const row = await database.db.delivery.create({
      data: {
        subscriberId: readerId,
        kind: 'digest',
        digestKey: '2026-11-29',
        dueAt: new Date(),
        paperIds: ['2611.00030'],
      },
    });
    await ingestFeed(database.db, [
      { paper: { id: '2611.00031', title: 'Newer Model Merging' }, publishedAt: new Date().toISOString() },
    ]);
    const claim = (await claimDelivery(database.db, row.id))!;
    const composed = (await composeDigests(database.db, config, templates, [claim]))[0]!;
    expect('message' in composed && composed.paperIds).toEqual(['2611.00030']);
  });
});
