// The delivery state machine: Postgres decides who may send an email, so nothing goes out twice.
//   pending ──claim──▶ sending ──▶ sent | failed | skipped
//      ▲                  │
//      └────release───────┘  (a retryable failure, or a lease that ran out because the worker died)
//
// A job carries a page of deliveries (one for transactional mail, DIGEST_PAGE_SIZE for digests), and
// these statements work on a page at once; each delivery still has its own claim (`attempts`), lease and
// Message-ID, so a page is never sent or lost as a whole. They run on the sending path for every message,
// so they go straight to node-postgres as prepared, named statements (parsed and planned once per
// connection), not through Prisma.
import { DEFAULT_LEASE_SECONDS } from '../../config.ts';
import { sqlPool, type Database } from '../../db/client.ts';
import { Prisma, type DeliveryKind } from '../../generated/prisma/client.ts';
import { EMAIL_KINDS } from './kinds.ts';

/**
 * How long a worker may hold a delivery before another may take it over (DELIVERY_LEASE_SECONDS). Leases
 * are set and compared by Postgres's clock (`now()`), never a worker's: worker hosts' clocks drift apart,
 * and one running minutes fast would take over live leases, one running slow would write leases that
 * everyone else already sees expired.
 */
export const LEASE_MS = DEFAULT_LEASE_SECONDS * 1000;

/** `now() + leaseMs` in SQL, the lease's end by Postgres's clock; `$n` holds the lease in ms. */
const leaseEnd = (param: string) => `now() + ${param}::int * interval '1 millisecond'`;

/**
 * Whether the reader `s`'s address is suppressed. Addresses are stored case-folded (a CHECK refuses
 * anything else), so this is `addressHash` (SHA-256 of the folded address) computed where the row is.
 */
const SUPPRESSED = `EXISTS (SELECT 1 FROM suppression x
                             WHERE x.address_hash = encode(sha256(convert_to(s.email, 'UTF8')), 'hex'))`;

/** Who may still get a delivery of kind `d.kind` at the last moment: each kind's rule from kinds.ts. */
const SENDABLE_READER = `CASE d.kind ${Object.entries(EMAIL_KINDS)
  .map(([kind, { sendableReader }]) => `WHEN '${kind}' THEN (${sendableReader})`)
  .join(' ')} END`;

/** The reader of a claimed delivery, as it stood when the page was claimed. */
export interface ClaimedReader {
  email: string;
  status: string;
  pausedAt: Date | null;
  suppressed: boolean;
  tokenVersion: number;
  timeZone: string;
  frequency: string;
  maxPapers: number;
  includeKeywords: string[];
  excludeKeywords: string[];
  /** Digests only: the reader's topics, by name. */
  topics: { id: number; name: string }[];
  /** Digests only: when the reader's previous digest went out (where this one's papers start). */
  previousDigestAt: Date | null;
}

export interface ClaimedDelivery {
  id: string;
  subscriberId: string;
  kind: DeliveryKind;
  digestKey: string;
  /** Which claim this is: every later transition must come from the same claim. */
  attempts: number;
  dueAt: Date;
  /** Papers chosen by an earlier attempt: a retry sends the same digest, under the same Message-ID. */
  paperIds: string[];
  /** Null only if the reader was deleted between scheduling and claiming. */
  reader: ClaimedReader | null;
}

/** A claim, as later statements identify it: the delivery and the claim's number. */
export type Claim = Pick<ClaimedDelivery, 'id' | 'attempts'>;

const CLAIM = `
  WITH claimed AS (
    UPDATE delivery d
       SET status = 'sending', lease_until = ${leaseEnd('$2')}, attempts = d.attempts + 1, updated_at = now()
      FROM (SELECT id FROM delivery
             WHERE id = ANY($1::uuid[]) AND (status = 'pending' OR (status = 'sending' AND lease_until < now()))
               FOR UPDATE SKIP LOCKED) free
     WHERE d.id = free.id
    RETURNING d.id, d.subscriber_id, d.kind, d.digest_key, d.attempts, d.due_at, d.paper_ids
  )
  SELECT c.id, c.subscriber_id AS "subscriberId", c.kind, c.digest_key AS "digestKey", c.attempts,
         c.due_at AS "dueAt", c.paper_ids AS "paperIds", s.id IS NOT NULL AS "hasReader",
         s.email, s.status, s.paused_at AS "pausedAt", s.token_version AS "tokenVersion", s.time_zone AS "timeZone",
         s.frequency, s.max_papers AS "maxPapers", s.include_keywords AS "includeKeywords",
         s.exclude_keywords AS "excludeKeywords", ${SUPPRESSED} AS suppressed,
         CASE WHEN c.kind = 'digest' THEN (
           SELECT max(p.sent_at) FROM delivery p
            WHERE p.subscriber_id = c.subscriber_id AND p.kind = 'digest' AND p.status = 'sent') END AS "previousDigestAt",
         CASE WHEN c.kind = 'digest' THEN (
           SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.name), '[]')
             FROM subscriber_topic st JOIN topic t ON t.id = st.topic_id
            WHERE st.subscriber_id = c.subscriber_id) END AS topics
    FROM claimed c LEFT JOIN subscriber s ON s.id = c.subscriber_id
   ORDER BY c.id`;

