"""Which metrics count while capture is off, through a running mcptap: forwarded bytes are
counted, JSON-RPC messages are not (they are not parsed then), and each route metric's HELP
line says which it is. Switching capture on shows the message counter does work."""
import json
import socket
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import Mcptap, unique_name
from raw_wire import EchoUpstream

CALLS = 10
# Families whose HELP says how they behave while capture is off (the sink's are process-wide
# and move only with captured records). prometheus_client drops a counter's "_total".
ROUTE_FAMILIES = [
    "mcptap_connections_open", "mcptap_connections", "mcptap_captured_messages",
    "mcptap_dropped_messages", "mcptap_redacted_messages", "mcptap_invalid_messages",
    "mcptap_filtered_messages", "mcptap_watermark_pauses", "mcptap_upstream_connect_failures",
    "mcptap_connections_rejected", "mcptap_idle_timeouts", "mcptap_accept_pauses",
    "mcptap_capture_enabled", "mcptap_bytes", "mcptap_messages", "mcptap_request_latency_seconds",
    "mcptap_admin_stream_cutoffs", "mcptap_capture_budget_skipped", "mcptap_correlation_evictions",
    "mcptap_correlation_sessions", "mcptap_correlation_bytes", "mcptap_operation_evictions",
    "mcptap_operations", "mcptap_operation_bytes", "mcptap_operation_unlinked",
    "mcptap_header_mismatch",
]


def call(n):
    return (json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                        "params": {"name": "echo", "arguments": {"text": f"call-{n}"}}}) + "\n").encode()


class MetricsWhileCaptureIsOffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("mhelp")
        cls.upstream = EchoUpstream()
        cls.tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{cls.upstream.port}",
                           "capture": False}]).start()

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        cls.upstream.close()

    def scrape(self):
        url = f"http://127.0.0.1:{self.tap.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return {f.name: f for f in text_string_to_metric_families(response.read().decode())}

    def value(self, families, name, **labels):
        wanted = dict(labels, route=self.route)
        return next(s.value for s in families[name].samples if s.labels == wanted)

    def directions(self, families, name):
        return [self.value(families, name, direction=d) for d in ("client_to_server", "server_to_client")]

    def converse(self):
        """CALLS JSON-RPC lines through the route, each echoed back; the bytes sent."""
        sent = b""
        with socket.create_connection(("127.0.0.1", self.tap.ports[self.route]), timeout=10) as conn:
            reader = conn.makefile("rb")
            for n in range(1, CALLS + 1):
                conn.sendall(call(n))
                self.assertEqual(reader.readline(), call(n))
                sent += call(n)
        return len(sent)

    def test_1_bytes_count_messages_do_not_while_capture_is_off(self):
        before = self.scrape()
        self.assertEqual(self.value(before, "mcptap_capture_enabled"), 0)
        bytes_before = self.directions(before, "mcptap_bytes")
        messages_before = self.directions(before, "mcptap_messages")
        connections_before = self.value(before, "mcptap_connections")

        size = self.converse()

        after = self.scrape()
        self.assertEqual(self.directions(after, "mcptap_bytes"), [b + size for b in bytes_before])
        self.assertEqual(self.directions(after, "mcptap_messages"), messages_before)
        self.assertEqual(self.value(after, "mcptap_captured_messages"), 0)
        self.assertEqual(self.value(after, "mcptap_connections"), connections_before + 1)

    def test_2_help_says_which_metrics_count_while_capture_is_off(self):
        families = self.scrape()
        self.assertIn("not parsed", families["mcptap_messages"].documentation)
        self.assertIn("Not counted while capture is off", families["mcptap_messages"].documentation)
        self.assertIn("counted while capture is off too", families["mcptap_bytes"].documentation)
        for name in ROUTE_FAMILIES:
            self.assertIn("capture is off", families[name].documentation, name)

    def test_3_messages_count_once_capture_is_on(self):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.tap.admin_port}/routes/{self.route}/capture",
            data=b'{"enabled": true}', method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(response.status, 200)
        before = self.directions(self.scrape(), "mcptap_messages")
        self.converse()
        self.assertEqual(self.directions(self.scrape(), "mcptap_messages"), [m + CALLS for m in before])


if __name__ == "__main__":
    unittest.main(verbosity=2)
