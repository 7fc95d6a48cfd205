# Ringleader agent image.
#   docker build -t ringleader .
#   docker run -d --name rl -p 7950:7950 -v rl-data:/var/lib/ringleader ringleader
#   docker exec rl agent status
# Stage 1 compiles and bundles (and trains the code cache on loopback with the same
# node as stage 2); stage 2 holds only node, the bundle and its launcher.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY agent agent
COPY protocol protocol
COPY ring ring
COPY test test
COPY bench bench
RUN npm run build && node build/agent/package-sea.js /src/dist

FROM node:20-bookworm-slim
RUN groupadd --system ringleader \
 && useradd --system --gid ringleader --home-dir /var/lib/ringleader --shell /usr/sbin/nologin ringleader \
 && install -d -o ringleader -g ringleader -m 0700 /var/lib/ringleader
# The bundle + launcher rather than the single executable: the image has node
# anyway, and the bundle idles at ~15 MB less RSS (docs/benchmarks.md). The code
# cache (agent-code.cache) is copied when the build made one; without it the agent
# runs the same, compiling as it goes.
COPY --from=build /src/dist/agent.mjs /src/dist/agent-code.* /src/dist/agent-node /opt/ringleader/
RUN ln -s /opt/ringleader/agent-node /usr/local/bin/agent
ENV RINGLEADER_DATA_DIR=/var/lib/ringleader
USER ringleader
VOLUME ["/var/lib/ringleader"]
# TCP for libp2p, UDP for probe datagrams (the same port number).
EXPOSE 7950 7950/udp
# Exit 0 only while the local agent answers on its status socket.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["agent", "status", "--json"]
# The launcher execs node, so the agent is PID 1 and gets SIGTERM from docker stop.
ENTRYPOINT ["agent"]
CMD ["start"]
