// Prometheus metrics (prom-client). One registry per process: the API serves it at /metrics, and a
// worker process started on its own serves it on METRICS_PORT. Modules record what happened here;
// nothing in this file knows about HTTP or queues beyond the label values.
import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'paperboy_' });

export const httpRequestDuration = new Histogram({
  name: 'paperboy_http_request_duration_seconds',
  help: 'HTTP request durations by method, route pattern and status code.',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: 'paperboy_job_duration_seconds',
  help: 'How long queue jobs take to process, by queue and outcome (completed or failed).',
  labelNames: ['queue', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

const watchedQueues = new Set<Queue>();
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;
/** A scrape must answer even while Redis is away: a queue that does not answer in time is left out. */
const QUEUE_COUNT_TIMEOUT_MS = 1_000;

export const queueDepth = new Gauge({
  name: 'paperboy_queue_jobs',
  help: 'Jobs in each queue by state, read from Redis when scraped.',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    await Promise.all(
      [...watchedQueues].map(async (queue) => {
        const timeout = new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), QUEUE_COUNT_TIMEOUT_MS).unref(),
        );
        const counts = await Promise.race([queue.getJobCounts(...QUEUE_STATES).catch(() => undefined), timeout]);
        for (const [state, count] of Object.entries(counts ?? {})) this.set({ queue: queue.name, state }, count);
      }),
    );
  },
});

/** Reports these queues' depths on every scrape until the returned function is called. */
export function watchQueueDepths(queues: Queue[]): () => void {
  for (const queue of queues) watchedQueues.add(queue);
  return () => queues.forEach((queue) => watchedQueues.delete(queue));
}

export const emailsSent = new Counter({
  name: 'paperboy_emails_sent_total',
  help: 'Emails the SMTP server accepted, by kind (confirm, manage_link, digest).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const emailsFailed = new Counter({
  name: 'paperboy_emails_failed_total',
  help: 'Emails that failed for good (a permanent SMTP refusal), by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const emailsSkipped = new Counter({
  name: 'paperboy_emails_skipped_total',
  help: 'Deliveries not sent on purpose (nothing new, suppressed, unsubscribed), by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const emailsBounced = new Counter({
  name: 'paperboy_emails_bounced_total',
  help: 'Bounces and complaints reported by the mail server or the bounce webhook, by type (hard, soft, complaint).',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const digestBuildDuration = new Histogram({
  name: 'paperboy_digest_build_duration_seconds',
  help: 'Time to choose the papers of one page of digests and render their emails.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const papersIngested = new Counter({
  name: 'paperboy_papers_ingested_total',
  help: 'Papers read from feeds, by outcome (added, updated, unchanged, skipped as invalid).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const unschedulableReaders = new Gauge({
  name: 'paperboy_digest_readers_unschedulable',
  help: 'Active readers the last scheduling pass skipped because Postgres knows no name for their stored time zone.',
  registers: [registry],
});

export const schedulerLag = new Histogram({
  name: 'paperboy_digest_lag_seconds',
  help: "How long after the reader's send hour a digest was accepted by the mail server.",
  buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200],
  registers: [registry],
});
