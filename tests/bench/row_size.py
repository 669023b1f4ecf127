#!/usr/bin/python3
"""Bytes of PostgreSQL per captured row, by transport: the same MCP exchange (a tools/call
and its result) sent through the real binary over HTTP (JSON answer), HTTP with an SSE
answer, WebSocket, raw TCP (NDJSON) and stdio, each into a database of its own, then
pg_total_relation_size (heap, TOAST, indexes, free space and visibility maps) of every
partition of mcptap.messages, before and after, divided by the rows written.

    tests/bench/row_size.py [--mcptap build/bin/mcptap] [--pg URL] [--exchanges 2000]
                            [--result-bytes 1000] [--transports http,sse,websocket,tcp,stdio]

Without --pg (or MCPTAP_PG_URL) a throwaway cluster is started (tests/support/pg_cluster.py)
and removed afterwards; with one, its role must be allowed to CREATE DATABASE: a database
rowsize_<transport>_<pid> is created per transport and dropped at the end. Prints a markdown
table on stdout; progress goes to stderr. Not part of ctest: it takes a minute or two.
"""
import argparse
import asyncio
import contextlib
import functools
import http.client
import http.server
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import pg_cluster  # noqa: E402
from harness import free_port, wait_for_port  # noqa: E402
from raw_wire import ThreadedServer  # noqa: E402

TRANSPORTS = ["http", "sse", "websocket", "tcp", "stdio"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---- The exchange ---------------------------------------------------------------------

def request_for(n):
    """A tools/call as an MCP client sends it (about 250 bytes)."""
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": "search_documents",
                       "arguments": {"query": f"quarterly revenue by region, request {n}",
                                     "limit": 10, "include_snippets": True},
                       "_meta": {"progressToken": f"tok-{n}"}}}


WORDS = ("the of and to in is for on that by with revenue region quarter growth customer "
         "order invoice report total margin cost forecast team product market sales EMEA APAC "
         "AMER grew fell rose percent year month week daily average median latency error "
         "request service deployment version release feature issue ticket status open closed "
         "pending review approved document summary section table figure note").split()


@functools.lru_cache(maxsize=4)
def result_text(result_bytes):
    """Text that compresses about as well as prose (the same for a given size): TOAST
    compresses payloads past 2 KB, so a repeated phrase would flatter large results."""
    rng = random.Random(result_bytes)
    words = []
    size = 0
    while size < result_bytes:
        word = rng.choice(WORDS) + ("." if rng.random() < 0.08 else "")
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:result_bytes]


def result_for(message, text):
    """Its result: one text content block."""
    return {"jsonrpc": "2.0", "id": message["id"],
            "result": {"content": [{"type": "text", "text": text}], "isError": False}}


# ---- Servers ----------------------------------------------------------------------------

class HttpServer:
    """Streamable HTTP: POST /mcp answered with JSON, or with one SSE event when sse."""

    def __init__(self, result_bytes, sse):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                message = json.loads(self.rfile.read(length))
                answer = json.dumps(result_for(message, result_text(result_bytes))).encode()
                if sse:
                    body = b"event: message\ndata: " + answer + b"\n\n"
                    kind = "text/event-stream"
                else:
                    body, kind = answer, "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Mcp-Session-Id", "3f2a9c1e-bench-session")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class NdjsonServer(ThreadedServer):
    """Raw TCP, one JSON-RPC message a line."""

    def __init__(self, result_bytes):
        self.result_bytes = result_bytes
        super().__init__()

    def serve(self, conn):
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                answer = result_for(json.loads(line), result_text(self.result_bytes))
                conn.sendall(json.dumps(answer).encode() + b"\n")


class WebSocketServer:
    """MCP over WebSocket (subprotocol "mcp"), on its own event loop thread."""

    def __init__(self, result_bytes):
        import websockets
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def handler(ws, path=None):
            with contextlib.suppress(websockets.ConnectionClosed):
                async for text in ws:
                    await ws.send(json.dumps(result_for(json.loads(text), result_text(result_bytes))))

        async def serve():
            self.server = await websockets.serve(handler, "127.0.0.1", self.port,
                                                 subprotocols=["mcp"], compression=None)
            started.set()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)


