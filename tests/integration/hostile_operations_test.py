"""Operations under hostile input: what a peer on the wire can make mcptap's operation linking
hold, and what it can make it link.

- 100,000 distinct operations left open (each tools/call answered input_required with a
  requestState of its own, never retried) on one NDJSON connection: the per-route state stays
  within capture.max_operations and capture.max_operation_bytes, the oldest are evicted and
  counted, RSS stops growing, /healthz answers throughout, every answer arrives intact.
- A requestState of 10 MB, and the retry echoing it on another connection: both forwarded
  byte for byte, the retry linked to its operation by the state.
- The same task id on two routes: two operations, one per route.
- Forged subscription ids (another session's listen id, an id no listen announced): left
  unlinked, and counted.

Every route is JSON-RPC over TCP, one message a line, in front of MrtrUpstream below.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Mcptap, query_rows, unique_name  # noqa: E402
from raw_wire import ThreadedServer  # noqa: E402

C2S, S2C = "client_to_server", "server_to_client"

OPERATIONS = 100_000
WARMUP = 20_000             # operations before the first RSS reading; the rest after it
MAX_OPERATIONS = 1000
MAX_OPERATION_BYTES = 8 << 20
MAX_PAYLOAD_BYTES = 32 << 20
# VmRSS of mcptap may not grow by more than this while the last 80,000 operations pass:
# the linking state is full after the first 1000. Unbounded, 80,000 open operations hold
# tens of MB (an operation, its requestState digest and their index entries each). Measured
# with a release build: about 25 MB after the first 20,000, 3 MB more after the rest.
RSS_GROWTH_BOUND_KB = 12 * 1024
# The whole process, 10 MB messages included (each is held whole to be parsed and spooled):
# measured at about 72 MB at its peak; the bound leaves room for a sanitizer build.
RSS_BOUND_KB = 256 * 1024

BIG_STATE = hashlib.sha256(b"mcptap").hexdigest() * (10 * (1 << 20) // 64)  # 10 MiB
TASK_ID = "reused-task-00000000000000000001"
META_2026 = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
             "io.modelcontextprotocol/clientInfo": {"name": "hostile-client", "version": "1.0"},
             "io.modelcontextprotocol/clientCapabilities": {}}
SUBSCRIPTION_META = "io.modelcontextprotocol/subscriptionId"
LISTEN_ID = 7
UNKNOWN_SUBSCRIPTION = 4242


def line(message):
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


# --- the 100,000 operations: fixed templates, so both ends know every byte ------------------

def flood_request(i):
    return (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"tool-%d",'
            b'"arguments":{"n":%d}}}\n' % (i, i, i))


def flood_answer(i):
    return (b'{"jsonrpc":"2.0","id":%d,"result":{"resultType":"input_required","inputRequests":'
            b'{"confirm":{"method":"elicitation/create","params":{"mode":"form","message":"Go on?",'
            b'"requestedSchema":{"type":"object","properties":{}}}}},"requestState":"state-%d-%s"}}\n'
            % (i, i, hashlib.md5(b"%d" % i).hexdigest().encode()))


# --- the 10 MB requestState -------------------------------------------------------------

def big_call(jsonrpc_id, retry):
    params = {"name": "big", "arguments": {}, "_meta": META_2026}
    if retry:
        params["inputResponses"] = {"confirm": {"action": "accept", "content": {}}}
        params["requestState"] = BIG_STATE
    return line({"jsonrpc": "2.0", "id": jsonrpc_id, "method": "tools/call", "params": params})


def big_answer(jsonrpc_id, retry):
    if retry:
        return line({"jsonrpc": "2.0", "id": jsonrpc_id, "result": {
            "resultType": "complete", "content": [{"type": "text", "text": "confirmed"}]}})
    return line({"jsonrpc": "2.0", "id": jsonrpc_id, "result": {
        "resultType": "input_required",
        "inputRequests": {"confirm": {"method": "elicitation/create", "params": {
            "mode": "form", "message": "Go on?", "requestedSchema": {"type": "object", "properties": {}}}}},
        "requestState": BIG_STATE}})


# --- a task (2025-11-25 shapes) with a fixed id ----------------------------------------

def task_requests():
    return [line({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "job", "arguments": {}, "task": {"ttl": 60000}}}),
            line({"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"taskId": TASK_ID}}),
            line({"jsonrpc": "2.0", "id": 3, "method": "tasks/result", "params": {"taskId": TASK_ID}})]


def task_state(status):
    return {"taskId": TASK_ID, "status": status, "ttl": 60000, "pollInterval": 100,
            "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:01Z"}


# --- the upstream -----------------------------------------------------------------------

class MrtrUpstream(ThreadedServer):
    """JSON-RPC over TCP, one message a line, a thread per connection. Reads in large chunks
    and answers every complete line of a chunk with one write, so that 100,000 requests
    pipelined on one connection pass in seconds. Lines of a megabyte or more are kept as
    received (the 10 MB retry)."""

    def __init__(self):
        self.big_lines = []
        super().__init__()

    def serve(self, conn):
        pending = bytearray()
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                pending += data
                end = pending.rfind(b"\n")
                if end < 0:
                    continue
                lines = bytes(pending[:end]).split(b"\n")
                del pending[:end + 1]
                out = b"".join(self.answer(raw) for raw in lines if raw)
                if out:
                    conn.sendall(out)

    def answer(self, raw):
        if len(raw) >= 1 << 20:
            self.big_lines.append(raw + b"\n")
        message = json.loads(raw)
        method, params = message.get("method"), message.get("params") or {}
        if method == "tools/call" and params.get("name", "").startswith("tool-"):
            return flood_answer(message["id"])
        if method == "tools/call" and params.get("name") == "big":
            retry = "requestState" in params
            if retry and params["requestState"] != BIG_STATE:
                return line({"jsonrpc": "2.0", "id": message["id"],
                             "error": {"code": -32602, "message": "requestState altered"}})
            return big_answer(message["id"], retry)
        if method == "tools/call" and "task" in params:
            return line({"jsonrpc": "2.0", "id": message["id"], "result": {"task": task_state("working")}})
        if method == "tasks/get":
            return line({"jsonrpc": "2.0", "id": message["id"], "result": task_state("completed")})
        if method == "tasks/result":
            return line({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "job done"}],
                "_meta": {"io.modelcontextprotocol/related-task": {"taskId": TASK_ID}}}})
        if method == "subscriptions/listen":
            # The stream stays open: no answer, notifications tagged with the listen's id.
            tag = {SUBSCRIPTION_META: message["id"]}
            return (line({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                          "params": {"_meta": tag, "notifications": {"toolsListChanged": True}}})
                    + line({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                            "params": {"_meta": tag}}))
        if method == "tools/call" and params.get("name") == "forge":
            # The answer, then notifications tagged with the ids the client asked for.
            answer = line({"jsonrpc": "2.0", "id": message["id"], "result": {
                "resultType": "complete", "content": [{"type": "text", "text": "forged"}]}})
            return answer + b"".join(
                line({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                      "params": {"_meta": {SUBSCRIPTION_META: sid}}})
                for sid in params["arguments"]["subscription_ids"])
        return line({"jsonrpc": "2.0", "id": message.get("id"),
                     "error": {"code": -32601, "message": "Method not found"}})



# --- clients and probes -----------------------------------------------------------------

def exchange(port, data, expect_bytes, timeout=30):
    """Sends data on a new connection and reads until expect_bytes arrived (or the peer ended
    or went quiet for `timeout` seconds); returns what arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        return read_exactly(conn, expect_bytes)


