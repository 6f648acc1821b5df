# syntax=docker/dockerfile:1
# The eventraft image: one image for `eventraft node` (what RaftCluster pods run) and
# `eventraft operator` (what the Helm chart's Deployment runs), plus `eventraft smoke-test`
# (the chart's helm test).
#
#   docker build -t eventraft:dev .
#   docker run --rm eventraft:dev --help
#
# Runs as UID/GID 10001 with nothing to write outside mounted volumes (/var/lib/eventraft for
# nodes, /tmp),
# so it works with readOnlyRootFilesystem: true. Node 24 from the official slim image.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile of the TypeScript sources to dist/ -----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lockfile was written where some non-Linux optional binaries
# were missing from the registry, and npm ci refuses it for that; install follows it otherwise. --ignore-scripts skips the `node` devDependency's
# download (the image runs its base image's Node 24); lmdb and msgpackr load prebuilt binaries.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY node ./node
COPY operator ./operator
COPY scripts ./scripts
COPY crds ./crds
# tsc by path, run by the image's Node (node_modules/.bin/node of the `node` devDependency is not installed).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# ---- production dependencies only ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force

# ---- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="eventraft" \
      org.opencontainers.image.description="Raft-replicated event store and its Kubernetes operator" \
      org.opencontainers.image.source="https://github.com/eventraft/eventraft" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The numeric user the chart and the operator's pods run as (runAsNonRoot needs a number).
RUN groupadd --system --gid 10001 eventraft \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin eventraft \
 && mkdir -p /var/lib/eventraft \
 && chown 10001:10001 /var/lib/eventraft
USER 10001:10001
# Peer transport and HTTP API of a node; the operator listens on 8081.
EXPOSE 7000 8080 8081
# The flags of node/runtime-flags.ts (NODE_RUNTIME_FLAGS): why each is there is written there.
ENTRYPOINT ["node", "--single-threaded-gc", "/app/dist/node/cli.js"]
CMD ["--help"]

# ---- e2e: the kind end-to-end scenario's Job (test/e2e/kind/), not shipped -----------------------
# Build with --target e2e. It runs the TypeScript test sources directly (Node 24 strips types).
FROM build AS e2e
COPY test ./test
USER 10001:10001
ENTRYPOINT ["node", "/src/test/e2e/kind/scenario-job.ts"]
