#!/usr/bin/env python3
"""Certificate rotation: SIGHUP re-reads a TLS route's files. New handshakes get the new
certificate, a connection opened before keeps working on the old one, and files that do
not load are refused with the running certificate kept."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mcptap, log_lines, poll, recv_at_least  # noqa: E402
from tls_certs import Pki  # noqa: E402

REJECTED = "reload rejected; the running configuration stays"


class LineEcho:
    """A plaintext TCP backend answering each line with itself."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self):
        self.server.close()


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TlsReloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mcptap-tls-reload-")
        self.pki = Pki(self.dir.name)
        local = ["DNS:localhost", "IP:127.0.0.1"]
        self.first = self.pki.issue("first", "localhost", local)
        self.second = self.pki.issue("second", "localhost", local)
        # The route reads these two paths; rotation replaces their contents.
        self.cert_path = os.path.join(self.dir.name, "route.crt")
        self.key_path = os.path.join(self.dir.name, "route.key")
        self.install(self.first)
        self.backend = LineEcho()
        self.tap = Mcptap([{"name": "rotating", "upstream": f"127.0.0.1:{self.backend.port}",
                            "listen_tls": {"cert_file": self.cert_path,
                                           "key_file": self.key_path}}])
        self.tap.start()
        self.port = self.tap.ports["rotating"]
        self.client_context = ssl.create_default_context(cafile=self.pki.ca_crt)

    def tearDown(self):
        self.tap.close()
        self.backend.close()
        self.dir.cleanup()

    def install(self, leaf):
        crt, key = leaf
        for source, target in ((crt, self.cert_path), (key, self.key_path)):
            with open(source, "rb") as f:
                data = f.read()
            tmp = target + ".new"
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(data)
            os.replace(tmp, target)

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return self.client_context.wrap_socket(raw, server_hostname="localhost")

    @staticmethod
    def serial(der=None, path=None):
        args = ["openssl", "x509", "-noout", "-serial"]
        args += ["-inform", "DER"] if der is not None else ["-in", path]
        out = subprocess.run(args, input=der, capture_output=True, check=True)
        return out.stdout.decode().strip().split("=", 1)[1].upper()

    def serial_of(self, conn):
        return self.serial(der=conn.getpeercert(binary_form=True))

    def echo(self, conn, text):
        conn.sendall(text.encode() + b"\n")
        return recv_at_least(conn, len(text) + 1).decode().strip()

    def reload_outcomes(self):
        return [line for line in log_lines(self.tap.log())
                if line.get("msg") in ("configuration reloaded", REJECTED)]

    def reload(self):
        """SIGHUP, then the outcome's log line."""
        before = len(self.reload_outcomes())
        self.tap.process.send_signal(signal.SIGHUP)
        poll(lambda: len(self.reload_outcomes()), lambda n: n > before, timeout=10)
        return self.reload_outcomes()[-1]

    def test_rotation_keeps_open_connections_and_refuses_bad_files(self):
        old = self.connect()
        self.assertEqual(self.serial_of(old), self.serial(path=self.first[0]))
        self.assertEqual(self.echo(old, '{"jsonrpc":"2.0","method":"before"}'),
                         '{"jsonrpc":"2.0","method":"before"}')

        self.install(self.second)
        self.assertEqual(self.reload()["msg"], "configuration reloaded", self.tap.log())
        with self.connect() as new:
            self.assertEqual(self.serial_of(new), self.serial(path=self.second[0]))
            self.assertEqual(self.echo(new, "new"), "new")
        # The connection from before the reload is untouched, still on the old certificate.
        self.assertEqual(self.echo(old, "old-still-works"), "old-still-works")

        # A key readable by others is refused at reload: the running certificate stays.
        os.chmod(self.key_path, 0o644)
        rejected = self.reload()
        self.assertEqual(rejected["msg"], REJECTED, self.tap.log())
        self.assertIn(self.key_path, rejected["error"])
        self.assertIn("chmod 600", rejected["error"])
        with self.connect() as after:
            self.assertEqual(self.serial_of(after), self.serial(path=self.second[0]))
        self.assertEqual(self.echo(old, "still"), "still")
        old.close()

        # Handshakes are counted per side; each client above used a fresh context with no
        # session to resume.
        with urllib.request.urlopen(f"http://127.0.0.1:{self.tap.admin_port}/metrics") as r:
            text = r.read().decode()
        self.assertEqual(metric(text, "mcptap_tls_handshakes_total", route="rotating",
                                side="client", resumed="false"), 3.0, text)
        self.assertNotIn('side="upstream"', "\n".join(
            line for line in text.splitlines() if line.startswith("mcptap_tls_handshakes_total")))
        with urllib.request.urlopen(f"http://127.0.0.1:{self.tap.admin_port}/routes") as r:
            (route,) = json.loads(r.read())
        self.assertEqual(route["tls"], {"listen": "terminate", "upstream": False,
                                        "handshakes": 3, "handshake_failures": 0})
        self.assertEqual(self.tap.stop(), 0, self.tap.log())
        # No private key material ever reaches the log.
        with open(self.second[1]) as f:
            key_body = "".join(f.read().splitlines()[1:-1])
        self.assertNotIn(key_body[:40], self.tap.log())


if __name__ == "__main__":
    unittest.main()
