// Email templates: MJML compiled once at start-up to HTML with slots, then filled per message by
// Handlebars, which escapes every value (MJML takes tens of milliseconds; filling, microseconds).
// MJML runs in a short-lived child process (compile-mjml.ts), never in this one: loading its compiler
// costs ~85 MiB of resident memory that a process never gives back.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Handlebars from 'handlebars';

const TEMPLATE_DIR = fileURLToPath(new URL('../../../templates/emails/', import.meta.url));
// .ts when Node runs the sources, .js from a `tsc` build.
const COMPILER = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './compile-mjml.ts' : './compile-mjml.js', import.meta.url),
);

/** One per email kind (see kinds.ts): templates/emails/<name>.mjml and <name>.txt. */
export const EMAIL_TEMPLATES = ['confirm', 'manage-link', 'digest'] as const;
export type EmailTemplateName = (typeof EMAIL_TEMPLATES)[number];

export interface RenderedEmail {
  html: string;
  text: string;
}

type Fill = (data: Record<string, unknown>) => string;
export type EmailTemplates = Record<EmailTemplateName, { html: Fill; text: Fill }>;

// Separate instance: no helpers or partials registered anywhere else can change how emails render.
const handlebars = Handlebars.create();

/** Each template's HTML from MJML, compiled in a child process; rejects with MJML's errors. */
async function compileMjml(dir: string): Promise<Record<EmailTemplateName, string>> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [COMPILER, dir, ...EMAIL_TEMPLATES], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(stdout) as Record<EmailTemplateName, string>;
  } catch (error) {
    // compile-mjml.ts writes MJML's errors to stderr; anything else (it could not start) says why itself.
    const stderr = (error as { stderr?: unknown }).stderr;
    if (typeof stderr === 'string' && stderr) throw new Error(stderr, { cause: error });
    throw error;
  }
}

// One child per directory and process: the API and each delivery worker ask for the same templates.
const compiled = new Map<string, Promise<Record<EmailTemplateName, string>>>();

/** `dir` (ending in /) is for tests; the app always uses templates/emails/. */
export async function compileEmailTemplates(dir = TEMPLATE_DIR): Promise<EmailTemplates> {
  let mjml = compiled.get(dir);
  if (!mjml) {
    mjml = compileMjml(dir);
    compiled.set(dir, mjml);
    // A failure is not remembered: the next call tries again.
    mjml.catch(() => compiled.delete(dir));
  }
  const html = await mjml;
  const text = await Promise.all(EMAIL_TEMPLATES.map((name) => readFile(`${dir}${name}.txt`, 'utf8')));
  return Object.fromEntries(
    EMAIL_TEMPLATES.map((name, i) => [
      name,
      {
        html: handlebars.compile(html[name], { strict: true }),
        // Plain text is not HTML: no escaping, but never any markup either.
        text: handlebars.compile(text[i]!, { strict: true, noEscape: true }),
      },
    ]),
  ) as EmailTemplates;
}

export function renderEmail(
  templates: EmailTemplates,
  name: EmailTemplateName,
  data: Record<string, unknown>,
): RenderedEmail {
  const template = templates[name];
  return { html: template.html(data), text: template.text(data) };
}
