"""A tiny MCP server over stdio (newline-delimited JSON-RPC): initialize, tools/list and an
echo tool; it sends one progress notification per call and writes a log line to stderr.
It exits with the code given as its first argument once stdin ends."""
import json
import sys


def answer(message):
    method = message.get("method")
    if method == "initialize":
        return {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                "serverInfo": {"name": "stdio-echo", "version": "1"}}
    if method == "tools/list":
        return {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
    if method == "tools/call":
        text = message["params"]["arguments"].get("text", "")
        return {"content": [{"type": "text", "text": text}]}
    return None


def main():
    exit_code = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if "id" not in message:
            continue  # a notification: nothing to answer
        token = ((message.get("params") or {}).get("_meta") or {}).get("progressToken")
        if token is not None:
            out.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                  "params": {"progressToken": token, "progress": 1}}) + "\n")
        result = answer(message)
        if result is None:
            reply = {"jsonrpc": "2.0", "id": message["id"],
                     "error": {"code": -32601, "message": "method not found"}}
        else:
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    print("stdio-echo: stdin closed", file=sys.stderr)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
