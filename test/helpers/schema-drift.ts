// Compares what schema.prisma (the client's view) declares with what the migrated database really has.
import { getDMMF } from '@prisma/get-dmmf';
import type pg from 'pg';

type Dmmf = Exclude<ReturnType<typeof getDMMF>, { type: string }>;
type Model = Dmmf['datamodel']['models'][number];
type Field = Model['fields'][number];

/** The full data model Prisma derives from a schema: nullability, keys, indexes and relations included. */
export function readDmmf(schema: string): Dmmf {
  const result = getDMMF({ datamodel: schema });
  if ('reason' in result) throw new Error(`schema.prisma does not parse: ${result.reason}`, { cause: result.error });
  return result;
}

interface Column {
  table: string;
  column: string;
  nullable: boolean;
  udt: string;
  precision: number | null;
  hasDefault: boolean;
}
interface Index {
  table: string;
  name: string;
  unique: boolean;
  primary: boolean;
  method: string;
  columns: string[];
}
interface ForeignKey {
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
}
export interface Catalog {
  tables: Set<string>;
  columns: Column[];
  enums: Map<string, string[]>;
  indexes: Index[];
  foreignKeys: ForeignKey[];
}

export async function readCatalog(client: pg.Client): Promise<Catalog> {
  const tables = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'`,
  );
  const columns = await client.query<{
    table_name: string;
    column_name: string;
    is_nullable: string;
    udt_name: string;
    datetime_precision: number | null;
    column_default: string | null;
    is_generated: string;
  }>(
    `SELECT table_name, column_name, is_nullable, udt_name, datetime_precision, column_default, is_generated
       FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
  );
  const enums = await client.query<{ name: string; labels: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = 'public'
      GROUP BY t.typname`,
  );
  const indexes = await client.query<Omit<Index, 'columns'> & { columns: string[] }>(
    `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
            am.amname AS method,
            array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns
       FROM pg_index x
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_am am ON am.oid = i.relam
       JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      WHERE t.relname <> '_prisma_migrations'`,
  );
  const foreignKeys = await client.query<ForeignKey>(
    `SELECT t.relname AS table, r.relname AS "refTable",
            array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
            array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS "refColumns",
            c.confdeltype AS "onDelete", c.confupdtype AS "onUpdate"
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_class r ON r.oid = c.confrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      WHERE c.contype = 'f'`,
  );
  return {
    tables: new Set(tables.rows.map((row) => row.table_name)),
    columns: columns.rows.map((row) => ({
      table: row.table_name,
      column: row.column_name,
      nullable: row.is_nullable === 'YES',
      udt: row.udt_name,
      precision: row.datetime_precision,
      hasDefault: row.column_default !== null || row.is_generated === 'ALWAYS',
    })),
    enums: new Map(enums.rows.map((row) => [row.name, row.labels])),
    indexes: indexes.rows,
    foreignKeys: foreignKeys.rows,
  };
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'int4',
  BigInt: 'int8',
  Float: 'float8',
  Decimal: 'numeric',
  Boolean: 'bool',
  DateTime: 'timestamp',
  Json: 'jsonb',
  Bytes: 'bytea',
};
const NATIVE_TYPES: Record<string, string> = {
  Text: 'text',
  VarChar: 'varchar',
  Uuid: 'uuid',
  SmallInt: 'int2',
  Integer: 'int4',
  BigInt: 'int8',
  Real: 'float4',
  DoublePrecision: 'float8',
  Timestamp: 'timestamp',
  Timestamptz: 'timestamptz',
  Date: 'date',
  JsonB: 'jsonb',
  Json: 'json',
};
// pg_constraint's one-letter referential actions, by Prisma's names.
const ACTIONS: Record<string, string> = { a: 'NoAction', r: 'Restrict', c: 'Cascade', n: 'SetNull', d: 'SetDefault' };
// Defaults Prisma fills in on the client, which therefore have no database default.
const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

function expectedUdt(field: Field, dmmf: Dmmf): string {
  let base: string | undefined;
  if (field.kind === 'enum') {
    const enumDef = dmmf.datamodel.enums.find((e) => e.name === field.type);
    base = enumDef?.dbName ?? field.type;
  } else {
    base = field.nativeType ? NATIVE_TYPES[field.nativeType[0]] : SCALAR_TYPES[field.type];
  }
  if (!base) throw new Error(`schema-drift: no Postgres type known for ${field.type} ${field.nativeType?.[0] ?? ''}`);
  return field.isList ? `_${base}` : base;
}

