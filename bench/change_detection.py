"""Issue 18: survey-to-survey change detection of a county on a million-parcel PostGIS region, as a job.

    .venv/bin/python -m bench.change_detection [--parcels 1000000] [--database URL --skip-load] [--county 990121]

Loads the demo region into a throwaway PostGIS cluster (or uses --database), then:

1. runs the change detection of --county between the 2022 and 2023 surveys in this process (the
   ``ChangeDetector`` the process runs), recording each progress report's time;
2. runs the same as an asynchronous job of ``onemap serve`` (``Prefer: respond-async``), polling
   ``/jobs/{id}`` every second for its progress, and checks its findings are the in-process ones;
3. prints the figures side by side (total seconds, per township, findings per rule, peak memory).
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from .common import ROOT, WORK, load_demo, postgis, table

RESULTS = ROOT / "bench" / "results"
POLL_SECONDS = 1.0
MAX_WAIT_SECONDS = 3600.0


def _request(base: str, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                                         **({"Content-Type": "application/json"} if data else {}),
                                                         **(headers or {})})
        r = conn.getresponse()
        raw = r.read()
        return r.status, dict(r.getheaders()), json.loads(raw) if raw else None
    finally:
        conn.close()


def run(url: str, args: argparse.Namespace, data_dir: Path) -> str:
    from onemap.config.settings import get_settings
    from onemap.processes.change_detection import ChangeDetector
    from onemap.providers.store import open_store

    from .servers import start_onemap
    from .statistics import admin_token

    store = open_store(url, **get_settings().store_options())
    marks: list[tuple[float, int, str]] = []
    t0 = time.perf_counter()
    doc, findings = ChangeDetector(store).run(args.county, "2022", "2023",
                                              lambda pct, msg: marks.append((time.perf_counter() - t0, pct, msg)))
    inproc_s = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    token = admin_token(store)
    server = start_onemap(url, data_dir, WORK / "change-detection" / "run")
    polls: list[tuple[float, int, str]] = []
    try:
        inputs = {"inputs": {"area": args.county, "from_year": "2022", "to_year": "2023"}}
        t1 = time.perf_counter()
        status, _, info = _request(server.url, "POST", "/processes/change-detection/execution", token, inputs,
                                         {"Prefer": "respond-async"})
        if status != 201:
            raise SystemExit(f"the job was not accepted: HTTP {status} {info}")
        job = info["jobID"]
        while time.perf_counter() - t1 < MAX_WAIT_SECONDS:
            _, _, st = _request(server.url, "GET", f"/jobs/{job}", token)
            polls.append((time.perf_counter() - t1, int(st.get("progress") or 0), str(st.get("message") or "")))
            if st["status"] in ("successful", "failed", "dismissed"):
                break
            time.sleep(POLL_SECONDS)
        job_s = time.perf_counter() - t1
        if st["status"] != "successful":
            raise SystemExit(f"the job ended {st['status']}: {st.get('message')}")
        _, _, result = _request(server.url, "GET", f"/jobs/{job}/results?f=json", token)
    finally:
        server.stop()
        store.close()
    got = result if isinstance(result.get("findings"), list) else result["findings"]  # raw: the output itself
    if sorted(f["id"] for f in got["findings"]) != sorted(f.id for f in findings):
        raise SystemExit("the job's findings differ from the in-process run's")
    townships = [i for i, m in enumerate(marks) if m[2].startswith("township")]
    # each township from its progress report to the next report (the next township's, or "recording")
    per_town = [marks[i + 1][0] - marks[i][0] for i in townships if i + 1 < len(marks)]
    lines = [(f"PostGIS, {args.parcels:,} parcels per survey; change detection of {args.county} "
              f"({doc['area']['name']}), survey 2022 -> 2023, {len(townships)} townships; "
              f"{time.strftime('%Y-%m-%d')}"), ""]
    lines.append(table([
        ["in process (ChangeDetector.run)", f"{inproc_s:.1f}", f"{max(per_town, default=0):.1f}",
         f"{(sum(per_town) / len(per_town)) if per_town else 0:.1f}", f"{rss:.0f}"],
        ["async job of onemap serve (submitted -> successful, polled every 1 s)", f"{job_s:.1f}", "", "",
         ""]], ["how", "seconds", "slowest township s", "mean township s", "peak MiB"]))
    lines.append("")
    lines.append(f"new construction land: {doc['new_construction']['ha']:,.2f} ha")
    lines.append(table([[r["rule"], str(r["findings"]), f"{r['ha']:,.4f}"] for r in doc["rules"]],
                       ["rule", "findings", "ha"]))
    lines.append("")
    seen = sorted({p[1] for p in polls})
    lines.append(f"the job's progress as polled ({len(polls)} polls): {', '.join(f'{p}%' for p in seen)}; "
                 f"first and last messages: {polls[0][2]!r} ... {polls[-1][2]!r}")
    lines.append(f"\nserver: {server.config}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--database", help="reuse this database (loaded with the demo unless --skip-load)")
    ap.add_argument("--skip-load", action="store_true", help="the database already holds the demo region")
    ap.add_argument("--county", default="990123", help="the county whose change detection is timed")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of change-detection-<parcels>.txt")
    args = ap.parse_args(argv)
    data_dir = WORK / "change-detection" / "data"
    with postgis(args.database) as url:
        if not args.skip_load:
            secs = load_demo(url, args.parcels, data_dir)
            print(f"loaded the demo region ({args.parcels:,} parcels) into PostGIS in {secs:.0f} s", flush=True)
        report = run(url, args, data_dir)
    print()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"change-detection-{args.parcels}.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
