"""A client of MCP revision 2026-07-28 (no initialize, no session): every request carries its
_meta (protocolVersion, clientInfo, clientCapabilities); over HTTP each request is a POST on
a NEW TCP connection with the standard headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name,
Mcp-Param-* learned from tools/list, Base64 sentinel for values that are not plain ASCII);
over WebSocket each message is one text frame.

The flows (run_flows) and the JSON-RPC ids they use:
  discover      server/discover "discover-1"
  tools         tools/list 2
  lookup        tools/call lookup 3 (region eu-west1) and 4 (region "Zürich": Base64 header)
  confirm       tools/call confirm 10, retried as 11 and 12 echoing requestState and adding
                inputResponses (on WebSocket each retry on a new connection)
  no_state      tools/call confirm with arguments.state "server": 20, 21, 22 without any
                requestState (the server sends none)
  alpha, beta   two confirm operations at once, in two threads, round by round in step:
                "alpha-1".."alpha-3" and "beta-1".."beta-3"
  task          tools/call long_job 40; tasks/get 41 (working), 42 (input_required);
                tasks/update 43; tasks/get 44 (completed)
  listen        subscriptions/listen 50: acknowledged and two notifications tagged with 50;
                on WebSocket the client then sends notifications/cancelled for 50
  mismatch      (HTTP) tools/call lookup 60 whose Mcp-Name says "confirm": HTTP 400, -32020

Each flow checks the server's answers and returns its exchanges: what was sent, the HTTP
status, content type and body as received, and the JSON-RPC messages in it.

Run alone: stateless_client.py http://127.0.0.1:PORT/mcp | ws://127.0.0.1:PORT/mcp
"""
import asyncio
import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse

import websockets

PROTOCOL_VERSION = "2026-07-28"
CLIENT_INFO = {"name": "ops-client", "version": "1.0"}
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
CAPABILITIES = {"elicitation": {"form": {}}, "sampling": {}, "extensions": {TASKS_EXTENSION: {}}}
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
NAME_SOURCES = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri",
                "tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}
LISTEN_URI = "file:///srv/ops/config.json"
TIMEOUT_S = 10

# What the user answers, per confirm operation: (github login, capital of France).
ANSWERS = {"confirm": ("octocat", "Paris"), "no_state": ("hubot", "Paris, France"),
           "alpha": ("alpha-user", "Paris (alpha)"), "beta": ("beta-user", "Paris (beta)")}


class ProtocolError(AssertionError):
    """The server answered something the specification does not allow here."""


def expect(condition, what):
    if not condition:
        raise ProtocolError(what)


def request(request_id, method, params=None):
    params = dict(params or {})
    params["_meta"] = {"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                       "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
                       "io.modelcontextprotocol/clientCapabilities": CAPABILITIES}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def tool_call(request_id, name, arguments, **extra):
    return request(request_id, "tools/call", dict({"name": name, "arguments": arguments}, **extra))


