"""The README's quick start, run as written. Every block README.md marks with
`<!-- quickstart: STEP -->` is taken from the file and run with bash (the `host-config`
block is read as an MCP host would read it), against real servers - a Streamable HTTP one
(http_backend.py), a WebSocket one (ws_backend.py), a stdio one (stdio_server.py) - and the
test cluster. The only changes: the README's ports, database URL and home directory become
this test's own. A README whose commands stop working, or stop capturing what it says they
capture, fails here."""
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import websockets

from harness import HERE, free_port, log_lines, pg_url, query_rows_at
from http_backend import HttpBackend
from ws_backend import Backend as WsBackend

README = os.path.join(HERE, "..", "..", "README.md")
BLOCK = re.compile(r"<!-- quickstart: ([\w-]+) -->\n```(\w*)\n(.*?)\n```", re.S)
STEPS = ("config", "run", "http-request", "host-config", "tail", "query", "psql", "status")

# What the README's blocks name, and what stands for it here.
README_PORTS = {"admin": 9901, "http_route": 9001, "ws_route": 9002,
                "http_server": 3001, "ws_server": 8002}
README_PG_URL = "postgresql:///mcptap"
README_HOME = "/home/you"
PYTHON = "/usr/bin/python3"


def readme_blocks():
    with open(README) as f:
        text = f.read()
    blocks = {}
    for step, language, body in BLOCK.findall(text):
        if step in blocks:
            raise AssertionError(f"README.md marks two blocks `quickstart: {step}`")
        blocks[step] = (language, body)
    return blocks


def substitute(text, ports, url, home):
    for name, readme_port in README_PORTS.items():
        text = re.sub(rf"(?<!\d){readme_port}(?!\d)", str(ports[name]), text)
    return text.replace(README_PG_URL, url).replace(README_HOME, home)


def http_get(url):
    with urllib.request.urlopen(url, timeout=2) as answer:
        return answer.status, answer.read()


def wait_until(what, check, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def websocket_conversation(url):
    """initialize and one tools/call, as a WebSocket MCP client sends them."""
    answers = []
    async with websockets.connect(url) as ws:
        for message in ({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "quickstart", "version": "1"}}},
                        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": "echo", "arguments": {"text": "over websocket"}}}):
            await ws.send(json.dumps(message))
            answers.append(json.loads(await ws.recv()))
    return answers


