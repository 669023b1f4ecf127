"""Operations of MCP revision 2026-07-28 through mcptap, with the stateless peer and client
of this directory (stateless_peer.py, stateless_client.py; the flows and their ids are
listed in stateless_client.py): multi round-trip retries on new connections, a retry
without requestState, two concurrent operations of one tool, a task of the tasks extension,
a subscriptions/listen stream and a deliberate header mismatch.

Each flow runs over Streamable HTTP with JSON answers, with SSE answers, and over
WebSocket (one JSON-RPC message per text frame), first directly against the peer and then
through an mcptap route. The client must get what it gets directly, byte for byte what the
peer sent; the rows must tie each operation's messages together with one operation_id and
say how (meta.operation_link), what each result was (meta.result_type), what the whole
operation took (meta.operation on its final answer), which headers disagreed with the body
(meta.header_mismatch, meta.error_name, mcptap_header_mismatch_total) and which protocol
revision and client produced every message (meta.protocol_version, meta.client).
"""
import json
import os
import re
import subprocess
import time
import unittest
import urllib.request

from harness import Mcptap, pg_url, query_rows, unique_name
from stateless_client import CLIENT_INFO, LISTEN_URI, PROTOCOL_VERSION, run_flows
from stateless_peer import PeerServer

C2S, S2C = "client_to_server", "server_to_client"
VOLATILE_KEYS = ("requestState", "taskId", "createdAt", "lastUpdatedAt")
CONFIRM_INPUTS = [{"key": "github_login", "method": "elicitation/create"},
                  {"key": "capital_of_france", "method": "sampling/createMessage"}]
TASK_INPUTS = [{"key": "approve_job", "method": "elicitation/create"}]


def read_rows(route):
    """Every column of the route's rows (operation_id included once the schema has it)."""
    return query_rows("SELECT * FROM mcptap.messages WHERE route = $1 ORDER BY id", route)


def wait_for_route_rows(route, count, timeout):
    deadline = time.time() + timeout
    rows = read_rows(route)
    while len(rows) < count and time.time() < deadline:
        time.sleep(0.1)
        rows = read_rows(route)
    return rows


def flows_only(flows):
    return {name: exchanges for name, exchanges in flows.items() if not name.startswith("_")}


