"""OneMap against another checkout of itself (``bench.compare --baseline DIR``): a change's before/after.

Both servers run at once on the same database, each from its own checkout's ``.venv`` with its
own data folder (tile caches apart). Every kind timed with wrk is measured in alternated
rounds, A B B A A B (``PAIRED_ROUNDS`` of ``duration/3`` seconds each), so the drift of a
noisy machine falls on both alike; the ratio is this checkout's req/s over the baseline's.
Cold tiles are requested once each by both: each renders half of them first (the database's
pages cold) and the other half second (warm from the other server's reads).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from . import checks
from . import kinds as kindmod
from . import servers as srv
from .kinds import NA, Kind
from .loadgen import PAIRED_ROUNDS, Request, Result, alternated, combine, run_once


def start_checkout(name: str, checkout: Path, url: str, data_dir: Path, workdir: Path) -> srv.Running:
    """`onemap serve` from a checkout's own .venv (production settings, its defaults)."""
    bin_dir = checkout / ".venv" / "bin"
    if not (bin_dir / "onemap").exists():
        raise RuntimeError(f"{checkout} has no .venv/bin/onemap: run deploy/venv.sh there first")
    port = srv.free_port()
    env = srv._clean_env({"ONEMAP_DATABASE_URL": url, "ONEMAP_DATA_DIR": str(data_dir),
                          "ONEMAP_PUBLIC_URL": f"http://127.0.0.1:{port}", "ONEMAP_TILE_CACHE": "true",
                          **srv.BENCH_ACCESS, "ONEMAP_CATALOGUE": str(srv.public_catalogue(workdir / name, checkout))})
    rev = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    version = rev + ("+changes" if dirty else "")
    return srv._launch(name, [str(bin_dir / "onemap"), "serve", "--bind", f"127.0.0.1:{port}"], env, port,
                       workdir / name, "dltb", version, f"onemap serve at {version}: gunicorn sync, 2 workers")


def _alternate(a: srv.Running, b: srv.Running, reqs: list[Request], args: argparse.Namespace
               ) -> tuple[Result, Result, list[float]]:
    mine, theirs, _piece = alternated((a.url, reqs), (b.url, reqs), args.duration, args.connections, args.threads,
                                      args.timeout, checks.HEADERS)
    ratios = [x.rps / y.rps for x, y in zip(mine, theirs, strict=True) if y.rps]
    return combine(mine), combine(theirs), ratios


def run_pair(url: str, checkout: Path, baseline: Path, work: Path, facts: dict, kinds: list[Kind],
             args: argparse.Namespace, expected: dict[str, list], dem: Path | None,
             baseline_url: str | None = None) -> dict[str, dict]:
    """Figures of both servers per kind, measured in alternated rounds; ``paired`` holds the round ratios.

    ``baseline_url``: the baseline's own database (the same demo region loaded by the baseline's
    code), for a change that also changed the store's layout.
    """
    dirs = {}
    for name in ("onemap", "baseline"):
        d = work / f"data-{name}"
        shutil.rmtree(d / "tiles", ignore_errors=True)
        d.mkdir(parents=True, exist_ok=True)
        if dem and not (d / "dem.tif").exists():
            (d / "dem.tif").symlink_to(dem.resolve())
        dirs[name] = d
    a = start_checkout("onemap", checkout, url, dirs["onemap"], work)
    b = start_checkout("baseline", baseline, baseline_url or url, dirs["baseline"], work)
    out = {s.name: {"startup_s": round(s.startup_s, 2), "config": s.config, "version": s.version, "kinds": {}}
           for s in (a, b)}
    try:
        for kind in kinds:
            reqs = kindmod.requests(kind, "onemap")
            if isinstance(reqs, NA):
                for s in (a, b):
                    out[s.name]["kinds"][kind.id] = {"na": reqs.reason}
                continue
            verdicts = {}
            for s in (a, b):
                fid = kind.params[0] if kind.id == "item" else None
                want = expected.get(kind.id, [None])[0] if kind.id != "deep" else None
                verdicts[s.name] = checks.check(s.url, kind, reqs[0], want, fid, args.timeout)
            if not all(v.ok for v in verdicts.values()):
                for s in (a, b):
                    out[s.name]["kinds"][kind.id] = {"na": verdicts[s.name].reason or "the other server failed"}
                continue
            if kind.mode == "once":
                # each server renders one half of the tiles while the database's pages are cold and the
                # other half after the other server has read them: the same share of each for both
                halves = (reqs[0::2], reqs[1::2])
                parts: dict[str, list[Result]] = {"onemap": [], "baseline": []}
                for first, second, tiles in ((a, b, halves[0]), (b, a, halves[1])):
                    for s in (first, second):
                        shutil.rmtree(dirs[s.name] / "tiles", ignore_errors=True)
                        parts[s.name].append(run_once(s.url, tiles, args.connections, args.timeout,
                                                      budget_s=args.duration / 2, headers=checks.HEADERS))
                for s in (a, b):
                    out[s.name]["kinds"][kind.id] = {**combine(parts[s.name]).as_dict(),
                                                     "sample": verdicts[s.name].detail}
                continue
            if kind.zoom is not None or kind.id == "wmts":  # cached: every tile fetched once first, untimed
                for s in (a, b):
                    run_once(s.url, reqs, args.connections, timeout=1800, headers=checks.HEADERS)
            mine, theirs, ratios = _alternate(a, b, reqs, args)
            ratios.sort()
            median = ratios[len(ratios) // 2] if ratios else None
            out["onemap"]["kinds"][kind.id] = {**mine.as_dict(), "sample": verdicts["onemap"].detail,
                                               "paired": {"with": "baseline", "rounds": PAIRED_ROUNDS,
                                                          "reference_rps": round(theirs.rps, 2),
                                                          "round_ratios": [round(r, 3) for r in ratios],
                                                          "ratio": round(median, 3) if median else None}}
            out["baseline"]["kinds"][kind.id] = {**theirs.as_dict(), "sample": verdicts["baseline"].detail}
            srv_log(f"{kind.id}: {mine.rps:.1f} vs {theirs.rps:.1f} req/s (median round ratio {median:.2f})"
                    if median else f"{kind.id}: no ratio")
        for s in (a, b):
            out[s.name]["memory"] = s.memory()
    finally:
        a.stop()
        b.stop()
    return out


def srv_log(msg: str) -> None:
    import sys
    import time

    print(f"[{time.strftime('%H:%M:%S')}] versus: {msg}", file=sys.stderr, flush=True)