def own_database(shared_url, name):
    """Creates database `name` in the test cluster; returns its URL."""
    drop_database(shared_url, name)
    subprocess.run(["psql", shared_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return shared_url.rsplit("/", 1)[0] + "/" + name


def drop_database(shared_url, name):
    subprocess.run(["psql", shared_url, "-X", "-q", "-c",
                    f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True, capture_output=True)


class QuickStartTest(unittest.TestCase):
    def setUp(self):
        self.blocks = readme_blocks()
        missing = [step for step in STEPS if step not in self.blocks]
        self.assertEqual(missing, [], "README.md lost quick start blocks")
        self.home = tempfile.mkdtemp(prefix="mcptap-quickstart-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.http_backend = HttpBackend().__enter__()
        self.addCleanup(self.http_backend.__exit__)
        self.ws_backend = WsBackend().__enter__()
        self.addCleanup(self.ws_backend.__exit__)
        self.ports = {"admin": free_port(), "http_route": free_port(), "ws_route": free_port(),
                      "http_server": self.http_backend.port, "ws_server": self.ws_backend.port}
        # A database of its own, as a reader of the README would have: its psql block shows
        # the newest rows, which other tests writing to the shared one would push out.
        self.url = own_database(pg_url(), f"quickstart_{os.getpid()}")
        self.addCleanup(drop_database, pg_url(), f"quickstart_{os.getpid()}")
        binary = os.path.abspath(os.environ.get("MCPTAP_BIN") or
                                 os.path.join(HERE, "../../build/bin/mcptap"))
        self.env = dict(os.environ, HOME=self.home,
                        PATH=os.path.dirname(binary) + os.pathsep + os.environ.get("PATH", ""))
        for name in ("MCPTAP_PG_URL", "MCPTAP_ADMIN_TOKEN"):  # the README sets neither
            self.env.pop(name, None)
        self.background = []
        self.started_at = query_rows_at(self.url, "SELECT now() AS now")[0]["now"]

    def tearDown(self):
        for process, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # ---- running the README's blocks ----

    def block(self, step, language="sh"):
        found_language, body = self.blocks[step]
        self.assertEqual(found_language, language, f"quickstart: {step}")
        return substitute(body, self.ports, self.url, self.home)

    def run_block(self, step):
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", self.block(step)],
                                cwd=self.home, env=self.env, capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, 0,
                         f"quickstart: {step} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start_block(self, step):
        """A long-running block (mcptap run, mcptap tail), in its own process group."""
        output = open(os.path.join(self.home, f"{step}.out"), "w+")
        self.addCleanup(output.close)
        process = subprocess.Popen(["bash", "-c", self.block(step)], cwd=self.home, env=self.env,
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((process, output))
        return process, output

    def stop_block(self, process, output, signum):
        os.killpg(process.pid, signum)
        code = process.wait(timeout=60)
        output.seek(0)
        return code, output.read()

    def run_host_config(self):
        """The stdio hop as a desktop MCP host starts it: command and args from its JSON,
        with the server after `--` replaced by a local stdio server (no network here)."""
        servers = json.loads(self.block("host-config", "json"))["mcpServers"]
        self.assertEqual(len(servers), 1)
        entry = next(iter(servers.values()))
        args = entry["args"]
        route = args[args.index("--route") + 1]
        argv = [shutil.which(entry["command"], path=self.env["PATH"])]
        argv += args[:args.index("--") + 1] + [PYTHON, os.path.join(HERE, "stdio_server.py")]
        lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "desktop-host", "version": "1"}}},
                 {"jsonrpc": "2.0", "method": "notifications/initialized"},
                 {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": "over stdio"},
                             "_meta": {"progressToken": "p1"}}}]
        result = subprocess.run(argv, input="".join(json.dumps(m) + "\n" for m in lines),
                                cwd="/", env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        answers = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual([a.get("id") for a in answers], [1, None, 2])  # progress before the answer
        self.assertEqual(answers[2]["result"]["content"][0]["text"], "over stdio")
        return route

    def rows(self, route, count):
        rows = []
        deadline = time.time() + 20
        while time.time() < deadline:
            rows = query_rows_at(
                self.url, "SELECT transport, direction, kind, jsonrpc_id, method, connection_id,"
                " session_id, correlation_id, latency_us, meta FROM mcptap.messages"
                " WHERE route = $1 AND captured_at >= $2 ORDER BY id",
                route, self.started_at)
            if len(rows) >= count:
                break
            time.sleep(0.1)
        self.assertEqual(len(rows), count, f"rows of route {route}: {rows}")
        return rows

    def assert_paired(self, rows, method):
        request = next(r for r in rows if r["kind"] == "request" and r["method"] == method)
        response = next(r for r in rows if r["kind"] == "response" and r["method"] == method)
        self.assertIsNotNone(request["correlation_id"])
        self.assertEqual(request["correlation_id"], response["correlation_id"])
        self.assertGreaterEqual(response["latency_us"], 0)

    # ---- the quick start ----

    def test_readme_quick_start(self):
        for name, port in README_PORTS.items():
            self.assertRegex(self.blocks["config"][1], rf"(?<!\d){port}(?!\d)",
                             f"the config block no longer names the {name} port {port}")

        self.run_block("config")
        mcptap, mcptap_log = self.start_block("run")
        admin = f"http://127.0.0.1:{self.ports['admin']}"
        wait_until("mcptap's /readyz",
                   lambda: mcptap.poll() is None and http_get(admin + "/readyz")[0] == 200)
        tail, tail_output = self.start_block("tail")
        wait_until("mcptap tail's subscription",
                   lambda: json.loads(http_get(admin + "/status")[1])["tail_streams"] >= 1)

        # 5. an HTTP client (the README's curl) and a WebSocket client through their routes
        answer = json.loads(self.run_block("http-request"))
        self.assertEqual(answer["result"]["serverInfo"]["name"], "http-backend")
        ws_answers = asyncio.run(websocket_conversation(f"ws://127.0.0.1:{self.ports['ws_route']}/mcp"))
        self.assertEqual(ws_answers[1]["result"]["content"][0]["text"], "over websocket")
        # 6. the stdio hop, started as the host configuration says
        stdio_route = self.run_host_config()

        http_rows = self.rows("http-server", 2)
        self.assertEqual({r["transport"] for r in http_rows}, {"http"})
        self.assert_paired(http_rows, "initialize")
        # The session the server assigned at initialize, not the connection, names both.
        self.assertEqual(len({r["session_id"] for r in http_rows}), 1)
        self.assertNotEqual(http_rows[0]["session_id"], http_rows[0]["connection_id"])
        self.assertEqual(http_rows[0]["meta"]["http"]["path"], "/mcp")

        ws_rows = self.rows("ws-server", 4)
        self.assertEqual({r["transport"] for r in ws_rows}, {"websocket"})
        self.assert_paired(ws_rows, "initialize")
        self.assert_paired(ws_rows, "tools/call")
        self.assertEqual(ws_rows[0]["meta"]["path"], "/mcp")

        stdio_rows = self.rows(stdio_route, 6)
        self.assertEqual({r["transport"] for r in stdio_rows}, {"stdio"})
        self.assert_paired(stdio_rows, "tools/call")
        progress = next(r for r in stdio_rows if r["method"] == "notifications/progress")
        call = next(r for r in stdio_rows if r["method"] == "tools/call" and r["kind"] == "request")
        self.assertEqual(progress["correlation_id"], call["correlation_id"])

        # 7. what was captured: the live tail, mcptap query and psql
        wait_until("the tail's lines", lambda: "ws-server" in open(tail_output.name).read())
        code, tail_text = self.stop_block(tail, tail_output, signal.SIGINT)
        self.assertEqual(code, 0, tail_text)
        self.assertRegex(tail_text, r"http-server .*request\s+initialize")
        self.assertRegex(tail_text, r"ws-server .*response\s+tools/call")

        query_text = self.run_block("query")
        self.assertRegex(query_text, r"http-server .*request\s+initialize\s+id=1")
        self.assertRegex(query_text, r"http-server .*response\s+initialize\s+id=1")

        psql_text = self.run_block("psql")
        for route, transport in (("http-server", "http"), ("ws-server", "websocket"),
                                 (stdio_route, "stdio")):
            self.assertRegex(psql_text, rf"{route}\s*\|\s*{transport}\s*\|")

        status_text = self.run_block("status")
        self.assertIn("http-server", status_text)
        self.assertRegex(status_text, r"http-server: capture off")
        self.assertRegex(status_text, r"http-server: capture on")
        routes = json.loads(http_get(admin + "/routes")[1])
        self.assertTrue(next(r for r in routes if r["name"] == "http-server")["capture"])

        # Ctrl-C/SIGTERM drains and exits 0, and the happy path logs no warning.
        code, log_text = self.stop_block(mcptap, mcptap_log, signal.SIGTERM)
        self.assertEqual(code, 0, log_text)
        noisy = [line for line in log_lines(log_text) if line.get("level") in ("warn", "error")]
        self.assertEqual(noisy, [], log_text)


if __name__ == "__main__":
    sys.argv[1:1] = ["-v"]
    unittest.main()
