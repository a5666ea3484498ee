# syntax=docker/dockerfile:1
#
# AgentManager server image.
#   docker build -t agentmanager .
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://user:pass@host:5432/db agentmanager
#
# DATABASE_URL is expected in a container. The no-config default (embedded PostgreSQL under
# DATA_DIR) cannot start here: the image runs as uid 10001 and embedded-postgres, asked to create
# a "postgres" user (createPostgresUser), needs root for that. docker-compose.yml and k8s/ set it.
#
# The image is built for linux/amd64: package-lock.json pins the x64 binaries of the native
# packages (@node-rs/argon2, embedded-postgres).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript, then drop dev dependencies --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_fund=false \
    npm_config_audit=false \
    npm_config_update_notifier=false
# npm 11 runs a dependency's install script only when package.json `allowScripts` lists it
# (embedded-postgres's platform package does; @swc/core and @scarf/scarf do not). The node:20
# image ships npm 10, which would run them all, so use the npm the project is developed with.
ARG NPM_VERSION=11.19.1
RUN npm install --global npm@${NPM_VERSION}

COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

COPY . .
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="agentmanager" \
      org.opencontainers.image.description="Coordinates fleets of AI agents and workers on PostgreSQL" \
      org.opencontainers.image.licenses="MIT"

# tini as PID 1 forwards SIGTERM to node (graceful shutdown) and reaps child processes.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid lets Kubernetes verify runAsNonRoot without a user database.
RUN groupadd --system --gid 10001 agentmanager \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin agentmanager

WORKDIR /app
# Code stays owned by root and read-only to the server; it writes only to DATA_DIR (and /tmp),
# so the container runs with a read-only root filesystem.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The control panel's static build (served at /).
COPY --from=build /app/apps/panel/dist ./apps/panel/dist
RUN mkdir -p /app/data && chown 10001:10001 /app/data

ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/app/data
VOLUME ["/app/data"]
EXPOSE 3000

USER 10001:10001

# The slim image has no curl: ask node itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/apps/server/src/main.js"]
