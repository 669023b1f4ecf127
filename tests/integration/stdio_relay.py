"""A relay over stdio, like the ones MCP hosts launch: every tools/call read on stdin is
sent on to a backend over TCP (newline-delimited JSON-RPC) with an id of its own and a
_meta of its own, and the backend's result goes back to the host under the host's id."""
import json
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    with socket.create_connection((host, port), timeout=10) as conn, conn.makefile("rwb") as backend:
        for line in sys.stdin:
            if not line.strip():
                continue
            message = json.loads(line)
            if message.get("method") != "tools/call":
                continue
            params = dict(message["params"], _meta={"relay": "stdio-relay"})
            backend.write(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                      "params": params}).encode() + b"\n")
            backend.flush()
            answer = json.loads(backend.readline())
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer["result"]}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
