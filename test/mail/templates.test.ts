// The email templates: MJML compiled at start-up in a child process, filled per message by Handlebars.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileEmailTemplates, renderEmail } from '../../src/modules/mail/templates.ts';

const TEMPLATES = fileURLToPath(new URL('../../templates/emails/', import.meta.url));

describe('compileEmailTemplates', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('compiles every template to HTML that Handlebars fills and escapes', async () => {
    const templates = await compileEmailTemplates();
    const { html, text } = renderEmail(templates, 'manage-link', {
      subject: 'Your link',
      preview: 'Manage',
      footer: '',
      manageUrl: 'https://x.example/m?a=1&b=<2>',
    });
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).not.toContain('<mj-');
    expect(html).toContain('b&#x3D;&lt;2&gt;');
    expect(html).not.toContain('<2>');
    expect(text).toContain('https://x.example/m?a=1&b=<2>');
  });

  it('fails loudly, naming the file and MJML’s complaint, when a template is invalid MJML', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-templates-'));
    dirs.push(dir);
    await cp(TEMPLATES, dir, { recursive: true });
    await writeFile(
      path.join(dir, 'digest.mjml'),
      '<mj-section><mj-column><mj-bogus>x</mj-bogus></mj-column></mj-section>',
    );
    await expect(compileEmailTemplates(`${dir}/`)).rejects.toThrow(/templates\/emails\/digest\.mjml: [\s\S]*mj-bogus/);
  });
});
