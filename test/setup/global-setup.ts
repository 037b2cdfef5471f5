// Runs once per test run: finds Postgres, Redis and the Redis Cluster (starting the local one if needed),
// builds the migrated template database every test file clones, and removes everything this run created
// afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.ts';
import { databaseUrl } from '../helpers/postgres.ts';
import { deleteKeysWithPrefix } from '../helpers/redis.ts';
import { findTestServices } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    redisUrl: string;
    /** A redis-cluster:// URL (three masters); prefixes on it are hash-tagged: `{<runId>:…}`. */
    redisClusterUrl: string;
    /** Prefix of every database and Redis key this run creates. */
    runId: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  const services = await findTestServices();
  const runId = `pbt_${randomBytes(4).toString('hex')}`;
  const templateDatabase = `${runId}_template`;

  const admin = new pg.Client({ connectionString: services.postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${templateDatabase}"`);
  await admin.end();
  await migrate(databaseUrl(services.postgresUrl, templateDatabase));

  project.provide('postgresUrl', services.postgresUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('redisClusterUrl', services.redisClusterUrl);
  project.provide('runId', runId);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    const client = new pg.Client({ connectionString: services.postgresUrl });
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [
      `${runId}\\_%`,
    ]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await client.end();

    await deleteKeysWithPrefix(services.redisUrl, runId);
    await deleteKeysWithPrefix(services.redisClusterUrl, `{${runId}`);
    await services.stop();
  };
}
