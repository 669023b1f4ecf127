#!/usr/bin/python3
"""The proxy benchmark: the same workload direct, through nginx, mitmproxy and mcptap.

Run through tests/bench/run_bench.sh (which installs the tools and builds the programs):
    proxy_bench.py --build-dir build-bench [--rounds 3] [--seconds 10]
                   [--parts http,ws,scale,tls]

Scenarios, interleaved round by round so that machine noise hits each alike:
  direct       the backend itself (nginx `return 200` for HTTP, proxy_bench_ws_echo for WS)
  nginx        nginx as a reverse proxy, keep-alive upstream pool (1 worker)
  mitmproxy    mitmdump --mode reverse (a capturing proxy)
  mcptap-off   mcptap with the route's capture off
  mcptap-on    mcptap capturing every message into PostgreSQL
  mcptap-on-baseline  with --baseline-build DIR: the same, by DIR/bin/mcptap (another
               build, say the previous commit's), for a side-by-side of a change
Load: wrk POSTing a 309-byte tools/call over 32 keep-alive connections; ws_loadgen in
round-trip mode (32 connections, one message in flight each) and throughput mode (32
connections x 16 in flight). The proxy under test runs on CPU 0, load generator and
backend on CPU 1 (taskset), unless --no-pin.

The tls part (not run by default) measures the same HTTP load over TLS on both sides, with
an EC P-256 test CA and localhost leaf made with the openssl CLI: direct is the backend
nginx with an `ssl` listener; nginx terminates TLS and originates it to the backend
(verified, sessions reused, keep-alive pool); mcptap-off and mcptap-on terminate with
listen_tls and originate with upstream_tls. Tables: wrk over https on 32 keep-alive
connections; wrk with `Connection: close`, one request per new TLS connection, which wrk
resumes (the connections each proxy accepted per request are counted to show it);
tls_connect_loadgen, the same with full handshakes; and the RSS of each proxy before and
with --tls-idle-connections idle TLS clients (tls_idle_clients.py).

Prints markdown tables on stdout; progress goes to stderr. Traffic stays on 127.0.0.1;
every process started here is stopped before it returns.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import pg_cluster  # noqa: E402
from harness import free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# mcptap-spool (HTTP only): capture on with PostgreSQL unreachable, so every message goes to
# the spool and the sink ships nothing during the load — what capturing costs the proxy
# itself, as when PostgreSQL runs on machines of its own.
SCENARIOS = ["direct", "nginx", "nginx-unpooled", "mitmproxy", "mcptap-off", "mcptap-on",
             "mcptap-on-baseline", "mcptap-spool"]
PROXY_CPU = "0"
LOAD_CPU = "1"


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_for_port(port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def raise_fd_limit():
    # 10 000 idle WebSocket connections take 20 000 descriptors in the proxy alone.
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass


def proc_cpu_seconds(pid):
    """utime + stime of a process and its threads (/proc/PID/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return 0.0


def proc_status(pid, key):
    """A kB value of /proc/PID/status (VmRSS, VmHWM)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def postgres_cpu_seconds(datadir):
    """CPU of every server process of the benchmark's cluster (capture's cost lands there too)."""
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            postmaster = int(f.readline())
    except (OSError, ValueError):
        return 0.0
    return proc_cpu_seconds(postmaster) + sum(proc_cpu_seconds(p) for p in children(postmaster))


class Process:
    """A child process with its CPU and memory read from /proc; `measured` is the pid whose
    numbers count (nginx's worker, not its master)."""

    def __init__(self, name, argv, cpu=None, stdout=None):
        self.name = name
        if cpu is not None:
            argv = ["taskset", "-c", cpu] + argv
        self.log_path = os.path.join(WORKDIR, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.popen = subprocess.Popen(argv, stdout=stdout or self.log, stderr=self.log,
                                      stdin=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        self.measured = self.popen.pid

    def measure_child(self):
        # nginx: the master forks one worker which does all the work.
        for _ in range(50):
            kids = children(self.popen.pid)
            if kids:
                self.measured = kids[0]
                return
            time.sleep(0.1)

    def cpu(self):
        return proc_cpu_seconds(self.measured)

    def rss_kb(self):
        return proc_status(self.measured, "VmRSS")

    def hwm_kb(self):
        return proc_status(self.measured, "VmHWM")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


WORKDIR = None
CHOSEN = set(SCENARIOS)  # --scenarios
PERF_OUT = None  # --perf: a perf profile of mcptap-on during the first round of each part


def render(template, **values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    path = os.path.join(WORKDIR, template.replace(".conf", ".rendered.conf"))
    with open(path, "w") as f:
        f.write(text)
    return path


def start_nginx(name, template, cpu, **values):
    conf = render(template, DIR=WORKDIR, **values)
    process = Process(name, ["nginx", "-p", WORKDIR, "-c", conf, "-g", "daemon off;"], cpu=cpu)
    process.measure_child()
    return process


class Mcptap:
    def __init__(self, binary, name, capture, pg_url, upstreams, pin, sink_extra=None,
                 route_extra=None):
        """upstreams: {kind: port}, one route each; route_extra: {kind: more route keys}."""
        self.name = name
        self.ports = {kind: free_port() for kind in upstreams}
        self.admin_port = free_port()
        self.routes = {kind: f"{name.replace('-', '_')}_{kind}" for kind in upstreams}
        config = {
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "routes": [{"name": self.routes[kind], "listen": f"127.0.0.1:{self.ports[kind]}",
                        "upstream": f"127.0.0.1:{port}", "capture": capture,
                        **(route_extra or {}).get(kind, {})}
                       for kind, port in upstreams.items()],
            "sink": {"postgres": pg_url, "spool_dir": os.path.join(WORKDIR, f"{name}-spool"),
                     **(sink_extra or {})},
        }
        path = os.path.join(WORKDIR, f"{name}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.process = Process(name, [binary, "run", "--config", path],
                               cpu=PROXY_CPU if pin else None)
        for port in self.ports.values():
            if not wait_for_port(port):
                raise RuntimeError(f"{name} did not listen; see {self.process.log_path}")

    def gauge(self, name):
        """A metric without labels (the sink's and the spool's)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def tls_handshakes(self, route):
        """mcptap_tls_handshakes_total of a route: {(side, resumed): count}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        counts = {}
        for line in text.splitlines():
            if line.startswith("mcptap_tls_handshakes_total{") and f'route="{route}"' in line:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
                key = (labels.get("side"), labels.get("resumed") == "true")
                counts[key] = counts.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
        return counts

    def metric(self, family, route):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        total = 0
        for line in text.splitlines():
            if line.startswith(family + "{") and f'route="{route}"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total


def psql_count(pg_url, route):
    out = subprocess.run(["psql", pg_url, "-X", "-At", "-c",
                          f"SELECT count(*) FROM mcptap.messages WHERE route = '{route}'"],
                         capture_output=True, text=True)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else -1


def make_certs(directory):
    """A test CA and a leaf for localhost/127.0.0.1 signed by it, both EC P-256, made with
    the openssl CLI; keys mode 0600 (mcptap refuses keys others can read)."""
    paths = {name: os.path.join(directory, name)
             for name in ("ca.pem", "ca.key", "leaf.pem", "leaf.key", "leaf.csr", "leaf.ext")}
    with open(paths["leaf.ext"], "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for argv in (
            ["openssl", "req", "-x509", *ec, "-keyout", paths["ca.key"], "-out", paths["ca.pem"],
             "-days", "2", "-subj", "/CN=mcptap benchmark CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", "-new", *ec, "-keyout", paths["leaf.key"], "-out",
             paths["leaf.csr"], "-subj", "/CN=localhost"],
            ["openssl", "x509", "-req", "-in", paths["leaf.csr"], "-CA", paths["ca.pem"],
             "-CAkey", paths["ca.key"], "-CAcreateserial", "-days", "2", "-sha256",
             "-extfile", paths["leaf.ext"], "-out", paths["leaf.pem"]]):
        subprocess.run(argv, check=True, capture_output=True)
    for key in ("ca.key", "leaf.key"):
        os.chmod(paths[key], 0o600)
    return {"ca": paths["ca.pem"], "cert": paths["leaf.pem"], "key": paths["leaf.key"]}


def nginx_accepts(status_port):
    """Connections an nginx has accepted so far (its stub_status)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return int(lines[2].split()[0])  # "server accepts handled requests" / "A H R"


def parse_pairs(line):
    return {k: v for k, v in (item.split("=", 1) for item in line.split() if "=" in item)}


def bench_line(argv, seconds, tool):
    """Runs a load generator and reads the "BENCH key=value ..." line it prints at the end."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("BENCH "):
            r = parse_pairs(line)
            result = {"messages": int(r["requests"]), "seconds": float(r["seconds"]),
                      "errors": int(r["errors"]), "p50": int(r["p50_us"]),
                      "p99": int(r["p99_us"]), "p999": int(r["p999_us"])}
            if "resumed" in r:
                result["resumed"] = int(r["resumed"])
            return result
    raise RuntimeError(f"{tool} printed no result:\n" + out)


def run_wrk(port, seconds, pin, tls=False, close=False):
    """tls: over https to localhost (wrk sends it as SNI and does not verify); close: every
    request says `Connection: close`, so each one is answered on a new connection."""
    url = f"https://localhost:{port}/mcp" if tls else f"http://127.0.0.1:{port}/mcp"
    argv = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--timeout", "10s",
            "-s", os.path.join(HERE, "proxy_bench_post.lua")]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    if pin:
        argv = ["taskset", "-c", LOAD_CPU] + argv
    return bench_line(argv, seconds, "wrk")


def run_connect_loadgen(binary, port, seconds, pin):
    """tls_connect_loadgen: 32 threads, one request per new TLS connection, full handshakes."""
    argv = [binary, "--port", str(port), "--connections", "32", "--duration", str(seconds)]
    if pin:
        argv = ["taskset", "-c", LOAD_CPU] + argv
    return bench_line(argv, seconds, "tls_connect_loadgen")


def run_loadgen(loadgen, port, mode, seconds, pin, connections=32, inflight=16):
    argv = [loadgen, "--port", str(port), "--mode", mode, "--connections", str(connections),
            "--duration", str(seconds), "--inflight", str(inflight)]
    if pin:
        argv = ["taskset", "-c", LOAD_CPU] + argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    r = parse_pairs(out.strip().splitlines()[-1])
    return {"messages": int(r["messages"]), "seconds": float(r["seconds"]),
            "errors": int(r["errors"]), "p50": int(r["p50_us"]), "p99": int(r["p99_us"]),
            "p999": int(r["p999_us"])}


class Stats:
    """Per scenario, summed over the rounds."""

    def __init__(self):
        self.messages = 0
        self.seconds = 0.0
        self.cpu = 0.0
        self.pg_cpu = 0.0
        self.errors = 0
        self.p50, self.p99, self.p999 = [], [], []
        self.rss_kb = 0
        self.rows = None
        self.sent = None
        self.dropped = None
        self.drain_s = []
        self.spooled = None  # mcptap-spool: records the spool held at the end

    def add(self, result, cpu, pg_cpu):
        self.messages += result["messages"]
        self.seconds += result["seconds"]
        self.errors += result["errors"]
        self.cpu += cpu
        self.pg_cpu += pg_cpu
        self.p50.append(result["p50"])
        self.p99.append(result["p99"])
        self.p999.append(result["p999"])

    def rate(self):
        return self.messages / self.seconds if self.seconds else 0.0


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else 0


def wait_for_drain(pg_url, route, expected, timeout=120.0):
    """Seconds until PostgreSQL holds `expected` rows of the route (None: it never did)."""
    start = time.time()
    while time.time() - start < timeout:
        if psql_count(pg_url, route) >= expected:
            return time.time() - start
        time.sleep(0.05)
    return None


def relay(listen_port, target_port):
    """A TCP relay thread: what makes PostgreSQL reachable at listen_port from now on."""
    server = socket.create_server(("127.0.0.1", listen_port))

    def pump(source, sink):
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


def deliver_spool(mcptap_spool, spool_pg_port, pg_url, stats):
    """PostgreSQL becomes reachable for mcptap-spool: everything it spooled must arrive."""
    pg_port = int(re.search(r":(\d+)/", pg_url).group(1))
    route = mcptap_spool.routes["http"]
    expected = stats.spooled
    server = relay(spool_pg_port, pg_port)
    try:
        drained = wait_for_drain(pg_url, route, expected, timeout=600)
    finally:
        server.close()
    rows = psql_count(pg_url, route)
    print(f"\nmcptap-spool, then PostgreSQL reachable: rows written {rows:,} of {expected:,} "
          f"spooled, in {'never' if drained is None else f'{drained:.1f} s'}; dropped "
          f"{mcptap_spool.metric('mcptap_dropped_messages_total', route)}.")


def print_capture_cost(bindir):
    """capture_bench: the loop thread's share of capturing one HTTP message, no sockets."""
    binary = os.path.join(bindir, "capture_bench")
    if not os.path.exists(binary):
        return
    out = subprocess.run([binary], capture_output=True, text=True, timeout=300)
    if out.returncode == 0 and out.stdout.strip():
        print(f"\nCapture alone (`capture_bench`): {out.stdout.strip()}.")


def run_part(title, kind, targets, load, rounds, seconds, capturing, pg_url, pg_datadir,
             messages_per_request, mcptap_spool=None):
    """Interleaved rounds over the scenarios; returns {scenario: Stats}. `capturing` maps the
    scenarios that capture into PostgreSQL to their Mcptap."""
    targets = {name: target for name, target in targets.items() if name in CHOSEN}
    stats = {name: Stats() for name in targets}
    for name in targets:
        if name in capturing or name == "mcptap-spool":
            stats[name].sent = stats[name].rows = stats[name].dropped = 0
    for round_index in range(rounds):
        for name, (port, process) in targets.items():
            capturer = capturing.get(name)
            route = capturer.routes[kind] if capturer else None
            rows_before = psql_count(pg_url, route) if capturer else 0
            cpu_before = process.cpu() if process else 0.0
            pg_before = postgres_cpu_seconds(pg_datadir)
            perf = None
            if PERF_OUT and name == "mcptap-on" and round_index == 0:
                perf = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-o",
                                         f"{PERF_OUT}.{title}", "-p", str(process.measured)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result = load(port)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=60)
            cpu = (process.cpu() - cpu_before) if process else 0.0
            drained = None
            if capturer:
                captured_expected = None
                # Every message the proxy saw in this round must reach PostgreSQL.
                sent = result["messages"] * messages_per_request
                time.sleep(0.2)  # requests in flight when the load stopped get answered
                captured_total = capturer.metric("mcptap_captured_messages_total", route)
                captured_expected = captured_total
                drained = wait_for_drain(pg_url, route, captured_expected)
                rows = psql_count(pg_url, route)
                s = stats[name]
                s.sent += sent
                s.rows += rows - rows_before
                s.dropped = capturer.metric("mcptap_dropped_messages_total", route)
                s.drain_s.append(drained if drained is not None else float("inf"))
                cpu = process.cpu() - cpu_before  # capture's work after the load counts too
            if name == "mcptap-spool":
                # Every message the proxy saw is in the spool, none dropped.
                time.sleep(0.2)
                s = stats[name]
                s.sent += result["messages"] * messages_per_request
                s.dropped = mcptap_spool.metric("mcptap_dropped_messages_total",
                                                mcptap_spool.routes[kind])
                s.spooled = mcptap_spool.gauge("mcptap_spool_records")
            pg_cpu = postgres_cpu_seconds(pg_datadir) - pg_before
            stats[name].add(result, cpu, pg_cpu)
            log(f"{title} round {round_index + 1}/{rounds} {name}: "
                f"{result['messages'] / max(result['seconds'], 1e-9):.0f}/s p99 {result['p99']} us"
                + (f", drained in {drained:.2f} s" if drained is not None else ""))
    for name, (port, process) in targets.items():
        if process:
            stats[name].rss_kb = process.hwm_kb()
    return stats


def print_table(title, stats, unit):
    nginx = stats.get("nginx")
    mitm = stats.get("mitmproxy")
    print(f"\n### {title}\n")
    print(f"| scenario | {unit}/s | p50 ms | p99 ms | p99.9 ms | proxy CPU s per 1000 msgs "
          "| PostgreSQL CPU s per 1000 msgs | peak RSS MB | vs nginx (rate) | vs nginx (p99) "
          + ("| vs mitmproxy (rate) " if mitm else "") + "| errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
          + ("---: | " if mitm else "") + "---: |")
    for name, s in stats.items():
        msgs = s.messages * 2  # a request and its answer are two messages
        cpu_per_k = s.cpu / msgs * 1000 if msgs and name != "direct" else None
        pg_per_k = s.pg_cpu / msgs * 1000 if msgs and name.startswith("mcptap-on") else None
        vs_nginx = s.rate() / nginx.rate() if nginx and nginx.rate() else None
        vs_nginx_p99 = median(s.p99) / median(nginx.p99) if nginx and median(nginx.p99) else None
        vs_mitm = s.rate() / mitm.rate() if mitm and mitm.rate() else None
        fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
        print(f"| {name} | {s.rate():,.0f} | {median(s.p50) / 1000:.2f} | {median(s.p99) / 1000:.2f} "
              f"| {median(s.p999) / 1000:.2f} | {fmt(cpu_per_k, '.4f')} | {fmt(pg_per_k, '.4f')} "
              f"| {'—' if name == 'direct' and not s.rss_kb else f'{s.rss_kb / 1024:.1f}'} "
              f"| {fmt(vs_nginx, '.2f')}× | {fmt(vs_nginx_p99, '.2f')}× "
              + (f"| {fmt(vs_mitm, '.1f')}× " if mitm else "") + f"| {s.errors} |")
    spool = stats.get("mcptap-spool")
    if spool and spool.sent is not None:
        print(f"\nmcptap-spool captured with PostgreSQL unreachable ({title}): messages sent "
              f"{spool.sent:,}, records in the spool at the end {spool.spooled:,} (≥ sent: requests "
              f"in flight when the load stopped were captured too), dropped {spool.dropped}.")
    for name in ("mcptap-on", "mcptap-on-baseline"):
        on = stats.get(name)
        if not on or on.sent is None:
            continue
        drains = [d for d in on.drain_s]
        print(f"\nCapture kept up ({name}, {title}): messages sent {on.sent:,} (2 per completed "
              f"request), rows written {on.rows:,} (rows ≥ sent: requests still in flight when "
              f"the load stopped were captured too), dropped {on.dropped}, "
              f"time to drain after each round: {', '.join(f'{d:.2f} s' for d in drains)}.")


def scale_idle(loadgen, mcptap_on, connections, hold):
    # mcptap holds two descriptors per proxied connection; the hard limit may be lower.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and 2 * connections + 100 > hard:
        fitted = (hard - 100) // 2
        log(f"descriptor hard limit {hard}: {fitted} idle connections instead of {connections}")
        connections = fitted
    port = mcptap_on.ports["ws"]
    before = mcptap_on.process.rss_kb()
    argv = [loadgen, "--port", str(port), "--mode", "idle", "--connections", str(connections),
            "--hold", str(hold)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=raise_fd_limit)
    ready = False
    for line in proc.stdout:
        if line.startswith("ready"):
            ready = True
            break
    time.sleep(2)
    during = mcptap_on.process.rss_kb()
    open_now = mcptap_on.metric("mcptap_connections_open", mcptap_on.routes["ws"])
    result = proc.stdout.read()
    proc.wait(timeout=hold + 60)
    print("\n### Scale: idle WebSocket connections through mcptap (capture on)\n")
    if not ready:
        print(f"ws_loadgen did not get all {connections} connections up: {result.strip()}")
        return
    per_conn = (during - before) * 1024 / connections
    print(f"{connections:,} connections open (mcptap_connections_open = {open_now:,}), each after one "
          f"captured exchange: RSS {before / 1024:.1f} MB before, {during / 1024:.1f} MB with them "
          f"open: **{per_conn / 1024:.2f} KB per connection** (target ≤ 10 KB).")


def scale_big(loadgen, mcptap_on, pg_url, size):
    port = mcptap_on.ports["ws"]
    route = mcptap_on.routes["ws"]
    before = mcptap_on.process.rss_kb()
    chunk = min(size, 1 << 20)
    size -= size % chunk  # the message is sent as whole chunks
    argv = [loadgen, "--port", str(port), "--mode", "big", "--connections", "1",
            "--message-bytes", str(size), "--chunk-bytes", str(chunk), "--duration", "120"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    samples = []
    while proc.poll() is None:
        samples.append(mcptap_on.process.rss_kb())
        time.sleep(0.02)
    lines = proc.stdout.read().strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"\nScale: the {size:,}-byte message failed: ws_loadgen exited {proc.returncode}")
        return
    result = parse_pairs(lines[-1])
    time.sleep(1)
    row = subprocess.run(["psql", pg_url, "-X", "-At", "-c",
                          "SELECT payload_bytes, truncated, payload IS NULL, meta->>'sha256' "
                          f"FROM mcptap.messages WHERE route = '{route}' "
                          f"AND payload_bytes = {size} ORDER BY id DESC LIMIT 1"],
                         capture_output=True, text=True).stdout.strip()
    print(f"\n### Scale: one {size / 2**20:.0f} MB WebSocket message through mcptap (capture on, "
          "capture.max_payload_bytes 16 MiB)\n")
    peak = max(samples) if samples else 0
    print(f"Forwarded in {float(result.get('seconds', 0)):.2f} s "
          f"({size / 2**20 / max(float(result.get('seconds', 1)), 1e-9):.0f} MB/s), answer received: "
          f"{result.get('messages') == '1'}. mcptap RSS sampled every 20 ms ({len(samples)} samples): "
          f"{before / 1024:.1f} MB before, peak {peak / 1024:.1f} MB during "
          f"(+{(peak - before) / 1024:.1f} MB). Row: `{row}` "
          "(payload_bytes | truncated | payload null | sha256).")


class TlsServers:
    """The tls part's certificates, HTTPS backend and nginx TLS proxy."""

    def __init__(self, certs, ports, backend, proxy, unpooled):
        self.certs = certs
        self.ports = ports
        self.backend = backend
        self.proxy = proxy
        self.unpooled = unpooled  # nginx without an upstream pool (new-connection parts)
        self.processes = [backend, proxy, unpooled]


def start_tls_servers(load_cpu, proxy_cpu):
    certs = make_certs(WORKDIR)
    ports = {name: free_port() for name in ("backend", "backend_status", "nginx", "nginx_status",
                                            "unpooled", "unpooled_status")}
    backend = start_nginx("backend-tls", "proxy_bench_backend_tls.nginx.conf", load_cpu,
                          PORT=ports["backend"], STATUSPORT=ports["backend_status"],
                          CERT=certs["cert"], KEY=certs["key"])
    proxy = start_nginx("nginx-tls", "proxy_bench_proxy_tls.nginx.conf", proxy_cpu,
                        PORT=ports["nginx"], STATUSPORT=ports["nginx_status"],
                        UPSTREAM=ports["backend"], CERT=certs["cert"], KEY=certs["key"],
                        CA=certs["ca"])
    unpooled = start_nginx("nginx-tls-unpooled", "proxy_bench_proxy_tls_unpooled.nginx.conf",
                           proxy_cpu, PORT=ports["unpooled"], STATUSPORT=ports["unpooled_status"],
                           UPSTREAM=ports["backend"], CERT=certs["cert"], KEY=certs["key"],
                           CA=certs["ca"])
    for port in ports.values():
        if not wait_for_port(port, timeout=30):
            raise RuntimeError(f"nginx (TLS) did not listen on {port}; see {WORKDIR}/*-tls-error.log")
    return TlsServers(certs, ports, backend, proxy, unpooled)


def tls_idle(name, process, port, ca_file, connections, hold=60):
    """RSS of `process` before and with `connections` idle TLS clients, each after one
    request; returns (before_kb, during_kb, held, failed, detail)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and 2 * connections + 100 > hard:
        connections = (hard - 100) // 2
        log(f"descriptor hard limit {hard}: {connections} idle TLS connections")
    before = process.rss_kb()
    argv = ["/usr/bin/python3", os.path.join(HERE, "tls_idle_clients.py"), "--port", str(port),
            "--ca-file", ca_file, "--connections", str(connections), "--hold", str(hold)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, preexec_fn=raise_fd_limit)
    line = proc.stdout.readline().strip()
    time.sleep(2)
    during = process.rss_kb()
    proc.stdin.close()  # the clients close their connections and exit
    proc.wait(timeout=hold + 60)
    r = parse_pairs(line)
    held, failed = int(r.get("ok", 0)), int(r.get("failed", connections))
    log(f"tls-idle {name}: {line}; RSS {before} kB before, {during} kB with them")
    time.sleep(1)  # the proxy sees the closes before the next measurement
    return before, during, held, failed, line


def run_tls(tls, mcptap_off, mcptap_on, capturing, args, pin, pg_url, pg_datadir):
    """The tls part: keep-alive throughput, new connections per second and idle memory, each
    direct, through nginx and through mcptap with TLS on both sides."""
    targets = {"direct": (tls.ports["backend"], tls.backend),
               "nginx": (tls.ports["nginx"], tls.proxy)}
    mcptaps = {name: m for name, m in (("mcptap-off", mcptap_off), ("mcptap-on", mcptap_on))
               if "tls" in m.ports}
    for name, m in mcptaps.items():
        targets[name] = (m.ports["tls"], m.process)
    tls_capturing = {name: c for name, c in capturing.items() if "tls" in c.ports}

    keepalive = run_part("tls-keepalive", "tls", targets,
                         lambda port: run_wrk(port, args.seconds, pin, tls=True),
                         args.rounds, args.seconds, tls_capturing, pg_url, pg_datadir, 2)
    print_table("TLS on both sides, HTTP: wrk over https, POST 309-byte tools/call, "
                "32 keep-alive connections", keepalive, "requests")

    # One request per connection: wrk reconnects after every `Connection: close` answer. The
    # connections each server accepted show that it did: the proxy's accepts per request
    # (1 for every scenario) and the backend's (~0 for nginx, which keeps its upstream pool;
    # 1 for mcptap, which opens one upstream connection per client connection).
    accepted = {tls.ports["backend"]: lambda: nginx_accepts(tls.ports["backend_status"]),
                tls.ports["nginx"]: lambda: nginx_accepts(tls.ports["nginx_status"]),
                tls.ports["unpooled"]: lambda: nginx_accepts(tls.ports["unpooled_status"])}
    # nginx without its upstream pool opens one upstream connection per client connection
    # here, as mcptap does: the like-for-like comparison for a transparent proxy.
    per_connection_targets = dict(targets, **{"nginx-unpooled": (tls.ports["unpooled"],
                                                                 tls.unpooled)})
    for m in mcptaps.values():
        accepted[m.ports["tls"]] = (
            lambda m=m: m.metric("mcptap_connections_total", m.routes["tls"]))
    names = {port: name for name, (port, _) in per_connection_targets.items()}

    def counted(load, counts):
        """`load` with the connections accepted during it counted per scenario:
        requests, the proxy's accepts, the backend's accepts, handshakes resumed."""
        def run(port):
            before, backend_before = accepted[port](), nginx_accepts(tls.ports["backend_status"])
            result = load(port)
            c = counts.setdefault(names[port], [0, 0, 0, 0])
            c[0] += result["messages"]
            c[1] += accepted[port]() - before
            c[2] += nginx_accepts(tls.ports["backend_status"]) - backend_before
            c[3] += result.get("resumed", 0)
            return result
        return run

    def print_counts(counts, tool):
        print(f"\nConnections accepted per completed request (nginx's stub_status, "
              f"`mcptap_connections_total`), by the server {tool} talks to / by the backend: "
              + "; ".join(f"{name} {c[1] / max(c[0], 1):.3f} / "
                          f"{'—' if name == 'direct' else format(c[2] / max(c[0], 1), '.3f')}"
                          for name, c in counts.items()) + ".")

    def handshakes_snapshot():
        return {name: m.tls_handshakes(m.routes["tls"]) for name, m in mcptaps.items()}

    def print_mcptap_resumption(before):
        after = handshakes_snapshot()
        parts = []
        for name in mcptaps:
            delta = {k: v - before[name].get(k, 0) for k, v in after[name].items()}
            sides = sorted({side for side, _ in delta})
            parts.append(f"{name} " + ", ".join(
                f"{side} side {delta.get((side, True), 0):,} resumed of "
                f"{delta.get((side, True), 0) + delta.get((side, False), 0):,}"
                for side in sides))
        if parts:
            print("mcptap's handshakes in this part (`mcptap_tls_handshakes_total`): "
                  + "; ".join(parts) + ".")

    resumed_counts = {}
    before = handshakes_snapshot()
    handshakes = run_part("tls-resumed", "tls", per_connection_targets,
                          counted(lambda port: run_wrk(port, args.seconds, pin, tls=True,
                                                       close=True), resumed_counts),
                          args.rounds, args.seconds, tls_capturing, pg_url, pg_datadir, 2)
    print_table("TLS on both sides, new connections, resumed handshakes: wrk over https with "
                "`Connection: close`, one request per TLS connection, 32 at once",
                handshakes, "connections")
    print_counts(resumed_counts, "wrk")
    print("wrk keeps each connection's last TLS session and offers it when it reconnects: "
          "after the first of each of its 32 connections, these are resumed handshakes "
          "(TLS 1.3 PSK with ECDHE).")
    print_mcptap_resumption(before)

    full_counts = {}
    before = handshakes_snapshot()
    loadgen = os.path.join(args.build_dir, "bin", "tls_connect_loadgen")
    full = run_part("tls-full", "tls", per_connection_targets,
                    counted(lambda port: run_connect_loadgen(loadgen, port, args.seconds, pin),
                            full_counts),
                    args.rounds, args.seconds, tls_capturing, pg_url, pg_datadir, 2)
    print_table("TLS on both sides, new connections, full handshakes: tls_connect_loadgen, "
                "`Connection: close`, one request per TLS connection, 32 at once (latency "
                "from connect to answer)", full, "connections")
    print_counts(full_counts, "tls_connect_loadgen")
    print("Handshakes the load generator saw resumed: "
          + ", ".join(f"{name} {c[3]}" for name, c in full_counts.items()) + ".")
    print_mcptap_resumption(before)

    print(f"\n### TLS on both sides: RSS per idle TLS connection "
          f"({args.tls_idle_connections:,} clients, each after one request)\n")
    print("| proxy | connections held | RSS before MB | RSS with them open MB "
          "| KB per connection |")
    print("| --- | ---: | ---: | ---: | ---: |")
    per_connection = {}
    idle = {"nginx": (tls.proxy, tls.ports["nginx"])}
    for name, m in mcptaps.items():
        idle[name] = (m.process, m.ports["tls"])
    for name, (process, port) in idle.items():
        if name not in CHOSEN:
            continue
        before, during, held, failed, line = tls_idle(name, process, port, tls.certs["ca"],
                                                      args.tls_idle_connections)
        kb = (during - before) / held if held else float("nan")
        per_connection[name] = kb
        print(f"| {name} | {held:,}" + (f" ({failed} failed)" if failed else "")
              + f" | {before / 1024:.1f} | {during / 1024:.1f} | {kb:.1f} |")

    fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731

    def ratio(stats, name, key, reference="nginx"):
        nginx, s = stats.get(reference), stats.get(name)
        if not nginx or not s:
            return None
        if key == "rate":
            return s.rate() / nginx.rate() if nginx.rate() else None
        return median(s.p99) / median(nginx.p99) if median(nginx.p99) else None

    rate, p99 = ratio(keepalive, "mcptap-off", "rate"), ratio(keepalive, "mcptap-off", "p99")
    hs = ratio(handshakes, "mcptap-off", "rate")
    hs_on = ratio(handshakes, "mcptap-on", "rate")
    hs_full = ratio(full, "mcptap-off", "rate")
    hs_full_on = ratio(full, "mcptap-on", "rate")
    hs_unpooled = ratio(handshakes, "mcptap-off", "rate", "nginx-unpooled")
    hs_full_unpooled = ratio(full, "mcptap-off", "rate", "nginx-unpooled")
    kb = per_connection.get("mcptap-on", per_connection.get("mcptap-off"))

    def met(value, ok):
        return "not measured" if value is None else ("met" if ok else "**not met**")

    print("\n### TLS targets\n")
    print("| target | result |")
    print("| --- | --- |")
    print(f"| keep-alive, capture off: ≥ 1.0× nginx, p99 ≤ 1.2× | "
          f"{met(rate, rate is not None and p99 is not None and rate >= 1.0 and p99 <= 1.2)}: "
          f"{fmt(rate, '.2f')}×, p99 {fmt(p99, '.2f')}× |")
    print(f"| new connections, resumed handshakes, capture off: ≥ 0.8× nginx "
          f"| {met(hs, hs is not None and hs >= 0.8)}: "
          f"{fmt(hs, '.2f')}× (capture on {fmt(hs_on, '.2f')}×) |")
    print(f"| new connections, full handshakes, capture off: ≥ 0.8× nginx "
          f"| {met(hs_full, hs_full is not None and hs_full >= 0.8)}: "
          f"{fmt(hs_full, '.2f')}× (capture on {fmt(hs_full_on, '.2f')}×) |")
    print(f"| new connections, capture off, against nginx with one upstream connection per "
          f"client connection (nginx-unpooled) | resumed {fmt(hs_unpooled, '.2f')}×, "
          f"full {fmt(hs_full_unpooled, '.2f')}× |")
    print(f"| ≤ 64 KB RSS per idle TLS connection (mcptap, capture on) "
          f"| {met(kb, kb is not None and kb <= 64)}: {fmt(kb, '.1f')} KB |")


def main():
    global WORKDIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--parts", default="http,ws,scale")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--tls-idle-connections", type=int, default=2000)
    parser.add_argument("--big-bytes", type=int, default=200 << 20)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="a subset of " + ",".join(SCENARIOS))
    parser.add_argument("--baseline-build", metavar="DIR",
                        help="also run mcptap-on with DIR/bin/mcptap (scenario mcptap-on-baseline)")
    parser.add_argument("--perf", metavar="PREFIX",
                        help="record `perf` profiles of mcptap-on into PREFIX.<part>")
    args = parser.parse_args()
    global PERF_OUT, CHOSEN
    PERF_OUT = args.perf
    CHOSEN = set(args.scenarios.split(","))
    pin = not args.no_pin and os.cpu_count() >= 2
    parts = set(args.parts.split(","))
    bindir = os.path.join(args.build_dir, "bin")
    mcptap_bin = os.path.join(bindir, "mcptap")
    loadgen = os.path.join(bindir, "ws_loadgen")
    echo = os.path.join(bindir, "proxy_bench_ws_echo")
    have = {tool: shutil.which(tool) is not None for tool in ("wrk", "nginx", "mitmdump")}
    for tool, present in have.items():
        if not present:
            log(f"SKIP: {tool} is not installed; its scenarios are left out")
    raise_fd_limit()

    WORKDIR = tempfile.mkdtemp(prefix="mcptap-bench-")
    state_dir = os.path.join(WORKDIR, "pg")
    processes = []
    pg_started = False
    try:
        log("starting PostgreSQL")
        pg_url = pg_cluster.start(state_dir)
        pg_started = True
        with open(os.path.join(state_dir, "datadir")) as f:
            pg_datadir = f.read().strip()
        ports = {name: free_port() for name in
                 ("backend", "echo", "nginx", "nginx_ws", "mitm", "mitm_ws")}
        load_cpu = LOAD_CPU if pin else None
        proxy_cpu = PROXY_CPU if pin else None
        backend = echo_proc = nginx_proxy = mitm = mitm_ws = None
        if have["nginx"]:
            backend = start_nginx("backend", "proxy_bench_backend.nginx.conf", load_cpu,
                                  PORT=ports["backend"])
            processes.append(backend)
            nginx_proxy = start_nginx("nginx-proxy", "proxy_bench_proxy.nginx.conf", proxy_cpu,
                                      PORT=ports["nginx"], UPSTREAM=ports["backend"],
                                      WSPORT=ports["nginx_ws"], WSUPSTREAM=ports["echo"])
            processes.append(nginx_proxy)
        echo_proc = Process("ws-echo", [echo, "--port", str(ports["echo"])], cpu=load_cpu)
        processes.append(echo_proc)
        if have["mitmdump"]:
            for key, upstream in (("mitm", "backend"), ("mitm_ws", "echo")):
                p = Process(key, ["mitmdump", "--mode", f"reverse:http://127.0.0.1:{ports[upstream]}",
                                  "-q", "--listen-host", "127.0.0.1", "--listen-port",
                                  str(ports[key]), "--set", f"confdir={WORKDIR}/mitm-conf"],
                            cpu=proxy_cpu)
                processes.append(p)
                if key == "mitm":
                    mitm = p
                else:
                    mitm_ws = p
        upstreams = {"http": ports["backend"], "ws": ports["echo"]}
        tls = None
        if "tls" in parts and have["nginx"]:
            tls = start_tls_servers(load_cpu, proxy_cpu)
            processes.extend(tls.processes)

        def with_tls(name):
            """mcptap-off/on get a TLS route (termination and origination) for the tls part."""
            if not tls or name not in CHOSEN:
                return upstreams, None
            return ({**upstreams, "tls": tls.ports["backend"]},
                    {"tls": {"listen_tls": {"cert_file": tls.certs["cert"],
                                            "key_file": tls.certs["key"]},
                             "upstream_tls": {"ca_file": tls.certs["ca"],
                                              "server_name": "localhost"}}})

        off_upstreams, off_extra = with_tls("mcptap-off")
        mcptap_off = Mcptap(mcptap_bin, "mcptap-off", False, pg_url, off_upstreams, pin,
                            route_extra=off_extra)
        processes.append(mcptap_off.process)
        on_upstreams, on_extra = with_tls("mcptap-on")
        mcptap_on = Mcptap(mcptap_bin, "mcptap-on", True, pg_url, on_upstreams, pin,
                           route_extra=on_extra)
        processes.append(mcptap_on.process)
        capturing = {"mcptap-on": mcptap_on}
        if args.baseline_build and "mcptap-on-baseline" in CHOSEN:
            baseline = Mcptap(os.path.join(args.baseline_build, "bin", "mcptap"),
                              "mcptap-on-baseline", True, pg_url, upstreams, pin)
            processes.append(baseline.process)
            capturing["mcptap-on-baseline"] = baseline
        mcptap_spool = None
        if "http" in parts and "mcptap-spool" in CHOSEN:
            # A port nothing listens on: the sink retries in the background, the spool takes
            # everything (room for a few minutes of the HTTP load).
            spool_pg_port = free_port()
            unreachable = re.sub(r":\d+/", f":{spool_pg_port}/", pg_url, count=1)
            mcptap_spool = Mcptap(mcptap_bin, "mcptap-spool", True, unreachable,
                                  {"http": ports["backend"]}, pin,
                                  sink_extra={"spool_max_bytes": 16 << 30})
            processes.append(mcptap_spool.process)
        for port in ports.values():
            if port not in (ports["mitm"], ports["mitm_ws"]) or have["mitmdump"]:
                if not wait_for_port(port, timeout=30):
                    log(f"port {port} not listening")

        print("## mcptap proxy benchmark\n")
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"{args.rounds} interleaved rounds × {args.seconds} s per scenario; "
              + ("proxy under test pinned to CPU 0, load generator and backend to CPU 1."
                 if pin else "no CPU pinning."))

        if "http" in parts:
            if not have["wrk"] or not have["nginx"]:
                print("\nHTTP: SKIPPED (wrk or nginx missing)")
            else:
                targets = {"direct": (ports["backend"], backend),
                           "nginx": (ports["nginx"], nginx_proxy)}
                if mitm:
                    targets["mitmproxy"] = (ports["mitm"], mitm)
                targets["mcptap-off"] = (mcptap_off.ports["http"], mcptap_off.process)
                for name, capturer in capturing.items():
                    targets[name] = (capturer.ports["http"], capturer.process)
                if mcptap_spool:
                    targets["mcptap-spool"] = (mcptap_spool.ports["http"], mcptap_spool.process)
                stats = run_part("http", "http", targets,
                                 lambda port: run_wrk(port, args.seconds, pin),
                                 args.rounds, args.seconds, capturing, pg_url, pg_datadir, 2,
                                 mcptap_spool)
                print_table("HTTP: wrk, POST 309-byte tools/call, 32 keep-alive connections",
                            stats, "requests")
                if mcptap_spool:
                    deliver_spool(mcptap_spool, spool_pg_port, pg_url, stats["mcptap-spool"])
        if "ws" in parts:
            targets = {"direct": (ports["echo"], echo_proc)}
            if nginx_proxy:
                targets["nginx"] = (ports["nginx_ws"], nginx_proxy)
            if mitm_ws:
                targets["mitmproxy"] = (ports["mitm_ws"], mitm_ws)
            targets["mcptap-off"] = (mcptap_off.ports["ws"], mcptap_off.process)
            for name, capturer in capturing.items():
                targets[name] = (capturer.ports["ws"], capturer.process)
            for mode, title in (("rtt", "WebSocket round trips: 32 connections, 1 in flight each"),
                                ("throughput", "WebSocket throughput: 32 connections × 16 in flight")):
                stats = run_part(f"ws-{mode}", "ws", targets,
                                 lambda port, m=mode: run_loadgen(loadgen, port, m, args.seconds, pin),
                                 args.rounds, args.seconds, capturing, pg_url, pg_datadir, 2)
                print_table(title, stats, "round trips")
        if "tls" in parts:
            if not have["wrk"] or not tls:
                print("\nTLS: SKIPPED (wrk or nginx missing)")
            else:
                run_tls(tls, mcptap_off, mcptap_on, capturing, args, pin, pg_url, pg_datadir)
        if "scale" in parts:
            scale_idle(loadgen, mcptap_on, args.idle_connections, hold=15)
            scale_big(loadgen, mcptap_on, pg_url, args.big_bytes)
        if "http" in parts:
            print_capture_cost(bindir)
        sys.stdout.flush()
    finally:
        for p in reversed(processes):
            p.stop()
        if pg_started:
            pg_cluster.stop(state_dir)
        if os.environ.get("MCPTAP_BENCH_KEEP") != "1":
            shutil.rmtree(WORKDIR, ignore_errors=True)
        else:
            log(f"kept {WORKDIR}")


if __name__ == "__main__":
    main()
