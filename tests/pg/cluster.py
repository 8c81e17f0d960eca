"""A throw-away PostgreSQL cluster for the tests: `initdb` in a temporary directory, started on a free port, its unix
socket in that directory, torn down at the end.

PostgreSQL is installed from Debian's packages (`apt-get install -y postgresql`) when no `initdb` is found, which is
what a fresh CI machine needs. PostgreSQL refuses to run as root: as root the cluster runs as the unprivileged user
`nobody` (through `runuser`), owning its directory. Nothing is ever skipped: a cluster that cannot be started raises
`ClusterError` with one line saying why, and the tests that need it fail with it.

Used by the integration conftest (`pg_cluster` fixture) and from the command line:
`python tests/pg/cluster.py` starts one and prints its URL until interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUPERUSER = "postgres"
PASSWORD = "pg-test-pw"  # scram over TCP; the unix socket trusts its (root-only reachable) directory
RUN_AS = "nobody"


class ClusterError(RuntimeError):
    """PostgreSQL could not be installed or started for the tests."""


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def install() -> Path:
    """The directory of initdb/pg_ctl/psql, installing Debian's postgresql package when they are missing."""
    found = _bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError("PostgreSQL is not installed (no initdb) and this is not a root Debian machine: "
                           "install the postgresql package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # No default cluster (it would be started as a service on port 5432): the tests make their own.
    config = Path("/etc/postgresql-common/createcluster.conf")
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("create_main_cluster = false\n")
    install_command = ["apt-get", "install", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef",
                       "-o", "Dpkg::Options::=--force-confold", "postgresql"]  # keeps our createcluster.conf
    for command in (["apt-get", "update"], install_command):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ClusterError(f"{' '.join(command)} failed: {tail[0]}")
    found = _bin_dir()
    if found is None:
        raise ClusterError("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One PostgreSQL cluster of the tests' own."""

    def __init__(self) -> None:
        self.bin = install()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tradovate-sim-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, RUN_AS)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth-local=trust",
                   "--auth-host=scram-sha-256", f"--pwfile={self._pwfile()}", "-E", "UTF8", "--no-sync"],
                  "initdb")
        self.running = False

    def _pwfile(self) -> Path:
        path = self.root / "pw"
        path.write_text(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(path, RUN_AS)
        return path

    def _run(self, command: list[str], what: str) -> None:
        if self.as_root:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            raise ClusterError(f"PostgreSQL {what} failed: {lines[-1]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on "
                   "-c max_connections=200 -c shared_buffers=64MB")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                   "-t", "60", "start"], "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], "stop")
            self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(ClusterError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: str | None = PASSWORD, tcp: bool = True) -> str:
        """A URL for `database`: over TCP with the password (as a real deployment), or over the unix socket."""
        if tcp:
            secret = f":{password}" if password is not None else ""
            return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"
        return f"postgresql://{SUPERUSER}@/{database}?host={self.root}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", str(self.root), "-p", str(self.port), "-U", SUPERUSER, "-d", database,
                               "-c", sql], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterError(f"psql {sql!r}: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database `name` (dropped first if it exists); returns its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def started() -> Cluster:
    """A started cluster, or ClusterError with one line."""
    cluster = Cluster()
    try:
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


_shared: dict[str, Cluster | ClusterError] = {}


def shared() -> Cluster:
    """The cluster of this test process, started on first use and destroyed when the process exits; if it could
    not be started, every caller gets the same one-line ClusterError (it is not tried again)."""
    found = _shared.get("cluster")
    if found is None:
        try:
            found = started()
            atexit.register(found.destroy)
        except ClusterError as error:
            found = error
        _shared["cluster"] = found
    if isinstance(found, ClusterError):
        raise ClusterError(str(found))
    return found


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:  # make's prerequisite: PostgreSQL's programs, installed if missing
        try:
            print(install())
        except ClusterError as error:
            print(f"cluster: {error}", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    try:
        running = started()
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)
        sys.exit(1)
    print(running.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.destroy()
