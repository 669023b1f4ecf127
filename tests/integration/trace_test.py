"""`mcptap query --trace ID` across two hops: a host talks to a stdio relay through
`mcptap stdio`; the relay calls a TCP backend through `mcptap run`. Tracing the call on
the stdio hop finds the relay's call to the backend (same tool and arguments, another
route, within the window) and shows what changed between the hops."""
import json
import subprocess
import sys
import unittest

from harness import HERE, Mcptap, unique_name, wait_for_rows
from raw_wire import NdjsonUpstream

PYTHON = sys.executable or "/usr/bin/python3"


def upper_case(message):
    """The backend's answer to a tools/call: its arguments' text, upper-cased."""
    text = message["params"]["arguments"]["text"].upper()
    return {"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": text}]}}


class TraceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hop, cls.backend_route = unique_name("trhop"), unique_name("trback")
        backend = NdjsonUpstream(upper_case)
        cls.tap = Mcptap([{"name": cls.backend_route, "upstream": f"127.0.0.1:{backend.port}"}]).start()
        calls = [{"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": text}}} for text in ("alpha", "beta")]
        cls.hop_run = subprocess.run(
            [cls.tap.binary, "stdio", "--route", cls.hop, "--config", cls.tap.config_path, "--",
             PYTHON, f"{HERE}/stdio_relay.py", "127.0.0.1", str(cls.tap.ports[cls.backend_route])],
            input="".join(json.dumps(c) + "\n" for c in calls).encode(), capture_output=True, timeout=60)
        cls.hop_rows = wait_for_rows(cls.hop, 4)
        cls.backend_rows = wait_for_rows(cls.backend_route, 4)

    @classmethod
    def tearDownClass(cls):
        cls.tap.close()

    def trace(self, message_id, *extra):
        return subprocess.run([self.tap.binary, "query", "--trace", message_id, *extra],
                              capture_output=True, text=True, timeout=30,
                              env=dict(self.tap.env, MCPTAP_PG_URL=self.tap.read_config()["sink"]["postgres"]))

    def hop_request(self, text):
        return next(r for r in self.hop_rows if r["kind"] == "request"
                    and r["payload"]["params"]["arguments"]["text"] == text)

    def test_the_relay_answered_through_both_hops(self):
        self.assertEqual(self.hop_run.returncode, 0, self.hop_run.stderr)
        texts = [json.loads(line)["result"]["content"][0]["text"] for line in self.hop_run.stdout.splitlines()]
        self.assertEqual(texts, ["ALPHA", "BETA"])
        self.assertEqual(len(self.hop_rows), 4)
        self.assertEqual(len(self.backend_rows), 4)

    def test_trace_lines_up_the_call_on_both_hops_with_a_diff(self):
        result = self.trace(self.hop_request("beta")["id"])
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        self.assertIn(f"traced from route {self.hop}", out)
        self.assertIn(f"same call on route {self.backend_route} (tcp)", out)
        self.assertEqual(out.count("same call on route"), 1, out)  # "alpha" has other arguments
        self.assertIn("~ id: 3 → 7", out)
        self.assertIn('+ params._meta: {"relay":"stdio-relay"}', out)
        self.assertIn('"BETA"', out)

    def test_trace_from_the_answer_and_as_json(self):
        request = self.hop_request("alpha")
        answer = next(r for r in self.hop_rows if r["kind"] == "response"
                      and r["correlation_id"] == request["correlation_id"])
        result = self.trace(answer["id"], "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        document = json.loads(result.stdout)
        self.assertEqual(document["origin"]["request"]["id"], request["id"])
        self.assertEqual(document["origin"]["request"]["transport"], "stdio")
        self.assertEqual(len(document["matches"]), 1)
        match = document["matches"][0]
        self.assertEqual(match["request"]["route"], self.backend_route)
        self.assertEqual(match["reply"]["payload"]["result"]["content"][0]["text"], "ALPHA")
        self.assertIn("~ id: 3 → 7", match["request_diff"])
        self.assertEqual(match["reply_diff"], ["~ id: 3 → 7"])

    def test_errors(self):
        self.assertEqual(self.trace("not-a-uuid").returncode, 2)
        missing = self.trace("01890000-0000-7000-8000-000000000000")
        self.assertEqual(missing.returncode, 1)
        self.assertIn("no message", missing.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
