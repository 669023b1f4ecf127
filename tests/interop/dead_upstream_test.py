"""A client whose upstream cannot be reached fails through mcptap as fast as it does without
it, with a connection error: the official MCP TypeScript SDK client (Streamable HTTP
connect) and a plain Node `fetch` POST (dead_upstream.mjs).

Two routes lead nowhere:
  refused   nothing listens at the upstream's port: the connect is refused at once.
  timed_out the upstream is a loopback listener with backlog 0 whose one accept-queue slot
            is taken by a connection nobody accepts; Linux drops every further SYN to it, so
            mcptap's connect stays pending until proxy.connect_timeout_ms (300 ms here).
            Nothing leaves the machine.

Direct, each attempt fails with ECONNREFUSED within milliseconds. Through mcptap the
client's own connect succeeds; mcptap must then reset it (not close it with a FIN, which
Node's fetch met by waiting for an answer forever), so each attempt fails with
"fetch failed" caused by ECONNRESET, well within 2 s.
"""
import json
import os
import select
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import ClosedPort, Mcptap, unique_name  # noqa: E402
from interop_test import node_executable  # noqa: E402

CONNECT_TIMEOUT_MS = 300
FAST_S = 2.0
# How long dead_upstream.mjs waits for an attempt before reporting it as never settled.
GIVE_UP_MS = 15000
ATTEMPTS = ("fetch", "sdk")


class SaturatedListener:
    """A loopback listener that never completes another connect (see the module doc)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = [self._connect() for _ in range(4)]

    def _connect(self):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", self.port))
        return client

    def drops_connects(self):
        """True when one more connect really stays pending."""
        probe = self._connect()
        try:
            _, writable, _ = select.select([], [probe], [], 0.2)
            return not writable
        finally:
            probe.close()

    def close(self):
        for client in self.fillers:
            client.close()
        self.sock.close()


def attempt_both(base_url):
    """dead_upstream.mjs against base_url: {"fetch": outcome, "sdk": outcome}."""
    done = subprocess.run(
        [node_executable(), "dead_upstream.mjs", "--url", base_url, "--give-up-ms", str(GIVE_UP_MS)],
        cwd=HERE, capture_output=True, text=True, timeout=2 * GIVE_UP_MS / 1000 + 30)
    if done.returncode != 0:
        raise RuntimeError(f"dead_upstream.mjs exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def route_counters(tap):
    """Each route's counters from the admin API, by route name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{tap.admin_port}/routes", timeout=10) as response:
        return {route["name"]: route for route in json.load(response)}


def settled_route_counters(tap, timeout=10.0):
    """route_counters once no route has a connection open."""
    deadline = time.time() + timeout
    while True:
        counters = route_counters(tap)
        if all(c["connections_open"] == 0 for c in counters.values()) or time.time() > deadline:
            return counters
        time.sleep(0.05)


class DeadUpstreamTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.refused, cls.timed_out = unique_name("dead_refused"), unique_name("dead_timeout")
        closed = ClosedPort()  # held until the end: nothing can start listening there
        port = closed.port
        blackhole = SaturatedListener()
        try:
            cls.blackhole_drops = blackhole.drops_connects()
            cls.direct = attempt_both(f"http://127.0.0.1:{port}")
            tap = Mcptap([{"name": cls.refused, "upstream": f"127.0.0.1:{port}"},
                          {"name": cls.timed_out, "upstream": f"127.0.0.1:{blackhole.port}"}],
                         extra={"proxy": {"connect_timeout_ms": CONNECT_TIMEOUT_MS}})
            try:
                tap.start()
                # The harness's readiness probe connected once already: count from when its
                # session is over.
                cls.routes_before = settled_route_counters(tap)
                cls.through = {route: attempt_both(f"http://127.0.0.1:{tap.ports[route]}")
                               for route in (cls.refused, cls.timed_out)}
                cls.routes = route_counters(tap)
                for name, outcomes in (("direct", cls.direct), ("refused", cls.through[cls.refused]),
                                       ("timed_out", cls.through[cls.timed_out])):
                    print(f"{name}: " + ", ".join(
                        f"{attempt} {outcomes[attempt]['elapsed_ms']} ms" for attempt in ATTEMPTS),
                        file=sys.stderr)
                cls.exit_code = tap.stop()
                cls.log = tap.log()
            finally:
                tap.close()
        finally:
            blackhole.close()
            closed.close()

    def report(self, outcome):
        return json.dumps(outcome, indent=2) + "\nmcptap log:\n" + self.log

    def assert_fails_fast_with(self, outcome, code, at_least_s=0.0):
        self.assertTrue(outcome["settled"], "the attempt never settled: " + self.report(outcome))
        self.assertFalse(outcome["ok"], self.report(outcome))
        errors = outcome["errors"]
        self.assertEqual(errors[0]["message"], "fetch failed", self.report(outcome))
        self.assertEqual(errors[-1]["code"], code, self.report(outcome))
        self.assertLess(outcome["elapsed_ms"] / 1000, FAST_S, self.report(outcome))
        self.assertGreaterEqual(outcome["elapsed_ms"] / 1000, at_least_s, self.report(outcome))

    def test_direct_attempts_are_refused_fast(self):
        for attempt in ATTEMPTS:
            with self.subTest(attempt=attempt):
                self.assert_fails_fast_with(self.direct[attempt], "ECONNREFUSED")

    def test_refused_upstream_resets_fetch_and_sdk_fast(self):
        for attempt in ATTEMPTS:
            with self.subTest(attempt=attempt):
                self.assert_fails_fast_with(self.through[self.refused][attempt], "ECONNRESET")

    def test_connect_timeout_resets_fetch_and_sdk_fast(self):
        self.assertTrue(self.blackhole_drops, "a connect to a full accept queue was answered")
        for attempt in ATTEMPTS:
            with self.subTest(attempt=attempt):
                self.assert_fails_fast_with(self.through[self.timed_out][attempt], "ECONNRESET",
                                            at_least_s=CONNECT_TIMEOUT_MS / 1000 * 0.9)

    def test_each_attempt_is_one_counted_connect_failure(self):
        for route, error in ((self.refused, "ECONNREFUSED"), (self.timed_out, "ETIMEDOUT")):
            with self.subTest(route=route):
                before, counters = self.routes_before[route], self.routes[route]
                for counter in ("connections_total", "upstream_connect_failures"):
                    self.assertEqual(counters[counter] - before[counter], len(ATTEMPTS), counters)
                self.assertEqual(counters["connections_open"], 0, counters)
                self.assertEqual(counters["bytes_client_to_server"], 0, counters)
                self.assertIn(f'"error":"{error}"', self.log)

    def test_sigterm_exits_zero(self):
        self.assertEqual(self.exit_code, 0, self.log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
