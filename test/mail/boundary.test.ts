// The mail module owns the delivery and suppression tables: nothing else in src/ may read or write them,
// so creating a delivery, checking a suppression and retrying have one door each (src/modules/mail).
// Files are parsed with the TypeScript compiler rather than grepped, so comments never count and a query
// split over lines still does.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');
/** Generated code, and the owner itself. */
const SKIPPED = ['src/generated/', 'src/modules/mail/'];

const TABLES = ['delivery', 'suppression'];
/** The Prisma model accessors of those tables (`db.delivery`, `tx.suppression`). */
const MODELS = new Set(TABLES);
/** Relation fields that reach a delivery from another model in a nested read or write. */
const RELATIONS = new Set(['deliveries', 'delivery']);

// Methods of a Prisma model delegate: `x.delivery.<one of these>` is a query, `job.delivery.id` is not.
const DELEGATE_METHODS = new Set([
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
  'count',
  'aggregate',
  'groupBy',
]);

// Keys of Prisma query arguments: `deliveries: { select: … }` in an include is a read of the table.
const QUERY_KEYS = new Set([
  'select',
  'include',
  'omit',
  'where',
  'orderBy',
  'take',
  'skip',
  'cursor',
  'distinct',
  'some',
  'every',
  'none',
  'is',
  'isNot',
  'create',
  'createMany',
  'connect',
  'connectOrCreate',
  'update',
  'updateMany',
  'upsert',
  'delete',
  'deleteMany',
  'set',
  'disconnect',
]);

const table = `(?:"?public"?\\.)?"?(?:${TABLES.join('|')})"?`;
/** SQL in a plain string: the statements that name a table, with or without an alias after it. */
const SQL_STATEMENT = new RegExp(`\\b(?:from|join|update|into)\\s+${table}(?![\\w"])`, 'i');
/** SQL in a tagged template (`$queryRaw`, `Prisma.sql`): any mention of the table as a name, e.g. `FROM a, delivery d`. */
const SQL_NAME = new RegExp(`(?<![\\w."])${table}(?![\\w"])`, 'i');

interface Violation {
  line: number;
  what: string;
}

/** Where this source reads or writes the delivery or suppression table. */
function tableAccesses(source: string, fileName = 'file.ts'): Violation[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Violation[] = [];
  const report = (node: ts.Node, what: string, offset = 0) =>
    found.push({ line: file.getLineAndCharacterOfPosition(node.getStart(file) + offset).line + 1, what });

  const visit = (node: ts.Node, inTaggedTemplate: boolean) => {
    // x.delivery.findMany(…), x?.suppression?.count(…), x['delivery'].update(…)
    if (ts.isPropertyAccessExpression(node) && DELEGATE_METHODS.has(node.name.text)) {
      const target = node.expression;
      const model = ts.isPropertyAccessExpression(target)
        ? target.name.text
        : ts.isElementAccessExpression(target) && ts.isStringLiteralLike(target.argumentExpression)
          ? target.argumentExpression.text
          : undefined;
      if (model && MODELS.has(model)) report(node, `Prisma ${model}.${node.name.text}`);
    }
    // include: { deliveries: { take: 5 } }, _count: { select: { deliveries: true } }
    if (ts.isPropertyAssignment(node) && RELATIONS.has(node.name.getText(file))) {
      const value = node.initializer;
      const nested =
        value.kind === ts.SyntaxKind.TrueKeyword ||
        (ts.isObjectLiteralExpression(value) &&
          value.properties.some((property) => property.name && QUERY_KEYS.has(property.name.getText(file))));
      if (nested) report(node, `Prisma relation ${node.name.getText(file)}`);
    }
    // Matched in the source text of the literal (quotes and `${`/`}` included), so the line is the match's own.
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) {
      const match = (inTaggedTemplate ? SQL_NAME : SQL_STATEMENT).exec(node.getText(file));
      if (match) report(node, `SQL "${match[0].trim()}"`, match.index);
    }
    // The template of `db.$queryRaw\`…\``, `Prisma.sql\`…\`` is SQL through and through; its tag is not.
    if (ts.isTaggedTemplateExpression(node)) {
      visit(node.tag, inTaggedTemplate);
      visit(node.template, true);
      return;
    }
    ts.forEachChild(node, (child) => visit(child, inTaggedTemplate));
  };
  visit(file, false);
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .filter((file) => !SKIPPED.some((skipped) => file.startsWith(skipped)))
    .sort();
}

describe('the mail module owns the delivery and suppression tables', () => {
  it('finds table access in the forms it takes', () => {
    const lines = (source: string) => tableAccesses(source).map((violation) => violation.line);
    expect(lines('await db.delivery.findMany({});')).toEqual([1]);
    expect(lines('await tx\n  .suppression\n  .upsert({});')).toEqual([1]);
    expect(lines("db['suppression'].count()")).toEqual([1]);
    expect(lines('db.subscriber.findMany({ include: { deliveries: { take: 5 } } })')).toEqual([1]);
    expect(lines('db.topic.findMany({ include: { _count: { select: { deliveries: true } } } })')).toEqual([1]);
    expect(lines("const q = 'DELETE FROM suppression WHERE true';")).toEqual([1]);
    expect(lines('const q = "select * from public.delivery d";')).toEqual([1]);
    expect(lines('db.$queryRaw`SELECT 1\n FROM subscriber s\n JOIN "delivery" d ON d.subscriber_id = s.id`')).toEqual([
      3,
    ]);
    expect(lines('db.$executeRaw`UPDATE delivery SET status = ${status}`')).toEqual([1]);
    expect(lines('db.$queryRaw`INSERT INTO suppression (address_hash) VALUES (${h})`')).toEqual([1]);
    expect(lines('Prisma.sql`SELECT 1 FROM subscriber s, delivery d WHERE ${x}`')).toEqual([1]);
  });

  it('leaves alone what only looks like it', () => {
    expect(
      tableAccesses(
        [
          '// UPDATE delivery in a comment, db.delivery.findMany() too',
          'const id = job.delivery.id;',
          'type Where = Prisma.DeliveryWhereInput;',
          'const schema = z.object({ deliveries: z.array(summary) });',
          "const message = 'This delivery was sent; a retry would email the reader twice.';",
          'db.$queryRaw`SELECT delivery_id FROM sent_paper WHERE kind = ${kind}::delivery_kind`',
          'const zodRow = { delivery: z.string() };',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('no file outside src/modules/mail touches them', async () => {
    const files = await sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const offences: string[] = [];
    for (const file of files) {
      const violations = tableAccesses(await readFile(path.join(ROOT, file), 'utf8'), file);
      for (const { line, what } of violations) offences.push(`${file}:${line}: ${what}`);
    }
    // Call a function of src/modules/mail (outbox.ts, suppressions.ts, delivery-log.ts) instead.
    expect(offences).toEqual([]);
  });
});
