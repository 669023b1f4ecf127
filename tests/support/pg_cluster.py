#!/usr/bin/python3
"""A throwaway PostgreSQL 15 cluster for tests, the demo and a first try of mcptap: start,
stop, and halt/resume to fake outages. Needs Debian's postgresql package (the server
binaries in /usr/lib/postgresql/15/bin, or MCPTAP_PG_BIN); nothing else is set up.

Command line:
    pg_cluster.py start STATE_DIR [--port N]   prints the URL of database mcptap_test
    pg_cluster.py stop STATE_DIR               stops it and removes its files
    pg_cluster.py halt STATE_DIR               stops the server, keeps its data (an outage)
    pg_cluster.py resume STATE_DIR             starts a halted server again on the same port
    pg_cluster.py --help                       this text

Example:
    url=$(tests/support/pg_cluster.py start /tmp/mcptap-pg)   # postgresql://postgres@127.0.0.1:PORT/mcptap_test
    ...                                                        # use "$url"
    tests/support/pg_cluster.py stop /tmp/mcptap-pg

The server listens on 127.0.0.1 only, trusts every local connection (no password) and
skips fsync: for trying and testing, never for data worth keeping.

STATE_DIR receives `url` (postgresql://postgres@127.0.0.1:PORT/mcptap_test), `datadir`
(the cluster's temporary directory under /tmp) and `port`. As a module: start(state_dir)
-> url, stop(state_dir), halt(state_dir), resume(state_dir) and the context manager
cluster(). Run as root, the server runs as the `postgres` user (initdb refuses root);
run as any other user, it runs as that user. Standard library only.
"""
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

PG_BIN = os.environ.get("MCPTAP_PG_BIN", "/usr/lib/postgresql/15/bin")
DATABASE = "mcptap_test"
SUPERUSER = "postgres"
DATADIR_PREFIX = "mcptap-pg-"
START_ATTEMPTS = 5

# Surviving a power loss is worthless for a cluster that lives as long as a test run, so
# nothing is fsynced. Commits stay synchronous, though: halt() kills the server the way a
# crash would, and a committed row must still be there after resume().
SERVER_SETTINGS = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
full_page_writes = off
max_connections = 200
"""


class ClusterError(RuntimeError):
    pass


def _state_path(state_dir, name):
    return os.path.join(state_dir, name)


def _read_state(state_dir, name):
    try:
        with open(_state_path(state_dir, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _write_state(state_dir, name, value):
    path = _state_path(state_dir, name)
    with open(path + ".tmp", "w") as f:
        f.write(value + "\n")
    os.replace(path + ".tmp", path)


def _as_server_user(argv):
    """initdb and the server refuse to run as root: as root, run them as `postgres`."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--"] + argv
    return argv


