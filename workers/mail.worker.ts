// Mail queue: confirmation and manage-link emails.
import { TRANSACTIONAL_MAX_AGE_MS } from '../src/modules/mail/deliveries.ts';
import { subscriptionEmail } from '../src/modules/subscribers/emails.ts';
import { QUEUE_NAMES } from '../src/queues/index.ts';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './deliveries.ts';

export const createMailWorker = (options: DeliveryWorkerOptions = {}) =>
  createDeliveryWorker(
    {
      queue: QUEUE_NAMES.mail,
      kinds: ['confirm', 'manage_link'],
      giveUpAfterMs: () => TRANSACTIONAL_MAX_AGE_MS,
      concurrency: () => 4,
      sendRate: mailSendRate,
      compose: subscriptionEmail,
    },
    options,
  );

/** Transactional mail keeps a tenth of the send rate (at least one a second), so signups never wait. */
export function mailSendRate(config: { SEND_RATE_PER_SECOND: number }): number {
  return Math.max(1, Math.floor(config.SEND_RATE_PER_SECOND / 10));
}

export const mailWorker = createMailWorker();
