// The kinds of email Paperboy sends, each described once: the queue that carries it, its template, its
// place in the shared send rate, whom it may still reach as it goes out, and how long an unsent one is
// still worth sending. Workers, templates, the reconciler and the admin retry all read this.
import type { Config } from '../../config.ts';
import type { DeliveryKind } from '../../generated/prisma/client.ts';
import { QUEUE_NAMES, type QueueName } from '../../queues/index.ts';
import { digestReconcileWindowMs } from '../digests/cutoff.ts';
import type { SendClass } from './send-rate.ts';
import type { EmailTemplateName } from './templates.ts';

export interface EmailKind {
  queue: Extract<QueueName, 'mail' | 'digest'>;
  template: EmailTemplateName;
  sendClass: SendClass;
  /** Whom it may still reach at the last moment: a condition on the reader `s`, checked by startSending. */
  sendableReader: string;
  /** How long after it was created an unsent one is still queued (by the reconciler, or an admin retry). */
  staleAfterMs: (config: Pick<Config, 'DIGEST_CUTOFF_HOURS'>) => number;
}

/** A confirmation or settings link that could not go out within a day is no longer wanted. */
export const TRANSACTIONAL_MAX_AGE_MS = 24 * 3_600_000;

export const EMAIL_KINDS: Record<DeliveryKind, EmailKind> = {
  confirm: {
    queue: QUEUE_NAMES.mail,
    template: 'confirm',
    sendClass: 'transactional',
    sendableReader: `s.status = 'pending'`,
    staleAfterMs: () => TRANSACTIONAL_MAX_AGE_MS,
  },
  manage_link: {
    queue: QUEUE_NAMES.mail,
    template: 'manage-link',
    sendClass: 'transactional',
    sendableReader: `s.status = 'active'`,
    staleAfterMs: () => TRANSACTIONAL_MAX_AGE_MS,
  },
  digest: {
    queue: QUEUE_NAMES.digest,
    template: 'digest',
    sendClass: 'bulk',
    sendableReader: `s.status = 'active' AND s.paused_at IS NULL`,
    staleAfterMs: digestReconcileWindowMs,
  },
};

/**
 * Deliveries per job: digests go in pages (DIGEST_PAGE_SIZE), so Postgres claims and composes many at
 * once; a confirmation or settings link is one job, sent the moment it is queued.
 */
export const deliveriesPerJob = (queue: EmailKind['queue'], config: Pick<Config, 'DIGEST_PAGE_SIZE'>) =>
  queue === QUEUE_NAMES.digest ? config.DIGEST_PAGE_SIZE : 1;

/** The kinds a queue carries. */
export const kindsOn = (queue: EmailKind['queue']): DeliveryKind[] =>
  (Object.keys(EMAIL_KINDS) as DeliveryKind[]).filter((kind) => EMAIL_KINDS[kind].queue === queue);
