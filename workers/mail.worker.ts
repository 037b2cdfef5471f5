// Mail queue: confirmation and manage-link emails.
import { subscriptionEmail } from '../src/modules/subscribers/emails.ts';
import { QUEUE_NAMES } from '../src/queues/index.ts';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './deliveries.ts';

export const createMailWorker = (options: DeliveryWorkerOptions = {}) =>
  createDeliveryWorker(
    {
      queue: QUEUE_NAMES.mail,
      concurrency: () => 4,
      compose: subscriptionEmail,
    },
    options,
  );

export const mailWorker = createMailWorker();
