// Mail queue: confirmation and manage-link emails, on their own queue so a digest run never delays them.
import { type Job } from 'bullmq';
import { findUnfinishedDeliveries } from '../src/modules/mail/deliveries.ts';
import { sendDelivery, type SendDeps } from '../src/modules/mail/send.ts';
import { compileEmailTemplates } from '../src/modules/mail/templates.ts';
import { createMailer } from '../src/modules/mail/transport.ts';
import { subscriptionEmail } from '../src/modules/subscribers/emails.ts';
import { markBounced } from '../src/modules/subscribers/subscriptions.ts';
import { createWorker, QUEUE_NAMES } from '../src/queues/index.ts';
import { createMailQueue, mailJob, mailJobOptions, type MailJob } from '../src/queues/mail.ts';
import type { WorkerFactory } from './index.ts';

const KINDS = ['confirm', 'manage_link'] as const;
/** A confirmation that could not go out within a day is no longer wanted. */
const GIVE_UP_AFTER_MS = 24 * 3_600_000;
const RECONCILE_EVERY_MS = 2 * 60_000;

export interface MailWorkerOptions {
  reconcileEveryMs?: number;
}

export const createMailWorker =
  ({ reconcileEveryMs = RECONCILE_EVERY_MS }: MailWorkerOptions = {}): WorkerFactory =>
  async ({ config, logger, db, queues }) => {
    const templates = await compileEmailTemplates();
    const mailer = createMailer(config, logger);
    const queue = createMailQueue(queues);

    // Redis may have lost jobs (flushed, restarted): Postgres knows what is still to send.
    const reconcile = async () => {
      const ids = await findUnfinishedDeliveries(db, [...KINDS], new Date(Date.now() - GIVE_UP_AFTER_MS));
      for (const id of ids) {
        const job = await queue.getJob(id);
        // A finished job for an unfinished delivery (it gave up, or ran while another worker held the
        // lease) would block a new one with the same id: replace it.
        if (job && ((await job.isCompleted()) || (await job.isFailed()))) await job.remove();
        else if (job) continue;
        await queue.add('send', { deliveryId: id }, mailJobOptions(id));
      }
    };
    const runReconcile = () =>
      reconcile().catch((error: unknown) => logger.warn({ err: error }, 'mail reconciliation failed; will try again'));
    void runReconcile();
    const timer = setInterval(() => void runReconcile(), reconcileEveryMs);

    const send: SendDeps = {
      db,
      mailer,
      compose: (delivery) => subscriptionEmail(db, config, templates, delivery),
      onHardBounce: (address, reason) => markBounced(db, address, reason),
    };
    const worker = createWorker<MailJob>(
      QUEUE_NAMES.mail,
      async (job: Job<MailJob>) => sendDelivery(send, mailJob.parse(job.data).deliveryId),
      queues,
      // The global send rate is shared by every worker process (BullMQ counts it in Redis).
      { concurrency: 4, limiter: { max: config.SEND_RATE_PER_SECOND, duration: 1_000 } },
    );
    worker.on('closing', () => clearInterval(timer));
    worker.on('closed', () => {
      mailer.close();
      void queue.close();
    });
    return worker;
  };

export const mailWorker = createMailWorker();
