# The service image: Node 22 LTS, compiled TypeScript (src/ and gen/ only, tsconfig.build.json).
# gen/ is committed, so no buf at build time.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY package.json ./
USER node
EXPOSE 50051 9464
# node is PID 1 and handles SIGTERM itself (src/main.ts): health NOT_SERVING, drain, exit 0.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
