"""`mcptap stdio` between a host (this test, on the pipes) and a real stdio MCP server: the
host must see exactly what it sees when it runs the server itself, the child's exit code
and signals pass through, and every message lands in PostgreSQL with transport stdio,
each response paired with its own request."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import HERE, Mcptap, unique_name, wait_for_rows

SERVER = os.path.join(HERE, "stdio_server.py")
PYTHON = sys.executable or "/usr/bin/python3"
LARGE_TEXT = "x" * 300_000  # several pipe buffers: forwarding must not stall or split it wrong
SECRET = "hunter2-stdio"


def conversation():
    """What an MCP host writes to its server: every tools/call with id 3, like real relays."""
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": "first"}, "_meta": {"progressToken": "p1"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": "second", "api_key": SECRET}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": LARGE_TEXT}}},
        {"jsonrpc": "2.0", "id": "x", "method": "no/such"},
    ]
    # The last line has no newline: it still counts once stdin ends.
    return ("\n".join(json.dumps(line) for line in lines)).encode()


class StdioHopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("hop")
        # The configuration's routes are for `mcptap run`; the hop only needs a name and the sink.
        cls.tap = Mcptap([{"name": cls.route, "upstream": "127.0.0.1:9"}])
        cls.binary = cls.tap.binary
        cls.input = conversation()
        cls.direct = subprocess.run([PYTHON, SERVER, "3"], input=cls.input, capture_output=True, timeout=60)
        cls.hop = subprocess.run([cls.binary, "stdio", "--route", cls.route, "--config", cls.tap.config_path,
                                  "--", PYTHON, SERVER, "3"],
                                 input=cls.input, capture_output=True, timeout=60)
        cls.rows = wait_for_rows(cls.route, 14, timeout=15)

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()

    def test_host_sees_exactly_what_the_server_wrote(self):
        self.assertEqual(self.direct.returncode, 3)
        self.assertGreater(len(self.direct.stdout), len(LARGE_TEXT))
        self.assertEqual(self.hop.stdout, self.direct.stdout)
        self.assertIn(b"stdio-echo: stdin closed", self.hop.stderr, "the child's stderr is ours")

    def test_child_exit_code_becomes_ours(self):
        self.assertEqual(self.hop.returncode, 3, self.hop.stderr.decode()[-2000:])

    def test_every_message_is_recorded_with_transport_stdio(self):
        rows = self.rows
        summary = [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"]) for r in rows]
        self.assertEqual(len(rows), 14, summary)
        self.assertEqual({r["transport"] for r in rows}, {"stdio"})
        self.assertEqual(len({r["connection_id"] for r in rows}), 1)
        self.assertEqual(sorted(summary), sorted([
            ("client_to_server", "request", "1", "initialize"),
            ("client_to_server", "notification", None, "notifications/initialized"),
            ("client_to_server", "request", "2", "tools/list"),
            ("client_to_server", "request", "3", "tools/call"),
            ("client_to_server", "request", "3", "tools/call"),
            ("client_to_server", "request", "3", "tools/call"),
            ("client_to_server", "request", '"x"', "no/such"),
            ("server_to_client", "response", "1", "initialize"),
            ("server_to_client", "response", "2", "tools/list"),
            ("server_to_client", "notification", None, "notifications/progress"),
            ("server_to_client", "response", "3", "tools/call"),
            ("server_to_client", "response", "3", "tools/call"),
            ("server_to_client", "response", "3", "tools/call"),
            ("server_to_client", "error", '"x"', "no/such"),
        ]))

    def test_responses_pair_with_their_own_requests(self):
        requests = {r["correlation_id"]: r for r in self.rows if r["kind"] == "request"}
        answers = [r for r in self.rows if r["kind"] in ("response", "error")]
        self.assertEqual(len(answers), 6)
        for answer in answers:
            request = requests.get(answer["correlation_id"])
            self.assertIsNotNone(request, answer)
            self.assertEqual(request["method"], answer["method"])
            self.assertIsNotNone(answer["latency_us"])
            if answer["method"] == "tools/call":
                self.assertEqual(answer["payload"]["result"]["content"][0]["text"],
                                 request["payload"]["params"]["arguments"]["text"])
        progress = next(r for r in self.rows if r["method"] == "notifications/progress")
        first = next(r for r in self.rows if r["kind"] == "request" and r["method"] == "tools/call"
                     and r["payload"]["params"]["arguments"]["text"] == "first")
        self.assertEqual(progress["correlation_id"], first["correlation_id"])

    def test_secrets_are_redacted(self):
        second = next(r for r in self.rows if r["kind"] == "request" and r["method"] == "tools/call"
                      and r["payload"]["params"]["arguments"]["text"] == "second")
        self.assertTrue(second["redacted"])
        self.assertNotIn(SECRET, json.dumps(self.rows))

    def test_files_on_stdin_and_stdout(self):
        """A host that redirects from and to files (no pipes) gets the same bytes."""
        route = unique_name("hopfile")
        with tempfile.TemporaryDirectory() as tmp:
            source, target = os.path.join(tmp, "in"), os.path.join(tmp, "out")
            with open(source, "wb") as f:
                f.write(self.input)
            with open(source, "rb") as stdin, open(target, "wb") as stdout:
                code = subprocess.run([self.binary, "stdio", "--route", route, "--config", self.tap.config_path,
                                       "--", PYTHON, SERVER], stdin=stdin, stdout=stdout,
                                      stderr=subprocess.PIPE, timeout=60).returncode
            with open(target, "rb") as f:
                self.assertEqual(f.read(), self.direct.stdout)
        self.assertEqual(code, 0)
        self.assertEqual(len(wait_for_rows(route, 14)), 14)

    def test_sigterm_is_forwarded_to_the_child(self):
        child = ("import signal, sys, time\n"
                 "signal.signal(signal.SIGTERM, lambda *a: (print('got-term', flush=True), sys.exit(7)))\n"
                 "print('ready', flush=True)\n"
                 "time.sleep(60)\n")
        process = subprocess.Popen([self.binary, "stdio", "--route", unique_name("hopsig"), "--config",
                                    self.tap.config_path, "--", PYTHON, "-c", child],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(process.stdout.readline(), b"ready\n")
            started = time.time()
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.stdout.readline(), b"got-term\n")
            self.assertEqual(process.wait(timeout=20), 7)
            self.assertLess(time.time() - started, 10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdin.close()
            process.stdout.close()

    def test_a_child_killed_by_a_signal_exits_128_plus_n(self):
        code = subprocess.run([self.binary, "stdio", "--route", unique_name("hopkill"), "--config",
                               self.tap.config_path, "--", PYTHON, "-c", "import os; os.kill(os.getpid(), 9)"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=60).returncode
        self.assertEqual(code, 128 + 9)

    def test_a_command_that_cannot_run(self):
        result = subprocess.run([self.binary, "stdio", "--route", "x", "--config", self.tap.config_path,
                                 "--", "/nonexistent/server"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 127)
        self.assertIn("mcptap: cannot run /nonexistent/server: no such file or directory", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_usage_errors(self):
        result = subprocess.run([self.binary, "stdio", "--config", self.tap.config_path, "--", "true"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--route", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
