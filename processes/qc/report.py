"""The quality-check report: a JSON document, a printable HTML page with an overview map, and a
GeoPackage of where the findings are (a point layer and a polygon layer, EPSG:4490) for QGIS."""

from __future__ import annotations

import base64
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from jinja2 import Environment, FileSystemLoader, select_autoescape
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from ..report import _frame, _paint
from .engine import QcResult
from .findings import Finding

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
GPKG_FIELDS = ("rule", "severity", "layer", "bsm", "fid", "message_zh", "message_en", "measured", "expected")
POINT_LAYER, POLYGON_LAYER = "findings_point", "findings_polygon"
HTML_MAX_FINDINGS = 1000
COLOURS = {"error": (200, 30, 30), "warning": (230, 140, 0)}


def _geojson(g: shapely.Geometry | None) -> dict | None:
    if g is None or g.is_empty:
        return None
    return json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-8) if g.geom_type != "Point" else g))


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def finding_json(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "variant": f.variant, "severity": f.severity, "layer": f.layer, "layer_id": f.layer_id,
            "fid": f.fid, "row": f.row, "bsm": f.bsm, "field": f.field, "measured": _plain(f.measured),
            "expected": _plain(f.expected), "message": {"zh": f.message_zh, "en": f.message_en},
            "location": _geojson(f.location)}


def to_json(r: QcResult) -> dict[str, Any]:
    """The report as a JSON-able document."""
    cfg = r.config
    by_rule: dict[str, dict[str, Any]] = {}
    for (rule, sev), n in sorted(r.counts.items()):
        entry = by_rule.setdefault(rule, {"rule": rule, "title": cfg.title(rule), "errors": 0, "warnings": 0})
        entry["errors" if sev == "error" else "warnings"] += n
    by_layer: dict[str, dict[str, int]] = {}
    for (layer, sev), n in sorted(r.by_layer.items()):
        by_layer.setdefault(layer, {"errors": 0, "warnings": 0})["errors" if sev == "error" else "warnings"] += n
    rules = []
    for rid, info in cfg.rule_catalogue.items():
        setting = cfg.rules.get(rid)
        rules.append({"id": rid, "category": info.category, "title": cfg.title(rid),
                      "enabled": cfg.enabled(rid), "severity": cfg.severity(rid) if setting else None,
                      "why_not": setting.why if setting and not setting.enabled else None,
                      "basis": info.basis_source})
    return {
        "process": "plan-qc",
        "status": "passed" if r.passed else "failed",
        "subject": r.subject,
        "started": r.started.isoformat(timespec="seconds"),
        "seconds": r.seconds,
        "summary": {
            "errors": r.errors, "warnings": r.warnings,
            "by_rule": list(by_rule.values()), "by_layer": by_layer,
            "listed": len(r.findings),
            "not_listed": [{"rule": rule, "layer": layer, "count": n}
                           for (rule, layer), n in sorted(r.dropped.items())],
            "zh": ("质检通过" if r.passed else "质检未通过") + f"：错误 {r.errors} 项，警告 {r.warnings} 项",
            "en": r.summary(),
        },
        "layers": r.layers,
        "notes": r.notes,
        "rules": rules,
        # the rule file by its name: no report or error shows where the server keeps its files
        "config": {"path": Path(cfg.path).name, "thresholds": cfg.thresholds.model_dump()},
        "findings": [finding_json(f) for f in r.findings],
    }


# ---- GeoPackage ---------------------------------------------------------------------------------------
def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else str(v)
    return str(_plain(v))


