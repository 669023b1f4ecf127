"""A relay-like MCP client over WebSocket (python3-websockets): ids reused, calls in
flight together, a server->client request answered mid-call, a secret and a large message."""
import asyncio
import json
import sys

import websockets

SECRET = "sk-live-8f14e45fceea167a5a36dedd4bea2543"
LARGE_TEXT = "lorem ipsum dolor sit amet " * 40000  # ~1 MB, compresses well


def call(text, **extra):
    arguments = {"text": text}
    arguments.update(extra.pop("arguments", {}))
    params = {"name": "echo", "arguments": arguments}
    params.update(extra)
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


async def conversation(uri, ssl=None):
    """What a relay does: ids reused (3 for every call), calls in flight together, a
    server->client request answered mid-call. Returns every frame received, as text.
    For a wss:// uri, `ssl` is the client's ssl.SSLContext (the system's trust if None)."""
    received = []
    options = {"ssl": ssl} if ssl is not None else {}
    async with websockets.connect(uri, max_size=None, **options) as ws:
        async def send(message):
            await ws.send(json.dumps(message))

        async def recv():
            text = await asyncio.wait_for(ws.recv(), 10)
            received.append(text)
            return json.loads(text)

        await send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "it", "version": "1"}}})
        await recv()
        await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        await recv()
        # Three calls with the same id in flight at once; the first reports progress.
        await send(call("a", _meta={"progressToken": "p1"}, arguments={"delay_ms": 30}))
        await send(call("b"))
        await send(call("c"))
        for _ in range(4):  # progress + three results
            await recv()
        await send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                    "params": {"name": "ask", "arguments": {}}})
        sampling = await recv()
        await send({"jsonrpc": "2.0", "id": sampling["id"],
                    "result": {"role": "assistant", "content": {"type": "text", "text": "sampled"}}})
        await recv()
        await send({"jsonrpc": "2.0", "id": "x", "method": "no/such"})
        await recv()
        await send(call("with secret", arguments={"api_key": SECRET, "user": "ann"}))
        await recv()
        await send(call(LARGE_TEXT))
        await recv()
    return received



if __name__ == "__main__":
    for text in asyncio.new_event_loop().run_until_complete(conversation(sys.argv[1])):
        print("<-", text if len(text) < 120 else text[:117] + "...")
