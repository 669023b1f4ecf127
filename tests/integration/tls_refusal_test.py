"""TLS refusals through the real binary. An upstream whose certificate is expired, names
another host or comes from an unknown CA, and a client without the certificate an mTLS
route requires: each connection is closed without an answer, counted in
mcptap_tls_handshake_failures_total with its side and reason, and logged once as
"tls handshake failed". What a user sees with curl and openssl s_client is asserted as the
documentation quotes it. A key file readable by others, a certificate that does not match
its key, and an encrypted key stop `mcptap run` at start with one line naming the file.
Other connections through the same process keep working throughout."""
import json
import os
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

from harness import HERE, pg_url, unique_name, wait_for_rows
from tls_certs import OPENSSL, Pki
from tls_peers import (PING, TlsNdjsonEcho, UnprobedMcptap, failure_log_lines, https_backend, outcome,
                       plain_request, wait_for_log, wait_for_tls_failures)

BINARY = os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")
REQUEST = ('{"jsonrpc":"2.0","id":1,"method":"tools/call",'
           '"params":{"name":"echo","arguments":{"text":"through tls"}}}')


def healthz(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as r:
        return r.status


class TlsRefusalTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        p = cls.pki
        cls.backends = {
            "good": https_backend(p.server_context()).__enter__(),
            "expired": https_backend(p.server_context(p.expired_crt, p.expired_key)).__enter__(),
            "wrong_name": https_backend(p.server_context(p.wrong_name_crt, p.wrong_name_key)).__enter__(),
            "unknown_ca": https_backend(p.server_context(p.unknown_ca_crt, p.unknown_ca_key)).__enter__(),
        }
        cls.echo = TlsNdjsonEcho(p.server_context())
        cls.names = {key: unique_name("tls_" + key) for key in
                     ("good", "expired", "wrong_name", "unknown_ca", "mtls")}
        listen = {"cert_file": p.leaf_crt, "key_file": p.leaf_key}
        upstream_tls = {"ca_file": p.ca_crt, "server_name": "localhost"}
        routes = [{"name": cls.names[key], "upstream": f"127.0.0.1:{cls.backends[key].port}",
                   "upstream_tls": upstream_tls}
                  for key in ("expired", "wrong_name", "unknown_ca")]
        routes.append({"name": cls.names["good"], "upstream": f"127.0.0.1:{cls.backends['good'].port}",
                       "listen_tls": listen, "upstream_tls": upstream_tls})
        routes.append({"name": cls.names["mtls"], "upstream": f"127.0.0.1:{cls.echo.port}",
                       "listen_tls": dict(listen, client_ca_file=p.ca_crt),
                       "upstream_tls": upstream_tls})
        cls.tap = UnprobedMcptap(routes).start()
        cls.port = {key: cls.tap.ports[name] for key, name in cls.names.items()}

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()
        for backend in cls.backends.values():
            backend.__exit__(None, None, None)
        cls.echo.close()
        cls.pki.cleanup()

    # --- helpers -------------------------------------------------------------------------

    def curl(self, key, cacert, *extra):
        return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cacert,
                               "-H", "Content-Type: application/json",
                               "-H", "Accept: application/json, text/event-stream",
                               *extra, f"https://localhost:{self.port[key]}/mcp"],
                              capture_output=True, text=True, timeout=30)

    def s_client(self, key, *extra):
        done = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{self.port[key]}",
                               "-servername", "localhost", "-CAfile", self.pki.ca_crt, "-brief",
                               *extra], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)
        return done.returncode, done.stdout + done.stderr

    def assert_refused_upstream(self, key, reason):
        route = self.names[key]
        result, got = plain_request(self.port[key])
        self.assertIn(result, ("reset", "eof"), (result, got))
        self.assertEqual(got, b"")
        seen = wait_for_tls_failures(self.tap.admin_port, route, {("upstream", reason): 1})
        self.assertEqual(seen, {("upstream", reason): 1}, self.tap.log())
        log = wait_for_log(self.tap.log, lambda text: failure_log_lines(text, route))
        lines = failure_log_lines(log, route)
        self.assertEqual([(l["side"], l["reason"]) for l in lines], [("upstream", reason)], log)
        self.assertNotIn("PRIVATE KEY", log)
        self.assert_good_route_works()

    def assert_good_route_works(self):
        done = self.curl("good", self.pki.ca_crt, "-d", REQUEST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout)["result"]["content"][0]["text"], "through tls")
        self.assertEqual(healthz(self.tap.admin_port), 200)

    # --- the upstream's certificate -------------------------------------------------------

    def test_expired_upstream_certificate(self):
        self.assert_refused_upstream("expired", "expired")

    def test_upstream_certificate_for_another_name(self):
        self.assert_refused_upstream("wrong_name", "name_mismatch")

    def test_upstream_certificate_from_an_unknown_ca(self):
        self.assert_refused_upstream("unknown_ca", "unknown_ca")

    # --- the client's certificate -----------------------------------------------------------

    def test_mtls_client_without_certificate_is_refused(self):
        route = self.names["mtls"]
        context = self.pki.client_context()
        with socket.create_connection(("127.0.0.1", self.port["mtls"]), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                # Under TLS 1.3 the client's side of the handshake completes; the server's
                # refusal is an alert on the first read.
                try:
                    tls.sendall(PING)
                except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
                    result = ("alert: " + str(error), b"")
                else:
                    result = outcome(tls)
        self.assertNotEqual(result[0], "data", result)
        self.assertEqual(result[1], b"")
        seen = wait_for_tls_failures(self.tap.admin_port, route, {("client", "no_client_cert"): 1})
        self.assertEqual(seen, {("client", "no_client_cert"): 1}, self.tap.log())
        log = wait_for_log(self.tap.log, lambda text: failure_log_lines(text, route))
        self.assertEqual([(l["side"], l["reason"]) for l in failure_log_lines(log, route)],
                         [("client", "no_client_cert")], log)

    def test_mtls_client_with_certificate_is_served(self):
        context = self.pki.client_context(cert=self.pki.client_crt, key=self.pki.client_key)
        with socket.create_connection(("127.0.0.1", self.port["mtls"]), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(REQUEST.encode() + b"\n")
                line = tls.makefile("rb").readline()
        self.assertEqual(json.loads(line)["result"]["arguments"]["text"], "through tls")
        rows = wait_for_rows(self.names["mtls"], 2)
        self.assertEqual([r["kind"] for r in rows], ["request", "response"])
        self.assertEqual(rows[0]["meta"]["tls"]["client"]["version"], "TLSv1.3")

    # --- what a user sees --------------------------------------------------------------------

    def test_curl_with_another_ca_sees_a_certificate_problem(self):
        done = self.curl("good", self.pki.other_ca_crt)
        self.assertEqual(done.returncode, 60, done.stderr)
        self.assertIn("SSL certificate problem", done.stderr)
        # curl's refusal is the client's: mcptap counts it on the client side.
        seen = wait_for_tls_failures(self.tap.admin_port, self.names["good"],
                                     {("client", "peer_rejected_certificate"): 1})
        self.assertGreaterEqual(seen.get(("client", "peer_rejected_certificate"), 0), 1, seen)
        self.assert_good_route_works()

    def test_curl_trusting_the_ca_is_answered_and_captured(self):
        self.assert_good_route_works()
        rows = [r for r in wait_for_rows(self.names["good"], 2) if r["kind"] == "response"]
        self.assertTrue(rows)
        tls = rows[0]["meta"]["tls"]
        self.assertEqual(tls["client"]["sni"], "localhost")
        self.assertEqual(tls["upstream"]["peer_subject"], "CN=localhost")
        self.assertIs(tls["upstream"]["verified"], True)

    def test_openssl_s_client_verifies_tls13(self):
        code, text = self.s_client("good")
        self.assertEqual(code, 0, text)
        self.assertIn("Protocol version: TLSv1.3", text)
        self.assertIn("Verification: OK", text)

    def test_openssl_s_client_for_another_name_sees_a_mismatch(self):
        code, text = self.s_client("good", "-verify_hostname", "wrong.example", "-verify_return_error")
        self.assertNotEqual(code, 0, text)
        self.assertIn("hostname mismatch", text)
        self.assert_good_route_works()


class TlsStartRefusalTest(unittest.TestCase):
    """Files that must stop `mcptap run` at start, each with one line naming it (exit 1)."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.dir = tempfile.TemporaryDirectory(prefix="mcptap-tls-start-")

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()
        cls.pki.cleanup()

    def run_with(self, listen_tls=None, upstream_tls=None):
        route = {"name": "tls_start", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}
        if listen_tls:
            route["listen_tls"] = listen_tls
        if upstream_tls:
            route["upstream_tls"] = upstream_tls
        config = {"admin": {"listen": "127.0.0.1:0"}, "routes": [route],
                  "sink": {"postgres": pg_url(), "spool_dir": os.path.join(self.dir.name, "spool")}}
        path = os.path.join(self.dir.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        done = subprocess.run([BINARY, "run", "--config", path], capture_output=True, text=True,
                              timeout=30)
        return done

    def assert_refused_naming(self, done, path):
        self.assertEqual(done.returncode, 1, done.stderr)
        naming = [line for line in done.stderr.splitlines() if path in line]
        self.assertEqual(len(naming), 1, done.stderr)
        self.assertNotIn("PRIVATE KEY", done.stderr + done.stdout)
        self.assertNotIn("admin listening", done.stderr)
        return naming[0]

    def test_key_readable_by_others(self):
        key = self.pki.copy(self.pki.leaf_key, "leaf-0644", mode=0o644)
        line = self.assert_refused_naming(
            self.run_with(listen_tls={"cert_file": self.pki.leaf_crt, "key_file": key}), key)
        self.assertIn("chmod 600", line)

    def test_client_key_readable_by_others(self):
        key = self.pki.copy(self.pki.client_key, "client-0644", mode=0o644)
        self.assert_refused_naming(
            self.run_with(upstream_tls={"ca_file": self.pki.ca_crt, "client_cert_file": self.pki.client_crt,
                                        "client_key_file": key}), key)

    def test_certificate_and_key_that_do_not_match(self):
        done = self.run_with(listen_tls={"cert_file": self.pki.leaf_crt,
                                         "key_file": self.pki.wrong_name_key})
        self.assertEqual(done.returncode, 1, done.stderr)
        naming = [line for line in done.stderr.splitlines()
                  if self.pki.leaf_crt in line or self.pki.wrong_name_key in line]
        self.assertEqual(len(naming), 1, done.stderr)

    def test_encrypted_key(self):
        key = self.pki.encrypted_key(self.pki.leaf_key)
        self.assert_refused_naming(
            self.run_with(listen_tls={"cert_file": self.pki.leaf_crt, "key_file": key}), key)

    def test_expired_certificate(self):
        self.assert_refused_naming(
            self.run_with(listen_tls={"cert_file": self.pki.expired_crt,
                                      "key_file": self.pki.expired_key}), self.pki.expired_crt)


if __name__ == "__main__":
    unittest.main(verbosity=2)
