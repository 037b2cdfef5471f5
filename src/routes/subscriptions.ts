// The reader's pages and the signup API: thin handlers over src/modules/subscribers.
// No GET changes anything (mail scanners follow links): every change is a POST from a button.
import type {} from '@fastify/csrf-protection';
import type {} from '@fastify/rate-limit';
import { STATUS_CODES } from 'node:http';
import type { Queue } from 'bullmq';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import { isUnreadableForm } from '../errors.ts';
import type { DeliveryJob } from '../queues/deliveries.ts';
import type { RedisConnection } from '../queues/connection.ts';
import type { Subscriber } from '../generated/prisma/client.ts';
import { webViewOf } from '../modules/digests/compose.ts';
import type { EmailTemplates } from '../modules/mail/templates.ts';
import { dispatchDelivery } from '../modules/mail/outbox.ts';
import { addressHash, emailAddress } from '../modules/subscribers/address.ts';
import { subscriberLink } from '../modules/subscribers/emails.ts';
import { preferencesInput, TIME_ZONE_REFUSED } from '../modules/subscribers/preferences.ts';
import {
  confirmSubscription,
  emailSettingsLink,
  exportSubscriber,
  forgetSubscriber,
  FORM_VERSION,
  LinkError,
  requestManageLink,
  resendConfirmation,
  revokeLinks,
  setPaused,
  signUp,
  subscriberForLink,
  unsubscribe,
  updatePreferences,
} from '../modules/subscribers/subscriptions.ts';
import { timeZoneCatalogue } from '../modules/subscribers/time-zones.ts';
import { listTopics } from '../modules/topics/topics.ts';
import { messagePage, type RenderPage } from '../views.ts';
import { csrfField, documentBodyOnly, FORM, pageResponses, problem } from './schemas.ts';
import { ANSWER_MS, atLeast, fieldErrors, formPace, formStamp, formView, type FormValues } from './forms.ts';

export interface SubscriptionDeps {
  config: Config;
  db: Database;
  redis: RedisConnection;
  mailQueue: Queue<DeliveryJob>;
  render: RenderPage;
  templates: EmailTemplates;
}

const CHECK_INBOX = [
  'If the address can receive our emails, a message is on its way: open it and follow the link.',
  'Nothing arrived after a few minutes? Look in your spam folder, or sign up again.',
];

const LINK_PROBLEMS: Record<LinkError['problem'], { status: number; text: string }> = {
  malformed: { status: 400, text: 'This link is incomplete. Copy the whole link from the email into your browser.' },
  forged: {
    status: 400,
    text: 'This link is not one of ours, or it was changed. Use the link from the email as it is.',
  },
  'wrong-purpose': { status: 400, text: 'This link is meant for another page. Use the button in the email.' },
  expired: { status: 410, text: 'This link has expired.' },
  revoked: { status: 410, text: 'This link no longer works: a newer email has replaced it.' },
  unknown: { status: 410, text: 'This subscription no longer exists.' },
};

const tokenParams = z.object({ token: z.string().max(500).describe('The signed token from the email link.') });

const emailOnly = z.object({ email: emailAddress });

/** The signup API's body, validated by the handler so each field's mistake is named. */
const signupRequest = z.object({ email: emailAddress }).and(preferencesInput);

const signupForm = csrfField
  .extend({
    email: z.string(),
    started: z.string().describe('Set by the page: a form sent within seconds, or hours later, is refused.'),
    website: z.string().optional().describe('Leave empty: a trap for bots.'),
  })
  .and(preferencesInput);

const manageForm = csrfField
  .extend({
    action: z.enum(['save', 'pause', 'resume', 'unsubscribe', 'revoke-links', 'delete']).optional(),
    really: z.literal('yes').optional().describe('Required with action=delete.'),
  })
  .and(preferencesInput);

const FORM_EXPIRED = 'The form expired (its CSRF token or cookie is missing)';

const LINK_PAGES = {
  400: 'The link is incomplete, changed or meant for another page',
  410: 'The link has expired or was replaced',
} as const;