type ClaimRow = Omit<ClaimedDelivery, 'reader'> &
  Omit<ClaimedReader, 'topics'> & { hasReader: boolean; topics: ClaimedReader['topics'] | null };

export interface ClaimedPage {
  claimed: ClaimedDelivery[];
  /**
   * Deliveries of the page neither claimed nor finished: another worker holds them (a live lease, or it
   * is claiming them this instant). Worth asking again later, in case that worker dies.
   */
  busy: number;
}

/**
 * Claims every delivery of a page that is pending or whose lease ran out, with what composing needs:
 * the reader, their topics and keywords, whether the address is suppressed, and when their previous
 * digest went out. Rows another worker is claiming at the same instant are skipped, not waited for.
 */
export async function claimDeliveries(db: Database, ids: string[], leaseMs: number = LEASE_MS): Promise<ClaimedPage> {
  const pool = sqlPool(db);
  const { rows } = await pool.query<ClaimRow>({ name: 'delivery-claim', text: CLAIM, values: [ids, leaseMs] });
  const claimed = rows.map(
    ({ id, subscriberId, kind, digestKey, attempts, dueAt, paperIds, hasReader, topics, ...reader }) => ({
      id,
      subscriberId,
      kind,
      digestKey,
      attempts,
      dueAt,
      paperIds,
      reader: hasReader ? { ...reader, topics: topics ?? [] } : null,
    }),
  );
  let busy = 0;
  if (claimed.length < ids.length) {
    // Only for a page not wholly claimed (a retry, or pages that overlap): which of the rest are unfinished.
    const { rows: open } = await pool.query<{ busy: number }>({
      name: 'delivery-busy',
      text: `SELECT count(*)::int AS busy FROM delivery
              WHERE id = ANY($1::uuid[]) AND NOT (id = ANY($2::uuid[])) AND status IN ('pending', 'sending')`,
      values: [ids, claimed.map((delivery) => delivery.id)],
    });
    busy = open[0]?.busy ?? 0;
  }
  return { claimed, busy };
}

/** One delivery, as a page of one: for tests and tools that look at one claim (the workers claim pages). */
export async function claimDelivery(db: Database, id: string, leaseMs: number = LEASE_MS) {
  return (await claimDeliveries(db, [id], leaseMs)).claimed[0] ?? null;
}

/** What composing decided for a claimed delivery: send it (with a digest's papers), or skip it and why. */
export type Decision = { delivery: Claim; paperIds?: string[] } | { delivery: Claim; skip: string };

/**
 * What `startSending` said for one delivery: `send` now; `skipped` (composing said so, or the reader
 * unsubscribed, paused or was suppressed while it was being composed); `claim-lost` (composing outlived
 * the lease and another worker took over: it sends, we must not).
 */
export type StartResult = 'send' | 'skipped' | 'claim-lost';

const START = `
  WITH decided AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, attempts int, skip text, papers text[])
  ), target AS (
    SELECT d.id, i.skip, i.papers,
           i.skip IS NULL AND EXISTS (SELECT 1 FROM subscriber s
                                       WHERE s.id = d.subscriber_id AND ${SENDABLE_READER} AND NOT ${SUPPRESSED}) AS sendable
      FROM delivery d JOIN decided i ON i.id = d.id
     WHERE d.status = 'sending' AND d.attempts = i.attempts
       FOR UPDATE OF d
  )
  UPDATE delivery d
     SET lease_until = CASE WHEN t.sendable THEN ${leaseEnd('$2')} END,
         status = CASE WHEN t.sendable THEN d.status ELSE 'skipped' END,
         last_error = CASE WHEN t.sendable THEN d.last_error
                           ELSE coalesce(t.skip, 'the reader unsubscribed, paused or was suppressed before it went out') END,
         paper_ids = CASE WHEN t.sendable AND t.papers IS NOT NULL THEN t.papers ELSE d.paper_ids END,
         updated_at = now()
    FROM target t
   WHERE d.id = t.id
  RETURNING d.id, t.sendable`;

