"""The capture budget through the real binary, into a real PostgreSQL: a client that sends as
fast as it can is forwarded in full while capture keeps to `max_messages_per_second` (the
`capture` default) or a route's own `limits.max_bytes_per_second`; whole exchanges are left
out, counted in mcptap_capture_budget_skipped_total and logged at a bounded rate; `mcptap
status` shows the captured rates; a SIGHUP with a new budget applies it."""
import json
import signal
import socket
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import Mcptap, log_lines, route_rows, unique_name, wait_for_rows
from raw_wire import NdjsonUpstream

MESSAGES_PER_SECOND = 20
BYTES_PER_SECOND = 4000
BURST_SECONDS = 2.0


def echo_params(message):
    """The answer to every request: a result echoing its params."""
    return {"jsonrpc": "2.0", "id": message["id"], "result": {"echo": message["params"]}}


def exchange_burst(port, seconds, first_id):
    """One connection, one request at a time, as fast as answers come, for `seconds`.
    Returns (requests sent, answers received in order, elapsed seconds)."""
    sent = 0
    answered = 0
    with socket.create_connection(("127.0.0.1", port)) as sock, sock.makefile("rb") as replies:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            request_id = first_id + sent
            request = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"n": request_id}}}
            sock.sendall(json.dumps(request).encode() + b"\n")
            sent += 1
            reply = json.loads(replies.readline())
            if reply.get("id") == request_id and reply["result"]["echo"]["arguments"]["n"] == request_id:
                answered += 1
        elapsed = time.monotonic() - started
    return sent, answered, elapsed


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


class BudgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = NdjsonUpstream(echo_params)
        upstream = f"127.0.0.1:{cls.server.port}"
        cls.messages_route = unique_name("budget")
        cls.bytes_route = unique_name("budget_bytes")
        cls.tap = Mcptap(
            [{"name": cls.messages_route, "upstream": upstream},
             {"name": cls.bytes_route, "upstream": upstream,
              "limits": {"max_messages_per_second": 0, "max_bytes_per_second": BYTES_PER_SECOND}}],
            extra={"capture": {"max_messages_per_second": MESSAGES_PER_SECOND}}).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.tap.stop_and_close()
        cls.server.close()
        assert code == 0, f"mcptap exited {code}"

    def skipped_metric(self, route):
        url = f"http://127.0.0.1:{self.tap.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            families = text_string_to_metric_families(response.read().decode())
            family = next(f for f in families if f.name == "mcptap_capture_budget_skipped")
        return int(next(s.value for s in family.samples if s.labels == {"route": route}))

    def route_status(self, route):
        status = admin_json(self.tap.admin_port, "/status")
        return next(r for r in status["routes"] if r["name"] == route)

    def settled_rows(self, route, sent):
        """The route's rows once every exchange is accounted for: each one sent is either
        skipped (counted) or captured as a request and its answer."""
        deadline = time.time() + 30
        while True:
            skipped = self.skipped_metric(route)
            rows = route_rows(route)
            if len(rows) >= 2 * (sent - skipped) or time.time() > deadline:
                return rows, skipped
            time.sleep(0.2)

    def assert_whole_exchanges(self, rows):
        requests = {r["correlation_id"] for r in rows if r["kind"] == "request"}
        answers = {r["correlation_id"] for r in rows if r["kind"] == "response"}
        self.assertEqual(len(requests) + len(answers), len(rows))
        self.assertNotIn(None, requests)
        self.assertEqual(requests, answers, "a request captured without its answer, or the reverse")

    def test_1_message_budget_from_the_capture_default(self):
        route = self.messages_route
        sent, answered, elapsed = exchange_burst(self.tap.ports[route], BURST_SECONDS, 1)
        self.assertEqual(answered, sent, "forwarding lost or garbled answers")
        self.assertGreater(sent, 10 * MESSAGES_PER_SECOND * BURST_SECONDS, "the burst was not a burst")
        rows, skipped = self.settled_rows(route, sent)
        self.assert_whole_exchanges(rows)
        # The burst (one second's worth) and the rate; plus the one answer that may be owed
        # when a kept request's answer comes with the bucket empty.
        bound = MESSAGES_PER_SECOND * elapsed + MESSAGES_PER_SECOND + 1
        self.assertLessEqual(len(rows), bound)
        self.assertGreaterEqual(len(rows), MESSAGES_PER_SECOND)  # at least the burst
        self.assertEqual(skipped, sent - len(rows) // 2)
        warnings = [line for line in log_lines(self.tap.log())
                    if line.get("msg", line.get("message", "")).startswith("capture budget exceeded")
                    and line.get("route") == route]
        self.assertGreaterEqual(len(warnings), 1)
        self.assertLessEqual(len(warnings), 2)  # one per 10 s at most

        # What status shows: the captured rate over its window, per day, and the budget.
        captured = self.route_status(route)
        rate = captured["capture_rate"]
        self.assertEqual(captured["capture_budget"]["max_messages_per_second"], MESSAGES_PER_SECOND)
        self.assertEqual(captured["capture_budget_skipped"], skipped)
        self.assertGreater(rate["rows_per_second"], 0)
        self.assertLessEqual(rate["rows_per_second"] * rate["window_s"], len(rows) + 0.5)
        self.assertAlmostEqual(rate["rows_per_day"], rate["rows_per_second"] * 86400, delta=1)
        self.assertAlmostEqual(rate["gb_per_day"], rate["bytes_per_second"] * 86400 / 1e9, delta=1e-6)
        shown = self.tap.cli("status")
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn("capture over the last", shown.stdout)
        line = next(l for l in shown.stdout.splitlines() if l.startswith(route + " ") and "msg/s" in l)
        self.assertIn(f"{MESSAGES_PER_SECOND} msg/s", line)
        self.assertTrue(line.rstrip().endswith(str(skipped)), line)

    def test_2_byte_budget_of_the_route_itself(self):
        route = self.bytes_route
        sent, answered, elapsed = exchange_burst(self.tap.ports[route], BURST_SECONDS, 1)
        self.assertEqual(answered, sent)
        rows, skipped = self.settled_rows(route, sent)
        self.assert_whole_exchanges(rows)
        self.assertGreater(skipped, 0)
        largest = max(r["payload_bytes"] for r in rows)
        captured_bytes = sum(r["payload_bytes"] for r in rows)
        self.assertLessEqual(captured_bytes, BYTES_PER_SECOND * (elapsed + 1) + largest)
        self.assertGreaterEqual(captured_bytes, BYTES_PER_SECOND)
        self.assertEqual(self.route_status(route)["capture_budget"],
                         {"max_messages_per_second": 0, "max_bytes_per_second": BYTES_PER_SECOND})

    def test_3_sighup_applies_a_new_budget(self):
        route = self.messages_route
        before = self.skipped_metric(route)
        rows_before = len(route_rows(route))
        config = self.tap.read_config()
        for entry in config["routes"]:
            if entry["name"] == route:
                entry["limits"] = {"max_messages_per_second": 0}  # this route: no limit
        self.tap.write_config(config)
        self.tap.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.route_status(route)["capture_budget"]["max_messages_per_second"] != 0:
            self.assertLess(time.time(), deadline, "the reload did not apply the new budget")
            time.sleep(0.05)
        sent, answered, _ = exchange_burst(self.tap.ports[route], 0.5, 1000000)
        self.assertEqual(answered, sent)
        self.assertGreater(sent, 2 * MESSAGES_PER_SECOND)  # far past the old budget
        rows = wait_for_rows(route, rows_before + 2 * sent, timeout=30)
        self.assertEqual(self.skipped_metric(route), before)  # nothing more left out
        self.assertEqual(len(rows), rows_before + 2 * sent)
        self.assert_whole_exchanges(rows)


if __name__ == "__main__":
    unittest.main()
