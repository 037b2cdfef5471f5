// Mail queue: confirmation and manage-link emails, one delivery per job.
import { composeEach } from '../src/modules/mail/send.ts';
import { subscriptionEmail } from '../src/modules/subscribers/emails.ts';
import { QUEUE_NAMES } from '../src/queues/index.ts';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './deliveries.ts';

export const createMailWorker = (options: DeliveryWorkerOptions = {}) =>
  createDeliveryWorker(
    {
      queue: QUEUE_NAMES.mail,
      concurrency: 4,
      connections: () => 4,
      compose: (db, config, templates, deliveries) =>
        composeEach((delivery) => subscriptionEmail(db, config, templates, delivery))(deliveries),
    },
    options,
  );

export const mailWorker = createMailWorker();
