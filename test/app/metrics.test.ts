// /metrics after real work: papers ingested, digests built and sent through the SMTP sink, requests
// served. Every number asserted here is one this test caused.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startMetricsServer } from '../../src/metrics-server.ts';
import { loadSamplePapers } from '../../src/modules/papers/sample.ts';
import { createQueueConnection } from '../../src/queues/connection.ts';
import { QUEUE_NAMES } from '../../src/queues/index.ts';
import { createDigestWorker } from '../../workers/digest.worker.ts';
import { startWorkers, type RunningWorkers } from '../../workers/index.ts';
import { scheduleWorker } from '../../workers/schedule.worker.ts';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

/** `name{labels} value` lines of the Prometheus text format, keyed by everything before the value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (match && !line.startsWith('#')) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

describe('metrics', () => {
  const prefix = uniqueQueuePrefix();
  const READERS = 4;
  let t: TestApp;
  let sink: SmtpSink;
  let workers: RunningWorkers;

  const scrape = async () => {
    const response = await t.app.inject({ url: '/metrics', headers: adminHeaders });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    return parseMetrics(response.body);
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await openTestApp({ SMTP_URL: sink.url, QUEUE_PREFIX: prefix });
    await loadSamplePapers(t.database.db);
    const topics = await t.database.db.topic.findMany({
      where: { slug: { in: ['large-language-models', 'computer-vision'] } },
    });
    const hour = new Date().getUTCHours();
    for (let i = 0; i < READERS; i++) {
      await t.database.db.subscriber.create({
        data: {
          email: `reader${i}@example.org`,
          status: 'active',
          sendHour: hour,
          topics: { create: topics.map((topic) => ({ topicId: topic.id })) },
        },
      });
    }
    // One reader of a topic no paper matches: the digest is built and skipped.
    const empty = await t.database.db.topic.create({
      data: { slug: 'empty', name: 'Empty', description: 'Nothing matches.', query: 'zzzunmatchablezzz' },
    });
    await t.database.db.subscriber.create({
      data: {
        email: 'nothing@example.org',
        status: 'active',
        sendHour: hour,
        topics: { create: { topicId: empty.id } },
      },
    });
    workers = await startWorkers(t.config, createLogger(t.config), t.database.db, [
      scheduleWorker,
      createDigestWorker(),
    ]);
  });
  afterAll(async () => {
    await workers.close();
    await t.close();
    await sink.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  it('counts the papers ingested, the digests built, sent and skipped, their lag, jobs and requests', async () => {
    expect((await t.app.inject('/api/v1/topics')).statusCode).toBe(200);
    const before = await scrape();
    expect(before.get('paperboy_papers_ingested_total{outcome="added"}')).toBe(29);
    expect(before.get('paperboy_emails_sent_total{kind="digest"}') ?? 0).toBe(0);
    expect(
      before.get('paperboy_http_request_duration_seconds_count{method="GET",route="/api/v1/topics",status="200"}'),
    ).toBe(1);

    const connection = createQueueConnection(t.config.REDIS_URL);
    const ticks = new Queue(QUEUE_NAMES.schedule, { connection, prefix });
    await ticks.add('tick', {});
    await sink.waitForMessages(READERS);
    await ticks.close();
    await connection.quit();

    // Job-completed events arrive just after the send is recorded. A digest job is a page of deliveries.
    const pages = Math.ceil((READERS + 1) / t.config.DIGEST_PAGE_SIZE);
    await expect
      .poll(async () => (await scrape()).get('paperboy_job_duration_seconds_count{queue="digest",outcome="completed"}'))
      .toBe(pages);
    const after = await scrape();
    expect(after.get('paperboy_emails_sent_total{kind="digest"}')).toBe(READERS);
    expect(after.get('paperboy_emails_skipped_total{kind="digest"}')).toBe(1);
    expect(after.get('paperboy_emails_failed_total{kind="digest"}') ?? 0).toBe(0);
    expect(after.get('paperboy_digest_build_duration_seconds_count')).toBe(pages);
    expect(after.get('paperboy_digest_lag_seconds_count')).toBe(READERS);
    // Our tick, and perhaps the every-minute one of the job scheduler.
    expect(after.get('paperboy_job_duration_seconds_count{queue="schedule",outcome="completed"}')).toBeGreaterThan(0);
    expect(after.get('paperboy_queue_jobs{queue="digest",state="waiting"}')).toBe(0);
    expect(after.get('paperboy_queue_jobs{queue="digest",state="failed"}')).toBe(0);
    // Routes are labelled by pattern: a signed link never becomes a label.
    const link = '/unsubscribe/a-signed-token-that-must-not-be-a-label';
    expect((await t.app.inject(link)).statusCode).toBe(400);
    const text = (await t.app.inject({ url: '/metrics', headers: adminHeaders })).body;
    expect(text).toContain('route="/unsubscribe/:token"');
    expect(text).not.toContain('a-signed-token');
    expect(
      after.get('paperboy_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}'),
    ).toBeGreaterThan(0);
  });

  it('serves the same registry without a token on METRICS_PORT', async () => {
    const port = await freePort();
    const server = await startMetricsServer({ METRICS_HOST: '127.0.0.1', METRICS_PORT: port }, createLogger(t.config));
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(parseMetrics(await response.text()).get('paperboy_emails_sent_total{kind="digest"}')).toBe(READERS);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    } finally {
      await server?.close();
    }
  });
});