STDIO_SERVER = r"""
import json, sys
text = sys.argv[1]
for line in sys.stdin:
    message = json.loads(line)
    answer = {"jsonrpc": "2.0", "id": message["id"],
              "result": {"content": [{"type": "text", "text": text}], "isError": False}}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


# ---- Clients ------------------------------------------------------------------------------

def drive_http(port, exchanges):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for n in range(exchanges):
        body = json.dumps(request_for(n))
        conn.request("POST", "/mcp", body=body,
                     headers={"Content-Type": "application/json",
                              "Accept": "application/json, text/event-stream",
                              "Mcp-Session-Id": "3f2a9c1e-bench-session",
                              "MCP-Protocol-Version": "2025-06-18",
                              "Authorization": "Bearer bench-token-not-real"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


def drive_tcp(port, exchanges):
    with socket.create_connection(("127.0.0.1", port)) as sock, sock.makefile("rb") as lines:
        for n in range(exchanges):
            sock.sendall(json.dumps(request_for(n)).encode() + b"\n")
            assert json.loads(lines.readline())["id"] == n


def drive_websocket(port, exchanges):
    import websockets

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{port}/mcp", subprotocols=["mcp"],
                                      compression=None) as ws:
            for n in range(exchanges):
                await ws.send(json.dumps(request_for(n)))
                assert json.loads(await ws.recv())["id"] == n

    asyncio.run(run())


def drive_stdio(binary, config_path, route, exchanges, result_bytes):
    command = [binary, "stdio", "--route", route, "--config", config_path, "--",
               sys.executable, "-c", STDIO_SERVER, result_text(result_bytes)]
    hop = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for n in range(exchanges):
        hop.stdin.write(json.dumps(request_for(n)).encode() + b"\n")
        hop.stdin.flush()
        assert json.loads(hop.stdout.readline())["id"] == n
    hop.stdin.close()
    hop.wait(timeout=60)


# ---- Measuring -----------------------------------------------------------------------------

def psql(url, sql):
    return subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def database_url(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def table_bytes(url):
    """Every partition's (heap and TOAST with their maps, indexes): a partitioned parent
    stores nothing itself. pg_total_relation_size is their sum."""
    sizes = psql(url, "SELECT coalesce(sum(pg_table_size(relid)), 0) || ' ' || "
                      "coalesce(sum(pg_indexes_size(relid)), 0) "
                      "FROM pg_partition_tree('mcptap.messages') WHERE isleaf")
    table, indexes = (int(x) for x in sizes.split())
    return {"table": table, "indexes": indexes, "total": table + indexes}


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def schema_ready(url):
    with contextlib.suppress(subprocess.CalledProcessError):
        return psql(url, "SELECT to_regclass('mcptap.messages') IS NOT NULL") == "t"
    return False


def measure(transport, args, admin_url):
    name = f"rowsize_{transport}_{os.getpid()}"
    psql(admin_url, f"CREATE DATABASE {name}")
    url = database_url(admin_url, name)
    route = "rowsize"
    with tempfile.TemporaryDirectory(prefix="mcptap-rowsize-") as work:
        server = None
        upstream_port = 0
        if transport in ("http", "sse"):
            server = HttpServer(args.result_bytes, sse=transport == "sse")
        elif transport == "websocket":
            server = WebSocketServer(args.result_bytes)
        elif transport == "tcp":
            server = NdjsonServer(args.result_bytes)
        if server:
            upstream_port = server.port
        listen_port = free_port()
        config = {"admin": {"listen": f"127.0.0.1:{free_port()}"},
                  "routes": [{"name": route, "listen": f"127.0.0.1:{listen_port}",
                              "upstream": f"127.0.0.1:{upstream_port or 9}"}],
                  "sink": {"postgres": url, "spool_dir": os.path.join(work, "spool")}}
        config_path = os.path.join(work, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, MCPTAP_PG_URL=url)
        proxy = None
        try:
            if transport == "stdio":
                subprocess.run([args.mcptap, "migrate", "--pg", url], check=True, env=env,
                               capture_output=True)
            else:
                proxy = subprocess.Popen([args.mcptap, "run", "--config", config_path], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_for_port(listen_port, timeout=15.0)
            wait_for(lambda: schema_ready(url), 30, "the schema was not created")
            before = table_bytes(url)
            log(f"{transport}: {args.exchanges} exchanges")
            if transport in ("http", "sse"):
                drive_http(listen_port, args.exchanges)
            elif transport == "websocket":
                drive_websocket(listen_port, args.exchanges)
            elif transport == "tcp":
                drive_tcp(listen_port, args.exchanges)
            else:
                drive_stdio(args.mcptap, config_path, route, args.exchanges, args.result_bytes)
            expected = 2 * args.exchanges
            wait_for(lambda: int(psql(url, "SELECT count(*) FROM mcptap.messages")) >= expected,
                     120, f"{transport}: rows did not arrive")
            psql(url, "CHECKPOINT")
            after = table_bytes(url)
            stats = json.loads(psql(url, """
                SELECT json_build_object(
                  'rows', count(*),
                  'transports', (SELECT json_agg(DISTINCT transport) FROM mcptap.messages),
                  'payload_bytes', avg(payload_bytes),
                  'payload_stored', avg(pg_column_size(payload)),
                  'meta_stored', avg(pg_column_size(meta)))
                FROM mcptap.messages"""))
        finally:
            if proxy:
                proxy.terminate()
                proxy.wait(timeout=30)
            if server:
                server.close()
    psql(admin_url, f"DROP DATABASE {name} WITH (FORCE)")
    rows = stats["rows"]
    stats.update(transport=transport,
                 **{f"{part}_per_row": (after[part] - before[part]) / rows for part in after})
    return stats


def report(results, args):
    print(f"{args.exchanges} exchanges per transport (a tools/call of about 250 bytes and a "
          f"result with {args.result_bytes} bytes of text), PostgreSQL "
          f"{psql(args.admin_url, 'SHOW server_version')}\n")
    print("| transport (row transports) | rows | wire bytes | payload column | meta column | "
          "table + TOAST | indexes | **PostgreSQL bytes per row** |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['transport']} ({', '.join(r['transports'])}) | {r['rows']} | "
              f"{r['payload_bytes']:.0f} | {r['payload_stored']:.0f} | {r['meta_stored']:.0f} | "
              f"{r['table_per_row']:.0f} | {r['indexes_per_row']:.0f} | "
              f"**{r['total_per_row']:.0f}** |")
    print("\nAll figures are averages per row (a request or a response); the columns as "
          "pg_column_size reports them, after TOAST compression.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mcptap", default=os.path.join(HERE, "..", "..", "build", "bin", "mcptap"))
    parser.add_argument("--pg", default=os.environ.get("MCPTAP_PG_URL"))
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--result-bytes", type=int, default=1000)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    args = parser.parse_args()
    args.mcptap = os.path.abspath(args.mcptap)
    transports = args.transports.split(",")
    for transport in transports:
        if transport not in TRANSPORTS:
            parser.error(f"unknown transport {transport!r}; expected some of {TRANSPORTS}")
    with contextlib.ExitStack() as stack:
        if args.pg:
            args.admin_url = args.pg
        else:
            state = stack.enter_context(tempfile.TemporaryDirectory(prefix="mcptap-rowsize-pg-"))
            args.admin_url = pg_cluster.start(state)
            stack.callback(pg_cluster.stop, state)
        results = [measure(t, args, args.admin_url) for t in transports]
        report(results, args)


if __name__ == "__main__":
    main()
