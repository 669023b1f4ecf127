"""Transparent TLS interception in the network namespaces of original_dst_test: a client
dials the backend's real name and address over TLS, an iptables REDIRECT rule sends the
connection to mcptap, whose original_dst route completes the client's handshake with a leaf
minted for the SNI by a local CA (`mcptap ca init`), opens TLS to the original destination
verified against the backend's own CA, and captures in between.

A client that trusts the local CA works unchanged and its rows name the SNI; a client that
trusts only the backend's CA refuses mcptap's certificate, and mcptap counts that as
side="client", reason="peer_rejected_certificate".

Needs root, iproute2 and iptables, as original_dst_test does."""
import json
import os
import stat
import subprocess
import sys
import time
import unittest

import original_dst_test as odst
from harness import unique_name, wait_for_rows
from tls_certs import Pki

BACKEND_NAME = "backend.test"

# An NDJSON echo over TLS: argv = port, cert, key.
TLS_BACKEND = r"""
import json, socket, ssl, sys, threading
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(16)
print("ready", flush=True)
def serve(conn, peer):
    try:
        with context.wrap_socket(conn, server_side=True) as tls, tls.makefile("rwb") as stream:
            for line in stream:
                message = json.loads(line)
                reply = {"jsonrpc": "2.0", "id": message["id"],
                         "result": {"peer": peer[0], "echo": message["params"]["arguments"]["text"]}}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()
    except (OSError, ValueError) as error:
        print("backend:", error, file=sys.stderr, flush=True)
while True:
    conn, peer = server.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""

# A TLS client: argv = host, port, server_hostname, cafile, count. Prints one JSON document:
# the answers and the certificate it was shown, or the error that ended the handshake.
TLS_CLIENT = r"""
import json, socket, ssl, sys
host, port, name, cafile, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
context = ssl.create_default_context(cafile=cafile)
out = {"answers": []}
try:
    with socket.create_connection((host, port), timeout=10) as raw, \
         context.wrap_socket(raw, server_hostname=name) as tls, tls.makefile("rwb") as stream:
        cert = tls.getpeercert()
        out["version"] = tls.version()
        out["issuer"] = [rdn[0] for rdn in cert["issuer"]]
        out["san"] = [list(entry) for entry in cert.get("subjectAltName", ())]
        for i in range(count):
            call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": f"call-{i}"}}}
            stream.write(json.dumps(call).encode() + b"\n")
            stream.flush()
            line = stream.readline()
            out["answers"].append(json.loads(line) if line else None)
except ssl.SSLCertVerificationError as error:
    out["error"] = "verify: " + str(error.verify_message)
except (OSError, ValueError) as error:
    out["error"] = repr(error)
