// The real API (startApi: buildApp listening on a port) in its own process for the signup benchmark,
// configured by the environment the parent forks it with. Says 'ready' with its address over IPC and
// answers 'stats' (statements sent to Postgres).
import { queriesSent } from './count-queries.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/db/client.ts';
import { createLogger } from '../src/logger.ts';
import { startApi } from '../src/server.ts';

const config = loadConfig();
const db = createDatabase(config.DATABASE_URL);
const api = await startApi(config, createLogger(config, 'bench-api'), db);
process.send?.({ type: 'ready', address: api.address });
process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', queries: queriesSent() });
});
process.on('disconnect', () => {
  void api
    .close()
    .then(() => db.$disconnect())
    .then(() => process.exit(0));
});
