"""A throwaway PostgreSQL 15 + PostGIS cluster for the tests and benchmarks.

initdb refuses to run as root; when the tests run as root the cluster is made and run
by the ``postgres`` user (Debian's packages create it) in a folder it owns. Databases on
it are created and dropped with pytest-postgresql's ``DatabaseJanitor``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]


def pg_bin() -> Path | None:
    env = os.environ.get("ONEMAP_PG_BIN")
    for cand in ([env] if env else []) + PG_BIN_CANDIDATES:
        if cand and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    base: Path
    port: int
    bindir: Path
    runas: str | None
    opts: str = ""  # the server options it was started with (start_server starts it again with them)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def user(self) -> str:
        return "postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.runas:
            cmd = ["runuser", "-u", self.runas, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep its data (an outage; ``start_server`` ends it). ``mode``: pg_ctl's
        fast (connections told and closed) or immediate (the server crashes, no goodbye)."""
        r = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", mode, "-w", "stop")
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {r.stderr.strip()}")

    def start_server(self) -> None:
        """Start the server again on the same port with the same data."""
        data = self.base / "data"
        r = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"), "-o", self.opts,
                      "-w", "-t", "60", "start")
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()}")


def start_cluster(port: int | None = None) -> Cluster:
    """initdb and start a cluster on a free loopback port; the caller stops it."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL 15 is not installed (deploy/system-packages.sh installs it)")
    runas = None
    base = Path(tempfile.mkdtemp(prefix="onemap-pg-"))
    if os.geteuid() == 0:
        runas = "postgres"
        pw = pwd.getpwnam(runas)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chmod(base, 0o700)
    cluster = Cluster(base=base, port=port or _free_port(), bindir=bindir, runas=runas)
    data, sock = base / "data", base / "sock"
    if runas:
        cluster._run("mkdir", "-p", str(sock))
    else:
        sock.mkdir()
    r = cluster._run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    if r.returncode != 0:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()}")
    opts = (f"-p {cluster.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
            "-c max_connections=100 -c jit=off")
    cluster.opts = opts
    r = cluster._run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w",
                     "-t", "60", "start")
    if r.returncode != 0:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()} {log[-500:]}")
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", cluster.port), timeout=1):
                return cluster
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not accept connections")
