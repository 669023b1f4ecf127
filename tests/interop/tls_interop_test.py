"""interop_test over TLS: the MCP TypeScript SDK client speaks https:// (trusting the test CA
through NODE_EXTRA_CA_CERTS) to an SDK server serving https://, through mcptap terminating
the client's TLS (listen_tls) and originating its own (upstream_tls, verified against the
test CA, ALPN http/1.1). In Streamable HTTP (json and sse answers) and legacy SSE, every
check of the plaintext run holds — the client sees what a direct https:// connection gives,
the same rows are captured — and every row carries meta.tls for both legs."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import interop_test as plain  # noqa: E402
from tls_certs import Pki  # noqa: E402


class OverTls:
    """The hooks of interop_test.SdkInterop, set for TLS on both legs."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    @classmethod
    def server_tls(cls):
        return (cls.pki.leaf_crt, cls.pki.leaf_key)

    @classmethod
    def base_url(cls, port):
        return f"https://localhost:{port}"

    @classmethod
    def client_env(cls):
        return {"NODE_EXTRA_CA_CERTS": cls.pki.ca_crt}

    @classmethod
    def route_tls(cls):
        return {"listen_tls": {"cert_file": cls.pki.leaf_crt, "key_file": cls.pki.leaf_key},
                "upstream_tls": {"ca_file": cls.pki.ca_crt, "server_name": "localhost",
                                 "alpn": ["http/1.1"]}}

    def test_direct_run_was_over_https(self):
        # Without the CA the same client must fail: the direct run did use TLS and the CA.
        with self.assertRaises(RuntimeError) as refused:
            server = plain.NodeServer(self.TRANSPORT, tls=self.server_tls()).start()
            try:
                plain.run_client(self.TRANSPORT, self.base_url(server.port), {})
            finally:
                server.cleanup()
        self.assertIn("fetch failed", str(refused.exception))

    def test_every_row_carries_meta_tls_for_both_legs(self):
        self.require_rows()
        wrong = []
        for row in self.rows:
            tls = (row["meta"] or {}).get("tls") or {}
            client, upstream = tls.get("client") or {}, tls.get("upstream") or {}
            seen = (client.get("version"), client.get("sni"), client.get("alpn"),
                    upstream.get("version"), upstream.get("sni"), upstream.get("alpn"),
                    upstream.get("peer_subject"), upstream.get("peer_issuer"), upstream.get("verified"))
            expected = ("TLSv1.3", "localhost", "http/1.1", "TLSv1.3", "localhost", "http/1.1",
                        "CN=localhost", "CN=mcptap test CA", True)
            if seen != expected or not client.get("cipher") or not upstream.get("cipher"):
                wrong.append((row["direction"], row["kind"], row["method"], tls))
        self.assertEqual(wrong, [])

    def test_no_handshake_failure_logged(self):
        self.assertNotIn("tls handshake failed", self.log)


class TlsStreamableJsonTest(OverTls, plain.StreamableJsonTest):
    pass


class TlsStreamableSseTest(OverTls, plain.StreamableSseTest):
    pass


class TlsLegacySseTest(OverTls, plain.LegacySseTest):
    pass


if __name__ == "__main__":
    unittest.main(verbosity=2)
