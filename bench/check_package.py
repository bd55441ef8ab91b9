"""Issue 6: `onemap check` on the million-parcel land survey: wall time, peak memory, findings by rule.

    .venv/bin/python -m bench.check_package --database "$(cat /tmp/bigpg.txt)"   # the dev PostGIS, read only
    .venv/bin/python -m bench.check_package --parcels 200000                      # a throwaway cluster

Exports a county's 2023 survey drawer entry (990122-county-survey-2023: XZQ and DLTB) from PostGIS to a
GeoPackage with providers/packages.export_plan (or, without --database, first loads the demo region
with --parcels into a throwaway cluster), then runs `onemap check PKG --region 990000 --level
province --type survey` as a subprocess with no store of its own (a survey is checked against its
own XZQ), polling the child's resident memory in /proc. Prints wall and CPU time, peak RSS and the
findings by rule and severity from report.json. The export is kept under bench/.work/check_package
and reused by later runs unless --fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import VENV_BIN, WORK, dump, load_demo, postgis, table

SURVEY = "990122-county-survey-2023"  # the largest county of the demo


def export(url: str, plan_id: str, out: Path) -> float:
    """The drawer entry as a GeoPackage; returns the seconds it took."""
    from onemap.providers.packages import export_plan
    from onemap.providers.store import open_store

    t0 = time.monotonic()
    store = open_store(url)
    try:
        export_plan(store, plan_id, out)
    finally:
        store.close()
    return time.monotonic() - t0


def _kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_check(package: Path, out: Path, region: str, level: str, type_: str) -> dict:
    """`onemap check` in a subprocess: exit status, wall and CPU seconds, peak resident memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    empty = Path(tempfile.mkdtemp(prefix="onemap-bench-check-"))
    env["ONEMAP_DATA_DIR"] = str(empty)  # no store: the package is judged on its own
    cmd = [str(VENV_BIN / "onemap"), "check", str(package), "--region", region, "--level", level, "--type", type_,
           "--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rss": 0, "hwm": 0}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            rss, hwm = _kib(proc.pid, "VmRSS"), _kib(proc.pid, "VmHWM")
            if rss:
                peak["rss"] = max(peak["rss"], rss)
            if hwm:
                peak["hwm"] = max(peak["hwm"], hwm)
            done.wait(0.1)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    done.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    empty.rmdir()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"onemap check failed ({proc.returncode}): {stderr.strip()[-500:]}")
    return {"exit": proc.returncode, "wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "peak_rss_mb": round(max(peak["rss"], peak["hwm"]) / 1024, 1), "stdout": stdout}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="a PostGIS database holding the demo region (read only); default: a "
                    "throwaway cluster loaded with --parcels")
    ap.add_argument("--parcels", type=int, default=1_000_000, help="parcels of the throwaway demo region")
    ap.add_argument("--plan", default=SURVEY, help=f"the drawer entry to export and check (default {SURVEY})")
    ap.add_argument("--package", help="check this package instead of exporting one")
    ap.add_argument("--fresh", action="store_true", help="export again even if an earlier export exists")
    args = ap.parse_args(argv)
    work = WORK / "check_package"
    work.mkdir(parents=True, exist_ok=True)
    region, level, type_ = args.plan.split("-")[:3]
    facts: dict = {"plan": args.plan}
    if args.package:
        package = Path(args.package)
    else:
        package = work / f"{args.plan}.gpkg"
        if args.fresh and package.exists():
            package.unlink()
        if not package.exists():
            with postgis(args.database) as url:
                if not args.database:
                    secs = load_demo(url, args.parcels, work / "data")
                    print(f"loaded the demo region ({args.parcels:,} parcels) into PostGIS in {secs:.0f} s", flush=True)
                facts["export_s"] = round(export(url, args.plan, package), 1)
                print(f"exported {args.plan} to {package} in {facts['export_s']:.0f} s", flush=True)
    import pyogrio

    facts["package_mb"] = round(package.stat().st_size / 2**20, 1)
    facts["features"] = {str(n): int(pyogrio.read_info(package, layer=str(n))["features"])
                         for n, _ in pyogrio.list_layers(package)}
    out = work / "report"
    result = run_check(package, out, region, level, type_)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    facts.update({k: v for k, v in result.items() if k != "stdout"})
    facts["check_seconds_inside"] = report["seconds"]
    facts["findings"] = report["summary"]["by_rule"]
    facts["status"] = report["status"]
    dump(work / "result.json", facts)

    print()
    print(f"`onemap check` on {package.name} ({facts['package_mb']} MB; "
          + ", ".join(f"{n} {c:,}" for n, c in facts["features"].items()) + f"), {os.cpu_count()} CPUs shared")
    print(table([["wall time", f"{result['wall_s']:.1f} s"],
                 ["CPU time (user+sys)", f"{result['cpu_s']:.1f} s"],
                 ["peak resident memory", f"{result['peak_rss_mb']:.0f} MB"],
                 ["exit status", str(result["exit"])],
                 ["report status", report["status"]]], ["measure", "value"]))
    rows = [[f["rule"], f["title"]["en"], str(f["errors"]), str(f["warnings"])] for f in report["summary"]["by_rule"]]
    print()
    print(table(rows or [["-", "no findings", "0", "0"]], ["rule", "check", "errors", "warnings"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
