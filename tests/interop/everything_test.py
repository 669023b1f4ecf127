"""The official MCP reference server, @modelcontextprotocol/server-everything, driven by the
official SDK client through mcptap: over Streamable HTTP behind `mcptap run`, and over stdio
through `mcptap stdio`. The client (everything_client.mjs) logs every JSON-RPC message it
sent and received on its transport; each one must be a row of mcptap.messages, requests
paired with their answers, progress joined to its call, and the tool calls that fail as
results (isError) marked as tool errors in meta and in `mcptap query`.

The conversation is described in everything_client.mjs. Its failures, as the server's SDK
(McpServer's tools/call handler) answers them:
  #5 get-sum {a: "two"}: input validation fails -> a result with isError true;
  #6 no-such-tool: unknown tool -> a result with isError true;
  #7 trigger-url-elicitation {errorPath: true}: UrlElicitationRequiredError, the one error
     McpServer passes on -> a JSON-RPC error -32042, not a tool result.
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import (Mcptap, assert_every_request_paired, free_port, pg_url,  # noqa: E402
                     query_rows, stop_process, unique_name, wait_for_port, wait_for_rows)

C2S, S2C = "client_to_server", "server_to_client"
SERVER_JS = os.path.join(HERE, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
CLIENT_TIMEOUT_S = 90
SERVER_START_TIMEOUT_S = 60  # node loads express, zod and the SDK first; slow on a busy machine
ROWS_TIMEOUT_S = 30

# mcptap query shows this many characters of a tool failure's first text.
TOOL_ERROR_CHARS = 60
FAILING_CALLS = {"5": "invalid_arguments", "6": "unknown_tool"}  # jsonrpc id -> client key
PROGRESS_CALL = "4"
JSONRPC_ERROR_CALL = "7"
URL_ELICITATION_REQUIRED = -32042

# Messages every run has, whatever the server chooses to announce on its own.
REQUIRED_MESSAGES = (
    [(C2S, "request", "0", "initialize"), (S2C, "response", "0", "initialize"),
     (C2S, "notification", None, "notifications/initialized"),
     (C2S, "request", "1", "tools/list"), (S2C, "response", "1", "tools/list")]
    + [(C2S, "request", str(i), "tools/call") for i in range(2, 8)]
    + [(S2C, "response", str(i), "tools/call") for i in range(2, 7)]
    + [(S2C, "error", JSONRPC_ERROR_CALL, "tools/call"),
       (S2C, "request", "0", "roots/list"), (C2S, "response", "0", "roots/list"),
       (S2C, "notification", None, "notifications/message")]
    + [(S2C, "notification", None, "notifications/progress")] * 3
)


def node_executable():
    node = os.environ.get("MCPTAP_NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise RuntimeError("node is not installed (Debian: apt-get install nodejs npm)")
    if not os.path.exists(SERVER_JS):
        raise RuntimeError(f"server-everything is not installed: run `npm ci` in {HERE}")
    return node


def mcptap_binary():
    return os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")


def run_client(*args):
    """everything_client.mjs with args: its JSON document, or an exception saying why not."""
    done = subprocess.run([node_executable(), "everything_client.mjs", *args],
                          cwd=HERE, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"everything_client.mjs exited {done.returncode}: {done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout), done.stderr


def signature(message):
    return (message["direction"], message["kind"], message["jsonrpc_id"], message["method"])


class EverythingServerHttp:
    """server-everything's Streamable HTTP mode on a free port, its output in a log file."""

    def __init__(self):
        self.port = free_port()
        self.log_file = tempfile.NamedTemporaryFile(prefix="mcptap-everything-", suffix=".log", delete=False)
        self.process = subprocess.Popen([node_executable(), SERVER_JS, "streamableHttp"],
                                        cwd=HERE, env=dict(os.environ, PORT=str(self.port)),
                                        stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=SERVER_START_TIMEOUT_S)
        except TimeoutError:
            self.close()
            raise

    def log(self):
        with open(self.log_file.name, errors="replace") as f:
            return f.read()

    def close(self):
        stop_process(self.process)
        self.log_file.close()
        os.unlink(self.log_file.name)


