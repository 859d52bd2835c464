# Ferry's container image (README: "Docker").
#
#   docker build -t ferry .
#   docker run -d --name ferry -p 8080:8080 -p 8081:8081 -v ferry-data:/data \
#     -e FERRY_ADMIN_PASSWORD='choose-a-good-one' ferry
#
#   docker logs ferry | grep fingerprint    # the certificate clients are shown
#
# TLS is on, as everywhere: the first start makes the certificate in the volume
# (/data/tls), so it survives new containers and clients keep trusting it. To use
# your own, mount it and set FERRY_TLS_CERT and FERRY_TLS_KEY.
#
# Three stages: `build` compiles the TypeScript with every dependency, `deps`
# installs the production dependencies alone (its layer is reused as long as the
# lock file does not change), and the runtime stage gets only the compiled code,
# those dependencies and the default config. The build needs registry access for
# `npm ci`; nothing from the build host (npmrc, CA bundle) ends up in the image.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied; the
# compile is the next step, and no dependency has an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY build ./build
# The single-file client, which the server offers to other computers on its ops port.
RUN npx tsc -p tsconfig.json \
    && node dist/build/bundle-client.js \
    && chmod 0755 dist/src/cli/ferry.js dist/src/cli/ferry-server.js

FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-slim
# Container defaults: listen on every interface of the container, keep data in the
# volume, and do not announce over mDNS, which a bridge network does not carry
# (with `--network host`, set FERRY_MDNS=true to be found by `ferry discover`).
ENV NODE_ENV=production \
    FERRY_HOST=0.0.0.0 \
    FERRY_PORT=8080 \
    FERRY_OPS_HOST=0.0.0.0 \
    FERRY_OPS_PORT=8081 \
    FERRY_DATA_DIR=/data \
    FERRY_MDNS=false
WORKDIR /app
# A numeric, fixed uid (not a name) so that orchestrators can verify "not root"
# (Kubernetes runAsNonRoot) and a bind-mounted host folder can be chowned to it.
RUN groupadd --gid 10001 ferry \
    && useradd --uid 10001 --gid ferry --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ferry \
    && mkdir /data \
    && chown ferry:ferry /data \
    && ln -s /app/dist/src/cli/ferry-server.js /usr/local/bin/ferry-server \
    && ln -s /app/dist/src/cli/ferry.js /usr/local/bin/ferry
# package.json says "type": "module", which the compiled ES modules need to load.
COPY package.json ./
COPY config ./config
# The web client's page, served as it is (no build step).
COPY web ./web
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/client ./dist/client
# The code stays owned by root: the service can write only to /data.
USER 10001:10001
VOLUME /data
EXPOSE 8080 8081 8443
# node:20-slim has no curl; Node 20 has fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FERRY_OPS_PORT || 8081) + '/healthz').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# Node itself is PID 1 (exec form, no shell in between): ferry-server installs
# handlers for SIGTERM and SIGINT, so the kernel delivers `docker stop`'s SIGTERM
# to it and it drains, then exits 0. It reaps its own cluster workers, and it
# starts no other processes, so there are no orphans for an init like tini to
# reap (`docker run --init` adds one anyway, if wanted). SIGHUP rolls the workers.
ENTRYPOINT ["node", "/app/dist/src/cli/ferry-server.js"]
CMD ["start"]
