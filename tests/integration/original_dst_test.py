"""Transparent interception in network namespaces this test creates: a client in one
namespace dials the backend's real address; an iptables REDIRECT rule in the server's
namespace diverts the connection to mcptap, whose route has "upstream": "original_dst";
mcptap reads the original destination (SO_ORIGINAL_DST), forwards there and captures.
A connection made to mcptap's own port directly is refused (it would loop back).

Needs root, iproute2 and iptables (deploy/install-deps.sh). Skipped, with the reason, only
where the kernel refuses to create network namespaces."""
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import HERE, unique_name, wait_for_rows

BACKEND_PORT = 8001
MCPTAP_PORT = 15001
ADMIN_PORT = 9901

BACKEND = r"""
import json, socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(16)
print("ready", flush=True)
def serve(conn, peer):
    with conn, conn.makefile("rwb") as stream:
        for line in stream:
            message = json.loads(line)
            reply = {"jsonrpc": "2.0", "id": message["id"],
                     "result": {"peer": peer[0], "echo": message["params"]["arguments"]["text"]}}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
while True:
    conn, peer = server.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""

CLIENT = r"""
import json, socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
answers = []
with socket.create_connection((host, port), timeout=10) as conn, conn.makefile("rwb") as stream:
    for i in range(count):
        call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": f"call-{i}"}}}
        stream.write(json.dumps(call).encode() + b"\n")
        try:
            stream.flush()
            line = stream.readline()
        except ConnectionResetError:  # closed with our request unread: a reset
            line = b""
        answers.append(json.loads(line) if line else None)
