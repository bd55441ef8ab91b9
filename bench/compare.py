"""Issue 7: OneMap side by side with tipg and stock pygeoapi on the same PostGIS data.

    .venv/bin/python -m bench.compare [--parcels 1000000] [--duration 20] [--connections 8]
        [--servers onemap,tipg,pygeoapi] [--kinds bbox,cql2,...] [--database URL --skip-load]
        [--scale 100000,1000000,5000000]

One command on a fresh machine: installs wrk (deploy/system-packages.sh wrk), starts a
throwaway PostgreSQL cluster, loads the demo region with `onemap demo --database URL
--parcels N` (OneMap's own layout), copies the rows OneMap serves for dltb (the survey in
force) into the plain table ``bench.dltb`` for tipg and pygeoapi (bench/tables.py),
then starts each server in turn (own venv, free loopback port, bench/servers.py), checks
a sample answer of every kind (bench/checks.py) and times it with wrk: the same
requests in each server's dialect (bench/kinds.py), ``--connections`` connections for
``--duration`` seconds, p50/p99 from wrk (bench/loadgen.py). Cold tiles are requested
once each (OneMap's tile cache emptied first); cached tiles are the same tiles again.

Prints one table (req/s, p50, p99 per kind and server, OneMap's req/s ratio to the
others, start-up time and memory) and writes bench/results/compare-<parcels>.json;
``--scale`` repeats everything per size and also prints how the figures change with
size and draws bench/results/scale.png (matplotlib in its own venv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import checks, versus
from . import kinds as kindmod
from . import servers as srv
from .common import ROOT, WORK, dump, load_demo
from .kinds import NA, Kind, next_link
from .loadgen import PAIRED_ROUNDS, Request, Result, alternated, combine, fetch, run_once, run_wrk
from .tables import ensure_plain_table, settle

RESULTS = ROOT / "bench" / "results"
ALL_KINDS = ("bbox", "bbox-crs", "limit1000", "cql2", "deep", "item", "tile-z8-cold", "tile-z8-cached",
             "tile-z12-cold", "tile-z12-cached", "tile-z14-cold", "tile-z14-cached", "compliance", "wmts")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- data ------------------------------------------------------------------------------------------
@contextmanager
def cluster_or_url(database: str | None) -> Iterator[Callable[[int], str] | str]:
    """The given database URL, or a throwaway cluster (a function making one database per size)."""
    if database:
        yield database
        return
    sys.path.insert(0, str(ROOT))
    from tests.pgcluster import start_cluster

    cluster = start_cluster()
    import psycopg2

    def make(n: int) -> str:
        conn = psycopg2.connect(cluster.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS onemap_bench_{n}")
            cur.execute(f"CREATE DATABASE onemap_bench_{n}")
        conn.close()
        return cluster.url(f"onemap_bench_{n}")

    try:
        yield make
    finally:
        cluster.stop()


def drop_database(url: str) -> None:
    import urllib.parse

    import psycopg2

    u = urllib.parse.urlsplit(url)
    conn = psycopg2.connect(urllib.parse.urlunsplit(u._replace(path="/postgres")))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {u.path.lstrip('/')} WITH (FORCE)")
    conn.close()


def table_facts(url: str) -> dict:
    """Region (extent), id range and row count of bench.dltb."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                        "(SELECT ST_Extent(geom) e FROM bench.dltb) s")
            region = tuple(float(v) for v in cur.fetchone())
            cur.execute("SELECT min(fid), max(fid), count(*) FROM bench.dltb")
            lo, hi, rows = cur.fetchone()
        return {"region": region, "fid_range": (int(lo), int(hi)), "rows": int(rows)}
    finally:
        conn.close()


