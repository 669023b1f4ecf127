"""Captured data and peers' error messages never drive the user's terminal. Messages whose
method, id, params and error message hold OSC 52 (write the clipboard), CSI 2J (clear the
screen), the C1 CSI U+009B, DEL and BEL go through the live binary into PostgreSQL; then
every human-readable view (query, tail, diff, query --trace, status, routes, capture,
errors) must show them written out, and the --json views must escape them the JSON way
while still parsing to the exact captured values."""
import json
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import Mcptap, unique_name, wait_for_rows
from raw_wire import NdjsonUpstream

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # sets the clipboard to "Hello"
CLEAR = "\x1b[2J"
C1_CSI = "\u009b31m"
HOSTILE = OSC52 + CLEAR + C1_CSI + "\x7f" + "\x07"
# The same, as `printable` writes it for a terminal, and as JSON escapes it.
SHOWN = r"\x1b]52;c;SGVsbG8=\x07\x1b[2J\u009b31m\x7f\x07"
SHOWN_JSON = r"\u001b]52;c;SGVsbG8=\u0007\u001b[2J\u009b31m\u007f\u0007"
SHOWN_IN_JSON_TEXT = r"\u001b]52;c;SGVsbG8=\u0007\u001b[2J\u009b31m\x7f\u0007"  # a diff's JSON value

METHOD = "evil/" + HOSTILE
TOOL = "tool" + HOSTILE


def hostile_reply(message):
    """A tools/call gets a result quoting its arguments, any other request an error whose
    message quotes the method; notifications get nothing."""
    if "id" not in message:
        return None
    if message["method"] == "tools/call":
        text = "done " + json.dumps(message["params"]["arguments"], ensure_ascii=False)
        reply = {"result": {"content": [{"type": "text", "text": text + HOSTILE}]}}
    else:
        reply = {"error": {"code": -32000, "message": "boom " + message["method"]}}
    reply.update(jsonrpc="2.0", id=message["id"])
    return reply


