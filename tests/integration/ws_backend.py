"""A deterministic MCP-over-WebSocket backend (python3-websockets), one JSON-RPC message per
text frame, answering in arrival order like a real server handling one session."""
import asyncio
import json
import threading

import websockets

TOOLS = [{"name": "echo", "description": "echoes text", "inputSchema": {"type": "object"}},
         {"name": "ask", "description": "asks the client (sampling)", "inputSchema": {"type": "object"}}]


async def handle(ws, path=None):
    """Reads every frame; answers requests one at a time, in order, on a worker, so that a
    request may wait for the client's answer to a server->client request."""
    pending_sampling = {}
    requests = asyncio.Queue()
    worker = asyncio.ensure_future(serve_requests(ws, requests, pending_sampling))
    try:
        async for text in ws:
            message = json.loads(text)
            if "method" not in message:  # the client's answer to our sampling request
                future = pending_sampling.pop(message.get("id"), None)
                if future:
                    future.set_result(message)
            elif "id" in message:  # notifications need no answer
                await requests.put(message)
    finally:
        worker.cancel()


async def serve_requests(ws, requests, pending_sampling):
    while True:
        message = await requests.get()
        method, mid = message["method"], message["id"]
        params = message.get("params") or {}
        if method == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "ws-backend", "version": "1.0"}}
        elif method == "tools/list":
            result = {"tools": TOOLS}
        elif method == "tools/call" and params.get("name") == "echo":
            token = (params.get("_meta") or {}).get("progressToken")
            if token is not None:
                await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                          "params": {"progressToken": token, "progress": 1, "total": 1}}))
            delay = params.get("arguments", {}).get("delay_ms", 0)
            if delay:
                await asyncio.sleep(delay / 1000)
            result = {"content": [{"type": "text", "text": params["arguments"].get("text", "")}]}
        elif method == "tools/call" and params.get("name") == "ask":
            future = asyncio.get_running_loop().create_future()
            pending_sampling["s1"] = future
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage",
                                      "params": {"messages": [], "maxTokens": 5}}))
            answer = await future
            result = {"content": [{"type": "text", "text": answer["result"]["content"]["text"]}]}
        else:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": mid,
                                      "error": {"code": -32601, "message": "Method not found"}}))
            continue
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}))


class Backend:
    """Runs the server on its own asyncio loop in a thread; port chosen by the OS."""

    def __init__(self, max_size=256 * 1024 * 1024, handler=None, ssl=None):
        self.max_size = max_size
        self.ssl = ssl  # an ssl.SSLContext: wss:// instead of ws://
        self.handler = handler or handle
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.server = await websockets.serve(self.handler, "127.0.0.1", 0, max_size=self.max_size,
                                                 ssl=self.ssl)
            self.port = self.server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.server.wait_closed()

        self.loop.run_until_complete(main())

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(10)


if __name__ == "__main__":
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001

    async def serve_forever():
        async with websockets.serve(handle, "127.0.0.1", port, max_size=256 * 1024 * 1024):
            print(f"ws-backend listening on 127.0.0.1:{port}", flush=True)
            await asyncio.Future()

    asyncio.run(serve_forever())
