"""The official MCP TypeScript SDK, client and server, talks through mcptap over each of its
HTTP transports. The client must see exactly what it sees on a direct connection, and
every JSON-RPC message must land in PostgreSQL once, with the transport it travelled on,
the MCP session it belongs to, its correlation, and its secrets redacted.

Transports (server.mjs / client.mjs):
  streamable-json  Streamable HTTP (2025-03-26 and later), POSTs answered with
                   application/json; progress and the server's roots/list request travel
                   on the session's standalone GET event stream.
  streamable-sse   Streamable HTTP, POSTs answered with text/event-stream bodies that carry
                   progress, the roots/list request and the answer.
  legacy-sse       HTTP+SSE (2024-11-05): one GET /sse event stream carries everything the
                   server sends; the client POSTs to /messages?sessionId=...

The conversation, identical on all three (client ids count from 0, the server's from 0):
  c2s initialize #0, notifications/initialized, tools/list #1, tools/call #2 echo,
  #3 echo (240 000 characters), #4 slow_progress (3 notifications/progress with
  progressToken 4), #5 fail (an isError result), #6 store_secret (api_key argument,
  session_token in the structured result), #7 list_client_roots (during which the server
  sends roots/list #0 and the client answers it in a POST), #8 prompts/list (Method not
  found error); then, for Streamable HTTP, DELETE of the session.
"""
import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import (Mcptap, assert_every_request_paired, stop_process, unique_name,  # noqa: E402
                     wait_for_rows)

C2S, S2C = "client_to_server", "server_to_client"
CLIENT_TIMEOUT_S = 120
REDACTED = "[REDACTED]"

# (direction, kind, jsonrpc_id, method) of every message of one conversation.
EXPECTED_MESSAGES = (
    [(C2S, "request", "0", "initialize"),
     (C2S, "notification", None, "notifications/initialized"),
     (C2S, "request", "1", "tools/list")]
    + [(C2S, "request", str(i), "tools/call") for i in range(2, 8)]
    + [(S2C, "request", "0", "roots/list"),
       (C2S, "response", "0", "roots/list"),
       (C2S, "request", "8", "prompts/list"),
       (S2C, "response", "0", "initialize"),
       (S2C, "response", "1", "tools/list")]
    + [(S2C, "response", str(i), "tools/call") for i in range(2, 8)]
    + [(S2C, "error", "8", "prompts/list")]
    + [(S2C, "notification", None, "notifications/progress")] * 3
)


def http_up_sse_down(row):
    """Where a message travels when the server answers on event streams."""
    return "http" if row["direction"] == C2S else "sse"


