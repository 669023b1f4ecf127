"""HTTP answers that are not a JSON-RPC response to an id, through mcptap: a 403 whose
JSON-RPC error has id null, a 401 with an authentication challenge and an HTML page, a 502
HTML page from a gateway whose own backend is down, and a 200 HTML page. The client gets
every answer byte for byte as a direct request gets it; each error is recorded once, paired
with the request of its HTTP exchange; the 200 page is not a message and is not recorded.

The upstream is a stdlib HTTP server in this file; its answers depend only on the path
(Date and Server are fixed), so a direct answer and one through mcptap compare as bytes.
Every request goes on a connection of its own: the rows of an exchange are the rows of that
connection, whatever their pairing says.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import ClosedPort, Mcptap, pg_url, query_rows, unique_name  # noqa: E402

C2S, S2C = "client_to_server", "server_to_client"
EXCERPT_BYTES = 1024  # kHttpErrorExcerptBytes

FORBIDDEN_BODY = (b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,'
                  b'"message":"Forbidden: bad Host"}}')
CHALLENGE = 'Bearer resource_metadata="https://auth.example/.well-known/oauth-protected-resource"'
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>"
              b"<body><h1>Sign in required</h1><p>This MCP server needs a bearer token.</p>"
              b"</body></html>\n")
# 5 KiB and more, with multi-byte UTF-8 so that a cut at 1024 bytes may fall inside one.
BIG_LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head><body>"
                  + "<p>Anmeldung erforderlich \u2192 gr\u00fc\u00dfe</p>\n".encode() * 120
                  + b"</body></html>\n")
GATEWAY_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
                b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
OK_PAGE = b"<html><body>Welcome to the MCP server.</body></html>\n"


class Upstream(BaseHTTPRequestHandler):
    """POST /forbidden, /login, /login-big, /gateway, /page: one fixed answer each."""

    protocol_version = "HTTP/1.1"
    backend_port = None  # the gateway's backend: a ClosedPort

    def version_string(self):
        return "upstream/1"

    def date_time_string(self, timestamp=None):
        return "Thu, 01 Jan 2026 00:00:00 GMT"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/forbidden":
            self.answer(403, "application/json", FORBIDDEN_BODY)
        elif self.path == "/login":
            self.answer(401, "text/html; charset=utf-8", LOGIN_PAGE, {"WWW-Authenticate": CHALLENGE})
        elif self.path == "/login-big":
            self.answer(401, "text/html; charset=utf-8", BIG_LOGIN_PAGE, {"WWW-Authenticate": CHALLENGE})
        elif self.path == "/gateway":
            self.answer(*self.gateway())
        elif self.path == "/page":
            self.answer(200, "text/html", OK_PAGE)
        else:
            self.answer(404, "text/plain", b"no such path\n")

    def gateway(self):
        """What a reverse proxy answers when its backend refuses the connection."""
        try:
            socket.create_connection(("127.0.0.1", self.backend_port), timeout=5).close()
        except OSError:
            return 502, "text/html", GATEWAY_PAGE
        return 500, "text/plain", b"the gateway's backend should be down\n"

    def answer(self, status, content_type, body, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


def tools_call(jsonrpc_id, name):
    return {"jsonrpc": "2.0", "id": jsonrpc_id, "method": "tools/call",
            "params": {"name": name, "arguments": {}}}


def post(port, path, message):
    """One POST on a new connection; every byte of the answer, up to the server's close."""
    body = json.dumps(message).encode()
    request = (f"POST {path} HTTP/1.1\r\nHost: mcp.example\r\nContent-Type: application/json\r\n"
               f"Accept: application/json, text/event-stream\r\nConnection: close\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        got = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return got
            got += chunk


# name -> (path, JSON-RPC id, tool name)
CASES = {
    "forbidden": ("/forbidden", 11, "search"),
    "login": ("/login", 12, "search"),
    "login_big": ("/login-big", 13, "search"),
    "gateway": ("/gateway", 14, "search"),
    "page": ("/page", 15, "search"),
}


class HttpErrorsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.route = unique_name("http_errors")
        cls.closed = ClosedPort()
        Upstream.backend_port = cls.closed.port
        cls.upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        try:
            port = cls.upstream.server_address[1]
            cls.direct = {name: post(port, path, tools_call(i, tool))
                          for name, (path, i, tool) in CASES.items()}
            tap = Mcptap([{"name": cls.route, "upstream": f"127.0.0.1:{port}"}])
            try:
                tap.start()
                cls.proxied = {name: post(tap.ports[cls.route], path, tools_call(i, tool))
                               for name, (path, i, tool) in CASES.items()}
                cls.exit_code = tap.stop()  # rows are flushed before it exits
                cls.log = tap.log()
            finally:
                tap.close()
        finally:
            cls.upstream.shutdown()
            cls.upstream.server_close()
            cls.closed.close()
        cls.rows = query_rows("SELECT * FROM mcptap.messages WHERE route = $1 ORDER BY id", cls.route)

    # --- helpers -----------------------------------------------------------------------

    def request_row(self, case):
        _, jsonrpc_id, _ = CASES[case]
        found = [r for r in self.rows if r["direction"] == C2S and r["kind"] == "request"
                 and r["jsonrpc_id"] == str(jsonrpc_id)]
        self.assertEqual(len(found), 1, (case, self.brief()))
        return found[0]

    def answer_rows(self, case):
        """Every row the server's side of this case's connection produced."""
        connection = self.request_row(case)["connection_id"]
        return [r for r in self.rows if r["direction"] == S2C and r["connection_id"] == connection]

    def the_answer(self, case):
        answers = self.answer_rows(case)
        self.assertEqual(len(answers), 1, (case, self.brief()))
        return answers[0]

    def brief(self):
        return [(r["direction"], r["kind"], r["jsonrpc_id"], r["method"], r["correlation_id"],
                 r.get("operation_id"), (r["meta"] or {}).get("http", {}).get("status"))
                for r in self.rows]

    def assert_paired(self, case, answer):
        request = self.request_row(case)
        self.assertEqual((answer["correlation_id"], answer["method"]),
                         (request["correlation_id"], "tools/call"), case)
        self.assertIsNotNone(answer["latency_us"], case)
        self.assertGreaterEqual(answer["latency_us"], 0, case)
        self.assertIsNotNone(request.get("operation_id"), case)
        self.assertEqual(answer.get("operation_id"), request.get("operation_id"), case)

    def assert_html_error(self, case, status, page):
        answer = self.the_answer(case)
        self.assertEqual((answer["kind"], answer["direction"], answer["payload"]),
                         ("error", S2C, None), case)
        self.assert_paired(case, answer)
        http = (answer["meta"] or {}).get("http", {})
        self.assertEqual(http.get("status"), status, answer["meta"])
        self.assertEqual(http.get("body_bytes"), len(page), case)
        excerpt = http.get("body_excerpt")
        self.assertIsInstance(excerpt, str, answer["meta"])
        return answer, http, excerpt

    # --- forwarding ----------------------------------------------------------------------

    def test_upstream_answers_as_intended(self):
        self.assertTrue(self.direct["forbidden"].startswith(b"HTTP/1.1 403 "))
        self.assertTrue(self.direct["forbidden"].endswith(FORBIDDEN_BODY))
        self.assertTrue(self.direct["login"].startswith(b"HTTP/1.1 401 "))
        self.assertIn(f"WWW-Authenticate: {CHALLENGE}\r\n".encode(), self.direct["login"])
        self.assertTrue(self.direct["login_big"].endswith(BIG_LOGIN_PAGE))
        self.assertGreaterEqual(len(BIG_LOGIN_PAGE), 5 * 1024)
        self.assertTrue(self.direct["gateway"].startswith(b"HTTP/1.1 502 "))
        self.assertTrue(self.direct["gateway"].endswith(GATEWAY_PAGE))
        self.assertTrue(self.direct["page"].startswith(b"HTTP/1.1 200 "))

    def test_every_answer_is_forwarded_byte_for_byte(self):
        for case in CASES:
            self.assertEqual(self.proxied[case], self.direct[case], case)

    def test_mcptap_exits_cleanly(self):
        self.assertEqual(self.exit_code, 0, self.log)

    def test_every_request_is_recorded_once(self):
        for case in CASES:
            request = self.request_row(case)
            self.assertEqual(request["payload"], tools_call(CASES[case][1], CASES[case][2]))
            self.assertIsNotNone(request["correlation_id"], case)

    # --- (a) 403 with a JSON-RPC error whose id is null ----------------------------------

    def test_null_id_error_pairs_with_the_request_of_its_exchange(self):
        answer = self.the_answer("forbidden")
        self.assertEqual((answer["kind"], answer["jsonrpc_id"]), ("error", "null"))
        self.assertEqual(answer["payload"], json.loads(FORBIDDEN_BODY))
        self.assert_paired("forbidden", answer)
        self.assertEqual((answer["meta"] or {}).get("paired_by"), "http_exchange", answer["meta"])
        self.assertEqual(answer["meta"]["http"]["status"], 403)

    # --- (b) 401 with a challenge and an HTML page ---------------------------------------

    def test_401_html_is_one_paired_error_row(self):
        _, http, excerpt = self.assert_html_error("login", 401, LOGIN_PAGE)
        self.assertEqual(http["headers"].get("www-authenticate"), CHALLENGE)
        self.assertEqual(excerpt, LOGIN_PAGE.decode())
        self.assertFalse(http.get("body_truncated"), http)

    def test_401_large_page_is_cut_to_the_excerpt(self):
        _, http, excerpt = self.assert_html_error("login_big", 401, BIG_LOGIN_PAGE)
        self.assertIs(http.get("body_truncated"), True, http)
        self.assertLessEqual(len(excerpt.encode()), EXCERPT_BYTES)
        self.assertGreater(len(excerpt.encode()), EXCERPT_BYTES - 4)  # cut at a character
        self.assertTrue(BIG_LOGIN_PAGE.decode().startswith(excerpt), excerpt)

    # --- (c) 502 from a gateway whose backend is down ------------------------------------

    def test_502_from_a_gateway_is_a_paired_error_row(self):
        _, http, excerpt = self.assert_html_error("gateway", 502, GATEWAY_PAGE)
        self.assertEqual(excerpt, GATEWAY_PAGE.decode())
        self.assertFalse(http.get("body_truncated"), http)

    # --- (d) 200 with an HTML page -------------------------------------------------------

    def test_200_html_is_not_a_message(self):
        self.assertEqual(self.answer_rows("page"), [])

    # --- the CLI -------------------------------------------------------------------------

    def test_query_timeline_shows_the_http_status(self):
        binary = os.environ.get("MCPTAP_BIN") or os.path.join(os.path.dirname(__file__),
                                                              "../../build/bin/mcptap")
        done = subprocess.run([binary, "query", "--route", self.route], capture_output=True,
                              text=True, timeout=30, env=dict(os.environ, MCPTAP_PG_URL=pg_url()))
        self.assertEqual(done.returncode, 0, done.stderr)
        for status in ("HTTP 401", "HTTP 502"):
            self.assertIn(status, done.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
