"""Load generation: wrk with a Lua script cycling a list of different requests, and a cold pass.

``run_wrk`` drives wrk (Debian package, deploy/system-packages.sh wrk) with a generated Lua
script: every connection takes the next request of the list (each thread starts at its
own place in it), non-2xx answers are counted in ``response`` and the figures come out of
wrk's ``done`` callback as one JSON line (``WRK_RESULT {...}``), parsed by ``parse_wrk``.

``run_once`` requests each item of a list exactly once over N keep-alive connections (a
thread per connection): the cold-cache tile runs, where wrk's cycling would repeat tiles.
"""

from __future__ import annotations

import http.client
import json
import math
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from .common import pct

RESULT_TAG = "WRK_RESULT "


@dataclass(frozen=True)
class Request:
    """One HTTP request of a kind: a path with its query, and a body for POST."""

    path: str
    method: str = "GET"
    body: bytes | None = None
    content_type: str | None = None


@dataclass
class Result:
    """Figures of one timed run; ``rps`` counts 2xx answers only."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    errors: int
    seconds: float
    tool: str
    distinct: int
    extra: dict = field(default_factory=dict)
    answered: list[Request] = field(default_factory=list)  # run_once: the requests that got a 2xx

    def as_dict(self) -> dict:
        def ms(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 2)  # NaN (nothing answered) is null in JSON

        return {"rps": round(self.rps, 2), "p50_ms": ms(self.p50_ms), "p99_ms": ms(self.p99_ms),
                "requests": self.requests, "non2xx": self.non2xx, "errors": self.errors,
                "seconds": round(self.seconds, 2), "tool": self.tool, "distinct_requests": self.distinct,
                **self.extra}


# ---- wrk ----------------------------------------------------------------------------------------
def _lua_str(s: str) -> str:
    """A Lua long-bracket string literal that no content can close early."""
    level = 0
    while f"]{'=' * level}]" in s:
        level += 1
    eq = "=" * level
    return f"[{eq}[{s}]{eq}]"


def lua_script(requests: list[Request], headers: dict[str, str] | None = None) -> str:
    """The wrk script: cycle ``requests`` (each thread from its own offset), count non-2xx, report JSON."""
    if not requests:
        raise ValueError("no requests")
    hdrs = dict(headers or {})
    rows = []
    for r in requests:
        h = dict(hdrs)
        if r.content_type:
            h["Content-Type"] = r.content_type
        htab = "{" + ", ".join(f"[ {_lua_str(k)} ] = {_lua_str(v)}" for k, v in h.items()) + "}"
        body = _lua_str(r.body.decode()) if r.body is not None else "nil"
        rows.append(f"  {{{_lua_str(r.method)}, {_lua_str(r.path)}, {htab}, {body}}},")
    return "\n".join([
        "local reqs = {", *rows, "}",
        "local threads = {}",
        "function setup(thread)",
        "  thread:set('tid', #threads)",
        "  table.insert(threads, thread)",
        "end",
        "function init(args)",
        "  non2xx = 0",
        "  nthreads = 0",
        "  i = 0",
        "end",
        "function request()",
        "  -- each thread starts at its own place in the list, so threads do not move in step",
        "  local n = #reqs",
        "  local r = reqs[((i + tid * math.floor(n / 8 + 1)) % n) + 1]",
        "  i = i + 1",
        "  return wrk.format(r[1], r[2], r[3], r[4])",
        "end",
        "function response(status, headers, body)",
        "  if status < 200 or status > 299 then non2xx = non2xx + 1 end",
        "end",
        "function done(summary, latency, requests)",
        "  local bad = 0",
        "  for _, t in ipairs(threads) do bad = bad + (t:get('non2xx') or 0) end",
        "  local e = summary.errors",
        "  io.write(string.format('" + RESULT_TAG + "{\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, "
        "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %.1f, \"non2xx\": %d, "
        "\"connect\": %d, \"read\": %d, \"write\": %d, \"timeout\": %d}\\n', summary.requests, summary.duration, "
        "summary.bytes, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, "
        "latency.mean, bad, e.connect, e.read, e.write, e.timeout))",
        "end",
        "",
    ])


def parse_wrk(stdout: str, distinct: int = 0) -> Result:
    """The figures of wrk's ``done`` line (see ``lua_script``)."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_TAG):
            d = json.loads(line[len(RESULT_TAG):])
            break
    else:
        raise ValueError(f"no {RESULT_TAG.strip()} line in wrk's output: {stdout[-500:]!r}")
    seconds = d["duration_us"] / 1e6
    ok = d["requests"] - d["non2xx"]
    errors = d["connect"] + d["read"] + d["write"] + d["timeout"]
    nan = float("nan")
    done = d["requests"] > 0  # with none finished, wrk's percentiles are zeros, not latencies
    return Result(rps=ok / seconds if seconds else 0.0, p50_ms=d["p50_us"] / 1000 if done else nan,
                  p99_ms=d["p99_us"] / 1000 if done else nan,
                  requests=d["requests"], non2xx=d["non2xx"], errors=errors, seconds=seconds, tool="wrk",
                  distinct=distinct, extra={"timeouts": d["timeout"], "mean_ms": round(d["mean_us"] / 1000, 2),
                                            "max_ms": round(d["max_us"] / 1000, 2), "bytes": d["bytes"]})


