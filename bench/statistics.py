"""Issue 17: statistics of the whole survey and a county's indicator set on a million-parcel PostGIS region.

    .venv/bin/python -m bench.statistics [--parcels 1000000] [--database URL --skip-load] [--rounds 5]

Loads the demo region into a throwaway PostGIS cluster (or uses --database), then times, in
alternated rounds (the order reversed every other round; medians over the rounds):

1. the survey in force on --day summed by township (坐落单位代码, 9 digits) and DLBM: OneMap's
   ``statistics()`` in this process on a warm store tuned as the server's, side by side with the same
   aggregation as one SQL statement run through ``psql`` (the stored ``onemap_m2``; the same with
   ``max_parallel_workers_per_gather = 0`` as OneMap's connections; the entries in force found by the
   statement itself; and ``ST_Area(geom::geography)`` measured per row instead of the stored area).
   Every variant's rows are checked against OneMap's first (area within 1e-6 relative, or the 0.01 m²
   OneMap rounds to; counts equal);
2. a county's indicator set (every indicator of --region on --day): in this process, cold (a new
   ``IndicatorService``: no value cached) and warm (the same service again), and over HTTP from
   ``onemap serve`` (gunicorn, its default workers, ``bench.servers.BENCH_ACCESS``) as an admin, one
   GET /indicators/{code}?region=..&datetime=.. after another: cold (after a registry change, which
   empties every worker's cache) and warm (passes after it);
3. peak memory: this process (it runs the in-process part), and the server's processes (VmHWM, and
   RSS/PSS sampled over the run).

Part 1 also times the same question over HTTP (``GET /collections/dltb/statistics``, its rows checked
against the in-process ones), and the question ``/map``'s statistics panel asks for a view: the survey
by DLBM within a box, here the county's extent (in process and over HTTP, the same rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import resource
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from .common import ROOT, WORK, load_demo, median, postgis, table

DAY = dt.date(2024, 1, 1)
COUNTY = "990121"
TOWNSHIP_DIGITS = 9
REL_TOL = 1e-6
ABS_TOL = 0.01  # OneMap rounds m² to 0.01
WARM_PASSES = 6  # HTTP passes after each cold one: each worker has its own cache, filled when it answers
RESULTS = ROOT / "bench" / "results"


# ---- the SQL ------------------------------------------------------------------------------------
def in_force_sql(day: dt.date) -> str:
    """The survey entries in force on ``day`` (the registry's own table)."""
    d = day.isoformat()
    return ("SELECT p.id::varchar FROM onemap.plans p WHERE p.type = 'survey' AND p.status = 'filed' "
            f"AND p.valid_from <= DATE '{d}' AND (p.valid_to IS NULL OR p.valid_to > DATE '{d}')")


def survey_sql(plan_filter: str, area: str = "onemap_m2") -> str:
    """The whole survey by township and DLBM, as one statement."""
    return (f'SELECT substr("ZLDWDM", 1, {TOWNSHIP_DIGITS}) AS township, "DLBM", SUM({area}) AS m2, COUNT(*) AS n '
            f"FROM onemap.dltb WHERE {plan_filter} GROUP BY 1, 2 ORDER BY 1, 2")


def literal_ids(ids: list[str]) -> str:
    return "plan_id IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in ids) + ")"


@dataclass
class Variant:
    key: str
    label: str
    sql: str
    settings: tuple[str, ...] = ()


def sql_variants(ids: list[str], day: dt.date) -> list[Variant]:
    lit = literal_ids(ids)
    return [
        Variant("psql", "psql: SUM(onemap_m2), entries in force named", survey_sql(lit)),
        Variant("psql-serial", "psql: the same, max_parallel_workers_per_gather=0 (as OneMap's)", survey_sql(lit),
                ("SET max_parallel_workers_per_gather = 0",)),
        Variant("psql-inforce", "psql: SUM(onemap_m2), entries found in the statement",
                survey_sql(f"plan_id = ANY (ARRAY({in_force_sql(day)}))")),
        Variant("psql-st-area", "psql: SUM(ST_Area(geom::geography)), entries named",
                survey_sql(lit, "ST_Area(geom::geography)")),
    ]