function hasDatabaseDefault(field: Field): boolean {
  if (!field.hasDefaultValue) return false;
  const def = field.default as { name?: string } | undefined;
  return !(def && typeof def === 'object' && 'name' in def && CLIENT_SIDE_DEFAULTS.has(String(def.name)));
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Every difference between schema.prisma and the database, as sentences; empty when they agree. */
export function compareSchema(dmmf: Dmmf, catalog: Catalog): string[] {
  const problems: string[] = [];
  const models = dmmf.datamodel.models;
  const tableOf = (model: Model) => model.dbName ?? model.name;
  const columnOf = (model: Model, name: string) => {
    const field = model.fields.find((f) => f.name === name);
    return field?.dbName ?? name;
  };

  for (const enumDef of dmmf.datamodel.enums) {
    const name = enumDef.dbName ?? enumDef.name;
    const labels = catalog.enums.get(name);
    const expected = enumDef.values.map((v) => v.dbName ?? v.name);
    if (!labels) problems.push(`enum ${name} is missing in the database`);
    else if (!sameList(labels, expected))
      problems.push(
        `enum ${name} has [${labels.join(', ')}] in the database, [${expected.join(', ')}] in schema.prisma`,
      );
  }

  for (const model of models) {
    const table = tableOf(model);
    if (!catalog.tables.has(table)) {
      problems.push(`table ${table} (model ${model.name}) is missing in the database`);
      continue;
    }
    const dbColumns = catalog.columns.filter((c) => c.table === table);
    const scalarFields = model.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum');
    for (const field of scalarFields) {
      const name = field.dbName ?? field.name;
      const column = dbColumns.find((c) => c.column === name);
      if (!column) {
        problems.push(`column ${table}.${name} (${model.name}.${field.name}) is missing in the database`);
        continue;
      }
      const udt = expectedUdt(field, dmmf);
      if (column.udt !== udt)
        problems.push(`column ${table}.${name} is ${column.udt} in the database, ${udt} in schema.prisma`);
      if (column.nullable === field.isRequired) {
        problems.push(
          `column ${table}.${name} is ${column.nullable ? 'nullable' : 'NOT NULL'} in the database but ` +
            `${field.isRequired ? 'required' : 'optional'} in schema.prisma`,
        );
      }
      if (field.type === 'DateTime' && !field.isList) {
        const precision = Number(field.nativeType?.[1]?.[0] ?? 3);
        if (column.precision !== precision) {
          problems.push(
            `column ${table}.${name} has precision ${column.precision} in the database, ${precision} in schema.prisma`,
          );
        }
      }
      if (column.hasDefault !== hasDatabaseDefault(field)) {
        problems.push(
          `column ${table}.${name} ${column.hasDefault ? 'has' : 'has no'} default in the database, unlike schema.prisma`,
        );
      }
    }
    // Unsupported(...) fields (e.g. the tsvector) are invisible to the client but named by indexes.
    const unsupported = new Set(
      dmmf.datamodel.indexes.filter((i) => i.model === model.name).flatMap((i) => i.fields.map((f) => f.name)),
    );
    for (const column of dbColumns) {
      const known = scalarFields.some((f) => (f.dbName ?? f.name) === column.column) || unsupported.has(column.column);
      if (!known) problems.push(`column ${table}.${column.column} exists in the database but not in schema.prisma`);
    }
  }
  const modelTables = new Set(models.map(tableOf));
  for (const table of catalog.tables) {
    if (!modelTables.has(table)) problems.push(`table ${table} exists in the database but not in schema.prisma`);
  }

  // Primary keys, unique constraints and indexes.
  const matchedIndexes = new Set<string>();
  for (const index of dmmf.datamodel.indexes) {
    const model = models.find((m) => m.name === index.model);
    if (!model) continue;
    const table = tableOf(model);
    const columns = index.fields.map((f) => columnOf(model, f.name));
    const kind = index.type === 'id' ? 'primary key' : index.type === 'unique' ? 'unique constraint' : 'index';
    const method = (index.algorithm ?? 'BTree').toLowerCase();
    const found = catalog.indexes.find(
      (i) =>
        i.table === table &&
        sameList(i.columns, columns) &&
        i.primary === (index.type === 'id') &&
        i.unique === (index.type === 'id' || index.type === 'unique') &&
        i.method === method,
    );
    if (found) matchedIndexes.add(`${found.table}.${found.name}`);
    else problems.push(`${kind} on ${table}(${columns.join(', ')}) is missing in the database`);
  }
  for (const index of catalog.indexes) {
    if (!matchedIndexes.has(`${index.table}.${index.name}`)) {
      problems.push(
        `index ${index.name} on ${index.table}(${index.columns.join(', ')}) exists in the database but not in schema.prisma`,
      );
    }
  }

  // Relations: every foreign key the client relies on, with its referential actions.
  const matchedKeys = new Set<ForeignKey>();
  for (const model of models) {
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.relationFromFields?.length) continue;
      const target = models.find((m) => m.name === field.type);
      if (!target) continue;
      const table = tableOf(model);
      const columns = field.relationFromFields.map((name) => columnOf(model, name));
      const refColumns = (field.relationToFields ?? []).map((name) => columnOf(target, name));
      const onDelete = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
      const onUpdate = 'Cascade';
      const key = catalog.foreignKeys.find(
        (fk) =>
          fk.table === table &&
          sameList(fk.columns, columns) &&
          fk.refTable === tableOf(target) &&
          sameList(fk.refColumns, refColumns),
      );
      const where = `${table}(${columns.join(', ')}) → ${tableOf(target)}(${refColumns.join(', ')})`;
      if (!key) {
        problems.push(`foreign key ${where} (${model.name}.${field.name}) is missing in the database`);
        continue;
      }
      matchedKeys.add(key);
      if (ACTIONS[key.onDelete] !== onDelete)
        problems.push(`foreign key ${where} deletes with ${ACTIONS[key.onDelete]}, schema.prisma says ${onDelete}`);
      if (ACTIONS[key.onUpdate] !== onUpdate)
        problems.push(`foreign key ${where} updates with ${ACTIONS[key.onUpdate]}, schema.prisma says ${onUpdate}`);
    }
  }
  for (const key of catalog.foreignKeys) {
    if (!matchedKeys.has(key)) {
      problems.push(
        `foreign key ${key.table}(${key.columns.join(', ')}) → ${key.refTable} exists in the database but not in schema.prisma`,
      );
    }
  }
  return problems;
}