/**
 * The last step before the SMTP conversations of a page, in one statement: for each delivery, checks the
 * claim is still ours, that the reader may still get it (an unsubscribe or a suppression may have
 * committed while the page was being composed), renews the lease so the sends fit in it, and keeps the
 * papers chosen for a digest, so a retry sends the very same email. What composing skipped, and whoever
 * may no longer get mail, ends skipped right here.
 */
export async function startSending(
  db: Database,
  decisions: Decision[],
  leaseMs: number = LEASE_MS,
): Promise<Map<string, StartResult>> {
  const input = decisions.map((decision) => ({
    id: decision.delivery.id,
    attempts: decision.delivery.attempts,
    skip: 'skip' in decision ? decision.skip : null,
    papers: 'paperIds' in decision ? (decision.paperIds ?? null) : null,
  }));
  const { rows } = await sqlPool(db).query<{ id: string; sendable: boolean }>({
    name: 'delivery-start-sending',
    text: START,
    values: [JSON.stringify(input), leaseMs],
  });
  const results = new Map<string, StartResult>(input.map(({ id }) => [id, 'claim-lost']));
  for (const row of rows) results.set(row.id, row.sendable ? 'send' : 'skipped');
  return results;
}

const MARK_SENT = `
  WITH sent AS (
    UPDATE delivery d
       SET status = 'sent', message_id = i.message_id, sent_at = now(), lease_until = NULL, last_error = NULL,
           paper_ids = i.papers, updated_at = now()
      FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, attempts int, message_id text, papers text[])
     WHERE d.id = i.id AND d.status = 'sending' AND d.attempts = i.attempts
    RETURNING d.id, d.attempts, d.subscriber_id, i.papers
  ), remembered AS (
    INSERT INTO sent_paper (subscriber_id, paper_id, delivery_id)
    SELECT sent.subscriber_id, paper.id, sent.id FROM sent CROSS JOIN unnest(sent.papers) AS paper(id)
    ON CONFLICT DO NOTHING
  )
  SELECT id, attempts FROM sent`;

/** Records asked for within this long of each other share one statement. */
const RECORD_WINDOW_MS = 2;
const RECORD_BATCH = 64;

interface SentRecord {
  id: string;
  attempts: number;
  message_id: string;
  papers: string[];
}
const openBatches = new WeakMap<Database, { records: SentRecord[]; recorded: Promise<Set<string>> }>();
/** A record is matched by its claim, not the delivery alone: a stale claim's record in the same batch is not ours. */
const claimKey = (id: string, attempts: number) => `${id}:${attempts}`;

/**
 * Records a sent delivery and, for a digest, its papers (never sent to this reader again): atomic, and
 * only by the worker that still holds the claim; false when the claim was lost. Called right after the
 * server's 250, and awaited before that lane sends its next message, so at most one message per lane is
 * ever accepted and not yet recorded. Records asked for within RECORD_WINDOW_MS (the other lanes' replies)
 * go in one statement: one round trip and one commit for several messages, at the price of that many
 * milliseconds more in the window where a crash re-sends accepted mail (under its Message-ID).
 */
export function markSent(db: Database, delivery: Claim, messageId: string, paperIds: string[] = []): Promise<boolean> {
  let batch = openBatches.get(db);
  if (!batch || batch.records.length >= RECORD_BATCH) {
    const records: SentRecord[] = [];
    const recorded = new Promise((resolve) => setTimeout(resolve, RECORD_WINDOW_MS)).then(async () => {
      if (openBatches.get(db)?.records === records) openBatches.delete(db);
      const { rows } = await sqlPool(db).query<{ id: string; attempts: number }>({
        name: 'delivery-mark-sent',
        text: MARK_SENT,
        values: [JSON.stringify(records)],
      });
      return new Set(rows.map((row) => claimKey(row.id, row.attempts)));
    });
    batch = { records, recorded };
    openBatches.set(db, batch);
  }
  batch.records.push({ id: delivery.id, attempts: delivery.attempts, message_id: messageId, papers: paperIds });
  return batch.recorded.then((claims) => claims.has(claimKey(delivery.id, delivery.attempts)));
}

