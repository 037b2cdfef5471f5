// Email templates: MJML compiled once at start-up to HTML with slots, then filled per message by
// Handlebars, which escapes every value (MJML takes tens of milliseconds; filling, microseconds).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import mjml2html from 'mjml';

const TEMPLATE_DIR = fileURLToPath(new URL('../../../templates/emails/', import.meta.url));

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

async function compileOne(name: EmailTemplateName, layout: string) {
  const [body, text] = await Promise.all([
    readFile(`${TEMPLATE_DIR}${name}.mjml`, 'utf8'),
    readFile(`${TEMPLATE_DIR}${name}.txt`, 'utf8'),
  ]);
  // The body is placed into the layout before MJML runs, so MJML lays out the whole email once.
  const source = layout.replace('{{{body}}}', body);
  const { html, errors } = await mjml2html(source, { validationLevel: 'strict', keepComments: false });
  if (errors.length)
    throw new Error(`templates/emails/${name}.mjml: ${errors.map((e) => e.formattedMessage).join('; ')}`);
  return {
    html: handlebars.compile(html, { strict: true }),
    // Plain text is not HTML: no escaping, but never any markup either.
    text: handlebars.compile(text, { strict: true, noEscape: true }),
  };
}

export async function compileEmailTemplates(): Promise<EmailTemplates> {
  const layout = await readFile(`${TEMPLATE_DIR}layout.mjml`, 'utf8');
  const compiled = await Promise.all(EMAIL_TEMPLATES.map((name) => compileOne(name, layout)));
  return Object.fromEntries(EMAIL_TEMPLATES.map((name, i) => [name, compiled[i]!])) as EmailTemplates;
}

export function renderEmail(
  templates: EmailTemplates,
  name: EmailTemplateName,
  data: Record<string, unknown>,
): RenderedEmail {
  const template = templates[name];
  return { html: template.html(data), text: template.text(data) };
}
