"""The servers compared, each started the same way: own venv, free loopback port, one at a time.

- ``onemap``: ``onemap serve`` (gunicorn, production settings, its default worker count)
  from the project's own .venv, on OneMap's layout (schema ``onemap``, partitioned tables).
- ``tipg``: the latest tipg 1.x from PyPI under uvicorn with 2 workers, serving the plain
  table ``bench.dltb`` (bench/tables.py); tipg reads the column's SRID (4490) from the
  catalogue and transforms to CRS84 itself.
- ``pygeoapi``: stock pygeoapi 0.24 under gunicorn with 2 workers, its PostgreSQL feature
  provider and its MVT-postgresql tile provider on ``bench.dltb``; the configuration is
  written here (``pygeoapi_config``).

tipg and pygeoapi are benchmark tools, not project dependencies: each lives in a virtual
environment made under bench/.work/venvs/ with the Python that deploy/python.sh finds.
Start-up time is process start to the first 200 of ``/collections``; memory is the sum
over the server's process group read from /proc (RSS, and PSS which counts shared pages once).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .common import ROOT, VENV_BIN, WORK, free_port

VENVS = WORK / "venvs"
PROBE = "/collections"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"

# what each benchmark venv gets (pinned to the major lines the brief names)
REQUIREMENTS: dict[str, list[str]] = {
    "tipg": ["tipg>=1,<2", "uvicorn[standard]"],
    "pygeoapi": ["pygeoapi==0.24.*", "geoalchemy2", "psycopg2-binary", "gunicorn"],
    "plot": ["matplotlib"],
}


# ---- virtual environments -------------------------------------------------------------------
def python312() -> str:
    """The interpreter deploy/python.sh finds (Python >= 3.12)."""
    out = subprocess.run([str(ROOT / "deploy" / "python.sh")], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or "deploy/python.sh found no Python 3.12")
    return out.stdout.strip()


def ensure_venv(name: str, log: Callable[[str], None] = print) -> Path:
    """bench/.work/venvs/NAME with REQUIREMENTS[NAME] installed; returns its bin folder.

    A marker file records what was installed, so a second run installs nothing.
    """
    reqs = REQUIREMENTS[name]
    venv = VENVS / name
    marker = venv / ".bench-requirements"
    want = hashlib.sha1("\n".join(reqs).encode()).hexdigest()
    if (venv / "bin" / "python").exists() and marker.exists() and marker.read_text() == want:
        return venv / "bin"
    log(f"installing {name} into {venv.relative_to(ROOT)} ({', '.join(reqs)})")
    VENVS.mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([python312(), "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *reqs], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"pip install into {venv} failed: {r.stderr.strip()[-800:]}")
    marker.write_text(want)
    return venv / "bin"


def package_version(bin_dir: Path, package: str) -> str:
    r = subprocess.run([str(bin_dir / "python"), "-c",
                        f"import importlib.metadata as m; print(m.version({package!r}))"],
                       capture_output=True, text=True, check=False)
    return r.stdout.strip() or "?"


# ---- processes --------------------------------------------------------------------------------
def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command may hold spaces and parentheses: fields follow the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid:  # field 5 (pgrp) of /proc/PID/stat
            pids.append(int(entry))
    return pids


def group_memory(pgid: int) -> dict[str, float]:
    """RSS and PSS (MiB) summed over the processes of a process group, and how many there are."""
    rss = pss = 0
    pids = _group_pids(pgid)
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1), "processes": len(pids)}


@dataclass
class Running:
    """A started server: its base URL, process (group leader), start-up time and notes."""

    name: str
    url: str
    proc: subprocess.Popen
    startup_s: float
    collection: str
    version: str
    config: str
    log: Path
    extra: dict = field(default_factory=dict)

    def memory(self) -> dict[str, float]:
        return group_memory(self.proc.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


def wait_200(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300.0) -> None:
    """Poll until ``url`` answers 200 (anything else, or no answer, is not up yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise RuntimeError(f"server exited early ({url}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    r.read()
                    return
        except (OSError, ValueError):  # not listening yet, or not answering 200 yet
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not answer 200 at {url} in {timeout:.0f} s")


def _launch(name: str, cmd: list[str], env: dict[str, str], port: int, cwd: Path, collection: str,
            version: str, config: str) -> Running:
    log = cwd / f"{name}.log"
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_200(url + PROBE, proc, log)
    except BaseException:
        Running(name, url, proc, 0, collection, version, config, log).stop()
        raise
    return Running(name, url, proc, time.monotonic() - t0, collection, version, config, log)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without other tools' settings that could change a server's behaviour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ONEMAP_", "TIPG_", "PYGEOAPI_", "DATABASE_URL", "POSTGRES_", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


# ---- OneMap -------------------------------------------------------------------------------------
# the peers serve anyone with no limits: OneMap is timed the same way, as its public tier answers an
# anonymous portal (the access check still runs on every request; its rate limits are set out of reach)
BENCH_ACCESS = {"ONEMAP_RATE_LIMIT": "1000000000/minute", "ONEMAP_RATE_LIMIT_EXECUTE": "1000000000/minute",
                "ONEMAP_JOBS_PER_DAY": "1000000000"}


def public_catalogue(workdir: Path, checkout: Path = ROOT) -> Path:
    """A checkout's catalogue with every layer and process in the public tier (written into ``workdir``)."""
    import yaml

    raw = yaml.safe_load((checkout / "config" / "catalogue.yaml").read_text(encoding="utf-8"))
    for layer in raw.get("layers") or []:
        layer["tier"] = "public"
    for spec in (raw.get("processes") or {}).values():
        spec["tier"] = "public"
    out = workdir / "catalogue-public.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def start_onemap(database_url: str, data_dir: Path, workdir: Path, tile_cache: bool = True,
                 serve_args: list[str] | None = None) -> Running:
    """`onemap serve` with production settings and its defaults, unless ``serve_args`` says otherwise."""
    from onemap.server.cli import build_parser

    port = free_port()
    env = _clean_env({"ONEMAP_DATABASE_URL": database_url, "ONEMAP_DATA_DIR": str(data_dir),
                      "ONEMAP_PUBLIC_URL": f"http://127.0.0.1:{port}",
                      "ONEMAP_TILE_CACHE": "true" if tile_cache else "false",
                      **BENCH_ACCESS, "ONEMAP_CATALOGUE": str(public_catalogue(workdir))})
    cmd = [str(VENV_BIN / "onemap"), "serve", "--bind", f"127.0.0.1:{port}"]
    cmd += serve_args or []
    opts = build_parser().parse_args(["serve", *(serve_args or [])])
    r = subprocess.run([str(VENV_BIN / "python"), "-c", "import importlib.metadata as m; print(m.version('onemap'))"],
                       capture_output=True, text=True, check=False)
    return _launch("onemap", cmd, env, port, workdir, "dltb", r.stdout.strip() or "?",
                   f"onemap serve: gunicorn sync, {opts.workers} workers, "
                   f"tile cache {'on' if tile_cache else 'off'}")


# ---- tipg ---------------------------------------------------------------------------------------
def start_tipg(database_url: str, workdir: Path, schema: str = "bench", table: str = "dltb",
               workers: int = 2) -> Running:
    """tipg under uvicorn: only ``schema.table`` published, the default limits otherwise.

    ``TIPG_MAX_FEATURES_PER_QUERY`` is raised to OneMap's maximum page (10000) so that
    ``limit=1000`` is honoured by all servers.
    """
    bin_dir = ensure_venv("tipg")
    port = free_port()
    env = _clean_env({"DATABASE_URL": database_url, "TIPG_DB_SCHEMAS": f'["{schema}"]',
                      "TIPG_DB_TABLES": f'["{schema}.{table}"]', "TIPG_DB_FUNCTIONS": "[]",
                      "TIPG_MAX_FEATURES_PER_QUERY": "10000", "TIPG_DEBUG": "false"})
    cmd = [str(bin_dir / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    version = package_version(bin_dir, "tipg")
    return _launch("tipg", cmd, env, port, workdir / "tipg", f"{schema}.{table}", version,
                   f"tipg {version}: uvicorn, {workers} workers")


# ---- pygeoapi -----------------------------------------------------------------------------------
def pygeoapi_config(database_url: str, port: int, schema: str = "bench", table: str = "dltb",
                    bbox: list[float] | None = None) -> dict:
    """Stock pygeoapi 0.24: one collection with the PostgreSQL feature and MVT-postgresql tile providers.

    ``storage_crs`` is EPSG:4490, the table's SRID (with the default CRS84 every bbox query
    fails on mixed SRIDs); ``always_xy`` keeps output longitude first.
    """
    u = urllib.parse.urlsplit(database_url)
    data = {"host": u.hostname or "127.0.0.1", "port": u.port or 5432, "dbname": u.path.lstrip("/"),
            "user": urllib.parse.unquote(u.username or "postgres"),
            "password": urllib.parse.unquote(u.password or ""), "search_path": [schema, "public"]}
    common = {"data": data, "id_field": "fid", "table": table, "geom_field": "geom"}
    base = f"http://127.0.0.1:{port}"
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port}, "url": base,
            "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
            "gzip": True,  # compress when asked, like the other two
            "languages": ["en-US"], "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10000, "on_exceed": "throttle"},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
            "admin": False,
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "-", "url": base},
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": base},
            "contact": {"name": "bench", "position": "-", "address": "-", "city": "-",
                        "stateorprovince": "-", "postalcode": "-", "country": "-", "phone": "-",
                        "fax": "-", "email": "bench@example.org", "url": base, "hours": "-",
                        "instructions": "-", "role": "pointOfContact"},
        },
        "resources": {
            table: {
                "type": "collection", "title": table, "description": "dltb: the land survey in force",
                "keywords": ["dltb"], "links": [],
                "extents": {"spatial": {"bbox": bbox or [73.5, 18.0, 135.1, 53.6], "crs": CRS84}},
                "providers": [
                    {"type": "feature", "name": "PostgreSQL", **common,
                     "storage_crs": EPSG4490, "crs": [CRS84, EPSG4490], "always_xy": True},
                    {"type": "tile", "name": "MVT-postgresql", **common, "storage_crs": EPSG4490,
                     # no options.schemes: a list there reaches SQLAlchemy's connect args and
                     # fails (unhashable); both default schemes are served then
                     "options": {"zoom": {"min": 0, "max": 22}},
                     "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"}},
                ],
            },
        },
    }


