"""Credentials in their common spellings go through the real binary - in HTTP headers, in
a request target's query (percent-encoded too), in tool arguments and results, in
params._meta, and in a WebSocket handshake path - and none of their values may reach
mcptap.messages, neither in payload nor in meta; the look-alikes next to them must."""
import asyncio
import http.client
import json
import unittest
import uuid
from http.server import BaseHTTPRequestHandler

import websockets

from harness import Mcptap, query_rows, run_async, unique_name, wait_for_rows
from http_backend import HttpBackend
from ws_backend import Backend


def secret(label):
    # Distinct, pattern-free values: only the name rules can catch them.
    return f"s3cr3t-{label}-{uuid.uuid4().hex[:12]}"


KEYS = ["apiKey", "accessToken", "refreshToken", "clientSecret", "privateKey", "api-key",
        "passwd", "credentials", "auth", "API_KEY", "githubToken", "dbPassword"]
HEADERS = ["x-auth-token", "api-key", "x-goog-api-key", "x-amz-security-token", "private-token",
           "x-access-token", "ocp-apim-subscription-key", "Authorization"]
QUERY_NAMES = ["%74oken", "access-token", "apiKey", "x-api-key", "api%5Fkey"]
RESULT_KEYS = ["accessToken", "refresh_token", "id-token"]

SECRETS = {}
for group, names in (("key", KEYS), ("header", HEADERS), ("query", QUERY_NAMES),
                     ("result", RESULT_KEYS), ("meta", ["authToken"]),
                     ("response-header", ["x-access-token"])):
    for name in names:
        SECRETS[(group, name)] = secret(f"{group}-{name}")

# Look-alikes: values that must survive, next to the secrets.
KEPT = {"max_tokens": 512, "maxTokens": 256, "token_count": 7, "author": "ann-author-kept",
        "keyboard": "qwerty-kept", "monkey": "monkey-kept", "passthrough": "passthrough-kept"}
PROGRESS_TOKEN = "progress-kept-1"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def tools_call(mid):
    arguments = {name: SECRETS[("key", name)] for name in KEYS}
    arguments.update(KEPT)
    return {"jsonrpc": "2.0", "id": mid, "method": "tools/call",
            "params": {"name": "echo", "arguments": arguments,
                       "_meta": {"progressToken": PROGRESS_TOKEN, "traceparent": TRACEPARENT,
                                 "authToken": SECRETS[("meta", "authToken")]}}}


def query_string():
    return "&".join(f"{name}={SECRETS[('query', name)]}" for name in QUERY_NAMES) + "&page=2"


def result_for(message):
    result = {name: SECRETS[("result", name)] for name in RESULT_KEYS}
    result["content"] = [{"type": "text", "text": "done"}]
    result["usage"] = {"max_tokens": 512, "output_tokens": 12}
    return {"jsonrpc": "2.0", "id": message.get("id"), "result": result}


