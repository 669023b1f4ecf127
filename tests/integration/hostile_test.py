"""Hostile input through one mcptap: garbage, TLS on a plain route, broken HTTP framing,
oversized heads, bad WebSocket frames, deflate bombs, deep JSON. Each hostile connection's
bytes must come back from a raw echo upstream unchanged, its capture must end in at most one
`invalid` row with a reason, a well-behaved WebSocket conversation running at the same time
must complete untouched and fully captured, /healthz must answer throughout, RSS must stay
bounded, and upstream faults must look to the client as they do on a direct connection; no
configured secret may reach the table."""
import asyncio
import json
import os
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

from harness import (Mcptap, query_rows, recv_at_least, route_rows, run_async, unique_name,
                     wait_for_port, wait_for_rows)
from raw_wire import SWITCH, UPGRADE, EchoUpstream, ThreadedServer, deflated, frame
from ws_backend import Backend
from ws_client import conversation


def ws(*frames):
    return ("ws", UPGRADE, b"".join(frames))


# name -> (kind, bytes before any answer, bytes after the 101 for "ws" cases)
CASES = {
    "garbage": ("raw", os.urandom(4096), b""),
    "tls_hello": ("raw", bytes.fromhex("16030100a5010000a10303") + os.urandom(160), b""),
    "conflicting_lengths": ("raw", b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b""),
    "bad_content_length": ("raw", b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", b""),
    "oversized_headers": ("raw", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n", b""),
    "deep_json_ndjson": ("raw", b"[" * 100000 + b"\n", b""),
    "reserved_opcode": ws(frame(b"x", opcode=3)),
    "rsv_without_extension": ws(frame(b"x", rsv=0x20)),
    "len64": ws(frame(b"abcd", length=1 << 63)),
    "unmasked_client": ws(frame(b'{"a":1}', mask=False)),
    "oversized_control": ws(frame(b"p" * 200, opcode=9)),
    "fragmented_control": ws(frame(b"p", opcode=9, fin=False)),
    "continuation_without_start": ws(frame(b"x", opcode=0)),
    "invalid_utf8": ws(frame(b"\xff\xfe\xfd")),
    # 4 MiB out of a few KiB: past any sane ratio, yet cheap enough to spray 200 times.
    "deflate_bomb": ws(frame(deflated(b"\x00" * (4 << 20)), rsv=0x40)),
    "corrupt_deflate": ws(frame(b"\xff\xff\xff\xff\x00\x00", rsv=0x40)),
    "deep_json_ws": ws(frame(b"[" * 100000)),
    "endless_fragments": ws(frame(b"a", fin=False), *[frame(b"a", opcode=0, fin=False)] * 5000),
}


def exchange(port, first, after):
    """Sends the case's bytes, half-closes, returns everything that came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(first)
        if after:
            # Wait for the 101 so the proxy sees the upgrade answered before the frames.
            got = recv_at_least(s, len(SWITCH))
            s.sendall(after)
        else:
            got = b""
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return got
            got += chunk


def expected(first, after):
    return (SWITCH + after) if after else first


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def healthz(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as r:
        return r.status


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = EchoUpstream()
        cls.backend = Backend().__enter__()
        cls.raw_route = unique_name("hostile_raw")
        cls.ws_route = unique_name("hostile_ws")
        # Under AddressSanitizer (tests/sanitize.sh) freed memory is held back for up to
        # 256 MB to catch use-after-free; a small quarantine leaves the RSS bound measuring
        # mcptap's own memory. Ignored by an uninstrumented binary.
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.tap = Mcptap([{"name": cls.raw_route, "upstream": f"127.0.0.1:{cls.echo.port}"},
                          {"name": cls.ws_route, "upstream": f"127.0.0.1:{cls.backend.port}"}],
                         env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=16"}).start()
        cls.results = {}
        cls.health = []
        cls.rss_kb = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                try:
                    cls.health.append(healthz(cls.tap.admin_port))
                except OSError as e:
                    cls.health.append(str(e))
                cls.rss_kb.append(vm_rss_kb(cls.tap.process.pid))
                time.sleep(0.2)

        def spray():
            port = cls.tap.ports[cls.raw_route]
            for name, (_, first, after) in CASES.items():
                cls.results[name] = exchange(port, first, after)
            # The same cases again and again: memory must not grow with their number.
            for i in range(200):
                _, first, after = list(CASES.values())[i % len(CASES)]
                exchange(port, first, after)
            # And straight at the WebSocket route the good client uses.
            for _, first, after in CASES.values():
                try:
                    exchange(cls.tap.ports[cls.ws_route], first, b"")
                except OSError:
                    pass

        watcher = threading.Thread(target=watch)
        sprayer = threading.Thread(target=spray)
        watcher.start()
        sprayer.start()
        cls.direct = run_async(conversation(f"ws://127.0.0.1:{cls.backend.port}/mcp"))
        cls.proxied = run_async(conversation(f"ws://127.0.0.1:{cls.tap.ports[cls.ws_route]}/mcp"))
        sprayer.join(timeout=600)
        stop.set()
        watcher.join()
        cls.good_rows = wait_for_rows(cls.ws_route, 22, timeout=10)
        time.sleep(1)
        cls.raw_rows = route_rows(cls.raw_route)

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        cls.backend.__exit__(None, None, None)
        cls.echo.close()

    def test_hostile_bytes_forwarded_unchanged(self):
        for name, (_, first, after) in CASES.items():
            self.assertEqual(self.results[name], expected(first, after), name)

    def test_good_client_untouched_and_fully_captured(self):
        self.assertEqual(self.direct, self.proxied)
        good = [r for r in self.good_rows if r["kind"] != "invalid"]
        self.assertGreaterEqual(len(good), 22)
        # The good connection has no invalid row of its own.
        good_connections = {r["connection_id"] for r in good}
        self.assertFalse([r for r in self.good_rows
                          if r["kind"] == "invalid" and r["connection_id"] in good_connections])

    def test_each_hostile_connection_stops_capture_once_with_a_reason(self):
        invalid = [r for r in self.raw_rows if r["kind"] == "invalid"]
        self.assertTrue(all((r["meta"] or {}).get("reason") for r in invalid))
        # A message that is not JSON is one invalid row and capture goes on; a stream that
        # cannot be decoded stops capture with exactly one row saying so.
        stops = {}
        for row in invalid:
            if row["meta"].get("capture") == "stopped":
                stops[row["connection_id"]] = stops.get(row["connection_id"], 0) + 1
        self.assertEqual([c for c, n in stops.items() if n != 1], [])
        # Every case but the three whose only fault is inside a JSON message stops capture
        # (against the echo upstream, those stop on the echoed masked frames instead).
        self.assertGreaterEqual(len(stops), len(CASES) - 1)
        reasons = {r["meta"]["reason"] for r in invalid}
        for expected_reason in ("unmasked client frame", "reserved opcode 3",
                                "continuation frame without a message", "nesting deeper than 128",
                                "Content-Length can't be present with Transfer-Encoding",
                                "message head larger than"):
            self.assertTrue(any(expected_reason in r for r in reasons), (expected_reason, reasons))

    def test_healthz_answered_throughout(self):
        self.assertTrue(self.health)
        self.assertEqual([h for h in self.health if h != 200], [])

    def test_rss_stays_bounded(self):
        self.assertLess(max(self.rss_kb), 256 * 1024, self.rss_kb[-10:])


class DeflateBombTest(unittest.TestCase):
    """A 64 MiB WebSocket message from 64 KiB on the wire must not hold up the loop: its
    capture stops at the inflate ratio guard rather than inflating and hashing all of it on
    the proxy thread."""

    def test_bomb_does_not_stall_healthz(self):
        echo = EchoUpstream()
        route = unique_name("bomb")
        _, first, after = ws(frame(deflated(b"\x00" * (64 << 20)), rsv=0x40))
        worst = [0.0]
        stop = threading.Event()
        with Mcptap([{"name": route, "upstream": f"127.0.0.1:{echo.port}"}]) as tap:
            def watch():
                while not stop.is_set():
                    started = time.time()
                    try:
                        healthz(tap.admin_port)
                    except OSError:
                        pass
                    worst[0] = max(worst[0], time.time() - started)
                    time.sleep(0.02)

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                self.assertEqual(exchange(tap.ports[route], first, after), expected(first, after))
            finally:
                stop.set()
                watcher.join()
        echo.close()
        self.assertLess(worst[0], 1.0)


SECRETS = {
    "query_token": "qtok-5f0c1d2e3b4a",
    "query_api_key": "qkey-9a8b7c6d5e4f",
    "password_key": "pw-hunter2-7e6d5c",
    "custom_key": "custom-1b2c3d4e5f",
    "bearer": "bearer0123456789abcdefXYZ",
    "openai": "sk-proj-Abc123Def456Ghi789Jkl",
    "github": "ghp_0123456789abcdefghijABCDEFGHIJ0123",
    "slack": "xoxb-123456789012-abcdefABCDEF",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem_body": "MIIEowIBAAKCAQEAsecretpembody",
    "nested_password": "nested-pw-4d3c2b1a",
    "nested_pattern": "sk-nestedAbcdefghijklmnop012",
}


# Credential names as clients spell them; the default rules must cover every one.
SPELLED_KEYS = ["apiKey", "accessToken", "refreshToken", "clientSecret", "privateKey",
                "api-key", "passwd", "credentials", "auth", "API_KEY", "x-api-key",
                "githubToken", "client_secret", "sessionToken"]
SPELLED_QUERY = ["%74oken", "access-token", "apiKey", "x-api-key", "access_token"]


def secret_message():
    import json
    inner = json.dumps({"password": SECRETS["nested_password"],
                        "note": "use " + SECRETS["nested_pattern"]})
    return json.dumps({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "login", "arguments": {
            "password": SECRETS["password_key"],
            "my_custom": SECRETS["custom_key"],
            "header_line": "Authorization: Bearer " + SECRETS["bearer"],
            "keys": [SECRETS["openai"], SECRETS["github"], SECRETS["slack"], SECRETS["aws"]],
            "jwt": SECRETS["jwt"],
            "pem": "-----BEGIN RSA PRIVATE KEY-----\n" + SECRETS["pem_body"] +
                   "\n-----END RSA PRIVATE KEY-----",
            "tool_result": inner}}}).encode()


class RedactionTest(unittest.TestCase):
    """No configured secret, in any of the places one can hide, reaches the table."""

    def test_no_secret_reaches_the_table(self):
        echo = EchoUpstream()
        route = unique_name("redact")
        upgrade = UPGRADE.replace(
            b"GET /mcp ", b"GET /mcp?token=" + SECRETS["query_token"].encode() + b"&api_key=" +
            SECRETS["query_api_key"].encode() + b"&x=1 ")
        message = secret_message()
        extra = {"redact": {"json_keys": ["password", "token", "api_key", "secret",
                                          "authorization", "my_custom"]}}
        with Mcptap([{"name": route, "upstream": f"127.0.0.1:{echo.port}"}], extra=extra) as tap:
            # NDJSON both ways (the echo sends the line back) and one WebSocket message.
            exchange(tap.ports[route], message + b"\n", b"")
            exchange(tap.ports[route], upgrade, frame(message))
            rows = wait_for_rows(route, 3, timeout=15)
            self.assertEqual(tap.stop(), 0)
            log = tap.log()
        echo.close()
        captured = [r for r in rows if r["kind"] == "request"]
        self.assertGreaterEqual(len(captured), 3, [(r["kind"], r["meta"]) for r in rows])
        self.assertTrue(all(r["redacted"] for r in captured))
        import json
        table_text = json.dumps(rows)
        for name, secret in SECRETS.items():
            self.assertNotIn(secret, table_text, name)
            self.assertNotIn(secret, log, name)
        ws_rows = [r for r in captured if r["transport"] == "websocket"]
        self.assertTrue(ws_rows)
        self.assertIn("token=[REDACTED]", ws_rows[0]["meta"]["path"])
        self.assertIn("x=1", ws_rows[0]["meta"]["path"])

    def test_common_credential_spellings_with_the_default_rules(self):
        """camelCase, dashed and short credential names, a secret in _meta and query names
        spelled the ways clients spell them: the default rules catch each one."""
        import json
        arguments = {name: f"spelled-{n:02d}-secret" for n, name in enumerate(SPELLED_KEYS)}
        meta_secret = "meta-auth-token-secret-77"
        message = json.dumps({
            "jsonrpc": "2.0", "id": 8, "method": "tools/call",
            "params": {"name": "login", "arguments": arguments,
                       "_meta": {"authToken": meta_secret, "progressToken": "p-1"}}}).encode()
        query = "&".join(f"{name}=query-{n:02d}-secret" for n, name in enumerate(SPELLED_QUERY))
        upgrade = UPGRADE.replace(b"GET /mcp ", b"GET /mcp?" + query.encode() + b"&x=1 ")
        echo = EchoUpstream()
        route = unique_name("spelled")
        with Mcptap([{"name": route, "upstream": f"127.0.0.1:{echo.port}"}]) as tap:
            exchange(tap.ports[route], message + b"\n", b"")
            exchange(tap.ports[route], upgrade, frame(message))
            rows = wait_for_rows(route, 3, timeout=15)
            self.assertEqual(tap.stop(), 0)
        echo.close()
        table_text = json.dumps(rows)
        for name, secret in list(arguments.items()) + [("_meta.authToken", meta_secret)]:
            self.assertNotIn(secret, table_text, name)
        for n, name in enumerate(SPELLED_QUERY):
            self.assertNotIn(f"query-{n:02d}-secret", table_text, name)
        self.assertIn('"progressToken": "p-1"', table_text)  # correlation keys stay readable

    def test_escape_sequences_in_a_captured_method_never_reach_the_terminal(self):
        """OSC 52 (write the clipboard), clear-screen and a C1 CSI in a method: query and
        tail print them written out."""
        import json
        method = "tools/\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b31m\x7f"
        message = json.dumps({"jsonrpc": "2.0", "id": 9, "method": method}).encode()
        echo = EchoUpstream()
        route = unique_name("escapes")
        with Mcptap([{"name": route, "upstream": f"127.0.0.1:{echo.port}"}]) as tap:
            exchange(tap.ports[route], message + b"\n", b"")
            wait_for_rows(route, 2, timeout=15)
            env = dict(tap.env, MCPTAP_PG_URL=tap.read_config()["sink"]["postgres"])
            shown = subprocess.run([tap.binary, "query", "--route", route], capture_output=True,
                                   env=env, timeout=30)
            self.assertEqual(tap.stop(), 0)
        echo.close()
        self.assertEqual(shown.returncode, 0, shown.stderr)
        for output in (shown.stdout, shown.stderr):
            for raw in (b"\x1b", b"\x07", b"\xc2\x9b", b"\x7f"):
                self.assertNotIn(raw, output)
        self.assertIn(b"\\x1b]52;c;", shown.stdout)


class UpstreamFaultTest(unittest.TestCase):
    """The client sees through mcptap what it sees on a direct connection."""

    def outcome(self, port, payload):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.sendall(payload)
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return ("eof", got)
                    got += chunk
        except ConnectionResetError:
            return ("reset", None)
        except ConnectionRefusedError:
            return ("refused-or-closed", None)
        except socket.timeout:
            return ("stall", None)

    def fault_server(self, behaviour):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)

        def serve():
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                conn.recv(65536)
                if behaviour == "reset":
                    conn.sendall(b'{"jsonrpc":"2.0","id":1,"res')
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                elif behaviour == "half":
                    conn.sendall(b'{"jsonrpc":"2.0","id":1,"res')
                    conn.close()
                elif behaviour == "stall":
                    threading.Timer(5, conn.close).start()

        threading.Thread(target=serve, daemon=True).start()
        return sock

    def test_faults(self):
        request = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
        for behaviour in ("half", "stall", "reset"):
            server = self.fault_server(behaviour)
            port = server.getsockname()[1]
            route = unique_name("fault")
            with Mcptap([{"name": route, "upstream": f"127.0.0.1:{port}"}]) as tap:
                direct = self.outcome(port, request)
                proxied = self.outcome(tap.ports[route], request)
            server.close()
            if behaviour == "reset":
                # Through a proxy the reset reaches the client as a reset or as an EOF after
                # the same bytes; either way no byte differs.
                self.assertIn(proxied[0], ("reset", "eof"), behaviour)
            else:
                self.assertEqual(direct, proxied, behaviour)

    def test_refused(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        route = unique_name("refused")
        with Mcptap([{"name": route, "upstream": f"127.0.0.1:{port}"}]) as tap:
            proxied = self.outcome(tap.ports[route], b"hello")
        # Direct: refused. Through mcptap the client's connect succeeded, so it sees the
        # connection closed (or reset) without a byte.
        self.assertIn(proxied, (("eof", b""), ("reset", None)))


def read_http_message(reader):
    """One HTTP/1.1 message with a Content-Length body off a buffered socket reader: the
    first line, the headers (names lower-cased) and the body; None at end of stream."""
    first = reader.readline()
    if not first:
        return None
    headers = {}
    while True:
        line = reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return first.decode().strip(), headers, body


def http_message(first_line, headers, body):
    head = first_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class McpHttpUpstream(ThreadedServer):
    """A Streamable HTTP MCP server that, like real ones, answers a request in a session it
    does not know with 404 and id null (a batch's requests can then never pair), and an unknown
    method with "Method not found" and the request's id. Raw sockets, a thread per
    connection: quick enough to be driven at thousands of requests a second."""

    def __init__(self):
        self.sessions = set()
        super().__init__()

    def serve(self, conn):
        with conn, conn.makefile("rb") as reader:
            while True:
                message = read_http_message(reader)
                if message is None:
                    return
                _, headers, body = message
                status, extra, answer = self.answer(json.loads(body), headers.get("mcp-session-id"))
                conn.sendall(http_message(f"HTTP/1.1 {status} X", dict(
                    extra, **{"Content-Type": "application/json"}),
                    json.dumps(answer).encode() if answer is not None else b""))

    def answer(self, message, session):
        if isinstance(message, dict) and message.get("method") == "initialize" and session is None:
            session = "good-" + os.urandom(8).hex()
            self.sessions.add(session)
            return 200, {"Mcp-Session-Id": session}, {"jsonrpc": "2.0", "id": message["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {}}}
        if session not in self.sessions:
            return 404, {}, {"jsonrpc": "2.0", "id": None, "error": {
                "code": -32001, "message": "Session not found"}}
        if "id" not in message:
            return 202, {}, None
        if message.get("method") == "tools/call":
            return 200, {}, {"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": message["params"]["arguments"]["text"]}]}}
        return 200, {}, {"jsonrpc": "2.0", "id": message["id"], "error": {
            "code": -32601, "message": "Method not found"}}


class McpHttpClient:
    """One keep-alive connection through the route; JSON-RPC over POST /mcp."""

    def __init__(self, port):
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.conn.makefile("rb")
        self.session = None

    def post(self, message, session=None):
        headers = {"Host": "mcp", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}
        session = session or self.session
        if session:
            headers["Mcp-Session-Id"] = session
        self.conn.sendall(http_message("POST /mcp HTTP/1.1", headers, json.dumps(message).encode()))
        first, headers, body = read_http_message(self.reader)
        return int(first.split()[1]), headers.get("mcp-session-id"), (json.loads(body) if body else None)

    def initialize(self):
        status, session, _ = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                        "params": {"protocolVersion": "2025-06-18"}})
        assert status == 200 and session, status
        self.session = session
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return session

    def close(self):
        self.reader.close()
        self.conn.close()


def scrape(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=120) as r:
        return r.read().decode()


def sample(text, name, **labels):
    from prometheus_client.parser import text_string_to_metric_families
    total = 0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


class StateBounds(unittest.TestCase):
    """What an attacker on the wire can make mcptap hold, at a reduced scale of the attacks
    that first showed it: long method names blowing up /metrics, and session ids or long
    methods that never pair piling up correlation state. A good client's conversation runs
    beside them and must stay whole and paired."""

    LONG_METHODS = 70           # distinct methods of METHOD_BYTES, answered Method not found
    METHOD_BYTES = 200_000      # unbounded, each scrape would be 70 x 19 x this long
    PLAIN_METHODS = 200         # distinct short, plain names: 64 kept, the rest "other"
    MAX_SESSIONS = 200
    MAX_BYTES = 256 << 10
    SHORT_SESSIONS = 1500       # distinct unknown session ids, short method
    LONG_WARMUP = 500           # then distinct session ids with long methods, before measuring
    LONG_SESSIONS = 12000        # and after: unbounded, these would hold > 16 MB
    SESSION_METHOD_BYTES = 4000
    IDLE_TIMEOUT_S = 4

    @classmethod
    def setUpClass(cls):
        cls.upstream = McpHttpUpstream()
        cls.route = unique_name("bounds")
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{cls.upstream.port}"}],
                         extra={"capture": {"max_sessions": cls.MAX_SESSIONS,
                                            "max_correlation_bytes": cls.MAX_BYTES,
                                            "session_idle_timeout_s": cls.IDLE_TIMEOUT_S},
                                "sink": {"batch_max_rows": 50}},
                         env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=16"}).start()
        cls.port = cls.tap.ports[cls.route]
        cls.good = {"sent": [], "answers": []}
        cls.good_session = None
        stop = threading.Event()
        good_thread = threading.Thread(target=cls.good_conversation, args=(stop,))
        good_thread.start()
        try:
            cls.metrics_attack()
            cls.scrape_while_polling_healthz()
            cls.session_attack()
        finally:
            stop.set()
            good_thread.join()
        # Past the idle timeout one more message retires every idle session.
        time.sleep(cls.IDLE_TIMEOUT_S + 1)
        client = McpHttpClient(cls.port)
        client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, session="late-" + os.urandom(4).hex())
        client.close()
        cls.after_idle = scrape(cls.tap.admin_port)
        cls.good_rows = cls.wait_for_good_rows(2 * len(cls.good["answers"]) + 2)

    @classmethod
    def wait_for_good_rows(cls, count, timeout=30):
        deadline = time.time() + timeout
        while True:
            rows = query_rows("SELECT kind, jsonrpc_id, method, correlation_id FROM mcptap.messages"
                              " WHERE route = $1 AND session_id = $2", cls.route, cls.good_session)
            if len(rows) >= count or time.time() > deadline:
                return rows
            time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        cls.upstream.close()

    @classmethod
    def good_conversation(cls, stop):
        client = McpHttpClient(cls.port)
        cls.good_session = client.initialize()
        n = 0
        while not stop.is_set() or n < 20:
            n += 1
            text = f"call-{n}"
            cls.good["sent"].append(text)
            status, _, body = client.post({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                                           "params": {"name": "echo", "arguments": {"text": text}}})
            cls.good["answers"].append((status, body))
            time.sleep(0.05)
        client.close()

    @classmethod
    def metrics_attack(cls):
        client = McpHttpClient(cls.port)
        client.initialize()
        for i in range(cls.LONG_METHODS):
            method = f"{i}/" + "m" * cls.METHOD_BYTES
            status, _, body = client.post({"jsonrpc": "2.0", "id": i + 1, "method": method})
            assert body["error"]["code"] == -32601, body
        for i in range(cls.PLAIN_METHODS):
            client.post({"jsonrpc": "2.0", "id": i + 1, "method": f"plain/m{i}"})
        client.close()

    @classmethod
    def scrape_while_polling_healthz(cls):
        cls.healthz_worst = 0.0
        cls.scrape_sizes = []
        cls.scrape_seconds = []
        done = threading.Event()

        def poll():
            while not done.is_set():
                started = time.time()
                try:
                    healthz(cls.tap.admin_port)
                    took = time.time() - started
                except OSError:
                    took = float("inf")
                cls.healthz_worst = max(cls.healthz_worst, took)
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            deadline = time.time() + 10
            while len(cls.scrape_sizes) < 20 and time.time() < deadline:
                started = time.time()
                text = scrape(cls.tap.admin_port)
                cls.scrape_seconds.append(time.time() - started)
                cls.scrape_sizes.append(len(text))
            cls.metrics_text = text
        finally:
            done.set()
            poller.join()

    @classmethod
    def session_attack(cls):
        cls.before_attack = scrape(cls.tap.admin_port)
        clients = [McpHttpClient(cls.port) for _ in range(4)]

        # A batch of one: refused with 404 and id null, its request never pairs (a single
        # request would, by its HTTP exchange) and stays pending until the bounds forget it.
        def attack(client, numbers, method):
            for i in numbers:
                status, _, body = client.post([{"jsonrpc": "2.0", "id": 1, "method": method}],
                                              session=f"attacker-{i}-" + os.urandom(6).hex())
                assert status == 404 and body["id"] is None, (status, body)

        def run(numbers, method):
            threads = [threading.Thread(target=attack, args=(c, numbers[k::4], method))
                       for k, c in enumerate(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        long_method = "tools/" + "x" * cls.SESSION_METHOD_BYTES
        # Short methods reach the session bound; long ones the byte bound. A first round of
        # each also warms the allocator: the growth measured after it is what the rest adds.
        run(range(cls.SHORT_SESSIONS), "tools/call")
        cls.after_short = scrape(cls.tap.admin_port)
        warmup = cls.SHORT_SESSIONS + cls.LONG_WARMUP
        run(range(cls.SHORT_SESSIONS, warmup), long_method)
        time.sleep(0.5)
        cls.rss_before_kb = vm_rss_kb(cls.tap.process.pid)
        run(range(warmup, warmup + cls.LONG_SESSIONS), long_method)
        time.sleep(0.5)
        cls.rss_after_kb = vm_rss_kb(cls.tap.process.pid)
        for c in clients:
            c.close()
        cls.after_attack = scrape(cls.tap.admin_port)

    def test_metrics_size_is_bounded_after_long_method_names(self):
        histograms = sample(self.metrics_text, "mcptap_request_latency_seconds_count", route=self.route)
        self.assertGreater(histograms, self.LONG_METHODS)  # every answer was observed
        from prometheus_client.parser import text_string_to_metric_families
        methods = {s.labels["method"] for f in text_string_to_metric_families(self.metrics_text)
                   for s in f.samples if s.name == "mcptap_request_latency_seconds_count"}
        # At most 64 names, then "other" (which long names may have taken a place for).
        self.assertLessEqual(len(methods), 65)
        self.assertGreaterEqual(len(methods), 64)
        self.assertIn("other", methods)
        self.assertIn("tools/call", methods)
        self.assertTrue(all(len(m) <= 64 for m in methods))
        # The README's bound for one route, plus every other family (a few KiB).
        bound = 65 * (2921 + 19 * len(self.route)) + 64 * 1024
        self.assertLess(max(self.scrape_sizes), bound)

    def test_healthz_answers_during_scrapes(self):
        self.assertLess(max(self.scrape_seconds), 1.0, self.scrape_seconds)
        self.assertLess(self.healthz_worst, 1.0)

    def test_rss_bounded_after_distinct_sessions_with_long_methods(self):
        growth_kb = self.rss_after_kb - self.rss_before_kb
        self.assertLess(growth_kb, 6 * 1024, (self.rss_before_kb, self.rss_after_kb))
        for text in (self.after_short, self.after_attack):
            self.assertLessEqual(sample(text, "mcptap_correlation_bytes", route=self.route), self.MAX_BYTES)
            self.assertLessEqual(sample(text, "mcptap_correlation_sessions", route=self.route),
                                 self.MAX_SESSIONS)

    def test_eviction_metric_moves(self):
        def evicted(text, reason):
            return sample(text, "mcptap_correlation_evictions_total", route=self.route, reason=reason)
        self.assertGreater(evicted(self.after_short, "sessions"), evicted(self.before_attack, "sessions"))
        self.assertGreater(evicted(self.after_attack, "bytes"), evicted(self.after_short, "bytes"))
        # Every attacking request stays pending until forgotten: all but those held were.
        forgotten = sum(evicted(self.after_attack, r) - evicted(self.before_attack, r)
                        for r in ("sessions", "bytes", "idle"))
        held = sample(self.after_attack, "mcptap_correlation_sessions", route=self.route)
        attacks = self.SHORT_SESSIONS + self.LONG_WARMUP + self.LONG_SESSIONS
        self.assertGreaterEqual(forgotten + held, attacks)
        # After the idle timeout, one more message retires what was still held, as idle.
        self.assertGreater(evicted(self.after_idle, "idle"), evicted(self.after_attack, "idle"))
        self.assertLessEqual(sample(self.after_idle, "mcptap_correlation_sessions", route=self.route), 1)

    def test_good_conversation_intact_and_paired(self):
        answers = self.good["answers"]
        self.assertGreaterEqual(len(answers), 20)
        for text, (status, body) in zip(self.good["sent"], answers):
            self.assertEqual(status, 200)
            self.assertEqual(body["result"]["content"][0]["text"], text)
        requests = {r["jsonrpc_id"]: r for r in self.good_rows
                    if r["kind"] == "request" and r["method"] == "tools/call"}
        responses = {r["jsonrpc_id"]: r for r in self.good_rows if r["kind"] == "response"}
        self.assertEqual(len(requests), len(answers))
        for jsonrpc_id, request in requests.items():
            self.assertIn(jsonrpc_id, responses)
            self.assertEqual(responses[jsonrpc_id]["correlation_id"], request["correlation_id"])
            self.assertEqual(responses[jsonrpc_id]["method"], "tools/call")



# ---- Attacks on the admin API -------------------------------------------------------------

ADMIN_TOKEN = "admin-attacks-token-0123456789"


def admin_exchange(port, request, timeout=10):
    """One raw request (the caller's bytes, ending with Connection: close); returns
    (status, headers, body). Status 0 when the connection ended without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        return 0, {}, b""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def admin_request(method, path, host="127.0.0.1", headers=(), body=b""):
    text = f"{method} {path} HTTP/1.1\r\n"
    if host is not None:
        text += f"Host: {host}\r\n"
    for name, value in headers:
        text += f"{name}: {value}\r\n"
    if body or method == "POST":
        text += f"Content-Length: {len(body)}\r\n"
    text += "Connection: close\r\n\r\n"
    return text.encode() + body


def metric(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


async def many_calls(uri, count):
    """`count` echo calls on one connection, each answered before the next."""
    import json
    import websockets
    async with websockets.connect(uri) as ws:
        for i in range(count):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                      "params": {"name": "echo", "arguments": {"text": f"t{i}"}}}))
            await asyncio.wait_for(ws.recv(), 10)


class AdminAttacks(unittest.TestCase):
    """The admin API under attack while a good client's conversation runs: pipelined /tail
    streams must not multiply memory, idle, dribbling and streaming connections must not lock
    /healthz out, captured content needs the token, and web pages (CSRF, DNS rebinding)
    cannot switch capture off or read the API."""

    @classmethod
    def setUpClass(cls):
        cls.backend = Backend().__enter__()
        cls.route = unique_name("admin_attacks")
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{cls.backend.port}"}],
                         env={"MCPTAP_ADMIN_TOKEN": ADMIN_TOKEN,
                              "ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=16"}).start()
        cls.port = cls.tap.admin_port
        cls.uri = f"ws://127.0.0.1:{cls.tap.ports[cls.route]}/mcp"
        time.sleep(0.3)
        cls.rss_before = vm_rss_kb(cls.tap.process.pid)
        cls.rss_kb, cls.health, cls.probe_seconds = [], [], []
        cls.pipelined_answers = []
        cls.slowloris_closed_after = None
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                started = time.time()
                try:
                    cls.health.append(healthz(cls.port))
                except OSError as e:
                    cls.health.append(str(e))
                cls.probe_seconds.append(time.time() - started)
                cls.rss_kb.append(vm_rss_kb(cls.tap.process.pid))
                time.sleep(0.1)

        def attack():
            # 16 connections, each pipelining 32 authorised /tail requests, none reading.
            tail = admin_request("GET", "/tail", headers=[("Authorization", f"Bearer {ADMIN_TOKEN}")])
            tail = tail.replace(b"Connection: close\r\n", b"")
            pipelined = []
            for _ in range(16):
                s = socket.create_connection(("127.0.0.1", cls.port), timeout=10)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(tail * 32)
                pipelined.append(s)
            time.sleep(0.5)
            cls.metrics_under_tails = admin_get_text(cls.port, "/metrics")
            # Traffic for the tails to carry: records pile up for readers that never read.
            run_async(many_calls(cls.uri, 1500))
            cls.metrics_after_traffic = admin_get_text(cls.port, "/metrics")
            # A lockout attempt on top: idle connections and heads dribbled a byte at a time.
            idle = [socket.create_connection(("127.0.0.1", cls.port)) for _ in range(64)]
            dribblers = [socket.create_connection(("127.0.0.1", cls.port)) for _ in range(8)]
            head = b"GET /routes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * 400
            started = time.time()
            for i in range(len(head)):
                alive = []
                for s in dribblers:
                    try:
                        s.sendall(head[i:i + 1])
                        alive.append(s)
                    except OSError:
                        s.close()
                dribblers = alive
                if not dribblers:
                    break
                time.sleep(0.1)  # 400 bytes: 40 s if every byte extended the deadline
            cls.slowloris_closed_after = time.time() - started if not dribblers else None
            for s in dribblers + idle:
                s.close()
            # What one pipelining connection got: one stream, nothing for the 31 behind it.
            first = pipelined[0]
            first.setblocking(False)
            data = b""
            try:
                while True:
                    chunk = first.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (BlockingIOError, ConnectionResetError):
                pass
            cls.pipelined_answers = data
            for s in pipelined:
                s.close()

        watcher = threading.Thread(target=watch)
        attacker = threading.Thread(target=attack)
        watcher.start()
        attacker.start()
        cls.direct = run_async(conversation(f"ws://127.0.0.1:{cls.backend.port}/mcp"))
        cls.proxied = run_async(conversation(cls.uri))
        attacker.join(timeout=300)
        stop.set()
        watcher.join()

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        cls.backend.__exit__(None, None, None)

    def test_good_client_untouched_and_fully_captured(self):
        self.assertEqual(self.direct, self.proxied)
        rows = wait_for_rows(self.route, 22 + 3000, timeout=30)
        self.assertEqual(len([r for r in rows if r["kind"] == "invalid"]), 0)
        self.assertGreaterEqual(len(rows), 22 + 3000)

    def test_pipelined_tails_do_not_multiply_memory(self):
        growth_mb = (max(self.rss_kb) - self.rss_before) / 1024
        self.assertLess(growth_mb, 48, (self.rss_before, max(self.rss_kb)))
        self.assertEqual(metric(self.metrics_under_tails, "mcptap_admin_tail_streams"), 16)
        self.assertGreaterEqual(metric(self.metrics_under_tails, "mcptap_admin_requests_refused_total",
                                       '{reason="behind_stream"}'), 16)
        queued = metric(self.metrics_after_traffic, "mcptap_admin_stream_queued_bytes")
        self.assertLessEqual(queued, 1.5 * (1 << 20))

    def test_pipelined_tail_is_refused(self):
        answers = self.pipelined_answers
        self.assertTrue(answers.startswith(b"HTTP/1.1 200"), answers[:200])
        self.assertEqual(answers.count(b"HTTP/1.1 "), 1, "one stream; the 31 behind it refused")
        self.assertIn(b"Connection: close", answers.split(b"\r\n\r\n")[0])

    def test_healthz_answers_through_the_lockout_attempt(self):
        self.assertTrue(self.health)
        self.assertEqual([h for h in self.health if h != 200], [])
        self.assertLess(max(self.probe_seconds), 2.0)
        # The dribbled heads were cut at the request deadline (10 s), not 40 s of bytes later.
        self.assertIsNotNone(self.slowloris_closed_after)
        self.assertLess(self.slowloris_closed_after, 20)
        status, _, _ = admin_exchange(self.port, admin_request("GET", "/readyz"))
        self.assertEqual(status, 200)

    def test_tail_needs_the_token(self):
        for headers in ([], [("Authorization", "Bearer wrong")]):
            status, response_headers, body = admin_exchange(
                self.port, admin_request("GET", "/tail", headers=headers))
            self.assertEqual(status, 401, body)
            self.assertEqual(response_headers.get("www-authenticate"), "Bearer")
        for path in ("/healthz", "/readyz", "/metrics", "/routes", "/status"):
            status, _, _ = admin_exchange(self.port, admin_request("GET", path))
            self.assertEqual(status, 200, path)

    def test_csrf_shaped_changes_are_refused(self):
        path = f"/routes/{self.route}/capture"
        body = b'{"enabled":false}'
        token = ("Authorization", f"Bearer {ADMIN_TOKEN}")
        attempts = [
            # The review's request, even with the token a page cannot have.
            (403, "evil.example:9901", [token, ("Content-Type", "text/plain"),
                                        ("Origin", "https://evil.example")]),
            (403, "127.0.0.1", [token, ("Content-Type", "application/json"),
                                ("Origin", "https://evil.example")]),
            (403, "evil.example", [token, ("Content-Type", "application/json")]),
            (415, "127.0.0.1", [token, ("Content-Type", "text/plain")]),
            (415, "127.0.0.1", [token, ("Content-Type", "application/x-www-form-urlencoded")]),
        ]
        for expected, host, headers in attempts:
            status, _, answer = admin_exchange(self.port, admin_request("POST", path, host, headers, body))
            self.assertEqual(status, expected, (host, headers, answer))
        status, _, routes = admin_exchange(self.port, admin_request("GET", "/routes"))
        import json
        self.assertTrue(json.loads(routes)[0]["capture"], "no refused change took effect")
        status, _, routes = admin_exchange(self.port, admin_request("GET", "/routes", "rebind.evil.example"))
        self.assertEqual(status, 403)
        text = admin_get_text(self.port, "/metrics")
        self.assertGreaterEqual(metric(text, "mcptap_admin_requests_refused_total", '{reason="origin"}'), 1)
        self.assertGreaterEqual(metric(text, "mcptap_admin_requests_refused_total", '{reason="host"}'), 2)
        self.assertGreaterEqual(metric(text, "mcptap_admin_requests_refused_total",
                                       '{reason="content_type"}'), 2)

    def test_without_a_token_captured_content_stays_on_loopback(self):
        """No token and admin on every interface (as the shipped compose and Kubernetes files
        have it): /tail is refused with how to set one; probes, metrics and routes answer;
        the review's CSRF request is refused; admin.allowed_hosts adds a Host."""
        route = unique_name("admin_open")
        env = {k: v for k, v in os.environ.items() if k != "MCPTAP_ADMIN_TOKEN"}
        tap = Mcptap([{"name": route, "upstream": f"127.0.0.1:{self.backend.port}"}],
                     extra={"admin": {"allowed_hosts": ["mcptap.test"]}})
        tap.env = env
        config = tap.read_config()
        config["admin"]["listen"] = "0.0.0.0:0"
        tap.write_config(config)
        with tap:
            wait_for_port(tap.admin_port)
            status, _, body = admin_exchange(tap.admin_port, admin_request("GET", "/tail"))
            self.assertEqual(status, 403)
            self.assertIn(b"MCPTAP_ADMIN_TOKEN", body)
            self.assertIn(b"admin.token_env", body)
            for path in ("/healthz", "/readyz", "/metrics", "/routes"):
                status, _, _ = admin_exchange(tap.admin_port, admin_request("GET", path))
                self.assertEqual(status, 200, path)
            status, _, _ = admin_exchange(tap.admin_port, admin_request("GET", "/routes", "mcptap.test:8080"))
            self.assertEqual(status, 200)
            status, _, _ = admin_exchange(tap.admin_port, admin_request("GET", "/routes", "other.test"))
            self.assertEqual(status, 403)
            status, _, _ = admin_exchange(tap.admin_port, admin_request("GET", "/healthz", "other.test"))
            self.assertEqual(status, 200, "probes skip the Host check")
            review = admin_request("POST", f"/routes/{route}/capture", "evil.example:9901",
                                   [("Content-Type", "text/plain"), ("Origin", "https://evil.example")],
                                   b'{"enabled":false}')
            status, _, _ = admin_exchange(tap.admin_port, review)
            self.assertEqual(status, 403)
            status, _, _ = admin_exchange(tap.admin_port, admin_request(
                "POST", f"/routes/{route}/capture", "localhost", [("Content-Type", "text/plain")],
                b'{"enabled":false}'))
            self.assertEqual(status, 415)
            status, _, _ = admin_exchange(tap.admin_port, admin_request(
                "POST", f"/routes/{route}/capture", "localhost", [("Content-Type", "application/json")],
                b'{"enabled":true}'))
            self.assertEqual(status, 200, "changes without a token stay possible, as before")
            result = tap.cli("tail", "--route", route, env={"MCPTAP_ADMIN_TOKEN": ""})
            self.assertEqual(result.returncode, 1)
            self.assertIn("403", result.stderr)
            self.assertEqual(tap.stop(), 0)


def admin_get_text(port, path):
    status, _, body = admin_exchange(port, admin_request("GET", path))
    assert status == 200, (path, status)
    return body.decode()


if __name__ == "__main__":
    unittest.main()
