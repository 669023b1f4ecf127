"""Nothing lost: live WebSocket traffic through mcptap while its PostgreSQL is down for
seconds, while mcptap itself is killed with SIGKILL and restarted on the same spool, and
while its spool sits on a filesystem that fills up. Each test runs its own throwaway
cluster (tests/support/pg_cluster.py) so that it can halt and resume it."""
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets

from harness import HERE, Mcptap, log_lines, poll, query_rows_at, unique_name
from ws_backend import Backend

sys.path.insert(0, os.path.join(HERE, "..", "support"))
import pg_cluster  # noqa: E402

SINK = {"flush_interval_ms": 20, "reconnect_initial_ms": 50, "reconnect_max_ms": 500}


class LoggingBackend(Backend):
    """An echo server that logs every text frame it received and every one it sent."""

    def __init__(self):
        super().__init__(handler=self._handle)
        self.received = []
        self.sent = []

    async def _handle(self, ws, path=None):
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                self.received.append(text)
                message = json.loads(text)
                reply = json.dumps({"jsonrpc": "2.0", "id": message["id"],
                                    "result": {"echo": message["params"]}})
                await ws.send(reply)
                self.sent.append(reply)


class Traffic:
    """A client thread: `pairs` requests at `rate` per second, each answered by the backend.
    Keeps what it received and the first error (a dropped connection ends it)."""

    def __init__(self, port, tag, pairs, rate=500, padding=0, first_id=0):
        self.uri = f"ws://127.0.0.1:{port}/mcp"
        self.tag, self.pairs, self.rate, self.padding, self.first_id = tag, pairs, rate, padding, first_id
        self.received = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def join(self, timeout=60):
        self.thread.join(timeout)
        return self

    def _run(self):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._talk())
        except Exception as error:  # noqa: BLE001 — any failure is the test's finding
            self.error = error
        finally:
            loop.close()

    async def _talk(self):
        async with websockets.connect(self.uri, max_size=None) as ws:
            async def receive():
                while len(self.received) < self.pairs:
                    self.received.append(await asyncio.wait_for(ws.recv(), 15))

            receiver = asyncio.ensure_future(receive())
            start = time.monotonic()
            for n in range(self.pairs):
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": self.first_id + n, "method": "tools/call",
                                          "params": {"name": "echo", "arguments": {
                                              "tag": self.tag, "n": self.first_id + n,
                                              "pad": "p" * self.padding}}}))
                ahead = start + (n + 1) / self.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                if receiver.done():
                    break
            await receiver


class OwnCluster:
    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="mcptap-durability-pg-")
        self.url = pg_cluster.start(self.state)

    def halt(self):
        pg_cluster.halt(self.state)

    def resume(self):
        pg_cluster.resume(self.state)

    def close(self):
        pg_cluster.stop(self.state)
        shutil.rmtree(self.state, ignore_errors=True)


def mount_tmpfs(size):
    """A tiny filesystem that fills up for real; None without the right to mount one."""
    mount_point = tempfile.mkdtemp(prefix="mcptap-tmpfs-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mount_point],
                      capture_output=True).returncode != 0:
        os.rmdir(mount_point)
        return None
    return mount_point


def unmount(mount_point):
    subprocess.run(["umount", mount_point], check=False)
    os.rmdir(mount_point)


def canonical(texts):
    return sorted(json.dumps(json.loads(t), sort_keys=True) for t in texts)


