"""Memory and time of item downloads (issue 15): does a download stay in roughly constant memory?

Builds the demo region in a GeoPackage (``--parcels``), then for each format and size runs one
download in a fresh Python process through the WSGI app (the same code ``onemap serve`` runs),
after one small download of the same format (so that GDAL, pyarrow and the app's caches are
loaded) and reads the body in 64 KiB pieces as a client would, keeping none. Printed per run:
the growth of the process's peak RSS during the download (``resource.getrusage``: C
allocations by GDAL and SQLite included), the peak of Python allocations (``tracemalloc``), the
body size and the wall time; then the same download again, with the current RSS sampled every 2 ms:
its peak above where it stood before leaves out what the store's page cache took the first time
(SQLite keeps up to 64 MiB a connection). Run::

    .venv/bin/python -m bench.downloads [--parcels 20000] [--sizes 1000,10000] [--formats csv,gpkg]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, os, resource, sys, threading, time, tracemalloc
from onemap.config.settings import Settings
from onemap.server.app import create_app
from tests.auth import admin_client

data_dir, fmt, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = admin_client(create_app(Settings(data_dir=data_dir, public_url="http://bench")))

def run(limit):
    # above the page maximum (limit is capped there): the whole layer, --parcels features
    query = f"&limit={limit}" if limit <= 10_000 else ""
    r = client.get(f"/collections/dltb/items?f={fmt}{query}", buffered=False)
    assert r.status_code == 200, r.status_code
    n = 0
    for chunk in r.response:
        n += len(chunk)
    r.close()
    return n

run(10)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
nbytes = run(size)
seconds = time.perf_counter() - t0
_, py_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

# again, the store's page cache (SQLite's, up to 64 MiB a connection) now holding these rows: the
# current RSS sampled every 2 ms, its peak above where it stood before (the download's own memory)
page = os.sysconf("SC_PAGE_SIZE")
def current():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page
peak, done = [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], current())
        time.sleep(0.002)
base = current()
sampler = threading.Thread(target=sample)
sampler.start()
t1 = time.perf_counter()
run(size)
seconds_again = time.perf_counter() - t1
done.set()
sampler.join()
print(json.dumps({"format": fmt, "features": size, "bytes": nbytes, "seconds": round(seconds, 2),
                  "rss_growth_mib": round((rss1 - rss0) / 1024, 1), "rss_peak_mib": round(rss1 / 1024, 1),
                  "python_peak_mib": round(py_peak / 2**20, 1), "seconds_again": round(seconds_again, 2),
                  "rss_above_start_again_mib": round((peak[0] - base) / 2**20, 1)}))
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parcels", type=int, default=20_000)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--formats", default="csv,gpkg")
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="onemap-bench-dl-") as data:
        onemap = Path(sys.executable).parent / "onemap"
        subprocess.run([str(onemap), "demo", "--parcels", str(args.parcels), "--quiet"], check=True, cwd=root,
                       env={**os.environ, "ONEMAP_DATA_DIR": data})
        rows = []
        for fmt in args.formats.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                out = subprocess.run([sys.executable, "-c", _CHILD, data, fmt, str(size)], check=True, cwd=root,
                                     capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
