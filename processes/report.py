"""Human reports of the processes: printable HTML with a map image drawn with rasterio."""

from __future__ import annotations

import base64
import datetime as dt
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from jinja2 import Environment, FileSystemLoader, select_autoescape
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from onemap.providers.store.base import When

from .base import RunContext

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

# status-quo colours by 三调 class group (first two digits)
SURVEY_COLOURS = {"01": (245, 230, 160), "02": (210, 235, 170), "03": (150, 200, 140), "04": (200, 225, 170),
                  "05": (240, 180, 170), "06": (215, 175, 205), "07": (240, 190, 175), "08": (240, 185, 200),
                  "09": (220, 170, 170), "10": (200, 200, 200), "11": (160, 200, 240), "12": (225, 225, 215),
                  "00": (170, 215, 225)}
CHECK_COLOURS = {"ecological_red_line": ((40, 140, 60), "生态保护红线 red line"),
                 "permanent_basic_farmland": ((230, 180, 0), "永久基本农田 farmland"),
                 "urban_development_boundary": ((150, 60, 170), "城镇开发边界 urban boundary"),
                 "historic_protection": ((170, 90, 40), "历史文化保护线 heritage"),
                 "flood_risk": ((40, 110, 200), "洪涝风险控制线 flood risk"),
                 "planned_land_use": ((220, 50, 50), "规划用途不一致 use mismatch")}
WIDTH = 900


def _frame(geom: shapely.Geometry) -> tuple[tuple[float, float, float, float], int, int]:
    minx, miny, maxx, maxy = geom.bounds
    pad_x = max((maxx - minx) * 0.3, 0.002)
    pad_y = max((maxy - miny) * 0.3, 0.002)
    minx, maxx, miny, maxy = minx - pad_x, maxx + pad_x, miny - pad_y, maxy + pad_y
    # equal ground distance per pixel in both directions at this latitude
    kx = math.cos(math.radians((miny + maxy) / 2))
    height = max(200, int(WIDTH * (maxy - miny) / ((maxx - minx) * kx)))
    height = min(height, 1400)
    return (minx, miny, maxx, maxy), WIDTH, height


def _paint(img: np.ndarray, shapes: list, transform: Any, colour: tuple[int, int, int], alpha: float = 1.0,
           all_touched: bool = False) -> None:
    if not shapes:
        return
    mask = rasterize([(s, 1) for s in shapes if s is not None and not s.is_empty], out_shape=img.shape[1:],
                     transform=transform, fill=0, dtype="uint8", all_touched=all_touched).astype(bool)
    for b in range(3):
        band = img[b].astype(float)
        band[mask] = band[mask] * (1 - alpha) + colour[b] * alpha
        img[b] = band.astype(np.uint8)


def map_png(ctx: RunContext, boundary: shapely.Geometry, conflicts: dict[str, shapely.Geometry],
            when: When, recorded: Any = None) -> tuple[bytes, list[dict[str, str]]]:
    """A PNG of the status quo, the conflicts and the boundary; and its legend."""
    bbox, w, h = _frame(boundary)
    transform = from_bounds(*bbox, w, h)
    img = np.full((3, h, w), 250, dtype=np.uint8)
    dltb = ctx.store.catalogue.layers.get("dltb")
    if dltb is not None:
        plans = ctx.store.plans_in_force(when, None, dltb, recorded)
        if plans:
            geoms, cols = ctx.store.geometries(dltb, plans, bbox=bbox, columns=["DLBM"])
            groups: dict[str, list] = {}
            for g, code in zip(geoms, cols["DLBM"]):
                groups.setdefault((code or "12")[:2], []).append(g)
            for key, shapes in groups.items():
                _paint(img, shapes, transform, SURVEY_COLOURS.get(key, (230, 230, 230)))
            _paint(img, [shapely.boundary(g) for g in geoms], transform, (255, 255, 255), 0.5)
    legend = []
    for check_id, geom in conflicts.items():
        colour, label = CHECK_COLOURS.get(check_id, ((200, 0, 0), check_id))
        if geom is not None and not geom.is_empty:
            _paint(img, [geom], transform, colour, 0.65)
            legend.append({"color": "rgb({},{},{})".format(*colour), "label": label})
    outline = shapely.boundary(boundary)
    _paint(img, [shapely.buffer(outline, (bbox[2] - bbox[0]) / w * 1.2)], transform, (20, 20, 20))
    legend.append({"color": "rgb(20,20,20)", "label": "项目范围 project boundary"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a dataset
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=w, height=h, count=3, dtype="uint8") as dst:
                dst.write(img)
            return mem.read(), legend


def compliance_html(ctx: RunContext, boundary: Any, result: dict[str, Any], recorded: Any = None) -> str:
    """The printable compliance report."""
    conflicts = {}
    for c in result["checks"]:
        if c["result"] == "pass" or c["id"] in ("status_quo", "planning_zones"):
            continue
        gj = c.get("mismatch_geometry") if c["id"] == "planned_land_use" else c.get("conflict_geometry")
        if c["id"] == "urban_development_boundary":
            gj = None  # the conflict here is what lies outside: shown by the boundary itself
        if gj:
            conflicts[c["id"]] = shapely.geometry.shape(gj)
    when = When.at(dt.date.fromisoformat(result["date"])) if result.get("date") else When(None, None)
    png, legend = map_png(ctx, boundary.geometry, conflicts, when, recorded)
    return _env.get_template("compliance_report.html").render(
        r=result, map_png=base64.b64encode(png).decode(), legend=legend,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
