// The one rule for late digests: one not sent within DIGEST_CUTOFF_HOURS of its reader's send hour is
// skipped, never sent late. The scheduler, the worker, the reconciler and the admin retry all ask here.
import type { Config } from '../../config.ts';

type CutoffConfig = Pick<Config, 'DIGEST_CUTOFF_HOURS'>;

/** Why a digest was skipped for being late (stored as its last error). */
export const lateReason = (config: CutoffConfig) =>
  `not sent within ${config.DIGEST_CUTOFF_HOURS} hours of the send hour`;

/** Whether a digest due at `dueAt` may no longer be sent at `now`. */
export function isPastCutoff(config: CutoffConfig, dueAt: Date, now: Date = new Date()): boolean {
  return now.getTime() > dueAt.getTime() + config.DIGEST_CUTOFF_HOURS * 3_600_000;
}

/**
 * How long the reconciler keeps queueing unfinished digests: an hour past the cut-off, so one that ran out
 * of time while queued is still claimed once and recorded as skipped rather than left pending.
 */
export const digestReconcileWindowMs = (config: CutoffConfig) => (config.DIGEST_CUTOFF_HOURS + 1) * 3_600_000;
