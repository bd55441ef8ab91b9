"""land-use-summary (三调 土地利用现状分类面积汇总表): the survey's areas by class, per sub-region.

Rows are the townships of a county (the counties of a city, the cities of the province), columns the
三调 first-level classes (一级类) each with its subtotal and its second-level classes (二级类), as the
code table config/codes/sandiao_dlbm.csv groups them (a third-level code counts under its second-level
parent). Areas are in 公顷 with 2 decimals: each cell is rounded, and every subtotal and total is the
sum of the cells it adds up, so the printed table adds up. Sums come from ``providers.statistics``
(the 坐落单位代码's prefix, the 汇总表's own way of assigning parcels to regions).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, ClassVar

from onemap.config.codes import CodeTable
from onemap.config.errors import ConfigError, InvalidParameterValue, NotFound
from onemap.config.settings import Settings
from onemap.domain.dates import parse_recorded
from onemap.providers.regions import LEVELS, Region, Regions
from onemap.providers.statistics import StatisticsQuery, statistics
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, Reader, RunContext
from .certificates import RECORDED_INPUT
from .statistics import JSON_MEDIA, REGION_RE, XLSX_MEDIA, check_readable, parse_day

LAYER = "dltb"
FIELD = "DLBM"
TABLE = "sandiao_dlbm"
HTML_MEDIA = "text/html"
UNKNOWN = "??"  # the group of codes the table does not hold (shown, never dropped)
SUBTOTAL = "小计"


@dataclass(frozen=True)
class Group:
    """One 一级类 column group: its code, name and the second-level codes under it, in the table's order."""

    code: str
    name: str
    subs: tuple[tuple[str, str], ...]


def class_groups(table: CodeTable) -> list[Group]:
    """The first-level classes of the table, in its order, each with its second-level classes."""
    firsts = [c for c in table.codes.values() if c.parent is None]
    return [Group(f.code, f.zh, tuple((c.code, c.zh) for c in table.codes.values() if c.parent == f.code))
            for f in firsts]


def second_level(table: CodeTable, code: str) -> tuple[str, str] | None:
    """(一级类, 二级类 or the 一级类 itself when it has none) of a code; None when the table lacks it."""
    c = table.codes.get(code)
    seen = 0
    while c is not None and c.parent is not None and seen < 5:
        parent = table.codes.get(c.parent)
        if parent is None:
            return None
        if parent.parent is None:
            return parent.code, c.code
        c, seen = parent, seen + 1
    if c is not None and c.parent is None:
        return c.code, c.code
    return None


def child_level(level: str) -> str:
    order = list(LEVELS)
    i = order.index(level)
    if i + 1 >= len(order):
        raise InvalidParameterValue("region: a township has no regions under it; give a county, a city or the "
                                    "province")
    return order[i + 1]