def exchange(port, messages):
    """Sends each message on one connection; waits for the answer of each request."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        stream = conn.makefile("rwb")
        for message in messages:
            stream.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            stream.flush()
            if "id" in message:
                json.loads(stream.readline())


class TerminalEscapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.first, cls.second = unique_name("esc_a"), unique_name("esc_b")
        backend = NdjsonUpstream(hostile_reply, ensure_ascii=False)
        upstream = f"127.0.0.1:{backend.port}"
        cls.tap = Mcptap([{"name": cls.first, "upstream": upstream},
                          {"name": cls.second, "upstream": upstream}]).start()
        cls.pg_env = {"MCPTAP_PG_URL": cls.tap.read_config()["sink"]["postgres"]}
        tails = [cls.start_tail(), cls.start_tail("--json")]
        call = {"name": TOOL, "arguments": {"a" + HOSTILE: "b" + HOSTILE}}
        exchange(cls.tap.ports[cls.first], [
            {"jsonrpc": "2.0", "id": "id" + HOSTILE, "method": METHOD,
             "params": {"k" + HOSTILE: "v" + HOSTILE}},
            {"jsonrpc": "2.0", "method": "note/" + HOSTILE, "params": {"x": HOSTILE}},
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call},
        ])
        # The same call one hop on, with _meta the hop added: --trace lines the two up.
        exchange(cls.tap.ports[cls.second], [
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": dict(call, _meta={"m" + HOSTILE: "x" + HOSTILE})},
        ])
        cls.rows = wait_for_rows(cls.first, 5)
        cls.second_rows = wait_for_rows(cls.second, 2)
        cls.tail_outputs = [cls.stop_tail(tail, 7) for tail in tails]

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()

    @classmethod
    def start_tail(cls, *extra):
        tail = subprocess.Popen([cls.tap.binary, "tail", *extra,
                                 "--admin", f"127.0.0.1:{cls.tap.admin_port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tail.lines = []
        threading.Thread(target=lambda: tail.lines.extend(tail.stdout), daemon=True).start()
        deadline = time.time() + 30
        while time.time() < deadline:  # a tail that subscribes late misses lines
            status = json.loads(cls.tap.cli("status", "--json").stdout)
            if status["tail_streams"] >= len(extra) + 1:
                return tail
            time.sleep(0.05)
        raise TimeoutError("the tail never subscribed")

    @staticmethod
    def stop_tail(tail, lines):
        deadline = time.time() + 30
        while len(tail.lines) < lines and time.time() < deadline:
            time.sleep(0.05)
        tail.send_signal(signal.SIGINT)
        stderr = tail.stderr.read()
        tail.wait(10)
        time.sleep(0.1)  # the reader thread takes what was left
        return b"".join(tail.lines), stderr

    def run_cli(self, *args, admin=False):
        """A subcommand's (stdout, stderr) as bytes: what a terminal would receive."""
        command = [self.tap.binary, *args]
        if admin:
            command += ["--admin", f"127.0.0.1:{self.tap.admin_port}"]
        result = subprocess.run(command, capture_output=True, timeout=30,
                                env=dict(self.tap.env, **self.pg_env))
        return result.returncode, result.stdout, result.stderr

    def assert_terminal_safe(self, what, data):
        """No C0 but the line break, no DEL, no C1 (as a code point or as a raw byte)."""
        try:
            text = data.decode("utf-8")  # a raw 0x80-0x9f byte is invalid UTF-8
        except UnicodeDecodeError as error:
            self.fail(f"{what}: not UTF-8 ({error}): {data!r}")
        bad = sorted({c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F})
        self.assertEqual(bad, [], f"{what}: raw controls {bad!r} in {text!r}")
        return text

    def checked(self, *args, admin=False, code=0):
        status, out, err = self.run_cli(*args, admin=admin)
        self.assertEqual(status, code, err)
        return (self.assert_terminal_safe(f"{args} stdout", out),
                self.assert_terminal_safe(f"{args} stderr", err))

    def row(self, **match):
        return next(r for r in self.rows + self.second_rows
                    if all(r[k] == v for k, v in match.items()))

    def test_rows_keep_the_exact_values(self):
        self.assertEqual(self.row(kind="request", method=METHOD)["jsonrpc_id"],
                         json.dumps("id" + HOSTILE, ensure_ascii=False, separators=(",", ":")))
        self.assertEqual(self.row(kind="error")["payload"]["error"]["message"], "boom " + METHOD)

    def test_query_timeline(self):
        out, _ = self.checked("query", "--route", self.first)
        self.assertIn("evil/" + SHOWN, out)
        self.assertIn("note/" + SHOWN, out)
        self.assertIn(r"\u009b", out)

    def test_query_json_is_exact_and_safe(self):
        out, _ = self.checked("query", "--route", self.first, "--json")
        self.assertIn(SHOWN_JSON, out)
        rows = [json.loads(line) for line in out.splitlines()]
        self.assertIn(METHOD, [r["method"] for r in rows])
        error = next(r for r in rows if r["kind"] == "error")
        self.assertEqual(error["payload"]["error"]["message"], "boom " + METHOD)
        self.assertEqual(error["jsonrpc_id"], json.dumps("id" + HOSTILE, ensure_ascii=False,
                                                         separators=(",", ":")))

    def test_tail(self):
        (out, err), (json_out, json_err) = self.tail_outputs
        text = self.assert_terminal_safe("tail stdout", out)
        self.assert_terminal_safe("tail stderr", err)
        self.assertIn("evil/" + SHOWN, text)
        self.assertIn("note/" + SHOWN, text)
        json_text = self.assert_terminal_safe("tail --json stdout", json_out)
        self.assert_terminal_safe("tail --json stderr", json_err)
        self.assertIn(SHOWN_JSON, json_text)
        methods = [json.loads(line)["method"] for line in json_text.splitlines()]
        self.assertIn(METHOD, methods)

    def test_diff(self):
        request = self.row(kind="request", method=METHOD)["id"]
        call = self.row(kind="request", method="tools/call", route=self.first)["id"]
        out, _ = self.checked("diff", request, call)
        self.assertIn('- params["k' + SHOWN_IN_JSON_TEXT + '"]: "v' + SHOWN_IN_JSON_TEXT + '"', out)
        self.assertIn('~ method: "evil/' + SHOWN_IN_JSON_TEXT + '" → "tools/call"', out)

    def test_trace(self):
        call = self.row(kind="request", method="tools/call", route=self.first)["id"]
        out, _ = self.checked("query", "--trace", call)
        self.assertIn('tools/call "tool' + SHOWN + '" traced from route ' + self.first, out)
        self.assertIn(f"same call on route {self.second}", out)
        self.assertIn('+ params._meta: {"m' + SHOWN_IN_JSON_TEXT, out)
        self.assertIn(SHOWN_JSON, out)  # the payloads, as JSON
        as_json, _ = self.checked("query", "--trace", call, "--json")
        document = json.loads(as_json)
        self.assertEqual(document["origin"]["request"]["payload"]["params"]["name"], TOOL)
        self.assertIn(SHOWN_JSON, as_json)

    def test_status_routes_and_capture_show_the_methods_written_out(self):
        out, _ = self.checked("capture", "on", self.second, "--methods", METHOD, admin=True)
        self.assertIn("methods=evil/" + SHOWN, out)
        try:
            for command in ("routes", "status"):
                out, _ = self.checked(command, admin=True)
                self.assertIn(self.first, out)
                self.assertIn("methods=evil/" + SHOWN, out)
                lines = [l for l in out.splitlines()
                         if (self.first in l or self.second in l) and "127.0.0.1" in l]
                self.assertEqual(len(lines), 2, out)
                # Widths are counted on the written-out text: the columns still line up.
                self.assertEqual(len({l.index("127.0.0.1") for l in lines}), 1, out)
                as_json, _ = self.checked(command, "--json", admin=True)
                self.assertIn(SHOWN_JSON, as_json)
                document = json.loads(as_json)
                routes = document if command == "routes" else document["routes"]
                second = next(r for r in routes if r["name"] == self.second)
                self.assertEqual(second["methods"], [METHOD])
        finally:
            self.checked("capture", "on", self.second, "--methods", "*", admin=True)

    def test_errors_echoed_from_peers(self):
        # The admin API's error body quotes the route asked for.
        _, err = self.checked("tail", "--route", "r" + HOSTILE, admin=True, code=1)
        self.assertIn('no route named "r' + SHOWN + '"', err)
        # PostgreSQL's message quotes the database name.
        url = self.pg_env["MCPTAP_PG_URL"].rsplit("/", 1)[0] + "/%1B%5B2Jdb%C2%9B%7F"
        _, err = self.checked("query", "--pg", url, code=1)
        self.assertIn(r'database "\x1b[2Jdb\u009b\x7f" does not exist', err)
        # A raw C1 byte that is no UTF-8 at all, echoed in the CLI's own message.
        status, out, err = self.run_cli("capture", "on", b"r\x9b[2J".decode("utf-8", "surrogateescape"),
                                        admin=True)
        self.assertEqual(status, 1, err)
        self.assert_terminal_safe("capture stdout", out)
        self.assertIn(r'no route named "r\x9b[2J"', self.assert_terminal_safe("capture stderr", err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
