// The worker behind both delivery queues (mail and digest): each job a page of deliveries to claim,
// compose, send and record; plus the reconciler that rebuilds the queue from Postgres at start and every
// few minutes.
import { setTimeout as delay } from 'node:timers/promises';
import { DelayedError, Worker, type Job } from 'bullmq';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/client.ts';
import type { ClaimedDelivery } from '../src/modules/mail/deliveries.ts';
import { reconcileDeliveries } from '../src/modules/mail/reconcile.ts';
import {
  createSemaphore,
  sendDeliveries,
  SendingStoppedError,
  type Composed,
  type SendDeps,
} from '../src/modules/mail/send.ts';
import { EMAIL_KINDS, kindsOn, type EmailKind } from '../src/modules/mail/kinds.ts';
import { createSendRate } from '../src/modules/mail/send-rate.ts';
import { compileEmailTemplates, type EmailTemplates } from '../src/modules/mail/templates.ts';
import { createMailer, retryModeOf } from '../src/modules/mail/transport.ts';
import { markBounced } from '../src/modules/subscribers/subscriptions.ts';
import { deliveryBackoff, deliveryJob, type DeliveryJob } from '../src/queues/deliveries.ts';
import { createQueue, createWorker } from '../src/queues/index.ts';
import type { WorkerFactory } from '../src/queues/worker.ts';

/** A delivery queue's worker: which kinds it sends, their send class and staleness, come from kinds.ts. */
export interface DeliveryWorkerSpec {
  queue: EmailKind['queue'];
  /** Jobs (pages) one process works on at once. */
  concurrency: number;
  /** SMTP connections of the process; also the messages of one page in conversation at once. */
  connections: (config: Config) => number;
  /** The messages for a page of claimed deliveries, one per delivery in order. */
  compose: (
    db: Database,
    config: Config,
    templates: EmailTemplates,
    deliveries: ClaimedDelivery[],
  ) => Promise<Composed[]>;
}

/** Overrides of RECONCILE_INTERVAL_MS and MAIL_OUTAGE_PAUSE_MS, for tests that run a worker in-process. */
export interface DeliveryWorkerOptions {
  reconcileEveryMs?: number;
  servicePauseMs?: number;
}

export const createDeliveryWorker =
  (spec: DeliveryWorkerSpec, options: DeliveryWorkerOptions = {}): WorkerFactory =>
  async ({ config, logger, db, queues }) => {
    const reconcileEveryMs = options.reconcileEveryMs ?? config.RECONCILE_INTERVAL_MS;
    const servicePauseMs = options.servicePauseMs ?? config.MAIL_OUTAGE_PAUSE_MS;
    const leaseMs = config.DELIVERY_LEASE_SECONDS * 1000;
    const connections = spec.connections(config);
    const templates = await compileEmailTemplates();
    const mailer = createMailer(config, logger, { maxConnections: connections });
    const queue = createQueue<DeliveryJob>(spec.queue, queues);
    const sendRate = createSendRate(queues.connection, queues.prefix, config.SEND_RATE_PER_SECOND);
    // Every kind on one queue shares its place in the send rate (kinds.ts keeps them so).
    const sendClass = EMAIL_KINDS[kindsOn(spec.queue)[0]!].sendClass;

    // Redis may have lost jobs (flushed, restarted): Postgres knows what is still to send.
    const reconcile = () =>
      reconcileDeliveries(db, queue, config).catch((error: unknown) =>
        logger.warn({ err: error, queue: spec.queue }, 'reconciliation failed; will try again'),
      );
    void reconcile();
    const timer = setInterval(() => void reconcile(), reconcileEveryMs);

    let closing = false;
    const send: SendDeps = {
      db,
      mailer,
      compose: (deliveries) => spec.compose(db, config, templates, deliveries),
      onHardBounce: (address, reason) => markBounced(db, address, reason),
      leaseMs,
      inFlight: connections,
      conversations: createSemaphore(connections),
      // A shutdown finishes the messages under way and gives the rest of each page back (see 'closing').
      stopping: () => closing,
      // Over the installation's send rate (or yielding to transactional mail): wait for the window to end.
      takeSendSlot: async () => {
        for (let wait = await sendRate.take(sendClass); wait > 0; wait = await sendRate.take(sendClass)) {
          await delay(wait);
        }
      },
    };
    const worker: Worker<DeliveryJob> = createWorker<DeliveryJob>(
      spec.queue,
      async (job: Job<DeliveryJob>, token?: string) => {
        try {
          return await sendDeliveries(send, deliveryJob.parse(job.data).deliveryIds);
        } catch (error) {
          // Back in line without spending an attempt, for a worker that is not shutting down.
          if (error instanceof SendingStoppedError) throw Worker.RateLimitError();
          const retry = retryModeOf(error);
          if (retry === 'backoff') throw error;
          if (retry === 'defer') {
            // The server closed the channel on a message (421): the job is back in line after the first retry
            // delay, without using an attempt (the delivery rows were released), while other jobs go on.
            logger.warn(
              { err: error, queue: spec.queue, jobId: job.id, delayMs: config.DELIVERY_RETRY_DELAY_MS },
              'the mail server closed the channel for a message (421); it is tried again without spending an attempt',
            );
            await job.moveToDelayed(Date.now() + config.DELIVERY_RETRY_DELAY_MS, token);
            throw new DelayedError();
          }
          // Not this reader's fault: pause the whole queue (the job goes back without using an attempt).
          logger.error(
            { err: error, queue: spec.queue, jobId: job.id, pauseMs: servicePauseMs },
            'ALERT: the mail server refuses or cannot be reached; sending is paused and will be retried',
          );
          await queue.rateLimit(servicePauseMs);
          throw Worker.RateLimitError();
        }
      },
      queues,
      {
        concurrency: spec.concurrency,
        // The shared send rate above decides; this bound only lets BullMQ honour its pauses (rateLimit).
        limiter: { max: config.SEND_RATE_PER_SECOND, duration: 1_000 },
        // A killed worker's jobs go back to the queue about when its deliveries' leases run out.
        lockDuration: Math.min(30_000, leaseMs),
        stalledInterval: Math.min(30_000, leaseMs),
        settings: { backoffStrategy: deliveryBackoff(config.DELIVERY_RETRY_DELAY_MS) },
      },
    );
    worker.on('closing', () => {
      closing = true;
      clearInterval(timer);
    });
    worker.on('closed', () => {
      mailer.close();
      void queue.close();
    });
    return worker;
  };