def start_pygeoapi(database_url: str, workdir: Path, schema: str = "bench", table: str = "dltb",
                   workers: int = 2, bbox: list[float] | None = None) -> Running:
    """Stock pygeoapi under gunicorn (sync workers), config and OpenAPI document written here."""
    import yaml

    bin_dir = ensure_venv("pygeoapi")
    port = free_port()
    wd = workdir / "pygeoapi"
    wd.mkdir(parents=True, exist_ok=True)
    cfg, oas = wd / "pygeoapi-config.yml", wd / "openapi.yml"
    cfg.write_text(yaml.safe_dump(pygeoapi_config(database_url, port, schema, table, bbox), sort_keys=False))
    env = _clean_env({"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)})
    # the OpenAPI document is part of setting pygeoapi up, not of its start-up
    r = subprocess.run([str(bin_dir / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(oas)],
                       env=env, cwd=wd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"pygeoapi openapi generate failed: {r.stderr.strip()[-800:]}")
    cmd = [str(bin_dir / "gunicorn"), "--no-control-socket", "--bind", f"127.0.0.1:{port}", "--workers",
           str(workers), "--worker-class", "sync", "--timeout", "300", "--access-logfile", "/dev/null",
           "--log-level", "warning", "pygeoapi.flask_app:APP"]
    version = package_version(bin_dir, "pygeoapi")
    return _launch("pygeoapi", cmd, env, port, wd, table, version,
                   f"pygeoapi {version}: gunicorn sync, {workers} workers, PostgreSQL + MVT-postgresql "
                   "providers, storage_crs EPSG:4490, gzip on")


SERVERS = ("onemap", "tipg", "pygeoapi")
