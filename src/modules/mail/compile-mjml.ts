// Child process of compileEmailTemplates (templates.ts): compiles templates/emails/<name>.mjml, each inside
// layout.mjml, to HTML with MJML and prints { name: html } as JSON on stdout; on an MJML error, prints it on
// stderr and exits 1. MJML lives only here, so the long-lived API and worker processes never load it (its
// compiler costs a process ~85 MiB of resident memory for good, for work done once at start-up).
//   node src/modules/mail/compile-mjml.ts <templates dir> <name>...
import { readFile } from 'node:fs/promises';
import mjml2html from 'mjml';

const [dir, ...names] = process.argv.slice(2);

async function compileOne(name: string, layout: string): Promise<string> {
  const body = await readFile(`${dir}${name}.mjml`, 'utf8');
  // The body is placed into the layout before MJML runs, so MJML lays out the whole email once.
  const source = layout.replace('{{{body}}}', body);
  const where = `templates/emails/${name}.mjml`;
  let result: Awaited<ReturnType<typeof mjml2html>>;
  try {
    result = await mjml2html(source, { validationLevel: 'strict', keepComments: false });
  } catch (error) {
    // Strict validation: MJML 5 throws on an invalid template (a ValidationError listing every problem).
    throw new Error(`${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const { html, errors } = result;
  if (errors.length) throw new Error(`${where}: ${errors.map((e) => e.formattedMessage).join('; ')}`);
  return html;
}

try {
  const layout = await readFile(`${dir}layout.mjml`, 'utf8');
  const html = await Promise.all(names.map((name) => compileOne(name, layout)));
  process.stdout.write(JSON.stringify(Object.fromEntries(names.map((name, i) => [name, html[i]]))));
} catch (error) {
  process.stderr.write(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
