# syntax=docker/dockerfile:1
# Paperboy's image. One image runs every role; pick it with the command:
#   API (default)    node src/server.ts
#   workers          node workers/index.ts      (no HTTP port: disable the HEALTHCHECK, e.g. --no-healthcheck)
#   migrations       node src/cli.ts migrate    (one-shot; safe to run twice or from several containers)
#   API + workers    node src/main.ts           (small installs)
#
# There is no compile step: Node 24 strips the TypeScript types itself, so the image ships the .ts sources.

# ---- build: all dependencies, and the generated Prisma client ---------------------------------------------
FROM node:24-slim AS build
WORKDIR /app

# The manifests alone first, so this layer (the slow one) is rebuilt only when dependencies change.
# --ignore-scripts: nothing needs an install script here. Prisma's engines postinstall would try to download
# native binaries we never use (migrations run through src/db/migrate.ts, queries through @prisma/adapter-pg).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund

# The rest of the build context (.dockerignore keeps node_modules, src/generated, .env and the like out).
COPY . .

# `prisma generate` writes the client to src/generated/prisma (git-ignored, so it must be made here). It needs
# the prisma CLI (a dev dependency), prisma.config.ts and prisma/schema-engine-stub.sh, none of which the
# runtime stage carries.
RUN npm run db:generate

# ---- runtime: production dependencies and the app sources, run as `node` -----------------------------------
FROM node:24-slim AS runtime
WORKDIR /app

# NODE_ENV=production also keeps the logger off pino-pretty, which is a dev dependency and not installed here.
# HOST=0.0.0.0: the app binds 127.0.0.1 by default, which is unreachable from outside a container.
ENV NODE_ENV=production \
    OUTBOX_DIR=/tmp/paperboy-outbox \
    HOST=0.0.0.0 \
    PORT=3000

# Production dependencies only. --omit=optional as well as --omit=dev: the prisma CLI and typescript are
# optional peer dependencies of @prisma/client, which npm marks "devOptional" and keeps under --omit=dev
# alone (about 245 MB more). The only other optional packages are msgpackr's native accelerator, which BullMQ
# does without (pure JavaScript fallback), and pg-cloudflare (Cloudflare Workers only).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# Sources from the build stage (the same files as the context, plus src/generated/prisma). Everything stays
# owned by root, read-only to the `node` user: nothing under /app is writable, so anything the app writes to
# disk must point at a mounted volume or /tmp (OUTBOX_DIR, used when SMTP_URL is unset, defaults there).
COPY --from=build /app/src ./src
COPY --from=build /app/workers ./workers
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/templates ./templates
COPY --from=build /app/data ./data
COPY --from=build /app/public ./public

# The official image's unprivileged user (uid 1000).
USER node

EXPOSE 3000

# The app drains on SIGTERM (stop accepting, finish in-flight requests and jobs, exit 0) within
# SHUTDOWN_TIMEOUT_MS (25 s by default): give the container a stop timeout above that, e.g. 30 s.
STOPSIGNAL SIGTERM

# Liveness of the API process only (/readyz is the dependency check). node:24-slim has no curl or wget, so
# the probe uses Node's built-in fetch. It reads PORT at run time and assumes HOST lets 127.0.0.1 in.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "src/server.ts"]
