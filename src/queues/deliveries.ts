// The delivery queues: `mail` (confirmations, manage links) and `digest`. A job carries a page of
// delivery ids: one for transactional mail, up to DIGEST_PAGE_SIZE for digests, so a run of 100,000
// digests is a thousand jobs, not a hundred thousand. Separate queues, so a big digest run never delays
// a confirmation.
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../config.ts';
import { createQueue, QUEUE_NAMES, type QueueContext } from './index.ts';

export const deliveryJob = z.union([
  z.object({ deliveryIds: z.array(z.uuid()).min(1).max(MAX_PAGE_SIZE) }),
  // A job queued by a release before pages (one delivery per job) may still be waiting in Redis.
  z.object({ deliveryId: z.uuid() }).transform(({ deliveryId }) => ({ deliveryIds: [deliveryId] })),
]);
export type DeliveryJob = z.input<typeof deliveryJob>;

/**
 * A page's job id, the same whoever queues the same page (scheduler, reconciler, admin retry), so it is
 * queued once however often it is enqueued: a single delivery's id, or its first id and size.
 */
const pageJobId = (ids: string[]) => (ids.length === 1 ? ids[0]! : `${ids[0]}+${ids.length}`);

/** The backoff type of delivery jobs: the worker computes it from DELIVERY_RETRY_DELAY_MS (see below). */
export const DELIVERY_BACKOFF = 'delivery';

export const deliveryJobOptions = (jobId: string) => ({
  jobId,
  attempts: 10,
  backoff: { type: DELIVERY_BACKOFF },
});

/** A page of deliveries as a job (ids sorted, so the same page always has the same job id). */
export function pageJob(ids: string[]) {
  const sorted = [...ids].sort();
  return { name: 'send', data: { deliveryIds: sorted }, opts: deliveryJobOptions(pageJobId(sorted)) };
}

/** Pages of at most `pageSize` deliveries. */
export function pagesOf(ids: string[], pageSize: number): string[][] {
  const pages: string[][] = [];
  for (let i = 0; i < ids.length; i += pageSize) pages.push(ids.slice(i, i + pageSize));
  return pages;
}

/**
 * Exponential backoff from the worker's own DELIVERY_RETRY_DELAY_MS (10 s, 20 s, 40 s, …), so whoever
 * queues a delivery (API, scheduler, reconciler) needs no retry settings; -1 for unknown types lets BullMQ fail.
 */
export const deliveryBackoff =
  (firstDelayMs: number) =>
  (attemptsMade: number, type?: string): number =>
    type === DELIVERY_BACKOFF ? firstDelayMs * 2 ** Math.max(0, attemptsMade - 1) : -1;

export function createMailQueue(queues: QueueContext) {
  return createQueue<DeliveryJob>(QUEUE_NAMES.mail, queues);
}

export function createDigestQueue(queues: QueueContext) {
  return createQueue<DeliveryJob>(QUEUE_NAMES.digest, queues);
}

/** Queues deliveries in jobs of `pageSize` (DIGEST_PAGE_SIZE), as the scheduler hands them over. */
export const enqueueDeliveries =
  (queue: Queue<DeliveryJob>, pageSize: number = DEFAULT_PAGE_SIZE) =>
  async (ids: string[]) => {
    await queue.addBulk(pagesOf(ids, pageSize).map(pageJob));
  };

/**
 * How long a request (a signup, an admin retry) waits for Redis to queue an email. BullMQ waits for a
 * connection indefinitely while Redis is away; the delivery is already pending in Postgres by then, so the
 * reconciler will queue it anyway.
 */
export const QUEUE_WAIT_MS = 3_000;

/** `work`, or a rejection after `ms`: for queueing from a request, which must never hang on Redis. */
export function within<T>(work: Promise<T>, ms: number = QUEUE_WAIT_MS): Promise<T> {
  // If Redis comes back later the job is still added (same job id, so at most once); a late failure has
  // no one left to tell.
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