print(json.dumps(answers))
"""


def run(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def pg_socket_url():
    """The test cluster through its Unix socket: a file path reaches it from any namespace."""
    state = os.path.dirname(os.environ["MCPTAP_PG_URL_FILE"])
    with open(os.path.join(state, "datadir")) as f:
        datadir = f.read().strip()
    with open(os.path.join(state, "port")) as f:
        port = f.read().strip()
    return f"postgresql://postgres@/mcptap_test?host={datadir}&port={port}"



def mcptap_binary():
    return os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")

class OriginalDstTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tag = uuid.uuid4().hex[:6]
        cls.client_ns, cls.server_ns = f"mcpc-{tag}", f"mcps-{tag}"
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to create network namespaces")
        for tool in ("ip", "iptables"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is missing: apt-get install -y iproute2 iptables")
        created = run("ip", "netns", "add", cls.client_ns, check=False)
        if created.returncode != 0:
            raise unittest.SkipTest(f"the kernel refuses network namespaces: {created.stderr.strip()}")
        cls.namespaces = [cls.client_ns]
        cls.processes = []
        cls.dir = tempfile.TemporaryDirectory(prefix="mcptap-odst-")
        try:
            cls.set_up_network(tag)
            cls.start_backend()
            cls.start_mcptap()
        except BaseException:
            cls.tear_down()
            raise

    @classmethod
    def set_up_network(cls, tag):
        run("ip", "netns", "add", cls.server_ns)
        cls.namespaces.append(cls.server_ns)
        subnet = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
        cls.client_ip, cls.server_ip = f"{subnet}.1", f"{subnet}.2"
        veth_c, veth_s = f"vc{tag}", f"vs{tag}"
        run("ip", "link", "add", veth_c, "type", "veth", "peer", "name", veth_s)
        run("ip", "link", "set", veth_c, "netns", cls.client_ns)
        run("ip", "link", "set", veth_s, "netns", cls.server_ns)
        for ns, dev, ip in ((cls.client_ns, veth_c, cls.client_ip), (cls.server_ns, veth_s, cls.server_ip)):
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        # The rule the deployment guide documents: traffic for the backend's port, arriving
        # from outside, goes to mcptap instead.
        run("ip", "netns", "exec", cls.server_ns, "iptables", "-t", "nat", "-A", "PREROUTING",
            "-p", "tcp", "--dport", str(BACKEND_PORT), "-j", "REDIRECT", "--to-ports", str(MCPTAP_PORT))

    @classmethod
    def start_backend(cls):
        backend = subprocess.Popen(["ip", "netns", "exec", cls.server_ns, "python3", "-c", BACKEND,
                                    str(BACKEND_PORT)], stdout=subprocess.PIPE, text=True)
        cls.processes.append(backend)
        if backend.stdout.readline().strip() != "ready":
            raise RuntimeError("the backend did not start")

    @classmethod
    def start_mcptap(cls):
        cls.route = unique_name("odst")
        cls.run_mcptap({"name": cls.route, "listen": f"0.0.0.0:{MCPTAP_PORT}",
                        "upstream": "original_dst"})

    @classmethod
    def run_mcptap(cls, route):
        """mcptap in the server namespace with this one route, until its admin API listens."""
        config = {
            "admin": {"listen": f"127.0.0.1:{ADMIN_PORT}"},
            "routes": [route],
            "sink": {"postgres": pg_socket_url(), "spool_dir": os.path.join(cls.dir.name, "spool"),
                     "flush_interval_ms": 20},
        }
        cls.config_path = os.path.join(cls.dir.name, "config.json")
        with open(cls.config_path, "w") as f:
            json.dump(config, f)
        cls.log_path = os.path.join(cls.dir.name, "stderr.log")
        with open(cls.log_path, "w") as log:
            cls.mcptap = subprocess.Popen(["ip", "netns", "exec", cls.server_ns, mcptap_binary(), "run",
                                           "--config", cls.config_path], stdout=subprocess.DEVNULL, stderr=log)
        cls.processes.append(cls.mcptap)
        deadline = time.time() + 15
        while "admin listening" not in cls.log():
            if time.time() > deadline or cls.mcptap.poll() is not None:
                raise RuntimeError("mcptap did not start: " + cls.log())
            time.sleep(0.05)

    @classmethod
    def log(cls):
        with open(cls.log_path) as f:
            return f.read()

    @classmethod
    def tear_down(cls):
        for process in reversed(getattr(cls, "processes", [])):
            if process.poll() is None:
                process.kill()
                process.wait()
        # Deleting a namespace takes its veth end, its addresses and its iptables rules along.
        for ns in getattr(cls, "namespaces", []):
            run("ip", "netns", "del", ns, check=False)
        if hasattr(cls, "dir"):
            cls.dir.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls.tear_down()

    def client(self, host, port, count):
        result = run("ip", "netns", "exec", self.client_ns, "python3", "-c", CLIENT, host, str(port), str(count))
        return json.loads(result.stdout)

    def test_1_redirected_connection_is_forwarded_and_captured(self):
        answers = self.client(self.server_ip, BACKEND_PORT, 3)
        self.assertEqual([a["result"]["echo"] for a in answers], ["call-0", "call-1", "call-2"])
        # The backend was reached by mcptap (from the server's own address), not by the client.
        self.assertEqual({a["result"]["peer"] for a in answers}, {self.server_ip})
        rows = wait_for_rows(self.route, 6)
        self.assertEqual(len(rows), 6, rows)
        self.assertEqual({r["transport"] for r in rows}, {"tcp"})
        requests = {r["correlation_id"]: r for r in rows if r["kind"] == "request"}
        responses = [r for r in rows if r["kind"] == "response"]
        self.assertEqual(len(requests), 3)
        for response in responses:
            request = requests[response["correlation_id"]]
            self.assertEqual(response["payload"]["result"]["echo"],
                             request["payload"]["params"]["arguments"]["text"])

    def test_2_a_direct_connection_to_mcptap_is_refused_not_looped(self):
        answers = self.client(self.server_ip, MCPTAP_PORT, 1)
        self.assertEqual(answers, [None], "the client must be closed without an answer")
        deadline = time.time() + 5
        while '"ELOOP"' not in self.log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn('"upstream connect failed"', self.log())
        self.assertIn('"ELOOP"', self.log())

    def test_3_sigterm_drains_and_exits_zero(self):
        self.mcptap.send_signal(signal.SIGTERM)
        self.assertEqual(self.mcptap.wait(timeout=30), 0, self.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
