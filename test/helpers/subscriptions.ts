// Driving the reader's side in tests: forms with their CSRF cookie, links out of received emails.
import type { App } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { formStamp } from '../../src/routes/forms.ts';
import type { CapturedMessage } from './smtp-sink.ts';

export interface FormSession {
  cookie: string;
  csrf: string;
}

/** GETs a page with a form and returns what a browser would post back: its cookie and CSRF token. */
export async function openForm(app: App, url: string): Promise<FormSession & { body: string }> {
  const response = await app.inject(url);
  const cookie = String(response.headers['set-cookie'] ?? '').split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(response.body)?.[1];
  if (!csrf) throw new Error(`no CSRF token on ${url} (${response.statusCode})`);
  return { cookie, csrf, body: response.body };
}

/** Posts a form as a browser does (urlencoded), with the session's cookie and token. */
export function postForm(
  app: App,
  url: string,
  session: FormSession | undefined,
  fields: Record<string, string | string[]>,
  ip = '198.51.100.7',
) {
  const body = new URLSearchParams();
  const all: Record<string, string | string[]> = { ...fields, ...(session ? { _csrf: session.csrf } : {}) };
  for (const [name, value] of Object.entries(all)) {
    for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  }
  return app.inject({
    method: 'POST',
    url,
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(session ? { cookie: session.cookie } : {}) },
    payload: body.toString(),
  });
}

/** The signup form, filled in by a person who took their time. */
export async function signUpWithForm(app: App, config: Config, fields: Record<string, string | string[]>, ip?: string) {
  const session = await openForm(app, '/');
  return postForm(app, '/subscribe', session, { started: formStamp(config, Date.now() - 10_000), ...fields }, ip);
}

/** Every link to one of our pages in an email's text part, as paths. */
export function linksIn(message: CapturedMessage, publicUrl: string): string[] {
  return [...(message.text ?? '').matchAll(/https?:\/\/\S+/g)]
    .map((match) => match[0])
    .filter((url) => url.startsWith(publicUrl))
    .map((url) => url.slice(publicUrl.length));
}