def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    sys.path.insert(0, str(ROOT))
    from tests.pgcluster import pg_bin

    bindir = pg_bin()
    if bindir is None or not (bindir / "psql").exists():
        raise RuntimeError("psql is not installed (deploy/system-packages.sh installs PostgreSQL)")
    return str(bindir / "psql")


def run_psql(url: str, sql: str, settings: tuple[str, ...] = ()) -> tuple[float, list[list[str]]]:
    """The statement's time as psql's ``\\timing`` reports it (ms, its round trip without connecting) and its rows."""
    cmd = [psql_bin(), url, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for s in settings:
        cmd += ["-c", s]
    cmd += ["-c", "\\timing on", "-c", sql]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()[-800:]}")
    rows, ms = [], None
    for line in r.stdout.splitlines():
        if line.startswith("Time: "):
            ms = float(line.split()[1])
        elif line.strip():
            rows.append(line.split("\t"))
    if ms is None:
        raise RuntimeError("psql printed no timing")
    return ms, rows


def check_rows(name: str, onemap: dict[tuple[str, str], tuple[float, int]], rows: list[list[str]]
               ) -> tuple[float, float]:
    """The largest absolute (m²) and relative differences of ``rows`` (psql's, rounded to 0.01 m² as
    OneMap's are) from OneMap's; an error past the tolerance."""
    theirs = {(r[0], r[1]): (float(r[2]), int(r[3])) for r in rows}
    if set(theirs) != set(onemap):
        raise SystemExit(f"{name}: groups differ from OneMap's: {sorted(set(theirs) ^ set(onemap))[:5]}")
    worst_abs = worst_rel = 0.0
    for key, (m2, n) in onemap.items():
        t_m2, t_n = theirs[key]
        diff = abs(m2 - round(t_m2, 2))
        if t_n != n or diff > max(REL_TOL * max(abs(m2), abs(t_m2)), ABS_TOL):
            raise SystemExit(f"{name}: {key} differs: OneMap {m2} m² ({n}), SQL {t_m2} m² ({t_n})")
        worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / max(abs(t_m2), 1e-9))
    return worst_abs, worst_rel


# ---- HTTP ---------------------------------------------------------------------------------------
def get_json(base: str, path: str, token: str) -> tuple[float, Any]:
    """(ms, decoded body) of one GET on a new connection (gunicorn's sync workers close each one)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
    finally:
        conn.close()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:300]!r}")
    return ms, json.loads(body)


def http_pass(base: str, paths: list[str], token: str) -> tuple[float, list[Any]]:
    """Each path in turn: the summed ms and the answers."""
    total, answers = 0.0, []
    for p in paths:
        ms, doc = get_json(base, p, token)
        total += ms
        answers.append(doc)
    return total, answers


def indicator_paths(codes: list[str], region: str, day: dt.date) -> list[str]:
    return [f"/indicators/{c}?region={region}&datetime={day.isoformat()}" for c in codes]


def statistics_path(day: dt.date, group_by: str, bbox: tuple[float, ...] | None = None) -> str:
    """The statistics GET form's path for dltb on ``day``."""
    query = {"group_by": group_by, "datetime": day.isoformat(), "f": "json"}
    if bbox is not None:
        query["bbox"] = ",".join(f"{v:.6f}" for v in bbox)
    return "/collections/dltb/statistics?" + urllib.parse.urlencode(query)


