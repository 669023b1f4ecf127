#!/usr/bin/env python3
"""Writes the seed corpus under tests/fuzz/corpus/<harness>/ (re-run after changing it)."""
import gzip
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from raw_wire import deflated, frame  # noqa: E402  (the WebSocket bytes the tests use)


def write(harness, name, data):
    directory = os.path.join(ROOT, harness)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def chunked(data, size=255):
    """FuzzInput framing: a length byte (n-1) before every chunk of n bytes."""
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += bytes([len(piece) - 1]) + piece
    return out


def ws_frame(payload, **options):
    return frame(payload, key=b"\x01\x02\x03\x04", **options)


RPC = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"token":"sk-abcdefghijklmnop0123"}}}'
REQ = (b"POST /mcp?token=abc HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(RPC)) + RPC
RESP_SSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1f\r\nevent: message\r\ndata: {\"a\":1}\n\n\r\n0\r\n\r\n")
UPGRADE = (b"GET /ws?api_key=k HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")

write("http_parser_fuzz", "request", b"\x00" + chunked(REQ))
write("http_parser_fuzz", "response_sse", b"\x01" + chunked(RESP_SSE))
write("http_parser_fuzz", "upgrade", b"\x04" + chunked(UPGRADE))
write("http_parser_fuzz", "conflicting_lengths", b"\x00" + chunked(
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
write("http_parser_fuzz", "tls_hello", b"\x00" + chunked(bytes.fromhex("1603010200010001fc0303") + os.urandom(0) + b"\x00" * 40))

write("sse_parser_fuzz", "events", b"\x3a" + chunked(
    b"\xef\xbb\xbfid: 7\nevent: message\ndata: {\"jsonrpc\":\"2.0\"}\ndata: more\nretry: 100\n\n: comment\r\ndata: x\r\n\r\n"))

for opts, name in ((0xa1, "client_text"), (0xa0, "server_text")):
    mask = bool(opts & 1)
    frames = ws_frame(RPC, mask=mask) + ws_frame(b"hi", opcode=9, mask=mask) + \
        ws_frame(b"par", fin=False, mask=mask) + ws_frame(b"tial", opcode=0, mask=mask) + \
        ws_frame(b"\x03\xe8", opcode=8, mask=mask)
    write("websocket_fuzz", name, bytes([opts]) + chunked(frames))
write("websocket_fuzz", "client_deflate", bytes([0xa3, 7]) + chunked(
    ws_frame(deflated(RPC), rsv=0x40) + ws_frame(deflated(RPC), rsv=0x40)))
write("websocket_fuzz", "len64", bytes([0xa1]) + chunked(b"\x81\xff" + struct.pack(">Q", 1 << 63) + b"abcd"))

write("permessage_deflate_fuzz", "header", b"\x01permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-webkit")
bomb = deflated(b"\x00" * 2000000)
write("permessage_deflate_fuzz", "bomb", b"\x0e" + b"".join(bytes([1]) + chunked(bomb[i:i + 200], 200) for i in range(0, len(bomb), 200)))
write("permessage_deflate_fuzz", "message", b"\x0e\x00" + chunked(deflated(RPC)))

write("ndjson_fuzz", "lines", b"\x0a" + chunked(RPC + b"\n" + RPC + b"\r\n{}\n"))

write("json_rpc_fuzz", "request", RPC)
write("json_rpc_fuzz", "batch", b'[{"jsonrpc":"2.0","id":"a","result":{"text":"{\\"password\\":\\"x\\"}"}},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}}]')
write("json_rpc_fuzz", "deep", b"[" * 2000)
# Escapes, UTF-8 of every length, surrogate pairs, numbers of every shape: what the
# envelope's hand-written scan must judge exactly as the parser does.
write("json_rpc_fuzz", "escapes",
      '{"jsonrpc":"2.0","id":"a\\u00e9\\ud83d\\ude00\\n","method":"x/\\"y\\"",'
      '"params":{"_meta":{"k":"\u00e9\u4e2d\U0001f600"},"arguments":{"t":"{\\"password\\":1}"}}}'
      .encode())
write("json_rpc_fuzz", "numbers",
      b'{"id":-0,"method":"m","params":{"progressToken":1.5e-3,"n":[0,-1,18446744073709551615,'
      b'123456789012345678901234567890,1E+2,1e400]}}')
# Operation shapes: what the envelope keeps for linking must equal what the document gives.
write("json_rpc_fuzz", "mrtr_answer",
      b'{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":'
      b'{"github_login":{"method":"elicitation/create","params":{}},"b":{"method":"roots/list"}},'
      b'"requestState":"c3RhdGU\\u00e9x"}}')
write("json_rpc_fuzz", "mrtr_retry",
      b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"confirm","arguments":{},'
      b'"inputResponses":{"github_login":{"action":"accept"}},"requestState":"a","requestState":"b",'
      b'"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
      b'"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}}}')
write("json_rpc_fuzz", "tasks",
      b'[{"jsonrpc":"2.0","id":3,"result":{"task":{"taskId":"786512e2","status":"working"}}},'
      b'{"jsonrpc":"2.0","id":4,"result":{"resultType":"task","taskId":"t1","status":"working"}},'
      b'{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t1","status":"input_required",'
      b'"inputRequests":{"k":{"method":"elicitation/create"}}}}]')
write("json_rpc_fuzz", "identity",
      b'{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},'
      b'"serverInfo":{"name":"s"}},"result":{"protocolVersion":"2025-06-18","serverInfo":{}}}')
write("json_rpc_fuzz", "subscription",
      b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":'
      b'{"io.modelcontextprotocol/subscriptionId":50,"io.modelcontextprotocol/related-task":{"taskId":"x"}}}}')
write("json_rpc_fuzz", "error_code",
      b'{"jsonrpc":"2.0","id":null,"error":{"code":-32020,"message":"Header mismatch","data":{}}}')

write("redactor_fuzz", "secrets", "Bearer abcdefghijkl sk-proj-abcdefghijklmnop ghp_0123456789abcdefghij "
      "xoxb-0123456789 AKIAIOSFODNN7EXAMPLE eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig "
      "-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY----- /p?token=1&api_key=2&x=3")

# Key, then whole names, suffixes, exceptions and query names in turn (one a line).
write("redactor_keys_fuzz", "camel", "openaiApiKey\nclient-secret\n_token\nprogressToken\nsig")
write("redactor_keys_fuzz", "percent", "%61pi%5Fkey\nAPI_KEY\nToken\nmax_tokens\nX-Sig")
write("redactor_keys_fuzz", "acronym", "OAuth2Token\npwd\nkey\nmonkey\nkey\n__\n-x\nA")

write("content_decoder_fuzz", "gzip", b"gzip\n" + chunked(gzip.compress(RPC)))
write("content_decoder_fuzz", "deflate", b"deflate\n" + chunked(zlib.compress(RPC)))
write("content_decoder_fuzz", "stacked", b"gzip, deflate\n" + chunked(zlib.compress(gzip.compress(RPC))))


def conn(*pieces):
    """connection_capture framing: control byte (direction) then a FuzzInput chunk."""
    out = b""
    for direction, data in pieces:
        for i in range(0, len(data), 255):
            piece = data[i:i + 255]
            out += bytes([direction, len(piece) - 1]) + piece
    return out


write("connection_capture_fuzz", "http_json", b"\x0c" + conn((0, REQ), (1, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")))
write("connection_capture_fuzz", "http_sse", b"\x0c" + conn((0, REQ), (1, RESP_SSE)))
write("connection_capture_fuzz", "websocket", b"\x0c" + conn((0, UPGRADE), (1, SWITCH), (0, ws_frame(deflated(RPC), rsv=0x40)), (1, ws_frame(deflated(RPC), rsv=0x40, mask=False))))
write("connection_capture_fuzz", "ndjson", b"\x8c" + conn((0, RPC + b"\n"), (1, b'{"jsonrpc":"2.0","id":1,"result":{}}\n')))

config = {"admin": {"listen": "127.0.0.1:9901", "token_env": "MCPTAP_ADMIN_TOKEN"},
          "routes": [{"name": "r", "listen": "127.0.0.1:9001", "upstream": "[::1]:8001", "capture": True}],
          "sink": {"postgres": "postgresql://u@localhost/db?sslmode=require", "batch_max_rows": 1000,
                   "flush_interval_ms": 50},
          "capture": {"max_payload_bytes": 16777216},
          "redact": {"json_keys": ["password"], "headers": ["authorization"]}}
write("config_loader_fuzz", "config.json", json.dumps(config))
write("config_loader_fuzz", "empty.json", "{}")
tls_config = {"proxy": {"tls_handshake_timeout_ms": 5000},
              "routes": [{"name": "terminate", "listen": "127.0.0.1:9443", "upstream": "api.test:443",
                          "listen_tls": {"cert_file": "/tls/c.pem", "key_file": "/tls/k.pem",
                                         "client_ca_file": "/tls/clients.pem", "min_version": "1.3"},
                          "upstream_tls": {"server_name": "api.test", "ca_file": "/tls/ca.pem",
                                           "client_cert_file": "/tls/cc.pem", "client_key_file": "/tls/ck.pem",
                                           "alpn": ["http/1.1"]}},
                         {"name": "intercept", "listen": ":15443", "upstream": "original_dst",
                          "listen_tls": {"intercept": {"ca_cert_file": "/ca/ca.crt", "ca_key_file": "/ca/ca.key"}},
                          "upstream_tls": {"verify": False}}]}
write("config_loader_fuzz", "config_tls.json", json.dumps(tls_config))

# The admin server's request path: option byte, then FuzzInput chunks.
TOKEN = b"Authorization: Bearer s3cret-token\r\n"
ADMIN = [
    ("healthz", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n"),
    ("tail_pipelined", (b"GET /tail?route=r&method=tools%2Fcall HTTP/1.1\r\nHost: localhost\r\n" + TOKEN + b"\r\n") * 3),
    ("csrf", b"POST /routes/r1/capture HTTP/1.1\r\nHost: evil.example:9901\r\nOrigin: https://evil.example\r\n"
             b"Content-Type: text/plain\r\nContent-Length: 17\r\n\r\n{\"enabled\":false}"),
    ("change_chunked", b"POST /routes/r1/capture HTTP/1.1\r\nHost: [::1]:9901\r\nContent-Type: application/json; charset=utf-8\r\n"
                       + TOKEN + b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n11\r\n{\"enabled\":false}\r\n0\r\n\r\n"),
    ("kubelet_http10", b"GET /readyz HTTP/1.0\r\nHost: 10.1.2.3:9901\r\n\r\nGET /metrics HTTP/1.1\r\nHost: 10.1.2.3:9901\r\nConnection: close\r\n\r\n"),
    ("bad_query", b"GET /routes?x=%zz HTTP/1.1\r\nHost: mcptap.internal\r\n\r\n"),
]
for name, data in ADMIN:
    write("admin_request_fuzz", name, b"\x00" + chunked(data))
write("admin_request_fuzz", "small_limits", b"\x07" + chunked(ADMIN[3][1], 7))


def tls_flights():
    """A real ClientHello, and the server's answer to it, from python's ssl over memory."""
    import ssl
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", d + "/k.pem", "-out", d + "/c.pem", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(d + "/c.pem", d + "/k.pem")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])
    flights = {}
    for name, maximum in (("tls13", ssl.TLSVersion.TLSv1_3), ("tls12", ssl.TLSVersion.TLSv1_2)):
        client_ctx.maximum_version = maximum
        c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = c_out.read()
        s_in.write(hello)
        try:
            server.do_handshake()
        except ssl.SSLWantReadError:
            pass
        flights[name] = (hello, s_out.read())
    return flights


# The TLS adapter's read path: option byte (role: 0 server, 1 client, 2 intercept), then chunks.
for version, (hello, answer) in tls_flights().items():
    write("tls_adapter_fuzz", "client_hello_" + version, b"\x00" + chunked(hello, 100))
    write("tls_adapter_fuzz", "intercept_hello_" + version, b"\x02" + chunked(hello, 37))
    write("tls_adapter_fuzz", "server_flight_" + version, b"\x01" + chunked(answer))
write("tls_adapter_fuzz", "http_request", b"\x00" + chunked(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
