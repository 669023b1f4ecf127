"""TLS peers and readings shared by the TLS integration tests: an HTTPS MCP backend, a TLS
NDJSON echo, and what mcptap's /metrics and log say about TLS handshakes."""
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.request

import harness
from harness import log_lines
from http_backend import HttpBackend
from raw_wire import ThreadedServer

PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'


class UnprobedMcptap(harness.Mcptap):
    """harness.Mcptap without its probe of each route's port at start: to a route whose
    upstream refuses TLS, that probe would be a connection and a failed upstream handshake
    of its own. The "admin listening" line already says every listener is bound."""

    def start(self):
        self.stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen([self.binary, "run", "--config", self.config_path],
                                        stdout=subprocess.DEVNULL, stderr=self.stderr, env=self.env)
        self.admin_port = self.wait_for_admin_port()
        return self


def https_backend(context):
    """http_backend's MCP server behind TLS. The handshake runs in each connection's own
    thread (on its first read), so a client that fails or stalls it holds up no other."""
    backend = HttpBackend()
    backend.server.socket = context.wrap_socket(backend.server.socket, server_side=True,
                                                do_handshake_on_connect=False)
    # A refused handshake is the point of some tests, not an error to print.
    backend.server.handle_error = lambda request, client_address: None
    return backend


class TlsNdjsonEcho(ThreadedServer):
    """JSON-RPC over TLS, one message a line: each request is answered with its params.
    Handshake failures are kept in `errors` (the peer's view of a refused connection)."""

    def __init__(self, context):
        self.context = context
        self.errors = []
        super().__init__()

    def serve(self, conn):
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls, tls.makefile("rwb") as stream:
                for line in stream:
                    message = json.loads(line)
                    if "id" in message:
                        reply = {"jsonrpc": "2.0", "id": message["id"], "result": message.get("params") or {}}
                        stream.write(json.dumps(reply).encode() + b"\n")
                        stream.flush()
        except (OSError, ValueError) as error:
            self.errors.append(error)


def outcome(sock):
    """Reads until the peer ends: ("data", bytes), ("eof", b""), ("reset", b""),
    ("alert: REASON", b"") for a TLS alert on an SSLSocket, or ("stall", ...) at the socket's
    timeout."""
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return ("data", got) if got else ("eof", b"")
            got += chunk
    except ssl.SSLError as error:
        return ("alert: " + (error.reason or str(error)), got)
    except (ConnectionResetError, BrokenPipeError):
        return ("reset", got)
    except socket.timeout:
        return ("stall", got)


def plain_request(port, payload=PING, timeout=10):
    """A plaintext client: sends payload, then reads until the end; returns outcome()."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            return ("reset", b"")
        return outcome(s)


def metrics_text(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
        return r.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text, name):
    """[(labels dict, value)] of one metric in a Prometheus text exposition."""
    found = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and match.group(1) == name:
            found.append((dict(LABEL.findall(match.group(2))), float(match.group(3))))
    return found


def tls_failures(admin_port, route):
    """{(side, reason): count} of mcptap_tls_handshake_failures_total for the route."""
    return {(labels.get("side"), labels.get("reason")): value
            for labels, value in samples(metrics_text(admin_port), "mcptap_tls_handshake_failures_total")
            if labels.get("route") == route and value != 0}


def wait_for_tls_failures(admin_port, route, expected, timeout=10.0):
    """Polls until the route's failures include `expected` ({(side, reason): count}) with
    those counts; returns the last reading."""
    deadline = time.time() + timeout
    while True:
        seen = tls_failures(admin_port, route)
        if all(seen.get(key) == value for key, value in expected.items()) or time.time() > deadline:
            return seen
        time.sleep(0.1)


def failure_log_lines(log, route=None):
    """The "tls handshake failed" log lines (of one route if given), as dicts."""
    return [line for line in log_lines(log) if line.get("msg") == "tls handshake failed"
            and (route is None or line.get("route") == route)]


def wait_for_log(read_log, predicate, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        text = read_log()
        if predicate(text) or time.time() > deadline:
            return text
        time.sleep(0.1)


def client_hello(server_hostname="localhost"):
    """The bytes of a real ClientHello from Python's ssl (a memory BIO client)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class SplitClient:
    """A TLS client over a raw socket through an SSLObject, so that a test decides exactly
    how the bytes it sends are cut into TCP writes. `split` is called with each flight of
    ciphertext and the socket, and writes it as it likes."""

    def __init__(self, port, context, server_hostname="localhost", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write its own segment
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)

    def _pump(self, split):
        data = self.outgoing.read()
        if data:
            split(data, self.sock)

    def _feed(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.incoming.write_eof()
        else:
            self.incoming.write(chunk)

    def handshake(self, split):
        while True:
            try:
                self.tls.do_handshake()
                self._pump(split)
                return self.tls.version()
            except ssl.SSLWantReadError:
                self._pump(split)
                self._feed()

    def send(self, data, split):
        self.tls.write(data)
        self._pump(split)

    def recv_line(self):
        got = b""
        while not got.endswith(b"\n"):
            try:
                got += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._pump(lambda d, s: s.sendall(d))  # tickets need no answer; KeyUpdate might
                self._feed()
            except ssl.SSLZeroReturnError:
                break
        return got

    def close(self):
        self.sock.close()


def whole(data, sock):
    sock.sendall(data)


def split_at(k, pause=0.002):
    """A `split` that sends data[:k], pauses, then sends the rest."""
    def split(data, sock):
        sock.sendall(data[:k])
        time.sleep(pause)
        if data[k:]:
            sock.sendall(data[k:])
    return split
