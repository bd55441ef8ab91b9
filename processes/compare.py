"""compare (对比分析): two states of one layer of the one map, as JSON, a printable report and a GeoPackage.

The figures are ``providers.compare``'s (its docstring defines added, removed and changed); this module reads
the question from the inputs, checks what the caller may read (the layer's tier as its items, a drawer entry
under review for internal callers only, as the statistics process does) and writes the answer.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyogrio
import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidInput, InvalidParameterValue, NotFound
from onemap.config.settings import Settings
from onemap.domain.dates import today
from onemap.providers.compare import Comparison, State, code_field, compare, read_state, state
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.regions import Regions
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, Reader, RunContext
from .compliance import CRS_INPUT, FORMAT_INPUT
from .statistics import REGION_RE, _boundary, check_readable, data_layer

JSON_MEDIA = "application/json"
HTML_MEDIA = "text/html"
GPKG_MEDIA = "application/geopackage+sqlite3"
# a date, or anything made of a date's characters: "2023-1-1" is a malformed date, not a plan id
DATE_LIKE = re.compile(r"^[0-9:/.+TZ-]+$")
YEAR_RE = re.compile(r"^[0-9]{4}$")
ALL = "all"  # every layer the caller may read
PLAN_ID_RE = re.compile(r"^[0-9A-Za-z._-]+$")
CHANGE_TITLES = {"added": "新增 added", "removed": "减少 removed", "changed": "变更 changed"}
GPKG_FIELDS = ("change", "from_code", "to_code", "from_label", "to_label", "m2", "ha", "mu", "from_fid", "to_fid")


def _side(value: str, name: str, store: Store | None = None) -> tuple[dt.date | None, str | None]:
    """A side as given: (the date, None) or (None, the plan id); a survey year (``2022``) is the date that survey
    came into force; a malformed date is a 400."""
    if YEAR_RE.match(value) and store is not None:
        from onemap.providers.indicators import shared_service

        held = dict(shared_service(store).survey_dates())
        if value not in held:
            raise InvalidParameterValue(f"{name}: no survey of {value} is held; the survey years are "
                                        f"{', '.join(sorted(held)) or 'none'}")
        return held[value], None
    if DATE_LIKE.match(value):
        try:
            if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                raise ValueError
            return dt.date.fromisoformat(value), None
        except ValueError:
            raise InvalidParameterValue(f"{name}: {value!r} is neither a date (YYYY-MM-DD) nor a plan id") from None
    if not PLAN_ID_RE.match(value):
        raise InvalidParameterValue(f"{name}: {value!r} is neither a date (YYYY-MM-DD) nor a plan id")
    return None, value


def plan_ids_of(inputs: dict[str, Any]) -> list[str]:
    """The drawer entries the inputs name (those given as plan ids)."""
    out = []
    for name in ("from", "to"):
        value = inputs.get(name)
        if isinstance(value, str) and not DATE_LIKE.match(value) and not YEAR_RE.match(value) \
                and PLAN_ID_RE.match(value):
            out.append(value)
    return out


class Question:
    """A comparison, checked: the layer, its code field, the two states and the area."""

    def __init__(self, store: Store, settings: Settings, inputs: dict[str, Any], unfiled: bool) -> None:
        self.layer: Layer = data_layer(store.catalogue, inputs["layer"])
        if inputs["from"] == inputs["to"]:
            raise InvalidParameterValue("from and to are the same: compare two dates, two plans or a date and a plan")
        (day_a, plan_a), (day_b, plan_b) = _side(inputs["from"], "from", store), _side(inputs["to"], "to", store)
        self.field = code_field(self.layer, inputs.get("field"))
        self.a: State = state(store, self.layer, inputs["from"], day_a, plan_a, unfiled)
        self.b: State = state(store, self.layer, inputs["to"], day_b, plan_b, unfiled)
        self.area: shapely.Geometry | None = None
        self.area_doc: dict[str, Any] | None = None
        area = inputs.get("area")
        if isinstance(area, str) and REGION_RE.match(area):
            day = day_b or day_a or today(settings.timezone)
            try:
                region = Regions(store, day).get(area)
            except NotFound:
                raise InvalidParameterValue(f"area: no region {area} in the land survey in force on "
                                            f"{day.isoformat()}") from None
            self.area = region.outline
            self.area_doc = {"region": region.code, "name": region.name, "level": region.level}
        elif area is not None:
            self.area = _boundary(area, settings, inputs.get("area_format"), inputs.get("crs"))
            self.area_doc = {"geometry": shapely.geometry.mapping(self.area)}
        if self.area is not None:
            self.area = shapely.make_valid(self.area) if not self.area.is_valid else self.area
            self.area_doc = (self.area_doc or {}) | area_units(float(geodesic_area(self.area)))


def answer(store: Store, q: Question, progress: Any = None) -> tuple[dict[str, Any], Comparison]:
    """The comparison document (the change pieces as a GeoJSON FeatureCollection) and the comparison."""
    tick = progress or (lambda p, m: None)
    tick(10, f"reading {q.a.given}")
    a = read_state(store, q.layer, q.a, q.area, q.field)
    tick(25, f"reading {q.b.given}")
    b = read_state(store, q.layer, q.b, q.area, q.field)
    c = compare(q.layer, a, b, q.field, tick)
    features = []
    for n, p in enumerate(c.pieces, start=1):
        props = {k: v for k, v in p.items() if k != "geometry"}
        features.append({"type": "Feature", "id": n, "geometry": shapely.geometry.mapping(p["geometry"]),
                          "properties": props})
    doc = {
        "layer": q.layer.id,
        "field": q.field,
        "from": q.a.describe() | {"features": len(a)},
        "to": q.b.describe() | {"features": len(b)},
        "area": q.area_doc,
        "summary": c.summary,
        "transitions": c.transitions,
        "features": c.features,
        "changes": {"type": "FeatureCollection", "features": features},
    }
    return doc, c


def report_html(doc: dict[str, Any], layer: Layer) -> str:
    """The printable report: the summary, the transition matrix in 公顷, the feature changes."""
    from .report import _env

    rows = sorted({t["from"] for t in doc["transitions"]}, key=lambda c: (c is None, str(c)))
    cols = sorted({t["to"] for t in doc["transitions"]}, key=lambda c: (c is None, str(c)))
    cell = {(t["from"], t["to"]): t for t in doc["transitions"]}
    labels: dict[Any, Any] = {}
    for t in doc["transitions"]:
        labels.setdefault(t["from"], t.get("from_label"))
        labels.setdefault(t["to"], t.get("to_label"))
    return _env.get_template("compare_report.html").render(
        d=doc, title=layer.t("title"), rows=rows, cols=cols, cell=cell, labels=labels, titles=CHANGE_TITLES,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def changes_gpkg(doc: dict[str, Any], layer: Layer) -> bytes:
    """The change pieces as a GeoPackage (one MultiPolygon layer, CGCS2000 lon/lat)."""
    feats = doc["changes"]["features"]
    geoms = [shapely.to_wkb(_multi(shapely.geometry.shape(f["geometry"]))) for f in feats]
    p = [f["properties"] for f in feats]
    label = {t["from"]: t.get("from_label") for t in doc["transitions"]} | \
        {t["to"]: t.get("to_label") for t in doc["transitions"]}
    data = [
        np.array([x["change"] for x in p], dtype=object),
        np.array([None if x["from"] is None else str(x["from"]) for x in p], dtype=object),
        np.array([None if x["to"] is None else str(x["to"]) for x in p], dtype=object),
        np.array([label.get(x["from"]) for x in p], dtype=object),
        np.array([label.get(x["to"]) for x in p], dtype=object),
        np.array([x["m2"] for x in p], dtype=float),
        np.array([round(x["m2"] / 1e4, 4) for x in p], dtype=float),
        np.array([round(x["m2"] * 0.0015, 3) for x in p], dtype=float),
        np.array([-1 if x["from_fid"] is None else x["from_fid"] for x in p], dtype=np.int64),
        np.array([-1 if x["to_fid"] is None else x["to_fid"] for x in p], dtype=np.int64),
    ]
    with tempfile.TemporaryDirectory(prefix="onemap-compare-") as tmp:
        path = Path(tmp) / "changes.gpkg"
        pyogrio.raw.write(path, geometry=np.array(geoms, dtype=object), field_data=data, fields=list(GPKG_FIELDS),
                          layer=f"{layer.id}_changes", driver="GPKG", crs="EPSG:4490", geometry_type="MultiPolygon",
                          encoding="UTF-8")
        return path.read_bytes()


def _multi(g: shapely.Geometry) -> shapely.Geometry:
    return shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g


def all_questions(store: Store, settings: Settings, inputs: dict[str, Any], reaches: Any) -> list[Question]:
    """One question per layer the caller reaches that both sides can hold (a drawer entry holds one kind of
    data: a survey entry's layers only when a side is a survey entry)."""
    kinds = {p.type for p in (store.plan(pid) for pid in plan_ids_of(inputs)) if p is not None}
    return [Question(store, settings, {**inputs, "layer": lid}, unfiled=True)
            for lid, layer in store.catalogue.layers.items()
            if layer.drawer and reaches(layer.tier) and kinds <= set(layer.drawer_types)]


def compare_all(ctx: RunContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """Every layer the caller reads: each layer's summary and transitions (its pieces: ask for the layer)."""
    qs = all_questions(ctx.store, ctx.settings, inputs, ctx.reaches)
    layers = {}
    for i, q in enumerate(qs):
        ctx.progress(5 + int(90 * i / max(len(qs), 1)), f"comparing {q.layer.id}")
        doc, _ = answer(ctx.store, q)
        layers[q.layer.id] = {k: doc[k] for k in ("field", "from", "to", "summary", "transitions")}
    area = qs[0].area_doc if qs else None
    return {"layer": ALL, "from": inputs["from"], "to": inputs["to"], "area": area, "layers": layers}


class CompareProcessor(OneMapProcessor):
    """对比分析 / compare two states of the one map."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "compare",
        "title": {"zh": "对比分析", "en": "Compare"},
        "description": {
            "zh": "对比一个图层的两个状态（某日各处现行管控的规划，或某一抽屉条目）：新增、减少和变更（编码不同）的面积"
                  "（平方米、公顷、亩），编码转移矩阵，新增、减少和变更的要素（按标识码 BSM 识别），以及变化图斑；"
                  "输出 JSON、可打印的 HTML 报告和变化图斑的 GeoPackage。",
            "en": "Two states of a layer (the plans governing on a date, or one drawer entry) compared: the area "
                  "added, removed and changed (another code) in m², ha and mu, the code transition matrix, the "
                  "features added, removed and changed (told apart by their BSM), and the change pieces; as JSON, "
                  "a printable HTML report and a GeoPackage of the pieces.",
        },
        "keywords": ["对比分析", "compare", "change detection", "转移矩阵"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "layer": {
                "title": "图层 / Layer",
                "description": "A collection id the caller may read, e.g. czkfbj or dltb; or all: every layer the "
                               "caller reads (each layer's summary and transitions, JSON only).",
                "schema": {"type": "string", "maxLength": 64},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "from": {
                "title": "对比基准 / From",
                "description": "A date (YYYY-MM-DD: the plans governing each place then), a survey year (2022: "
                               "the date that survey came into force) or a plan id (one drawer entry).",
                "schema": {"type": "string", "maxLength": 64},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "to": {
                "title": "对比目标 / To",
                "description": "A date, a survey year or a plan id, as from.",
                "schema": {"type": "string", "maxLength": 64},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "area": {
                "title": "范围 / Area",
                "description": "A region code (e.g. 990121: the region as the survey in force on the to date draws "
                               "it), or a boundary as for compliance-review (GeoJSON in lon/lat CGCS2000 by default). "
                               "Everywhere when left out.",
                "schema": {"oneOf": [{"type": "object"}, {"type": "string", "maxLength": 20_000_000}]},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "area_format": FORMAT_INPUT,
            "crs": CRS_INPUT,
            "field": {
                "title": "编码字段 / Code field",
                "description": "The field the transitions are keyed on; default: the layer's first coded field "
                               "(DLBM of dltb, GHFQDM of ghfq and czkfbj).",
                "schema": {"type": "string", "maxLength": 64},
                "minOccurs": 0, "maxOccurs": 1,
            },
        },
        "outputs": {
            "result": {
                "title": "对比结果 / Comparison",
                "description": "summary (added_m2, removed_m2, changed_m2, also in ha and mu), transitions, features, "
                               "changes (a GeoJSON FeatureCollection of the change pieces).",
                "schema": {"type": "object", "contentMediaType": JSON_MEDIA},
            },
            "report": {
                "title": "对比报告（可打印） / Printable report",
                "schema": {"type": "string", "contentMediaType": HTML_MEDIA}, "default": False,
            },
            "changes": {
                "title": "变化图斑（GeoPackage） / Change pieces",
                "schema": {"type": "string", "contentEncoding": "binary", "contentMediaType": GPKG_MEDIA},
                "default": False,
            },
        },
        "example": {"inputs": {"layer": "czkfbj", "from": "990100-city-master-2021",
                               "to": "990100-city-master-2023"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        if store is None:
            return
        if inputs["layer"] != ALL:
            Question(store, settings, inputs, unfiled=True)
            return
        if not all_questions(store, settings, inputs, lambda tier: True):
            raise InvalidParameterValue("from and to hold no layer in common to compare")

    def authorize(self, inputs: dict[str, Any], store: Store, reader: Reader) -> None:
        named: list[str | None] = [*plan_ids_of(inputs)]
        if inputs["layer"] == ALL:  # the layers come from what the caller reads; the entries it names must be seen
            from onemap.config.catalogue import REGISTRY

            for plan_id in named:
                check_readable(store, REGISTRY.id, plan_id, reader)
            return
        for plan_id in named or [None]:
            check_readable(store, inputs["layer"], plan_id, reader)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        if inputs["layer"] == ALL:
            if set(outputs) - {"result"}:
                raise InvalidInput("layer=all gives the JSON result; ask for one layer's report or GeoPackage")
            return {"result": Output(JSON_MEDIA, compare_all(ctx, inputs))}
        ctx.progress(5, "checking the question")
        q = Question(ctx.store, ctx.settings, inputs, unfiled=True)
        doc, _ = answer(ctx.store, q, ctx.progress)
        out: dict[str, Output] = {}
        if "result" in outputs:
            out["result"] = Output(JSON_MEDIA, doc)
        if "report" in outputs:
            ctx.progress(90, "writing the report")
            out["report"] = Output(HTML_MEDIA, report_html(doc, q.layer))
        if "changes" in outputs:
            ctx.progress(92, "writing the GeoPackage")
            out["changes"] = Output(GPKG_MEDIA, changes_gpkg(doc, q.layer))
        if not out:
            raise InvalidInput("ask for result, report or changes")
        return out
