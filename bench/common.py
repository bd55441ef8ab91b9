"""Shared benchmark plumbing: a PostGIS cluster, the demo region loaded once, servers, timing."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WORK = ROOT / "bench" / ".work"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgis(reuse_url: str | None = None) -> Iterator[str]:
    """A PostGIS database URL: the given one, or a throwaway cluster for this run."""
    if reuse_url:
        yield reuse_url
        return
    sys.path.insert(0, str(ROOT))
    from tests.pgcluster import start_cluster

    cluster = start_cluster()
    try:
        import psycopg2

        conn = psycopg2.connect(cluster.url("postgres"))
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE onemap_bench")
        conn.close()
        yield cluster.url("onemap_bench")
    finally:
        cluster.stop()


def load_demo(url: str, parcels: int, data_dir: Path) -> float:
    """`onemap demo --database URL --parcels N`; returns the seconds it took."""
    data_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    subprocess.run([str(VENV_BIN / "onemap"), "demo", "--parcels", str(parcels), "--database", url, "--quiet"],
                   check=True, env=dict(os.environ, ONEMAP_DATA_DIR=str(data_dir)), stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a server started in a session of its own (and its children): SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    started_s: float

    def stop(self) -> None:
        stop_group(self.proc)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    """Wait (at most ``timeout`` s) until ``url`` answers 2xx; a server that exits first is an error carrying
    the end of what it printed (when its output is a pipe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stdout.read().decode(errors="replace")[-3000:] if proc.stdout else ""
            raise RuntimeError(f"server exited early ({url}) {said}".rstrip())
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 300:
                    return
        except Exception:  # noqa: BLE001  (any failure means not up yet; bounded by the deadline)
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url} in {timeout:.0f} s")


def start_onemap(database_url: str, data_dir: Path, workers: int = 2) -> Server:
    """`onemap serve` (gunicorn, production settings) on a free loopback port."""
    port = free_port()
    env = dict(os.environ, ONEMAP_DATABASE_URL=database_url, ONEMAP_DATA_DIR=str(data_dir),
               ONEMAP_PUBLIC_URL=f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    proc = subprocess.Popen([str(VENV_BIN / "onemap"), "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc)
    return Server(url, proc, time.monotonic() - t0)


def sequential_latencies(base: str, paths: list[str], rounds: int = 1) -> list[float]:
    """Milliseconds per request, one persistent connection, each path in turn."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    out = []
    for _ in range(rounds):
        for p in paths:
            t0 = time.perf_counter()
            conn.request("GET", p, headers={"Accept-Encoding": "gzip"})
            r = conn.getresponse()
            r.read()
            out.append((time.perf_counter() - t0) * 1000)
            if r.status >= 400:
                raise RuntimeError(f"{p}: HTTP {r.status}")
    conn.close()
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def bboxes(center: tuple[float, float], half: float, n: int, spread: float, seed: int = 1) -> list[str]:
    """``n`` different small boxes around ``center`` (so that no two requests are the same)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = center[0] + rng.uniform(-spread, spread)
        y = center[1] + rng.uniform(-spread, spread)
        out.append(f"{x - half:.5f},{y - half:.5f},{x + half:.5f},{y + half:.5f}")
    return out


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def markdown_table(rows: list[list[str]], header: list[str]) -> str:
    """A pipe table; ``|`` inside a cell is escaped."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).strip().replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "| " + " | ".join("---" for _ in header) + " |", *(line(r) for r in rows)])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
