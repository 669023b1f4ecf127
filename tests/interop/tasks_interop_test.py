"""An MCP task (2025-11-25) with the official TypeScript SDK through mcptap: every message of
the task shares one operation_id, the task's requests say how they were linked, and the
final result carries the operation's summary.

task_server.mjs serves one tool, `delay`, that runs as a task (the SDK's InMemoryTaskStore,
polled every 200 ms); task_client.mjs sends initialize, tools/list, then the task-augmented
tools/call (client ids count from 0: initialize #0, tools/list #1, tools/call #2, then the
tasks/get polls and the final tasks/result). The server may also send
notifications/tasks/status when the task completes, on the session's GET stream.
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Mcptap, query_rows, stop_process, unique_name, wait_for_rows  # noqa: E402

C2S, S2C = "client_to_server", "server_to_client"
CLIENT_TIMEOUT_S = 60
PROTOCOL_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "mcptap-task-client", "version": "2.5.0"}
DELAY_US = 1_500_000  # task_client.mjs DELAY_MS
TASK_METHODS = ("tasks/get", "tasks/result", "tasks/list", "tasks/cancel")


def node_executable():
    node = os.environ.get("MCPTAP_NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise RuntimeError("node is not installed (Debian: apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@modelcontextprotocol", "sdk")):
        raise RuntimeError(f"the MCP SDK is not installed: run `npm ci` in {HERE}")
    return node


class TaskServer:
    """task_server.mjs on a free port; its stdout lines (the tasks it created) are kept."""

    def __init__(self):
        self.lines = queue.Queue()
        self.events = []
        fd, self.stderr_path = tempfile.mkstemp(prefix="mcptap-task-server-", suffix=".log")
        os.close(fd)
        self.stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen([node_executable(), "task_server.mjs", "--port", "0"],
                                        cwd=HERE, stdout=subprocess.PIPE, stderr=self.stderr,
                                        text=True)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.lines.get(timeout=30)
        except queue.Empty:
            first = None
        if not first or "port" not in first:
            self.close()
            raise RuntimeError(f"task_server.mjs did not start: {first!r}")
        self.port = first["port"]

    def _read(self):
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "event" in message:
                self.events.append(message)
            self.lines.put(message)

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def close(self):
        stop_process(self.process)
        self.stderr.close()
        if os.path.exists(self.stderr_path):
            os.unlink(self.stderr_path)


def run_client(base_url):
    """task_client.mjs against base_url: its JSON document, or an exception saying why not."""
    done = subprocess.run([node_executable(), "task_client.mjs", "--url", base_url], cwd=HERE,
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"task_client.mjs exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def all_columns(route):
    """Every column of the route's rows, whatever the schema version: a column the running
    schema lacks (operation_id before migration 2) is absent from the dicts, not an error."""
    return query_rows("SELECT * FROM mcptap.messages WHERE route = $1 ORDER BY id", route)


def comparable(document):
    """What two runs of the conversation share: not the session, nor the task's id, nor how
    many polls the timing allowed."""
    result = json.loads(json.dumps(document["result"]))
    related = result.get("_meta", {}).get("io.modelcontextprotocol/related-task", {})
    related["taskId"] = related.get("taskId") == document["task_id"]
    events = document["events"]
    return {"protocol_version": document["protocol_version"], "tools": document["tools"],
            "result": result, "first_event": events[0], "last_events": events[-2:],
            "transport_errors": document["transport_errors"]}


def brief(rows):
    return [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"], r.get("operation_id"),
             (r.get("meta") or {}).get("operation_link")) for r in rows]


class SdkTaskTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("sdk_task")
        cls.proxied = cls.proxied_error = None
        cls.log = cls.server_log = ""
        server = TaskServer()
        try:
            cls.direct = run_client(f"http://127.0.0.1:{server.port}")
            tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{server.port}"}])
            try:
                tap.start()
                try:
                    cls.proxied = run_client(f"http://127.0.0.1:{tap.ports[cls.route]}")
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                    cls.proxied_error = str(error)
                cls.exit_code = tap.stop()
                cls.log = tap.log()
            finally:
                tap.close()
            cls.server_log = server.log()
            cls.server_events = list(server.events)
        finally:
            server.close()
        # mcptap flushed before it exited; the poll only absorbs the reader's own latency.
        wait_for_rows(cls.route, 1, timeout=5)
        cls.rows = all_columns(cls.route)

    # --- helpers -----------------------------------------------------------------------

    def require_proxied(self):
        if self.proxied is None:
            self.fail(f"the client failed through mcptap: {self.proxied_error}\n"
                      f"mcptap log:\n{self.log}\nserver log:\n{self.server_log}")
        return self.proxied

    def messages(self):
        return [r for r in self.rows if r["kind"] != "invalid"]

    def the_row(self, direction, kind, jsonrpc_id, method):
        found = [r for r in self.rows if (r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                 == (direction, kind, jsonrpc_id, method)]
        self.assertEqual(len(found), 1, f"one row {direction} {kind} id={jsonrpc_id} {method}; "
                                        f"captured: {brief(self.rows)}")
        return found[0]

    def task_id(self):
        return self.require_proxied()["task_id"]

    def creating_call(self):
        call = self.the_row(C2S, "request", "2", "tools/call")
        self.assertEqual(call["payload"]["params"]["task"], {"ttl": 60000})
        return call

    def task_requests(self):
        """The tasks/* requests naming the task, in order."""
        task_id = self.task_id()
        return [r for r in self.rows if r["direction"] == C2S and r["kind"] == "request"
                and r["method"] in TASK_METHODS
                and r["payload"]["params"].get("taskId") == task_id]

    def answers_to(self, request):
        return [r for r in self.rows if r["kind"] in ("response", "error")
                and r["correlation_id"] == request["correlation_id"]]

    def status_notifications(self):
        task_id = self.task_id()
        return [r for r in self.rows if r["method"] == "notifications/tasks/status"
                and r["payload"]["params"].get("taskId") == task_id]

    def task_rows(self):
        """Every row of the task: the creating call and its CreateTaskResult, each tasks/*
        request and its answer, and the status notifications."""
        rows = [self.creating_call()]
        rows += self.answers_to(rows[0])
        for request in self.task_requests():
            rows.append(request)
            rows += self.answers_to(request)
        return rows + self.status_notifications()

    def final_answer(self):
        results = [r for r in self.task_requests() if r["method"] == "tasks/result"]
        self.assertEqual(len(results), 1, brief(self.rows))
        answers = self.answers_to(results[0])
        self.assertEqual(len(answers), 1, brief(self.rows))
        return answers[0]

    # --- the peers, and forwarding -----------------------------------------------------

    def test_direct_run_completes_the_task(self):
        d = self.direct
        self.assertEqual(d["protocol_version"], PROTOCOL_VERSION)
        self.assertEqual(d["tools"], [{"name": "delay", "execution": {"taskSupport": "required"}}])
        self.assertEqual(d["result"]["content"], [{"type": "text", "text": "Completed 1500ms delay"}])
        self.assertEqual(d["events"][0], {"type": "taskCreated", "status": "working"})
        self.assertEqual(d["events"][-2:], [{"type": "taskStatus", "status": "completed"},
                                            {"type": "result"}])

    def test_client_gets_the_result_through_mcptap(self):
        proxied = self.require_proxied()
        self.assertEqual(comparable(proxied), comparable(self.direct))
        self.assertIn({"event": "task_created", "task_id": proxied["task_id"]}, self.server_events)

    def test_mcptap_exits_cleanly(self):
        self.require_proxied()
        self.assertEqual(self.exit_code, 0, self.log)

    # --- capture: rows written (true before operations existed too) ----------------------

    def test_every_message_of_the_conversation_is_recorded_once(self):
        proxied = self.require_proxied()
        polls = sum(1 for e in proxied["events"] if e["type"] == "taskStatus")
        self.assertGreaterEqual(polls, 2, "a 1.5 s task polled every 200 ms")
        last = 3 + polls  # tasks/get #3 .. #(2 + polls), then tasks/result
        expected = sorted(
            [(C2S, "request", "0", "initialize"), (S2C, "response", "0", "initialize"),
             (C2S, "notification", None, "notifications/initialized"),
             (C2S, "request", "1", "tools/list"), (S2C, "response", "1", "tools/list"),
             (C2S, "request", "2", "tools/call"), (S2C, "response", "2", "tools/call"),
             (C2S, "request", str(last), "tasks/result"), (S2C, "response", str(last), "tasks/result")]
            + [(C2S, "request", str(i), "tasks/get") for i in range(3, last)]
            + [(S2C, "response", str(i), "tasks/get") for i in range(3, last)]
            + [(S2C, "notification", None, "notifications/tasks/status")] * len(self.status_notifications()),
            key=repr)
        recorded = sorted(((r["direction"], r["kind"], r["jsonrpc_id"], r["method"])
                           for r in self.rows), key=repr)
        self.assertEqual(recorded, expected)

    def test_the_task_requests_name_the_task_and_pair_with_their_answers(self):
        requests = self.task_requests()
        self.assertEqual([r["method"] for r in requests][-1], "tasks/result")
        for request in requests:
            answers = self.answers_to(request)
            self.assertEqual([(a["kind"], a["jsonrpc_id"]) for a in answers],
                             [("response", request["jsonrpc_id"])], request["method"])
        created = self.answers_to(self.creating_call())
        self.assertEqual(len(created), 1)
        self.assertEqual(created[0]["payload"]["result"]["task"]["taskId"], self.task_id())
        self.assertEqual(created[0]["payload"]["result"]["task"]["pollInterval"], 200)

    def test_final_result_is_what_the_client_received(self):
        self.assertEqual(self.final_answer()["payload"]["result"], self.require_proxied()["result"])

    # --- operations --------------------------------------------------------------------

    def test_every_row_of_the_task_has_the_creating_calls_operation_id(self):
        call = self.creating_call()
        rows = self.task_rows()
        self.assertGreaterEqual(len(rows), 6, brief(rows))
        self.assertEqual([r.get("operation_id") for r in rows],
                         [call["correlation_id"]] * len(rows), brief(rows))

    def test_task_requests_are_linked_by_task(self):
        requests = self.task_requests() + self.status_notifications()
        self.assertEqual([(r["method"], (r["meta"] or {}).get("operation_link")) for r in requests],
                         [(r["method"], "task") for r in requests])
        self.assertNotIn("operation_link", self.creating_call()["meta"] or {})

    def test_final_result_carries_the_operation(self):
        requests = 1 + len(self.task_requests())  # the creating call and every tasks/* request
        operation = (self.final_answer()["meta"] or {}).get("operation")
        self.assertIsInstance(operation, dict, self.final_answer()["meta"])
        self.assertEqual(operation["round_trips"], requests)
        self.assertGreater(operation["elapsed_us"], 0)
        # From the creating call's last byte to the final answer's: the task ran 1.5 s.
        self.assertGreaterEqual(operation["elapsed_us"], DELAY_US * 0.95)

    def test_only_the_final_answer_carries_the_operation(self):
        final = self.final_answer()
        carrying = [r for r in self.rows if "operation" in (r["meta"] or {})]
        self.assertEqual([r["id"] for r in carrying], [final["id"]], brief(carrying))

    def test_plain_requests_are_operations_of_their_own(self):
        for jsonrpc_id, method in (("0", "initialize"), ("1", "tools/list")):
            request = self.the_row(C2S, "request", jsonrpc_id, method)
            answer = self.the_row(S2C, "response", jsonrpc_id, method)
            self.assertIsNotNone(request["correlation_id"])
            self.assertEqual((request.get("operation_id"), answer.get("operation_id")),
                             (request["correlation_id"], request["correlation_id"]), method)
            self.assertNotIn("operation_link", request["meta"] or {})

    def test_every_row_names_the_protocol_version_and_the_client(self):
        session = self.require_proxied()["session_id"]
        rows = self.messages()
        self.assertEqual({r["session_id"] for r in rows}, {session})
        identities = [(r["direction"], r["kind"], r["method"],
                       (r["meta"] or {}).get("protocol_version"), (r["meta"] or {}).get("client"))
                      for r in rows]
        self.assertEqual(identities, [(r["direction"], r["kind"], r["method"], PROTOCOL_VERSION,
                                       CLIENT_INFO) for r in rows])


if __name__ == "__main__":
    unittest.main(verbosity=2)
