"""A stateless MCP server of revision 2026-07-28, written from the specification pages
(basic/index, basic/patterns/mrtr, basic/transports/streamable-http, server/discover,
patterns/subscriptions) and the tasks extension (io.modelcontextprotocol/tasks).

Every request must carry its own _meta (protocolVersion, clientCapabilities); on HTTP its
standard headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*) must agree with
the body, or the answer is HTTP 400 with -32020 HeaderMismatch. Methods:
  server/discover       versions, capabilities (tasks extension included), serverInfo
  tools/list            confirm, long_job, lookup (its "region" mirrored as Mcp-Param-Region)
  tools/call confirm    multi round-trip: input_required twice (github_login by elicitation,
                        then capital_of_france by sampling), each time with a fresh
                        requestState, then complete. With arguments.state == "server" no
                        requestState is sent: the server keys its state by the arguments.
  tools/call long_job   a task (resultType "task"); tasks/get answers working, then
                        input_required, and completed (result inlined) after tasks/update
  tools/call lookup     echoes its arguments
  subscriptions/listen  acknowledged, then notifications/tools/list_changed and
                        notifications/resources/updated tagged with the listen's id; over
                        HTTP the SSE stream then ends, over WebSocket the client cancels it.
Answers over HTTP are application/json (--answers json) or one-event text/event-stream
bodies (--answers sse); a listen is always an event stream. Over WebSocket each JSON-RPC
message is one text frame. Every result carries resultType and
_meta["io.modelcontextprotocol/serverInfo"].

Run alone: stateless_peer.py --transport http|ws --answers json|sse [--port N]
"""
import argparse
import asyncio
import base64
import binascii
import datetime
import http.server
import itertools
import json
import os
import sys
import threading
import time
import uuid

import websockets

PROTOCOL_VERSION = "2026-07-28"
SERVER_INFO = {"name": "ops-peer", "version": "1.0"}
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022
STREAM_GAP_S = 0.02  # between the events of a listen stream, so they cross as separate reads

TOOLS = [
    {"name": "confirm", "description": "asks who the user is and a question before answering",
     "inputSchema": {"type": "object", "properties": {
         "subject": {"type": "string"},
         "state": {"type": "string", "enum": ["client", "server"],
                   "description": "who keeps the state between round trips"}},
         "required": ["subject"]}},
    {"name": "long_job", "description": "runs as a task (io.modelcontextprotocol/tasks)",
     "inputSchema": {"type": "object", "properties": {"job": {"type": "string"}}}},
    {"name": "lookup", "description": "a query in a region, the region mirrored in a header",
     "inputSchema": {"type": "object", "properties": {
         "region": {"type": "string", "x-mcp-header": "Region"},
         "query": {"type": "string"}},
         "required": ["region", "query"]}},
]
TOOLS_BY_NAME = {tool["name"]: tool for tool in TOOLS}

# What confirm asks, in order: one input request per round trip.
CONFIRM_INPUTS = [
    ("github_login", {"method": "elicitation/create", "params": {
        "mode": "form", "message": "Please provide your GitHub username",
        "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}},
                            "required": ["name"]}}}),
    ("capital_of_france", {"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text",
                                                  "text": "What is the capital of France?"}}],
        "systemPrompt": "You are a helpful assistant.", "maxTokens": 100}}),
]
TASK_INPUT = ("approve_job", {"method": "elicitation/create", "params": {
    "mode": "form", "message": "Approve the job?",
    "requestedSchema": {"type": "object", "properties": {"approve": {"type": "boolean"}},
                        "required": ["approve"]}}})
REQUIRED_CAPABILITY = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling"}

# Methods whose Mcp-Name header mirrors a body field (the tasks extension adds taskId).
NAME_SOURCES = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri",
                "tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}


class RpcError(Exception):
    def __init__(self, code, message, http_status=400, data=None):
        super().__init__(message)
        self.code, self.message, self.http_status, self.data = code, message, http_status, data


class Reply:
    """What answers one incoming message: the messages in order, the HTTP status, and
    whether they form a stream (a listen: several events, on HTTP always SSE)."""

    def __init__(self, messages, status=200, stream=False):
        self.messages, self.status, self.stream = messages, status, stream


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def result_message(request_id, result):
    result = dict(result)
    result.setdefault("resultType", "complete")
    result.setdefault("_meta", {})[META_SERVER_INFO] = SERVER_INFO
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id, error):
    body = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def decode_header_value(value):
    """The =?base64?...?= sentinel of the Value Encoding rules, decoded; other values as
    they are. Raises ValueError when the sentinel does not decode to UTF-8."""
    if value.startswith("=?base64?") and value.endswith("?=") and len(value) >= 11:
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ValueError(str(error))
    return value


