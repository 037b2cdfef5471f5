// Finds markup in an HTML document that could run script: script elements other than our own, event
// handler attributes, script-capable elements and javascript:/data: links. Parsed with parse5, as a browser would.
import { parse, parseFragment } from 'parse5';

interface Node {
  nodeName: string;
  tagName?: string;
  attrs?: { name: string; value: string }[];
  childNodes?: Node[];
  content?: Node;
}

/** Scripts the site itself serves; any other script element came from input. */
const OWN_SCRIPTS = new Set(['/assets/signup.js']);
const SCRIPT_CAPABLE = new Set(['iframe', 'frame', 'frameset', 'object', 'embed', 'svg', 'math', 'base', 'applet']);
const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'background', 'poster', 'data']);

function* walk(node: Node): Generator<Node> {
  yield node;
  for (const child of node.childNodes ?? []) yield* walk(child);
  if (node.content) yield* walk(node.content);
}

/** What a browser would treat as a link's scheme: whitespace and control characters are ignored. */
const schemeOf = (url: string) =>
  // eslint-disable-next-line no-control-regex
  /^([a-z][a-z0-9+.-]*):/.exec(url.replace(/[\u0000-\u0020]/g, '').toLowerCase())?.[1];

export function executableMarkup(html: string, options: { fragment?: boolean } = {}): string[] {
  const root = (options.fragment ? parseFragment(html) : parse(html)) as unknown as Node;
  const problems: string[] = [];
  for (const node of walk(root)) {
    const tag = node.tagName;
    if (!tag) continue;
    const attrs = new Map((node.attrs ?? []).map((attr) => [attr.name.toLowerCase(), attr.value]));
    if (tag === 'script' && !(OWN_SCRIPTS.has(attrs.get('src') ?? '') && !node.childNodes?.length)) {
      problems.push(`<script src=${attrs.get('src')}>`);
    }
    if (SCRIPT_CAPABLE.has(tag)) problems.push(`<${tag}>`);
    if (tag === 'img' && !['http', 'https'].includes(schemeOf(attrs.get('src') ?? '') ?? '')) {
      problems.push(`<img src=${attrs.get('src')}>`);
    }
    for (const [name, value] of attrs) {
      if (name.startsWith('on')) problems.push(`<${tag} ${name}=${value}>`);
      const scheme = URL_ATTRIBUTES.has(name) ? schemeOf(value) : undefined;
      if (scheme && !['http', 'https', 'mailto'].includes(scheme)) problems.push(`<${tag} ${name}=${value}>`);
    }
    if (tag === 'meta' && attrs.get('http-equiv')?.toLowerCase() === 'refresh') problems.push('<meta refresh>');
  }
  return problems;
}
