-- Addresses are matched case-insensitively, as mailbox providers deliver them: one subscription per
-- mailbox. Case variants of one address (Victim@, VICTIM@ beside victim@) are merged into one reader,
-- every address is then stored case-folded, and a check keeps it so. Nothing sent is forgotten: the
-- variants' deliveries, sent papers and events move to the reader that stays.

-- Signups wait until this is done, so no new variant appears halfway. The strongest lock up front: the
-- ALTER TABLE at the end needs it, and asking for it later could deadlock with a signup in progress.
LOCK TABLE "subscriber" IN ACCESS EXCLUSIVE MODE;

-- For each group of variants the reader that stays is the most alive one (active, then pending, then the
-- rest), then the most recently confirmed, then the newest.
CREATE TEMPORARY TABLE "address_merge" ON COMMIT DROP AS
WITH "ranked" AS (
  SELECT "id", lower("email") AS "folded",
         row_number() OVER (
           PARTITION BY lower("email")
           ORDER BY CASE "status" WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END,
                    "confirmed_at" DESC NULLS LAST, "created_at" DESC, "id"
         ) AS "rank"
    FROM "subscriber"
   WHERE lower("email") IN (SELECT lower("email") FROM "subscriber" GROUP BY 1 HAVING count(*) > 1)
)
SELECT "variant"."id" AS "variant_id", "kept"."id" AS "kept_id"
  FROM "ranked" "variant"
  JOIN "ranked" "kept" ON "kept"."folded" = "variant"."folded" AND "kept"."rank" = 1
 WHERE "variant"."rank" > 1;

-- Deliveries move over as history. One that would collide with another for the same kind and key (two
-- variants both got that day's digest) keeps its row under a marked key. An unsent one is skipped (the
-- reader that stays gets their own) and marked too, so it never blocks the reader's own for that key.
CREATE TEMPORARY TABLE "moved_delivery" ON COMMIT DROP AS
SELECT "d"."id", "m"."kept_id",
       row_number() OVER (PARTITION BY "m"."kept_id", "d"."kind", "d"."digest_key"
                          ORDER BY ("d"."status" = 'sent') DESC, "d"."created_at", "d"."id") AS "rank"
  FROM "delivery" "d" JOIN "address_merge" "m" ON "d"."subscriber_id" = "m"."variant_id";

UPDATE "delivery" "d"
   SET "subscriber_id" = "mv"."kept_id",
       "digest_key" = CASE
         WHEN "mv"."rank" > 1 OR "d"."status" IN ('pending', 'sending') OR EXISTS (
           SELECT 1 FROM "delivery" "k"
            WHERE "k"."subscriber_id" = "mv"."kept_id" AND "k"."kind" = "d"."kind" AND "k"."digest_key" = "d"."digest_key"
         ) THEN "d"."digest_key" || '#merged-' || "d"."id"
         ELSE "d"."digest_key" END,
       "status" = CASE WHEN "d"."status" IN ('pending', 'sending') THEN 'skipped' ELSE "d"."status" END,
       "last_error" = CASE WHEN "d"."status" IN ('pending', 'sending')
         THEN 'not sent: the address was merged with a case variant of it' ELSE "d"."last_error" END,
       "lease_until" = NULL,
       "updated_at" = now()
  FROM "moved_delivery" "mv"
 WHERE "d"."id" = "mv"."id";

-- A paper sent to any variant is never sent to the mailbox again.
INSERT INTO "sent_paper" ("subscriber_id", "paper_id", "delivery_id", "sent_at")
SELECT DISTINCT ON ("m"."kept_id", "sp"."paper_id") "m"."kept_id", "sp"."paper_id", "sp"."delivery_id", "sp"."sent_at"
  FROM "sent_paper" "sp" JOIN "address_merge" "m" ON "sp"."subscriber_id" = "m"."variant_id"
 ORDER BY "m"."kept_id", "sp"."paper_id", "sp"."sent_at"
ON CONFLICT DO NOTHING;

UPDATE "event" "e" SET "subscriber_id" = "m"."kept_id"
  FROM "address_merge" "m" WHERE "e"."subscriber_id" = "m"."variant_id";

INSERT INTO "event" ("subscriber_id", "type", "data")
SELECT "kept_id", 'merged_case_variants', jsonb_build_object('merged', count(*))
  FROM "address_merge" GROUP BY "kept_id";

-- The variants' ids stay known, so the unsubscribe links in mail already sent to them keep working.
CREATE TABLE "merged_subscriber" (
    "id" UUID NOT NULL,
    "kept_id" UUID NOT NULL,
    "merged_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "merged_subscriber_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "merged_subscriber_kept_id_idx" ON "merged_subscriber"("kept_id");
ALTER TABLE "merged_subscriber" ADD CONSTRAINT "merged_subscriber_kept_id_fkey" FOREIGN KEY ("kept_id") REFERENCES "subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

INSERT INTO "merged_subscriber" ("id", "kept_id") SELECT "variant_id", "kept_id" FROM "address_merge";

DELETE FROM "subscriber" WHERE "id" IN (SELECT "variant_id" FROM "address_merge");

UPDATE "subscriber" SET "email" = lower("email"), "updated_at" = now() WHERE "email" <> lower("email");

ALTER TABLE "subscriber" ADD CONSTRAINT "subscriber_email_case_folded" CHECK ("email" = lower("email"));
