// One digest worker process for the digest benchmark: `startWorkers` with only the digest worker,
// configured by the environment the parent forks it with. Says 'ready' over IPC, answers 'stats' (queries
// sent to Postgres), exits on 'stop'.
import { queriesSent } from './count-queries.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/db/client.ts';
import { createLogger } from '../src/logger.ts';
import { startWorkers } from '../workers/index.ts';
import { createDigestWorker } from '../workers/digest.worker.ts';

const config = loadConfig();
const logger = createLogger(config, 'bench-digest-worker');
const db = createDatabase(config.DATABASE_URL);
// No periodic reconciliation during a run: the pass enqueues every delivery itself.
const running = await startWorkers(config, logger, db, [createDigestWorker({ reconcileEveryMs: 3_600_000 })]);
process.send?.({ type: 'ready' });
process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', queries: queriesSent() });
  if (message.type !== 'stop') return;
  void running
    .close()
    .then(() => db.$disconnect())
    .then(() => process.exit(0));
});
