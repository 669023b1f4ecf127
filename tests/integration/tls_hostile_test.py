"""Hostile input on a TLS listener (proxy.tls_handshake_timeout_ms 500): garbage and a
plaintext HTTP request instead of a ClientHello, a ClientHello cut short by a FIN, a
handshake that stalls, and a ClientHello and an application-data record split at every
byte boundary. Each bad handshake closes its connection and is counted with its reason;
every split one succeeds. Meanwhile a wss conversation through another TLS route completes
untouched, /healthz answers throughout and the process stays up."""
import json
import os
import socket
import threading
import time
import unittest
import urllib.request

from harness import Mcptap, run_async, unique_name, wait_for_rows
from raw_wire import NdjsonUpstream
from tls_certs import Pki
from tls_peers import (SplitClient, client_hello, failure_log_lines, outcome, split_at,
                       tls_failures, wait_for_tls_failures, whole)
from ws_backend import Backend
from ws_client import conversation

TIMEOUT_MS = 500


def healthz(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as r:
        return r.status


class EchoUpstream(NdjsonUpstream):
    """Answers each request with its params. mcptap resets it when the client's handshake
    fails: that ends the connection quietly."""

    def __init__(self):
        super().__init__(lambda message: {"jsonrpc": "2.0", "id": message["id"],
                                          "result": message.get("params") or {}}
                         if "id" in message else None)

    def serve(self, conn):
        try:
            super().serve(conn)
        except OSError:
            pass


def request(i):
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"n": i}}}).encode() + b"\n"


def first_flight_split(k):
    """Splits the first flight (the ClientHello) at k; later flights go whole."""
    calls = [0]

    def split(data, sock):
        calls[0] += 1
        (split_at(k) if calls[0] == 1 else whole)(data, sock)
    return split


class TlsHostileTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.echo = EchoUpstream()
        cls.backend = Backend(ssl=cls.pki.server_context()).__enter__()
        cls.route = unique_name("tls_hostile")
        cls.ws_route = unique_name("tls_hostile_wss")
        listen = {"cert_file": cls.pki.leaf_crt, "key_file": cls.pki.leaf_key}
        cls.tap = Mcptap(
            [{"name": cls.route, "upstream": f"127.0.0.1:{cls.echo.port}", "listen_tls": listen},
             {"name": cls.ws_route, "upstream": f"127.0.0.1:{cls.backend.port}", "listen_tls": listen,
              "upstream_tls": {"ca_file": cls.pki.ca_crt, "server_name": "localhost"}}],
            extra={"proxy": {"tls_handshake_timeout_ms": TIMEOUT_MS}}).start()
        cls.port = cls.tap.ports[cls.route]
        cls.results = {}
        cls.health = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                try:
                    cls.health.append(healthz(cls.tap.admin_port))
                except OSError as e:
                    cls.health.append(str(e))
                time.sleep(0.2)

        def attack():
            try:
                cls.results["hostile"] = cls.hostile_cases()
                cls.results["split_hello"] = cls.split_hellos()
                cls.results["split_record"] = cls.split_records()
            except Exception as error:  # reported by the tests that need the result
                cls.results["error"] = repr(error)

        watcher = threading.Thread(target=watch)
        attacker = threading.Thread(target=attack)
        watcher.start()
        attacker.start()
        client_ssl = cls.pki.client_context()
        cls.direct = run_async(conversation(f"wss://localhost:{cls.backend.port}/mcp", ssl=client_ssl))
        cls.proxied = run_async(conversation(f"wss://localhost:{cls.tap.ports[cls.ws_route]}/mcp",
                                             ssl=client_ssl))
        attacker.join(timeout=240)
        stop.set()
        watcher.join()
        cls.alive = cls.tap.process.poll() is None
        cls.ws_rows = wait_for_rows(cls.ws_route, 22, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        cls.backend.__exit__(None, None, None)
        cls.echo.close()
        cls.pki.cleanup()

    # --- the attacks (run in a thread beside the good conversation) -----------------------

    @classmethod
    def hostile_cases(cls):
        """{case: (outcome, seconds until the connection ended)}."""
        hello = client_hello()
        cases = {
            "garbage": (os.urandom(4096), True),
            "plaintext_http": (b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", True),
            # A handshake record whose ClientHello body is noise.
            "garbage_hello": (bytes([0x16, 3, 1, 0x10, 0, 1, 0, 0x0f, 0xfc]) + os.urandom(4092), True),
            "truncated": (hello[:40], False),   # then FIN
            "stalled": (hello[:10], None),      # then silence
        }
        results = {}
        for name, (data, keep_open) in cases.items():
            with socket.create_connection(("127.0.0.1", cls.port), timeout=10) as s:
                started = time.time()
                try:
                    s.sendall(data)
                    if keep_open is False:
                        s.shutdown(socket.SHUT_WR)
                    result = outcome(s)
                except (ConnectionResetError, BrokenPipeError):
                    result = ("reset", b"")
                results[name] = (result[0], result[1], time.time() - started)
        return results

    @classmethod
    def split_hellos(cls):
        """Every k: a handshake whose ClientHello is sent as [:k], a pause, [k:]; then one
        request and its answer. Returns the failures as (k, what)."""
        length = len(client_hello())
        failures = []
        for k in range(1, length):
            client = SplitClient(cls.port, cls.pki.client_context())
            try:
                version = client.handshake(first_flight_split(k))
                client.send(request(k), whole)
                answer = json.loads(client.recv_line())
                if version != "TLSv1.3" or answer["result"]["arguments"]["n"] != k:
                    failures.append((k, version, answer))
            except (OSError, ValueError) as error:
                failures.append((k, repr(error)))
            finally:
                client.close()
        return {"length": length, "failures": failures}

    @classmethod
    def split_records(cls):
        """One connection; request i's application-data record split at byte i."""
        client = SplitClient(cls.port, cls.pki.client_context())
        failures = []
        try:
            client.handshake(whole)
            record_length = None
            i = 1
            while record_length is None or i < record_length:
                sizes = []

                def split(data, sock, i=i):
                    sizes.append(len(data))
                    split_at(i)(data, sock)
                client.send(request(i), split)
                record_length = record_length or sizes[0]
                try:
                    answer = json.loads(client.recv_line())
                    if answer["result"]["arguments"]["n"] != i:
                        failures.append((i, answer))
                except ValueError as error:
                    failures.append((i, repr(error)))
                    break
                i += 1
        finally:
            client.close()
        return {"record_length": record_length, "failures": failures}

    # --- the tests -----------------------------------------------------------------------------

    def result(self, key):
        self.assertNotIn("error", self.results, self.results.get("error"))
        return self.results[key]

    def test_bad_handshakes_close_the_connection_with_at_most_an_alert(self):
        for name, (how, received, _) in self.result("hostile").items():
            self.assertIn(how, ("eof", "reset", "data"), name)
            # Nothing but one TLS alert record (type 21, 2 bytes of body) may come back.
            if received:
                self.assertEqual((received[:1], len(received)), (b"\x15", 7), (name, received))

    def test_stalled_handshake_closed_at_the_deadline(self):
        seconds = self.result("hostile")["stalled"][2]
        self.assertGreaterEqual(seconds, TIMEOUT_MS / 1000 * 0.8)
        self.assertLess(seconds, TIMEOUT_MS / 1000 + 1.5)

    def test_each_failure_counted_with_its_reason(self):
        self.result("hostile")
        seen = wait_for_tls_failures(self.tap.admin_port, self.route,
                                     {("client", "truncated"): 1, ("client", "timeout"): 1})
        # Random bytes (which OpenSSL reads as a record of an unknown version), plaintext
        # HTTP and a ClientHello of noise are all "not TLS": protocol, never version.
        self.assertEqual(seen, {("client", "protocol"): 3, ("client", "truncated"): 1,
                                ("client", "timeout"): 1})
        self.assertEqual(tls_failures(self.tap.admin_port, self.ws_route), {})

    def test_failures_logged_with_route_side_and_reason(self):
        self.result("hostile")
        lines = failure_log_lines(self.tap.log(), self.route)
        self.assertTrue(lines, self.tap.log()[-3000:])
        for line in lines:
            self.assertEqual(line["side"], "client")
            self.assertIn(line["reason"], ("protocol", "version", "truncated", "timeout"))

    def test_client_hello_split_at_every_byte(self):
        split = self.result("split_hello")
        self.assertGreater(split["length"], 200)
        self.assertEqual(split["failures"], [])

    def test_application_record_split_at_every_byte(self):
        split = self.result("split_record")
        self.assertGreater(split["record_length"], 40)
        self.assertEqual(split["failures"], [])

    def test_good_conversation_untouched_and_captured(self):
        self.assertEqual(self.direct, self.proxied)
        self.assertEqual(len(self.ws_rows), 22)
        self.assertFalse([r for r in self.ws_rows if r["kind"] == "invalid"])
        self.assertTrue(all(r["meta"]["tls"]["client"]["version"] for r in self.ws_rows))

    def test_healthz_answered_throughout(self):
        self.assertTrue(self.health)
        self.assertEqual([h for h in self.health if h != 200], [])

    def test_z_proxy_stayed_up_and_drains(self):
        self.assertTrue(self.alive)
        self.assertEqual(self.tap.stop(), 0, self.tap.log()[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
