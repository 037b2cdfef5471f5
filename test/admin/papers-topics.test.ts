// Admin API for papers and topics: bearer-token auth, feed ingest in both formats, topic CRUD and rematching.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');
const atom = readFileSync(path.resolve(import.meta.dirname, '../fixtures/arxiv-query.atom'), 'utf8');

describe('admin API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const routes = [
    ['GET', '/api/v1/admin/topics'],
    ['POST', '/api/v1/admin/topics'],
    ['PATCH', '/api/v1/admin/topics/model-merging'],
    ['DELETE', '/api/v1/admin/topics/model-merging'],
    ['POST', '/api/v1/admin/papers'],
  ] as const;

  it.each(routes)('%s %s refuses a missing or wrong token with 401', async (method, url) => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-wrong-token-wrong' },
      { authorization: 'Basic abc' },
    ]) {
      const response = await t.app.inject({ method, url, headers, payload: sample });
      expect(response.statusCode).toBe(401);
      expect(String(response.headers['www-authenticate'])).toContain('Bearer realm');
      expect(response.json()).toMatchObject({ error: 'Unauthorized' });
    }
    expect(await t.database.db.paper.count()).toBe(0);
    expect(await t.database.db.topic.count({ where: { slug: 'model-merging' } })).toBe(1);
  });

  it('ingests a Hugging Face JSON body and reports what it did', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/papers',
      headers: { ...adminHeaders, 'content-type': 'application/json' },
      payload: sample,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ format: 'hf_daily', total: 29, added: 29, skipped: [] });
  });

  it('ingests an arXiv Atom body, reporting the item it skipped', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/papers',
      headers: { ...adminHeaders, 'content-type': 'application/atom+xml' },
      payload: atom,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      format: 'arxiv_atom',
      added: 3,
      skipped: [{ index: 3, id: '2611.09999', reason: '<published> "yesterday" is not an ISO 8601 date' }],
    });
  });

  it('refuses a body that is not a feed with a 400 saying why', async () => {
    for (const [type, payload, message] of [
      ['application/json', '{"papers": []}', 'expected an array'],
      ['application/json', '[{"nope": 1}]', 'no item has a "paper" object'],
      ['application/atom+xml', '<feed><entry></feed>', 'not well-formed XML'],
      ['application/json', '{"broken": ', 'JSON'],
    ] as const) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/admin/papers',
        headers: { ...adminHeaders, 'content-type': type },
        payload,
      });
      expect(response.statusCode, payload).toBe(400);
      expect(response.json<{ message: string }>().message).toContain(message);
    }
  });

  it('creates, changes and deletes a topic, rematching papers when its query changes', async () => {
    const create = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/topics',
      headers: adminHeaders,
      payload: {
        slug: 'mixture-of-experts',
        name: 'Mixture of experts',
        description: 'Sparse expert models.',
        query: '"mixture-of-experts" OR MoE',
      },
    });
    expect(create.statusCode).toBe(201);
    const papersOf = async (slug: string) =>
      (await t.database.db.paperTopic.findMany({ where: { topic: { slug } }, select: { paperId: true } })).map(
        (p) => p.paperId,
      );
    expect(await papersOf('mixture-of-experts')).toEqual(['2210.03885']);

    const patch = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/admin/topics/mixture-of-experts',
      headers: adminHeaders,
      payload: { query: '"model merging"' },
    });
    expect(patch.statusCode).toBe(200);
    // Exactly the papers with "model merging" in the title ("Merging Models …" says it differently).
    expect((await papersOf('mixture-of-experts')).sort()).toEqual(['2312.06795', '2410.02396', '2503.12649']);

    const list = await t.app.inject({ url: '/api/v1/admin/topics', headers: adminHeaders });
    expect(list.json<{ topics: { slug: string; papers: number; readers: number }[] }>().topics).toContainEqual(
      expect.objectContaining({ slug: 'mixture-of-experts', papers: 3, readers: 0 }),
    );

    const remove = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/admin/topics/mixture-of-experts',
      headers: adminHeaders,
    });
    expect(remove.statusCode).toBe(204);
    expect(await papersOf('mixture-of-experts')).toEqual([]);
  });

  it('creates a topic once when the same slug arrives several times at once', async () => {
    const payload = { slug: 'race', name: 'Race', description: 'Concurrent creation.', query: 'race' };
    const responses = await Promise.all(
      [1, 2, 3, 4].map(() =>
        t.app.inject({ method: 'POST', url: '/api/v1/admin/topics', headers: adminHeaders, payload }),
      ),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409]);
  });

  it('explains invalid topics: bad fields, duplicates, unsearchable queries, unknown slugs', async () => {
    const post = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/v1/admin/topics', headers: adminHeaders, payload });
    const bad = await post({ slug: 'Not A Slug', name: '', description: 'x', query: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ problems: string[] }>().problems).toEqual([
      expect.stringMatching(/^slug: use lower-case letters/),
      expect.stringMatching(/^name: /),
    ]);
    const duplicate = await post({ slug: 'model-merging', name: 'Again', description: 'Again.', query: 'merging' });
    expect(duplicate).toMatchObject({ statusCode: 409 });
    const unsearchable = await post({
      slug: 'stop-words',
      name: 'Stop words',
      description: 'Nothing.',
      query: 'the and of',
    });
    expect(unsearchable.statusCode).toBe(400);
    expect(unsearchable.json<{ message: string }>().message).toContain('no searchable words');
    const control = await post({ slug: 'control', name: 'Bell\u0007', description: 'x\u0000', query: 'x' });
    expect(control.statusCode).toBe(400);
    expect(control.json<{ problems: string[] }>().problems).toEqual([
      'name: must not contain control characters or invalid Unicode',
      'description: must not contain control characters or invalid Unicode',
    ]);
    // A name is shown in email subjects: one line only.
    for (const name of ['Two\nlines', 'Bcc\r\nBcc: x@example.org', 'Line\u2028separator']) {
      const broken = await post({ slug: 'broken', name, description: 'x', query: 'x' });
      expect(broken.json<{ problems: string[] }>().problems).toEqual(['name: must be one line (no line breaks)']);
    }
    const missing = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/admin/topics/nope',
      headers: adminHeaders,
      payload: { name: 'x' },
    });
    expect(missing.statusCode).toBe(404);
  });
});