/** One-click unsubscribes get plain text, people a page. */
const UNSUBSCRIBE_RESPONSES: Record<number, object> = {
  200: {
    description: 'Unsubscribed: a page, or plain text for one-click',
    content: { 'text/html': { schema: z.string() }, 'text/plain': { schema: z.string() } },
  },
  ...pageResponses({ 403: FORM_EXPIRED, ...LINK_PAGES }),
};

/** Route options shared by every page reached from a signed link. */
const linkPage = (summary: string, pages: Record<number, string>) => ({
  schema: {
    tags: ['subscriptions'],
    summary,
    params: tokenParams,
    response: pageResponses({ ...pages, ...LINK_PAGES }),
  },
});

/** The same for a form posted on such a page (body checked by the handler, see documentBodyOnly). */
const linkForm = (summary: string, body: z.ZodType, pages: Record<number, string>) => ({
  schema: {
    ...linkPage(summary, { ...pages, 403: FORM_EXPIRED }).schema,
    consumes: FORM,
    body,
  },
  validatorCompiler: documentBodyOnly,
});

export const subscriptionRoutes: FastifyPluginAsync<SubscriptionDeps> = async (app, deps) => {
  const { config, db, render } = deps;
  const html = (reply: FastifyReply, body: string, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
  const checkInbox = () => messagePage(render, 'Check your inbox', CHECK_INBOX);

  /**
   * Queues an email; if Redis is away the delivery waits in Postgres and the reconciler sends it. Bounded:
   * BullMQ would wait for Redis forever, and the reader's answer with it.
   */
  const enqueue = async (request: FastifyRequest, deliveryId: string | undefined) => {
    if (!deliveryId) return;
    await dispatchDelivery(deps.mailQueue, deliveryId, (error) =>
      request.log.warn({ err: error, deliveryId }, 'could not queue an email; the reconciler will'),
    );
  };

  /** Per-address limit, on top of the per-IP one: a fixed window counter in Redis (allowed if Redis is away). */
  const withinAddressLimit = async (email: string) => {
    const key = `${config.QUEUE_PREFIX}:ratelimit:address:${addressHash(email)}`;
    try {
      const [[, count]] = (await deps.redis.multi().incr(key).expire(key, 3600, 'NX').exec()) as [[unknown, number]];
      return count <= config.SIGNUP_RATE_PER_ADDRESS;
    } catch {
      return true;
    }
  };

  const csrf = (request: FastifyRequest, reply: FastifyReply, done: () => void) =>
    app.csrfProtection(request, reply, done);
  const csrfCheck = (request: FastifyRequest, reply: FastifyReply) =>
    new Promise<void>((resolve) => csrf(request, reply, resolve));

  /** Unknown topic slugs are a mistake to show next to the field, not something to store silently. */
  const withKnownTopics = async <T extends { topics: string[] }>(parsed: z.ZodSafeParseResult<T>) => {
    if (!parsed.success) return parsed;
    const known = new Set((await listTopics(db)).map((topic) => topic.slug));
    const unknown = parsed.data.topics.filter((slug) => !known.has(slug));
    if (unknown.length === 0) return parsed;
    return {
      success: false as const,
      error: new z.ZodError([
        { code: 'custom', path: ['topics'], message: `Unknown topic: ${unknown.join(', ')}.`, input: unknown },
      ]),
    };
  };

  /**
   * The zone is stored under the name Postgres schedules it by (US/Pacific-New, which Intl still knows and
   * Postgres dropped, becomes America/Los_Angeles); one with no such name is the field's mistake.
   */
  const withKnownTimeZone = async <T extends { timeZone: string }>(
    parsed: z.ZodSafeParseResult<T>,
  ): Promise<z.ZodSafeParseResult<T>> => {
    if (!parsed.success) return parsed;
    const timeZone = (await timeZoneCatalogue(db)).canonical(parsed.data.timeZone);
    if (timeZone) return { success: true, data: { ...parsed.data, timeZone } };
    // The issue is about T's own field; zod's constructor only cannot say so.
    const issue = {
      code: 'custom' as const,
      path: ['timeZone'],
      message: TIME_ZONE_REFUSED,
      input: parsed.data.timeZone,
    };
    return { success: false, error: new z.ZodError([issue]) as z.ZodError<T> };
  };

  const consentOf = (request: FastifyRequest) => ({
    ip: request.ip,
    userAgent: String(request.headers['user-agent'] ?? ''),
    formVersion: FORM_VERSION,
  });

  // One limiter, so one budget per IP for every way of asking for email (form, API, manage link).
  const signupRateLimit = app.rateLimit({ max: config.SIGNUP_RATE_PER_IP, timeWindow: 60_000 });

  // A person on a page gets a page, not JSON: a refused CSRF token, a rate limit, an unreadable form.
  app.setErrorHandler<FastifyError>((error, request, reply) => {
    const status = error.statusCode ?? (isUnreadableForm(error) ? 400 : 500);
    if (status >= 500) throw error;
    if (status === 429) reply.header('retry-after', reply.getHeader('retry-after') ?? '60');
    const message =
      status === 403
        ? 'This form has expired or your browser did not send its cookie. Go back, reload the page and try again.'
        : isUnreadableForm(error)
          ? 'The form data could not be read.'
          : error.message;
    if (request.url.startsWith('/api/')) {
      // Not every thrown thing is an Error (the rate limiter throws a plain object).
      return reply.code(status).send({ error: error.name ?? STATUS_CODES[status], message });
    }
    return html(
      reply,
      messagePage(render, 'That did not work', [message], { link: { url: '/', label: 'Back to the start' } }),
      status,
    );
  });

  // ---- signup ------------------------------------------------------------------------------------
  const signupPage = async (reply: FastifyReply, values: FormValues, errors = {}, status = 200) =>
    html(
      reply,
      render('signup', 'Subscribe', {
        ...formView(await listTopics(db), (await timeZoneCatalogue(db)).offered, values, errors),
        csrf: reply.generateCsrf(),
        started: formStamp(config),
      }),
      status,
    );

  app.get(
    '/',
    { schema: { tags: ['subscriptions'], summary: 'The signup page.', response: pageResponses({ 200: 'The form' }) } },
    async (_request, reply) => signupPage(reply, {}),
  );

  app.post(
    '/subscribe',
    {
      onRequest: signupRateLimit,
      preValidation: csrf,
      validatorCompiler: documentBodyOnly,
      schema: {
        tags: ['subscriptions'],
        summary: 'The signup form: sends a confirmation email (double opt-in).',
        consumes: FORM,
        body: signupForm,
        response: pageResponses({
          200: 'Check your inbox (the same answer whether or not the address is known)',
          400: 'The form again, with its mistakes marked',
          403: FORM_EXPIRED,
          429: 'Too many signups from this address or network',
        }),
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const pace = formPace(config, body.started);
      // Bots fill the hidden field or post instantly: they get the usual answer and nothing happens.
      if (body.website || pace === 'too-fast') {
        await atLeast(ANSWER_MS, async () => undefined);
        return html(reply, checkInbox());
      }
      if (pace === 'stale') {
        return signupPage(reply, body, { form: 'The form was open for a long time; please send it again.' }, 400);
      }
      const email = emailAddress.safeParse(body.email);
      const prefs = await withKnownTopics(await withKnownTimeZone(preferencesInput.safeParse(body)));
      if (!email.success || !prefs.success) {
        const errors = {
          ...(prefs.success ? {} : fieldErrors(prefs.error)),
          ...(email.success ? {} : fieldErrors(email.error)),
        };
        if (!email.success) errors.email = email.error.issues[0]?.message;
        return signupPage(reply, body, errors, 400);
      }
      if (!(await withinAddressLimit(email.data))) {
        return html(
          reply,
          messagePage(render, 'Too many attempts', ['Please wait an hour before signing up this address again.']),
          429,
        );
      }
      await atLeast(ANSWER_MS, async () =>
        enqueue(request, await signUp(db, config, email.data, prefs.data, consentOf(request))),
      );
      return html(reply, checkInbox());
    },
  );

  app.post(
    '/api/v1/subscriptions',
    {
      onRequest: signupRateLimit,
      validatorCompiler: documentBodyOnly,
      schema: {
        tags: ['subscriptions'],
        summary: 'Sign up by API (e.g. from an embedded form): sends a confirmation email.',
        body: signupRequest,
        response: {
          202: z
            .object({ message: z.string() })
            .describe('Accepted; the same answer whether or not the address is known'),
          400: problem.extend({ problems: z.record(z.string(), z.string()).optional() }),
          415: problem,
          429: problem,
        },
      },
    },
    async (request, reply) => {
      // JSON only: a cross-site HTML form could post urlencoded here without a CORS preflight.
      if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
        return reply
          .code(415)
          .send({ error: 'Unsupported Media Type', message: 'Send the subscription as application/json.' });
      }
      const body = (request.body ?? {}) as Record<string, unknown>;
      const parsed = await withKnownTopics(await withKnownTimeZone(signupRequest.safeParse(body)));
      if (!parsed.success) {
        const problems = fieldErrors(parsed.error);
        return reply.code(400).send({
          error: 'Bad Request',
          message: Object.entries(problems)
            .map(([field, message]) => `${field}: ${message}`)
            .join('; '),
          problems,
        });
      }
      const { email, ...prefs } = parsed.data;
      if (!(await withinAddressLimit(email))) {
        return reply
          .code(429)
          .header('retry-after', '3600')
          .send({ error: 'Too Many Requests', message: 'Too many signups for this address; try again in an hour.' });
      }
      await atLeast(ANSWER_MS, async () =>
        enqueue(request, await signUp(db, config, email, prefs, consentOf(request))),
      );
      return reply
        .code(202)
        .send({ message: 'Check your inbox: if the address can receive our emails, a confirmation is on its way.' });
    },
  );

  // ---- links from emails -------------------------------------------------------------------------
  const linkProblemPage = (reply: FastifyReply, error: LinkError, retryUrl?: string) => {
    const { status, text } = LINK_PROBLEMS[error.problem];
    const offer = error.problem === 'expired' && retryUrl;
    return html(
      reply,
      messagePage(render, 'This link does not work', [text], {
        ...(offer ? { action: { url: retryUrl, label: 'Email me a new link' }, csrf: reply.generateCsrf() } : {}),
        link: { url: '/manage-link', label: 'Get a fresh link to your settings' },
      }),
      status,
    );
  };

  /** Runs a page handler for a signed link, answering a clear page (never a 500) for a bad link. */
  const withLink = async <T>(reply: FastifyReply, work: () => Promise<T>, retryUrl?: string) => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof LinkError) return linkProblemPage(reply, error, retryUrl);
      throw error;
    }
  };

  app.get(
    '/confirm/:token',
    linkPage('The link in the confirmation email.', { 200: 'A button to confirm' }),
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(
        reply,
        async () => {
          const { subscriber } = await subscriberForLink(db, config.TOKEN_KEYS, token, 'confirm');
          if (subscriber.status === 'active') return confirmedPage(reply, subscriber);
          return html(
            reply,
            messagePage(
              render,
              'Confirm your subscription',
              ['One more click and the trending papers start arriving.'],
              {
                action: { url: `/confirm/${token}`, label: 'Confirm my subscription' },
                csrf: reply.generateCsrf(),
              },
            ),
          );
        },
        `/confirm/${token}/resend`,
      );
    },
  );

  const confirmedPage = (reply: FastifyReply, subscriber: Subscriber) =>
    html(
      reply,
      messagePage(render, 'You are subscribed', ['Your first email arrives at the hour you chose.'], {
        link: {
          url: new URL(subscriberLink(config, subscriber, 'manage')).pathname,
          label: 'Change your topics or schedule',
        },
      }),
    );

  app.post(
    '/confirm/:token',
    { ...linkForm('Confirms the subscription.', csrfField, { 200: 'Subscribed' }), preValidation: csrf },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(
        reply,
        async () => confirmedPage(reply, await confirmSubscription(db, config.TOKEN_KEYS, token, request.ip)),
        `/confirm/${token}/resend`,
      );
    },
  );

  app.post(
    '/confirm/:token/resend',
    {
      ...linkForm('Sends a new confirmation email for an expired link.', csrfField, { 200: 'Check your inbox' }),
      preValidation: csrf,
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      try {
        await subscriberForLink(db, config.TOKEN_KEYS, token, 'confirm');
      } catch (error) {
        if (!(error instanceof LinkError)) throw error;
        if (error.problem === 'expired' && error.subscriberId) {
          await enqueue(request, await resendConfirmation(db, config, error.subscriberId));
        }
      }
      return html(reply, checkInbox());
    },
  );

  // ---- manage ------------------------------------------------------------------------------------
  const managePage = async (
    reply: FastifyReply,
    subscriber: Subscriber,
    token: string,
    extra: { values?: FormValues; errors?: object; saved?: boolean } = {},
  ) => {
    const topics = await db.subscriberTopic.findMany({
      where: { subscriberId: subscriber.id },
      include: { topic: { select: { slug: true } } },
    });
    const values: FormValues = extra.values ?? {
      topics: topics.map((t) => t.topic.slug),
      keywords: subscriber.includeKeywords,
      excludeKeywords: subscriber.excludeKeywords,
      frequency: subscriber.frequency,
      weeklyDay: subscriber.weeklyDay ?? 1,
      sendHour: subscriber.sendHour,
      timeZone: subscriber.timeZone,
      maxPapers: subscriber.maxPapers,
    };
    return html(
      reply,
      render('manage', 'Your settings', {
        ...formView(await listTopics(db), (await timeZoneCatalogue(db)).offered, values, extra.errors),
        email: subscriber.email,
        paused: subscriber.pausedAt !== null,
        saved: extra.saved ?? false,
        url: `/manage/${token}`,
        csrf: reply.generateCsrf(),
      }),
      extra.errors ? 400 : 200,
    );
  };

  const activeSubscriber = async (token: string, purpose: 'manage' | 'unsubscribe') => {
    const link = await subscriberForLink(db, config.TOKEN_KEYS, token, purpose);
    if (!['active', 'pending'].includes(link.subscriber.status)) throw new LinkError('revoked');
    return link;
  };

  app.get(
    '/manage/:token',
    linkPage("The reader's settings page.", { 200: 'The settings form' }),
    async (request, reply) => {
      const { token } = request.params as { token: string };
      const saved = (request.query as Record<string, unknown>).saved === '1';
      return withLink(reply, async () =>
        managePage(reply, (await activeSubscriber(token, 'manage')).subscriber, token, { saved }),
      );
    },
  );

  app.get(
    '/manage/:token/export',
    {
      schema: {
        ...linkPage('Everything stored about the reader, as a JSON download.', {}).schema,
        response: {
          200: z
            .object({ exportedAt: z.string() })
            .catchall(z.unknown())
            .describe('Profile, consent record, topics, deliveries and events'),
          ...pageResponses(LINK_PAGES),
        },
      },
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(reply, async () => {
        const { subscriber } = await activeSubscriber(token, 'manage');
        return reply
          .header('content-disposition', 'attachment; filename="paperboy-my-data.json"')
          .header('cache-control', 'no-store')
          .send(await exportSubscriber(db, subscriber.id));
      });
    },
  );

  app.post(
    '/manage/:token',
    {
      ...linkForm('Saves settings, pauses, unsubscribes, signs out every link or deletes everything.', manageForm, {
        200: 'The result, or the form with its mistakes marked (400)',
        303: 'Saved: back to the settings page',
        400: 'The form with its mistakes marked',
      }),
      preValidation: csrf,
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      const body = (request.body ?? {}) as Record<string, unknown>;
      return withLink(reply, async () => {
        const { subscriber } = await activeSubscriber(token, 'manage');
        switch (body.action) {
          case 'pause':
          case 'resume':
            await setPaused(db, subscriber.id, body.action === 'pause');
            return reply.redirect(`/manage/${token}?saved=1`, 303);
          case 'unsubscribe':
            await unsubscribe(db, subscriber.id, undefined, 'manage page');
            return html(reply, unsubscribedPage());
          case 'revoke-links':
            await enqueue(request, await revokeLinks(db, config, subscriber.id));
            return html(
              reply,
              messagePage(render, 'Every link signed out', [
                'The settings links in all our earlier emails, this page included, no longer work (their unsubscribe links still do).',
                'We have emailed you a fresh link to your settings.',
              ]),
            );
          case 'delete':
            if (body.really !== 'yes')
              return managePage(reply, subscriber, token, { errors: { form: 'Tick the box to confirm.' } });
            await forgetSubscriber(db, subscriber.id);
            return html(
              reply,
              messagePage(render, 'Deleted', [
                'Your subscription and its history are gone. We keep only a one-way hash of the address, so it is never emailed again.',
              ]),
            );
          default: {
            const prefs = await withKnownTimeZone(preferencesInput.safeParse(body));
            if (!prefs.success)
              return managePage(reply, subscriber, token, {
                values: body,
                errors: fieldErrors(prefs.error),
              });
            await updatePreferences(db, subscriber.id, prefs.data);
            return reply.redirect(`/manage/${token}?saved=1`, 303);
          }
        }
      });
    },
  );

  // ---- unsubscribe -------------------------------------------------------------------------------
  const unsubscribedPage = () =>
    messagePage(render, 'You are unsubscribed', ['You will get no more digests from Paperboy.'], {
      link: { url: '/', label: 'Changed your mind? Subscribe again' },
    });

  app.get(
    '/unsubscribe/:token',
    linkPage('The unsubscribe link: asks before doing anything.', { 200: 'A button to unsubscribe' }),
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(reply, async () => {
        const { subscriber, claims } = await subscriberForLink(db, config.TOKEN_KEYS, token, 'unsubscribe');
        const topic = claims.topicId ? await db.topic.findUnique({ where: { id: claims.topicId } }) : null;
        return html(
          reply,
          messagePage(
            render,
            topic ? `Stop "${topic.name}"?` : 'Unsubscribe from Paperboy?',
            [
              topic
                ? `You will get no more papers about ${topic.name}; your other topics stay.`
                : 'You will get no more digests.',
            ],
            {
              action: { url: `/unsubscribe/${token}`, label: topic ? `Stop ${topic.name}` : 'Unsubscribe' },
              // Not a settings link: an unsubscribe link gets forwarded and shared, and settings show the
              // address and consent record. The owner's inbox gets one instead.
              ...(subscriber.status === 'active'
                ? {
                    secondary: {
                      url: `/unsubscribe/${token}/settings-link`,
                      label: 'Email me a link to my settings instead',
                    },
                  }
                : {}),
              csrf: reply.generateCsrf(),
            },
          ),
        );
      });
    },
  );

  // Also the RFC 8058 one-click endpoint: mail providers POST `List-Unsubscribe=One-Click` here, with no
  // cookie and no CSRF token, and expect a 200 (no redirect). It is idempotent.
  app.post(
    '/unsubscribe/:token',
    {
      validatorCompiler: documentBodyOnly,
      schema: {
        tags: ['subscriptions'],
        summary: 'Unsubscribes: from the page (with its CSRF token) or by RFC 8058 one-click from a mail provider.',
        params: tokenParams,
        consumes: [...FORM, 'multipart/form-data'],
        body: z.union([z.object({ 'List-Unsubscribe': z.literal('One-Click') }), csrfField]),
        response: UNSUBSCRIBE_RESPONSES,
      },
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      const body = (request.body ?? {}) as Record<string, unknown>;
      const oneClick = body['List-Unsubscribe'] === 'One-Click';
      if (!oneClick) {
        await csrfCheck(request, reply);
        if (reply.sent) return reply;
      }
      try {
        const { subscriber, claims } = await subscriberForLink(db, config.TOKEN_KEYS, token, 'unsubscribe');
        await unsubscribe(db, subscriber.id, claims.topicId, oneClick ? 'one-click' : 'link');
        if (oneClick) return reply.code(200).type('text/plain; charset=utf-8').send('Unsubscribed.');
        return html(
          reply,
          claims.topicId ? messagePage(render, 'Done', ['That topic is gone from your digest.']) : unsubscribedPage(),
        );
      } catch (error) {
        if (!(error instanceof LinkError)) throw error;
        if (oneClick)
          return reply
            .code(LINK_PROBLEMS[error.problem].status)
            .type('text/plain; charset=utf-8')
            .send(LINK_PROBLEMS[error.problem].text);
        return linkProblemPage(reply, error);
      }
    },
  );

  app.post(
    '/unsubscribe/:token/settings-link',
    {
      ...linkForm('Emails the reader a settings link instead of unsubscribing.', csrfField, {
        200: 'Check your inbox',
      }),
      onRequest: signupRateLimit,
      preValidation: csrf,
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(reply, async () => {
        const { subscriber } = await subscriberForLink(db, config.TOKEN_KEYS, token, 'unsubscribe');
        await enqueue(request, await emailSettingsLink(db, config, subscriber.id));
        return html(reply, checkInbox());
      });
    },
  );

  // ---- web view of a sent digest -----------------------------------------------------------------
  app.get(
    '/digest/:token',
    linkPage('A sent digest in the browser.', { 200: 'The digest' }),
    async (request, reply) => {
      const { token } = request.params as { token: string };
      return withLink(reply, async () => {
        const { subscriber, claims } = await subscriberForLink(db, config.TOKEN_KEYS, token, 'web-view');
        const digest = claims.deliveryId
          ? await webViewOf(db, config, deps.templates, subscriber.id, claims.deliveryId)
          : null;
        if (!digest) throw new LinkError('unknown');
        // The email's own HTML: inline styles (as email needs) but still no scripts, frames or remote fonts.
        reply.header(
          'content-security-policy',
          "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'",
        );
        return html(reply, digest.html);
      });
    },
  );

  // ---- "email me my link" ------------------------------------------------------------------------
  app.get(
    '/manage-link',
    {
      schema: {
        tags: ['subscriptions'],
        summary: 'Asks for an address to email a fresh settings link to.',
        response: pageResponses({ 200: 'The form' }),
      },
    },
    async (_request, reply) =>
      html(
        reply,
        render('manage-link', 'Manage your subscription', { csrf: reply.generateCsrf(), values: {}, errors: {} }),
      ),
  );

  app.post(
    '/manage-link',
    {
      onRequest: signupRateLimit,
      preValidation: csrf,
      validatorCompiler: documentBodyOnly,
      schema: {
        tags: ['subscriptions'],
        summary: 'Emails a fresh settings link, if the address is subscribed.',
        consumes: FORM,
        body: csrfField.extend({ email: z.string() }),
        response: pageResponses({
          200: 'Check your inbox (the same answer whether or not the address is known)',
          400: 'The form with its mistake marked',
          403: FORM_EXPIRED,
          429: 'Too many requests from this network',
        }),
      },
    },
    async (request, reply) => {
      const parsed = emailOnly.safeParse(request.body ?? {});
      if (!parsed.success) {
        return html(
          reply,
          render('manage-link', 'Manage your subscription', {
            csrf: reply.generateCsrf(),
            values: request.body ?? {},
            errors: { email: parsed.error.issues[0]?.message },
          }),
          400,
        );
      }
      // No per-address limit here (a stranger could spend it): the one-email-per-window rule protects the inbox.
      await atLeast(ANSWER_MS, async () => enqueue(request, await requestManageLink(db, config, parsed.data.email)));
      return html(reply, checkInbox());
    },
  );
};