def cancel_backends(url: str, application_name: str) -> None:
    """Cancel queries a stopped server left running (a client timed out; PostgreSQL goes on)."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = %s AND pid <> pg_backend_pid()", (application_name,))
    conn.close()


# ---- one server ----------------------------------------------------------------------------------
def start(name: str, url: str, data_dir: Path, workdir: Path, region: tuple,
          onemap_args: str = "") -> srv.Running:
    if name == "onemap":
        return srv.start_onemap(url, data_dir, workdir, serve_args=shlex.split(onemap_args))
    if name == "tipg":
        return srv.start_tipg(url, workdir)
    if name == "pygeoapi":
        return srv.start_pygeoapi(url, workdir, bbox=list(region))
    raise ValueError(name)


def deep_chain(base: str, first: Request, n: int, timeout: float) -> list[Request] | NA:
    """``n`` pages deep in the layer, reached the way a client pages: following ``next`` links."""
    try:
        status, _, body = fetch(base, first, timeout, checks.HEADERS)
    except TimeoutError:
        return NA(f"the first deep page ({first.path}) took more than {timeout:.0f} s")
    if status != 200:
        return NA(f"HTTP {status} for the first deep page ({first.path})")
    out: list[Request] = []
    doc = json.loads(body)
    while len(out) < n:
        nxt = next_link(doc)
        if not nxt:
            break
        out.append(Request(nxt))
        try:
            status, _, body = fetch(base, out[-1], timeout, checks.HEADERS)
        except TimeoutError:
            return NA(f"a next page took more than {timeout:.0f} s")
        if status != 200:
            return NA(f"HTTP {status} following next links")
        doc = json.loads(body)
    return out or NA(f"no next link on the page at {first.path}")


def run_server(name: str, url: str, data_dir: Path, workdir: Path, facts: dict, kinds: list[Kind],
               args: argparse.Namespace, expected: dict[str, list], every_kind: dict[str, Kind]) -> dict:
    log(f"{name}: starting")
    running = start(name, url, data_dir, workdir, facts["region"], args.onemap_args)
    out: dict = {"startup_s": round(running.startup_s, 2), "config": running.config, "version": running.version,
                 "kinds": {}}
    log(f"{name}: answered 200 after {running.startup_s:.1f} s ({running.config})")
    failed_cold: dict[int, str] = {}
    answered_cold: dict[int, list[Request]] = {}
    out["restarts"] = 0  # after timeouts; memory is then that of the last start
    try:
        for kind in kinds:
            reqs = kindmod.requests(kind, name)
            if isinstance(reqs, NA):
                out["kinds"][kind.id] = {"na": reqs.reason}
                continue
            if kind.zoom is not None and kind.zoom in failed_cold:
                out["kinds"][kind.id] = {"na": failed_cold[kind.zoom]}
                continue
            if kind.id == "deep":
                # ten pages: following the links is set-up, and costs O(offset) per page on some servers
                chain = deep_chain(running.url, reqs[0], min(args.requests, 10), args.timeout)
                if isinstance(chain, NA):
                    if not chain.reason.startswith("no next link"):
                        out["kinds"][kind.id] = {"na": chain.reason}
                        continue
                    # a server that offers no next link there is still asked for the pages by offset
                    out["kinds"][kind.id] = {"note": f"{chain.reason}: timed plain offset URLs instead"}
                    log(f"{name}: deep: {chain.reason}; timing plain offsets")
                    first = f"offset={kind.params[0]}"
                    chain = [Request(reqs[0].path.replace(first, f"offset={kind.params[0] + 100 * i}"))
                             for i in range(min(args.requests, 10))]
                reqs = chain
            if kind.id == "wmts":
                log(f"{name}: warming {len(reqs)} WMTS tiles (the first renders the basemap)")
                warm = run_once(running.url, reqs, args.connections, timeout=1800, headers=checks.HEADERS)
                out["kinds"][kind.id] = {"warm_s": round(warm.seconds, 1)}
            verdict = None
            samples = 1 if kind.group == "tiles" else min(3, len(reqs))
            for i in range(samples):
                fid = kind.params[i] if kind.id == "item" else None
                want = expected.get(kind.id, [None] * samples)[i] if kind.id != "deep" else 100
                verdict = checks.check(running.url, kind, reqs[i], want, fid, args.timeout)
                if not verdict.ok:
                    break
            assert verdict is not None
            if not verdict.ok:
                log(f"{name}: {kind.id}: n/a: {verdict.reason}")
                out["kinds"][kind.id] = {"na": verdict.reason, "sample_url": reqs[0].path}
                if kind.zoom is not None:
                    failed_cold[kind.zoom] = verdict.reason
                if verdict.timeout:  # the server is still busy with it: start afresh
                    out["restarts"] += 1
                    running.stop()
                    cancel_backends(url, "pygeoapi")
                    running = start(name, url, data_dir, workdir, facts["region"], args.onemap_args)
                continue
            if kind.mode == "once":
                if name == "onemap":
                    shutil.rmtree(data_dir / "tiles", ignore_errors=True)
                res = run_once(running.url, reqs, args.connections, args.timeout, budget_s=args.duration,
                               headers=checks.HEADERS)
                answered_cold[kind.zoom] = res.answered
            elif kind.zoom is not None:
                # cached tiles: those the cold run did not reach are fetched first (untimed), so the
                # timed run never pays for a render; a tile no server answers in time is left out
                reqs, note = _warm(running.url, reqs, answered_cold.get(kind.zoom), args)
                if not reqs:
                    out["kinds"][kind.id] = {"na": note or "no tile answered in time"}
                    continue
                res = run_wrk(running.url, reqs, args.duration, args.connections, args.threads, args.timeout,
                              headers=checks.HEADERS)
                if note:
                    res.extra["warm"] = note
            else:
                ref = kindmod.requests(every_kind[kind.paired_with], name) if kind.paired_with else None
                if ref and not isinstance(ref, NA):
                    res = run_paired(running.url, reqs, ref, kind.paired_with, args)
                else:
                    res = run_wrk(running.url, reqs, args.duration, args.connections, args.threads, args.timeout,
                                  headers=checks.HEADERS)
            entry = {**out["kinds"].get(kind.id, {}), **res.as_dict(), "sample": verdict.detail}
            out["kinds"][kind.id] = entry
            log(f"{name}: {kind.id}: {res.rps:.1f} req/s, p50 {res.p50_ms:.1f} ms, p99 {res.p99_ms:.1f} ms"
                + (f", {res.non2xx} non-2xx" if res.non2xx else "") + (f", {res.errors} errors" if res.errors else ""))
            if kind.mode == "once" and res.requests - res.non2xx == 0:
                failed_cold[kind.zoom] = "no cold tile answered in time"
            # requests abandoned by a timeout, or still in flight when wrk stopped, keep the workers and
            # the database busy long after: start afresh rather than let them slow the next kind
            if res.extra.get("timeouts") or not res.requests or res.p99_ms > 5000:
                log(f"{name}: restarting after slow or timed-out requests")
                out["restarts"] += 1
                running.stop()
                cancel_backends(url, "pygeoapi")
                running = start(name, url, data_dir, workdir, facts["region"], args.onemap_args)
        out["memory"] = running.memory()
    finally:
        running.stop()
        if name == "pygeoapi":
            cancel_backends(url, "pygeoapi")
    return out


def run_paired(url: str, reqs: list[Request], ref: list[Request], ref_id: str,
               args: argparse.Namespace) -> Result:
    """``reqs`` and the reference ``ref`` in alternated rounds (``loadgen.alternated``): the kind's figures
    over its rounds, and in ``extra["paired"]`` its req/s as a share of the reference's (a target stated
    as a ratio of two kinds of one server)."""
    mine, theirs, piece = alternated((url, reqs), (url, ref), args.duration, args.connections, args.threads,
                                     args.timeout, checks.HEADERS)
    res, base = combine(mine), combine(theirs)
    res.extra["paired"] = {"with": ref_id, "rounds": PAIRED_ROUNDS, "seconds_each": piece,
                           "reference_rps": round(base.rps, 2),
                           "round_rps": [round(r.rps, 1) for r in mine],
                           "reference_round_rps": [round(r.rps, 1) for r in theirs],
                           "ratio": round(res.rps / base.rps, 3) if base.rps else None}
    return res


def _warm(url: str, reqs: list[Request], answered: list[Request] | None,
          args: argparse.Namespace) -> tuple[list[Request], str | None]:
    """The tiles of a cached run: those answered cold, plus the rest fetched once now (3 x duration at most)."""
    if answered is None:
        return reqs, None
    done = set(answered)
    rest = [r for r in reqs if r not in done]
    if not rest:
        return reqs, None
    log(f"warming {len(rest)} tiles the cold run did not reach")
    warm = run_once(url, rest, args.connections, args.timeout, budget_s=3 * args.duration, headers=checks.HEADERS)
    done.update(warm.answered)
    kept = [r for r in reqs if r in done]
    return kept, f"{len(warm.answered)} of {len(rest)} tiles not reached cold were fetched first ({warm.seconds:.0f} s)"


# ---- one size ----------------------------------------------------------------------------------------
def run_size(n: int, args: argparse.Namespace, db: Callable[[int], str] | str) -> dict:
    made = not isinstance(db, str)
    url = db(n) if made else db  # type: ignore[operator]
    data_dir = WORK / "compare" / (f"p{n}" if made else "external")
    result: dict = {"parcels": n, "started": dt.datetime.now().isoformat(timespec="seconds"),
                    "duration_s": args.duration, "connections": args.connections, "threads": args.threads}
    try:
        if not args.skip_load:
            log(f"loading the demo region with {n:,} parcels (onemap demo --database ...)")
            shutil.rmtree(data_dir, ignore_errors=True)
            result["load_s"] = round(load_demo(url, n, data_dir), 1)
            log(f"loaded in {result['load_s']:.0f} s")
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            if args.dem and not (data_dir / "dem.tif").exists():
                os.symlink(Path(args.dem).resolve(), data_dir / "dem.tif")
        plain = ensure_plain_table(url)
        result["plain_table"] = plain
        log(f"bench.dltb: {plain['rows']:,} rows ({'created' if plain['created'] else 'kept'}, {plain['seconds']} s)")
        if not args.skip_load or plain["created"]:
            log(f"VACUUM (ANALYZE) after writing: {settle(url):.0f} s")
        facts = table_facts(url)
        result["rows"] = facts["rows"]
        if args.skip_load:
            result["parcels"] = facts["rows"]  # the database's own survey, whatever --parcels says
        result["region"] = facts["region"]
        built = kindmod.build(args.requests, facts["region"], facts["fid_range"], args.tiles,
                              deep_offset=min(kindmod.DEEP_OFFSET, facts["rows"] // 200 * 100))
        kinds = [k for k in built if k.id in args.kinds]
        expected = {k.id: [checks.expected_count(url, k, i) for i in range(min(3, len(k.params)))]
                    for k in kinds if k.id in ("bbox", "bbox-crs", "limit1000", "cql2")}
        result["kinds"] = {k.id: k.title for k in kinds}
        result["servers"] = {}
        if args.baseline:
            dem = data_dir / "dem.tif"
            result["servers"] = versus.run_pair(url, ROOT, Path(args.baseline), WORK / "compare" / "versus", facts,
                                                kinds, args, expected, dem if dem.exists() else None,
                                                args.baseline_database)
            return result
        for name in args.servers:
            try:
                result["servers"][name] = run_server(name, url, data_dir, WORK / "compare" / "run", facts, kinds,
                                                     args, expected, {k.id: k for k in built})
            except Exception as err:  # noqa: BLE001  (one server failing must not lose the others' figures)
                log(f"{name}: failed: {type(err).__name__}: {err}")
                result["servers"][name] = {"failed": f"{type(err).__name__}: {err}"[:500], "startup_s": math.nan,
                                           "config": name, "kinds": {k.id: {"na": "the server failed"} for k in kinds}}
    finally:
        if made and not args.keep:
            drop_database(url)
    return result


# ---- reporting -------------------------------------------------------------------------------------
def _cell(k: dict | None) -> str:
    if not k:
        return "-"
    if "na" in k:
        return "n/a"
    if not k.get("requests"):
        return "none answered" + (f" !{k.get('errors', 0)}" if k.get("errors") else "")
    rps = f"{k['rps']:.2f}" if k["rps"] < 10 else f"{k['rps']:.1f}" if k["rps"] < 100 else f"{k['rps']:.0f}"
    s = f"{rps}  {_ms(k['p50_ms'])}/{_ms(k['p99_ms'])}"
    bad = k.get("non2xx", 0) + k.get("errors", 0)
    return s + (f" !{bad}" if bad else "")


def _share(p: dict | None) -> str:
    if not p or p.get("ratio") is None:
        return "-"
    return f"{p['ratio']:.2f}x of {p['reference_rps']:.0f}"


def _ms(v: float | None) -> str:
    if v is None or math.isnan(v):  # nothing answered
        return "-"
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


def ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b or "na" in a or "na" in b or not b.get("rps"):
        return "-"
    return f"{a['rps'] / b['rps']:.1f}x"


def render(result: dict, markdown: bool = False) -> str:
    """The one table of a size: kinds x servers, ratios, start-up and memory; n/a reasons below.

    ``markdown``: a pipe table, as the README quotes it.
    """
    from .common import markdown_table, table

    names = list(result["servers"])
    others = [s for s in names if s != "onemap"] if "onemap" in names else []
    header = ["request kind", *[f"{s} (req/s p50/p99)" for s in names], *[f"onemap/{s}" for s in others]]
    rows, notes = [], []
    for kid, title in result["kinds"].items():
        row = [title]
        for s in names:
            k = result["servers"][s]["kinds"].get(kid)
            cell = _cell(k)
            if k and "na" in k:
                notes.append(f"{s}, {kid}: {k['na']}")
                cell = f"n/a [{len(notes)}]"
            elif k and (k.get("note") or (k.get("sample") or {}).get("empty_204")):
                notes.append(f"{s}, {kid}: " + (k.get("note") or "the tiles are empty (204): every parcel is "
                                                "smaller than a pixel at this zoom and is left out"))
                cell += f" [{len(notes)}]"
            row.append(cell)
        for s in others:
            row.append(ratio(result["servers"]["onemap"]["kinds"].get(kid), result["servers"][s]["kinds"].get(kid)))
        rows.append(row)
        pairs = [(result["servers"][s]["kinds"].get(kid) or {}).get("paired") for s in names]
        if any(pairs):
            ref = next(p["with"] for p in pairs if p)
            rows.append([f"  as a share of {ref} (alternated rounds)",
                         *[_share(p) for p in pairs], *[""] * len(others)])
    rows.append(["start-up to first 200 (s)", *[f"{result['servers'][s]['startup_s']:.1f}" for s in names],
                 *[""] * len(others)])
    mem = [result["servers"][s].get("memory", {"rss_mib": math.nan, "pss_mib": math.nan, "processes": 0})
           for s in names]
    rows.append(["memory after the run, RSS / PSS (MiB)",
                 *[f"{m['rss_mib']:.0f} / {m['pss_mib']:.0f} ({m['processes']} proc)" for m in mem],
                 *[""] * len(others)])
    head = (f"dltb, {result['rows']:,} parcels in force ({result['parcels']:,} per survey); "
            f"{result['connections']} connections, {result['duration_s']:.0f} s per kind (wrk, different URLs "
            "cycled; cold tiles: each once); p50/p99 in ms; '!N' = N non-2xx or failed requests")
    lines = [head, "", markdown_table(rows, header)] if markdown else [head, table(rows, header)]
    if notes:
        lines.append("")
        lines += [f"[{i}] {t}" + ("  " if markdown else "") for i, t in enumerate(notes, 1)]
    vers = ", ".join(f"{s}: {result['servers'][s]['config']}" for s in names)
    lines.append(f"\nservers: {vers}")
    return "\n".join(lines)


def render_scale(results: list[dict]) -> str:
    from .common import table

    sizes = [r["parcels"] for r in results]
    header = ["request kind", "server", *[f"{n:,}: req/s p50/p99" for n in sizes]]
    rows = []
    kinds = results[0]["kinds"]
    for kid, title in kinds.items():
        for s in results[0]["servers"]:
            rows.append([title, s, *[_cell(r["servers"].get(s, {}).get("kinds", {}).get(kid)) for r in results]])
    loads = ", ".join(f"{r['parcels']:,}: {r['load_s']:.0f} s" for r in results if "load_s" in r)
    return ("how throughput and latency change with size\n" + table(rows, header)
            + (f"\n\nloading the demo region (onemap demo --database): {loads}" if loads else ""))


def plot(results: list[dict], out: Path) -> Path | None:
    """req/s against parcels, one panel per kind, one line per server (matplotlib in bench/.work/venvs/plot)."""
    data = out.with_suffix(".json")
    try:
        bin_dir = srv.ensure_venv("plot", log)
    except Exception as err:  # noqa: BLE001  (no plot is no reason to lose the figures)
        log(f"no plot: {err}")
        return None
    r = subprocess.run([str(bin_dir / "python"), str(ROOT / "bench" / "plot.py"), str(data), str(out)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        log(f"no plot: {r.stderr.strip()[-400:]}")
        return None
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1_000_000, help="parcels per survey (default 1,000,000)")
    ap.add_argument("--scale", help="comma-separated sizes, e.g. 100000,1000000,5000000 (overrides --parcels)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of load per kind (default 20)")
    ap.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--servers", default=",".join(srv.SERVERS), help="onemap,tipg,pygeoapi")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help=f"any of {','.join(ALL_KINDS)}")
    ap.add_argument("--requests", type=int, default=40, help="different URLs per kind (default 40)")
    ap.add_argument("--tiles", type=int, default=200, help="most distinct tiles per zoom level (default 200)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds a single request may take (default 60)")
    ap.add_argument("--database", help="use this database (loaded with the demo unless --skip-load)")
    ap.add_argument("--skip-load", action="store_true", help="the database already holds the demo region")
    ap.add_argument("--dem", help="with --skip-load: the demo's DEM (basemap relief), e.g. /tmp/bigdata/var/dem.tif")
    ap.add_argument("--keep", action="store_true", help="keep each size's database (throwaway cluster only)")
    ap.add_argument("--onemap-args", default="", help="extra `onemap serve` options, e.g. \"--workers 3 --threads 4\"")
    ap.add_argument("--baseline", metavar="CHECKOUT",
                    help="time this checkout's OneMap against another checkout's (its own .venv), in alternated "
                         "rounds on the same database: a change's before/after (bench/versus.py)")
    ap.add_argument("--baseline-database", metavar="URL",
                    help="with --baseline: the baseline's own database holding the same demo region (loaded by "
                         "the baseline's `onemap demo`), when the change altered the store's layout")
    ap.add_argument("--out", help="results folder (default bench/results)")
    ap.add_argument("--markdown", metavar="RESULTS_JSON",
                    help="print the table of a results file (compare-<parcels>.json) as Markdown; runs nothing")
    args = ap.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [s for s in args.servers if s not in srv.SERVERS] + [k for k in args.kinds if k not in ALL_KINDS]
    if bad:
        ap.error(f"unknown server or kind: {', '.join(bad)}")
    args.sizes = [int(v.replace("_", "")) for v in args.scale.split(",")] if args.scale else [args.parcels]
    if args.database and len(args.sizes) > 1:
        ap.error("--scale makes one database per size: it cannot be combined with --database")
    if args.skip_load and not args.database:
        ap.error("--skip-load needs --database")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(render(json.loads(Path(args.markdown).read_text(encoding="utf-8")), markdown=True))
        return 0
    out_dir = Path(args.out) if args.out else RESULTS
    subprocess.run([str(ROOT / "deploy" / "system-packages.sh"), "wrk"], check=True)
    results = []
    with cluster_or_url(args.database) as db:
        for n in args.sizes:
            res = run_size(n, args, db)
            results.append(res)
            dump(out_dir / f"compare-{res['parcels']}{'-versus' if args.baseline else ''}.json", res)
            print("\n" + render(res) + "\n", flush=True)
    if len(results) > 1:
        dump(out_dir / "scale.json", results)
        print(render_scale(results), flush=True)
        png = plot(results, out_dir / "scale.png")
        if png:
            print(f"\nplot: {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
    name = "scale.json" if len(results) > 1 else f"compare-{results[0]['parcels']}{'-versus' if args.baseline else ''}.json"
    print(f"results: {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