class CredentialsHandler(BaseHTTPRequestHandler):
    """Answers each POSTed JSON-RPC request with a result holding credentials."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = json.dumps(result_for(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-access-token", SECRETS[("response-header", "x-access-token")])
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


async def ws_echo(ws, path=None):
    async for text in ws:
        await ws.send(json.dumps(result_for(json.loads(text))))


async def ws_conversation(uri, headers):
    async with websockets.connect(uri, extra_headers=headers) as ws:
        await ws.send(json.dumps(tools_call(7)))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def credential_headers():
    return {name: SECRETS[("header", name)] for name in HEADERS}


class RedactionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_route = unique_name("redact_http")
        cls.ws_route = unique_name("redact_ws")
        with HttpBackend(handler=CredentialsHandler) as http_backend, \
                Backend(handler=ws_echo) as ws_backend:
            routes = [{"name": cls.http_route, "upstream": f"127.0.0.1:{http_backend.port}"},
                      {"name": cls.ws_route, "upstream": f"127.0.0.1:{ws_backend.port}"}]
            with Mcptap(routes) as tap:
                cls.http_answer = cls.post(tap.ports[cls.http_route])
                cls.ws_answer = run_async(ws_conversation(
                    f"ws://127.0.0.1:{tap.ports[cls.ws_route]}/mcp?{query_string()}",
                    credential_headers()))
                cls.exit_code = tap.stop()
                cls.log = tap.log()
        cls.http_rows = wait_for_rows(cls.http_route, 2, timeout=10)
        cls.ws_rows = wait_for_rows(cls.ws_route, 2, timeout=10)
        cls.texts = query_rows(
            "SELECT route, kind, coalesce(payload::text, '') AS payload, meta::text AS meta"
            " FROM mcptap.messages WHERE route IN ($1, $2)", cls.http_route, cls.ws_route)

    @staticmethod
    def post(port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps(tools_call(3))
        headers = dict(credential_headers(), **{"Content-Type": "application/json",
                                                "Accept": "application/json, text/event-stream"})
        connection.request("POST", f"/mcp?{query_string()}", body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        return answer

    def test_the_peers_got_every_credential_unchanged(self):
        # Forwarding is byte for byte: redaction touches only what is stored.
        for answer in (self.http_answer, self.ws_answer):
            for name in RESULT_KEYS:
                self.assertEqual(answer["result"][name], SECRETS[("result", name)])
        self.assertEqual(self.exit_code, 0, self.log)

    def test_every_message_was_recorded_and_marked_redacted(self):
        self.assertEqual(len(self.http_rows), 2, self.http_rows)
        self.assertEqual(len(self.ws_rows), 2, self.ws_rows)
        self.assertEqual(len(self.texts), 4)
        for row in self.http_rows + self.ws_rows:
            self.assertTrue(row["redacted"], row)

    def test_no_secret_value_is_stored_anywhere(self):
        for row in self.texts:
            for (group, name), value in SECRETS.items():
                self.assertNotIn(value, row["payload"], f"{group} {name} in payload of {row['route']}")
                self.assertNotIn(value, row["meta"], f"{group} {name} in meta of {row['route']}")

    def test_secret_keys_hold_the_marker(self):
        for row in self.http_rows + self.ws_rows:
            if row["kind"] == "request":
                params = row["payload"]["params"]
                for name in KEYS:
                    self.assertEqual(params["arguments"][name], "[REDACTED]", name)
                self.assertEqual(params["_meta"]["authToken"], "[REDACTED]")
                self.assertEqual(row["meta"]["_meta"]["authToken"], "[REDACTED]", row["meta"])
            else:
                for name in RESULT_KEYS:
                    self.assertEqual(row["payload"]["result"][name], "[REDACTED]", name)

    def test_lookalikes_are_kept(self):
        for row in self.http_rows + self.ws_rows:
            if row["kind"] == "request":
                params = row["payload"]["params"]
                for name, value in KEPT.items():
                    self.assertEqual(params["arguments"][name], value, name)
                self.assertEqual(params["_meta"]["progressToken"], PROGRESS_TOKEN)
                self.assertEqual(row["meta"]["_meta"]["traceparent"], TRACEPARENT)
            else:
                self.assertEqual(row["payload"]["result"]["usage"],
                                 {"max_tokens": 512, "output_tokens": 12})

    def test_paths_keep_their_names_and_harmless_values(self):
        # An HTTP message's meta keeps the path without its query; a WebSocket message's
        # keeps the handshake's whole target, each secret value replaced.
        http_request = next(r for r in self.http_rows if r["kind"] == "request")
        self.assertEqual(http_request["meta"]["http"]["path"], "/mcp")
        for row in self.ws_rows:
            path = row["meta"]["path"]
            for name in QUERY_NAMES:
                self.assertIn(f"{name}=[REDACTED]", path)
            self.assertTrue(path.startswith("/mcp?%74oken=[REDACTED]&"), path)
            self.assertTrue(path.endswith("&page=2"), path)

    def test_credential_headers_hold_the_marker(self):
        http_request = next(r for r in self.http_rows if r["kind"] == "request")
        headers = {k.lower(): v for k, v in http_request["meta"]["http"]["headers"].items()}
        for name in HEADERS:
            self.assertEqual(headers[name.lower()], "[REDACTED]", name)
        http_response = next(r for r in self.http_rows if r["kind"] == "response")
        response_headers = {k.lower(): v for k, v in http_response["meta"]["http"]["headers"].items()}
        self.assertEqual(response_headers["x-access-token"], "[REDACTED]")
        self.assertEqual(response_headers["content-type"], "application/json")


if __name__ == "__main__":
    unittest.main(verbosity=2)
