// Schema pieces shared by routes, for validation and for the OpenAPI document built from them.
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import type { FastifyValidationResult } from 'fastify/types/schema.js';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { strictDate } from '../modules/papers/normalize.ts';

/** Every 4xx answer of the JSON API. */
export const problem = z
  .object({
    error: z.string(),
    message: z.string().describe('What went wrong and what to do, for a person.'),
    problems: z.array(z.string()).optional().describe('Each invalid field, when the request failed validation.'),
  })
  .describe('An error the client can fix');

/** A response of one non-JSON content type, e.g. an HTML page. */
export const textResponse = (description: string, contentType = 'text/html') => ({
  description,
  content: { [contentType]: { schema: z.string() } },
});

/** The same page for every status a page route answers with (a form with its mistakes, a bad link…). */
export const pageResponses = (statuses: Record<number, string>): Record<number, ReturnType<typeof textResponse>> =>
  Object.fromEntries(Object.entries(statuses).map(([status, description]) => [status, textResponse(description)]));

/** Fields every form post carries besides its own: the CSRF token from the page. */
export const csrfField = z.object({ _csrf: z.string().describe('The token from the page the form is on.') });

export const FORM = ['application/x-www-form-urlencoded'];

/**
 * For bodies a handler validates itself, so it can answer a person with the form and its mistakes
 * marked: the schema documents the body; params and query are still checked here as usual.
 */
export const documentBodyOnly = <S>(route: FastifyRouteSchemaDef<S>): FastifyValidationResult =>
  route.httpPart === 'body' ? () => true : validatorCompiler(route as unknown as FastifyRouteSchemaDef<z.ZodType>);

/** An ISO 8601 date or date-time in a query string. */
export const queryDate = z.string().transform((value, ctx) => {
  const date = strictDate(value);
  if (!date) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date such as 2026-11-28 or 2026-11-28T07:00:00Z' });
    return z.NEVER;
  }
  return date;
});
