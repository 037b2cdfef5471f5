// Driving the admin API in tests: authorised requests, following cursors, and seeding rows directly.
import { expect } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Database } from '../../src/db/client.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { adminHeaders } from './app.ts';

export function adminGet(app: App, url: string) {
  return app.inject({ method: 'GET', url, headers: adminHeaders });
}

/** Every item of an admin list, page by page, checking that each page answered 200. */
export async function allPages<T>(app: App, url: string): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const separator = url.includes('?') ? '&' : '?';
    const response = await adminGet(app, cursor ? `${url}${separator}cursor=${cursor}` : url);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ items: T[]; nextCursor: string | null }>();
    items.push(...body.items);
    cursor = body.nextCursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

export function seedSubscriber(db: Database, data: Partial<Prisma.SubscriberUncheckedCreateInput> & { email: string }) {
  return db.subscriber.create({ data: { status: 'active', ...data } });
}
