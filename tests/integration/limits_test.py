"""Connection limits through the real binary: `limits.max_connections` resets the one
connection too many while the admitted ones keep working, the rejection is counted in
/routes and /metrics, and a reload (SIGHUP) that sets `idle_timeout_s` closes connections
that stay silent while a talking one stays open."""
import json
import signal
import socket
import time
import unittest
import urllib.request

from harness import Mcptap, recv_at_least
from raw_wire import EchoUpstream


def echo(sock, text):
    sock.sendall(text)
    return recv_at_least(sock, len(text))


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def admin_text(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read().decode()


def ended(sock, timeout):
    """How the connection ended within `timeout`: "eof", "reset" or "open"."""
    sock.settimeout(timeout)
    try:
        return "eof" if sock.recv(1) == b"" else "data"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "open"


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = EchoUpstream()
        upstream = f"127.0.0.1:{cls.server.port}"
        cls.tap = Mcptap([{"name": "limited", "upstream": upstream, "capture": False}],
                         extra={"limits": {"max_connections": 3}}).start()
        cls.port = cls.tap.ports["limited"]

    @classmethod
    def tearDownClass(cls):
        code = cls.tap.stop_and_close()
        cls.server.close()
        assert code == 0, f"mcptap exited {code}"

    def route(self):
        return next(r for r in admin_json(self.tap.admin_port, "/routes") if r["name"] == "limited")

    def wait_open(self, count):
        deadline = time.time() + 5
        while self.route()["connections_open"] != count and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.route()["connections_open"], count)

    def test_1_the_connection_past_the_limit_is_reset_and_counted(self):
        self.wait_open(0)  # the start-up probe's connection is gone
        admitted = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(3)]
        for i, sock in enumerate(admitted):
            self.assertEqual(echo(sock, b"hello %d" % i), b"hello %d" % i)
        extra = socket.create_connection(("127.0.0.1", self.port))
        self.assertEqual(ended(extra, 5), "reset")
        extra.close()
        for sock in admitted:
            self.assertEqual(echo(sock, b"still served"), b"still served")
        route = self.route()
        self.assertEqual(route["connections_rejected"], 1)
        self.assertEqual(route["connections_open"], 3)
        self.assertIn('mcptap_connections_rejected_total{route="limited"} 1',
                      admin_text(self.tap.admin_port, "/metrics"))
        self.assertIn("connection rejected", self.tap.log())
        # A freed slot admits the next client.
        admitted.pop().close()
        self.wait_open(2)
        with socket.create_connection(("127.0.0.1", self.port)) as again:
            self.assertEqual(echo(again, b"admitted again"), b"admitted again")
        for sock in admitted:
            sock.close()

    def test_2_a_reload_sets_an_idle_timeout_for_open_connections(self):
        self.wait_open(0)
        silent = socket.create_connection(("127.0.0.1", self.port))
        talking = socket.create_connection(("127.0.0.1", self.port))
        self.assertEqual(echo(silent, b"then quiet"), b"then quiet")
        self.assertEqual(echo(talking, b"hi"), b"hi")
        self.assertEqual(ended(silent, 1.5), "open")  # off by default
        config = self.tap.read_config()
        config["routes"][0]["limits"] = {"idle_timeout_s": 1}
        self.tap.write_config(config)
        self.tap.process.send_signal(signal.SIGHUP)
        start = time.time()
        while time.time() - start < 3:
            self.assertEqual(echo(talking, b"tick"), b"tick")
            time.sleep(0.3)
        self.assertEqual(ended(silent, 0.1), "eof")
        self.assertEqual(echo(talking, b"still open"), b"still open")
        self.assertEqual(self.route()["idle_timeouts"], 1)
        silent.close()
        talking.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
