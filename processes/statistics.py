"""statistics (查询统计): area in m², 公顷 and 亩 and feature count of a layer, grouped, on a date.

The sums are ``providers.statistics`` (pushed down to the database); this module reads the question
from a process's inputs or the GET form's parameters (``/collections/{id}/statistics``, the same
checks), writes the answer as JSON, CSV (UTF-8 with a BOM, for Excel) or XLSX, and checks what the
caller may read: the layer's tier as the items API does, a drawer entry under review for internal
callers only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import shapely

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.config.settings import Settings
from onemap.domain.dates import parse_recorded, today
from onemap.domain.plans import PUBLIC_STATES
from onemap.providers import crs as crsmod
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.params import parse_filter
from onemap.providers.regions import Regions
from onemap.providers.statistics import StatisticsQuery, check_filter, check_group_by, region_level, statistics
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, Reader, RunContext
from .certificates import RECORDED_INPUT
from .compliance import CRS_INPUT, FORMAT_INPUT

JSON_MEDIA = "application/json"
CSV_MEDIA = "text/csv"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REGION_RE = re.compile(r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# the column titles of the exports (fields and their labels are titled from the catalogue)
TITLES = {"region": "行政区代码", "region_name": "行政区名称", "m2": "面积（平方米）", "ha": "面积（公顷）",
          "mu": "面积（亩）", "count": "要素数"}
NUMBER_FORMATS = {"m2": "0.00", "ha": "0.0000", "mu": "0.000", "count": "0"}


@dataclass(frozen=True)
class Question:
    """A statistics request, checked: the query and how the answer names its area and filter."""

    query: StatisticsQuery
    area: dict[str, Any] | None
    filter_text: str | None


def data_layer(catalogue: Catalogue, layer_id: Any) -> Layer:
    """A one-map layer (the registry is not summed); any other id is a 404, as the items API answers."""
    layer = catalogue.collections.get(layer_id) if isinstance(layer_id, str) else None
    if layer is None or not layer.drawer:
        raise NotFound(f"collection {layer_id!r} does not exist")
    return layer


def check_readable(store: Store, layer_id: Any, plan_id: str | None, reader: Reader) -> None:
    """The caller reaches the layer's tier (else it does not exist for them) and, for a drawer entry under
    review, the internal tier (the items API shows submissions to internal callers only)."""
    if not reader.sees_layer(str(layer_id)):
        raise NotFound(f"collection {layer_id!r} does not exist")
    if plan_id is not None and not reader.unfiled:
        plan = store.plan(plan_id)
        if plan is None or plan.status not in PUBLIC_STATES:
            raise NotFound(f"no drawer entry {plan_id!r}")


def parse_day(value: str | None, tz: str) -> dt.date:
    """A date (YYYY-MM-DD); today where the plans are in force when none is given."""
    if not value:
        return today(tz)
    if not DATE_RE.match(value):
        raise InvalidParameterValue(f"datetime: {value!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameterValue(f"datetime: {value!r} is not a date (YYYY-MM-DD)") from None


def question(store: Store, settings: Settings, layer_id: Any, *, group_by: Sequence[str] = (),
             area: str | dict[str, Any] | None = None, day: dt.date, filter_ast: Any = None,
             filter_text: str | None = None, plan_id: str | None = None, recorded: dt.datetime | None = None,
             area_format: str | None = None, crs: str | None = None,
             bbox: tuple[float, float, float, float] | None = None) -> Question:
    """Every check of a statistics request before anything is summed (a 400 naming the mistake).

    ``bbox`` (storage lon/lat) is the GET form's box, what a map shows: it has no size limit, as the
    whole survey has none; a drawn ``area`` has the boundary limits of every process."""
    layer = data_layer(store.catalogue, layer_id)
    keys = check_group_by(layer, group_by)
    region, boundary = None, None
    area_doc: dict[str, Any] | None = None
    if bbox is not None and area is not None:
        raise InvalidParameterValue("give area or bbox, not both")
    if bbox is not None:
        if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            raise InvalidParameterValue("bbox: the box encloses no area")
        boundary = shapely.box(*bbox)
        area_doc = {"bbox": list(bbox), **area_units(float(geodesic_area(boundary)))}
    if isinstance(area, str) and REGION_RE.match(area):
        try:
            found = Regions(store, day).get(area)
        except NotFound:
            raise InvalidParameterValue(f"area: no region {area} in the land survey in force on "
                                        f"{day.isoformat()}") from None
        region, area_doc = area, {"region": found.code, "name": found.name, "level": found.level}
    elif area is not None:
        boundary = _boundary(area, settings, area_format, crs)
        area_doc = {"geometry": shapely.geometry.mapping(boundary), **area_units(float(geodesic_area(boundary)))}
    transform = None
    if filter_ast is not None:
        transform = crsmod.to_storage(crsmod.CRS84)
        check_filter(store, layer, filter_ast, transform)
    sq = StatisticsQuery(layer=layer, day=day, group_by=keys, region=region, boundary=boundary, filter=filter_ast,
                         filter_transform=transform, plan_id=plan_id, recorded=recorded)
    return Question(sq, area_doc, filter_text)


def _boundary(value: Any, settings: Settings, fmt: str | None, crs: str | None) -> shapely.Geometry:
    from .boundary import BoundaryLimits, parse_boundary

    if isinstance(value, str) and fmt is None and value.strip().isdigit():
        raise InvalidParameterValue(f"area: {value!r} is not a 6, 9 or 12 digit administrative division code")
    limits = BoundaryLimits(max_vertices=settings.processes.max_boundary_vertices,
                            max_area_km2=settings.processes.max_search_km2)
    return parse_boundary(value, fmt=fmt, crs=crs, limits=limits).geometry


def answer(store: Store, q: Question, lang: str = "zh") -> dict[str, Any]:
    """The statistics document: the question, a row per group (its code labels added) and the total."""
    sq = q.query
    rows = [_labelled(store.catalogue, sq.layer, sq.group_by, row, lang) for row in statistics(store, sq)]
    m2 = sum(r["m2"] for r in rows)
    return {
        "layer": sq.layer.id,
        "datetime": sq.day.isoformat(),
        "group_by": list(sq.group_by),
        "area": q.area,
        "filter": q.filter_text,
        "plan_id": sq.plan_id,
        "recorded": sq.recorded.isoformat() if sq.recorded else None,
        "rows": rows,
        # the sum of the rows (a feature cut by two regions' outlines is counted in each)
        "total": {**area_units(m2), "count": sum(r["count"] for r in rows)},
    }


def _labelled(catalogue: Catalogue, layer: Layer, keys: Sequence[str], row: dict[str, Any],
              lang: str) -> dict[str, Any]:
    """A row with each coded field followed by its label from the code table (DLBM, DLMC, ...)."""
    out: dict[str, Any] = {}
    if "region" in row:
        out["region"], out["region_name"] = row["region"], row["region_name"]
    for key in keys:
        if region_level(key) is not None:
            continue
        out[key] = row[key]
        f = layer.field_map[key]
        table = catalogue.code_table_for(layer, f, row)
        if table is not None:
            label = f.label_field or f"{key}_label"
            if label not in keys:
                out[label] = table.label(row[key], lang) if row[key] is not None else None
    for key in ("m2", "ha", "mu", "count"):
        out[key] = row[key]
    return out


def columns(doc: dict[str, Any]) -> list[str]:
    """The columns of the rows, in order (those of an empty answer from its group keys)."""
    if doc["rows"]:
        return list(doc["rows"][0])
    keys = [k for k in doc["group_by"] if region_level(k) is None]
    return (["region", "region_name"] if len(keys) < len(doc["group_by"]) else []) + keys + ["m2", "ha", "mu", "count"]


def to_csv(doc: dict[str, Any]) -> bytes:
    """The rows as CSV, UTF-8 with a BOM (Excel then reads the Chinese names as they are)."""
    buf = io.StringIO()
    cols = columns(doc)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for row in doc["rows"]:
        w.writerow(["" if row.get(c) is None else row.get(c) for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _title(layer: Layer | None, key: str) -> str:
    if key in TITLES:
        return TITLES[key]
    f = layer.field_map.get(key) if layer is not None else None
    if f is None and layer is not None and key.endswith("_label"):
        base = layer.field_map.get(key[:-6])
        return f"{base.label('zh')}（名称）" if base is not None else key
    return f"{f.label('zh')} {key}" if f is not None else key


def to_xlsx(doc: dict[str, Any], catalogue: Catalogue) -> bytes:
    """The rows as an Excel workbook: titled columns, a total row, and a sheet saying what was asked."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    layer = catalogue.collections.get(doc["layer"])
    cols = columns(doc)
    wb = Workbook()
    ws = wb.active
    ws.title = "统计"
    ws.append([_title(layer, c) for c in cols])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in doc["rows"]:
        ws.append([row.get(c) for c in cols])
    total = doc["total"]
    ws.append([total.get(c, "合计" if i == 0 else None) for i, c in enumerate(cols)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for j, c in enumerate(cols, start=1):
        fmt = NUMBER_FORMATS.get(c)
        if fmt is not None:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = max(10, 2 * len(_title(layer, c)))
    ws.freeze_panes = "A2"
    about = wb.create_sheet("说明")
    area = doc["area"] or {}
    for item in (("图层 layer", doc["layer"]), ("日期 datetime", doc["datetime"]),
                 ("分组 group_by", ", ".join(doc["group_by"])),
                 ("范围 area", area.get("region") or ("geometry" if area else "")),
                 ("筛选 filter", doc["filter"] or ""), ("抽屉条目 plan_id", doc["plan_id"] or ""),
                 ("登记时点 recorded", doc["recorded"] or ""),
                 ("面积 area", "椭球面积（CGCS2000）/ geodesic area on CGCS2000; 1 公顷 = 10,000 m², 1 亩 = 666.67 m²")):
        about.append(list(item))
    about.column_dimensions["A"].width = 20
    about.column_dimensions["B"].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def encode(doc: dict[str, Any], media: str, catalogue: Catalogue) -> Output:
    """The answer in the media type asked for."""
    if media == CSV_MEDIA:
        return Output(CSV_MEDIA, to_csv(doc))
    if media == XLSX_MEDIA:
        return Output(XLSX_MEDIA, to_xlsx(doc, catalogue))
    return Output(JSON_MEDIA, doc)


def filter_input(value: Any) -> tuple[Any, str | None]:
    """A process's ``filter`` input: CQL2 text (a string) or CQL2 JSON (an object), parsed as the items API
    parses ``filter``; and the text the answer repeats."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return parse_filter(value, "cql2-text", None), value
    text = json.dumps(value, ensure_ascii=False)
    return parse_filter(text, "cql2-json", None), text


class StatisticsProcessor(OneMapProcessor):
    """查询统计 / statistics."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "statistics",
        "title": {"zh": "查询统计", "en": "Statistics"},
        "description": {
            "zh": "按编码字段和/或行政区级别分组，统计某一图层在某日（各处现行管控规划）、某行政区或范围内、"
                  "满足 CQL2 筛选条件的要素椭球面积（平方米、公顷、亩）与个数；输出 JSON、CSV 或 XLSX。",
            "en": "Geodesic area (m², ha, mu) and feature count of a layer on a date (the plans governing each "
                  "place then), within a region or a boundary, with any CQL2 filter, grouped by code fields and/or "
                  "a region level; as JSON, CSV or XLSX.",
        },
        "keywords": ["查询统计", "statistics", "面积汇总"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "layer": {
                "title": "图层 / Layer",
                "description": "A collection id the caller may read, e.g. dltb (三调 parcels) or ghfq.",
                "schema": {"type": "string", "maxLength": 64},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "group_by": {
                "title": "分组 / Group by",
                "description": "Field names (at most 3, e.g. DLBM) and at most one region level: region:province, "
                               "region:city, region:county or region:township.",
                "schema": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 64},
                           "default": []},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "area": {
                "title": "范围 / Area",
                "description": "A region code (e.g. 990121: the region as the survey in force draws it), or a "
                               "boundary as for compliance-review (GeoJSON in lon/lat CGCS2000 by default, "
                               "coordinate file, GML, KML). Everywhere when left out.",
                "schema": {"oneOf": [{"type": "object"}, {"type": "string", "maxLength": 20_000_000}]},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "area_format": FORMAT_INPUT,
            "crs": CRS_INPUT,
            "datetime": {
                "title": "日期 / Date",
                "description": "The one map on this date (YYYY-MM-DD; today in Asia/Shanghai by default): the plans "
                               "governing each place then.",
                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "filter": {
                "title": "筛选 / Filter",
                "description": "CQL2 over the layer's queryables: text (a string) or JSON (an object), as the items "
                               "API's filter; geometry literals in CRS84.",
                "schema": {"oneOf": [{"type": "string", "maxLength": 20_000}, {"type": "object"}]},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "plan_id": {
                "title": "抽屉条目 / Drawer entry",
                "description": "Sum one drawer entry's features instead of the plans governing on the date.",
                "schema": {"type": "string", "maxLength": 64, "pattern": r"^[0-9A-Za-z._-]+$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "recorded": RECORDED_INPUT,
        },
        "outputs": {
            "statistics": {
                "title": "统计结果 / Statistics",
                "description": "JSON (default), CSV (UTF-8 with BOM) or XLSX.",
                "schema": {"type": "object", "contentMediaType": JSON_MEDIA},
                "formats": [JSON_MEDIA, CSV_MEDIA, XLSX_MEDIA],
            },
        },
        "example": {"inputs": {"layer": "dltb", "group_by": ["DLBM", "region:township"], "area": "990121",
                               "datetime": "2024-01-01"}},
    }

    def _question(self, inputs: dict[str, Any], settings: Settings, store: Store) -> Question:
        filt, text = filter_input(inputs.get("filter"))
        return question(store, settings, inputs["layer"], group_by=inputs.get("group_by") or (),
                        area=inputs.get("area"), day=parse_day(inputs.get("datetime"), settings.timezone),
                        filter_ast=filt, filter_text=text, plan_id=inputs.get("plan_id"),
                        recorded=parse_recorded(inputs.get("recorded"), settings.timezone),
                        area_format=inputs.get("area_format"), crs=inputs.get("crs"))

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        if store is not None:
            self._question(inputs, settings, store)

    def authorize(self, inputs: dict[str, Any], store: Store, reader: Reader) -> None:
        check_readable(store, inputs["layer"], inputs.get("plan_id"), reader)

    def heavy(self, inputs: dict[str, Any], settings: Settings) -> bool:
        """The database sums a region's or the whole map's features (0.23 s on a million parcels); a drawn
        boundary has every feature it cuts measured again."""
        area = inputs.get("area")
        return area is not None and not (isinstance(area, str) and REGION_RE.match(area))

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        ctx.progress(5, "checking the question")
        q = self._question(inputs, ctx.settings, ctx.store)
        ctx.progress(20, "summing")
        doc = answer(ctx.store, q)
        return {name: encode(doc, media, ctx.store.catalogue) for name, media in outputs.items()}
