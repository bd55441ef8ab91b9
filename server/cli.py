"""The ``onemap`` command line.

Every error is printed as one sentence (``onemap: error: ...``) with exit status 2;
set ``ONEMAP_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from onemap.config.errors import OneMapError

DEFAULT_BIND = "127.0.0.1:5000"


class CliError(Exception):
    """A user mistake on the command line: printed as one sentence."""


def _settings(**overrides):
    from onemap.config.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise CliError(f"invalid setting {name}: {first['msg']}") from None


def _store(args: argparse.Namespace):
    """The store the command works on: --database, else the configured one."""
    from onemap.providers.store import open_store

    settings = _settings(database_url=getattr(args, "database", None))
    return settings, open_store(settings.store_url)


def _access_store(args: argparse.Namespace):
    """The store for users, tokens and the audit trail (its schema brought up to date)."""
    settings, store = _store(args)
    if not store.is_initialised():
        store.close()
        raise CliError("the store has no OneMap schema: run `onemap db init` or `onemap demo` first")
    store.ensure_schema()
    return settings, store


def _date(value: str | None, what: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{what} takes a date like 2024-05-01, not {value!r}") from None


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table that lines up with Chinese text too."""
    cols = [header, *rows]
    widths = [max(_width(str(r[i])) for r in cols) for i in range(len(header))]
    lines = []
    for r in cols:
        lines.append("  ".join(str(v) + " " * (w - _width(str(v))) for v, w in zip(r, widths)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--bind takes HOST:PORT (for example {DEFAULT_BIND}), not {bind!r}")
    return host, int(port)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _progress(quiet: bool = False):
    from .progress import Progress

    return Progress(quiet=quiet)


# ---- commands ---------------------------------------------------------------------------
def default_workers() -> int:
    """gunicorn worker processes by default: one per core, at least 2, at most 4 (sync workers: the
    database does the heavy work; threads measured slower, more workers no faster on 2 cores)."""
    return max(2, min(4, os.cpu_count() or 2))


def cmd_serve(args: argparse.Namespace) -> int:
    host, port = _parse_bind(args.bind)
    if args.workers < 1 or args.workers > 64:
        raise CliError("--workers must be between 1 and 64")
    settings = _settings()
    from onemap.providers.store import open_store

    if not _port_free(host, port):
        raise CliError(f"{host}:{port} is already in use; choose another with --bind HOST:PORT")
    store = open_store(settings.store_url)
    try:
        if not store.is_initialised():
            if settings.backend != "gpkg":
                raise CliError("the database has no OneMap schema: run `onemap db init` "
                               "and load data (or `onemap demo --database URL`) first")
            print(f"first start: generating the demo region into {settings.gpkg_path} "
                  f"({settings.demo_parcels} parcels)", file=sys.stderr)
            from .demo_store import build_demo

            prog = _progress()
            build_demo(settings, store, settings.demo_parcels, settings.demo_seed, prog)
            prog.done()
    finally:
        store.close()
    public = settings.public_url or f"http://{host}:{port}"
    env = dict(os.environ)
    env["ONEMAP_PUBLIC_URL"] = public
    env.setdefault("ONEMAP_DATA_DIR", str(settings.data_dir.resolve()))
    from . import front

    nginx = None if args.no_front else front.nginx_binary()
    if nginx is None and not args.no_front:
        front.warn_without_front()
    run = settings.data_dir.resolve() / "run"
    upstream = front.gunicorn_socket(run) if nginx else None
    # no access log unless asked: gunicorn formats every line even for /dev/null (~10% of a cached tile)
    cmd = [sys.executable, "-m", "gunicorn", "--no-control-socket",
           "--bind", f"unix:{upstream}" if upstream else f"{host}:{port}",
           "--workers", str(args.workers), "--worker-class", "sync", "--timeout", "900",
           "--graceful-timeout", "30", *(["--access-logfile", "-"] if args.access_log else []),
           "--error-logfile", "-", "--log-level", "warning", "onemap.server.app:wsgi_app()"]
    store_desc = "PostGIS" if settings.backend == "postgis" else f"GeoPackage {settings.gpkg_path}"
    print(f"OneMap serves {public}/  ({store_desc}; {args.workers} workers{', nginx in front' if nginx else ''})",
          flush=True)
    if nginx and upstream:
        env["ONEMAP_TRUSTED_PROXIES"] = "1"  # the client's address comes from nginx's X-Forwarded-For
        conf = front.write_config(run, host, port)
        return front.supervise(cmd, [nginx, "-e", "stderr", "-p", str(run), "-c", str(conf)], env, upstream)
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


def cmd_demo(args: argparse.Namespace) -> int:
    from onemap.providers.store import open_store

    from .demo_store import build_demo

    if args.parcels < 500 or args.parcels > 20_000_000:
        raise CliError("--parcels must be between 500 and 20,000,000")
    if args.out and args.database:
        raise CliError("give either --out FILE.gpkg or --database URL, not both")
    overrides = {}
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() != ".gpkg":
            raise CliError(f"--out must name a .gpkg file, not {args.out!r}")
        overrides["data_dir"] = out.resolve().parent
    if args.database:
        overrides["database_url"] = args.database
    settings = _settings(**overrides)
    url = str(Path(args.out).resolve()) if args.out else settings.store_url
    store = open_store(url)
    prog = _progress(args.quiet)
    try:
        meta = build_demo(settings, store, args.parcels, args.seed, prog)
    finally:
        prog.done()
        store.close()
    where = url if settings.backend == "gpkg" or args.out else "the PostGIS database"
    print(f"demo region written to {where}: {meta['plans']} drawer entries, {meta['features']} features "
          f"({args.parcels} parcels, seed {args.seed}) in {meta['seconds']} s")
    return 0


def _app_for_config() -> Any:
    from .app import create_app

    return create_app(_settings()).extensions["onemap"]


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "validate":
        from onemap.config.catalogue import load_catalogue
        from onemap.processes import check_rule_files

        settings = _settings()
        cat = load_catalogue(settings.catalogue, settings.codes_dir)
        n_codes = sum(len(t.codes) for t in cat.code_tables.values())
        print(f"catalogue OK: {len(cat.layers)} layers, {len(cat.code_tables)} code tables ({n_codes} codes)")
        check_rule_files(settings, cat)
        print("process rules OK: compliance review, quality check, transmission check")
        return 0
    import yaml

    om = _app_for_config()
    out = Path(args.out or om.settings.data_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "pygeoapi-config.yml"
    oas_path = out / "openapi.json"
    # stock pygeoapi checks no caller: its configuration holds only what everyone it serves may see
    role = args.tier
    # pygeoapi adds runtime values (template paths) to its config: write plain data only
    plain = json.loads(json.dumps(om.pg_config, default=str))
    plain["resources"] = {rid: res for rid, res in plain["resources"].items()
                          if om.pygeoapi_visible(role, rid, res)}
    if role == "internal":  # the bureau's own pygeoapi also lists the plans under review
        for res in plain["resources"].values():
            for prov in res.get("providers", []):
                if str(prov.get("name", "")).endswith("OneMapFeatureProvider"):
                    prov["unfiled"] = True
    cfg_path.write_text(yaml.safe_dump(plain, allow_unicode=True, sort_keys=False), encoding="utf-8")
    oas_path.write_text(json.dumps(om.openapi_docs[role], ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {cfg_path} and {oas_path} (the {role} tier: stock pygeoapi checks no caller); stock pygeoapi "
          f"serves them with\n  PYGEOAPI_CONFIG={cfg_path} PYGEOAPI_OPENAPI={oas_path} pygeoapi serve")
    return 0


def _audit(store: Any, action: str, target: str, by: str | None) -> None:
    """A state change made on the command line, in the audit trail: the operating system's user, and the
    person the operator named with --by."""
    from .cli_access import operator

    store.access.append(operator(), "admin", action, "done", target=target, detail={"by": by})


def cmd_plan(args: argparse.Namespace) -> int:
    from onemap.domain.dates import today
    from onemap.providers.registry import Registry, plan_json

    settings, store = _store(args)
    try:
        if not store.is_initialised():
            raise CliError("the store has no OneMap schema: run `onemap db init` or `onemap demo` first")
        reg = Registry(store, settings.timezone)
        if args.action == "list":
            plans = reg.list(args.region, args.level, args.type, args.status, args.subject)
            if args.json:
                for p in plans:
                    print(json.dumps(plan_json(p, settings.timezone), ensure_ascii=False))
                return 0
            rows = [[p.id, p.status, p.valid_from.isoformat() if p.valid_from else "-",
                     p.valid_to.isoformat() if p.valid_to else "-", p.title] for p in plans]
            print(_table(rows, ["id", "status", "valid_from", "valid_to", "title"]))
            return 0
        if not args.id:
            raise CliError(f"plan {args.action} needs a plan id")
        if args.action == "show":
            trace = reg.trace(args.id)
            if args.json:
                doc = trace["plan"] | {k: v for k, v in trace.items() if k != "plan"}
                print(json.dumps(doc, ensure_ascii=False))
                return 0
            for k, v in trace["plan"].items():
                print(f"{k:>17}: {v if v is not None else '-'}")
            print("\nin force (生效期间): " + ("; ".join(f"{p['from']} .. {p['to'] or ''}" for p in trace["periods"])
                                             or "-"))
            print("\ntrace (全过程留痕):")
            print(_table([[e["at"], e["by"], e["from"] or "-", e["to"], ("[更正 correction] " if e["correction"] else "")
                           + (e["reason"] or "")] for e in trace["events"]],
                         ["recorded at", "by", "from", "to", "reason"]))
            if trace["certificates"]:
                print("\ncertificates (审查证书):")
                print(_table([[c["id"], c["process"], c["created"]] for c in trace["certificates"]],
                             ["id", "process", "created"]))
            return 0
        if args.action == "gate":
            gate = reg.gate(args.id)
            print(json.dumps({"required": gate.required, "passed": gate.passed, "upper_plans": gate.upper_plans,
                              "certificate": gate.certificate, "reason": gate.reason or None}, ensure_ascii=False))
            return 0
        if not args.by:
            raise CliError(f"plan {args.action} needs --by (who does it)")
        if args.action == "approve":
            if not args.approval_no:
                raise CliError("plan approve needs --approval-no (批复文号)")
            p = reg.approve(args.id, args.by, args.approval_no, _date(args.approval_date, "--approval-date"),
                            args.reason, override=args.override)
        elif args.action == "file":
            p = reg.file(args.id, args.by, _date(args.valid_from, "--valid-from"), args.reason)
        elif args.action == "withdraw":
            p = reg.withdraw(args.id, args.by, args.reason, _date(args.valid_to, "--valid-to"),
                             reinstate=not args.no_reinstate)
        elif args.action == "reject":
            p = reg.reject(args.id, args.by, args.reason)
        else:  # pragma: no cover - argparse restricts the choices
            raise CliError(f"unknown action {args.action}")
        _audit(store, f"plan.{args.action}", p.id, args.by)
        print(f"{p.id}: {p.status}" + (f" (in force from {p.valid_from})" if p.status == "filed" else ""))
        if args.action == "withdraw":
            back = [e.plan_id for e in reg.store.events() if e.related == p.id and e.to_status == "filed"
                    and e.from_status == "superseded"]
            if back:
                print(f"{back[-1]}: reinstated (in force again from {reg.get(back[-1]).valid_from})")
        if args.action == "file":
            from onemap.processes.warning_scan import queue_scan

            print(f"warnings scan queued as job {queue_scan(store, args.by)} (a server or `onemap worker` runs it)")
        if args.action == "file" and p.valid_from is not None and p.valid_from < today(settings.timezone):
            print(f"recorded as a correction: in force from {p.valid_from}, recorded today (the registry as "
                  "recorded before today keeps its answers for those dates)")
        return 0
    finally:
        store.close()


def cmd_load(args: argparse.Namespace) -> int:
    from onemap.providers.packages import load_package

    _, store = _store(args)
    try:
        if not store.is_initialised():
            raise CliError("the store has no OneMap schema: run `onemap db init` first")
        plan = load_package(store, args.package, region=args.region, level=args.level, type_=args.type,
                            version=args.version, title=args.title, by=args.by, upper_plan_id=args.upper,
                            subject=args.subject)
        _audit(store, "plan.load", plan.id, args.by)
    finally:
        store.close()
    if plan.checksum is None:  # load_package records the package's checksum on the entry
        raise OneMapError(f"{plan.id} was stored without its package's checksum")
    print(f"loaded {args.package} as {plan.id} (submitted; sha256 {plan.checksum[:12]}...)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from onemap.providers.packages import export_plan

    _, store = _store(args)
    try:
        out = export_plan(store, args.plan_id, args.out, args.format, args.crs)
    finally:
        store.close()
    print(f"exported {args.plan_id} to {out} ({args.format}, {args.crs})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Quality-check a package or a drawer entry (成果质检): exit 0 when clean, 1 with error findings."""
    if bool(args.package) == bool(args.plan):
        raise CliError("give either a PACKAGE to check or --plan PLAN_ID")
    drawer = (args.region, args.level, args.type)
    if args.package and not all(drawer):
        raise CliError("checking a package needs --region, --level and --type (the drawer it is meant for)")
    if args.plan and any(drawer):
        raise CliError("--plan takes region, level and type from the drawer entry; "
                       "leave out --region, --level and --type")
    if args.package and not Path(args.package).exists():
        raise CliError(f"{args.package} does not exist")
    from onemap.config.catalogue import get_catalogue
    from onemap.processes.qc import check_package, check_plan
    from onemap.processes.qc.lifecycle import mark_if_clean
    from onemap.processes.qc.report import write_reports
    from onemap.providers.store import open_store

    settings = _settings(database_url=args.database)
    store = None
    # the store gives the region's outline (and --plan its entry); a missing GeoPackage is not created
    if settings.backend == "postgis" or settings.gpkg_path.exists():
        store = open_store(settings.store_url)
        if not store.is_initialised():
            store.close()
            store = None
    prog = _progress(args.quiet)
    moved_note = cert_note = None
    try:
        if args.plan:
            if store is None:
                raise CliError("there is no store holding drawer entries: set ONEMAP_DATA_DIR or use --database")
            result = check_plan(store, args.plan, progress=prog)
            out = Path(args.out) if args.out else Path.cwd() / f"{args.plan}.qc"
        else:
            pkg = Path(args.package)
            catalogue = store.catalogue if store is not None else get_catalogue(settings.catalogue, settings.codes_dir)
            result = check_package(pkg, region=args.region, level=args.level, type_=args.type, catalogue=catalogue,
                                   store=store, progress=prog)
            out = Path(args.out) if args.out else pkg.with_suffix(".qc")
        if out.exists() and not out.is_dir():
            raise CliError(f"--out must name a folder; {out} is a file")
        paths = write_reports(result, out)
        if store is not None:
            # on record as a certificate before a clean submission moves to checked
            import datetime as dt
            import time

            from onemap.processes.base import RunContext
            from onemap.processes.qc.lifecycle import certify

            inputs = {"plan_id": args.plan} if args.plan else {
                "package": Path(args.package).name, "region": args.region, "level": args.level, "type": args.type}
            doc, _ = certify(RunContext(store, settings, time.monotonic() + 3600), result, inputs,
                             dt.datetime.now(dt.UTC))
            cert_note = f"certificate {doc['certificate']['id']}"
        if args.plan and store is not None:  # (--plan needs the store: checked above)
            _moved, moved_note = mark_if_clean(store, result, settings.timezone)
    finally:
        prog.done()
        if store is not None:
            store.close()
    rows = [[rule, sev, str(n), result.config.title(rule)["zh"]] for (rule, sev), n in sorted(result.counts.items())]
    if rows:
        print(_table(rows, ["rule", "severity", "count", "check"]))
    subject = args.plan or args.package
    print(f"{subject}: {'passed' if result.passed else 'FAILED'} ({result.errors} errors, {result.warnings} warnings; "
          f"{result.seconds:.1f} s)")
    print(f"reports: {paths['json']}, {paths['html']}, {paths['gpkg']}")
    if cert_note:
        print(cert_note)
    if moved_note:
        print(moved_note)
    return 0 if result.passed else 1


def cmd_seed(args: argparse.Namespace) -> int:
    """Fill the basemap caches (both tile grids) for the region or a box, rendering the basemap first."""
    from onemap.providers.store import open_store

    from . import basemaps

    try:
        first, last = (int(v) for v in args.levels.split("-", 1))
    except ValueError:
        raise CliError(f"--levels must be FIRST-LAST such as 0-12, not {args.levels!r}") from None
    bbox = None
    if args.bbox:
        try:
            bbox = [float(v) for v in args.bbox.split(",")]
        except ValueError:
            bbox = []
        if len(bbox) != 4:
            raise CliError(f"--bbox must be west,south,east,north in degrees, not {args.bbox!r}")
    settings = _settings(database_url=args.database)
    store = open_store(settings.store_url)
    prog = _progress(args.quiet)
    try:
        if not store.is_initialised():
            raise CliError("the store has no OneMap schema: run `onemap demo` or `onemap db init` and load data")
        summary = basemaps.seed(settings, store, levels=(first, last), bbox=bbox, progress=prog,
                                layers=args.layer or None)
    except ValueError as err:
        raise CliError(str(err)) from None
    finally:
        prog.done()
        store.close()
    print(f"seeded {', '.join(summary['layers'])} at levels {first}-{last} over "
          f"{', '.join(f'{v:.4f}' for v in summary['bbox'])} in {summary['seconds']:.1f} s")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run queued process jobs until stopped (SIGTERM/SIGINT finish the job in hand first)."""
    import signal
    import threading

    from onemap.processes import load_processors
    from onemap.processes.runner import JobRunner
    from onemap.providers.store import get_store

    if args.threads < 1 or args.threads > 32:
        raise CliError("--threads must be between 1 and 32")
    settings = _settings(database_url=args.database)
    store = get_store(settings.store_url)
    if not store.is_initialised():
        raise CliError("the store has no OneMap schema: run `onemap db init` (or `onemap demo`) first")
    store.ensure_schema()
    runner = JobRunner(store, settings, load_processors(settings.store_url), use_slots=False)
    if args.once:
        runner.loop(once=True)
        return 0

    def stop(signum: int, frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"onemap worker {runner.worker_id}: {args.threads} thread(s) on "
          f"{'PostGIS' if settings.backend == 'postgis' else settings.gpkg_path}", flush=True)
    threads = [threading.Thread(target=runner.loop, name=f"onemap-worker-{i}") for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=1.0)
    return 0


def cmd_warnings(args: argparse.Namespace) -> int:
    """预警: scan now, list the warnings, or post the webhook deliveries that are due."""
    import socket

    from onemap.domain.dates import today

    settings, store = _store(args)
    try:
        store.ensure_schema()
        if args.action == "scan":
            from onemap.processes.warning_scan import run_scan

            day = _date(args.date, "--date") or today(settings.timezone)
            result = run_scan(store, settings, day, f"cli:{socket.gethostname()}")
            print(json.dumps(result.summary(), ensure_ascii=False))
        elif args.action == "deliver":
            from onemap.config.warnings import get_warning_rules
            from onemap.providers.webhooks import WebhookPolicy, deliver_due

            n = deliver_due(store, get_warning_rules(settings.warning_rules), WebhookPolicy(settings.webhook_allow),
                            f"cli:{socket.gethostname()}", limit=1000)
            print(f"{n} deliveries attempted")
        else:
            found, total = store.warnings.page(region=args.region, status=args.status, kind=args.kind, limit=1000)
            print(_table([[w.id, w.region, w.kind, w.severity, w.status, w.title_zh] for w in found],
                         ["id", "region", "kind", "severity", "status", "title"]))
            print(f"{total} warning(s)")
        return 0
    finally:
        store.close()


def cmd_db(args: argparse.Namespace) -> int:
    from onemap.providers.store import open_store

    settings = _settings(database_url=args.database)
    store = open_store(settings.store_url)
    try:
        store.init_schema()
    finally:
        store.close()
    print(f"schema ready in {'the PostGIS database' if settings.backend == 'postgis' else settings.gpkg_path}")
    return 0


# ---- parser ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one sentence too (``onemap: error: ...``, exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"onemap: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="onemap", description="OneMap: the territorial spatial planning one map "
                                "over OGC API. Settings come from ONEMAP_* environment variables.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the server with gunicorn (creates the demo region on first start)")
    s.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT to listen on (default {DEFAULT_BIND})")
    s.add_argument("--workers", type=int, default=default_workers(),
                   help=f"gunicorn worker processes (default {default_workers()} here)")
    s.add_argument("--access-log", action="store_true", help="print an access log line per request")
    s.add_argument("--no-front", action="store_true",
                   help="serve with gunicorn alone, without nginx in front (slow clients can then hold workers)")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="generate the fictional demo region (示范省) into the store")
    d.add_argument("--parcels", type=int, default=20000, help="land-survey parcels (default 20000)")
    d.add_argument("--seed", type=int, default=2024, help="random seed (same seed, same region)")
    d.add_argument("--out", help="write a standalone GeoPackage FILE.gpkg instead of the configured store")
    d.add_argument("--database", help="postgresql://... URL to load into instead of the configured store")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("config", help="write the generated pygeoapi configuration and OpenAPI document")
    c.add_argument("action", nargs="?", choices=["write", "validate"], default="write",
                   help="write (default) or validate the catalogue and code tables")
    c.add_argument("--out", help="folder to write into (default $ONEMAP_DATA_DIR)")
    c.add_argument("--tier", choices=["public", "partner", "internal"], default="public",
                   help="write: the collections and processes of this tier and below (stock pygeoapi checks no "
                        "caller, so everyone it serves sees them; default public)")
    c.set_defaults(func=cmd_config)

    pl = sub.add_parser("plan", help="the drawer registry: list, show and move plans through their lifecycle")
    pl.add_argument("action", choices=["list", "show", "gate", "approve", "file", "withdraw", "reject"])
    pl.add_argument("id", nargs="?", help="drawer entry id, e.g. 990100-city-master-2023")
    pl.add_argument("--by", help="who does it (recorded in the trace)")
    pl.add_argument("--reason", help="why (required to withdraw or reject)")
    pl.add_argument("--json", action="store_true", help="one JSON object per entry (list, show)")
    pl.add_argument("--region", help="list: this region's drawers and those under it")
    pl.add_argument("--level", help="list: only this level")
    pl.add_argument("--type", help="list: only this type")
    pl.add_argument("--status", help="list: only this status")
    pl.add_argument("--subject", help="list: only this subject (a special plan's category, a detailed plan's unit)")
    pl.add_argument("--override", metavar="REASON",
                    help="approve: go ahead without a passing transmission check against the upper plans in force; "
                         "the reason stays on the entry")
    pl.add_argument("--no-reinstate", action="store_true",
                    help="withdraw: leave the drawer empty instead of reinstating the version this one superseded")
    pl.add_argument("--approval-no", help="approve: the approval document number (批复文号)")
    pl.add_argument("--approval-date", help="approve: date of approval (default today)")
    pl.add_argument("--valid-from", help="file: in force from (default today)")
    pl.add_argument("--valid-to", help="withdraw: in force until (default today)")
    pl.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    pl.set_defaults(func=cmd_plan)

    ld = sub.add_parser("load", help="load a plan package (GeoPackage, zipped Shapefiles, File Geodatabase) "
                        "as a submitted drawer entry")
    ld.add_argument("package", help="the package file (.gpkg, .zip) or folder (.gdb)")
    ld.add_argument("--region", required=True, help="region code of the drawer, e.g. 990121")
    ld.add_argument("--level", required=True, help="national, province, city, county or township")
    ld.add_argument("--type", required=True,
                    help="master, detailed, special, survey or management (a register: --subject its year or rolling)")
    ld.add_argument("--version", required=True, help="version of the plan, e.g. 2024")
    ld.add_argument("--subject", help="special plan: its category (LSWH, ZHFZ, ... config/codes/"
                    "special_plan_subjects.csv); detailed plan: its planning unit")
    ld.add_argument("--title", help="title of the plan")
    ld.add_argument("--by", default="onemap", help="who submits it")
    ld.add_argument("--upper", help="id of the upper-level plan it follows (default: found in the registry)")
    ld.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    ld.set_defaults(func=cmd_load)

    ex = sub.add_parser("export", help="write a drawer entry as a package in the national layout")
    ex.add_argument("plan_id")
    ex.add_argument("out", help="output file (.gpkg, .zip for Shapefiles, .gdb folder)")
    ex.add_argument("--format", default="gpkg", choices=["gpkg", "shp", "gdb"])
    ex.add_argument("--crs", default="EPSG:4490", help="EPSG:4490 or a Gauss-Krüger zone such as EPSG:4527")
    ex.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    ex.set_defaults(func=cmd_export)

    ck = sub.add_parser("check", help="quality-check a plan package or a drawer entry (成果质检): writes report.json, "
                        "report.html and errors.gpkg; exit 1 when there are error findings")
    ck.add_argument("package", nargs="?", help="the package file (.gpkg, .zip) or folder (.gdb)")
    ck.add_argument("--plan", help="check this drawer entry in the store instead (a clean submitted entry moves "
                    "to checked)")
    ck.add_argument("--region", help="package: region code of the drawer, e.g. 990121")
    ck.add_argument("--level", help="package: national, province, city, county or township")
    ck.add_argument("--type", help="package: master, detailed, special, survey or management")
    ck.add_argument("--out", help="folder for the reports (default: PACKAGE.qc next to the package, or "
                    "PLAN_ID.qc in the current folder)")
    ck.add_argument("--quiet", action="store_true", help="no progress bar")
    ck.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    ck.set_defaults(func=cmd_check)

    sd = sub.add_parser("seed", help="fill the basemap tile caches (WMTS/TMS/WMS) for the region ahead of use")
    sd.add_argument("--levels", default="0-12", help="FIRST-LAST tile levels (default 0-12)")
    sd.add_argument("--bbox", help="west,south,east,north in degrees (default: the land survey's extent)")
    sd.add_argument("--layer", action="append", help="a basemap layer to seed (default the rendered basemap; "
                    "repeat for upstream layers)")
    sd.add_argument("--quiet", action="store_true", help="no progress bar")
    sd.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    sd.set_defaults(func=cmd_seed)

    wk = sub.add_parser("worker", help="run queued process jobs (on this host, or on another one that shares "
                        "the PostGIS database)")
    wk.add_argument("--threads", type=int, default=1, help="jobs run at once (default 1)")
    wk.add_argument("--once", action="store_true", help="run the jobs waiting now, then exit")
    wk.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    wk.set_defaults(func=cmd_worker)

    wa = sub.add_parser("warnings", help="预警: scan now (indicators and filings), list warnings, post due webhooks")
    wa.add_argument("action", choices=["scan", "list", "deliver"])
    wa.add_argument("--date", help="scan: indicators as on this date (default today)")
    wa.add_argument("--region", help="list: this region and those under it")
    wa.add_argument("--status", choices=["open", "acknowledged", "closed"], help="list: only this status")
    wa.add_argument("--kind", choices=["indicator", "filing", "land", "monitoring"], help="list: only this kind")
    wa.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    wa.set_defaults(func=cmd_warnings)

    from . import cli_access, cli_population

    cli_access.add_parsers(sub, _access_store)
    cli_population.add_parsers(sub, _access_store)

    db = sub.add_parser("db", help="database administration")
    db.add_argument("action", choices=["init"], help="init: create OneMap's schema")
    db.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL)")
    db.set_defaults(func=cmd_db)
    return p


def _debug() -> bool:
    """ONEMAP_DEBUG=1: show the traceback (read through the settings; broken settings mean no)."""
    try:
        return _settings().debug
    except (CliError, OneMapError, ValidationError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("onemap: interrupted", file=sys.stderr)
        return 130
    except (CliError, OneMapError) as err:
        if _debug():
            raise
        msg = err.description if isinstance(err, OneMapError) else str(err)
        print(f"onemap: error: {msg}", file=sys.stderr)
        return 2
    except Exception as err:  # a one-sentence report; the traceback with ONEMAP_DEBUG=1
        if _debug():
            raise
        print(f"onemap: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