def _run(argv, cwd, check=True):
    result = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}")
    return result


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(datadir, lines=20):
    try:
        with open(os.path.join(datadir, "postgres.log"), errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _is_our_datadir(path):
    """Guards rmtree: only a directory this script made under the temp dir is removed."""
    if not path:
        return False
    real = os.path.realpath(path)
    return (os.path.dirname(real) == os.path.realpath(tempfile.gettempdir())
            and os.path.basename(real).startswith(DATADIR_PREFIX))


def _make_datadir():
    datadir = tempfile.mkdtemp(prefix=DATADIR_PREFIX)
    if os.geteuid() == 0:
        account = pwd.getpwnam(SUPERUSER)
        os.chown(datadir, account.pw_uid, account.pw_gid)
    _run(_as_server_user([os.path.join(PG_BIN, "initdb"), "-D", datadir, "-A", "trust",
                          "-U", SUPERUSER, "--no-sync", "-E", "UTF8", "--locale", "C"]),
         cwd=datadir)
    with open(os.path.join(datadir, "postgresql.conf"), "a") as f:
        f.write("include_if_exists = 'mcptap_test.conf'\n")
    return datadir


def _write_settings(datadir, port):
    # Written by the server user's parent (maybe root): the file only has to be readable.
    path = os.path.join(datadir, "mcptap_test.conf")
    with open(path, "w") as f:
        f.write(SERVER_SETTINGS.format(port=port, socket_dir=datadir))
    os.chmod(path, 0o644)


def _pg_ctl_start(datadir):
    argv = _as_server_user([os.path.join(PG_BIN, "pg_ctl"), "start", "-w", "-t", "60",
                            "-D", datadir, "-l", os.path.join(datadir, "postgres.log")])
    return _run(argv, cwd=datadir, check=False).returncode == 0


def _pg_ctl_stop(datadir):
    argv = _as_server_user([os.path.join(PG_BIN, "pg_ctl"), "stop", "-w", "-m", "immediate",
                            "-D", datadir])
    _run(argv, cwd=datadir, check=False)


def _start_server(datadir, port=None):
    """Starts on `port`, or on a free one; a port taken meanwhile is retried with another."""
    attempts = 1 if port else START_ATTEMPTS
    for _ in range(attempts):
        chosen = port or _free_port()
        _write_settings(datadir, chosen)
        if _pg_ctl_start(datadir):
            return chosen
    raise ClusterError(f"postgres did not start in {datadir}:\n{_log_tail(datadir)}")


def _create_database(datadir, port):
    _run([os.path.join(PG_BIN, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER,
          DATABASE], cwd=datadir)


def url_for(port):
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


def start(state_dir, port=None):
    """Creates and starts a fresh cluster, returns its URL. A leftover one is stopped first."""
    if _read_state(state_dir, "datadir"):
        stop(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    datadir = _make_datadir()
    try:
        # Recorded at once, so that a failure past this point still leaves stop() a trail.
        _write_state(state_dir, "datadir", datadir)
        chosen = _start_server(datadir, port)
        _create_database(datadir, chosen)
    except BaseException:
        stop(state_dir)
        raise
    url = url_for(chosen)
    _write_state(state_dir, "port", str(chosen))
    _write_state(state_dir, "url", url)
    return url


def stop(state_dir):
    """Stops the cluster and removes its data and the state files. Safe to repeat."""
    datadir = _read_state(state_dir, "datadir")
    if datadir and os.path.isdir(datadir):
        _pg_ctl_stop(datadir)
        if _is_our_datadir(datadir):
            shutil.rmtree(datadir, ignore_errors=True)
    for name in ("url", "port", "datadir"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(_state_path(state_dir, name))
    with contextlib.suppress(OSError):
        os.rmdir(state_dir)  # only when empty: the caller may keep other files there


def halt(state_dir):
    """Stops the server as a crash would, keeping its data for resume()."""
    datadir = _read_state(state_dir, "datadir")
    if not datadir:
        raise ClusterError(f"no cluster recorded in {state_dir}")
    _pg_ctl_stop(datadir)


def resume(state_dir):
    """Starts a halted server again on the port it had; returns its URL."""
    datadir = _read_state(state_dir, "datadir")
    port = _read_state(state_dir, "port")
    if not datadir or not port:
        raise ClusterError(f"no cluster recorded in {state_dir}")
    _start_server(datadir, int(port))
    return url_for(int(port))


@contextlib.contextmanager
def cluster(state_dir=None, port=None):
    """with cluster() as url: ... — a cluster for the block's duration."""
    own_state = state_dir is None
    if own_state:
        state_dir = tempfile.mkdtemp(prefix="mcptap-pg-state-")
    try:
        yield start(state_dir, port)
    finally:
        stop(state_dir)
        if own_state:
            shutil.rmtree(state_dir, ignore_errors=True)


def main(argv):
    usage = "usage: pg_cluster.py start|stop|halt|resume STATE_DIR [--port N] (--help: more)"
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) not in (3, 5) or argv[1] not in ("start", "stop", "halt", "resume"):
        print(usage, file=sys.stderr)
        return 2
    port = None
    if len(argv) == 5:
        if argv[1] != "start" or argv[3] != "--port" or not argv[4].isdigit():
            print(usage, file=sys.stderr)
            return 2
        port = int(argv[4])
    command, state_dir = argv[1], argv[2]
    try:
        if command == "start":
            print(start(state_dir, port))
        elif command == "stop":
            stop(state_dir)
        elif command == "halt":
            halt(state_dir)
        else:
            print(resume(state_dir))
    except ClusterError as error:
        print(f"pg_cluster.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
