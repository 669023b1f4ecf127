# The demo's peers: an MCP-over-WebSocket backend and a relay-like client (python3-websockets).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-websockets \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --no-create-home peer
COPY tests/integration/ws_backend.py tests/integration/ws_client.py /app/
WORKDIR /app
USER 10002
