"""Issue 5: compliance-review latency and site-selection time on a million-parcel PostGIS region.

    .venv/bin/python -m bench.processes_pg [--parcels 1000000] [--database URL --skip-load]

Loads the demo region into a throwaway PostGIS cluster (or uses --database), starts `onemap
serve` (gunicorn, 2 workers) and times synchronous executions over HTTP: compliance-review
of different 1 km² squares in the central city (result JSON, and with the HTML report),
and site-selection over one county-level district. Each figure is also given as a ratio to
GET /conformance measured in the same run, because absolute times on shared machines drift.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse

from .common import WORK, load_demo, median, pct, postgis, sequential_latencies, start_onemap, table

CENTER = (117.066, 31.483)  # the demo's central city
KM_LAT = 1 / 111.0  # degrees of latitude per km
KM_LON = KM_LAT / 0.8527  # ... of longitude at 31.5°N


def squares(n: int, seed: int = 5, spread: float = 0.12) -> list[dict]:
    """``n`` different 1 km² squares around the central city."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = CENTER[0] + rng.uniform(-spread, spread)
        y = CENTER[1] + rng.uniform(-spread, spread)
        dx, dy = KM_LON / 2, KM_LAT / 2
        out.append({"type": "Polygon", "coordinates": [[[x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy],
                                                        [x - dx, y + dy], [x - dx, y - dy]]]})
    return out


def post_latencies(base: str, process: str, bodies: list[dict]) -> tuple[list[float], list[dict]]:
    """Milliseconds per synchronous execution, one persistent connection; and the answers."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    times, answers = [], []
    for body in bodies:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        conn.request("POST", f"/processes/{process}/execution", body=data,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        content = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError(f"{process}: HTTP {r.status}: {content[:300]!r}")
        answers.append(json.loads(content) if r.getheader("Content-Type", "").endswith("json") else {})
    conn.close()
    return times, answers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--database", help="reuse this database (loaded with the demo unless --skip-load)")
    ap.add_argument("--skip-load", action="store_true", help="the database already holds the demo region")
    ap.add_argument("--requests", type=int, default=40, help="different 1 km² squares")
    ap.add_argument("--district", default="990102", help="region code of the site-selection search")
    args = ap.parse_args(argv)
    data_dir = WORK / "processes_pg"
    with postgis(args.database) as url:
        if not args.skip_load:
            secs = load_demo(url, args.parcels, data_dir)
            print(f"loaded the demo region ({args.parcels:,} parcels) into PostGIS in {secs:.0f} s", flush=True)
        elif not (data_dir / "dem.tif").exists():
            sys.exit(f"--skip-load needs the demo DEM at {data_dir / 'dem.tif'} (from the run that loaded it)")
        server = start_onemap(url, data_dir)
        try:
            base = server.url
            boxes = squares(args.requests)
            review = [{"inputs": {"boundary": b, "land_use": "1001"}} for b in boxes]
            report = [{"inputs": {"boundary": b, "land_use": "0701"},
                       "outputs": {"report": {"format": {"mediaType": "text/html"}}}} for b in boxes]
            post_latencies(base, "compliance-review", review[:3])  # warm both workers
            ref = sequential_latencies(base, ["/conformance"] * args.requests)
            t_review, answers = post_latencies(base, "compliance-review", review)
            t_report, _ = post_latencies(base, "compliance-review", report)
            ref += sequential_latencies(base, ["/conformance"] * args.requests)
            sel = {"inputs": {"area": args.district, "land_use": ["1001", "0701"], "min_area_m2": 10_000,
                              "max_slope_deg": 15, "limit": 20}}
            near = {"inputs": {**sel["inputs"], "near": {"layer": "dltb", "property": "DLBM", "values": ["0601"],
                                                         "distance_m": 1000}}}
            t_sel, sel_answers = post_latencies(base, "site-selection", [sel, sel, sel])
            t_near, near_answers = post_latencies(base, "site-selection", [near, near, near])
        finally:
            server.stop()
    r = median(ref)
    feats = [sum(len(c["features"]) for c in a["checks"]) for a in answers]
    rows = [
        ["reference: GET /conformance", f"{median(ref):.1f}", f"{pct(ref, 95):.1f}", "1.0x"],
        ["compliance-review, 1 km², JSON", f"{median(t_review):.0f}", f"{pct(t_review, 95):.0f}",
         f"{median(t_review) / r:.0f}x"],
        ["compliance-review, 1 km², HTML report", f"{median(t_report):.0f}", f"{pct(t_report, 95):.0f}",
         f"{median(t_report) / r:.0f}x"],
        [f"site-selection, district {args.district}", f"{median(t_sel):.0f}", f"{max(t_sel):.0f}",
         f"{median(t_sel) / r:.0f}x"],
        [f"site-selection, district {args.district} + proximity", f"{median(t_near):.0f}", f"{max(t_near):.0f}",
         f"{median(t_near) / r:.0f}x"],
    ]
    print()
    print(f"PostGIS, {args.parcels:,} parcels per survey; {args.requests} different 1 km² squares, one client, "
          "sequential, synchronous execution (site selection: 3 runs, max instead of p95)")
    print(table(rows, ["execution", "p50 ms", "p95 ms", "p50 / reference"]))
    s = sel_answers[0]["x-onemap"]["summary"]
    print(f"\ncompliance: {median(feats):.0f} overlapping features per square (median); site selection found "
          f"{sel_answers[0]['numberMatched']} sites ({s['planned_plots']} planned plots, {s['connected_sites']} "
          f"connected, {s['search_area']['ha']:.0f} ha searched); with proximity "
          f"{near_answers[0]['numberMatched']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
