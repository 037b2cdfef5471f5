// Enumeration: every route that takes an address answers the same bytes, the same headers and in about the
// same time whether the address is unknown, pending, active, unsubscribed, bounced or suppressed.
import fc from 'fast-check';
import type { LightMyRequestResponse as Response } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHash } from '../../src/modules/subscribers/address.ts';
import { formStamp } from '../../src/routes/forms.ts';
import { openTestApp, type TestApp } from '../helpers/app.ts';
import { deleteKeysWithPrefix, uniqueQueuePrefix } from '../helpers/redis.ts';
import { openForm, postForm, type FormSession } from '../helpers/subscriptions.ts';
import { fcOptions } from './arbitraries.ts';

const STATES = ['unknown', 'pending', 'active', 'unsubscribed', 'bounced', 'suppressed'] as const;
type State = (typeof STATES)[number];
const ADDRESS: Record<State, string> = {
  unknown: 'nobody@example.org',
  pending: 'pending@example.org',
  active: 'active@example.org',
  unsubscribed: 'left@example.org',
  bounced: 'bounced@example.org',
  suppressed: 'gone@example.org',
};
/** Generated spellings of the addresses (case, whitespace), each sent to every route. */
const RUNS = 40;
const TIMING_SAMPLES = 9;

/** Headers that legitimately differ between any two requests. */
const VARYING = new Set(['date', 'x-request-id', 'x-ratelimit-reset']);
const comparable = (response: Response) => ({
  status: response.statusCode,
  body: response.body,
  headers: Object.fromEntries(Object.entries(response.headers).filter(([name]) => !VARYING.has(name))),
});

let ipCounter = 0;
/** A fresh address per request, so the per-IP budget (and its x-ratelimit-remaining) is the same for all. */
const nextIp = () => `198.18.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

describe('address-taking routes do not reveal whether an address is known', () => {
  let t: TestApp;
  let session: FormSession;
  const prefix = uniqueQueuePrefix();

  beforeAll(async () => {
    t = await openTestApp({ QUEUE_PREFIX: prefix, SIGNUP_RATE_PER_ADDRESS: '1000000' });
    const db = t.database.db;
    const topic = await db.topic.findFirstOrThrow();
    for (const [state, status] of [
      ['pending', 'pending'],
      ['active', 'active'],
      ['unsubscribed', 'unsubscribed'],
      ['bounced', 'bounced'],
      ['suppressed', 'active'],
    ] as const) {
      await db.subscriber.create({
        data: { email: ADDRESS[state], status, topics: { create: { topicId: topic.id } } },
      });
    }
    for (const state of ['bounced', 'suppressed'] as const) {
      await db.suppression.create({ data: { addressHash: addressHash(ADDRESS[state]), reason: 'hard_bounce' } });
    }
    session = await openForm(t.app, '/');
  });
  afterAll(async () => {
    await t.close();
    await deleteKeysWithPrefix(t.config.REDIS_URL, prefix);
  });

  const routes = {
    form: (email: string) =>
      postForm(
        t.app,
        '/subscribe',
        session,
        { email, topics: 'model-merging', started: formStamp(t.config, Date.now() - 10_000) },
        nextIp(),
      ),
    api: (email: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/subscriptions',
        remoteAddress: nextIp(),
        payload: { email, topics: ['model-merging'] },
      }),
    manageLink: (email: string) => postForm(t.app, '/manage-link', session, { email }, nextIp()),
  };

  /** Ways to spell an address that all mean the same mailbox for Paperboy. */
  const spelling = (address: string) =>
    fc
      .tuple(fc.constantFrom('', ' ', '\t', '  '), fc.boolean(), fc.constantFrom('', ' ', '\n'))
      .map(([before, upperDomain, after]) => {
        const [local, domain] = address.split('@') as [string, string];
        return `${before}${local}@${upperDomain ? domain.toUpperCase() : domain}${after}`;
      });

  it.each(Object.keys(routes) as (keyof typeof routes)[])(
    '%s: the same status, body and headers for every state of the address',
    async (route) => {
      const send = routes[route];
      const baseline = comparable(await send(ADDRESS.unknown));
      expect(baseline.status).toBeLessThan(300);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...STATES).chain((state) => spelling(ADDRESS[state]).map((email) => ({ state, email }))),
          async ({ state, email }) => {
            expect(comparable(await send(email)), `${route} ${state} ${JSON.stringify(email)}`).toEqual(baseline);
          },
        ),
        fcOptions(RUNS),
      );
    },
    60_000,
  );

  it.each(Object.keys(routes) as (keyof typeof routes)[])(
    '%s: about the same time for every state (medians, generous tolerance)',
    async (route) => {
      const send = routes[route];
      const samples = Object.fromEntries(STATES.map((state) => [state, [] as number[]])) as Record<State, number[]>;
      // Interleaved, so a slow moment of the machine hits every state alike.
      for (let i = 0; i < TIMING_SAMPLES; i++) {
        for (const state of STATES) {
          const started = performance.now();
          await send(ADDRESS[state]);
          samples[state].push(performance.now() - started);
        }
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      const medians = Object.fromEntries(STATES.map((state) => [state, median(samples[state])]));
      const fastest = Math.min(...Object.values(medians));
      // A leak that matters is a systematic difference of tens of ms (a query or a send); the answer is padded
      // to at least 40 ms, so any state taking twice the fastest one, and 40 ms more, is a finding.
      for (const state of STATES) {
        expect(medians[state], `${route}: ${JSON.stringify(medians)}`).toBeLessThan(
          Math.max(2 * fastest, fastest + 40),
        );
      }
    },
    60_000,
  );
});
