"""Real OneMap processes for tests: `onemap serve` (gunicorn) and `onemap worker`, bounded waits."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.common import stop_group, wait_http

from .conftest import ROOT, free_port

ONEMAP = str(Path(sys.executable).parent / "onemap")


# the suite's limits (tests/conftest.py) for servers too; a test sets its own through ``extra``
SUITE_LIMITS = ("ONEMAP_RATE_LIMIT", "ONEMAP_RATE_LIMIT_EXECUTE", "ONEMAP_JOBS_PER_DAY", "ONEMAP_HEAVY_SLOTS")


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_") or k in SUITE_LIMITS}
    env.update(extra)
    return env


@contextlib.contextmanager
def serve(env: dict[str, str], workers: int = 2, wait_s: float = 120) -> Iterator[str]:
    """`onemap serve` on a free port of 127.0.0.1; yields its URL once /healthz answers."""
    with serve_process(env, workers, wait_s) as (url, _):
        yield url


@contextlib.contextmanager
def serve_process(env: dict[str, str], workers: int = 2, wait_s: float = 120
                  ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``serve``, yielding the process too (gunicorn's master, leading a process group of its own)."""
    port = free_port()
    proc = subprocess.Popen([ONEMAP, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                            env=_env(env), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc, wait_s)
        yield url, proc
    finally:
        stop_group(proc)


@contextlib.contextmanager
def worker(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen]:
    """`onemap worker` running until the block ends (SIGTERM)."""
    proc = subprocess.Popen([ONEMAP, "worker", *args], env=_env(env), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


PYGEOAPI = str(Path(sys.executable).parent / "pygeoapi")


@contextlib.contextmanager
def pygeoapi_serve(env: dict[str, str], config: Path, openapi: Path, wait_s: float = 60) -> Iterator[str]:
    """Stock `pygeoapi serve` on a configuration (its ``server.bind`` names the port); yields its URL."""
    import yaml

    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    url = f"http://{cfg['server']['bind']['host']}:{cfg['server']['bind']['port']}"
    proc = subprocess.Popen([PYGEOAPI, "serve"], env=_env(env) | {"PYGEOAPI_CONFIG": str(config),
                                                                 "PYGEOAPI_OPENAPI": str(openapi)},
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(url + "/conformance?f=json", proc, wait_s)
        yield url
    finally:
        stop_group(proc)
