"""Issue 3: latency of feature pages on a million-parcel PostGIS region, served by gunicorn.

    .venv/bin/python -m bench.features_pg [--parcels 1000000] [--database URL] [--rounds 3]

Builds a throwaway PostGIS cluster (or uses --database, skipping the load when it already
holds the demo), loads the demo region, starts `onemap serve` and times each request kind
over a list of different URLs. Latencies are also given as a ratio to /conformance (a
static document through the same stack) measured in the same run, because absolute
milliseconds on shared machines drift.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse

from .common import WORK, bboxes, load_demo, median, pct, postgis, sequential_latencies, start_onemap, table

CENTER = (117.066, 31.483)  # the demo's central city


def kinds(n: int) -> dict[str, list[str]]:
    q = urllib.parse.quote
    boxes = bboxes(CENTER, 0.005, n, 0.15)
    big = bboxes(CENTER, 0.05, n, 0.1, seed=2)
    codes = ["0101", "0103", "0301", "0702", "1101"]
    return {
        "reference: /conformance": ["/conformance"] * n,
        "first page (limit 10)": ["/collections/dltb/items"] * n,
        "first page (limit 100)": ["/collections/dltb/items?limit=100"] * n,
        "small bbox (~1 km, limit 100)": [f"/collections/dltb/items?limit=100&bbox={b}" for b in boxes],
        "larger bbox (~10 km, limit 100)": [f"/collections/dltb/items?limit=100&bbox={b}" for b in big],
        "filtered CQL2 (limit 100)": [
            "/collections/dltb/items?limit=100&filter=" + q(f"DLBM='{codes[i % 5]}' AND TBMJ > {1000 + 37 * i}")
            for i in range(n)],
        "property filter (limit 100)": [f"/collections/dltb/items?limit=100&DLBM={codes[i % 5]}" for i in range(n)],
        "bbox in EPSG:4490 output": [f"/collections/dltb/items?limit=100&crs=EPSG:4490&bbox={b}" for b in boxes],
        "keyset page deep in the layer": [f"/collections/dltb/items?limit=100&offset=900000&after={1_900_000 + 97 * i}"
                                          for i in range(n)],
        "single item": [f"/collections/dltb/items/{1_000_500 + 1013 * i}" for i in range(n)],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--database", help="reuse this database (loaded with the demo unless --skip-load)")
    ap.add_argument("--skip-load", action="store_true", help="the database already holds the demo region")
    ap.add_argument("--requests", type=int, default=40, help="different URLs per request kind")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    data_dir = WORK / "features_pg"
    with postgis(args.database) as url:
        if not args.skip_load:
            secs = load_demo(url, args.parcels, data_dir)
            print(f"loaded the demo region ({args.parcels:,} parcels) into PostGIS in {secs:.0f} s", flush=True)
        server = start_onemap(url, data_dir)
        try:
            print(f"onemap serve (gunicorn, 2 workers) answered after {server.started_s:.1f} s", flush=True)
            sets = kinds(args.requests)
            sequential_latencies(server.url, [p for paths in sets.values() for p in paths[:5]])  # warm
            results = {name: sequential_latencies(server.url, paths, args.rounds) for name, paths in sets.items()}
        finally:
            server.stop()
    ref = median(results["reference: /conformance"])
    rows = [[name, f"{median(v):.1f}", f"{pct(v, 95):.1f}", f"{max(v):.1f}", f"{median(v) / ref:.1f}x"]
            for name, v in results.items()]
    print()
    print(f"dltb on PostGIS, {args.parcels:,} parcels per survey; {args.requests} different URLs x {args.rounds} rounds "
          "per kind, one client, sequential")
    print(table(rows, ["request kind", "p50 ms", "p95 ms", "max ms", "p50 / reference"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
