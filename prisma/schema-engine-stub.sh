#!/bin/sh
# Stand-in for Prisma's native schema engine, which cannot be downloaded on machines without access to
# Prisma's binary host. `prisma generate` only checks that the file exists and is executable; migrations
# are applied by our own runner (src/db/migrate.ts), so the engine is never asked to do real work.
echo "paperboy: the Prisma schema engine is not installed; use 'npm run db:migrate' instead" >&2
exit 1
