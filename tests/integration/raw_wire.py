"""Raw bytes for tests that speak below the libraries: hand-built WebSocket frames, raw
DEFLATE as permessage-deflate sends it, an upstream that echoes every byte and one that
answers JSON-RPC lines."""
import json
import socket
import struct
import threading
import zlib

# A WebSocket upgrade offering permessage-deflate, and the 101 agreeing to it.
UPGRADE = (b"GET /mcp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")


def frame(payload, opcode=1, fin=True, mask=True, rsv=0, length=None, key=b"\x11\x22\x33\x44"):
    """One RFC 6455 frame; `length` may announce another length than the payload's."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def deflated(data):
    """A message body as permessage-deflate sends it: sync flush, 00 00 ff ff removed."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


class ThreadedServer:
    """A loopback TCP peer with a thread per connection; a subclass says how to `serve` one
    (and sets what `serve` reads before calling this __init__: connections start at once)."""

    backlog = 64

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=self.backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        raise NotImplementedError

    def close(self):
        self.sock.close()


class EchoUpstream(ThreadedServer):
    """Echoes every byte and half-closes after the client does; a WebSocket upgrade gets
    SWITCH first, then the echo."""

    backlog = 256

    def serve(self, conn):
        first = True
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    try:
                        conn.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                if first and data.startswith(b"GET /mcp") and b"Upgrade: websocket" in data:
                    conn.sendall(SWITCH)
                    data = data[data.find(b"\r\n\r\n") + 4:]
                first = False
                conn.sendall(data)


class NdjsonUpstream(ThreadedServer):
    """JSON-RPC over TCP, one message a line: `reply(message)` is the answer written back
    (a dict), or None to write nothing (for notifications, say)."""

    def __init__(self, reply, ensure_ascii=True):
        self.reply = reply
        self.ensure_ascii = ensure_ascii
        super().__init__()

    def serve(self, conn):
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                answer = self.reply(json.loads(line))
                if answer is not None:
                    stream.write(json.dumps(answer, ensure_ascii=self.ensure_ascii).encode() + b"\n")
                    stream.flush()
