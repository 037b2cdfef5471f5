// Server-rendered pages: Handlebars templates from templates/pages, escaped by default, in one layout.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

const PAGES = fileURLToPath(new URL('../templates/pages/', import.meta.url));
const PARTIALS = new Set(['schedule']);

export type RenderPage = (name: string, title: string, data?: Record<string, unknown>) => string;

/** Compiles every page template once; the returned function fills one into the layout. */
export function loadPages(): RenderPage {
  const handlebars = Handlebars.create();
  const templates = new Map<string, HandlebarsTemplateDelegate>();
  for (const file of readdirSync(PAGES).filter((name) => name.endsWith('.hbs'))) {
    const name = file.slice(0, -'.hbs'.length);
    const source = readFileSync(`${PAGES}${file}`, 'utf8');
    if (PARTIALS.has(name)) handlebars.registerPartial(name, source);
    else templates.set(name, handlebars.compile(source));
  }
  const layout = templates.get('layout')!;
  return (name, title, data = {}) => {
    const page = templates.get(name);
    if (!page) throw new Error(`no page template "${name}"`);
    return layout({ title, body: page(data) });
  };
}

/** A simple page: a heading, paragraphs, and optionally one button (a POST form) and one link. */
export function messagePage(
  render: RenderPage,
  heading: string,
  paragraphs: string[],
  extra: {
    action?: { url: string; label: string };
    /** A second, lesser button (same CSRF token). */
    secondary?: { url: string; label: string };
    csrf?: string;
    link?: { url: string; label: string };
  } = {},
): string {
  return render('message', heading, { heading, paragraphs, ...extra });
}
