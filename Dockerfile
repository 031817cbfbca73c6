# The layered-build-controller image.
#
#   buildah bud --build-arg BASE_IMAGE=<node 24 image> -t layered-build-controller:dev .
#   docker build --build-arg BASE_IMAGE=docker.io/library/node:24-slim -t layered-build-controller:dev .
#
# BASE_IMAGE must provide Node.js 24 as `node` on PATH. The build stage also
# needs npm and a POSIX shell; BUILD_IMAGE (default: BASE_IMAGE) can name a
# separate image with them, so the runtime image can stay without npm or a
# shell. hack/build-image.sh makes both locally with buildah from scratch.
ARG BASE_IMAGE
ARG BUILD_IMAGE=${BASE_IMAGE}

# ---- build: compile src/ to dist/, then keep production dependencies only ----
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
ENV NODE_ENV=development npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# Everything in the lock file, for the TypeScript compiler. --ignore-scripts:
# no dependency needs an install script to be compiled against, and it keeps
# the `node` dev dependency from downloading a second Node binary.
RUN npm ci --ignore-scripts --prefer-offline
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# Replace node_modules with the production dependencies only, and prove the
# compiled CLI loads with nothing else.
# (The build stage's npm cache never reaches the runtime image: nothing to clean.)
RUN npm ci --omit=dev --ignore-scripts --prefer-offline
COPY bin ./bin
RUN node bin/layered-build-controller.js --help >/dev/null

# ---- runtime: node, the compiled CLI and its production dependencies ----------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="layered-build-controller" \
      org.opencontainers.image.description="Builds layered OS images for MachineConfigPools" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
# --max-semi-space-size=4 (MiB): V8's new space otherwise grows to 32 MiB
# under the bursts of a cold start; with the flag peak RSS at 300 pools is
# 220 MB instead of 371 MB, for about 15 % more CPU (npm run bench; docs/design.md, "Node's heap").
ENTRYPOINT ["node", "--max-semi-space-size=4", "/app/bin/layered-build-controller.js"]
CMD ["run"]