def same_rows(name: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """The HTTP answer holds the in-process rows (m² to the 0.01 both round to, counts equal)."""
    def index(rows: list[dict[str, Any]]) -> dict[tuple, tuple[float, int]]:
        return {tuple(str(r[k]) for k in keys): (float(r["m2"]), int(r["count"])) for r in rows}
    a, b = index(ours), index(theirs)
    if a.keys() != b.keys() or any(abs(a[k][0] - b[k][0]) > 0.011 or a[k][1] != b[k][1] for k in a):
        raise SystemExit(f"{name}: the HTTP rows differ from the in-process ones")


# ---- memory -------------------------------------------------------------------------------------
def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mib(pid: int) -> float:
    """A process's peak resident set (VmHWM) in MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemorySampler:
    """The largest RSS and PSS summed over a process group, sampled every ``every`` s in a thread."""

    def __init__(self, pgid: int, every: float = 0.25) -> None:
        from .servers import group_memory

        self._read = group_memory
        self.pgid, self.every = pgid, every
        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            m = self._read(self.pgid)
            self.rss, self.pss = max(self.rss, m["rss_mib"]), max(self.pss, m["pss_mib"])
            self._stop.wait(self.every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# ---- the run ------------------------------------------------------------------------------------
@dataclass
class Samples:
    ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, ms: float) -> None:
        self.ms.setdefault(key, []).append(ms)

    def med(self, key: str) -> float:
        return median(self.ms.get(key, []))


def admin_token(store: Any, name: str = "bench-admin") -> str:
    """A bearer token for an administrator (the same tables ``onemap user add`` / ``onemap token create`` use)."""
    if store.access.user(name) is None:
        store.access.add_user(name, "admin")
    token: str = store.access.create_token(name, label="bench.statistics")
    return token


def run(url: str, args: argparse.Namespace, data_dir: Path) -> str:
    import shapely

    from onemap.config.settings import get_settings
    from onemap.providers.indicators import IndicatorService
    from onemap.providers.regions import Regions
    from onemap.providers.statistics import StatisticsQuery, statistics
    from onemap.providers.store import open_store

    from .servers import start_onemap

    day = dt.date.fromisoformat(args.day)
    store = open_store(url, **get_settings().store_options())  # tuned as the server's
    layer = store.catalogue.layer("dltb")
    query = StatisticsQuery(layer, day, group_by=("region:township", "DLBM"))
    rss_start = peak_rss_mib()

    def onemap_stats() -> list[dict[str, Any]]:
        return statistics(store, query)

    # a map view over the county: the box of its outline (areas cut to it, as the panel asks)
    view = tuple(round(v, 6) for v in Regions(store, day).get(args.region).outline.bounds)
    view_query = StatisticsQuery(layer, day, group_by=("DLBM",), boundary=shapely.box(*view))

    def onemap_view() -> list[dict[str, Any]]:
        return statistics(store, view_query)

    # the survey entries in force, as the registry's table gives them (OneMap resolves the same in memory)
    ids = [r[0] for r in run_psql(url, in_force_sql(day) + " ORDER BY 1")[1]]
    variants = sql_variants(ids, day)

    # checks first: every SQL variant against OneMap's rows
    t0 = time.perf_counter()
    rows = onemap_stats()
    first_ms = (time.perf_counter() - t0) * 1000
    ours = {(str(r["region"]), str(r["DLBM"])): (float(r["m2"]), int(r["count"])) for r in rows}
    worst = {v.key: check_rows(v.label, ours, run_psql(url, v.sql, v.settings)[1]) for v in variants}
    total_m2 = sum(m2 for m2, _ in ours.values())
    total_n = sum(n for _, n in ours.values())

    def indicators(service: Any) -> list[dict[str, Any]]:
        return service.evaluate(Regions(store, day).get(args.region), day)

    values = indicators(IndicatorService(store))
    codes = [v["code"] for v in values]
    expected = {v["code"]: v["value"] for v in values}

    token = admin_token(store)
    server = start_onemap(url, data_dir, WORK / "statistics" / "run")
    samples = Samples()
    per_indicator: dict[str, list[float]] = {}
    try:
        paths = indicator_paths(codes, args.region, day)
        _, answers = http_pass(server.url, paths, token)  # every worker imported and connected; values checked
        for code, doc in zip(codes, answers):
            got = doc["values"][0]["value"]
            if got != expected[code]:
                raise SystemExit(f"/indicators/{code}: {got} over HTTP, {expected[code]} in process")
        stats_path = statistics_path(day, "region:township,DLBM")
        view_path = statistics_path(day, "DLBM", view)
        same_rows("GET statistics", rows, get_json(server.url, stats_path, token)[1]["rows"], ("region", "DLBM"))
        view_rows = onemap_view()
        same_rows("GET statistics?bbox", view_rows, get_json(server.url, view_path, token)[1]["rows"], ("DLBM",))

        def unit_onemap() -> None:
            t = time.perf_counter()
            onemap_stats()
            samples.add("onemap", (time.perf_counter() - t) * 1000)

        def unit_sql(v: Variant) -> Callable[[], None]:
            def go() -> None:
                samples.add(v.key, run_psql(url, v.sql, v.settings)[0])
            return go

        def unit_ind_inproc() -> None:
            service = IndicatorService(store)
            t = time.perf_counter()
            indicators(service)
            samples.add("ind-cold", (time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            indicators(service)
            samples.add("ind-warm", (time.perf_counter() - t) * 1000)
            for code in codes:  # each indicator alone, cold: which one costs the set its time
                t = time.perf_counter()
                IndicatorService(store).evaluate(Regions(store, day).get(args.region), day, [code])
                per_indicator.setdefault(code, []).append((time.perf_counter() - t) * 1000)

        def unit_ind_http() -> None:
            store.transaction(lambda tx: None)  # a registry change: every worker's cached values are stale
            ms, _ = http_pass(server.url, paths, token)
            samples.add("http-cold", ms)
            for i in range(WARM_PASSES):
                ms, _ = http_pass(server.url, paths, token)
                samples.add("http-warm1" if i == 0 else "http-warm", ms)

        def unit_stats_http() -> None:
            samples.add("stats-http", get_json(server.url, stats_path, token)[0])

        def unit_view() -> None:
            t = time.perf_counter()
            onemap_view()
            samples.add("view", (time.perf_counter() - t) * 1000)
            samples.add("view-http", get_json(server.url, view_path, token)[0])

        units: list[Callable[[], None]] = [unit_onemap, *(unit_sql(v) for v in variants), unit_ind_inproc,
                                           unit_ind_http, unit_stats_http, unit_view]
        with MemorySampler(server.proc.pid) as sampler:
            for rnd in range(args.rounds):
                for unit in (units if rnd % 2 == 0 else units[::-1]):
                    unit()
                print(f"round {rnd + 1}/{args.rounds}: OneMap {samples.ms['onemap'][-1]:.0f} ms, "
                      f"psql {samples.ms['psql'][-1]:.0f} ms, indicators cold {samples.ms['ind-cold'][-1]:.0f} ms "
                      f"(HTTP {samples.ms['http-cold'][-1]:.0f} ms)", flush=True)
        from .servers import _group_pids

        hwm = sorted((vm_hwm_mib(p) for p in _group_pids(server.proc.pid)), reverse=True)
    finally:
        server.stop()
        store.close()
    rss_peak = peak_rss_mib()

    # ---- the report --------------------------------------------------------------------------------
    om = samples.ms["onemap"]

    def ratio(key: str) -> str:
        """OneMap's time over this one's, the median of the rounds' ratios."""
        rs = [a / b for a, b in zip(om, samples.ms[key])]
        return f"{median(rs):.2f}x"

    def spread(key: str) -> str:
        xs = samples.ms[key]
        return f"{min(xs):.0f}-{max(xs):.0f}"

    n_rounds = args.rounds
    lines = [(f"PostGIS, {args.parcels:,} parcels per survey; {n_rounds} alternated rounds, medians "
              f"(min-max); {dt.date.today().isoformat()}"), ""]
    lines.append(f"1. The survey in force on {day} ({len(ids)} entries: {', '.join(ids)}) by township and DLBM: "
                 f"{len(ours)} groups, {total_n:,} parcels, {total_m2 / 1e6:,.1f} km²")
    rows1 = [["OneMap statistics() in process (warm store, server tuning)", f"{median(om):.0f}", spread("onemap"),
              "1.00x", "-"]]
    for v in variants:
        rows1.append([v.label, f"{samples.med(v.key):.0f}", spread(v.key), ratio(v.key),
                      f"{worst[v.key][0]:.2f} / {worst[v.key][1]:.1e}"])
    rows1.append(["OneMap over HTTP: GET /collections/dltb/statistics", f"{samples.med('stats-http'):.0f}",
                  spread("stats-http"), ratio("stats-http"), "same rows"])
    lines.append(table(rows1, ["how", "ms", "min-max", "OneMap / this", "max diff m² / rel."]))
    view_m2 = sum(float(r["m2"]) for r in view_rows)
    lines.append(f"1b. /map's statistics panel over a view of {args.region}'s extent "
                 f"(bbox {','.join(map(str, view))}): by DLBM, {len(view_rows)} groups, {view_m2 / 1e6:,.1f} km² "
                 "cut to the box")
    lines.append(table([["OneMap statistics() in process", f"{samples.med('view'):.0f}", spread("view")],
                        ["OneMap over HTTP: GET ...statistics?bbox=", f"{samples.med('view-http'):.0f}",
                         spread("view-http")]], ["how", "ms", "min-max"]))
    lines.append(f"(the first OneMap call of the run, before any round: {first_ms:.0f} ms; psql ms is its \\timing: "
                 "the statement's round trip, without starting psql or connecting)")
    lines.append("")
    lines.append(f"2. The indicator set of {args.region} on {day}: {len(codes)} indicators ({', '.join(codes)})")
    rows2 = [
        ["in process, cold (a new IndicatorService)", f"{samples.med('ind-cold'):.0f}", spread("ind-cold")],
        ["in process, warm (the same service again)", f"{samples.med('ind-warm'):.2f}",
         f"{min(samples.ms['ind-warm']):.2f}-{max(samples.ms['ind-warm']):.2f}"],
        [f"HTTP, cold (after a registry change; {len(codes)} GETs in turn)", f"{samples.med('http-cold'):.0f}",
         spread("http-cold")],
        ["HTTP, the first pass after the cold one (a worker may not have computed yet)",
         f"{samples.med('http-warm1'):.0f}", spread("http-warm1")],
        [f"HTTP, warm (passes 2-{WARM_PASSES} after each cold one)", f"{samples.med('http-warm'):.0f}",
         spread("http-warm")],
    ]
    lines.append(table(rows2, ["indicator set", "ms", "min-max"]))
    slow = sorted(((median(v), k) for k, v in per_indicator.items()), reverse=True)
    lines.append("each indicator alone, cold, in process (median ms): "
                 + ", ".join(f"{k} {m:.0f}" for m, k in slow))
    lines.append("")
    lines.append("3. Peak memory")
    rows3 = [
        ["this process (in-process statistics and indicators)", f"{rss_peak:.0f}",
         f"{rss_start:.0f} after opening the store"],
        ["onemap serve: each process's peak (VmHWM)", " + ".join(f"{h:.0f}" for h in hwm),
         f"{len(hwm)} processes, summed {sum(hwm):.0f}"],
        ["onemap serve: group RSS / PSS, sampled every 0.25 s", f"{sampler.rss:.0f} / {sampler.pss:.0f}", ""],
    ]
    lines.append(table(rows3, ["process", "MiB", ""]))
    lines.append(f"\nserver: {server.config}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--database", help="reuse this database (loaded with the demo unless --skip-load)")
    ap.add_argument("--skip-load", action="store_true", help="the database already holds the demo region")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--day", default=DAY.isoformat(), help="the date the survey and plans in force are taken on")
    ap.add_argument("--region", default=COUNTY, help="the county whose indicator set is timed")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of statistics-<parcels>.txt")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds: at least 1")
    data_dir = WORK / "statistics" / "data"
    with postgis(args.database) as url:
        if not args.skip_load:
            secs = load_demo(url, args.parcels, data_dir)
            print(f"loaded the demo region ({args.parcels:,} parcels) into PostGIS in {secs:.0f} s", flush=True)
        report = run(url, args, data_dir)
    print()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"statistics-{args.parcels}.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