def read_exactly(conn, size):
    got = bytearray()
    while len(got) < size:
        try:
            chunk = conn.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    return bytes(got)


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for status_line in f:
            if status_line.startswith("VmRSS:"):
                return int(status_line.split()[1])
    return 0


def healthz(admin_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as r:
            return r.status
    except OSError as error:
        return str(error)


def scrape(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=30) as r:
        return r.read().decode()


def sample(text, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`; None when none has."""
    from prometheus_client.parser import text_string_to_metric_families
    found = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                found = (found or 0) + s.value
    return found


def route_rows(route):
    """Every column, whatever the schema version (operation_id is absent before migration 2)."""
    return query_rows("SELECT * FROM mcptap.messages WHERE route = $1 ORDER BY id", route)


def brief(rows):
    return [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"], r["correlation_id"],
             r.get("operation_id"), (r["meta"] or {}).get("operation_link")) for r in rows]


class HostileOperationsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.upstream = MrtrUpstream()
        upstream = f"127.0.0.1:{cls.upstream.port}"
        cls.routes = {key: unique_name(f"hostile_ops_{key}")
                      for key in ("flood", "big", "task_a", "task_b", "subs")}
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.tap = Mcptap([{"name": name, "upstream": upstream} for name in cls.routes.values()],
                         extra={"capture": {"max_operations": MAX_OPERATIONS,
                                            "max_operation_bytes": MAX_OPERATION_BYTES,
                                            "operation_idle_timeout_s": 3600,
                                            "retry_link_window_s": 300,
                                            "max_payload_bytes": MAX_PAYLOAD_BYTES}},
                         env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=16"})
        cls.health, cls.rss_kb = [], []
        try:
            cls.tap.start()
            pid = cls.tap.process.pid
            stop = threading.Event()

            def watch():
                while not stop.is_set():
                    cls.health.append(healthz(cls.tap.admin_port))
                    cls.rss_kb.append(vm_rss_kb(pid))
                    stop.wait(0.1)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                cls.flood_seconds = cls.flood()
                cls.flood_metrics = scrape(cls.tap.admin_port)
                cls.big_state()
                cls.tasks()
                cls.subscriptions()
                cls.metrics = scrape(cls.tap.admin_port)
                cls.final_health = healthz(cls.tap.admin_port)
            finally:
                stop.set()
                watcher.join()
            cls.exit_code = cls.tap.stop(timeout=60)  # rows are flushed before it exits
            cls.log = cls.tap.log()
        finally:
            cls.tap.close()
            cls.upstream.close()
        cls.flood_rows = query_rows(
            "SELECT direction, kind, count(*) AS n FROM mcptap.messages WHERE route = $1"
            " GROUP BY direction, kind ORDER BY direction, kind", cls.routes["flood"])
        cls.rows = {key: route_rows(name) for key, name in cls.routes.items() if key != "flood"}

    @classmethod
    def flood(cls):
        """OPERATIONS tools/call pipelined on one connection, answered input_required, never
        retried; RSS read after WARMUP of them and at the end."""
        port = cls.tap.ports[cls.routes["flood"]]
        pid = cls.tap.process.pid
        expected_warmup = b"".join(flood_answer(i) for i in range(WARMUP))
        expected_rest = b"".join(flood_answer(i) for i in range(WARMUP, OPERATIONS))
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            def send(first, last):
                for start in range(first, last, 2000):
                    conn.sendall(b"".join(flood_request(i) for i in range(start, min(start + 2000, last))))

            sender = threading.Thread(target=send, args=(0, WARMUP))
            sender.start()
            cls.flood_warmup = read_exactly(conn, len(expected_warmup))
            sender.join()
            cls.rss_after_warmup_kb = vm_rss_kb(pid)
            sender = threading.Thread(target=send, args=(WARMUP, OPERATIONS))
            sender.start()
            cls.flood_rest = read_exactly(conn, len(expected_rest))
            sender.join()
            cls.rss_after_flood_kb = vm_rss_kb(pid)
        cls.flood_intact = (cls.flood_warmup == expected_warmup, cls.flood_rest == expected_rest)
        return time.monotonic() - started

    @classmethod
    def big_state(cls):
        """The 10 MB requestState: the call on one connection, the retry on another."""
        port = cls.tap.ports[cls.routes["big"]]
        cls.big_first = exchange(port, big_call(1, False), len(big_answer(1, False)))
        cls.big_retry = exchange(port, big_call(2, True), len(big_answer(2, True)))

    @classmethod
    def tasks(cls):
        """The same task id, created and polled on two routes."""
        cls.task_answers = {}
        for key in ("task_a", "task_b"):
            with socket.create_connection(("127.0.0.1", cls.tap.ports[cls.routes[key]]), timeout=30) as conn:
                reader = conn.makefile("rb")
                got = []
                for request in task_requests():
                    conn.sendall(request)
                    got.append(reader.readline())
                cls.task_answers[key] = got

    @classmethod
    def subscriptions(cls):
        """A listen on one connection (its notifications tagged with its id), then on a second
        connection notifications tagged with that listen's id and with an unknown one."""
        port = cls.tap.ports[cls.routes["subs"]]
        listen = line({"jsonrpc": "2.0", "id": LISTEN_ID, "method": "subscriptions/listen",
                       "params": {"_meta": META_2026, "notifications": {"toolsListChanged": True}}})
        forge = line({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "forge", "arguments": {"subscription_ids": [LISTEN_ID, UNKNOWN_SUBSCRIPTION]},
            "_meta": META_2026}})
        with socket.create_connection(("127.0.0.1", port), timeout=30) as listening:
            listening.sendall(listen)
            reader = listening.makefile("rb")
            cls.listen_lines = [reader.readline(), reader.readline()]
            with socket.create_connection(("127.0.0.1", port), timeout=30) as other:
                other.sendall(forge)
                reader = other.makefile("rb")
                cls.forge_lines = [reader.readline() for _ in range(3)]
            # Let the forged notifications be captured while the listen is still open.
            time.sleep(0.2)

    # --- helpers -----------------------------------------------------------------------

    def metric(self, name, **labels):
        return sample(self.metrics, name, **labels)

    def one(self, rows, direction, kind, jsonrpc_id, method):
        found = [r for r in rows if (r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                 == (direction, kind, jsonrpc_id, method)]
        self.assertEqual(len(found), 1, (direction, kind, jsonrpc_id, method, brief(rows)))
        return found[0]

    # --- the proxy stays up ------------------------------------------------------------

    def test_health_answers_throughout(self):
        self.assertTrue(self.health)
        self.assertEqual(set(self.health), {200}, [h for h in self.health if h != 200][:5])
        self.assertEqual(self.final_health, 200)

    def test_mcptap_exits_cleanly(self):
        self.assertEqual(self.exit_code, 0, self.log[-4000:])

    # --- 100,000 open operations -------------------------------------------------------

    def test_flood_answers_arrive_intact(self):
        self.assertEqual(self.flood_intact, (True, True),
                         (len(self.flood_warmup), len(self.flood_rest)))

    def test_flood_is_fast(self):
        # Ensures the test stays a test of bounds, not of patience.
        self.assertLess(self.flood_seconds, 45)

    def test_flood_is_recorded(self):
        self.assertEqual([(r["direction"], r["kind"], r["n"]) for r in self.flood_rows],
                         [(C2S, "request", OPERATIONS), (S2C, "response", OPERATIONS)])

    def test_oldest_operations_are_evicted_and_counted(self):
        route = self.routes["flood"]
        evicted = sample(self.flood_metrics, "mcptap_operation_evictions_total",
                         route=route, reason="operations")
        self.assertIsNotNone(evicted, "mcptap_operation_evictions_total{reason=operations}")
        self.assertGreaterEqual(evicted, OPERATIONS - MAX_OPERATIONS)

    def test_operations_stay_within_max_operations(self):
        kept = sample(self.flood_metrics, "mcptap_operations", route=self.routes["flood"])
        self.assertIsNotNone(kept, "mcptap_operations")
        self.assertGreater(kept, 0)
        self.assertLessEqual(kept, MAX_OPERATIONS)

    def test_operation_bytes_stay_within_max_operation_bytes(self):
        held = sample(self.flood_metrics, "mcptap_operation_bytes", route=self.routes["flood"])
        self.assertIsNotNone(held, "mcptap_operation_bytes")
        self.assertGreater(held, 0)
        self.assertLessEqual(held, MAX_OPERATION_BYTES)

    def test_rss_stops_growing_once_the_state_is_full(self):
        growth = self.rss_after_flood_kb - self.rss_after_warmup_kb
        self.assertLess(growth, RSS_GROWTH_BOUND_KB, (self.rss_after_warmup_kb, self.rss_after_flood_kb))

    def test_rss_stays_below_the_bound(self):
        self.assertLess(max(self.rss_kb), RSS_BOUND_KB, max(self.rss_kb))

    # --- a 10 MB requestState ----------------------------------------------------------

    def test_big_state_and_its_retry_are_forwarded_byte_for_byte(self):
        self.assertEqual(len(self.big_first), len(big_answer(1, False)))
        self.assertTrue(self.big_first == big_answer(1, False), "the 10 MB answer differs")
        self.assertEqual(self.big_retry, big_answer(2, True))
        self.assertEqual(len(self.upstream.big_lines), 1)
        self.assertTrue(self.upstream.big_lines[0] == big_call(2, True), "the 10 MB retry differs")

    def test_big_state_is_recorded_whole(self):
        rows = self.rows["big"]
        answer = self.one(rows, S2C, "response", "1", "tools/call")
        retry = self.one(rows, C2S, "request", "2", "tools/call")
        self.assertEqual((answer["truncated"], retry["truncated"]), (False, False))
        self.assertEqual(answer["payload"]["result"]["requestState"], BIG_STATE)
        self.assertEqual(retry["payload"]["params"]["requestState"], BIG_STATE)

    def test_retry_is_linked_by_its_state(self):
        rows = self.rows["big"]
        first = self.one(rows, C2S, "request", "1", "tools/call")
        retry = self.one(rows, C2S, "request", "2", "tools/call")
        self.assertNotEqual(first["connection_id"], retry["connection_id"])
        self.assertEqual((retry["meta"] or {}).get("operation_link"), "request_state", retry["meta"])
        self.assertIsNotNone(first.get("operation_id"))
        self.assertEqual(first.get("operation_id"), first["correlation_id"])
        self.assertEqual(retry.get("operation_id"), first.get("operation_id"))
        final = self.one(rows, S2C, "response", "2", "tools/call")
        self.assertEqual(final.get("operation_id"), first.get("operation_id"))
        self.assertEqual(((final["meta"] or {}).get("operation") or {}).get("round_trips"), 2,
                         final["meta"])

    # --- a task id on two routes -------------------------------------------------------

    def test_task_answers_are_forwarded(self):
        for key in ("task_a", "task_b"):
            answers = [json.loads(a) for a in self.task_answers[key]]
            self.assertEqual(answers[0]["result"]["task"]["taskId"], TASK_ID)
            self.assertEqual(answers[1]["result"]["status"], "completed")
            self.assertEqual(answers[2]["result"]["content"][0]["text"], "job done")

    def test_each_route_links_its_own_task(self):
        operations = {}
        for key in ("task_a", "task_b"):
            rows = self.rows[key]
            self.assertEqual(len(rows), 6, brief(rows))
            call = self.one(rows, C2S, "request", "1", "tools/call")
            self.assertEqual([r.get("operation_id") for r in rows], [call["correlation_id"]] * 6,
                             (key, brief(rows)))
            for jsonrpc_id, method in (("2", "tasks/get"), ("3", "tasks/result")):
                request = self.one(rows, C2S, "request", jsonrpc_id, method)
                self.assertEqual((request["meta"] or {}).get("operation_link"), "task", key)
            operations[key] = call["correlation_id"]
        self.assertNotEqual(operations["task_a"], operations["task_b"])

    # --- forged subscription ids -------------------------------------------------------

    def test_subscription_traffic_is_forwarded(self):
        self.assertEqual([json.loads(l)["method"] for l in self.listen_lines],
                         ["notifications/subscriptions/acknowledged", "notifications/tools/list_changed"])
        forged = [json.loads(l) for l in self.forge_lines]
        self.assertEqual(forged[0]["result"]["content"][0]["text"], "forged")
        self.assertEqual([f["params"]["_meta"][SUBSCRIPTION_META] for f in forged[1:]],
                         [LISTEN_ID, UNKNOWN_SUBSCRIPTION])

    def notifications(self, connection_id):
        return [r for r in self.rows["subs"] if r["kind"] == "notification"
                and r["connection_id"] == connection_id]

    def test_a_listens_own_notifications_are_linked(self):
        rows = self.rows["subs"]
        listen = self.one(rows, C2S, "request", str(LISTEN_ID), "subscriptions/listen")
        tagged = self.notifications(listen["connection_id"])
        self.assertEqual(len(tagged), 2, brief(rows))
        self.assertEqual([(r.get("operation_id"), (r["meta"] or {}).get("operation_link")) for r in tagged],
                         [(listen["correlation_id"], "subscription")] * 2, brief(rows))

    def test_forged_subscription_ids_are_not_linked(self):
        rows = self.rows["subs"]
        forge = self.one(rows, C2S, "request", "1", "tools/call")
        forged = self.notifications(forge["connection_id"])
        self.assertEqual([r["payload"]["params"]["_meta"][SUBSCRIPTION_META] for r in forged],
                         [LISTEN_ID, UNKNOWN_SUBSCRIPTION], brief(rows))
        self.assertEqual([(r.get("operation_id"), "operation_link" in (r["meta"] or {})) for r in forged],
                         [(None, False)] * 2, brief(rows))

    def test_forged_subscription_ids_are_counted(self):
        self.assertEqual(self.metric("mcptap_operation_unlinked_total", route=self.routes["subs"],
                                     reason="unknown_subscription"), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
