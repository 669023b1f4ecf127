"""websocket_capture_test over TLS: a wss:// client (python3 ssl + websockets, permessage-
deflate on) and a wss:// backend talk through mcptap terminating the client's TLS
(listen_tls) and originating its own to the backend (upstream_tls, verified against the
test CA). The client must see exactly what a direct wss:// connection gives, every message
must be captured and paired as in plaintext, and every row carries meta.tls for both legs.

Two routes: one names the backend "localhost" (server_name, sent as SNI and verified), the
other reaches it by IP with no server_name (no SNI, verified against the IP SAN)."""
import unittest

import websocket_capture_test as plain
from harness import Mcptap, assert_every_request_paired, run_async, unique_name, wait_for_rows
from tls_certs import Pki
from ws_backend import Backend
from ws_client import conversation

TEST_CA_SUBJECT = "CN=mcptap test CA"


def run_through_tls_route(cls, upstream_tls, client_host):
    """Sets cls.direct, cls.proxied, cls.exit_code, cls.log and cls.rows as the plaintext
    test does, with TLS on both legs."""
    cls.pki = Pki()
    cls.route = unique_name("wss")
    client_ssl = cls.pki.client_context()
    with Backend(ssl=cls.pki.server_context()) as backend:
        cls.direct = run_async(conversation(f"wss://{client_host}:{backend.port}/mcp", ssl=client_ssl))
        route = {"name": cls.route, "upstream": f"127.0.0.1:{backend.port}",
                 "listen_tls": {"cert_file": cls.pki.leaf_crt, "key_file": cls.pki.leaf_key},
                 "upstream_tls": dict(upstream_tls, ca_file=cls.pki.ca_crt)}
        with Mcptap([route]) as tap:
            cls.proxied = run_async(conversation(f"wss://{client_host}:{tap.ports[cls.route]}/mcp",
                                                 ssl=client_ssl))
            cls.exit_code = tap.stop()
            cls.log = tap.log()
    cls.rows = wait_for_rows(cls.route, 22, timeout=5)


class TlsChecks:
    """meta.tls on every row, for a route whose client connected to CLIENT_HOST."""

    CLIENT_SNI = None
    UPSTREAM_SNI = None

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def tls(self, side):
        self.assertTrue(self.rows)
        values = [(r["meta"] or {}).get("tls", {}).get(side) for r in self.rows]
        self.assertNotIn(None, values, f"every row has meta.tls.{side}")
        self.assertEqual(len({repr(sorted(v.items())) for v in values}), 1,
                         "one connection, one TLS summary")
        return values[0]

    def assert_sni(self, leg, expected):
        if expected is None:  # none sent: absent, null or empty
            self.assertIn(leg.get("sni"), (None, ""), leg)
        else:
            self.assertEqual(leg.get("sni"), expected, leg)

    def test_every_request_paired(self):
        assert_every_request_paired(self, self.rows)

    def test_client_leg_in_meta(self):
        client = self.tls("client")
        self.assertEqual(client["version"], "TLSv1.3")
        self.assertTrue(client["cipher"].startswith("TLS_"), client)
        self.assert_sni(client, self.CLIENT_SNI)
        self.assertFalse(client["resumed"])

    def test_upstream_leg_in_meta(self):
        upstream = self.tls("upstream")
        self.assertEqual(upstream["version"], "TLSv1.3")
        self.assertTrue(upstream["cipher"].startswith("TLS_"), upstream)
        self.assertEqual(upstream["peer_subject"], "CN=localhost")
        self.assertEqual(upstream["peer_issuer"], TEST_CA_SUBJECT)
        self.assertIs(upstream["verified"], True)
        self.assert_sni(upstream, self.UPSTREAM_SNI)

    def test_no_handshake_failure_logged(self):
        self.assertNotIn("tls handshake failed", self.log)


class TlsWebSocketTest(TlsChecks, plain.WebSocketCaptureTest):
    """upstream_tls.server_name "localhost"; the client dials wss://localhost."""

    CLIENT_SNI = "localhost"
    UPSTREAM_SNI = "localhost"

    @classmethod
    def setUpClass(cls):
        run_through_tls_route(cls, {"server_name": "localhost"}, "localhost")


class TlsWebSocketByIpTest(TlsChecks, plain.WebSocketCaptureTest):
    """No server_name: the upstream 127.0.0.1 is verified by IP and gets no SNI; the client
    dials wss://127.0.0.1 and sends none either."""

    @classmethod
    def setUpClass(cls):
        run_through_tls_route(cls, {}, "127.0.0.1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
