"""What people see of a conversation, through the real binary in front of a real WebSocket
backend: a call's progress notifications under it in `mcptap query`, `--limit` counting
exchanges, `--operation` finding a plain exchange, and a tool failure (result.isError) shown as one in `query`, `tail` and `diff`,
and recorded as meta.tool_error in PostgreSQL."""
import asyncio
import json
import os
import queue
import signal
import subprocess
import threading
import time
import unittest
import urllib.request

import websockets

from harness import Mcptap, pg_url, unique_name, wait_for_rows
from ws_backend import Backend

FAILURE_TEXT = "could not open /srv/reports/q3.csv: permission denied for user reports"
PROGRESS_STEPS = 3
ECHO_CALLS = 3


async def handle(ws, path=None):
    """tools/call "slow" reports progress before answering, "fail" fails the MCP way (a
    result with isError), anything else echoes."""
    async for text in ws:
        message = json.loads(text)
        if "id" not in message or "method" not in message:
            continue
        params = message.get("params") or {}
        name = params.get("name")
        if name == "slow":
            token = params["_meta"]["progressToken"]
            for step in range(1, PROGRESS_STEPS + 1):
                await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                          "params": {"progressToken": token, "progress": step,
                                                     "total": PROGRESS_STEPS}}))
                await asyncio.sleep(0.01)
            result = {"content": [{"type": "text", "text": "slow done"}]}
        elif name == "fail":
            result = {"content": [{"type": "text", "text": FAILURE_TEXT}], "isError": True}
        else:
            result = {"content": [{"type": "text", "text": params.get("arguments", {}).get("text", "")}],
                      "isError": False}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}))


def call(mid, name, **params):
    return json.dumps({"jsonrpc": "2.0", "id": mid, "method": "tools/call",
                       "params": dict(name=name, arguments={"text": f"call {mid}"}, **params)})


async def conversation(url):
    """A failing call, a few echoes, then a call with progress, each awaited in turn."""
    async with websockets.connect(url) as ws:
        async def answer():
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if "id" in message:
                    return message

        await ws.send(call(1, "fail"))
        failed = await answer()
        for i in range(ECHO_CALLS):
            await ws.send(call(10 + i, "echo"))
            await answer()
        await ws.send(call(20, "slow", _meta={"progressToken": "p-20"}))
        slow = await answer()
        return failed, slow