const SETTLE = `
  UPDATE delivery d
     SET status = $2::delivery_status, lease_until = NULL, last_error = $3, updated_at = now()
    FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, attempts int)
   WHERE d.id = i.id AND d.status = 'sending' AND d.attempts = i.attempts
  RETURNING d.id`;

/** Moves claimed deliveries out of `sending`, if the claims are still ours; returns how many it moved. */
async function settle(db: Database, claims: Claim[], status: 'pending' | 'failed' | 'skipped', reason: string) {
  if (claims.length === 0) return 0;
  const input = JSON.stringify(claims.map(({ id, attempts }) => ({ id, attempts })));
  const { rowCount } = await sqlPool(db).query({
    name: 'delivery-settle',
    text: SETTLE,
    values: [input, status, reason],
  });
  return rowCount ?? 0;
}

/** Gives deliveries back for a later attempt (the queue retries their job). */
export const releaseDeliveries = (db: Database, claims: Claim[], error: string) => settle(db, claims, 'pending', error);

/** Gives one delivery back; false when the claim was already lost. */
export async function releaseDelivery(db: Database, delivery: Claim, error: string) {
  return (await releaseDeliveries(db, [delivery], error)) > 0;
}

/** Ends a delivery for good; false when the claim was already lost (another worker has it). */
export async function finishDelivery(db: Database, delivery: Claim, status: 'failed' | 'skipped', reason: string) {
  return (await settle(db, [delivery], status, reason)) > 0;
}

/**
 * Extends the leases of claims still ours (a page whose sending takes longer than expected, e.g. held back
 * by the send rate); returns the ids still ours.
 */
export async function renewLeases(db: Database, claims: Claim[], leaseMs: number = LEASE_MS): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const { rows } = await sqlPool(db).query<{ id: string }>({
    name: 'delivery-renew',
    text: `UPDATE delivery d SET lease_until = ${leaseEnd('$2')}, updated_at = now()
             FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, attempts int)
            WHERE d.id = i.id AND d.status = 'sending' AND d.attempts = i.attempts
           RETURNING d.id`,
    values: [JSON.stringify(claims.map(({ id, attempts }) => ({ id, attempts }))), leaseMs],
  });
  return new Set(rows.map((row) => row.id));
}

/** Unfinished: pending, or held by a worker whose lease ran out (by Postgres's clock). It belongs in a queue. */
const UNFINISHED = Prisma.sql`(status = 'pending' OR (status = 'sending' AND lease_until < now()))`;

/**
 * Deliveries of these kinds that should be in a queue and are not among `queued` (those live jobs
 * carry), oldest first: excluded here, so a backlog already queued never hides the ones that are not.
 */
export async function findUnfinishedDeliveries(
  db: Database,
  kinds: DeliveryKind[],
  createdAfter: Date,
  queued: Iterable<string> = [],
): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery
     WHERE kind = ANY(${kinds}::delivery_kind[]) AND created_at > ${createdAfter} AND ${UNFINISHED}
       AND NOT (id = ANY(${[...queued]}::uuid[]))
     ORDER BY created_at
     LIMIT 10000`;
  return rows.map((row) => row.id);
}

/** Which of these deliveries are still unfinished now (a re-read just before queueing them). */
export async function stillUnfinished(db: Database, ids: string[]): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery WHERE id = ANY(${ids}::uuid[]) AND ${UNFINISHED}`;
  return new Set(rows.map((row) => row.id));
}

/** When the reader's latest digest went out, or null before their first. */
export async function previousDigestAt(db: Database, subscriberId: string): Promise<Date | null> {
  const latest = await db.delivery.findFirst({
    where: { subscriberId, kind: 'digest', status: 'sent' },
    orderBy: { sentAt: 'desc' },
    select: { sentAt: true },
  });
  return latest?.sentAt ?? null;
}

/** A digest that went out: whose it was, when, and with which papers (for its web view). */
export async function sentDigest(db: Database, deliveryId: string) {
  const delivery = await db.delivery.findUnique({
    where: { id: deliveryId },
    select: { subscriberId: true, kind: true, status: true, sentAt: true, paperIds: true },
  });
  if (!delivery || delivery.kind !== 'digest' || delivery.status !== 'sent' || !delivery.sentAt) return null;
  return { subscriberId: delivery.subscriberId, sentAt: delivery.sentAt, paperIds: delivery.paperIds };
}

/** A Message-ID that is the same for every attempt at one delivery, so receivers can drop repeats. */
export function messageIdFor(deliveryId: string, publicUrl: string): string {
  return `<${deliveryId}@${new URL(publicUrl).hostname}>`;
}
