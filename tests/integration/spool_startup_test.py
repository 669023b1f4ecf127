"""The spool at start, at run time and at stop, through the real binary.

An unusable spool directory (permission denied, locked by a running mcptap, not a
directory, writable by other users, a full disk) stops `mcptap run` and `mcptap stdio` with
one line and status 1 instead of forwarding while capturing nothing. A spool that fails at
run time shows in /readyz and on the first line of `mcptap status`. A shutdown with
PostgreSQL unreachable takes sink.shutdown_flush_timeout_ms, not proxy.drain_timeout_ms,
and what stays in the spool is delivered by the next start. Files holding captured data
are private (0700 directories, 0600 files), and a held stdio lock is an error, not a hang."""
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from durability_test import LoggingBackend, OwnClusterTestCase, Traffic, mount_tmpfs, unmount
from harness import Mcptap, log_lines, unique_name

PYTHON = sys.executable or "/usr/bin/python3"
SINK = {"flush_interval_ms": 20, "reconnect_initial_ms": 50, "reconnect_max_ms": 500}
STAYS = "records not yet in PostgreSQL stay in the spool for the next start"


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


class StartupTest(unittest.TestCase):
    """Each case: `mcptap run` (and where it applies `mcptap stdio`) refuses to start."""

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="mcptap-spool-start-")
        os.chmod(self.scratch, 0o755)  # user nobody must reach the configuration
        self.route = unique_name("start")
        self.taps = []

    def tearDown(self):
        for tap in self.taps:
            tap.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def tap_for(self, spool_dir, sink=None):
        tap = Mcptap([{"name": self.route, "upstream": "127.0.0.1:9"}],
                     extra={"sink": dict(SINK, spool_dir=spool_dir, **(sink or {}))})
        self.taps.append(tap)
        return tap

    def run_tap(self, tap, as_user=None):
        argv = [tap.binary, "run", "--config", tap.config_path]
        if as_user:
            os.chmod(tap.dir.name, 0o755)
            os.chmod(tap.config_path, 0o644)
            argv = ["runuser", "-u", as_user, "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=tap.env)

    def run_stdio(self, tap, marker):
        child = [PYTHON, "-c", f"open({marker!r}, 'w').close()"]
        started = time.monotonic()
        result = subprocess.run([tap.binary, "stdio", "--route", self.route, "--config",
                                 tap.config_path, "--"] + child,
                                input=b"", capture_output=True, timeout=30)
        return result, time.monotonic() - started

    def assert_one_line(self, result, prefix, reason):
        """Status 1 and exactly one line: the directory, the reason and a fix in brackets."""
        stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
        self.assertEqual(result.returncode, 1, stderr)
        lines = stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, stderr)
        self.assertTrue(lines[0].startswith(prefix), lines[0])
        self.assertIn(reason, lines[0])
        self.assertTrue(lines[0].endswith(")"), "the line says how to fix it: " + lines[0])
        return lines[0]

    def test_permission_denied_creating_the_directory_or_writing_in_it(self):
        if os.geteuid() != 0:
            self.skipTest("runs mcptap as user nobody through runuser (needs root)")
        # Root ignores permissions, so mcptap runs as nobody; the parent is root's 0755.
        spool_dir = os.path.join(self.scratch, "spool")
        result = self.run_tap(self.tap_for(spool_dir), as_user="nobody")
        line = self.assert_one_line(result, f"mcptap: sink.spool_dir {spool_dir}: ",
                                    "permission denied creating it")
        self.assertIn("run as a user that can write there, or set sink.spool_dir", line)
        self.assertFalse(os.path.exists(spool_dir))
        # The directory exists but belongs to root (0700): nobody cannot write in it.
        os.mkdir(spool_dir, 0o700)
        result = self.run_tap(self.tap_for(spool_dir), as_user="nobody")
        self.assert_one_line(result, f"mcptap: sink.spool_dir {spool_dir}: ",
                             "permission denied writing in it")

    def test_locked_by_another_running_mcptap(self):
        spool_dir = os.path.join(self.scratch, "spool")
        first = self.tap_for(spool_dir).start()
        second = self.run_tap(self.tap_for(spool_dir))
        self.assert_one_line(second, f"mcptap: sink.spool_dir {spool_dir}: ",
                             f"locked by another mcptap process (pid {first.process.pid})")
        self.assertIsNone(first.process.poll(), "the running one is untouched")
        self.assertEqual(first.stop(), 0)

    def test_not_a_directory(self):
        file_path = os.path.join(self.scratch, "a-file")
        with open(file_path, "w") as f:
            f.write("x")
        result = self.run_tap(self.tap_for(file_path))
        self.assert_one_line(result, f"mcptap: sink.spool_dir {file_path}: ", "not a directory")
        below = os.path.join(file_path, "spool")
        result = self.run_tap(self.tap_for(below))
        self.assert_one_line(result, f"mcptap: sink.spool_dir {below}: ",
                             f"{file_path} is not a directory")

    def test_directory_writable_by_group_or_others(self):
        spool_dir = os.path.join(self.scratch, "spool")
        for mode in (0o777, 0o770, 0o1777):
            os.makedirs(spool_dir, exist_ok=True)
            os.chmod(spool_dir, mode)
            result = self.run_tap(self.tap_for(spool_dir))
            line = self.assert_one_line(result, f"mcptap: sink.spool_dir {spool_dir}: ",
                                        f"writable by group or others (mode {mode:#o}".replace("0o", "0"))
            self.assertIn("chmod 700", line)
            self.assertEqual(mode_of(spool_dir), mode, "a refused directory is not repaired")
            self.assertEqual(os.listdir(spool_dir), [])
        # The stdio hop's route directory (<spool_dir>-stdio-<route>) is held to the same rule,
        # and the child is never started.
        route_dir = f"{spool_dir}-stdio-{self.route}"
        os.mkdir(route_dir)
        os.chmod(route_dir, 0o777)
        marker = os.path.join(self.scratch, "child-ran")
        result, _ = self.run_stdio(self.tap_for(spool_dir), marker)
        self.assert_one_line(result, f"mcptap: stdio spool directory {route_dir}: ",
                             "writable by group or others (mode 0777)")
        self.assertFalse(os.path.exists(marker), "the child ran without capture")

    def test_stdio_refuses_an_unusable_spool_without_starting_the_child(self):
        file_path = os.path.join(self.scratch, "a-file")
        with open(file_path, "w") as f:
            f.write("x")
        marker = os.path.join(self.scratch, "child-ran")
        result, _ = self.run_stdio(self.tap_for(os.path.join(file_path, "spool")), marker)
        self.assert_one_line(result, "mcptap: stdio spool directory ", f"{file_path} is not a directory")
        self.assertFalse(os.path.exists(marker), "the child ran without capture")

    def test_held_stdio_lock_is_a_clear_error_not_a_hang(self):
        spool_dir = os.path.join(self.scratch, "spool")
        route_dir = f"{spool_dir}-stdio-{self.route}"
        os.mkdir(route_dir, 0o700)
        marker = os.path.join(self.scratch, "child-ran")
        with open(os.path.join(route_dir, "stdio.lock"), "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            result, elapsed = self.run_stdio(self.tap_for(spool_dir), marker)
        self.assert_one_line(result, f"mcptap: {route_dir}/stdio.lock: ", "locked by another")
        self.assertLess(elapsed, 10, "it waited as a blocking lock would")
        self.assertFalse(os.path.exists(marker), "the child ran without capture")

    def test_full_disk_at_start(self):
        mount_point = mount_tmpfs("256k")
        if mount_point is None:
            self.skipTest("cannot mount a tmpfs (needs root)")
        try:
            filler = os.open(os.path.join(mount_point, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while os.write(filler, b"\0" * 4096) > 0:
                    pass
            except OSError:
                pass  # full
            finally:
                os.close(filler)
            spool_dir = os.path.join(mount_point, "spool")
            result = self.run_tap(self.tap_for(spool_dir))
            self.assert_one_line(result, f"mcptap: sink.spool_dir {spool_dir}: ",
                                 "no space left on device")
        finally:
            unmount(mount_point)


class RunTimeAndShutdownTest(OwnClusterTestCase):
    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="mcptap-spool-run-")

    def tearDown(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def status(self, tap):
        result = tap.cli("status")
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def status_json(self, tap):
        result = tap.cli("status", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_runtime_disk_full_shows_in_readyz_and_first_line_of_status(self):
        mount_point = mount_tmpfs("256k")
        if mount_point is None:
            self.skipTest("cannot mount a tmpfs (needs root); the spool unit tests cover EFBIG")
        route = unique_name("degraded")
        try:
            with LoggingBackend() as backend, Mcptap(
                    [{"name": route, "upstream": f"127.0.0.1:{backend.port}"}],
                    extra={"sink": dict(SINK, postgres=self.cluster.url,
                                        spool_dir=os.path.join(mount_point, "spool"))}) as tap:
                self.assertEqual(http_get(tap.admin_port, "/readyz"), (200, "ready\n"))
                self.assertFalse(self.status(tap).startswith("CAPTURE DEGRADED"))
                self.assertEqual(self.status_json(tap)["sink"]["capture"], {"state": "ok"})
                self.cluster.halt()  # nothing drains: the spool fills the filesystem
                try:
                    first = Traffic(tap.ports[route], route, pairs=1500, rate=1000, padding=400)
                    first.start().join()
                    self.assertIsNone(first.error, "forwarding stopped with the spool full")
                    # Ready still (forwarding works), and the body says capture is degraded.
                    code, body = http_get(tap.admin_port, "/readyz")
                    self.assertEqual(code, 200)
                    self.assertEqual(body, "ready\ncapture: degraded (spool: No space left on device)\n")
                    first_line = self.status(tap).splitlines()[0]
                    self.assertRegex(first_line, r"^CAPTURE DEGRADED: spool write errors since "
                                                 r"\d\d:\d\d:\d\d UTC: No space left on device; "
                                                 r"\d+ records dropped$")
                    capture = self.status_json(tap)["sink"]["capture"]
                    self.assertEqual(capture["state"], "degraded")
                    self.assertEqual(capture["cause"], "spool write errors")
                    self.assertEqual(capture["error"], "No space left on device")
                    self.assertGreater(capture["dropped_records"], 0)
                    self.assertRegex(capture["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
                    _, metrics = http_get(tap.admin_port, "/metrics")
                    self.assertIn("\nmcptap_capture_degraded 1\n", metrics)
                finally:
                    self.cluster.resume()
                # Once the backlog drained and a capture fits again, it is no longer degraded.
                deadline = time.time() + 30
                while time.time() < deadline:
                    Traffic(tap.ports[route], route, pairs=5, rate=100, first_id=200000).start().join()
                    if http_get(tap.admin_port, "/readyz") == (200, "ready\n"):
                        break
                    time.sleep(0.5)
                self.assertEqual(http_get(tap.admin_port, "/readyz"), (200, "ready\n"))
                self.assertFalse(self.status(tap).startswith("CAPTURE DEGRADED"))
                self.assertEqual(tap.stop(), 0)
        finally:
            unmount(mount_point)

    def test_shutdown_with_postgres_unreachable_is_bounded_and_the_next_start_delivers(self):
        route = unique_name("shutdown")
        spool_dir = os.path.join(self.scratch, "spool")
        routes = [{"name": route, "upstream": None}]
        with LoggingBackend() as backend:
            routes[0]["upstream"] = f"127.0.0.1:{backend.port}"
            extra = {"sink": dict(SINK, postgres=self.cluster.url, spool_dir=spool_dir,
                                  shutdown_flush_timeout_ms=1500),
                     "proxy": {"drain_timeout_ms": 20000}}
            with Mcptap(routes, extra=extra) as tap:
                self.cluster.halt()
                try:
                    traffic = Traffic(tap.ports[route], route, pairs=50, rate=500).start().join()
                    self.assertIsNone(traffic.error)
                    self.assertEqual(len(traffic.received), 50)
                    time.sleep(0.3)  # the client's connection is closed: nothing to drain
                    started = time.monotonic()
                    exit_code = tap.stop()
                    elapsed = time.monotonic() - started
                    log = tap.log()
                finally:
                    self.cluster.resume()
            self.assertEqual(exit_code, 0, log[-2000:])
            # Within the flush deadline (1.5 s), well under drain_timeout_ms (20 s).
            self.assertLess(elapsed, 5.0, log[-2000:])
            stays = [line for line in log_lines(log) if line.get("msg") == STAYS]
            self.assertEqual(len(stays), 1, log[-2000:])
            self.assertEqual(stays[0]["records"], 100)
            self.assertGreater(stays[0]["bytes"], 0)
            self.assertEqual(stays[0]["spool_dir"], spool_dir)
            self.assertEqual(self.rows(route), [])

            # PostgreSQL reachable again: the next start delivers the spool, each message once,
            # and its own stop flushes everything (nothing stays).
            with Mcptap(routes, extra=extra) as restarted:
                rows = self.wait_for_rows(route, 100)
                exit_code = restarted.stop()
                log = restarted.log()
            self.assertEqual(exit_code, 0, log[-2000:])
            self.assertEqual(len(rows), 100)
            self.assertEqual(len({r["id"] for r in rows}), 100)
            self.assertEqual(sorted(json.dumps(r["payload"], sort_keys=True) for r in rows),
                             sorted(json.dumps(json.loads(t), sort_keys=True)
                                    for t in backend.received + backend.sent))
            self.assertFalse([line for line in log_lines(log) if line.get("msg") == STAYS], log[-2000:])

    def test_files_holding_captured_data_are_private_whatever_the_umask(self):
        route = unique_name("modes")
        spool_dir = os.path.join(self.scratch, "spool")
        # What an older mcptap left: a 0755 directory with a 0644 lock file.
        os.mkdir(spool_dir)
        os.chmod(spool_dir, 0o755)
        with open(os.path.join(spool_dir, "lock"), "w"):
            pass
        os.chmod(os.path.join(spool_dir, "lock"), 0o644)
        old_umask = os.umask(0)  # inherited by mcptap: its modes must not depend on it
        try:
            with LoggingBackend() as backend, Mcptap(
                    [{"name": route, "upstream": f"127.0.0.1:{backend.port}"}],
                    extra={"sink": dict(SINK, postgres=self.cluster.url, spool_dir=spool_dir)}) as tap:
                Traffic(tap.ports[route], route, pairs=5, rate=100).start().join()
                self.assertEqual(len(self.wait_for_rows(route, 10)), 10)
                deadline = time.time() + 10
                while not os.path.exists(os.path.join(spool_dir, "checkpoint")) and time.time() < deadline:
                    time.sleep(0.1)
                files = sorted(os.listdir(spool_dir))
                self.assertIn("checkpoint", files)
                self.assertTrue(any(name.endswith(".seg") for name in files), files)
                self.assertEqual(mode_of(spool_dir), 0o700)
                for name in files:
                    self.assertEqual(mode_of(os.path.join(spool_dir, name)), 0o600, name)
                self.assertEqual(tap.stop(), 0)

                # The stdio hop: its route directory, stdio.lock, and its own spool inside.
                child = ("import sys, time; sys.stdout.write('{}\\n'); sys.stdout.flush(); "
                         "time.sleep(3)")
                hop = subprocess.Popen([tap.binary, "stdio", "--route", route, "--config",
                                        tap.config_path, "--", PYTHON, "-c", child],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
                try:
                    hop.stdout.readline()  # the child runs: the hop's spool exists
                    route_dir = f"{spool_dir}-stdio-{route}"
                    own = [name for name in os.listdir(route_dir) if name != "stdio.lock"]
                    self.assertEqual(len(own), 1, own)
                    own_dir = os.path.join(route_dir, own[0])
                    self.assertEqual(mode_of(route_dir), 0o700)
                    self.assertEqual(mode_of(os.path.join(route_dir, "stdio.lock")), 0o600)
                    self.assertEqual(mode_of(own_dir), 0o700)
                    for name in os.listdir(own_dir):
                        self.assertEqual(mode_of(os.path.join(own_dir, name)), 0o600, name)
                finally:
                    hop.stdin.close()
                    hop.wait(timeout=30)
                    hop.stdout.close()
                    hop.stderr.close()
        finally:
            os.umask(old_umask)


if __name__ == "__main__":
    unittest.main(verbosity=2)
