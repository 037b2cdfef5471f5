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
      sendClass: 'transactional',
      compose: subscriptionEmail,
    },
    options,
  );

export const mailWorker = createMailWorker();
