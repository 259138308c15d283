# jellyfin-failover: the service image. Build: docker build -t jellyfin-failover .
# Runs as root because it drives the Docker socket and writes Jellyfin's root- or PUID-owned config trees.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# rsync does the copies, ssh reaches a remote site, sqlite3 verifies copied databases (PRAGMA quick_check),
# tini forwards SIGTERM so an operation in flight is recorded before exit.
RUN apt-get update \
 && apt-get install -y --no-install-recommends rsync openssh-client sqlite3 acl ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE README.md ./
COPY ha-config ./ha-config
ENV NODE_ENV=production \
    STATE_DIR=/data
VOLUME /data
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/main.js"]
CMD ["run"]
