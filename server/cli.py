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
from pathlib import Path
from typing import Callable

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
    cmd = [sys.executable, "-m", "gunicorn", "--no-control-socket", "--bind", f"{host}:{port}",
           "--workers", str(args.workers), "--worker-class", "sync", "--timeout", "300",
           "--graceful-timeout", "30", "--access-logfile", "-" if args.access_log else "/dev/null",
           "--error-logfile", "-", "--log-level", "warning", "onemap.server.app:wsgi_app()"]
    store_desc = "PostGIS" if settings.backend == "postgis" else f"GeoPackage {settings.gpkg_path}"
    print(f"OneMap serves {public}/  ({store_desc}; {args.workers} workers)", flush=True)
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


def _app_for_config():
    from .app import OneMap

    settings = _settings()
    return OneMap(settings)


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "validate":
        from onemap.config.catalogue import load_catalogue

        settings = _settings()
        cat = load_catalogue(settings.catalogue, settings.codes_dir)
        n_codes = sum(len(t.codes) for t in cat.code_tables.values())
        print(f"catalogue OK: {len(cat.layers)} layers, {len(cat.code_tables)} code tables ({n_codes} codes)")
        return 0
    import yaml

    om = _app_for_config()
    out = Path(args.out or om.settings.data_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "pygeoapi-config.yml"
    oas_path = out / "openapi.json"
    # pygeoapi adds runtime values (template paths) to its config: write plain data only
    plain = json.loads(json.dumps(om.pg_config, default=str))
    cfg_path.write_text(yaml.safe_dump(plain, allow_unicode=True, sort_keys=False), encoding="utf-8")
    oas_path.write_text(json.dumps(om.openapi, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {cfg_path} and {oas_path}")
    return 0


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
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="onemap", description="OneMap: the territorial spatial planning one map "
                                "over OGC API. Settings come from ONEMAP_* environment variables.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the server with gunicorn (creates the demo region on first start)")
    s.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT to listen on (default {DEFAULT_BIND})")
    s.add_argument("--workers", type=int, default=max(2, min(4, os.cpu_count() or 2)),
                   help="gunicorn worker processes")
    s.add_argument("--access-log", action="store_true", help="print an access log line per request")
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
    c.set_defaults(func=cmd_config)

    db = sub.add_parser("db", help="database administration")
    db.add_argument("action", choices=["init"], help="init: create OneMap's schema")
    db.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL)")
    db.set_defaults(func=cmd_db)
    return p


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
        if os.environ.get("ONEMAP_DEBUG"):
            raise
        msg = err.description if isinstance(err, OneMapError) else str(err)
        print(f"onemap: error: {msg}", file=sys.stderr)
        return 2
    except Exception as err:  # a one-sentence report; the traceback with ONEMAP_DEBUG=1
        if os.environ.get("ONEMAP_DEBUG"):
            raise
        print(f"onemap: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