def write_gpkg(r: QcResult, path: str | Path) -> Path:
    """The findings' locations: points in one layer, polygons in the other (every finding once;
    findings without a location are points without geometry)."""
    path = Path(path)
    if path.exists():
        path.unlink()
    points: list[tuple[Finding, bytes | None]] = []
    polys: list[tuple[Finding, bytes | None]] = []  # always with WKB; typed as points is, for the loop below
    for f in r.findings:
        g = f.location
        if g is not None and not g.is_empty and shapely.get_type_id(g) in (3, 6, 7):
            parts = shapely.get_parts(g)
            parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
            if len(parts):
                polys.append((f, shapely.to_wkb(shapely.multipolygons(shapely.get_parts(parts)))))
                continue
        if g is not None and not g.is_empty and g.geom_type != "Point":
            g = shapely.point_on_surface(g)
        points.append((f, shapely.to_wkb(g) if g is not None and not g.is_empty else None))
    outputs: tuple[tuple[str, list[tuple[Finding, bytes | None]], str], ...] = (
        (POINT_LAYER, points, "Point"), (POLYGON_LAYER, polys, "MultiPolygon"))
    for i, (layer, rows, gtype) in enumerate(outputs):
        data = [np.array([_text(getattr(f, name)) for f, _ in rows], dtype=object) for name in GPKG_FIELDS]
        data[GPKG_FIELDS.index("fid")] = np.array([f.fid if f.fid is not None else -1 for f, _ in rows],
                                                  dtype=np.int64)
        pyogrio.raw.write(path, geometry=np.array([w for _, w in rows], dtype=object), field_data=data,
                          fields=list(GPKG_FIELDS), layer=layer, driver="GPKG", crs="EPSG:4490",
                          geometry_type=gtype, append=i > 0, encoding="UTF-8",
                          # the GeoPackage key column gets its own name: "fid" is the finding's feature
                          layer_options={"FID": "qc_id"})
    return path


def gpkg_bytes(r: QcResult) -> bytes:
    with tempfile.TemporaryDirectory(prefix="onemap-qc-") as tmp:
        return write_gpkg(r, Path(tmp) / "errors.gpkg").read_bytes()


# ---- HTML -----------------------------------------------------------------------------------------------
def map_png(r: QcResult) -> bytes | None:
    """An overview: the region, the layers' extents, the findings (red errors, orange warnings)."""
    frame_geoms = [r.region_outline] if r.region_outline is not None else []
    frame_geoms += [shapely.box(*layer["bounds"]) for layer in r.layers if layer.get("bounds")]
    if not frame_geoms:
        return None
    bbox, w, h = _frame(shapely.union_all(frame_geoms))
    transform = from_bounds(*bbox, w, h)
    img = np.full((3, h, w), 250, dtype=np.uint8)
    px = (bbox[2] - bbox[0]) / w
    if r.region_outline is not None:
        _paint(img, [r.region_outline], transform, (225, 232, 225))
        _paint(img, [shapely.buffer(shapely.boundary(r.region_outline), px * 1.2)], transform, (60, 60, 60))
    for sev in ("warning", "error"):
        shapes = []
        for f in r.findings:
            g = f.location
            if f.severity != sev or g is None or g.is_empty:
                continue
            if f.rule in ("C01", "S03", "M01", "M02", "C02"):
                continue  # whole-layer findings: shown in the table, not painted over the map
            # the place itself, and a ring around it: a one-hectare gap is a pixel on a county's map
            centre = shapely.centroid(g)
            shapes.append(shapely.buffer(g, px * 2) if g.geom_type == "Point" else g)
            shapes.append(shapely.difference(shapely.buffer(centre, px * 9), shapely.buffer(centre, px * 6)))
        _paint(img, shapes, transform, COLOURS[sev], 0.85, all_touched=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a dataset
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=w, height=h, count=3, dtype="uint8") as dst:
                dst.write(img)
            return mem.read()


def html(r: QcResult, doc: dict[str, Any] | None = None) -> str:
    """The printable report."""
    doc = doc or to_json(r)
    png = map_png(r)
    return _env.get_template("qc_report.html").render(
        r=doc, findings=doc["findings"][:HTML_MAX_FINDINGS], more=max(0, len(doc["findings"]) - HTML_MAX_FINDINGS),
        map_png=base64.b64encode(png).decode() if png else None)


def write_reports(r: QcResult, out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.html and errors.gpkg in ``out_dir`` (created; earlier reports replaced)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = to_json(r)
    paths = {"json": out / "report.json", "html": out / "report.html", "gpkg": out / "errors.gpkg"}
    paths["json"].write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    paths["html"].write_text(html(r, doc), encoding="utf-8")
    write_gpkg(r, paths["gpkg"])
    return paths
