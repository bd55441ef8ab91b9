"""Does the server stay answering while a hostile network holds it? Two scenarios, side by side in
one run, each against ``onemap serve`` with nginx in front and with gunicorn alone (``--no-front``):

- slow clients: N connections that send their request headers a byte at a time and reconnect when
  dropped (slowloris), held for S seconds;
- heavy work: two large synchronous compliance reviews at once (every limit respected).

Meanwhile another client asks for ``/collections`` every half second; printed are how many of its
requests were answered and their latency (median, worst). Run::

    .venv/bin/python -m bench.hostile [--connections 200] [--seconds 60]

The test suite runs the same functions, shorter (tests/test_hostile.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .common import ROOT, VENV_BIN, free_port, stop_group, wait_http

PROBE = "/collections?f=json"


@dataclass
class Probes:
    """What the well-behaved client saw."""

    latencies: list[float] = field(default_factory=list)  # answered requests, seconds
    failed: int = 0  # not answered within the probe's timeout, or not 200

    @property
    def answered(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, float | int]:
        lat = sorted(self.latencies)
        return {"answered": self.answered, "failed": self.failed,
                "median_s": round(statistics.median(lat), 3) if lat else float("nan"),
                "worst_s": round(lat[-1], 3) if lat else float("nan")}


def probe_while(url: str, busy: Callable[[], bool], every: float = 0.5, timeout: float = 10.0,
                headers: dict[str, str] | None = None) -> Probes:
    """Ask for ``url`` every ``every`` seconds while ``busy()`` holds (bounded by the caller's scenario)."""
    seen = Probes()
    while busy():
        started = time.monotonic()
        try:
            req = urllib.request.Request(url + PROBE, headers=headers or {})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                r.read()
                ok = r.status == 200
        except (OSError, urllib.error.URLError):
            ok = False
        took = time.monotonic() - started
        if ok:
            seen.latencies.append(took)
        else:
            seen.failed += 1
        time.sleep(max(0.0, every - took))
    return seen


def slow_clients(url: str, connections: int, seconds: float) -> Probes:
    """``connections`` slowloris connections for ``seconds`` while the probe runs; what the probe saw."""
    host, port = url.removeprefix("http://").split(":")
    stop = time.monotonic() + seconds

    def hold() -> None:
        while time.monotonic() < stop:
            try:
                with socket.create_connection((host, int(port)), timeout=5) as s:
                    s.sendall(b"GET /collections HTTP/1.1\r\nHost: x\r\n")
                    while time.monotonic() < stop:
                        s.sendall(b"X")  # one more byte of a header that never ends
                        time.sleep(2)
            except OSError:
                time.sleep(0.5)  # dropped by the server: come back, as an attacker would

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    time.sleep(min(2.0, seconds / 4))  # every connection open before the probe starts
    seen = probe_while(url, lambda: time.monotonic() < stop)
    for t in threads:
        t.join(timeout=10)
    return seen


def heavy_reviews(url: str, token: str, vertices: int = 99_000, count: int = 2) -> tuple[Probes, list[int]]:
    """``count`` compliance reviews of a ``vertices``-vertex boundary at once; the probe meanwhile, and the
    reviews' statuses (a review that finds no slot for heavy work is a 503 at once)."""
    import math

    ring = [[117.0 + 0.02 * math.cos(2 * math.pi * i / vertices), 31.45 + 0.02 * math.sin(2 * math.pi * i / vertices)]
            for i in range(vertices)]
    body = json.dumps({"inputs": {"land_use": "1001", "boundary": {"type": "Polygon",
                                                                      "coordinates": [[*ring, ring[0]]]}}}).encode()
    statuses: list[int] = []

    def review() -> None:
        req = urllib.request.Request(url + "/processes/compliance-review/execution", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                r.read()
                statuses.append(r.status)
        except urllib.error.HTTPError as err:
            statuses.append(err.code)
        except OSError:
            statuses.append(0)

    threads = [threading.Thread(target=review) for _ in range(count)]
    for t in threads:
        t.start()
    seen = probe_while(url, lambda: any(t.is_alive() for t in threads))
    for t in threads:
        t.join(timeout=600)
    return seen, statuses


def _serve(data: Path, front: bool, env_extra: dict[str, str]) -> tuple[str, subprocess.Popen]:
    import os

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update({"ONEMAP_DATA_DIR": str(data), **env_extra})
    cmd = [str(VENV_BIN / "onemap"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    if not front:
        cmd.append("--no-front")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc, 300)
    except RuntimeError:
        stop_group(proc)
        raise
    return url, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--parcels", type=int, default=3000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="onemap-hostile-"))
    try:
        subprocess.run([str(VENV_BIN / "onemap"), "demo", "--parcels", str(args.parcels)], check=True, cwd=ROOT,
                       env={"ONEMAP_DATA_DIR": str(work), "PATH": str(VENV_BIN) + ":/usr/bin:/bin"},
                       stdout=subprocess.DEVNULL)
        env = {"ONEMAP_DATA_DIR": str(work)}
        subprocess.run([str(VENV_BIN / "onemap"), "user", "add", "bench", "--role", "partner"], env=env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        token = subprocess.run([str(VENV_BIN / "onemap"), "token", "create", "bench"], env=env, check=True, cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        rows = []
        for front in (True, False):
            url, proc = _serve(work, front, {"ONEMAP_RATE_LIMIT": "1000000/minute"})
            try:
                slow = slow_clients(url, args.connections, args.seconds).summary()
                heavy, statuses = heavy_reviews(url, token)
            finally:
                stop_group(proc)
            rows.append(("nginx in front" if front else "gunicorn alone", slow, heavy.summary(), statuses))
        print(f"/collections probed every 0.5 s (timeout 10 s); {args.connections} slow connections for "
              f"{args.seconds:g} s; then two 99,000-vertex compliance reviews at once")
        print(f"{'server':<16} {'slow: answered/failed':>22} {'median':>8} {'worst':>8}   "
              f"{'heavy: answered/failed':>23} {'median':>8} {'worst':>8}  reviews")
        for name, s, h, st in rows:
            print(f"{name:<16} {s['answered']:>12}/{s['failed']:<9} {s['median_s']:>8} {s['worst_s']:>8}   "
                  f"{h['answered']:>13}/{h['failed']:<9} {h['median_s']:>8} {h['worst_s']:>8}  {st}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
