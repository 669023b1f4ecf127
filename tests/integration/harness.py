"""Shared plumbing for integration tests: ports, the mcptap process, database reads."""
import asyncio
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    """A port that was free a moment ago, for a listener that cannot bind port 0 and say which
    port it got (mcptap's routes, third-party servers). Another process may take it before it
    is used; prefer port 0 wherever the listener reports its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClosedPort:
    """A loopback port where nothing listens: bound without listening for as long as this
    object is open, so connections are refused and no other process can take the port."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stop_process(process, timeout=10):
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def poll(read, done, timeout, interval=0.2):
    """Calls read() until done(result) or `timeout` seconds pass; returns the last result."""
    deadline = time.time() + timeout
    while True:
        result = read()
        if done(result) or time.time() > deadline:
            return result
        time.sleep(interval)


def run_async(coroutine):
    """Runs a coroutine to its end on a loop of its own; returns its result."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def recv_at_least(sock, size):
    """Reads until `size` bytes arrived or the peer ended; returns what arrived."""
    got = b""
    while len(got) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def pg_url():
    """The throwaway cluster started by the ctest fixture (tests/support/pg_cluster.py)."""
    path = os.environ.get("MCPTAP_PG_URL_FILE")
    if not path or not os.path.exists(path):
        raise RuntimeError("no test cluster: run through ctest, or start tests/support/pg_cluster.py")
    with open(path) as f:
        return f.read().strip()


def unique_name(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_for_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class Mcptap:
    """mcptap run with a generated config; stopped with SIGTERM, exit code checked.

    The admin API listens on port 0: start() reads the port mcptap bound from its log, and
    admin_port is None until then. Routes' listeners get a free_port() each, since mcptap
    does not report the port a route bound."""

    def __init__(self, routes, extra=None, env=None):
        self.binary = os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")
        self.dir = tempfile.TemporaryDirectory(prefix="mcptap-it-")
        self.ports = {r["name"]: free_port() for r in routes}
        self.admin_port = None
        self.env = dict(os.environ, **(env or {}))
        config = {
            "admin": {"listen": "127.0.0.1:0"},
            "routes": [dict(r, listen=f"127.0.0.1:{self.ports[r['name']]}") for r in routes],
            "sink": {"postgres": pg_url(), "spool_dir": os.path.join(self.dir.name, "spool"),
                     "flush_interval_ms": 20},
        }
        for section, values in (extra or {}).items():
            if isinstance(values, dict):
                config.setdefault(section, {}).update(values)
            else:
                config[section] = values
        self.config_path = os.path.join(self.dir.name, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.stderr_path = os.path.join(self.dir.name, "stderr.log")
        self.process = None

    def start(self):
        self.stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen([self.binary, "run", "--config", self.config_path],
                                        stdout=subprocess.DEVNULL, stderr=self.stderr, env=self.env)
        self.admin_port = self.wait_for_admin_port()
        for port in self.ports.values():
            wait_for_port(port)
        return self

    def wait_for_admin_port(self, timeout=15.0):
        """The port of the "admin listening" line, logged once every listener is bound."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in log_lines(self.log()):
                if line.get("msg") == "admin listening":
                    return int(line["listen"].rsplit(":", 1)[1])
            if self.process.poll() is not None:
                raise RuntimeError(f"mcptap exited {self.process.returncode}: {self.log()}")
            time.sleep(0.05)
        raise TimeoutError(f"mcptap did not log its admin port: {self.log()}")

    def stop_and_close(self):
        """stop(), then close(); returns the exit code."""
        code = self.stop()
        self.close()
        return code

    def stop(self, timeout=30):
        """SIGTERM, then the exit code: a clean drain exits 0."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.stderr.close()
        self.process = None
        return code

    def write_config(self, config):
        """Replaces the configuration file (for a reload with SIGHUP)."""
        with open(self.config_path, "w") as f:
            json.dump(config, f)

    def read_config(self):
        with open(self.config_path) as f:
            return json.load(f)

    def cli(self, *args, env=None):
        """Runs a client subcommand against this instance's admin endpoint."""
        return subprocess.run([self.binary, *args, "--admin", f"127.0.0.1:{self.admin_port}"],
                              capture_output=True, text=True, env=dict(self.env, **(env or {})),
                              timeout=30)

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.stderr.close()
        self.dir.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def query_rows(sql, *params):
    """Rows as dicts, through psql (json_agg keeps types exact)."""
    literal_params = []
    for p in params:
        literal_params.append("'" + str(p).replace("'", "''") + "'")
    text = sql
    for i, lit in enumerate(literal_params, 1):
        text = text.replace(f"${i}", lit)
    wrapped = f"SELECT coalesce(json_agg(t), '[]') FROM ({text}) t"
    out = subprocess.run(["psql", pg_url(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", wrapped],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def route_rows(route):
    return query_rows(
        "SELECT id, captured_at, route, connection_id, session_id, transport, direction, kind,"
        " jsonrpc_id, method, correlation_id, latency_us, payload, payload_bytes, truncated,"
        " redacted, meta FROM mcptap.messages WHERE route = $1 ORDER BY id", route)


def wait_for_rows(route, count, timeout=15.0):
    deadline = time.time() + timeout
    rows = []
    while time.time() < deadline:
        rows = route_rows(route)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    return rows


def query_rows_at(url, sql, *params):
    """query_rows against another cluster (a test's own, which it may halt and resume)."""
    literal_params = ["'" + str(p).replace("'", "''") + "'" for p in params]
    text = sql
    for i, lit in enumerate(literal_params, 1):
        text = text.replace(f"${i}", lit)
    wrapped = f"SELECT coalesce(json_agg(t), '[]') FROM ({text}) t"
    out = subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", wrapped],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def log_lines(text):
    """The JSON log lines of an mcptap stderr capture, as dicts (other lines skipped)."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    return lines


def assert_every_request_paired(test, rows):
    """Every request row has exactly one answer (response or error) with its correlation_id,
    the other direction, its id and method and a latency; and no answer stands alone."""
    requests = [r for r in rows if r["kind"] == "request"]
    test.assertNotIn(None, [r["correlation_id"] for r in requests])
    test.assertEqual(len({r["correlation_id"] for r in requests}), len(requests),
                     "each request has its own correlation_id")
    for request in requests:
        label = f"{request['direction']} {request['method']} id={request['jsonrpc_id']}"
        answers = [r for r in rows if r["kind"] in ("response", "error")
                   and r["correlation_id"] == request["correlation_id"]]
        test.assertEqual(len(answers), 1, label)
        answer = answers[0]
        test.assertNotEqual(answer["direction"], request["direction"], label)
        test.assertEqual((answer["jsonrpc_id"], answer["method"]),
                         (request["jsonrpc_id"], request["method"]), label)
        test.assertIsNotNone(answer["latency_us"], label)
        test.assertGreaterEqual(answer["latency_us"], 0, label)
    answers = [r for r in rows if r["kind"] in ("response", "error")]
    test.assertEqual(len(answers), len(requests), "no answer without a request")