def summary(store: Store, region: str, day: dt.date, recorded: dt.datetime | None = None) -> dict[str, Any]:
    """The 汇总表 of ``region``'s sub-regions on ``day`` (the survey in force then)."""
    catalogue = store.catalogue
    layer = catalogue.layers.get(LAYER)
    table = catalogue.code_tables.get(TABLE)
    if layer is None or table is None or layer.region_field is None:
        raise ConfigError(f"the 汇总表 needs the layer {LAYER} with a region_field and the code table {TABLE}")
    regions = Regions(store, day)
    top = _region(regions, region, day)
    level = child_level(top.level)
    sq = StatisticsQuery(layer=layer, day=day, group_by=(f"region:{level}", FIELD), region=top.code,
                         recorded=recorded)
    ha: dict[str, dict[str, float]] = {}  # region -> 二级类 (or 一级类 / unknown code) -> 公顷, rounded
    names: dict[str, str | None] = {r.code: r.name for r in regions.at_level(level, top.code)}
    unknown: set[str] = set()
    for row in statistics(store, sq):
        names.setdefault(row["region"], row["region_name"])
        code = str(row[FIELD]) if row[FIELD] is not None else ""
        where = second_level(table, code)
        if where is None:
            unknown.add(code)
            key = code
        else:
            key = where[1]
        cells = ha.setdefault(row["region"], {})
        cells[key] = cells.get(key, 0.0) + row["m2"] / 10_000.0
    groups = class_groups(table)
    if unknown:
        groups.append(Group(UNKNOWN, "未列入分类的地类编码", tuple((c, c or "（空）") for c in sorted(unknown))))
    rows = [_row(code, names.get(code), ha.get(code, {}), groups) for code in sorted(names)]
    total = _row(top.code, "合计", {}, groups)
    for r in rows:
        for k, v in r["cells"].items():
            total["cells"][k] = round(total["cells"][k] + v, 2)
        total["total"] = round(total["total"] + r["total"], 2)
    return {
        "title": "土地利用现状分类面积汇总表",
        "region": {"code": top.code, "name": top.name, "level": top.level},
        "rows_level": level,
        "datetime": day.isoformat(),
        "recorded": recorded.isoformat() if recorded else None,
        "layer": LAYER,
        "unit": "公顷",
        "columns": [{"code": g.code, "name": g.name, "classes": [{"code": c, "name": n} for c, n in g.subs]}
                    for g in groups],
        "rows": rows,
        "total": total,
    }


def _region(regions: Regions, code: str, day: dt.date) -> Region:
    try:
        return regions.get(code)
    except NotFound:
        raise InvalidParameterValue(f"region: no region {code} in the land survey in force on "
                                    f"{day.isoformat()}") from None


def _row(code: str, name: str | None, ha: dict[str, float], groups: list[Group]) -> dict[str, Any]:
    """One row: each class's cell (rounded to 0.01 ha), each group's subtotal and the total, as sums of cells."""
    cells: dict[str, float] = {}
    total = 0.0
    for g in groups:
        subs = g.subs or ((g.code, g.name),)
        values = {c: round(ha.get(c, 0.0), 2) for c, _ in subs}
        own = round(ha.get(g.code, 0.0), 2) if g.subs else 0.0  # a first-level code given as a parcel's class
        subtotal = round(sum(values.values()) + own, 2)
        if g.subs:
            cells.update(values)
        cells[g.code] = subtotal
        total += subtotal
    return {"region": code, "region_name": name, "total": round(total, 2), "cells": cells}


