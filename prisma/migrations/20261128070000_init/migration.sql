-- CreateEnum
CREATE TYPE "paper_source" AS ENUM ('hf_daily', 'arxiv');

-- CreateEnum
CREATE TYPE "subscriber_status" AS ENUM ('pending', 'active', 'unsubscribed', 'bounced', 'complained');

-- CreateEnum
CREATE TYPE "frequency" AS ENUM ('daily', 'weekdays', 'weekly');

-- CreateEnum
CREATE TYPE "delivery_kind" AS ENUM ('confirm', 'manage_link', 'digest');

-- CreateEnum
CREATE TYPE "delivery_status" AS ENUM ('pending', 'sending', 'sent', 'skipped', 'failed', 'unknown');

-- CreateEnum
CREATE TYPE "suppression_reason" AS ENUM ('hard_bounce', 'soft_bounce', 'complaint', 'forgotten', 'manual');

-- array_to_string is only STABLE, and a generated column needs an IMMUTABLE expression. Joining text[]
-- with a space does not depend on any setting, so this wrapper may safely say so.
CREATE FUNCTION "paper_keywords_text"(keywords TEXT[]) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string(keywords, ' ') $$;

-- CreateTable
CREATE TABLE "paper" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "abstract" TEXT NOT NULL,
    "authors" TEXT[] NOT NULL,
    "keywords" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "ai_summary" TEXT,
    "published_at" TIMESTAMPTZ(3) NOT NULL,
    "listed_at" TIMESTAMPTZ(3) NOT NULL,
    "upvotes" INTEGER NOT NULL DEFAULT 0,
    "github_url" TEXT,
    "project_url" TEXT,
    "source" "paper_source" NOT NULL,
    "withdrawn_at" TIMESTAMPTZ(3),
    "hidden_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    -- Weighted full-text vector: title (A) > keywords (B) > abstract (C), kept up to date by Postgres.
    "search" tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, "title"), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce("paper_keywords_text"("keywords"), '')), 'B') ||
        setweight(to_tsvector('english'::regconfig, "abstract"), 'C')
    ) STORED,

    CONSTRAINT "paper_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "topic" (
    "id" SERIAL NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "query" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "topic_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "paper_topic" (
    "paper_id" TEXT NOT NULL,
    "topic_id" INTEGER NOT NULL,
    "score" REAL NOT NULL,

    CONSTRAINT "paper_topic_pkey" PRIMARY KEY ("paper_id","topic_id")
);

-- CreateTable
CREATE TABLE "subscriber" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "email" TEXT NOT NULL,
    "status" "subscriber_status" NOT NULL DEFAULT 'pending',
    "time_zone" TEXT NOT NULL DEFAULT 'UTC',
    "send_hour" SMALLINT NOT NULL DEFAULT 7,
    "frequency" "frequency" NOT NULL DEFAULT 'daily',
    "weekly_day" SMALLINT,
    "max_papers" SMALLINT NOT NULL DEFAULT 10,
    "include_keywords" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "exclude_keywords" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "paused_at" TIMESTAMPTZ(3),
    "token_version" INTEGER NOT NULL DEFAULT 1,
    "consent_at" TIMESTAMPTZ(3),
    "consent_ip" TEXT,
    "consent_user_agent" TEXT,
    "consent_form_version" TEXT,
    "confirmed_at" TIMESTAMPTZ(3),
    "confirmed_ip" TEXT,
    "unsubscribed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "subscriber_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "subscriber_topic" (
    "subscriber_id" UUID NOT NULL,
    "topic_id" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "subscriber_topic_pkey" PRIMARY KEY ("subscriber_id","topic_id")
);

