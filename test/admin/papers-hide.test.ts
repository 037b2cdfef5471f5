// Admin API for stored papers: the full list (hidden ones too) with search and pagination, and hiding a
// paper from the public lists and showing it again.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHeaders, openTestApp, type TestApp } from '../helpers/app.ts';
import { adminGet, allPages } from '../helpers/admin.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../../data/sample/daily_papers.json'), 'utf8');

describe('admin papers API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp();
    const ingest = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/papers',
      headers: { ...adminHeaders, 'content-type': 'application/json' },
      payload: sample,
    });
    expect(ingest.statusCode).toBe(200);
  });
  afterAll(async () => {
    await t.close();
  });

  const action = (id: string, verb: 'hide' | 'unhide') =>
    t.app.inject({ method: 'POST', url: `/api/v1/admin/papers/${id}/${verb}`, headers: adminHeaders });
  const publicIds = async () =>
    (await t.app.inject('/api/v1/papers?limit=100')).json<{ papers: { id: string }[] }>().papers.map((p) => p.id);

  it('pages through every stored paper without duplicates or gaps (one import shares one creation time)', async () => {
    const { items, pages } = await allPages<{ id: string }>(t.app, '/api/v1/admin/papers?limit=10');
    expect(pages).toBe(3);
    expect(items).toHaveLength(29);
    expect(new Set(items.map((item) => item.id)).size).toBe(29);
  });

  it('searches titles in any case', async () => {
    const response = await adminGet(t.app, '/api/v1/admin/papers?q=MODEL%20MERGING');
    const titles = response.json<{ items: { title: string }[] }>().items.map((item) => item.title);
    expect(titles.length).toBeGreaterThan(0);
    for (const title of titles) expect(title.toLowerCase()).toContain('model merging');
  });

  it('hides a paper from the public list and shows it again, and lists hidden papers for the admin', async () => {
    const [id] = await publicIds();
    expect(id).toBeDefined();

    const hide = await action(id!, 'hide');
    expect(hide.statusCode).toBe(200);
    const hiddenAt = hide.json<{ hiddenAt: string }>().hiddenAt;
    expect(hiddenAt).toEqual(expect.any(String));
    expect(await publicIds()).not.toContain(id);
    // Hiding again changes nothing, not even when it was hidden.
    expect((await action(id!, 'hide')).json()).toMatchObject({ hiddenAt });

    const hidden = await adminGet(t.app, '/api/v1/admin/papers?hidden=true');
    expect(hidden.json<{ items: { id: string }[] }>().items.map((item) => item.id)).toEqual([id]);
    const shown = await allPages<{ id: string }>(t.app, '/api/v1/admin/papers?hidden=false');
    expect(shown.items).toHaveLength(28);

    const unhide = await action(id!, 'unhide');
    expect(unhide.json()).toMatchObject({ id, hiddenAt: null });
    expect(await publicIds()).toContain(id);
    expect(
      (
        await t.database.db.event.findMany({ where: { type: { startsWith: 'admin_paper_' } }, orderBy: { id: 'asc' } })
      ).map((event) => [event.type, event.data]),
    ).toEqual([
      ['admin_paper_hidden', { paperId: id }],
      ['admin_paper_unhidden', { paperId: id }],
    ]);
  });

  it('answers 404 for an unknown paper and 400 for a bad filter', async () => {
    const missing = await action('2999.99999', 'hide');
    expect(missing.statusCode).toBe(404);
    expect(missing.json<{ message: string }>().message).toBe('There is no paper "2999.99999".');
    const bad = await adminGet(t.app, '/api/v1/admin/papers?hidden=yes');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toBe('hidden: must be true or false');
  });
});