class OwnClusterTestCase(unittest.TestCase):
    """Tests that take their PostgreSQL down and bring it back: a cluster for the class."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = OwnCluster()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def rows(self, route):
        return query_rows_at(self.cluster.url,
                             "SELECT id, direction, payload FROM mcptap.messages WHERE route = $1", route)

    def wait_for_rows(self, route, count, timeout=30):
        return poll(lambda: self.rows(route), lambda rows: len(rows) >= count, timeout)


class DurabilityTest(OwnClusterTestCase):

    def assert_exactly_once(self, rows, expected_texts):
        ids = [r["id"] for r in rows]
        self.assertEqual(len(ids), len(set(ids)), "a row id appears twice")
        stored = canonical(json.dumps(r["payload"]) for r in rows)
        expected = canonical(expected_texts)
        missing = set(expected) - set(stored)
        self.assertFalse(missing, f"{len(missing)} messages missing, e.g. {sorted(missing)[:2]}")
        duplicates = len(stored) - len(set(stored))
        self.assertEqual(duplicates, 0, "a message is stored twice")

    def test_postgres_outage_during_live_traffic_loses_and_duplicates_nothing(self):
        route = unique_name("outage")
        with LoggingBackend() as backend, Mcptap(
                [{"name": route, "upstream": f"127.0.0.1:{backend.port}"}],
                extra={"sink": dict(SINK, postgres=self.cluster.url)}) as tap:
            traffic = Traffic(tap.ports[route], route, pairs=2000, rate=500).start()
            time.sleep(1.0)
            self.cluster.halt()
            time.sleep(3.0)  # about 1500 messages arrive while PostgreSQL is down
            self.cluster.resume()
            traffic.join()
            exit_code = tap.stop()
            log = tap.log()
        self.assertIsNone(traffic.error, "the client saw an error")
        self.assertEqual(len(traffic.received), 2000)
        self.assertEqual(exit_code, 0, log[-2000:])
        self.assertTrue(any(line.get("msg") == "writing to PostgreSQL failed; will retry"
                            or line.get("msg") == "cannot connect to PostgreSQL" for line in log_lines(log)),
                        "the outage was not noticed: the test proves nothing")
        rows = self.rows(route)
        self.assertEqual(len(rows), 4000)
        self.assertEqual(canonical(json.dumps(r["payload"]) for r in rows),
                         canonical(backend.received + backend.sent))
        self.assert_exactly_once(rows, backend.received + backend.sent)

    def test_sigkill_mid_traffic_then_restart_keeps_every_forwarded_message_once(self):
        route = unique_name("kill")
        spool_dir = tempfile.mkdtemp(prefix="mcptap-durability-spool-")
        try:
            with LoggingBackend() as backend:
                routes = [{"name": route, "upstream": f"127.0.0.1:{backend.port}"}]
                extra = {"sink": dict(SINK, postgres=self.cluster.url, spool_dir=spool_dir)}
                with Mcptap(routes, extra=extra) as tap:
                    traffic = Traffic(tap.ports[route], route, pairs=5000, rate=500).start()
                    time.sleep(1.5)
                    # PostgreSQL down first, so that a backlog is in the spool at the kill.
                    self.cluster.halt()
                    time.sleep(1.0)
                    tap.process.kill()
                    tap.process.wait()
                    traffic.join()
                self.assertIsNotNone(traffic.error, "the client should see its connection drop")
                self.cluster.resume()
                with Mcptap(routes, extra=extra) as restarted:
                    forwarded = backend.received + traffic.received
                    rows = self.wait_for_rows(route, len(forwarded))
                    exit_code = restarted.stop()
                    log = restarted.log()
            self.assertEqual(exit_code, 0, log[-2000:])
            self.assertTrue(any(line.get("msg", "").startswith("spool recovered") for line in log_lines(log)),
                            log[-2000:])
            self.assertGreater(len(backend.received), 500)
            # Every message the backend received, and every answer that reached the client,
            # passed mcptap whole: each is stored exactly once. Answers the backend sent
            # that mcptap had not read when it was killed never passed it.
            rows = self.rows(route)
            self.assert_exactly_once(rows, forwarded)
            self.assertLessEqual(set(canonical(json.dumps(r["payload"]) for r in rows)),
                                 set(canonical(backend.received + backend.sent)))
        finally:
            shutil.rmtree(spool_dir, ignore_errors=True)

    def test_spool_on_a_full_filesystem_drops_and_counts_and_traffic_goes_on(self):
        mount_point = mount_tmpfs("256k")
        if mount_point is None:
            self.skipTest("cannot mount a tmpfs (needs root); the spool unit tests cover EFBIG")
        route = unique_name("full")
        try:
            with LoggingBackend() as backend, Mcptap(
                    [{"name": route, "upstream": f"127.0.0.1:{backend.port}"}],
                    extra={"sink": dict(SINK, postgres=self.cluster.url,
                                        spool_dir=os.path.join(mount_point, "spool"))}) as tap:
                self.cluster.halt()  # nothing drains: the spool fills the filesystem
                try:
                    first = Traffic(tap.ports[route], route, pairs=1500, rate=1000, padding=400).start().join()
                finally:
                    self.cluster.resume()
                time.sleep(3.0)  # the backlog drains and frees the filesystem
                second = Traffic(tap.ports[route], route, pairs=200, rate=500, first_id=100000).start().join()
                exit_code = tap.stop()
                log = tap.log()
            self.assertIsNone(first.error, "forwarding stopped with the spool full")
            self.assertEqual(len(first.received), 1500)
            self.assertIsNone(second.error)
            self.assertEqual(exit_code, 0, log[-2000:])
            drops = [line for line in log_lines(log) if line.get("msg") == "spool write failed; captures dropped"]
            self.assertTrue(drops, log[-2000:])
            self.assertEqual(drops[0]["error"], "No space left on device")
            self.assertGreater(drops[0]["spool_write_errors"], 0)
            rows = self.rows(route)
            self.assertLess(len(rows), 3000, "some captures must have been dropped")
            self.assertGreater(len(rows), 0)
            # Once room was made, capture went on: the second wave is stored, each once.
            self.assert_exactly_once([r for r in rows if r["payload"]["id"] >= 100000],
                                     [t for t in backend.received + backend.sent
                                      if json.loads(t)["id"] >= 100000])
            stopped = [line for line in log_lines(log) if line.get("msg") == "stopped"]
            if stopped and "dropped_records" in stopped[-1]:
                total = 2 * (1500 + 200)
                self.assertEqual(len(rows) + stopped[-1]["dropped_records"], total)
        finally:
            unmount(mount_point)


if __name__ == "__main__":
    unittest.main(verbosity=2)
