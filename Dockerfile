# jellyfin-failover: the service image.
#
# Build:  docker build -t jellyfin-failover .
#   Works with BuildKit and with the classic builder (DOCKER_BUILDKIT=0): no BuildKit-only syntax.
#   Behind an HTTPS proxy that re-signs traffic, hand its CA to the build stages only (npm ci needs it):
#     docker build --build-arg BUILD_CA_PEM="$(cat /path/to/proxy-ca.crt)" -t jellyfin-failover .
#   It is used in the RUN that installs the npm packages and removed there; the final stage never sees it.
#   On a daemon without a bridge network (dockerd --bridge=none), add --network host.
#
# Run (see README.md, "Install", and docs/install-unraid.md): the image runs as the unprivileged user `node`
# (uid 1000) unless told otherwise; docker-compose.yml and the Unraid template run it as root (--user 0:0).
#   --user 0:0 (root), the default of the compose file and the template: needed where the service writes a local
#       config tree whose files belong to several owners (rsync keeps owners only as root; as another user every
#       copied file becomes that user's), or whose parent directory (where the staging and snapshot trees go) only
#       root may write. It works whatever the owners are. A site reached over SSH is written by the SSH login,
#       whatever user this container runs as, so with both sites remote (a third machine) the user does not matter.
#   --user PUID:PGID --group-add "$(stat -c %g /var/run/docker.sock)"
#       instead of root when the whole local config tree belongs to the uid/gid your Jellyfin containers run as
#       (linuxserver's PUID/PGID, e.g. 99:100 on Unraid, the usual case): the files a sync writes keep that owner,
#       and --group-add gives it the Docker socket (root:docker 660 on most hosts). Then bind-mount /data from a host
#       dir that user owns (Docker gives an empty named volume the image's owner, node, at every mount), and give it
#       the SSH key as its own file, mode 600.
#   Commands in a running container: docker exec <name> jellyfin-failover check (the launcher below, not plain
#   `node`: it makes ssh work for a --user uid the image does not know).

FROM node:26-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The proxy CA, if any, as PEM text (see above). Only this stage declares it.
ARG BUILD_CA_PEM=
# --ignore-scripts: no dependency needs its install script (ssh2 falls back to its JavaScript crypto).
RUN set -eu; \
    if [ -n "$BUILD_CA_PEM" ]; then \
      printf '%s\n' "$BUILD_CA_PEM" > /tmp/build-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; \
    fi; \
    npm ci --no-audit --no-fund --no-update-notifier --ignore-scripts; \
    rm -f /tmp/build-ca.pem

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:26-trixie-slim
# rsync does the copies, ssh reaches a remote site, sqlite3 checks copied databases (PRAGMA quick_check), acl keeps
# ACLs through rsync -A, tini is PID 1 and forwards SIGTERM so an operation in flight is recorded before exit,
# libnss-wrapper lends a passwd entry to a --user uid the image does not know (see the launcher below).
RUN apt-get update \
 && apt-get install -y --no-install-recommends rsync openssh-client sqlite3 acl ca-certificates tini libnss-wrapper \
 && rm -rf /var/lib/apt/lists/*
# The launcher, also for `docker exec <container> jellyfin-failover check`. OpenSSH (ssh, and rsync to a remote
# site) refuses to run for a uid without a passwd entry ("No user exists for uid 99"), which is what
# `docker run --user PUID:PGID` gives; nss_wrapper adds one for this process tree only.
RUN printf '%s\n' \
  '#!/bin/sh' \
  'set -e' \
  'if ! getent passwd "$(id -u)" >/dev/null; then' \
  '  passwd="/tmp/jellyfin-failover-passwd-$(id -u)"' \
  '  if [ ! -s "$passwd" ]; then' \
  '    { cat /etc/passwd; echo "jellyfin-failover:x:$(id -u):$(id -g):jellyfin-failover:/tmp:/usr/sbin/nologin"; } > "$passwd.$$"' \
  '    mv "$passwd.$$" "$passwd"' \
  '  fi' \
  '  export LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$passwd" NSS_WRAPPER_GROUP=/etc/group' \
  'fi' \
  'exec node /app/dist/main.js "$@"' \
  > /usr/local/bin/jellyfin-failover \
 && chmod 755 /usr/local/bin/jellyfin-failover
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE README.md ./
COPY ha-config ./ha-config
# /data holds state, journal and lock: a named volume starts out owned by node; a bind mount must be writable
# by the container's user.
RUN mkdir /data && chown node:node /data
ENV NODE_ENV=production \
    STATE_DIR=/data
VOLUME /data
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/jellyfin-failover"]
CMD ["run"]
# Healthy while a `run` process using this STATE_DIR is alive with a fresh heartbeat.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "/app/dist/main.js", "health"]
# Last, so a new version does not invalidate the layers above. Default: package.json's version.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="jellyfin-failover" \
      org.opencontainers.image.description="Safe one-button failover between two Dockerized Jellyfin servers, driven from Home Assistant over MQTT" \
      org.opencontainers.image.source="https://github.com/jellyfin-failover/jellyfin-failover" \
      org.opencontainers.image.licenses="GPL-2.0-only" \
      org.opencontainers.image.version="${VERSION}"
