// /openapi.json is a valid OpenAPI 3 document that describes every route the app serves, each with
// its request and response schemas; /docs serves Swagger UI over it.
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/app.ts';

interface Operation {
  requestBody?: unknown;
  parameters?: unknown[];
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  security?: unknown[];
  tags?: string[];
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Routes that are not part of the API: the docs themselves and the dashboard's own files and calls. */
const NOT_API = /^\/(docs|openapi\.json|admin\/queues)(\/|$)/;
/** Actions that take no body: the URL says everything. */
const BODYLESS = /\/(hide|unhide|retry)$/;

describe('OpenAPI', () => {
  let t: TestApp;
  let document: Document;
  beforeAll(async () => {
    t = await openTestApp();
    const response = await t.app.inject('/openapi.json');
    expect(response.statusCode).toBe(200);
    document = response.json<Document>();
  });
  afterAll(async () => {
    await t.close();
  });

  it('is a valid OpenAPI 3 document', async () => {
    expect(document.openapi).toMatch(/^3\./);
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('lists every route with its request and response schemas', () => {
    const routes = t.app.routeTable.filter(
      (route) => !['HEAD', 'OPTIONS'].includes(route.method) && !NOT_API.test(route.url),
    );
    expect(routes.length).toBeGreaterThan(25);
    const problems: string[] = [];
    for (const { method, url } of routes) {
      const path = url.replace(/:([A-Za-z]+)/g, '{$1}');
      const operation = document.paths[path]?.[method.toLowerCase()];
      if (!operation) {
        problems.push(`${method} ${url}: missing`);
        continue;
      }
      const responses = Object.entries(operation.responses ?? {});
      const described = responses.filter(
        ([status, r]) => status === '204' || Object.values(r.content ?? {}).some((c) => c.schema),
      );
      if (described.length === 0) problems.push(`${method} ${url}: no response schema`);
      if (['POST', 'PUT', 'PATCH'].includes(method) && !operation.requestBody && !BODYLESS.test(url)) {
        problems.push(`${method} ${url}: no request body schema`);
      }
      if (url.includes(':') && !operation.parameters?.length) problems.push(`${method} ${url}: no parameters`);
      if (!operation.tags?.length) problems.push(`${method} ${url}: no tag`);
      const admin = /^\/api\/v1\/admin\/|^\/metrics$/.test(url);
      if (admin !== Boolean(operation.security?.length)) problems.push(`${method} ${url}: security is wrong`);
    }
    expect(problems).toEqual([]);
  });

  it('serves Swagger UI at /docs', async () => {
    const page = await t.app.inject('/docs');
    const html = page.statusCode === 302 ? await t.app.inject(String(page.headers.location)) : page;
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain('swagger-ui');
    const initializer = await t.app.inject('/docs/static/swagger-initializer.js');
    expect(initializer.body).toContain('/openapi.json');
  });
});
