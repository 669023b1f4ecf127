#!/usr/bin/python3
"""Idle TLS clients for the proxy benchmark's memory figure: opens N TLS connections to
127.0.0.1:PORT (verifying the server against --ca-file as `localhost`), sends one POST on
each and reads its answer, then keeps every connection open and idle.

    tls_idle_clients.py --port P --ca-file ca.pem --connections 2000 --hold 30

Prints `ready ok=N failed=M` once all are done, then holds them for --hold seconds (or until
stdin closes) and exits. Handshakes are limited to --concurrency at once so that the server
is never flooded past its backlog.
"""
import argparse
import asyncio
import os
import resource
import ssl
import sys

BODY = (b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_documents",'
        b'"arguments":{"query":"quarterly revenue report for the northern region","limit":10,'
        b'"filters":{"year":2025,"department":"finance","status":"published","region":"north"},'
        b'"include_snippets":true,"sort":"relevance","cursor":null}}}')
REQUEST = (b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           b"Accept: application/json, text/event-stream\r\nMcp-Session-Id: bench-session\r\n"
           b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


async def open_one(port, context, gate):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"),
            timeout=30)
        writer.write(REQUEST)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        await reader.readexactly(length)
        return reader, writer


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--hold", type=float, default=30)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    context = ssl.create_default_context(cafile=args.ca_file)
    gate = asyncio.Semaphore(args.concurrency)
    results = await asyncio.gather(*(open_one(args.port, context, gate)
                                     for _ in range(args.connections)), return_exceptions=True)
    held = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    print(f"ready ok={len(held)} failed={len(errors)}"
          + (f" first_error={errors[0]!r}" if errors else ""), flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_closed], timeout=args.hold)
    for _, writer in held:
        writer.close()
    # The executor thread may still block on stdin; do not wait for it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
