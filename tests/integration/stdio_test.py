"""`mcptap stdio` between a host (this test, on the pipes) and a real stdio MCP server: the
host must see exactly what it sees when it runs the server itself (stdout and stderr: mcptap's
own log goes to a log file or nowhere), the child's exit code and signals pass through, and
every message lands in PostgreSQL with transport stdio, each response paired with its own
request."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import HERE, Mcptap, free_port, log_lines, unique_name, wait_for_rows

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
        self.assertEqual(self.hop.stderr, self.direct.stderr, "and nothing but the child's")

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


# A child that writes to stderr before, between and after its stdout lines; the bytes need not
# be text nor end with a newline.
CHILD_STDERR = [b"server: starting\n", b"server: \xff\xfe raw\n", b"server: done, no newline"]
ECHO_CHILD = ("import sys\n"
              "err = sys.stderr.buffer\n"
              f"err.write({CHILD_STDERR[0]!r}); err.flush()\n"
              "for line in sys.stdin.buffer:\n"
              "    sys.stdout.buffer.write(line); sys.stdout.flush()\n"
              f"    err.write({CHILD_STDERR[1]!r}); err.flush()\n"
              f"err.write({CHILD_STDERR[2]!r}); err.flush()\n")
HOP_INPUT = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}) + "\n"
             + "not json: recorded as invalid\n").encode()


class StdioLogTest(unittest.TestCase):
    """mcptap's own log lines never reach the host through stderr. PostgreSQL is unreachable
    here, so the sink logs warnings while the hop runs (and the hop gives up on it after its
    drain time): without a log destination of its own they would be mixed into the child's
    stderr."""

    @classmethod
    def setUpClass(cls):
        cls.binary = os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")
        cls.dir = tempfile.TemporaryDirectory(prefix="mcptap-stdio-log-")
        cls.dead_pg = f"postgresql://mcptap@127.0.0.1:{free_port()}/nothing"

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def config(self, stdio=None, **extra):
        config = {"routes": [{"name": "unused", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}],
                  "sink": {"postgres": self.dead_pg, "spool_dir": self.path("spool"),
                           "flush_interval_ms": 20, "reconnect_initial_ms": 20},
                  "proxy": {"drain_timeout_ms": 0}}
        if stdio is not None:
            config["stdio"] = stdio
        config.update(extra)
        path = self.path(unique_name("config") + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def hop(self, config, *options, child=ECHO_CHILD):
        # umask 0: a file created with a loose mode would show it.
        return subprocess.run([self.binary, "stdio", "--route", unique_name("hoplog"), "--config", config,
                               *options, "--", PYTHON, "-c", child],
                              input=HOP_INPUT, capture_output=True, timeout=60,
                              preexec_fn=lambda: os.umask(0))

    def assert_only_the_childs_output(self, result):
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertEqual(result.stdout, HOP_INPUT)
        self.assertEqual(result.stderr, CHILD_STDERR[0] + CHILD_STDERR[1] * 2 + CHILD_STDERR[2])

    def read_log(self, path):
        self.assertEqual(os.stat(path).st_mode & 0o7777, 0o600)
        with open(path) as f:
            text = f.read()
        lines = text.splitlines()
        self.assertGreater(len(lines), 0)
        parsed = log_lines(text)
        self.assertEqual(len(parsed), len(lines), "every line of the file is one JSON object")
        return parsed

    def test_without_a_log_file_stderr_is_the_childs_alone(self):
        self.assert_only_the_childs_output(self.hop(self.config()))

    def test_log_file_flag(self):
        log = self.path("flag.log")
        with open(log, "w") as f:
            f.write('{"msg": "an earlier run"}\n')
        os.chmod(log, 0o600)
        result = self.hop(self.config(), "--log-file", log)
        self.assert_only_the_childs_output(result)
        lines = self.read_log(log)
        messages = [line["msg"] for line in lines]
        self.assertEqual(messages[0], "an earlier run", "appended to, not truncated")
        self.assertIn("cannot connect to PostgreSQL", messages)
        self.assertIn("stdio: child exited", messages)
        self.assertEqual(messages[-1], "stdio: stopped")

    def test_log_file_flag_overrides_the_configuration(self):
        from_config, from_flag = self.path("config-overridden.log"), self.path("flag-wins.log")
        result = self.hop(self.config(stdio={"log_file": from_config}), "--log-file", from_flag)
        self.assert_only_the_childs_output(result)
        self.assertFalse(os.path.exists(from_config))
        self.assertIn("stdio: stopped", [line["msg"] for line in self.read_log(from_flag)])

    def test_log_file_and_level_in_the_configuration(self):
        log = self.path("config.log")
        result = self.hop(self.config(stdio={"log_file": log, "log_level": "warn"}))
        self.assert_only_the_childs_output(result)
        lines = self.read_log(log)
        self.assertIn("cannot connect to PostgreSQL", [line["msg"] for line in lines])
        self.assertEqual({line["level"] for line in lines}, {"warn"}, "info lines left out")

    def assert_one_line_on_stderr(self, result, code, line):
        self.assertEqual(result.returncode, code, result.stderr)
        self.assertEqual(result.stderr.decode(), line + "\n")
        self.assertEqual(result.stdout, b"", "the child did not run")

    def test_fatal_errors_reach_stderr_as_one_line(self):
        result = subprocess.run([self.binary, "stdio", "--route", unique_name("hoplog"), "--config",
                                 self.config(), "--", "/nonexistent/server"],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assert_one_line_on_stderr(
            result, 127, "mcptap: cannot run /nonexistent/server: no such file or directory")

        missing = self.path("no/such/dir/hop.log")
        self.assert_one_line_on_stderr(
            self.hop(self.config(), "--log-file", missing), 1,
            f"mcptap: --log-file {missing}: cannot open: No such file or directory "
            "(name a file in a directory that exists and is writable)")
        self.assert_one_line_on_stderr(
            self.hop(self.config(stdio={"log_file": self.dir.name})), 1,
            f"mcptap: stdio.log_file {self.dir.name}: cannot open: Is a directory "
            "(name a file in a directory that exists and is writable)")

        bad = self.config(stdio={"log_file": "x", "level": "info"})
        self.assert_one_line_on_stderr(self.hop(bad), 2, f"mcptap: {bad}: stdio.level: unknown key")


if __name__ == "__main__":
    unittest.main(verbosity=2)
