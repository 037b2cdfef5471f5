// The API and the delivery workers on a Redis Cluster: readiness, the per-IP and per-address rate limits, and
// a signup whose confirmation is queued and sent through the cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMailingApp, type MailingApp } from '../helpers/app.ts';
import { clusterUrl, deleteKeysWithPrefix, uniqueClusterPrefix } from '../helpers/redis.ts';

describe('the API on a Redis Cluster', () => {
  let t: MailingApp;
  const prefix = uniqueClusterPrefix();
  beforeAll(async () => {
    t = await openMailingApp({
      REDIS_URL: clusterUrl(),
      QUEUE_PREFIX: prefix,
      SIGNUP_RATE_PER_IP: '3',
      SIGNUP_RATE_PER_ADDRESS: '2',
    });
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(clusterUrl(), prefix);
  });

  const signUp = (email: string, ip: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      remoteAddress: ip,
      payload: { email, topics: ['model-merging'] },
    });

  it('is ready', async () => {
    const response = await t.app.inject('/readyz');
    expect(response.statusCode, response.body).toBe(200);
  });

  it('queues and sends the confirmation of a signup through the cluster', async () => {
    expect((await signUp('clustered@example.org', '192.0.2.1')).statusCode).toBe(202);
    await t.sink.waitForMessages(1, 20_000);
    expect(t.sink.messages.map((m) => m.envelope.to)).toEqual([['clustered@example.org']]);
    await expect
      .poll(() => t.database.db.delivery.findFirst({ where: { kind: 'confirm' } }))
      .toMatchObject({ status: 'sent' });
  });

  it('counts the per-IP limit in the cluster', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await signUp(`ip-limited${i}@example.org`, '192.0.2.2')).statusCode);
    expect(codes).toEqual([202, 202, 202, 429]);
  });

  it('counts the per-address limit in the cluster', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await signUp('again@example.org', `192.0.2.${10 + i}`)).statusCode);
    // Both limits let requests through when Redis fails (skipOnError): a 429 here means the cluster counted.
    expect(codes).toEqual([202, 202, 429]);
  });
});
