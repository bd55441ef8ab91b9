"""The population table (常住人口 per region and year): read strictly from CSV or XLSX, loaded in one go.

The columns are those config/indicators.yaml declares under ``population`` (XZQDM, XZQMC, NF, CZRK,
CZCZRK, SJLY: this project's names, LOW). A file is read whole and checked before anything is written: a
malformed region code, a year out of range, a missing, negative or fractional population, an urban
population above the resident one or a second row of a (region, year) refuses the file, every problem
named with its row (the header is row 1, as a spreadsheet numbers it). A clean file replaces the rows of
the (region, year) pairs it carries, in one transaction, and changes the population version, so every
process computes its per-capita indicators again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onemap.config.errors import LoadError
from onemap.config.indicators import Indicators, PopulationTableDef, get_indicators

from .store.base import PopulationRow, Store

# problems listed in one refusal (the rest are counted): a file with a shifted column fails on every row
MAX_LISTED = 20
ENCODINGS = ("utf-8-sig", "gb18030")  # UTF-8 with or without a BOM; GBK (GB18030 is its superset)
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class LoadSummary:
    """What a load wrote: rows, the years and regions they cover."""

    rows: int
    years: tuple[int, ...]
    regions: int


def _layout(ind: Indicators | None) -> PopulationTableDef:
    layout = (ind or get_indicators()).population
    if layout is None:
        raise LoadError("config/indicators.yaml declares no population table layout ('population')")
    return layout


def _read_csv(path: Path) -> list[list[Any]]:
    raw = path.read_bytes()
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        return [row for row in csv.reader(io.StringIO(text, newline=""))]
    raise LoadError(f"{path.name} is neither UTF-8 nor GBK text")


def _read_xlsx(path: Path, sheet: str | None) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, InvalidFileException, OSError, ValueError) as err:
        # a file that is not a workbook: not a zip, or a zip without a workbook's parts
        raise LoadError(f"{path.name} cannot be read as an XLSX workbook ({type(err).__name__})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise LoadError(f"{path.name} has no sheet {sheet!r} (it has {', '.join(wb.sheetnames)})")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def read_rows(path: Path, sheet: str | None = None) -> list[list[Any]]:
    """The file's rows as cells (the header first): CSV or XLSX by the file's suffix."""
    if not path.is_file():
        raise LoadError(f"{path.name} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if sheet is not None:
            raise LoadError("a CSV file has no sheets: leave out --sheet")
        return _read_csv(path)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet)
    raise LoadError(f"{path.name}: a population table is a .csv (UTF-8 or GBK) or an .xlsx file")


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # a code typed as a number in a spreadsheet
    s = str(v).strip()
    return s or None


def _whole(v: Any) -> int | None:
    """A whole number of a cell: an integer, a float without a fraction (a spreadsheet's number), or digits;
    None when it is not one (empty cells are told apart by the caller)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and v.is_integer() else None
    s = str(v).strip()
    if s.startswith("-") and _DIGITS.match(s[1:]):
        return -int(s[1:])
    return int(s) if _DIGITS.match(s) else None


def parse_rows(cells: list[list[Any]], layout: PopulationTableDef, this_year: int, label: str
               ) -> list[PopulationRow]:
    """Check every row; the rows when all are clean, else a LoadError naming each problem with its row."""
    rows_with_data = [(i + 1, r) for i, r in enumerate(cells) if any(_text(c) is not None for c in r)]
    if not rows_with_data:
        raise LoadError(f"{label} is empty: its first row must name the columns "
                        f"({', '.join(layout.fields)})")
    header_no, header = rows_with_data[0]
    names = [(_text(c) or "").upper() for c in header]
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise LoadError(f"{label}, row {header_no}: the column {', '.join(twice)} is named twice")
    at = {n: i for i, n in enumerate(names) if n}
    missing = [n for n, f in layout.fields.items() if f.required and n.upper() not in at]
    if missing:
        raise LoadError(f"{label}, row {header_no}: required column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} missing (the columns are {', '.join(layout.fields)}; "
                        "config/indicators.yaml, population)")
    col = {role: layout.column(role) for role in ("region", "name", "year", "resident", "urban", "source")}
    required = {name.upper() for name, f in layout.fields.items() if f.required}

    def cell(row: list[Any], role: str) -> Any:
        name = col[role]
        if name is None or name.upper() not in at:
            return None
        i = at[name.upper()]
        return row[i] if i < len(row) else None

    errors: list[str] = []
    out: list[PopulationRow] = []
    seen: dict[tuple[str, int], int] = {}
    first_year = layout.first_year
    for no, row in rows_with_data[1:]:
        region = _text(cell(row, "region"))
        where = f"row {no}" + (f" ({region})" if region else "")
        problems: list[str] = []
        c = col["region"]
        if region is None:
            problems.append(f"{c} (the region code) is empty")
        elif not _DIGITS.match(region) or len(region) not in (6, 9, 12):
            problems.append(f"{c} {region!r} is not an administrative division code (6, 9 or 12 digits)")
        raw_year, c = cell(row, "year"), col["year"]
        year = _whole(raw_year) if _text(raw_year) is not None else None
        if _text(raw_year) is None:
            problems.append(f"{c} (the year) is empty")
        elif year is None or not first_year <= year <= this_year:
            problems.append(f"{c} {_text(raw_year)!r} is not a year from {first_year} to {this_year}")
        counts: dict[str, int] = {}
        for role in ("resident", "urban"):
            raw, c = cell(row, role), col[role]
            value = _whole(raw) if _text(raw) is not None else None
            if _text(raw) is None:
                problems.append(f"{c} ({layout.fields[c or ''].title['zh']}) is empty")
            elif value is None or value < 0:
                problems.append(f"{c} {_text(raw)!r} is not a whole number of persons of at least 0")
            else:
                counts[role] = value
        if len(counts) == 2 and counts["urban"] > counts["resident"]:
            problems.append(f"{col['urban']} {counts['urban']} is more than {col['resident']} {counts['resident']} "
                            "(the urban population is part of the resident one)")
        for role in ("name", "source"):
            name = col[role]
            if name is not None and name.upper() in required and _text(cell(row, role)) is None:
                problems.append(f"{name} ({layout.fields[name].title['zh']}) is empty")
        if not problems and region is not None and year is not None:
            if (region, year) in seen:
                problems.append(f"a second row of {region} in {year} (the first is row {seen[(region, year)]})")
            else:
                seen[(region, year)] = no
        if problems:
            errors += [f"{where}: {p}" for p in problems]
            continue
        assert region is not None and year is not None
        out.append(PopulationRow(region=region, year=year, resident=counts["resident"], urban=counts["urban"],
                                 name=_text(cell(row, "name")), source=_text(cell(row, "source"))))
    if errors:
        listed = errors[:MAX_LISTED]
        more = f"; and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
        raise LoadError(f"{label} was not loaded (nothing was written): " + "; ".join(listed) + more)
    if not out:
        raise LoadError(f"{label} has a header but no rows")
    return out


def read_population(path: Path, sheet: str | None = None, ind: Indicators | None = None,
                    this_year: int | None = None) -> list[PopulationRow]:
    """The checked rows of a population table file (a LoadError, naming the rows, when any is wrong)."""
    path = Path(path)
    year = this_year if this_year is not None else dt.date.today().year
    return parse_rows(read_rows(path, sheet), _layout(ind), year, path.name)


def load_population(store: Store, path: Path, sheet: str | None = None, ind: Indicators | None = None,
                    this_year: int | None = None) -> LoadSummary:
    """Read a file strictly and replace the (region, year) rows it carries, all in one transaction."""
    rows = read_population(path, sheet, ind, this_year)
    store.load_population(rows, dt.datetime.now(dt.UTC).replace(microsecond=0))
    return LoadSummary(rows=len(rows), years=tuple(sorted({r.year for r in rows})),
                       regions=len({r.region for r in rows}))