def volatile_values(value, found):
    """Names the values of VOLATILE_KEYS in a JSON document, in document order:
    found[value] = "<key-n>" for the n-th distinct value of that key."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if key in VOLATILE_KEYS and isinstance(sub, str) and sub not in found:
                found[sub] = f"<{key}-{sum(1 for p in found.values() if p.startswith(f'<{key}-'))}>"
            volatile_values(sub, found)
    elif isinstance(value, list):
        for sub in value:
            volatile_values(sub, found)


def comparable(flows):
    """Each flow's exchanges with the values the peer draws afresh on every run (request
    states, task ids, timestamps) replaced by their order of appearance in that flow."""
    out = {}
    for name, exchanges in flows_only(flows).items():
        found = {}
        for exchange in exchanges:
            volatile_values(exchange["sent"], found)
            for message in exchange["messages"]:
                volatile_values(message, found)

        def scrub(text):
            for value, placeholder in found.items():
                text = text.replace(value, placeholder)
            return text

        out[name] = [(scrub(json.dumps(e["sent"], sort_keys=True)), e["status"], e["content_type"],
                      scrub(e["body"])) for e in exchanges]
    return out


def describe(rows):
    return [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"]) for r in rows]


class OperationChecks:
    """Subclasses set TRANSPORT ("http" or "ws") and ANSWERS ("json" or "sse")."""

    TRANSPORT = None
    ANSWERS = "json"
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.route = unique_name(f"ops_{cls.TRANSPORT}_{cls.ANSWERS}")
        cls.proxied = cls.proxied_error = cls.exit_code = None
        cls.metrics = cls.log = ""
        with PeerServer(cls.TRANSPORT, cls.ANSWERS) as peer:
            cls.direct = run_flows(peer.url)  # the peer and client agree before mcptap is in
        with PeerServer(cls.TRANSPORT, cls.ANSWERS) as peer:
            tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{peer.port}"}])
            try:
                tap.start()
                scheme = "http" if cls.TRANSPORT == "http" else "ws"
                try:
                    cls.proxied = run_flows(f"{scheme}://127.0.0.1:{tap.ports[cls.route]}/mcp")
                except Exception as error:  # reported by the tests that need the proxied run
                    cls.proxied_error = repr(error)
                with urllib.request.urlopen(f"http://127.0.0.1:{tap.admin_port}/metrics", timeout=10) as r:
                    cls.metrics = r.read().decode()
                cls.exit_code = tap.stop()
                cls.log = tap.log()
            finally:
                tap.close()
            cls.peer_sent = list(peer.sent)
        cls.binary = tap.binary
        # Rows are flushed before mcptap exits; nothing should still be arriving.
        cls.rows = wait_for_route_rows(cls.route, cls.expected_row_count(), timeout=5)

    @classmethod
    def expected_row_count(cls):
        flows = flows_only(cls.proxied or cls.direct)
        count = sum(1 + len(e["messages"]) for exchanges in flows.values() for e in exchanges)
        return count + (1 if cls.TRANSPORT == "ws" else 0)  # the listen's notifications/cancelled

    # --- helpers -------------------------------------------------------------------------

    def require_proxied(self):
        if self.proxied is None:
            self.fail(f"the flows failed through mcptap: {self.proxied_error}\nmcptap log:\n{self.log}")

    def the_row(self, direction, kind, request_id, method):
        jsonrpc_id = None if request_id is None else json.dumps(request_id)
        found = [r for r in self.rows if (r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                 == (direction, kind, jsonrpc_id, method)]
        self.assertEqual(len(found), 1, f"one row {direction} {kind} id={jsonrpc_id} {method}; "
                                        f"captured: {describe(self.rows)}")
        return found[0]

    def request_row(self, request_id, method="tools/call"):
        return self.the_row(C2S, "request", request_id, method)

    def answer_row(self, request_id, method="tools/call", kind="response"):
        return self.the_row(S2C, kind, request_id, method)

    def flow_ids(self, flow):
        self.require_proxied()
        return [(e["sent"]["id"], e["sent"]["method"]) for e in self.proxied[flow]]

    def flow_rows(self, flow):
        """(requests, answers) of a flow, in order."""
        ids = self.flow_ids(flow)
        return ([self.request_row(i, m) for i, m in ids], [self.answer_row(i, m) for i, m in ids])

    def operation_of(self, rows):
        """The one operation_id all rows share."""
        ids = [r.get("operation_id") for r in rows]
        self.assertNotIn(None, ids, f"operation_id on every row: {describe(rows)}")
        self.assertEqual(len(set(ids)), 1, f"one operation_id: {list(zip(describe(rows), ids))}")
        return ids[0]

    def assert_final_summary(self, answer, round_trips, inputs):
        operation = answer["meta"].get("operation")
        self.assertIsNotNone(operation, f"meta.operation on the final answer: {answer['meta']}")
        self.assertEqual(set(operation), {"round_trips", "elapsed_us", "inputs"}, operation)
        self.assertEqual(operation["round_trips"], round_trips, operation)
        self.assertEqual(operation["inputs"], inputs, operation)
        self.assertIsInstance(operation["elapsed_us"], int)
        self.assertGreater(operation["elapsed_us"], 0)
        # From the first request's last byte to this answer's: no shorter than the answer's own
        # latency, and within what the flow took.
        self.assertGreaterEqual(operation["elapsed_us"], answer["latency_us"] or 0)
        self.assertLess(operation["elapsed_us"], 60_000_000)

    def assert_multi_round_trip(self, flow, link, inputs=CONFIRM_INPUTS):
        requests, answers = self.flow_rows(flow)
        self.assertEqual(len(requests), 3)
        self.assertEqual(len({r["jsonrpc_id"] for r in requests}), 3, "a new id for every retry")
        operation = self.operation_of(requests + answers)
        self.assertEqual(operation, requests[0]["correlation_id"],
                         "the operation is named by its first request")
        self.assertNotIn("operation_link", requests[0]["meta"])
        for retry in requests[1:]:
            self.assertEqual(retry["meta"].get("operation_link"), link, retry["jsonrpc_id"])
        for interim in answers[:2]:
            self.assertEqual(interim["meta"].get("result_type"), "input_required", interim["jsonrpc_id"])
            self.assertNotIn("operation", interim["meta"], "only the final answer sums up")
        self.assertEqual(answers[2]["meta"].get("result_type"), "complete")
        self.assert_final_summary(answers[2], 3, inputs)
        return operation, requests, answers

    # --- forwarding ------------------------------------------------------------------------

    def test_direct_run_is_complete(self):
        names = {"discover", "tools", "lookup", "confirm", "no_state", "alpha", "beta", "task", "listen"}
        if self.TRANSPORT == "http":
            names.add("mismatch")
        self.assertEqual(set(flows_only(self.direct)), names)

    def test_client_sees_what_a_direct_connection_gives(self):
        self.require_proxied()
        self.assertEqual(comparable(self.direct), comparable(self.proxied))

    def test_bytes_are_forwarded_unchanged(self):
        """What the client read through mcptap is exactly what the peer wrote."""
        self.require_proxied()
        if self.TRANSPORT == "ws":
            self.assertEqual(sorted(self.proxied["_frames"]), sorted(s["text"] for s in self.peer_sent))
            return
        sent = {json.dumps(s["id"]): s for s in self.peer_sent}
        exchanges = [e for exchanges in flows_only(self.proxied).values() for e in exchanges]
        self.assertEqual(len(sent), len(exchanges))
        for exchange in exchanges:
            wrote = sent[json.dumps(exchange["sent"]["id"])]
            self.assertEqual((exchange["status"], exchange["content_type"], exchange["body"].encode()),
                             (wrote["status"], wrote["content_type"], wrote["body"]), exchange["sent"]["id"])

    def test_sigterm_drains_and_exits_zero(self):
        self.assertEqual(self.exit_code, 0, self.log)

    def test_every_message_is_recorded_once(self):
        self.require_proxied()
        expected = []
        for exchanges in flows_only(self.proxied).values():
            for e in exchanges:
                sent = e["sent"]
                expected.append((C2S, "request", json.dumps(sent["id"]), sent["method"]))
                for message in e["messages"]:
                    if "method" in message:
                        expected.append((S2C, "notification", None, message["method"]))
                    else:
                        kind = "error" if "error" in message else "response"
                        expected.append((S2C, kind, json.dumps(sent["id"]), sent["method"]))
        if self.TRANSPORT == "ws":
            expected.append((C2S, "notification", None, "notifications/cancelled"))
        self.assertEqual(sorted(describe(self.rows), key=repr), sorted(expected, key=repr))

    # --- multi round-trip requests -----------------------------------------------------------

    def test_retries_share_the_operation_of_the_first_request(self):
        _, requests, _ = self.assert_multi_round_trip("confirm", "request_state")
        # Every retry travelled on a TCP connection of its own (on WebSocket: its own connection).
        connections = [r["connection_id"] for r in requests]
        self.assertEqual(len(set(connections)), 3, connections)

    def test_retry_without_request_state_is_linked_by_heuristic(self):
        _, requests, _ = self.assert_multi_round_trip("no_state", "heuristic")
        for retry in requests[1:]:
            self.assertNotIn("requestState", retry["payload"]["params"])
        if self.TRANSPORT == "http":
            self.assertEqual(len({r["connection_id"] for r in requests}), 3)

    def test_concurrent_operations_of_one_tool_are_not_mixed(self):
        operations = {}
        for name, (login, capital) in (("alpha", ("alpha-user", "Paris (alpha)")),
                                       ("beta", ("beta-user", "Paris (beta)"))):
            operation, requests, answers = self.assert_multi_round_trip(name, "request_state")
            operations[name] = operation
            for request in requests:
                self.assertEqual(request["payload"]["params"]["arguments"]["subject"], f"release {name}")
            self.assertEqual(requests[1]["payload"]["params"]["inputResponses"]["github_login"]["content"],
                             {"name": login})
            self.assertEqual(requests[2]["payload"]["params"]["inputResponses"]["capital_of_france"]
                             ["content"]["text"], capital)
            self.assertEqual(answers[2]["payload"]["result"]["content"][0]["text"],
                             f"release {name}: github_login={login}, capital_of_france={capital}")
        self.assertNotEqual(operations["alpha"], operations["beta"])
        others = [r for r in self.rows if r.get("operation_id") in operations.values()]
        self.assertEqual(len(others), 12, "no other row joins either operation")

    # --- tasks -------------------------------------------------------------------------------

    def test_task_polls_and_update_share_the_creating_call_operation(self):
        self.assertEqual(self.flow_ids("task"), [(40, "tools/call"), (41, "tasks/get"), (42, "tasks/get"),
                                                 (43, "tasks/update"), (44, "tasks/get")])
        requests, answers = self.flow_rows("task")
        operation = self.operation_of(requests + answers)
        self.assertEqual(operation, requests[0]["correlation_id"])
        self.assertNotIn("operation_link", requests[0]["meta"])
        for request in requests[1:]:
            self.assertEqual(request["meta"].get("operation_link"), "task", request["jsonrpc_id"])
        self.assertEqual([a["meta"].get("result_type") for a in answers],
                         ["task", "complete", "complete", "complete", "complete"])
        for answer in answers[:-1]:
            self.assertNotIn("operation", answer["meta"], answer["jsonrpc_id"])
        self.assertEqual(answers[-1]["payload"]["result"]["status"], "completed")
        self.assert_final_summary(answers[-1], len(requests), TASK_INPUTS)

    # --- subscriptions -----------------------------------------------------------------------

    def test_listen_notifications_join_the_listen(self):
        request = self.request_row(50, "subscriptions/listen")
        notifications = [r for r in self.rows if r["direction"] == S2C and r["kind"] == "notification"]
        self.assertEqual([r["method"] for r in notifications],
                         ["notifications/subscriptions/acknowledged", "notifications/tools/list_changed",
                          "notifications/resources/updated"])
        self.assertEqual(notifications[2]["payload"]["params"]["uri"], LISTEN_URI)
        operation = self.operation_of([request] + notifications)
        self.assertEqual(operation, request["correlation_id"])
        for notification in notifications:
            self.assertEqual(notification["meta"].get("operation_link"), "subscription",
                             notification["method"])
        if self.TRANSPORT == "ws":  # the client ends the listen by cancelling it
            cancelled = self.the_row(C2S, "notification", None, "notifications/cancelled")
            self.assertEqual(cancelled.get("operation_id"), operation)

    # --- single exchanges, identity, headers ----------------------------------------------------

    def test_single_exchanges_are_operations_of_their_own(self):
        for flow in ("discover", "tools", "lookup"):
            requests, answers = self.flow_rows(flow)
            for request, answer in zip(requests, answers):
                self.assertEqual(request.get("operation_id"), request["correlation_id"],
                                 request["jsonrpc_id"])
                self.assertEqual(answer.get("operation_id"), request["correlation_id"], answer["jsonrpc_id"])
                self.assertNotIn("operation_link", request["meta"])
                self.assertNotIn("operation", answer["meta"])
                self.assertEqual(answer["meta"].get("result_type"), "complete", answer["jsonrpc_id"])

    def test_every_row_names_its_protocol_revision_and_client(self):
        self.assertTrue(self.rows)
        for row in self.rows:
            label = (row["direction"], row["kind"], row["jsonrpc_id"], row["method"])
            self.assertEqual(row["meta"].get("protocol_version"), PROTOCOL_VERSION, label)
            self.assertEqual(row["meta"].get("client"), CLIENT_INFO, label)

    def test_headers_that_agree_are_not_flagged(self):
        """Mcp-Param-Region in plain ASCII and as the Base64 sentinel ("Zürich"), Mcp-Name of
        tools/call and of the tasks methods: only the deliberate mismatch is flagged."""
        flagged = [r for r in self.rows if "header_mismatch" in r["meta"]]
        expected = [json.dumps(60)] if self.TRANSPORT == "http" else []
        self.assertEqual([r["jsonrpc_id"] for r in flagged], expected)
        samples = re.findall(r'^mcptap_header_mismatch_total\{[^}]*route="%s"[^}]*\} (\S+)$'
                             % re.escape(self.route), self.metrics, re.M)
        self.assertEqual([float(s) for s in samples], [float(len(expected))],
                         [l for l in self.metrics.splitlines() if "header_mismatch" in l])

    # --- the CLI -----------------------------------------------------------------------------

    def test_query_operation_prints_the_operation(self):
        operation = self.request_row(10).get("operation_id")
        self.assertIsNotNone(operation, "operation_id recorded")
        env = dict(os.environ, MCPTAP_PG_URL=pg_url())
        listing = subprocess.run([self.binary, "query", "--operation", operation, "--json"],
                                 capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        rows = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
        self.assertEqual(sorted((r["direction"], r["jsonrpc_id"]) for r in rows),
                         sorted((d, i) for d in (C2S, S2C) for i in ("10", "11", "12")))
        self.assertTrue(all(r["operation_id"] == operation for r in rows), rows)
        timeline = subprocess.run([self.binary, "query", "--operation", operation],
                                  capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(timeline.returncode, 0, timeline.stderr)
        for request_id in (10, 11, 12):
            self.assertIn(f"id={request_id}", timeline.stdout)
        self.assertNotIn("id=20", timeline.stdout)
        self.assertIn("3 round trips", timeline.stdout)


class HttpMismatchChecks:
    def test_header_mismatch_is_recorded_and_forwarded(self):
        self.require_proxied()
        exchange = self.proxied["mismatch"][0]
        self.assertEqual((exchange["status"], exchange.answer()["error"]["code"]), (400, -32020))
        request = self.request_row(60)
        self.assertEqual(request["meta"].get("header_mismatch"),
                         [{"header": "mcp-name", "reason": "differs", "header_value": "confirm",
                           "body_value": "lookup"}])
        error = self.answer_row(60, kind="error")
        self.assertEqual(error["meta"].get("error_name"), "HeaderMismatch")
        self.assertEqual(error["meta"]["http"]["status"], 400)
        self.assertEqual(error.get("operation_id"), request["correlation_id"])


class JsonTest(HttpMismatchChecks, OperationChecks, unittest.TestCase):
    """Streamable HTTP, every answer application/json (a listen is an event stream)."""
    TRANSPORT, ANSWERS = "http", "json"


class SseTest(HttpMismatchChecks, OperationChecks, unittest.TestCase):
    """Streamable HTTP, every answer a text/event-stream of one event."""
    TRANSPORT, ANSWERS = "http", "sse"


class WebSocketTest(OperationChecks, unittest.TestCase):
    """WebSocket, one JSON-RPC message per text frame; the MRTR retries of "confirm" each on
    a new connection, everything else on one. A frame has no headers: no mismatch flow, and
    nothing may be flagged."""
    TRANSPORT = "ws"


if __name__ == "__main__":
    unittest.main(verbosity=2)