def header_value(value):
    """Value Encoding: booleans lower-case, integers decimal; anything that is not plain
    visible ASCII without leading/trailing space, or that looks like the sentinel, as
    =?base64?{Base64 of UTF-8}?=."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    plain = all(0x20 <= ord(c) <= 0x7E for c in text) and text == text.strip() and \
        not (text.startswith("=?base64?") and text.endswith("?="))
    return text if plain else "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


def x_mcp_headers(schema, path=()):
    found = []
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            if "x-mcp-header" in sub:
                found.append((sub["x-mcp-header"], path + (key,)))
            found.extend(x_mcp_headers(sub, path + (key,)))
    return found


def parse_sse(body):
    """The JSON-RPC messages of an event stream body (data lines of each event)."""
    messages = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            messages.append(json.loads("\n".join(data)))
    return messages


class Exchange(dict):
    """sent, status, content_type, body (text as received), messages, local_port (HTTP)."""

    def answer(self):
        answers = [m for m in self["messages"] if "result" in m or "error" in m]
        expect(len(answers) == 1, f"one answer to {self['sent'].get('id')}: {self['body']!r}")
        return answers[0]

    def result(self):
        answer = self.answer()
        expect("result" in answer, f"a result for {self['sent'].get('id')}: {answer}")
        expect(answer["result"].get("_meta", {}).get("io.modelcontextprotocol/serverInfo"),
               f"serverInfo in the result of {self['sent'].get('id')}")
        return answer["result"]


class HttpChannel:
    """Streamable HTTP: each message a POST of its own on a new TCP connection."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/mcp"
        self.tool_headers = {}
        self.lock = threading.Lock()

    def learn_tools(self, tools):
        with self.lock:
            for tool in tools:
                self.tool_headers[tool["name"]] = x_mcp_headers(tool.get("inputSchema") or {})

    def headers_for(self, message):
        params = message.get("params") or {}
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": params["_meta"]["io.modelcontextprotocol/protocolVersion"],
                   "Mcp-Method": message["method"]}
        source = NAME_SOURCES.get(message["method"])
        if source and params.get(source) is not None:
            headers["Mcp-Name"] = header_value(params[source])
        if message["method"] == "tools/call":
            arguments = params.get("arguments") or {}
            for name, path in self.tool_headers.get(params.get("name"), []):
                value = arguments
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                if value is not None:
                    headers[f"Mcp-Param-{name}"] = header_value(value)
        return headers

    def send(self, message, header_overrides=None):
        headers = self.headers_for(message)
        headers.update(header_overrides or {})
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        try:
            connection.request("POST", self.path, body=json.dumps(message).encode(), headers=headers)
            local_port = connection.sock.getsockname()[1]
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        text = body.decode("utf-8")
        if content_type == "application/json":
            messages = [json.loads(text)]
        elif content_type == "text/event-stream":
            messages = parse_sse(text)
        else:
            messages = []
        return Exchange(sent=message, status=response.status, content_type=content_type, body=text,
                        messages=messages, local_port=local_port)

    def listen(self, message, count):
        """The listen's event stream, read until the server ends it."""
        exchange = self.send(message)
        expect(exchange["content_type"] == "text/event-stream", f"a listen answers with events: {exchange}")
        expect(len(exchange["messages"]) == count,
               f"{count} events on the listen stream: {exchange['messages']}")
        return exchange

    def retry_channel(self):
        return self  # every POST is on a new connection already

    def close(self):
        pass


class WsConnection:
    """One WebSocket connection, driven from synchronous code: its own event loop in a
    thread; answers matched to requests by id, notifications kept per subscription id."""

    def __init__(self, url, received=None):
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.waiting = {}        # JSON text of an id -> future of the answer frame
        self.subscriptions = {}  # JSON text of a subscription id -> asyncio.Queue of frames
        # Every frame, as text, in arrival order (shared with the retry connections).
        self.received = [] if received is None else received
        async def connect():
            return await websockets.connect(url, max_size=None)

        self.ws = self.run(connect())
        self.reader = asyncio.run_coroutine_threadsafe(self.read(), self.loop)

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    async def read(self):
        async for text in self.ws:
            self.received.append(text)
            message = json.loads(text)
            if "method" not in message:
                future = self.waiting.pop(json.dumps(message.get("id")), None)
                if future is not None and not future.done():
                    future.set_result(text)
                continue
            tag = ((message.get("params") or {}).get("_meta") or {}).get(META_SUBSCRIPTION_ID)
            self.subscription_queue(json.dumps(tag)).put_nowait(text)

    def subscription_queue(self, key):
        if key not in self.subscriptions:
            self.subscriptions[key] = asyncio.Queue()
        return self.subscriptions[key]

    def send(self, message, header_overrides=None):
        expect(not header_overrides, "WebSocket messages carry no headers")

        async def exchange():
            future = self.loop.create_future()
            self.waiting[json.dumps(message["id"])] = future
            await self.ws.send(json.dumps(message))
            return await asyncio.wait_for(future, TIMEOUT_S)

        text = self.run(exchange())
        return Exchange(sent=message, status=None, content_type=None, body=text,
                        messages=[json.loads(text)])

    def listen(self, message, count):
        """The listen's first `count` notifications; then notifications/cancelled ends it."""
        async def exchange():
            queue = self.subscription_queue(json.dumps(message["id"]))
            await self.ws.send(json.dumps(message))
            texts = [await asyncio.wait_for(queue.get(), TIMEOUT_S) for _ in range(count)]
            await self.ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                           "params": {"requestId": message["id"],
                                                      "reason": "the client has seen enough"}}))
            return texts

        texts = self.run(exchange())
        return Exchange(sent=message, status=None, content_type=None, body="\n".join(texts),
                        messages=[json.loads(t) for t in texts])

    def learn_tools(self, tools):
        pass  # nothing is mirrored into headers on WebSocket

    def retry_channel(self):
        return WsConnection(self.url, self.received)

    def close(self):
        try:
            self.run(self.ws.close())
            self.reader.result(TIMEOUT_S)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT_S)
            self.loop.close()


