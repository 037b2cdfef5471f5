// A private three-master Redis Cluster for a test that breaks it (the shared one must never be touched):
// started by scripts/redis-cluster.sh on free loopback ports in its own directory, so a node killed here can
// be started again exactly as the script started it (same port, same nodes.conf). Also: which master serves a key.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { redisClusterScript } from '../setup/services.ts';

/** Whether nothing listens on the port now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports for cluster nodes: each node also listens on its port + 10000 (the cluster bus), so both must be
 * free and below 65536, which the OS's ephemeral ports are not.
 */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

/** The port of the master that serves the slot of this key (or of its {hash tag}), as the cluster answers. */
export async function masterOf(clusterUrl: string, key: string): Promise<number> {
  const [host = '', port = ''] = clusterUrl.replace('redis-cluster://', '').split(',')[0]!.split(':');
  const redis = new Redis(Number(port), host);
  try {
    const slot = (await redis.call('CLUSTER', 'KEYSLOT', key)) as number;
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (!owner) throw new Error(`no node serves slot ${slot}`);
    return owner[2][1];
  } finally {
    redis.disconnect();
  }
}

export async function startPrivateRedisCluster() {
  const ports = await freeClusterPorts(3);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-cluster-'));
  const env = { REDIS_CLUSTER_PORTS: ports.join(' '), REDIS_CLUSTER_DIR: dir };
  await redisClusterScript('start', env);
  const url = `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  return {
    url,
    ports,
    /** SIGKILL one node: no shutdown, its keys are gone (no persistence). */
    kill: async (port: number) => {
      const pid = Number((await readFile(path.join(dir, String(port), 'redis.pid'), 'utf8')).trim());
      process.kill(pid, 'SIGKILL');
      while (await isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    },
    /** Starts every node that is down again and waits until the cluster is ok. */
    restart: () => redisClusterScript('start', env),
    stop: async () => {
      await redisClusterScript('stop', env);
      await rm(dir, { recursive: true, force: true });
      await rm(`${dir}.lock`, { force: true });
    },
  };
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
