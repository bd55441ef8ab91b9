"""The command line of the population table: ``onemap population load FILE`` and ``onemap population list``.

The table (常住人口 and 城镇常住人口 per region and year) is what per-capita indicators divide by; its
layout is declared in config/indicators.yaml (``population``), the reader is providers/population.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parsers(sub: Any, store_of: Any) -> None:
    """Add ``population`` to the main parser's subparsers (``store_of(args)`` opens the store, its schema
    brought up to date)."""
    po = sub.add_parser("population", help="the population table per-capita indicators divide by: load a CSV or "
                        "XLSX of 常住人口 per region and year, list what is held, delete a region's rows")
    po.add_argument("action", choices=["load", "list", "delete"])
    po.add_argument("file", nargs="?", help="load: the table (.csv in UTF-8 or GBK, or .xlsx) with the columns "
                    "XZQDM, XZQMC, NF, CZRK, CZCZRK, SJLY (config/indicators.yaml, population)")
    po.add_argument("--sheet", help="load: the XLSX sheet to read (default the first)")
    po.add_argument("--region", help="list: this region's rows and those of the regions under it; delete: the "
                    "region whose rows go (its own only)")
    po.add_argument("--year", type=int, help="list, delete: only this year")
    po.add_argument("--json", action="store_true", help="list: one JSON object per row")
    po.add_argument("--database", help="postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)")
    po.set_defaults(func=lambda args: cmd_population(args, store_of))


def cmd_population(args: argparse.Namespace, store_of: Any) -> int:
    from onemap.domain.regions import check_region
    from onemap.providers.population import load_population

    from .cli import CliError, _table
    from .cli_access import operator

    if args.action == "load" and not args.file:
        raise CliError("population load needs the FILE to load")
    if args.action != "load" and (args.file or args.sheet):
        raise CliError(f"population {args.action} takes no FILE or --sheet (name rows with --region and --year)")
    if args.action == "delete" and not args.region:
        raise CliError("population delete needs --region (and --year for one year only)")
    if args.region is not None:
        check_region(args.region)
    _settings, store = store_of(args)
    try:
        if args.action == "load":
            path = Path(args.file)
            done = load_population(store, path, args.sheet)
            store.access.append(operator(), "admin", "population.load", "done", target=path.name,
                                detail={"rows": done.rows, "years": list(done.years), "regions": done.regions})
            print(f"loaded {path.name}: {done.rows} rows ({done.regions} regions; "
                  f"{', '.join(str(y) for y in done.years)}); per-capita indicators are computed again")
            return 0
        if args.action == "delete":
            gone = store.delete_population(args.region, args.year)
            store.access.append(operator(), "admin", "population.delete", "done", target=args.region,
                                detail={"year": args.year, "rows": gone})
            which = f"{args.region} in {args.year}" if args.year else args.region
            print(f"{gone} row{'' if gone == 1 else 's'} of {which} deleted")
            return 0
        rows = store.population(args.region, args.year)
        if args.json:
            for r in rows:
                print(json.dumps({"region": r.region, "name": r.name, "year": r.year, "resident": r.resident,
                                  "urban": r.urban, "rural": r.rural, "source": r.source,
                                  "loaded_at": r.loaded_at.isoformat() if r.loaded_at else None},
                                 ensure_ascii=False))
            return 0
        print(_table([[r.region, r.name or "-", str(r.year), str(r.resident), str(r.urban), str(r.rural),
                       r.source or "-"] for r in rows],
                     ["region", "name", "year", "resident", "urban", "rural", "source"]))
        return 0
    finally:
        store.close()