def header_form(value):
    """A body value as its header mirror compares: booleans lower-case, integers decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def valid_header_characters(value):
    return all(c == "\t" or 0x20 <= ord(c) <= 0x7E for c in value)


def x_mcp_headers(schema, path=()):
    """(header name, property path) of every x-mcp-header reachable through properties."""
    found = []
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if "x-mcp-header" in sub:
            found.append((sub["x-mcp-header"], path + (key,)))
        found.extend(x_mcp_headers(sub, path + (key,)))
    return found


def value_at(arguments, path):
    value = arguments
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def check_headers(message, headers):
    """Server Validation of streamable-http.mdx: a required header missing, a value that
    differs from the body (after decoding the Base64 sentinel) or invalid characters."""
    method = message["method"]
    params = message.get("params") or {}

    def header(name):
        value = headers.get(name)
        if value is not None and not valid_header_characters(value):
            raise RpcError(HEADER_MISMATCH, f"Header mismatch: {name} header has invalid characters")
        return value

    def compare(name, sent, body_value, decode):
        if sent is None:
            raise RpcError(HEADER_MISMATCH, f"Header mismatch: {name} header is missing")
        try:
            got = decode_header_value(sent) if decode else sent
        except ValueError:
            raise RpcError(HEADER_MISMATCH, f"Header mismatch: {name} header value does not decode")
        if isinstance(body_value, int) and not isinstance(body_value, bool):
            try:
                same = float(got) == body_value
            except ValueError:
                same = False
        else:
            same = got == header_form(body_value)
        if not same:
            raise RpcError(HEADER_MISMATCH, f"Header mismatch: {name} header value '{got}' does not "
                                            f"match body value '{header_form(body_value)}'")

    version = (params.get("_meta") or {}).get(META_PROTOCOL_VERSION)
    compare("MCP-Protocol-Version", header("MCP-Protocol-Version"), version, decode=False)
    compare("Mcp-Method", header("Mcp-Method"), method, decode=False)
    source = NAME_SOURCES.get(method)
    if source is not None and params.get(source) is not None:
        compare("Mcp-Name", header("Mcp-Name"), params[source], decode=True)
    if method == "tools/call" and params.get("name") in TOOLS_BY_NAME:
        arguments = params.get("arguments") or {}
        for name, path in x_mcp_headers(TOOLS_BY_NAME[params["name"]]["inputSchema"]):
            body_value = value_at(arguments, path)
            if body_value is not None:  # a null or absent value has no header
                compare(f"Mcp-Param-{name}", header(f"Mcp-Param-{name}"), body_value, decode=True)


class Peer:
    """The server's logic, shared by the HTTP and WebSocket listeners; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.states = {}        # requestState -> what the operation has gathered so far
        self.by_arguments = {}  # confirm without requestState: canonical arguments -> state
        self.tasks = {}         # taskId -> task
        self.counter = itertools.count(1)

    # --- entry ---------------------------------------------------------------------------

    def handle(self, message, headers=None):
        """A Reply for one incoming JSON-RPC message (None: a notification, nothing to
        say). headers: the HTTP request's headers (checked), None on WebSocket."""
        if not isinstance(message, dict):
            invalid = RpcError(-32600, "Invalid Request: one message per POST")
            return Reply([error_message(None, invalid)], 400)
        request_id = message.get("id")
        if "method" not in message or not isinstance(message["method"], str):
            return Reply([error_message(request_id, RpcError(-32600, "Invalid Request"))], 400)
        if "id" not in message:
            return None
        try:
            self.check_meta(message)
            if headers is not None:
                check_headers(message, headers)
            return self.dispatch(message)
        except RpcError as error:
            return Reply([error_message(request_id, error)], error.http_status)

    def check_meta(self, message):
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if not isinstance(meta, dict) or not isinstance(meta.get(META_PROTOCOL_VERSION), str) \
                or not isinstance(meta.get(META_CLIENT_CAPABILITIES), dict):
            raise RpcError(-32602, "Invalid params: _meta needs io.modelcontextprotocol/protocolVersion "
                                   "and io.modelcontextprotocol/clientCapabilities")
        if meta[META_PROTOCOL_VERSION] != PROTOCOL_VERSION:
            raise RpcError(UNSUPPORTED_VERSION, "Unsupported protocol version",
                           data={"supported": [PROTOCOL_VERSION], "requested": meta[META_PROTOCOL_VERSION]})

    def dispatch(self, message):
        method, request_id = message["method"], message["id"]
        params = message.get("params") or {}
        if method == "server/discover":
            return self.answer(request_id, {
                "supportedVersions": [PROTOCOL_VERSION],
                "capabilities": {"tools": {"listChanged": True}, "resources": {"subscribe": True},
                                 "extensions": {TASKS_EXTENSION: {}}},
                "serverInfo": SERVER_INFO,
                "instructions": "confirm asks twice before answering; long_job runs as a task.",
                "ttlMs": 60000, "cacheScope": "public"})
        if method == "tools/list":
            return self.answer(request_id, {"tools": TOOLS})
        if method == "tools/call":
            name = params.get("name")
            if name == "confirm":
                return self.answer(request_id, self.call_confirm(params))
            if name == "long_job":
                return self.answer(request_id, self.call_long_job(params))
            if name == "lookup":
                arguments = params.get("arguments") or {}
                text = f"{arguments.get('query')} in {arguments.get('region')}"
                return self.answer(request_id,
                                   {"content": [{"type": "text", "text": text}], "isError": False})
            raise RpcError(-32602, f"Unknown tool: {name}")
        if method == "tasks/get":
            return self.answer(request_id, self.task_get(params))
        if method == "tasks/update":
            return self.answer(request_id, self.task_update(params))
        if method == "tasks/cancel":
            return self.answer(request_id, self.task_cancel(params))
        if method == "subscriptions/listen":
            return self.listen(request_id, params)
        raise RpcError(-32601, "Method not found", http_status=404)

    @staticmethod
    def answer(request_id, result):
        return Reply([result_message(request_id, result)])

    # --- multi round-trip ----------------------------------------------------------------

    def fresh_state(self):
        """An opaque requestState: random bytes and a counter (what an AEAD blob looks like
        from outside); never handed out twice."""
        raw = os.urandom(24) + next(self.counter).to_bytes(8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def call_confirm(self, params):
        capabilities = params["_meta"][META_CLIENT_CAPABILITIES]
        missing = {cap: {} for cap in ("elicitation", "sampling") if cap not in capabilities}
        if missing:
            raise RpcError(MISSING_CAPABILITY, "Missing required client capability",
                           data={"requiredCapabilities": missing})
        arguments = params.get("arguments") or {}
        server_keeps_state = arguments.get("state") == "server"
        responses = params.get("inputResponses") or {}
        key = json.dumps(["confirm", arguments], sort_keys=True)
        with self.lock:
            if server_keeps_state:
                if "requestState" in params:
                    raise RpcError(-32602, "requestState was never issued for this call")
                state = self.by_arguments.pop(key, None)
            elif "requestState" in params:
                state = self.states.pop(params["requestState"], None)
                if state is None or state["key"] != key:
                    raise RpcError(-32602, "requestState is unknown, used, or for another request")
            else:
                state = None
            state = state or {"key": key, "answers": {}, "asked": []}
            for asked in state["asked"]:  # keys not outstanding are ignored
                if asked in responses:
                    state["answers"][asked] = responses[asked]
            for input_key, input_request in CONFIRM_INPUTS:
                if input_key not in state["answers"]:
                    state["asked"] = [input_key]
                    result = {"resultType": "input_required", "inputRequests": {input_key: input_request}}
                    if server_keeps_state:
                        self.by_arguments[key] = state
                    else:
                        token = self.fresh_state()
                        self.states[token] = state
                        result["requestState"] = token
                    return result
        login = state["answers"]["github_login"]
        login = login.get("content", {}).get("name") if login.get("action") == "accept" else "(declined)"
        capital = state["answers"]["capital_of_france"].get("content", {}).get("text")
        text = f"{arguments.get('subject')}: github_login={login}, capital_of_france={capital}"
        return {"resultType": "complete", "content": [{"type": "text", "text": text}], "isError": False}

    # --- tasks extension -----------------------------------------------------------------

    @staticmethod
    def public_task(task):
        view = {k: task[k] for k in ("taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs",
                                     "pollIntervalMs")}
        if task.get("statusMessage"):
            view["statusMessage"] = task["statusMessage"]
        return view

    def call_long_job(self, params):
        extensions = params["_meta"][META_CLIENT_CAPABILITIES].get("extensions") or {}
        if TASKS_EXTENSION not in extensions:
            raise RpcError(MISSING_CAPABILITY, "Missing required client capability",
                           data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}})
        stamp = now_iso()
        task = {"taskId": str(uuid.uuid4()), "status": "working", "createdAt": stamp,
                "lastUpdatedAt": stamp, "ttlMs": 60000, "pollIntervalMs": 50,
                "statusMessage": "The job is queued.", "job": (params.get("arguments") or {}).get("job"),
                "polls": 0, "answer": None}
        with self.lock:
            self.tasks[task["taskId"]] = task
        return dict(self.public_task(task), resultType="task")

    def the_task(self, params):
        task = self.tasks.get(params.get("taskId"))
        if task is None:
            raise RpcError(-32602, f"Unknown task: {params.get('taskId')}")
        return task

    def set_status(self, task, status, message):
        if task["status"] != status:
            task["status"], task["lastUpdatedAt"] = status, now_iso()
        task["statusMessage"] = message

    def task_get(self, params):
        """working on the first poll, then input_required until tasks/update answers, then
        completed with the tool's result inlined."""
        with self.lock:
            task = self.the_task(params)
            task["polls"] += 1
            if task["status"] in ("completed", "cancelled", "failed"):
                pass
            elif task["answer"] is not None:
                approved = task["answer"].get("action") == "accept" and \
                    (task["answer"].get("content") or {}).get("approve") is True
                self.set_status(task, "completed", "The job is done.")
                task["result"] = {"resultType": "complete", "isError": not approved, "content": [
                    {"type": "text", "text": f"{task['job']}: {'done' if approved else 'not approved'}"}]}
            elif task["polls"] >= 2:
                self.set_status(task, "input_required", "The job waits for approval.")
            view = self.public_task(task)
            if task["status"] == "input_required":
                view["inputRequests"] = {TASK_INPUT[0]: TASK_INPUT[1]}
            if task["status"] == "completed":
                view["result"] = task["result"]
            return dict(view, resultType="complete")

    def task_update(self, params):
        with self.lock:
            task = self.the_task(params)
            responses = params.get("inputResponses") or {}
            if task["status"] == "input_required" and TASK_INPUT[0] in responses:
                task["answer"] = responses[TASK_INPUT[0]]
            return {"resultType": "complete"}

    def task_cancel(self, params):
        with self.lock:
            task = self.the_task(params)
            if task["status"] not in ("completed", "failed"):
                self.set_status(task, "cancelled", "Cancelled by the client.")
            return {"resultType": "complete"}

    # --- subscriptions -------------------------------------------------------------------

    def listen(self, request_id, params):
        wanted = params.get("notifications") or {}
        honoured = {}
        if wanted.get("toolsListChanged") is True:
            honoured["toolsListChanged"] = True
        if wanted.get("resourceSubscriptions"):
            honoured["resourceSubscriptions"] = list(wanted["resourceSubscriptions"])
        tag = {META_SUBSCRIPTION_ID: request_id}
        messages = [{"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                     "params": {"_meta": dict(tag), "notifications": honoured}}]
        if honoured.get("toolsListChanged"):
            messages.append({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                             "params": {"_meta": dict(tag)}})
        for uri in honoured.get("resourceSubscriptions", []):
            messages.append({"jsonrpc": "2.0", "method": "notifications/resources/updated",
                             "params": {"_meta": dict(tag), "uri": uri}})
        return Reply(messages, stream=True)


def encode(message):
    return json.dumps(message, ensure_ascii=False).encode()


def sse_event(message):
    return b"event: message\ndata: " + encode(message) + b"\n\n"


# --- HTTP ----------------------------------------------------------------------------------

class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.plain(405, b"")

    do_DELETE = do_GET

    def plain(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server.owner
        if self.path.split("?")[0] != "/mcp":
            self.plain(404, b"not found")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            message = json.loads(body)
        except ValueError:
            reply = Reply([error_message(None, RpcError(-32700, "Parse error"))], 400)
        else:
            reply = server.peer.handle(message, self.headers)
        # Recorded before it is written, so a client that has read it finds it recorded.
        if reply is None:
            server.record(None, 202, None, b"")
            self.plain(202, b"")
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        if reply.stream or (server.answers == "sse" and reply.status == 200):
            self.stream(request_id, reply)
        else:
            data = encode(reply.messages[0])
            server.record(request_id, reply.status, "application/json", data)
            self.plain(reply.status, data, "application/json")

    def stream(self, request_id, reply):
        """A text/event-stream body, chunked, one event per chunk; it ends after the last."""
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [sse_event(message) for message in reply.messages]
        self.server.owner.record(request_id, reply.status, "text/event-stream", b"".join(events))
        for i, event in enumerate(events):
            if i and reply.stream:
                time.sleep(STREAM_GAP_S)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# --- WebSocket -------------------------------------------------------------------------------

async def websocket_session(server, ws):
    """One connection: requests answered in arrival order; a listen streams its events on a
    task of its own until its events are out or the client cancels it."""
    connection = next(server.connections)
    listens = {}

    async def send(message):
        text = encode(message).decode()
        server.record_frame(connection, text)
        await ws.send(text)

    async def stream(messages):
        for i, message in enumerate(messages):
            if i:
                await asyncio.sleep(STREAM_GAP_S)
            await send(message)

    try:
        async for text in ws:
            try:
                message = json.loads(text)
            except ValueError:
                await send(error_message(None, RpcError(-32700, "Parse error")))
                continue
            if isinstance(message, dict) and message.get("method") == "notifications/cancelled":
                key = json.dumps((message.get("params") or {}).get("requestId"))
                task = listens.pop(key, None)
                if task is not None:
                    await task  # its events are already queued or sent; no more after this
                continue
            reply = server.peer.handle(message)
            if reply is None:
                continue
            if reply.stream:
                listens[json.dumps(message["id"])] = asyncio.ensure_future(stream(reply.messages))
            else:
                for out in reply.messages:
                    await send(out)
    finally:
        for task in listens.values():
            task.cancel()


class PeerServer:
    """The peer on a port chosen by the OS, in a thread: transport "http" (answers "json" or
    "sse") or "ws". `sent` lists what it wrote, for comparison with what clients received:
    HTTP {"id", "status", "content_type", "body"} (body as bytes, after de-chunking), WS
    {"connection", "text"}."""

    def __init__(self, transport="http", answers="json", port=0):
        assert transport in ("http", "ws") and answers in ("json", "sse")
        self.transport, self.answers, self.requested_port = transport, answers, port
        self.peer = Peer()
        self.sent = []
        self.sent_lock = threading.Lock()
        self.connections = itertools.count(1)
        self.port = None
        self.thread = None

    @property
    def url(self):
        return f"{'http' if self.transport == 'http' else 'ws'}://127.0.0.1:{self.port}/mcp"

    def record(self, request_id, status, content_type, body):
        with self.sent_lock:
            self.sent.append({"id": request_id, "status": status, "content_type": content_type, "body": body})

    def record_frame(self, connection, text):
        with self.sent_lock:
            self.sent.append({"connection": connection, "text": text})

    def start(self):
        if self.transport == "http":
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.requested_port), HttpHandler)
            self.httpd.daemon_threads = True
            self.httpd.owner = self
            self.port = self.httpd.server_address[1]
            self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
            self.thread.start()
        else:
            self.loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run():
                asyncio.set_event_loop(self.loop)

                async def main():
                    self.ws_server = await websockets.serve(
                        lambda ws, path=None: websocket_session(self, ws), "127.0.0.1",
                        self.requested_port, max_size=64 * 1024 * 1024)
                    self.port = self.ws_server.sockets[0].getsockname()[1]
                    ready.set()
                    await self.ws_server.wait_closed()

                self.loop.run_until_complete(main())

            self.thread = threading.Thread(target=run, daemon=True)
            self.thread.start()
            if not ready.wait(10):
                raise RuntimeError("the WebSocket peer did not start")
        return self

    def stop(self):
        if self.thread is None:
            return
        if self.transport == "http":
            self.httpd.shutdown()
            self.httpd.server_close()
        else:
            self.loop.call_soon_threadsafe(self.ws_server.close)
        self.thread.join(10)
        self.thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transport", choices=["http", "ws"], default="http")
    parser.add_argument("--answers", choices=["json", "sse"], default="json",
                        help="HTTP answers as application/json or as one-event SSE streams")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    server = PeerServer(options.transport, options.answers, options.port).start()
    print(json.dumps({"port": server.port, "url": server.url}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