class EverythingThroughMcptap:
    """One conversation through mcptap; the tests read the client's document and the rows.

    Subclasses implement converse() (sets cls.client, cls.client_log, cls.log) and say
    which transport each row should name (expected_transport)."""

    maxDiff = None
    ROUTE_PREFIX = None

    @classmethod
    def setUpClass(cls):
        cls.route = unique_name(cls.ROUTE_PREFIX)
        cls.client = cls.client_error = None
        cls.client_log = cls.log = ""
        cls.rows = []
        try:
            cls.converse()
        except (RuntimeError, ValueError, TimeoutError, subprocess.TimeoutExpired) as error:
            cls.client_error = str(error)
        if cls.client is not None:
            cls.rows = wait_for_rows(cls.route, len(cls.client["messages"]), timeout=ROWS_TIMEOUT_S)

    # --- helpers ---------------------------------------------------------------------------

    def require_client(self):
        if self.client is None:
            self.fail(f"the client failed through mcptap: {self.client_error}\nmcptap log:\n{self.log}")

    def require_rows(self):
        self.require_client()
        if not self.rows:
            self.fail(f"no rows captured for route {self.route}\nmcptap log:\n{self.log}")

    def the_row(self, direction, kind, jsonrpc_id, method="tools/call"):
        found = [r for r in self.rows if signature(r) == (direction, kind, jsonrpc_id, method)]
        self.assertEqual(len(found), 1, f"one row {direction} {kind} id={jsonrpc_id} {method}; "
                                        f"captured: {[signature(r) for r in self.rows]}")
        return found[0]

    def query_timeline(self):
        env = dict(os.environ, MCPTAP_PG_URL=pg_url())
        done = subprocess.run([mcptap_binary(), "query", "--route", self.route],
                              capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        return [line.rstrip() for line in done.stdout.splitlines()]

    # --- what the client saw -----------------------------------------------------------------

    def test_client_conversation(self):
        self.require_client()
        c = self.client
        self.assertEqual(c["server"]["name"], "mcp-servers/everything")
        for tool in ("echo", "get-sum", "trigger-long-running-operation", "trigger-url-elicitation"):
            self.assertIn(tool, c["tools"])
        self.assertEqual(c["echo"]["content"][0]["text"], "Echo: hello through the tap")
        self.assertEqual(c["sum"]["content"][0]["text"], "The sum of 2 and 40 is 42.")
        self.assertNotIn("isError", c["sum"])
        self.assertIn("Long running operation completed", c["long_running"]["result"]["content"][0]["text"])
        self.assertTrue(c["long_running"]["progress"], "the progress callback ran")
        self.assertTrue(c["invalid_arguments"]["isError"])
        self.assertIn("Input validation error", c["invalid_arguments"]["content"][0]["text"])
        self.assertTrue(c["unknown_tool"]["isError"])
        self.assertIn("Tool no-such-tool not found", c["unknown_tool"]["content"][0]["text"])
        self.assertEqual(c["url_elicitation"].get("error", {}).get("code"), URL_ELICITATION_REQUIRED,
                         c["url_elicitation"])
        self.assertTrue(c["server_initiated_seen"], "roots/list and the log line it causes arrived")

    def test_client_log_holds_the_whole_conversation(self):
        self.require_client()
        logged = collections.Counter(signature(m) for m in self.client["messages"])
        missing = collections.Counter(REQUIRED_MESSAGES) - logged
        self.assertEqual(missing, collections.Counter(), "the client's wire log lacks these")

    # --- capture -----------------------------------------------------------------------------

    def test_every_message_the_client_sent_and_received_is_a_row(self):
        self.require_rows()
        recorded = collections.Counter(signature(r) for r in self.rows)
        seen = collections.Counter(signature(m) for m in self.client["messages"])
        self.assertEqual(recorded, seen, f"rows missing: {seen - recorded}; rows the client never saw: "
                                         f"{recorded - seen}\nmcptap log:\n{self.log}")

    def test_transport_column(self):
        self.require_rows()
        wrong = [(signature(r), r["transport"]) for r in self.rows
                 if r["transport"] != self.expected_transport(r)]
        self.assertEqual(wrong, [])

    def test_every_request_pairs_with_its_answer(self):
        self.require_rows()
        assert_every_request_paired(self, self.rows)

    def test_server_request_with_a_reused_id_pairs_by_direction(self):
        # roots/list #0 from the server and initialize #0 from the client share an id.
        self.require_rows()
        roots = self.the_row(S2C, "request", "0", "roots/list")
        answer = self.the_row(C2S, "response", "0", "roots/list")
        self.assertEqual(roots["correlation_id"], answer["correlation_id"])
        self.assertNotEqual(roots["correlation_id"], self.the_row(C2S, "request", "0", "initialize")["correlation_id"])
        self.assertEqual(answer["payload"]["result"]["roots"][0]["uri"], "file:///srv/everything")

    def test_progress_carries_its_call_correlation(self):
        self.require_rows()
        call = self.the_row(C2S, "request", PROGRESS_CALL)
        self.assertEqual(call["payload"]["params"]["name"], "trigger-long-running-operation")
        token = call["payload"]["params"]["_meta"]["progressToken"]
        progress = [r for r in self.rows if r["method"] == "notifications/progress"]
        self.assertEqual(len(progress), 3)
        for row in progress:
            self.assertEqual(row["payload"]["params"]["progressToken"], token)
            self.assertEqual(row["correlation_id"], call["correlation_id"])
            self.assertIsNone(row["jsonrpc_id"])
        self.assertEqual([r["payload"]["params"]["progress"] for r in progress], [1, 2, 3])
        # Three steps of 200 ms before the answer.
        self.assertGreaterEqual(self.the_row(S2C, "response", PROGRESS_CALL)["latency_us"], 600_000)

    def test_payloads_are_what_the_client_received(self):
        self.require_rows()
        for jsonrpc_id, key in (("2", "echo"), ("3", "sum"), *FAILING_CALLS.items()):
            self.assertEqual(self.the_row(S2C, "response", jsonrpc_id)["payload"]["result"], self.client[key], key)

    def test_tool_failure_results_are_marked_tool_error_in_meta(self):
        self.require_rows()
        marked = query_rows("SELECT direction, kind, jsonrpc_id, method FROM mcptap.messages"
                            " WHERE route = $1 AND meta->>'tool_error' = 'true'", self.route)
        self.assertEqual(sorted(signature(r) for r in marked),
                         sorted((S2C, "response", i, "tools/call") for i in FAILING_CALLS))

    def test_tool_call_answered_with_a_jsonrpc_error_is_an_error_row(self):
        self.require_rows()
        error = self.the_row(S2C, "error", JSONRPC_ERROR_CALL)
        self.assertEqual(error["payload"]["error"]["code"], URL_ELICITATION_REQUIRED)
        self.assertNotIn("result", error["payload"])

    def test_query_shows_the_tool_errors(self):
        self.require_rows()
        lines = self.query_timeline()
        text = "\n".join(lines)
        for jsonrpc_id, key in FAILING_CALLS.items():
            answer = [line for line in lines if "response" in line and "tools/call" in line
                      and f"id={jsonrpc_id} " in line + " "]
            self.assertEqual(len(answer), 1, f"one answer line for id={jsonrpc_id}:\n{text}")
            first_text = self.client[key]["content"][0]["text"]
            shown = ""
            for c in first_text:  # on one line: line breaks and tabs read as one space
                blank = c in "\n\r\t"
                if not (blank and shown.endswith(" ")):
                    shown += " " if blank else c
            if len(shown) > TOOL_ERROR_CHARS:  # query cuts a long text, marking the cut
                shown = shown[:TOOL_ERROR_CHARS] + "..."
            self.assertTrue(answer[0].endswith(f"tool error: {shown}"), f"{answer[0]!r}\n{text}")
        self.assertEqual(len([line for line in lines if "tool error" in line]), len(FAILING_CALLS), text)
        rpc_error = [line for line in lines if f"id={JSONRPC_ERROR_CALL} " in line + " " and " error " in line]
        self.assertEqual(len(rpc_error), 1, text)
        self.assertIn(f"error: {URL_ELICITATION_REQUIRED}", rpc_error[0])


class StreamableHttpTest(EverythingThroughMcptap, unittest.TestCase):
    """server-everything streamableHttp behind a `mcptap run` route; the client posts to /mcp."""

    ROUTE_PREFIX = "everything_http"

    @classmethod
    def converse(cls):
        server = EverythingServerHttp()
        try:
            tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{server.port}"}])
            try:
                tap.start()
                try:
                    cls.client, cls.client_log = run_client("--url", f"http://127.0.0.1:{tap.ports[cls.route]}")
                finally:
                    cls.exit_code = tap.stop()
                    cls.log = tap.log()
            finally:
                tap.close()
        finally:
            cls.log += "\nserver-everything log:\n" + server.log()[-4000:]
            server.close()

    @staticmethod
    def expected_transport(row):
        # POST bodies are JSON; the server answers POSTs with event streams, and sends what
        # belongs to no request (roots/list, its log line) on the session's GET stream.
        return "http" if row["direction"] == C2S else "sse"

    def test_mcptap_drains_and_exits_zero(self):
        self.require_client()
        self.assertEqual(self.exit_code, 0, self.log)

    def test_session_id_is_the_mcp_session_on_every_row(self):
        self.require_rows()
        session = self.client["session_id"]
        self.assertTrue(session)
        self.assertTrue(self.client["terminated"], "the client's DELETE succeeded")
        wrong = [(signature(r), r["session_id"]) for r in self.rows if r["session_id"] != session]
        self.assertEqual(wrong, [], f"session is {session}")


class StdioTest(EverythingThroughMcptap, unittest.TestCase):
    """The client spawns `mcptap stdio --route R -- node server-everything stdio`."""

    ROUTE_PREFIX = "everything_stdio"

    @classmethod
    def converse(cls):
        # The configuration's routes are for `mcptap run`; the hop needs a name and the sink.
        # Its spool directory lives until the rows are read (tearDownClass).
        cls.tap = tap = Mcptap([{"name": cls.route, "upstream": "127.0.0.1:9"}])
        try:
            cls.client, cls.client_log = run_client(
                "--stdio", "--", tap.binary, "stdio", "--route", cls.route, "--config", tap.config_path,
                "--", node_executable(), SERVER_JS, "stdio")
        finally:
            cls.log = cls.client_log  # the hop's stderr (and the server's) is the client's

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()

    @staticmethod
    def expected_transport(row):
        return "stdio"

    def test_one_connection_carries_the_conversation(self):
        self.require_rows()
        self.assertEqual(len({r["connection_id"] for r in self.rows}), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
