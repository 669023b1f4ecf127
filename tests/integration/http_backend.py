"""A small MCP server over Streamable HTTP (standard library only): POST /mcp answers each
JSON-RPC request with an application/json body, gives the session an Mcp-Session-Id at
initialize, accepts notifications with 202 and ends the session on DELETE. Tools: echo."""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/mcp"


def answer(message):
    """The result of one request, or None for an unknown method."""
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        return {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                "serverInfo": {"name": "http-backend", "version": "1"}}
    if method == "tools/list":
        return {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
    if method == "tools/call" and params.get("name") == "echo":
        text = (params.get("arguments") or {}).get("text", "")
        return {"content": [{"type": "text", "text": text}]}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, every answer with its length

    def log_message(self, *args):  # quiet: the test reads the database, not this log
        pass

    def send_body(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != PATH:
            return self.send_body(404)
        message = json.loads(body)
        if "id" not in message:
            return self.send_body(202)  # a notification or a response: nothing to answer
        headers = [("Content-Type", "application/json")]
        if message.get("method") == "initialize":
            headers.append(("Mcp-Session-Id", str(uuid.uuid4())))
        result = answer(message)
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        if result is None:
            reply["error"] = {"code": -32601, "message": "Method not found"}
        else:
            reply["result"] = result
        self.send_body(200, json.dumps(reply).encode(), headers)

    def do_GET(self):
        self.send_body(405, headers=[("Allow", "POST, DELETE")])

    def do_DELETE(self):
        self.send_body(200 if self.path == PATH else 404)


class HttpBackend:
    """with HttpBackend() as backend: ... backend.port — served from a thread. `handler` may
    be another BaseHTTPRequestHandler (a test's own answers over the same plumbing)."""

    def __init__(self, port=0, handler=Handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


if __name__ == "__main__":
    import sys

    backend = HttpBackend(int(sys.argv[1]) if len(sys.argv) > 1 else 3001)
    print(f"http-backend listening on 127.0.0.1:{backend.port}{PATH}", flush=True)
    backend.server.serve_forever()
