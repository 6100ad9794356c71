# The mlpipe image: CLI, workers and serving. Temporal and MinIO run from their official images (docker-compose.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production MLPIPE_HOME=/var/lib/mlpipe
COPY --from=build /app /app
RUN useradd --system --home /var/lib/mlpipe mlpipe && mkdir -p /var/lib/mlpipe && chown mlpipe /var/lib/mlpipe
USER mlpipe
ENTRYPOINT ["node", "/app/bin/mlpipe.js"]
CMD ["--help"]