def combine(parts: list[Result]) -> Result:
    """Several timed runs of the same requests as one: rates over the summed time, the median of
    the runs' p50 and the worst p99 (wrk gives percentiles per run, not the latencies)."""
    if not parts:
        raise ValueError("nothing to combine")
    seconds = sum(r.seconds for r in parts)
    ok = sum(r.rps * r.seconds for r in parts)
    answered = [r for r in parts if r.requests]
    nan = float("nan")
    extra: dict = {}
    for key in ("timeouts", "bytes"):
        if all(key in r.extra for r in parts):
            extra[key] = sum(r.extra[key] for r in parts)
    if answered and all("max_ms" in r.extra for r in answered):
        extra["max_ms"] = max(r.extra["max_ms"] for r in answered)
    return Result(rps=ok / seconds if seconds else 0.0,
                  p50_ms=statistics.median(r.p50_ms for r in answered) if answered else nan,
                  p99_ms=max(r.p99_ms for r in answered) if answered else nan,
                  requests=sum(r.requests for r in parts), non2xx=sum(r.non2xx for r in parts),
                  errors=sum(r.errors for r in parts), seconds=seconds, tool=parts[0].tool,
                  distinct=max(r.distinct for r in parts), extra=extra)


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk is not installed: run deploy/system-packages.sh wrk")
    return path


def run_wrk(base_url: str, requests: list[Request], duration: float, connections: int = 8, threads: int = 2,
            timeout: float = 60.0, headers: dict[str, str] | None = None) -> Result:
    """wrk for ``duration`` seconds over ``connections`` connections, cycling ``requests``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua_script(requests, headers))
        script = fh.name
    try:
        threads = max(1, min(threads, connections))
        cmd = [wrk_binary(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
               "--timeout", f"{max(1, round(timeout))}s", "-s", script, base_url]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout + 60, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        try:
            return parse_wrk(r.stdout, len(set(requests)))
        except ValueError:
            raise RuntimeError(f"wrk gave no figures: {r.stderr.strip()[-500:]}") from None
    finally:
        Path(script).unlink(missing_ok=True)


# ---- single requests ------------------------------------------------------------------------------
def fetch(base_url: str, req: Request, timeout: float = 60.0, headers: dict[str, str] | None = None,
          conn: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request: status, headers (lower-case names) and the body (decompressed)."""
    import gzip

    u = urllib.parse.urlsplit(base_url)
    own = conn is None
    conn = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        h = dict(headers or {})
        if req.content_type:
            h["Content-Type"] = req.content_type
        conn.request(req.method, req.path, body=req.body, headers=h)
        r = conn.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return r.status, hdrs, body
    finally:
        if own:
            conn.close()


def run_once(base_url: str, requests: list[Request], connections: int = 8, timeout: float = 60.0,
             budget_s: float | None = None, headers: dict[str, str] | None = None) -> Result:
    """Each request once, over ``connections`` keep-alive connections; stops taking new ones after ``budget_s``."""
    u = urllib.parse.urlsplit(base_url)
    todo = list(requests)
    lock = threading.Lock()
    lat: list[float] = []
    answered: list[Request] = []
    counts = {"non2xx": 0, "errors": 0, "timeouts": 0, "bytes": 0}
    t0 = time.perf_counter()
    deadline = t0 + budget_s if budget_s else None

    def worker() -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        while True:
            with lock:
                if not todo or (deadline and time.perf_counter() > deadline):
                    break
                req = todo.pop(0)
            s = time.perf_counter()
            try:
                status, _, body = fetch(base_url, req, timeout, headers, conn)
            except TimeoutError:
                with lock:
                    counts["errors"] += 1
                    counts["timeouts"] += 1
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
                continue
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
                continue
            ms = (time.perf_counter() - s) * 1000
            with lock:
                lat.append(ms)
                counts["bytes"] += len(body)
                if not 200 <= status <= 299:
                    counts["non2xx"] += 1
                else:
                    answered.append(req)
        conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, connections))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - t0
    ok = len(lat) - counts["non2xx"]
    return Result(rps=ok / seconds if seconds else 0.0, p50_ms=pct(lat, 50), p99_ms=pct(lat, 99),
                  requests=len(lat), non2xx=counts["non2xx"], errors=counts["errors"], seconds=seconds,
                  tool="python (each once)", distinct=len(set(requests)),
                  extra={"timeouts": counts["timeouts"], "not_sent": len(todo), "bytes": counts["bytes"],
                         "mean_ms": round(statistics.fmean(lat), 2) if lat else None},
                  answered=answered)


PAIRED_ROUNDS = 6  # alternated runs of two targets, duration/3 s each


def alternated(a: tuple[str, list[Request]], b: tuple[str, list[Request]], duration: float, connections: int,
               threads: int, timeout: float, headers: dict[str, str]) -> tuple[list[Result], list[Result], float]:
    """Two targets (base URL, requests) timed in ``PAIRED_ROUNDS`` rounds of ``duration/3`` s (at least 1 s)
    each, in the order A B, B A, A B, ...: each one's results, and the seconds of a round.

    Two runs of 20 s one after the other differ by up to 15% on this kind of machine with the same
    URLs; alternating short rounds puts the drift on both alike, so a ratio is measured to a few per cent.
    """
    piece = max(1.0, duration / 3)
    mine: list[Result] = []
    theirs: list[Result] = []
    for r in range(PAIRED_ROUNDS):
        order = ((a, mine), (b, theirs)) if r % 2 == 0 else ((b, theirs), (a, mine))
        for (url, reqs), into in order:
            into.append(run_wrk(url, reqs, piece, connections, threads, timeout, headers=headers))
    return mine, theirs, piece