def node_executable():
    node = os.environ.get("MCPTAP_NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise RuntimeError("node is not installed (Debian: apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@modelcontextprotocol", "sdk")):
        raise RuntimeError(f"the MCP SDK is not installed: run `npm ci` in {HERE}")
    return node


class NodeServer:
    """server.mjs on a free port; its stdout lines (session events) are collected. With
    tls=(cert file, key file) it serves https://."""

    def __init__(self, transport, tls=None):
        self.transport = transport
        self.tls = tls
        self.lines = queue.Queue()
        self.events = []
        self.port = None
        fd, self.stderr_path = tempfile.mkstemp(prefix=f"mcptap-interop-{transport}-", suffix=".log")
        os.close(fd)
        self.process = None

    def start(self):
        self.stderr = open(self.stderr_path, "w")
        tls = ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]] if self.tls else []
        self.process = subprocess.Popen(
            [node_executable(), "server.mjs", "--transport", self.transport, "--port", "0", *tls],
            cwd=HERE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.lines.get(timeout=30)
        except queue.Empty:
            first = None
        if not first or "port" not in first:
            self.stop()
            log = self.log()
            self.cleanup()
            raise RuntimeError(f"server.mjs did not start: {first!r} {log}")
        self.port = first["port"]
        return self

    def _read(self):
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "event" in message:
                self.events.append(message)
            self.lines.put(message)

    def wait_for_event(self, event, session_id, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.has_event(event, session_id):
                return True
            time.sleep(0.05)
        return False

    def has_event(self, event, session_id):
        return any(e["event"] == event and e.get("session_id") == session_id for e in self.events)

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None
            self.stderr.close()

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def cleanup(self):
        self.stop()
        if os.path.exists(self.stderr_path):
            os.unlink(self.stderr_path)


def run_client(transport, base_url, env=None):
    """client.mjs against base_url: its JSON document, or an exception saying why not."""
    done = subprocess.run(
        [node_executable(), "client.mjs", "--transport", transport, "--url", base_url],
        cwd=HERE, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
        env=dict(os.environ, **(env or {})))
    if done.returncode != 0:
        raise RuntimeError(f"client.mjs exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def comparable(document):
    """The client's document without what differs between any two runs."""
    return {k: v for k, v in document.items() if k not in ("session_id", "transport_errors")}


def strings_in(value):
    """Every string (keys and values) inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def describe(rows):
    return [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"], r["transport"],
             (r["connection_id"] or "")[-6:], r["session_id"]) for r in rows]


class SdkInterop:
    """One conversation direct and one through mcptap; the tests read its results.

    Subclasses set TRANSPORT and say where each message travels (expected_transport) and
    which HTTP method carried the exchange it belongs to (expected_http_method). A
    subclass may run the same conversation over TLS by overriding the four hooks below."""

    TRANSPORT = None
    maxDiff = None

    @classmethod
    def server_tls(cls):
        """(cert file, key file) for server.mjs to serve https://, or None for http://."""
        return None

    @classmethod
    def base_url(cls, port):
        return f"http://127.0.0.1:{port}"

    @classmethod
    def client_env(cls):
        return {}

    @classmethod
    def route_tls(cls):
        """Keys added to the mcptap route (listen_tls, upstream_tls)."""
        return {}

    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("sdk_" + cls.TRANSPORT.replace("-", "_"))
        cls.proxied = cls.proxied_error = cls.exit_code = None
        cls.closed_while_proxy_ran = False
        cls.log = cls.server_log = ""
        server = NodeServer(cls.TRANSPORT, tls=cls.server_tls()).start()
        try:
            cls.direct = run_client(cls.TRANSPORT, cls.base_url(server.port), cls.client_env())
            tap = Mcptap([dict({"name": cls.route, "upstream": f"127.0.0.1:{server.port}"},
                               **cls.route_tls())])
            try:
                tap.start()
                try:
                    cls.proxied = run_client(cls.TRANSPORT, cls.base_url(tap.ports[cls.route]),
                                             cls.client_env())
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                    cls.proxied_error = str(error)
                if cls.proxied is not None:
                    # The client is gone: its session must end at the server while mcptap
                    # still runs (DELETE, or the closed event stream), not only at shutdown.
                    cls.closed_while_proxy_ran = server.wait_for_event(
                        "session_closed", cls.proxied["session_id"], timeout=3)
                cls.exit_code = tap.stop()
                cls.log = tap.log()
            finally:
                tap.close()
            cls.server_events = list(server.events)
            cls.server_log = server.log()
        finally:
            server.cleanup()
        # Rows are flushed before mcptap exits; nothing should still be arriving.
        cls.rows = wait_for_rows(cls.route, len(EXPECTED_MESSAGES), timeout=5)

    # --- helpers -------------------------------------------------------------------------

    def require_proxied(self):
        if self.proxied is None:
            self.fail(f"the client failed through mcptap: {self.proxied_error}\n"
                      f"mcptap log:\n{self.log}\nserver log:\n{self.server_log}")

    def require_rows(self):
        if not self.rows:
            self.fail(f"no rows captured for route {self.route} ({self.TRANSPORT})")

    def the_row(self, direction, kind, jsonrpc_id, method):
        found = [r for r in self.rows if (r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                 == (direction, kind, jsonrpc_id, method)]
        self.assertEqual(len(found), 1, f"one row {direction} {kind} id={jsonrpc_id} {method}; "
                                        f"captured: {describe(self.rows)}")
        return found[0]

    def request(self, jsonrpc_id, method="tools/call", direction=C2S):
        return self.the_row(direction, "request", jsonrpc_id, method)

    def answer(self, jsonrpc_id, method="tools/call", direction=S2C, kind="response"):
        return self.the_row(direction, kind, jsonrpc_id, method)

    def messages(self):
        """The rows of JSON-RPC messages: invalid rows are test_no_invalid_or_batch_rows' concern."""
        return [r for r in self.rows if r["kind"] != "invalid"]

    def progress_rows(self):
        return [r for r in self.rows if r["method"] == "notifications/progress"]

    def session(self):
        self.require_proxied()
        return self.proxied["session_id"]

    # --- forwarding ------------------------------------------------------------------------

    def test_direct_run_is_complete(self):
        d = self.direct
        self.assertEqual([t["name"] for t in d["tools"]["tools"]],
                         ["echo", "slow_progress", "fail", "store_secret", "list_client_roots"])
        self.assertEqual(d["echo"]["content"][0]["text"], "hello through the tap")
        self.assertEqual(d["echo_large"], {"same_text": True, "characters": 240000})
        self.assertEqual([p["progress"] for p in d["slow_progress"]["progress"]], [1, 2, 3])
        self.assertTrue(d["fail"]["isError"])
        self.assertEqual(d["list_client_roots"]["content"][0]["text"], "file:///srv/interop")
        self.assertEqual(d["method_not_found"]["code"], -32601)
        self.assertTrue(d["session_id"], "the server assigned a session")

    def test_client_sees_exactly_what_a_direct_connection_gives(self):
        self.require_proxied()
        self.assertEqual(comparable(self.direct), comparable(self.proxied))

    def test_sigterm_drains_and_exits_zero(self):
        self.assertEqual(self.exit_code, 0, self.log)

    def test_session_ends_at_the_server_when_the_client_is_done(self):
        self.session()
        self.assertTrue(self.closed_while_proxy_ran, self.server_events)

    # --- capture: what is recorded ---------------------------------------------------------

    def test_every_message_is_recorded_once(self):
        self.require_rows()
        recorded = collections.Counter((r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                                       for r in self.messages())
        expected = collections.Counter(EXPECTED_MESSAGES)
        self.assertEqual(recorded, expected,
                         f"missing: {expected - recorded}; unexpected: {recorded - expected}")

    def test_no_invalid_or_batch_rows(self):
        # 202 Accepted (empty, or the legacy transport's text "Accepted"), the DELETE and its
        # empty 200, the endpoint event and ": keepalive" comments are not JSON-RPC messages.
        self.require_rows()
        odd = [(r["direction"], r["kind"], r["transport"], r["meta"]) for r in self.rows
               if r["kind"] in ("invalid", "batch")]
        self.assertEqual(odd, [], json.dumps(odd))

    def test_transport_column(self):
        self.require_rows()
        wrong = [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"],
                  f"got {r['transport']}, expected {self.expected_transport(r)}")
                 for r in self.messages() if r["transport"] != self.expected_transport(r)]
        self.assertEqual(wrong, [])

    def test_session_id_is_the_mcp_session_on_every_row(self):
        # Including the initialize request, sent before the session existed.
        session = self.session()
        self.require_rows()
        wrong = [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"], r["session_id"])
                 for r in self.messages() if r["session_id"] != session]
        self.assertEqual(wrong, [], f"session is {session}")

    def test_initialize_request_carries_the_session_its_answer_created(self):
        session = self.session()
        self.require_rows()
        self.assertEqual(self.request("0", "initialize")["session_id"], session)
        self.assertEqual(self.answer("0", "initialize")["session_id"], session)

    def test_every_request_pairs_with_exactly_one_answer(self):
        self.require_rows()
        assert_every_request_paired(self, self.rows)

    def test_server_request_with_a_reused_id_pairs_by_direction(self):
        # roots/list #0 from the server and initialize #0 from the client share an id.
        self.require_rows()
        roots = self.request("0", "roots/list", direction=S2C)
        answer = self.answer("0", "roots/list", direction=C2S)
        self.assertEqual(roots["correlation_id"], answer["correlation_id"])
        self.assertNotEqual(roots["correlation_id"], self.request("0", "initialize")["correlation_id"])
        self.assertEqual(answer["payload"]["result"]["roots"][0]["uri"], "file:///srv/interop")

    def test_progress_joins_the_slow_call(self):
        self.require_rows()
        slow = self.request("4")
        self.assertEqual(slow["payload"]["params"]["name"], "slow_progress")
        token = slow["payload"]["params"]["_meta"]["progressToken"]
        progress = self.progress_rows()
        self.assertEqual(len(progress), 3)
        for row in progress:
            self.assertEqual(row["payload"]["params"]["progressToken"], token)
            self.assertEqual(row["correlation_id"], slow["correlation_id"])
            self.assertIsNone(row["jsonrpc_id"])

    def test_progress_payloads_are_what_the_client_received(self):
        self.require_proxied()
        self.require_rows()
        recorded = [{k: v for k, v in r["payload"]["params"].items() if k != "progressToken"}
                    for r in self.progress_rows()]
        self.assertEqual(recorded, self.proxied["slow_progress"]["progress"])

    def test_slow_call_latency(self):
        self.require_rows()
        # Three progress steps 60 ms apart before the answer.
        self.assertGreaterEqual(self.answer("4")["latency_us"], 180_000)

    def test_payloads_match_the_results(self):
        self.require_proxied()
        self.require_rows()
        for jsonrpc_id, key in (("2", "echo"), ("5", "fail"), ("7", "list_client_roots")):
            self.assertEqual(self.answer(jsonrpc_id)["payload"]["result"], self.proxied[key], key)
        self.assertEqual(self.answer("1", "tools/list")["payload"]["jsonrpc"], "2.0")
        self.assertEqual(self.answer("8", "prompts/list", kind="error")["payload"]["error"]["code"], -32601)
        self.assertEqual(self.answer("0", "initialize")["payload"]["result"]["serverInfo"],
                         self.proxied["server"])

    def test_large_message_whole_across_reads(self):
        self.require_rows()
        request, response = self.request("3"), self.answer("3")
        text = request["payload"]["params"]["arguments"]["text"]
        self.assertEqual(len(text), 240000)
        self.assertEqual(response["payload"]["result"]["content"][0]["text"], text)
        for row in (request, response):
            self.assertFalse(row["truncated"])
            self.assertGreater(row["payload_bytes"], len(text.encode("utf-8")))

    def test_secrets_never_reach_the_table(self):
        self.require_proxied()
        self.require_rows()
        for name, secret in self.proxied["secrets"].items():
            self.assertTrue(secret, name)
            leaking = [(r["direction"], r["kind"], r["method"]) for r in self.rows if secret in json.dumps(r)]
            self.assertEqual(leaking, [], f"the {name} secret is in these rows")

    def test_secret_arguments_and_results_are_redacted(self):
        self.require_rows()
        call, result = self.request("6"), self.answer("6")
        self.assertEqual(call["payload"]["params"]["arguments"], {"user": "ann", "api_key": REDACTED})
        self.assertTrue(call["redacted"])
        self.assertEqual(result["payload"]["result"]["structuredContent"],
                         {"user": "ann", "session_token": REDACTED})
        self.assertTrue(result["redacted"])
        self.assertFalse(self.request("2")["redacted"])
        self.assertFalse(self.answer("2")["redacted"])

    def test_meta_names_the_http_method_of_the_exchange(self):
        # The contract: meta holds the HTTP method (and path, status, redacted headers).
        self.require_rows()
        wrong = []
        for row in self.messages():
            method = self.expected_http_method(row)
            if method not in set(strings_in(row["meta"] or {})):
                wrong.append((row["direction"], row["kind"], row["jsonrpc_id"], row["method"],
                              f"expected {method} in meta", row["meta"]))
        self.assertEqual(wrong, [])

    def test_ids_are_uuid_v7(self):
        self.require_rows()
        for row in self.rows:
            self.assertEqual(row["id"][14], "7", row["id"])


class StreamableTerminationChecks:
    """Streamable HTTP only: the session ends with DELETE."""

    def test_delete_reaches_the_server_and_ends_the_session(self):
        session = self.session()
        self.assertTrue(self.proxied["terminated"], "the client's DELETE succeeded")
        deleted = [e for e in self.server_events if e["event"] == "session_deleted"]
        self.assertIn({"event": "session_deleted", "session_id": session}, deleted, self.server_events)

    def test_answers_come_back_on_the_connection_of_their_post(self):
        self.require_rows()
        wrong = []
        for answer in [r for r in self.rows if r["direction"] == S2C and r["kind"] in ("response", "error")]:
            request = self.request(answer["jsonrpc_id"], answer["method"])
            if request["connection_id"] != answer["connection_id"]:
                wrong.append((answer["jsonrpc_id"], answer["method"]))
        self.assertEqual(wrong, [])

    def test_roots_answer_is_a_new_post(self):
        self.require_rows()
        roots = self.request("0", "roots/list", direction=S2C)
        answer = self.answer("0", "roots/list", direction=C2S)
        self.assertNotEqual(roots["connection_id"], answer["connection_id"])


class StreamableJsonTest(StreamableTerminationChecks, SdkInterop, unittest.TestCase):
    """POST → application/json answer (http); progress and roots/list on the GET stream (sse)."""

    TRANSPORT = "streamable-json"

    @staticmethod
    def expected_transport(row):
        if row["direction"] == C2S or row["kind"] in ("response", "error"):
            return "http"
        return "sse"

    @staticmethod
    def expected_http_method(row):
        return "POST" if row["direction"] == C2S or row["kind"] in ("response", "error") else "GET"

    def test_get_stream_messages_join_requests_from_other_connections(self):
        self.require_rows()
        stream = {r["connection_id"] for r in self.progress_rows()}
        stream.add(self.request("0", "roots/list", direction=S2C)["connection_id"])
        self.assertEqual(len(stream), 1, "progress and roots/list share the one GET stream")
        self.assertNotIn(self.request("4")["connection_id"], stream)
        self.assertNotIn(self.request("7")["connection_id"], stream)


class StreamableSseTest(StreamableTerminationChecks, SdkInterop, unittest.TestCase):
    """POST → text/event-stream answer carrying progress, roots/list and the answer (sse)."""

    TRANSPORT = "streamable-sse"

    expected_transport = staticmethod(http_up_sse_down)

    @staticmethod
    def expected_http_method(row):
        return "POST"

    def test_related_messages_travel_on_the_post_stream(self):
        self.require_rows()
        slow = self.request("4")
        self.assertEqual({r["connection_id"] for r in self.progress_rows()}, {slow["connection_id"]})
        roots = self.request("0", "roots/list", direction=S2C)
        self.assertEqual(roots["connection_id"], self.request("7")["connection_id"])


class LegacySseTest(SdkInterop, unittest.TestCase):
    """GET /sse carries every server message (sse); POST /messages?sessionId= carries the
    client's (http). session_id is the sessionId of the endpoint event."""

    TRANSPORT = "legacy-sse"

    expected_transport = staticmethod(http_up_sse_down)

    @staticmethod
    def expected_http_method(row):
        return "POST" if row["direction"] == C2S else "GET"

    def test_one_event_stream_carries_every_server_message(self):
        self.require_rows()
        stream = {r["connection_id"] for r in self.rows if r["direction"] == S2C}
        self.assertEqual(len(stream), 1)
        self.assertFalse([r for r in self.rows if r["direction"] == C2S and r["connection_id"] in stream],
                         "client messages are POSTs on other connections")

    def test_answers_on_the_stream_pair_with_posts_on_other_connections(self):
        self.require_rows()
        for answer in [r for r in self.rows if r["direction"] == S2C and r["kind"] in ("response", "error")]:
            request = self.request(answer["jsonrpc_id"], answer["method"])
            self.assertEqual(request["correlation_id"], answer["correlation_id"], answer["method"])
            self.assertNotEqual(request["connection_id"], answer["connection_id"], answer["method"])

    def test_post_meta_names_the_messages_path(self):
        self.require_rows()
        for row in [r for r in self.rows if r["direction"] == C2S]:
            self.assertTrue(any("/messages" in s for s in strings_in(row["meta"] or {})),
                            (row["method"], row["meta"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
