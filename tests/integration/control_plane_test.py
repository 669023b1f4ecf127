"""The control plane with real peers: capture switched through the CLI while a client keeps
sending on one open connection, the admin API's refusals, Prometheus metrics, SIGHUP
adding and removing a route under traffic, and the tail, query and diff subcommands."""
import asyncio
import json
import queue
import os
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import websockets
from prometheus_client.parser import text_string_to_metric_families

from harness import (Mcptap, free_port, pg_url, route_rows, unique_name, wait_for_port,
                     wait_for_rows)
from ws_backend import Backend

TOKEN = "admin-token-for-tests"


def call(text):
    return json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": text}}})


async def send_calls(ws, texts):
    """Sends calls one after another, checking each answer; returns the answers' texts."""
    answers = []
    for text in texts:
        await ws.send(call(text))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        answers.append(answer["result"]["content"][0]["text"])
    return answers


def admin_post(port, path, body, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def admin_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def rpc_texts(rows, kind):
    texts = []
    for row in rows:
        if row["kind"] != kind or not row["payload"]:
            continue
        if kind == "request":
            texts.append(row["payload"]["params"]["arguments"]["text"])
        else:
            texts.append(row["payload"]["result"]["content"][0]["text"])
    return texts


class ControlPlaneTest(unittest.TestCase):
    """Each test runs its own mcptap with a route of its own, so none depends on another
    having run first; the echo backend is stateless and shared."""

    @classmethod
    def setUpClass(cls):
        cls.backend = Backend().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.backend.__exit__()

    def setUp(self):
        self.route = unique_name("cp")
        self.tap = Mcptap([{"name": self.route, "upstream": f"127.0.0.1:{self.backend.port}"}],
                          env={"MCPTAP_ADMIN_TOKEN": TOKEN}).start()
        self.addCleanup(self.tap.close)
        self.url = f"ws://127.0.0.1:{self.tap.ports[self.route]}/mcp"

    def send_traffic(self, texts):
        """Calls through the route on one connection; returns once PostgreSQL holds every
        request and response (so the sink is up and the counters include them)."""
        async def scenario():
            async with websockets.connect(self.url) as ws:
                self.assertEqual(await send_calls(ws, texts), texts)

        self.run_async(scenario())
        wait_for_rows(self.route, 2 * len(texts), timeout=30)

    def run_async(self, coroutine):
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            loop.close()

    def test_1_capture_switched_by_the_cli_on_an_open_connection(self):
        on_before = [f"on-before-{i}" for i in range(10)]
        off = [f"off-{i}" for i in range(10)]
        on_after = [f"on-after-{i}" for i in range(10)]

        async def scenario():
            async with websockets.connect(self.url) as ws:
                self.assertEqual(await send_calls(ws, on_before), on_before)
                result = self.tap.cli("capture", "off", self.route)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(await send_calls(ws, off), off)  # forwarding untouched
                result = self.tap.cli("capture", "on", self.route)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(await send_calls(ws, on_after), on_after)

        self.run_async(scenario())
        deadline = time.time() + 10
        while time.time() < deadline:
            rows = route_rows(self.route)
            if len(rows) >= 40:
                break
            time.sleep(0.1)
        self.assertEqual(rpc_texts(rows, "request"), on_before + on_after)
        self.assertEqual(rpc_texts(rows, "response"), on_before + on_after)
        self.assertEqual(len(rows), 40)

    def test_2_changes_need_the_token(self):
        result = self.tap.cli("capture", "off", self.route, env={"MCPTAP_ADMIN_TOKEN": ""})
        self.assertEqual(result.returncode, 1)
        self.assertIn("401", result.stderr + result.stdout)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        status, body = admin_post(self.tap.admin_port, f"/routes/{self.route}/capture",
                                  '{"enabled": false}', token="wrong")
        self.assertEqual((status, body["error"]), (401, "a valid bearer token is required"))
        _, routes = admin_get(self.tap.admin_port, "/routes")
        self.assertTrue(json.loads(routes)[0]["capture"], "a refused change changes nothing")

    def test_3_unknown_route_and_bad_bodies(self):
        status, body = admin_post(self.tap.admin_port, "/routes/nosuch/capture", '{"enabled": true}', TOKEN)
        self.assertEqual(status, 404)
        result = self.tap.cli("capture", "on", "nosuch")
        self.assertEqual(result.returncode, 1)
        self.assertIn("nosuch", result.stderr)
        for bad, reason in [("not json", "body must be a JSON object"),
                            ('{"enabled": "yes"}', '"enabled" must be true or false'),
                            ('{"enabled": true, "sample": 2}', '"sample" must be a number from 0 to 1'),
                            ('{"enabled": true, "methods": "tools/call"}', '"methods" must be an array of strings'),
                            ('{"enabled": true, "extra": 1}', 'unknown key "extra"')]:
            status, body = admin_post(self.tap.admin_port, f"/routes/{self.route}/capture", bad, TOKEN)
            self.assertEqual((status, body["error"]), (400, reason), bad)

    def test_4_metrics_parse_as_prometheus_text(self):
        self.send_traffic([f"metered-{i}" for i in range(20)])
        status, text = admin_get(self.tap.admin_port, "/metrics")
        self.assertEqual(status, 200)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in ["mcptap_bytes", "mcptap_messages", "mcptap_captured_messages",
                     "mcptap_dropped_messages", "mcptap_redacted_messages", "mcptap_invalid_messages",
                     "mcptap_connections_open", "mcptap_watermark_pauses", "mcptap_spool_bytes",
                     "mcptap_spool_records", "mcptap_sink_batches", "mcptap_sink_lag_seconds",
                     "mcptap_postgres_up", "mcptap_request_latency_seconds"]:
            self.assertIn(name, families, name)
        captured = next(s for s in families["mcptap_captured_messages"].samples
                        if s.labels.get("route") == self.route)
        self.assertGreaterEqual(captured.value, 40)
        latency = [s for s in families["mcptap_request_latency_seconds"].samples
                   if s.name.endswith("_count") and s.labels == {"route": self.route, "method": "tools/call"}]
        self.assertEqual(len(latency), 1)
        self.assertGreaterEqual(latency[0].value, 20)
        self.assertEqual(next(s for s in families["mcptap_postgres_up"].samples).value, 1)

    def test_5_sighup_adds_and_removes_a_route_under_traffic(self):
        second = unique_name("cp2")
        second_port = free_port()
        original = self.tap.read_config()
        added = json.loads(json.dumps(original))
        added["routes"].append({"name": second, "listen": f"127.0.0.1:{second_port}",
                                "upstream": f"127.0.0.1:{self.backend.port}"})

        async def scenario():
            async with websockets.connect(self.url) as ws:  # stays open across both reloads
                self.tap.write_config(added)
                self.tap.process.send_signal(signal.SIGHUP)
                wait_for_port(second_port)
                async with websockets.connect(f"ws://127.0.0.1:{second_port}/mcp") as ws2:
                    self.assertEqual(await send_calls(ws2, ["via-second"]), ["via-second"])
                self.assertEqual(await send_calls(ws, ["first-still-works"]), ["first-still-works"])
                self.tap.write_config(original)
                self.tap.process.send_signal(signal.SIGHUP)
                deadline = time.time() + 5
                while time.time() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", second_port), timeout=0.5).close()
                        time.sleep(0.05)
                    except OSError:
                        break
                else:
                    self.fail("the removed route still accepts connections")
                self.assertEqual(await send_calls(ws, ["after-removal"]), ["after-removal"])
                # A broken configuration is refused and the running one stays.
                with open(self.tap.config_path, "w") as f:
                    f.write('{"routes": [{"name": "x"}]}')
                self.tap.process.send_signal(signal.SIGHUP)
                time.sleep(0.3)
                self.assertEqual(await send_calls(ws, ["after-bad-reload"]), ["after-bad-reload"])
                self.tap.write_config(original)

        self.run_async(scenario())
        self.assertIn("reload: configuration rejected", self.tap.log())
        _, routes = admin_get(self.tap.admin_port, "/routes")
        self.assertEqual([r["name"] for r in json.loads(routes)], [self.route])

    def wait_for_tail_streams(self, count):
        """Until /status counts `count` subscribers: a tail started late would miss lines."""
        deadline = time.time() + 30
        while time.time() < deadline:
            _, body = admin_get(self.tap.admin_port, "/status")
            if json.loads(body)["tail_streams"] == count:
                return
            time.sleep(0.05)
        self.fail(f"/status never counted {count} tail streams")

    def read_line(self, stream, timeout=30):
        """One line, or a failure after `timeout` (a missed line must not hang the test)."""
        if not hasattr(stream, "lines"):  # a thread per stream moves its lines to a queue
            stream.lines = queue.Queue()
            threading.Thread(target=lambda: [stream.lines.put(l) for l in stream], daemon=True).start()
        try:
            return stream.lines.get(timeout=timeout)
        except queue.Empty:
            self.fail("no tail line within the timeout")

    def test_6_tail_streams_captured_messages(self):
        # /tail streams captured content: the CLI sends the token from MCPTAP_ADMIN_TOKEN.
        tail = subprocess.Popen([self.tap.binary, "tail", "--route", self.route, "--json",
                                 "--admin", f"127.0.0.1:{self.tap.admin_port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.tap.env)
        try:
            self.wait_for_tail_streams(1)

            async def scenario():
                async with websockets.connect(self.url) as ws:
                    await send_calls(ws, ["tailed-1", "tailed-2"])

            self.run_async(scenario())
            lines = [json.loads(self.read_line(tail.stdout)) for _ in range(4)]
        finally:
            tail.send_signal(signal.SIGINT)
            tail.wait(10)
        self.assertEqual([(l["direction"], l["kind"], l["method"]) for l in lines],
                         [("client_to_server", "request", "tools/call"),
                          ("server_to_client", "response", "tools/call")] * 2)
        self.assertEqual(lines[0]["correlation_id"], lines[1]["correlation_id"])
        self.assertIsNotNone(lines[1]["latency_us"])

        self.wait_for_tail_streams(0)
        refused = self.tap.cli("tail", "--route", self.route, env={"MCPTAP_ADMIN_TOKEN": ""})
        self.assertEqual(refused.returncode, 1)
        self.assertIn("401", refused.stderr)
        self.assertIn("MCPTAP_ADMIN_TOKEN", refused.stderr)
        human = subprocess.Popen([self.tap.binary, "tail", "--route", self.route,
                                  "--admin", f"127.0.0.1:{self.tap.admin_port}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=self.tap.env)
        try:
            self.wait_for_tail_streams(1)

            async def one_more():
                async with websockets.connect(self.url) as ws:
                    await send_calls(ws, ["tailed-3"])

            self.run_async(one_more())
            first, second = self.read_line(human.stdout), self.read_line(human.stdout)
        finally:
            human.send_signal(signal.SIGINT)
            human.wait(10)
        self.assertIn(self.route, first)
        self.assertIn("→", first)
        self.assertIn("tools/call", first)
        self.assertIn("←", second)

    def captured_messages(self):
        """What the route has handed to the sink, from its /metrics counter."""
        _, text = admin_get(self.tap.admin_port, "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return next(s.value for s in families["mcptap_captured_messages"].samples
                    if s.labels.get("route") == self.route)

    def test_7_query_and_diff(self):
        self.send_traffic(["queried-1", "queried-2"])
        captured = self.captured_messages()
        self.assertEqual(len(wait_for_rows(self.route, captured, timeout=30)), captured)
        env = dict(os.environ, MCPTAP_PG_URL=pg_url())
        result = subprocess.run([self.tap.binary, "query", "--route", self.route, "--json"],
                                capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        self.assertEqual(len(rows), len(route_rows(self.route)))
        timeline = subprocess.run([self.tap.binary, "query", "--route", self.route, "--method", "tools/call"],
                                  capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(timeline.returncode, 0, timeline.stderr)
        self.assertIn("tools/call", timeline.stdout)
        requests = [r for r in rows if r["kind"] == "request"]
        diff = subprocess.run([self.tap.binary, "diff", requests[0]["id"], requests[1]["id"]],
                              capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(diff.returncode, 0, diff.stderr)
        self.assertIn("params.arguments.text", diff.stdout)
        bad = subprocess.run([self.tap.binary, "query", "--since", "soon"],
                             capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(len(bad.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