-- CreateTable
CREATE TABLE "delivery" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "subscriber_id" UUID NOT NULL,
    "kind" "delivery_kind" NOT NULL,
    "digest_key" TEXT NOT NULL,
    "status" "delivery_status" NOT NULL DEFAULT 'pending',
    "due_at" TIMESTAMPTZ(3) NOT NULL,
    "paper_ids" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "message_id" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lease_until" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "delivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sent_paper" (
    "subscriber_id" UUID NOT NULL,
    "paper_id" TEXT NOT NULL,
    "delivery_id" UUID NOT NULL,
    "sent_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sent_paper_pkey" PRIMARY KEY ("subscriber_id","paper_id")
);

-- CreateTable
CREATE TABLE "suppression" (
    "address_hash" TEXT NOT NULL,
    "reason" "suppression_reason" NOT NULL,
    "detail" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "suppression_pkey" PRIMARY KEY ("address_hash")
);

-- CreateTable
CREATE TABLE "event" (
    "id" BIGSERIAL NOT NULL,
    "subscriber_id" UUID,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "dedupe_key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "paper_listed_at_idx" ON "paper"("listed_at");

-- CreateIndex
CREATE INDEX "paper_search_idx" ON "paper" USING GIN ("search");

-- CreateIndex
CREATE UNIQUE INDEX "topic_slug_key" ON "topic"("slug");

-- CreateIndex
CREATE INDEX "paper_topic_topic_id_idx" ON "paper_topic"("topic_id");

-- CreateIndex
CREATE UNIQUE INDEX "subscriber_email_key" ON "subscriber"("email");

-- CreateIndex
CREATE INDEX "subscriber_status_send_hour_idx" ON "subscriber"("status", "send_hour");

-- CreateIndex
CREATE INDEX "subscriber_topic_topic_id_idx" ON "subscriber_topic"("topic_id");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_message_id_key" ON "delivery"("message_id");

-- CreateIndex
CREATE INDEX "delivery_status_lease_until_idx" ON "delivery"("status", "lease_until");

-- CreateIndex
CREATE INDEX "delivery_created_at_idx" ON "delivery"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_subscriber_id_kind_digest_key_key" ON "delivery"("subscriber_id", "kind", "digest_key");

-- CreateIndex
CREATE INDEX "sent_paper_paper_id_idx" ON "sent_paper"("paper_id");

-- CreateIndex
CREATE INDEX "sent_paper_delivery_id_idx" ON "sent_paper"("delivery_id");

-- CreateIndex
CREATE UNIQUE INDEX "event_dedupe_key_key" ON "event"("dedupe_key");

-- CreateIndex
CREATE INDEX "event_subscriber_id_created_at_idx" ON "event"("subscriber_id", "created_at");

-- CreateIndex
CREATE INDEX "event_type_created_at_idx" ON "event"("type", "created_at");

-- AddForeignKey
ALTER TABLE "paper_topic" ADD CONSTRAINT "paper_topic_paper_id_fkey" FOREIGN KEY ("paper_id") REFERENCES "paper"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "paper_topic" ADD CONSTRAINT "paper_topic_topic_id_fkey" FOREIGN KEY ("topic_id") REFERENCES "topic"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "subscriber_topic" ADD CONSTRAINT "subscriber_topic_subscriber_id_fkey" FOREIGN KEY ("subscriber_id") REFERENCES "subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "subscriber_topic" ADD CONSTRAINT "subscriber_topic_topic_id_fkey" FOREIGN KEY ("topic_id") REFERENCES "topic"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery" ADD CONSTRAINT "delivery_subscriber_id_fkey" FOREIGN KEY ("subscriber_id") REFERENCES "subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sent_paper" ADD CONSTRAINT "sent_paper_subscriber_id_fkey" FOREIGN KEY ("subscriber_id") REFERENCES "subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sent_paper" ADD CONSTRAINT "sent_paper_paper_id_fkey" FOREIGN KEY ("paper_id") REFERENCES "paper"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sent_paper" ADD CONSTRAINT "sent_paper_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "delivery"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "event" ADD CONSTRAINT "event_subscriber_id_fkey" FOREIGN KEY ("subscriber_id") REFERENCES "subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;
