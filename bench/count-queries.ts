// Counts every statement a benchmark child process sends to Postgres (Prisma talks through pg), to show
// round trips per digest or per signup. Import it before anything opens a connection.
import pg from 'pg';

let queries = 0;
const { prototype } = pg.Client;
const query: (...args: unknown[]) => unknown = Reflect.get(prototype, 'query');
Reflect.set(prototype, 'query', function (this: pg.Client, ...args: unknown[]) {
  queries++;
  return query.apply(this, args);
});

export const queriesSent = () => queries;
