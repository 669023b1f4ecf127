"""Several `mcptap stdio` processes on one route share its spool directory: each spools into
a directory of its own, so hops started together all capture, and a spool one of them left
undelivered (PostgreSQL unreachable) is shipped by the route's next stdio process. Every
message lands in PostgreSQL, none is lost or doubled, and delivered spools are removed."""
import json
import os
import subprocess
import sys
import unittest

from harness import HERE, Mcptap, log_lines, unique_name, wait_for_rows

SERVER = os.path.join(HERE, "stdio_server.py")
PYTHON = sys.executable or "/usr/bin/python3"
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"


def request(message_id, text):
    return {"jsonrpc": "2.0", "id": message_id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}}


def line(message):
    return (json.dumps(message) + "\n").encode()


class StdioConcurrentTest(unittest.TestCase):
    CALLS = 20  # per process: 40 rows each (a request and its response)

    def setUp(self):
        self.route = unique_name("hopmany")
        self.tap = Mcptap([{"name": self.route, "upstream": "127.0.0.1:9"}])
        self.root = os.path.join(self.tap.dir.name, "spool-stdio-" + self.route)
        # MCPTAP_PG_URL would override the configuration's sink.postgres.
        self.env = {k: v for k, v in os.environ.items() if k != "MCPTAP_PG_URL"}

    def tearDown(self):
        self.tap.close()

    def hop(self, config_path, *server_args):
        # stderr is the child's: mcptap's own log lines go to a file of their own.
        log_path = os.path.join(self.tap.dir.name, unique_name("hop") + ".log")
        process = subprocess.Popen([self.tap.binary, "stdio", "--route", self.route, "--config", config_path,
                                    "--log-file", log_path, "--", PYTHON, SERVER, *server_args],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=self.env)
        process.log_path = log_path
        return process

    def converse(self, process, tag):
        """The rest of the conversation after the first call, then the end of stdin."""
        replies = []
        for n in range(2, self.CALLS + 1):
            process.stdin.write(line(request(n, f"{tag}-{n}")))
            process.stdin.flush()
            replies.append(json.loads(process.stdout.readline()))
        process.stdin.close()
        return replies

    def finish(self, process):
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr = process.stderr.read().decode()
        process.stdout.close()
        process.stderr.close()
        with open(process.log_path) as f:
            return process.returncode, stderr + f.read()

    def stopped(self, stderr):
        return next(l for l in log_lines(stderr) if l.get("msg") == "stdio: stopped")

    def assert_complete(self, rows, tag):
        texts = sorted(r["payload"]["params"]["arguments"]["text"] for r in rows if r["kind"] == "request")
        self.assertEqual(texts, sorted(f"{tag}-{n}" for n in range(1, self.CALLS + 1)))
        self.assertEqual(len([r for r in rows if r["kind"] == "response"]), self.CALLS)
        self.assertEqual(len({r["connection_id"] for r in rows}), 1)

    def test_two_hops_on_one_route_at_once(self):
        first, second = self.hop(self.tap.config_path, "5"), self.hop(self.tap.config_path, "6")
        try:
            # Both answer their first call before either goes on: both run, spools open, at once.
            for process, tag in ((first, "a"), (second, "b")):
                process.stdin.write(line(request(1, f"{tag}-1")))
                process.stdin.flush()
            for process in (first, second):
                self.assertEqual(json.loads(process.stdout.readline())["id"], 1)
            self.assertEqual(len(self.converse(first, "a")), self.CALLS - 1)
            self.assertEqual(len(self.converse(second, "b")), self.CALLS - 1)
        finally:
            results = [self.finish(first), self.finish(second)]
        self.assertEqual([code for code, _ in results], [5, 6], results[0][1][-2000:] + results[1][1][-2000:])
        for _, stderr in results:
            self.assertNotIn("locked by another mcptap process", stderr)
            self.assertNotIn("spool directory unusable", stderr)
            stopped = self.stopped(stderr)
            self.assertEqual(stopped["dropped_records"], 0, stopped)
            self.assertTrue(stopped["flushed"], stopped)

        rows = wait_for_rows(self.route, 4 * self.CALLS, timeout=20)
        self.assertEqual(len(rows), 4 * self.CALLS)
        self.assertEqual(len({r["id"] for r in rows}), len(rows))
        by_text = {}
        for r in rows:
            if r["kind"] == "request":
                by_text[r["payload"]["params"]["arguments"]["text"]] = r["connection_id"]
        connections = {by_text["a-1"], by_text["b-1"]}
        self.assertEqual(len(connections), 2, "each hop is a connection of its own")
        for tag in ("a", "b"):
            connection = by_text[f"{tag}-1"]
            self.assert_complete([r for r in rows if r["connection_id"] == connection], tag)
        # Both delivered everything: their spool directories are gone.
        self.assertEqual([e for e in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, e))], [])

    def test_a_spool_left_undelivered_is_shipped_by_the_next_hop(self):
        config = self.tap.read_config()
        config["sink"]["postgres"] = UNREACHABLE
        config.setdefault("proxy", {})["drain_timeout_ms"] = 0  # give up after the 5 s minimum
        offline_path = os.path.join(self.tap.dir.name, "offline.json")
        with open(offline_path, "w") as f:
            json.dump(config, f)

        offline = self.hop(offline_path)
        offline.stdin.write(line(request(1, "c-1")))
        offline.stdin.flush()
        self.assertEqual(json.loads(offline.stdout.readline())["id"], 1)
        self.converse(offline, "c")
        code, stderr = self.finish(offline)
        self.assertEqual(code, 0, stderr[-2000:])
        self.assertFalse(self.stopped(stderr)["flushed"])
        left = [e for e in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, e))]
        self.assertEqual(len(left), 1, "the undelivered spool stays")

        online = self.hop(self.tap.config_path)
        online.stdin.write(line(request(1, "d-1")))
        online.stdin.flush()
        self.assertEqual(json.loads(online.stdout.readline())["id"], 1)
        self.converse(online, "d")
        code, stderr = self.finish(online)
        self.assertEqual(code, 0, stderr[-2000:])
        self.assertIn("adopted spool delivered", stderr)

        rows = wait_for_rows(self.route, 4 * self.CALLS, timeout=20)
        self.assertEqual(len(rows), 4 * self.CALLS)
        self.assertEqual(len({r["id"] for r in rows}), len(rows), "nothing doubled")
        texts = {r["payload"]["params"]["arguments"]["text"]: r["connection_id"]
                 for r in rows if r["kind"] == "request"}
        for tag in ("c", "d"):
            self.assert_complete([r for r in rows if r["connection_id"] == texts[f"{tag}-1"]], tag)
        self.assertEqual([e for e in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, e))], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
