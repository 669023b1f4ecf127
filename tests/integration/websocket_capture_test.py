"""A real python3-websockets client and server (permessage-deflate on, their default) talk
through mcptap: the client must see exactly what it sees on a direct connection, and every
message must land in PostgreSQL with the right direction, kind, id, method, correlation
and payload."""
import json
import unittest

from harness import Mcptap, run_async, unique_name, wait_for_rows
from ws_backend import Backend
from ws_client import LARGE_TEXT, SECRET, conversation

def arguments(row):
    return ((row["payload"] or {}).get("params") or {}).get("arguments") or {}


class WebSocketCaptureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("ws")
        with Backend() as backend:
            cls.direct = run_async(conversation(f"ws://127.0.0.1:{backend.port}/mcp"))
            with Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{backend.port}"}]) as tap:
                cls.proxied = run_async(conversation(f"ws://127.0.0.1:{tap.ports[cls.route]}/mcp"))
                cls.exit_code = tap.stop()
                cls.log = tap.log()
        # The rows were flushed before mcptap exited; nothing should still be arriving.
        cls.rows = wait_for_rows(cls.route, 22, timeout=5)

    def test_client_sees_exactly_what_a_direct_connection_gives(self):
        self.assertEqual(self.direct, self.proxied)

    def test_sigterm_drains_and_exits_zero(self):
        self.assertEqual(self.exit_code, 0, self.log)

    def test_every_message_is_recorded_once(self):
        self.assertEqual(len(self.rows), 22, [(r["direction"], r["kind"], r["method"]) for r in self.rows])
        by_direction = {}
        for row in self.rows:
            by_direction[row["direction"]] = by_direction.get(row["direction"], 0) + 1
        self.assertEqual(by_direction, {"client_to_server": 11, "server_to_client": 11})
        self.assertEqual({r["transport"] for r in self.rows}, {"websocket"})
        self.assertEqual(len({r["connection_id"] for r in self.rows}), 1)
        self.assertTrue(all(r["session_id"] == r["connection_id"] for r in self.rows))

    def test_payloads_match_what_crossed_the_wire(self):
        sent_by_server = [json.loads(t) for t in self.proxied]
        recorded = [r["payload"] for r in self.rows if r["direction"] == "server_to_client"]
        self.assertEqual(recorded, sent_by_server)
        for row, text in zip([r for r in self.rows if r["direction"] == "server_to_client"], self.proxied):
            self.assertEqual(row["payload_bytes"], len(text.encode()))
        self.assertTrue(any(r["meta"]["compressed"] for r in self.rows), "permessage-deflate in use")

    def test_kinds_ids_and_methods(self):
        requests = [r for r in self.rows if r["kind"] == "request"]
        self.assertEqual([(r["jsonrpc_id"], r["method"]) for r in requests if r["direction"] == "client_to_server"],
                         [("1", "initialize"), ("2", "tools/list")] + [("3", "tools/call")] * 4 +
                         [('"x"', "no/such"), ("3", "tools/call"), ("3", "tools/call")])
        notifications = [(r["direction"], r["method"]) for r in self.rows if r["kind"] == "notification"]
        self.assertEqual(notifications, [("client_to_server", "notifications/initialized"),
                                         ("server_to_client", "notifications/progress")])
        errors = [r for r in self.rows if r["kind"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual((errors[0]["jsonrpc_id"], errors[0]["method"]), ('"x"', "no/such"))

    def test_reused_ids_pair_each_response_with_its_own_request(self):
        calls = {r["payload"]["params"]["arguments"]["text"]: r for r in self.rows
                 if r["kind"] == "request" and r["method"] == "tools/call"
                 and r["payload"]["params"]["name"] == "echo"}
        results = [r for r in self.rows if r["kind"] == "response" and r["method"] == "tools/call"]
        paired = {}
        for response in results:
            text = response["payload"]["result"]["content"][0]["text"]
            if text in calls:
                self.assertEqual(response["correlation_id"], calls[text]["correlation_id"], text[:20])
                self.assertGreaterEqual(response["latency_us"], 0)
                paired[text] = response
        self.assertEqual(set(paired), set(calls))  # a, b, c, the secret call, the large one
        # "a" was held 30 ms by the backend: its latency shows it, b and c queued behind it.
        self.assertGreaterEqual(paired["a"]["latency_us"], 30000)

    def test_every_request_has_a_distinct_correlation_shared_with_its_answer(self):
        requests = [r for r in self.rows if r["kind"] == "request"]
        ids = [r["correlation_id"] for r in requests]
        self.assertNotIn(None, ids)
        self.assertEqual(len(set(ids)), len(ids))
        answers = [r for r in self.rows if r["kind"] in ("response", "error")]
        self.assertEqual(sorted(r["correlation_id"] for r in answers), sorted(ids))
        for answer in answers:
            request = next(r for r in requests if r["correlation_id"] == answer["correlation_id"])
            self.assertNotEqual(request["direction"], answer["direction"])
            self.assertEqual(request["method"], answer["method"])
            self.assertEqual(request["jsonrpc_id"], answer["jsonrpc_id"])

    def test_progress_joins_its_request(self):
        progress = next(r for r in self.rows if r["method"] == "notifications/progress")
        request_a = next(r for r in self.rows if r["kind"] == "request" and arguments(r).get("text") == "a")
        self.assertEqual(progress["correlation_id"], request_a["correlation_id"])

    def test_server_to_client_request_correlates(self):
        sampling = next(r for r in self.rows if r["method"] == "sampling/createMessage" and r["kind"] == "request")
        self.assertEqual((sampling["direction"], sampling["jsonrpc_id"]), ("server_to_client", '"s1"'))
        answer = next(r for r in self.rows if r["correlation_id"] == sampling["correlation_id"] and r["kind"] == "response")
        self.assertEqual((answer["direction"], answer["method"]), ("client_to_server", "sampling/createMessage"))

    def test_secrets_never_reach_the_table(self):
        self.assertFalse(any(SECRET in json.dumps(r) for r in self.rows))
        secret_call = next(r for r in self.rows if r["kind"] == "request" and arguments(r).get("user") == "ann")
        self.assertTrue(secret_call["redacted"])
        self.assertEqual(secret_call["payload"]["params"]["arguments"]["api_key"], "[REDACTED]")
        self.assertEqual(sum(1 for r in self.rows if r["redacted"]), 1)

    def test_ids_are_uuid_v7_in_capture_order(self):
        for row in self.rows:
            self.assertEqual(row["id"][14], "7", row["id"])
        times = [r["captured_at"] for r in self.rows]
        self.assertEqual(times, sorted(times))

    def test_large_compressed_message(self):
        large = next(r for r in self.rows if r["kind"] == "request" and arguments(r).get("text") == LARGE_TEXT)
        self.assertGreater(large["payload_bytes"], 1_000_000)
        self.assertTrue(large["meta"]["compressed"])
        self.assertFalse(large["truncated"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
