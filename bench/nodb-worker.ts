// The digest benchmark's baseline: Paperboy's sending path with no database. Each job carries a page of
// prebuilt template data (the papers and links already chosen and signed); the worker fills the same
// precompiled template, builds the same message and sends it through the same mailer, with the same
// pages at once and messages in flight as the digest worker. What Paperboy adds on top of this (claims,
// choosing papers, signing links, recording) is what the comparison measures. Says 'ready', exits on 'stop'.
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { digestMessage } from '../src/modules/digests/compose.ts';
import { compileEmailTemplates, renderEmail } from '../src/modules/mail/templates.ts';
import { createMailer } from '../src/modules/mail/transport.ts';
import { createQueueConnection } from '../src/queues/connection.ts';
import { PAGES_AT_ONCE } from '../workers/digest.worker.ts';
import { NODB_QUEUE, type PrebuiltDigest } from './nodb.ts';

const config = loadConfig();
const templates = await compileEmailTemplates();
const mailer = createMailer(config, createLogger(config, 'bench-nodb-worker'), {
  maxConnections: config.WORKER_CONCURRENCY,
});
const connection = createQueueConnection(config.REDIS_URL);
const worker = new Worker<{ digests: PrebuiltDigest[] }>(
  NODB_QUEUE,
  async (job) => {
    const { digests } = job.data;
    let next = 0;
    const lane = async () => {
      while (next < digests.length) {
        const digest = digests[next++]!;
        const { html, text } = renderEmail(templates, 'digest', digest.data);
        await mailer.send(digestMessage(config, digest.deliveryId, digest.to, { ...digest, html, text }));
      }
    };
    await Promise.all(Array.from({ length: config.WORKER_CONCURRENCY }, lane));
  },
  // As the digest worker.
  { connection, prefix: config.QUEUE_PREFIX, concurrency: PAGES_AT_ONCE },
);
await worker.waitUntilReady();
process.send?.({ type: 'ready' });
process.on('message', (message: { type: string }) => {
  if (message.type !== 'stop') return;
  void worker
    .close()
    .then(() => delay(10))
    .then(() => {
      mailer.close();
      return connection.quit();
    })
    .then(() => process.exit(0));
});