class TimelineTest(unittest.TestCase):
    # One failing exchange, the echoes, then a request with its progress and answer.
    EXPECTED_ROWS = 2 + 2 * ECHO_CALLS + 2 + PROGRESS_STEPS

    @classmethod
    def setUpClass(cls):
        cls.backend = Backend(handler=handle).__enter__()
        cls.route = unique_name("timeline")
        cls.tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{cls.backend.port}"}]).start()
        cls.env = dict(os.environ, MCPTAP_PG_URL=pg_url())
        # The tail listens before any traffic, so it sees every message.
        cls.tail = subprocess.Popen([cls.tap.binary, "tail", "--route", cls.route,
                                     "--admin", f"127.0.0.1:{cls.tap.admin_port}"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cls.wait_for_tail_stream()
        cls.failed, cls.slow = asyncio.run(conversation(f"ws://127.0.0.1:{cls.tap.ports[cls.route]}/mcp"))
        cls.tail_lines = cls.read_tail_lines(cls.EXPECTED_ROWS)
        cls.tail.send_signal(signal.SIGINT)
        cls.tail.wait(10)
        cls.rows = wait_for_rows(cls.route, cls.EXPECTED_ROWS, timeout=30)

    @classmethod
    def tearDownClass(cls):
        if cls.tail.poll() is None:
            cls.tail.kill()
            cls.tail.wait()
        cls.tap.close()
        cls.backend.__exit__(None, None, None)

    @classmethod
    def wait_for_tail_stream(cls):
        deadline = time.time() + 30
        while time.time() < deadline:
            url = f"http://127.0.0.1:{cls.tap.admin_port}/status"
            with urllib.request.urlopen(url, timeout=10) as response:
                if json.loads(response.read())["tail_streams"] == 1:
                    return
            time.sleep(0.05)
        raise AssertionError("the tail never subscribed")

    @classmethod
    def read_tail_lines(cls, count, timeout=30):
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in cls.tail.stdout],
                         daemon=True).start()
        got = []
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            try:
                got.append(lines.get(timeout=max(0.1, deadline - time.time())))
            except queue.Empty:
                break
        return got

    def mcptap(self, *args):
        result = subprocess.run([self.tap.binary, *args], capture_output=True, text=True,
                                env=self.env, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def timeline(self, *args):
        return self.mcptap("query", "--route", self.route, *args).splitlines()

    def row(self, kind, jsonrpc_id):
        return next(r for r in self.rows if r["kind"] == kind and r["jsonrpc_id"] == jsonrpc_id)

    def test_1_everything_was_captured_and_answered(self):
        self.assertEqual(len(self.rows), self.EXPECTED_ROWS)
        self.assertTrue(self.failed["result"]["isError"])
        self.assertEqual(self.slow["result"]["content"][0]["text"], "slow done")

    def test_2_meta_tool_error_is_recorded_on_the_failed_answer_only(self):
        flagged = [r for r in self.rows if r["meta"].get("tool_error")]
        self.assertEqual([(r["kind"], r["jsonrpc_id"]) for r in flagged], [("response", "1")])
        self.assertIs(flagged[0]["meta"]["tool_error"], True)
        # The echoes answer with "isError": false: not a failure.
        self.assertFalse(self.row("response", "10")["meta"].get("tool_error", False))
        json_rows = [json.loads(l) for l in self.mcptap("query", "--route", self.route, "--json").splitlines()]
        self.assertEqual(len(json_rows), self.EXPECTED_ROWS)
        self.assertEqual([r["meta"]["tool_error"] for r in json_rows if "tool_error" in r["meta"]], [True])

    def test_3_progress_is_printed_under_its_request_before_the_answer(self):
        lines = self.timeline()
        self.assertEqual(len(lines), self.EXPECTED_ROWS, "\n".join(lines))
        start = next(i for i, l in enumerate(lines) if "request" in l and "id=20" in l)
        under = lines[start + 1:start + 2 + PROGRESS_STEPS]
        self.assertEqual(len(under), PROGRESS_STEPS + 1, "\n".join(lines))
        for line in under[:PROGRESS_STEPS]:
            self.assertTrue(line.startswith("  ↳ "), line)
            self.assertIn("notifications/progress", line)
        self.assertTrue(under[-1].startswith("  ↳ "), under[-1])
        self.assertIn("response", under[-1])
        self.assertIn("id=20", under[-1])

    def test_4_limit_counts_exchanges(self):
        # The newest exchange alone: the request, its progress, its answer; never the answer
        # alone, as the newest row would be.
        one = self.timeline("--limit", "1")
        self.assertEqual(len(one), 2 + PROGRESS_STEPS, "\n".join(one))
        self.assertIn("request", one[0])
        self.assertIn("id=20", one[0])
        self.assertFalse(one[0].startswith("  ↳ "))
        # The limit falls between two exchanges, whatever their sizes.
        for limit in range(2, 2 + ECHO_CALLS):
            lines = self.timeline("--limit", str(limit))
            self.assertEqual(len(lines), 2 * (limit - 1) + 2 + PROGRESS_STEPS, "\n".join(lines))
            self.assertIn("request", lines[0])
            self.assertFalse(lines[0].startswith("  ↳ "))
        json_rows = [json.loads(l) for l in self.mcptap("query", "--route", self.route, "--json",
                                                         "--limit", "2").splitlines()]
        self.assertEqual(json_rows[0]["kind"], "request")
        self.assertEqual(len(json_rows), 2 + 2 + PROGRESS_STEPS)

    def test_5_query_shows_the_tool_failure(self):
        lines = self.timeline()
        answer = next(l for l in lines if "response" in l and "id=1 " in l)
        self.assertTrue(answer.startswith("  ↳ "), answer)
        self.assertTrue(answer.endswith("tool error: " + FAILURE_TEXT[:60] + "..."), answer)
        for line in lines:
            if line is not answer:
                self.assertNotIn("error", line)

    def test_6_tail_shows_the_tool_failure(self):
        self.assertEqual(len(self.tail_lines), self.EXPECTED_ROWS, "\n".join(self.tail_lines))
        marked = [l for l in self.tail_lines if "tool error" in l]
        self.assertEqual(len(marked), 1, "\n".join(self.tail_lines))
        self.assertIn("response", marked[0])
        self.assertIn("id=1 ", marked[0])
        self.assertTrue(marked[0].endswith("tool error"), marked[0])

    def test_7_diff_names_the_side_that_failed(self):
        failed, succeeded = self.row("response", "1")["id"], self.row("response", "10")["id"]
        lines = self.mcptap("diff", failed, succeeded).splitlines()
        self.assertEqual(lines[0], "tool error: the first message, not the second")
        self.assertIn("~ result.isError: true → false", lines)
        lines = self.mcptap("diff", succeeded, failed).splitlines()
        self.assertEqual(lines[0], "tool error: the second message, not the first")

    def test_8_an_exchange_is_an_operation_of_one_request(self):
        """`--operation` takes a plain call's id (its correlation id, which a request that
        starts an operation gives it) and prints its exchange as `--correlation` does; every
        `--json` row carries operation_id, null or that id."""
        request = self.row("request", "20")
        by_operation = self.mcptap("query", "--operation", request["correlation_id"])
        by_correlation = self.mcptap("query", "--correlation", request["correlation_id"])
        self.assertEqual(by_operation, by_correlation)
        lines = by_operation.splitlines()
        self.assertEqual(len(lines), 2 + PROGRESS_STEPS, by_operation)
        self.assertNotIn("operation", by_operation)
        self.assertTrue(lines[0].endswith("id=20"), lines[0])
        json_rows = [json.loads(l) for l in self.mcptap("query", "--route", self.route, "--json").splitlines()]
        for row in json_rows:
            self.assertIn("operation_id", row)
            if row["operation_id"] is not None:
                self.assertEqual(row["operation_id"], row["correlation_id"], row)
        result = subprocess.run([self.tap.binary, "query", "--operation", "20"], capture_output=True,
                                text=True, env=self.env, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr, 'mcptap: query: --operation: expected a UUID, got "20"\n')


if __name__ == "__main__":
    unittest.main(verbosity=2)