# ---- the printable and Excel forms --------------------------------------------------------------------
def header(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The column groups as the printed table heads them: (code, name, [subcolumns as (code, title)])."""
    out = []
    for g in doc["columns"]:
        subs = [(g["code"], SUBTOTAL)] + [(c["code"], f"{c['code']} {c['name']}") for c in g["classes"]]
        out.append({"code": g["code"], "title": f"{g['code']} {g['name']}", "subs": subs})
    return out


def to_html(doc: dict[str, Any]) -> str:
    from .report import _env

    return _env.get_template("land_use_summary.html").render(
        d=doc, heads=header(doc), generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def to_xlsx(doc: dict[str, Any]) -> bytes:
    """The table in a workbook: 一级类 merged over its 二级类, hectares with 2 decimals, a total row."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总表"
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    region = doc["region"]
    ws.cell(row=1, column=1, value=f"{region['name']}（{region['code']}）{doc['title']}")
    ws.cell(row=2, column=1, value=f"日期 {doc['datetime']} · 单位：公顷")
    heads = header(doc)
    width = 3 + sum(len(h["subs"]) for h in heads)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    top, sub = 3, 4
    for j, title in enumerate(("行政区代码", "行政区名称", "合计"), start=1):
        ws.cell(row=top, column=j, value=title)
        ws.merge_cells(start_row=top, start_column=j, end_row=sub, end_column=j)
    col = 4
    keys: list[str] = []
    for h in heads:
        ws.cell(row=top, column=col, value=h["title"])
        if len(h["subs"]) > 1:
            ws.merge_cells(start_row=top, start_column=col, end_row=top, end_column=col + len(h["subs"]) - 1)
        for code, title in h["subs"]:
            ws.cell(row=sub, column=col, value=title)
            keys.append(code)
            col += 1
    for r in range(top, sub + 1):
        for c in range(1, width + 1):
            cell = ws.cell(row=r, column=c)
            cell.font, cell.alignment, cell.border = Font(bold=True), centre, box
    for row in [*doc["rows"], doc["total"]]:
        ws.append([row["region"], row["region_name"], row["total"], *(row["cells"][k] for k in keys)])
        for c in range(1, width + 1):
            cell = ws.cell(row=ws.max_row, column=c)
            cell.border = box
            if c >= 3:
                cell.number_format = "0.00"
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 14
    ws.freeze_panes = ws.cell(row=sub + 1, column=4)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class LandUseSummaryProcessor(OneMapProcessor):
    """土地利用现状分类面积汇总表 / land-use summary table of the survey."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "land-use-summary",
        "title": {"zh": "土地利用现状分类面积汇总表", "en": "Land-use summary table (third national land survey)"},
        "description": {
            "zh": "按第三次全国国土调查工作分类，汇总某县各乡镇（某市各县、全省各市）在某日现行调查中的地类面积："
                  "行为下级行政区，列为一级类及其二级类，单位公顷（保留两位小数），含小计与合计行列。"
                  "输出 JSON、可打印 HTML 或 XLSX（一级类合并单元格）。",
            "en": "The survey in force on a date summed by class for the townships of a county (the counties of a "
                  "city, the cities of the province): a row per region, a column per 三调 first-level class with "
                  "its subtotal and second-level classes, in hectares (2 decimals), with total row and column; as "
                  "JSON, printable HTML or XLSX (first-level classes merged over their classes).",
        },
        "keywords": ["土地利用现状分类面积汇总表", "三调", "land-use summary"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "region": {
                "title": "行政区代码 / Region",
                "description": "A county (rows: its townships), a city (its counties) or the province (its cities).",
                "schema": {"type": "string", "pattern": r"^[0-9]{6}([0-9]{3})?$"},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "datetime": {
                "title": "日期 / Date",
                "description": "The survey in force on this date (YYYY-MM-DD); today in Asia/Shanghai by default.",
                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "recorded": RECORDED_INPUT,
        },
        "outputs": {
            "summary": {
                "title": "汇总表 / Summary table",
                "description": "JSON (default), printable HTML or XLSX.",
                "schema": {"type": "object", "contentMediaType": JSON_MEDIA},
                "formats": [JSON_MEDIA, HTML_MEDIA, XLSX_MEDIA],
            },
        },
        "example": {"inputs": {"region": "990121", "datetime": "2024-01-01"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        if not REGION_RE.match(inputs["region"]):
            raise InvalidParameterValue(f"region {inputs['region']!r} is not a 6 or 9 digit region code")
        day = parse_day(inputs.get("datetime"), settings.timezone)
        if store is not None:
            child_level(_region(Regions(store, day), inputs["region"], day).level)

    def authorize(self, inputs: dict[str, Any], store: Store, reader: Reader) -> None:
        check_readable(store, LAYER, None, reader)

    def heavy(self, inputs: dict[str, Any], settings: Settings) -> bool:
        return False  # one GROUP BY in the database (0.23 s over a million parcels)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        ctx.progress(10, "summing the survey")
        doc = summary(ctx.store, inputs["region"], parse_day(inputs.get("datetime"), ctx.settings.timezone),
                      parse_recorded(inputs.get("recorded"), ctx.settings.timezone))
        out = {}
        for name, media in outputs.items():
            if media == HTML_MEDIA:
                out[name] = Output(HTML_MEDIA, to_html(doc))
            elif media == XLSX_MEDIA:
                out[name] = Output(XLSX_MEDIA, to_xlsx(doc))
            else:
                out[name] = Output(JSON_MEDIA, doc)
        return out