def input_responses(input_requests, login, capital):
    """The client's answer to each input request (what a user and a model would give)."""
    responses = {}
    for key, input_request in input_requests.items():
        method = input_request["method"]
        if method == "elicitation/create":
            properties = input_request["params"]["requestedSchema"]["properties"]
            content = {"approve": True} if "approve" in properties else {"name": login}
            responses[key] = {"action": "accept", "content": content}
        elif method == "sampling/createMessage":
            responses[key] = {"role": "assistant", "content": {"type": "text", "text": capital},
                              "model": "ops-model", "stopReason": "endTurn"}
        elif method == "roots/list":
            responses[key] = {"roots": []}
        else:
            raise ProtocolError(f"unknown input request method {method}")
    return responses


def confirm(channel, ids, subject, answers, server_keeps_state=False, barrier=None, new_connections=False):
    """A multi round-trip tools/call: the initial request and one retry per input_required
    answer, each with the next id, the original arguments, inputResponses to what was asked
    and the requestState echoed exactly (none when none came)."""
    arguments = {"subject": subject}
    if server_keeps_state:
        arguments["state"] = "server"
    message = tool_call(ids[0], "confirm", arguments)
    exchanges = []
    for attempt, request_id in enumerate(ids):
        message["id"] = request_id
        if barrier is not None:
            barrier.wait(TIMEOUT_S)
        target = channel.retry_channel() if new_connections and attempt else channel
        try:
            exchange = target.send(message)
        finally:
            if target is not channel:
                target.close()
        exchanges.append(exchange)
        result = exchange.result()
        if result.get("resultType") == "complete":
            break
        expect(result.get("resultType") == "input_required", f"input_required or complete: {result}")
        expect(server_keeps_state == ("requestState" not in result),
               f"requestState {'absent' if server_keeps_state else 'present'}: {result}")
        message = tool_call(None, "confirm", arguments,
                            inputResponses=input_responses(result["inputRequests"], *answers))
        if "requestState" in result:
            message["params"]["requestState"] = result["requestState"]
    expect(len(exchanges) == len(ids), f"{len(ids)} round trips, got {len(exchanges)}")
    final = exchanges[-1].result()
    expect(final.get("resultType") == "complete", f"complete at last: {final}")
    expected = f"{subject}: github_login={answers[0]}, capital_of_france={answers[1]}"
    expect(final["content"][0]["text"] == expected, f"{expected!r}: {final}")
    asked = [list(e.result()["inputRequests"].items())[0] for e in exchanges[:-1]]
    expect([(k, v["method"]) for k, v in asked] ==
           [("github_login", "elicitation/create"), ("capital_of_france", "sampling/createMessage")],
           f"the inputs asked: {asked}")
    return exchanges


def task(channel):
    """tools/call long_job answered with a task, polled with tasks/get at pollIntervalMs,
    its input given with tasks/update, polled again until completed."""
    exchanges = [channel.send(tool_call(40, "long_job", {"job": "reindex"}))]
    created = exchanges[0].result()
    expect(created.get("resultType") == "task" and created.get("status") == "working", f"a task: {created}")
    task_id, interval = created["taskId"], created["pollIntervalMs"] / 1000
    statuses = []
    next_id = 41
    while len(exchanges) < 8:
        time.sleep(interval)
        exchange = channel.send(request(next_id, "tasks/get", {"taskId": task_id}))
        next_id += 1
        exchanges.append(exchange)
        state = exchange.result()
        expect(state.get("resultType") == "complete" and state.get("taskId") == task_id, f"the task: {state}")
        statuses.append(state["status"])
        if state["status"] == "input_required":
            update = channel.send(request(next_id, "tasks/update", {
                "taskId": task_id, "inputResponses": input_responses(state["inputRequests"], None, None)}))
            next_id += 1
            exchanges.append(update)
            expect(update.result().get("resultType") == "complete", f"tasks/update acknowledged: {update}")
        elif state["status"] == "completed":
            expect(state["result"]["content"][0]["text"] == "reindex: done", f"the job's result: {state}")
            break
    expect(statuses == ["working", "input_required", "completed"], f"task statuses: {statuses}")
    return exchanges