print(json.dumps(out))
"""


class TlsInterceptTest(odst.OriginalDstTest):
    # The namespaces, veth pair and REDIRECT rule are original_dst_test's; its plaintext
    # checks are not repeated here (SIGTERM draining is: test_3 runs as inherited).
    test_1_redirected_connection_is_forwarded_and_captured = None
    test_2_a_direct_connection_to_mcptap_is_refused_not_looped = None

    @classmethod
    def start_backend(cls):
        cls.pki = Pki(os.path.join(cls.dir.name, "pki"))
        cls.backend_ca, _ = cls.pki.make_ca("backend-ca", "backend test CA")
        crt, key = cls.pki.issue("backend", BACKEND_NAME, [f"DNS:{BACKEND_NAME}", f"IP:{cls.server_ip}"],
                                 ca="backend-ca")
        backend = subprocess.Popen(["ip", "netns", "exec", cls.server_ns, sys.executable, "-c", TLS_BACKEND,
                                    str(odst.BACKEND_PORT), crt, key], stdout=subprocess.PIPE, text=True)
        cls.processes.append(backend)
        if backend.stdout.readline().strip() != "ready":
            raise RuntimeError("the TLS backend did not start")

    @classmethod
    def start_mcptap(cls):
        cls.ca_dir = os.path.join(cls.dir.name, "local-ca")
        cls.ca_init = subprocess.run([odst.mcptap_binary(), "ca", "init", "--out", cls.ca_dir],
                                     capture_output=True, text=True, timeout=30)
        if cls.ca_init.returncode != 0:
            raise RuntimeError(f"mcptap ca init failed: {cls.ca_init.stderr}")
        cls.route = unique_name("tls_intercept")
        intercept = {"ca_cert_file": os.path.join(cls.ca_dir, "ca.crt"),
                     "ca_key_file": os.path.join(cls.ca_dir, "ca.key")}
        cls.run_mcptap({"name": cls.route, "listen": f"0.0.0.0:{odst.MCPTAP_PORT}",
                        "upstream": "original_dst", "listen_tls": {"intercept": intercept},
                        "upstream_tls": {"ca_file": cls.backend_ca}})

    def tls_client(self, cafile, count=3, name=BACKEND_NAME):
        result = odst.run("ip", "netns", "exec", self.client_ns, sys.executable, "-c", TLS_CLIENT,
                          self.server_ip, str(odst.BACKEND_PORT), name, cafile, str(count))
        return json.loads(result.stdout)

    def metrics(self):
        url = f"http://127.0.0.1:{odst.ADMIN_PORT}/metrics"
        script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
        return odst.run("ip", "netns", "exec", self.server_ns, sys.executable, "-c", script).stdout

    def failures(self):
        """{(side, reason): count} of the route's TLS handshake failures."""
        from tls_peers import LABEL, SAMPLE
        found = {}
        for line in self.metrics().splitlines():
            match = SAMPLE.match(line)
            if match and match.group(1) == "mcptap_tls_handshake_failures_total":
                labels = dict(LABEL.findall(match.group(2)))
                if labels.get("route") == self.route and float(match.group(3)):
                    found[(labels["side"], labels["reason"])] = float(match.group(3))
        return found

    def test_0_ca_init_writes_a_private_key_only_its_owner_reads(self):
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.ca_dir, "ca.key")).st_mode), 0o600)
        self.assertTrue(os.path.exists(os.path.join(self.ca_dir, "ca.crt")))
        self.assertNotIn("PRIVATE KEY", self.ca_init.stdout + self.ca_init.stderr)

    def test_1_client_trusting_the_local_ca_works_unchanged(self):
        out = self.tls_client(os.path.join(self.ca_dir, "ca.crt"))
        self.assertNotIn("error", out, self.log())
        self.assertEqual([a["result"]["echo"] for a in out["answers"]], ["call-0", "call-1", "call-2"])
        # Reached by mcptap from the server's own address, not by the client.
        self.assertEqual({a["result"]["peer"] for a in out["answers"]}, {self.server_ip})
        self.assertIn(["DNS", BACKEND_NAME], out["san"], "a leaf minted for the SNI")
        rows = wait_for_rows(self.route, 6)
        self.assertEqual(len(rows), 6, rows)
        self.assertEqual({r["transport"] for r in rows}, {"tcp"})
        requests = {r["correlation_id"]: r for r in rows if r["kind"] == "request"}
        self.assertEqual(len(requests), 3)
        for response in [r for r in rows if r["kind"] == "response"]:
            self.assertEqual(response["payload"]["result"]["echo"],
                             requests[response["correlation_id"]]["payload"]["params"]["arguments"]["text"])
        for row in rows:
            tls = row["meta"]["tls"]
            self.assertEqual(tls["client"]["sni"], BACKEND_NAME)
            self.assertEqual(tls["client"]["version"], "TLSv1.3")
            self.assertEqual(tls["upstream"]["sni"], BACKEND_NAME)
            self.assertEqual(tls["upstream"]["peer_subject"], f"CN={BACKEND_NAME}")
            self.assertEqual(tls["upstream"]["peer_issuer"], "CN=backend test CA")
            self.assertIs(tls["upstream"]["verified"], True)

    def test_2_client_trusting_only_the_backend_ca_refuses_the_leaf(self):
        out = self.tls_client(self.backend_ca, count=1)
        self.assertIn("error", out)
        self.assertTrue(out["error"].startswith("verify: "), out)
        deadline = time.time() + 10
        while self.failures() != {("client", "peer_rejected_certificate"): 1} and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.failures(), {("client", "peer_rejected_certificate"): 1}, self.log())
        # The intercepting route still serves a trusting client afterwards.
        again = self.tls_client(os.path.join(self.ca_dir, "ca.crt"), count=1)
        self.assertEqual(again["answers"][0]["result"]["echo"], "call-0", again)

if __name__ == "__main__":
    unittest.main(verbosity=2)
