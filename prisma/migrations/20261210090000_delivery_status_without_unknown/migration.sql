-- The delivery status 'unknown' goes: nothing ever set it. A delivery whose send may or may not have
-- reached the server is sent again under the same Message-ID (the receiver drops the repeat) rather than
-- parked as "unknown", where it would be neither retried nor reported as lost (see sendDelivery).
--
-- Postgres cannot drop a value from an enum, so the type is made again without it.

-- Any row that says 'unknown' anyway (written by hand, or by an older version) becomes pending rather
-- than failing the cast below: the reconciler then sends it again under its deterministic Message-ID,
-- which is what the design does with an uncertain send. Nothing is lost, and nothing new is invented.
UPDATE "delivery" SET "status" = 'pending', "lease_until" = NULL WHERE "status" = 'unknown';

CREATE TYPE "delivery_status_new" AS ENUM ('pending', 'sending', 'sent', 'skipped', 'failed');

-- The default is of the old type and would block the change of the column's type.
ALTER TABLE "delivery" ALTER COLUMN "status" DROP DEFAULT;
ALTER TABLE "delivery"
  ALTER COLUMN "status" TYPE "delivery_status_new" USING ("status"::text::"delivery_status_new");
ALTER TABLE "delivery" ALTER COLUMN "status" SET DEFAULT 'pending';

DROP TYPE "delivery_status";
ALTER TYPE "delivery_status_new" RENAME TO "delivery_status";