def listen(channel):
    exchange = channel.listen(request(50, "subscriptions/listen", {"notifications": {
        "toolsListChanged": True, "resourceSubscriptions": [LISTEN_URI]}}), count=3)
    methods = [m["method"] for m in exchange["messages"]]
    expect(methods == ["notifications/subscriptions/acknowledged", "notifications/tools/list_changed",
                       "notifications/resources/updated"], f"the listen stream: {methods}")
    expect(all(m["params"]["_meta"][META_SUBSCRIPTION_ID] == 50 for m in exchange["messages"]),
           "every notification carries the listen's id as its subscriptionId")
    return [exchange]


def mismatch(channel):
    exchange = channel.send(tool_call(60, "lookup", {"region": "eu-west1", "query": "select 3"}),
                            header_overrides={"Mcp-Name": "confirm"})
    expect(exchange["status"] == 400, f"HTTP 400 for a header mismatch: {exchange}")
    error = exchange.answer().get("error") or {}
    expect(error.get("code") == -32020 and error.get("message", "").startswith("Header mismatch"),
           f"-32020 HeaderMismatch: {exchange}")
    return [exchange]


def concurrent(channel):
    """Two confirm operations of the same tool at once, their round trips in step."""
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def run(name):
        try:
            results[name] = confirm(channel, [f"{name}-{i}" for i in (1, 2, 3)], f"release {name}",
                                    ANSWERS[name], barrier=barrier)
        except BaseException as error:  # reported below, on the caller's thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * TIMEOUT_S)
    if errors:
        raise errors[0]
    return results["alpha"], results["beta"]


def run_flows(url, with_mismatch=None):
    """Every flow against url (http:// or ws://); returns {flow: [Exchange, ...]}."""
    websocket = url.startswith("ws")
    channel = WsConnection(url) if websocket else HttpChannel(url)
    flows = {}
    try:
        flows["discover"] = [channel.send(request("discover-1", "server/discover"))]
        discovered = flows["discover"][0].result()
        expect(discovered["supportedVersions"] == [PROTOCOL_VERSION], f"versions: {discovered}")
        expect(TASKS_EXTENSION in discovered["capabilities"]["extensions"], f"tasks extension: {discovered}")
        flows["tools"] = [channel.send(request(2, "tools/list"))]
        channel.learn_tools(flows["tools"][0].result()["tools"])
        flows["lookup"] = [channel.send(tool_call(3, "lookup", {"region": "eu-west1", "query": "select 1"})),
                           channel.send(tool_call(4, "lookup", {"region": "Zürich", "query": "select 2"}))]
        expect(flows["lookup"][1].result()["content"][0]["text"] == "select 2 in Zürich", "lookup echoes")
        flows["confirm"] = confirm(channel, [10, 11, 12], "release v1", ANSWERS["confirm"],
                                   new_connections=websocket)
        flows["no_state"] = confirm(channel, [20, 21, 22], "release v2", ANSWERS["no_state"],
                                    server_keeps_state=True)
        flows["alpha"], flows["beta"] = concurrent(channel)
        flows["task"] = task(channel)
        flows["listen"] = listen(channel)
        if with_mismatch is None:
            with_mismatch = not websocket  # a WebSocket message has no headers to disagree
        if with_mismatch:
            flows["mismatch"] = mismatch(channel)
    finally:
        channel.close()
    if websocket:
        flows["_frames"] = list(channel.received)
    return flows


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    flows = run_flows(argv[1])
    for name, exchanges in flows.items():
        if name.startswith("_"):
            continue
        for exchange in exchanges:
            sent = exchange["sent"]
            print(f"{name:9} {sent['method']:22} id={json.dumps(sent['id']):10} "
                  f"{exchange['status'] or '-'} {exchange['content_type'] or 'frame'}: "
                  f"{exchange['body'][:100]}")
    print("all flows answered as the specification says")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
