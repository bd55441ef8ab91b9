"""The MapLibre style of the one map, generated from the layer catalogue.

Every public data layer gets style layers from its geometry and category; the colours of a
layer's theme field come from palettes keyed by code table (the 三调 land classes, the land and
sea use classes, the planning zones), resolved through each table's parent hierarchy, so a
province's own code tables colour correctly as long as their top-level classes keep their
national codes. The national layers whose look is fixed by planning practice (the control
lines, the administrative boundaries) are recognised by their table code.

The style has no glyphs and no sprite: planning networks are closed, and MapLibre fetches
neither when no symbol layer asks for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from onemap.config.catalogue import Catalogue, FieldDef, Layer
from onemap.config.codes import CodeTable
from onemap.tiles import tms as tmsmod

SOURCE = "onemap"
BASEMAP_SOURCE = "basemap"
TILE_PATH = "/tiles/WebMercatorQuad/{z}/{y}/{x}"  # OGC {tileMatrix}/{tileRow}/{tileCol} is XYZ order
CATEGORY_ORDER = ("status_quo", "planning", "control_line", "management")
BACKGROUND = "#f4f3ef"
ATTRIBUTION = "国土空间规划“一张图” OneMap"

Color = str

# Top-level classes (and a few sub-classes) by code table; a code takes the colour of its
# nearest listed ancestor. Colours follow the usual map conventions of each classification.
_SANDIAO: dict[str, Color] = {
    "00": "#7fc8c4",  # 湿地 wetland
    "01": "#f7eb6b",  # 耕地 cropland: yellow
    "02": "#f2c46d",  # 种植园用地 plantations
    "03": "#4c9f50",  # 林地 forest: green
    "04": "#a3d277",  # 草地 grassland
    "05": "#e8636a",  # 商业服务业用地 commercial: built-up reds from here to 09
    "06": "#c98376",  # 工矿用地 industry and mining
    "07": "#f08a84",  # 住宅用地 residential
    "08": "#e2739c",  # 公共管理与公共服务用地 public services
    "0810": "#79c274",  # 公园与绿地 parks stay green
    "09": "#b25d5d",  # 特殊用地 special
    "10": "#a9a9a9",  # 交通运输用地 transport: grey
    "1006": "#c9b99a",  # 农村道路 rural roads (farmland)
    "11": "#6fb0e8",  # 水域及水利设施用地 water: blue
    "1107": "#8cc4ee",  # 沟渠 ditches
    "1109": "#8aa0b8",  # 水工建筑用地 hydraulic structures
    "12": "#d8ceb7",  # 其他土地 other
    "1202": "#e3da9a",  # 设施农用地 farm facilities
}
_YDYH: dict[str, Color] = {
    "01": "#f5f0a0",  # 耕地
    "02": "#d6e7a3",  # 园地
    "03": "#69b35d",  # 林地
    "04": "#acd57c",  # 草地
    "05": "#83cbc6",  # 湿地
    "06": "#dcd796",  # 农业设施建设用地
    "07": "#fff13c",  # 居住用地: planning yellow
    "08": "#ff85a6",  # 公共管理与公共服务用地: pink
    "09": "#f2333f",  # 商业服务业用地: red
    "10": "#bb9674",  # 工矿用地: brown
    "11": "#8e6ad2",  # 仓储用地: purple
    "12": "#adadad",  # 交通运输用地: grey
    "13": "#2a8aa5",  # 公用设施用地: teal
    "14": "#4fc45d",  # 绿地与开敞空间用地: green
    "15": "#6d7f5b",  # 特殊用地
    "16": "#eeeeee",  # 留白用地: white
    "17": "#6fb0e8",  # 陆地水域: blue
    "18": "#9ccbee", "19": "#9ccbee", "20": "#9ccbee", "21": "#9ccbee", "22": "#9ccbee",  # 用海
    "23": "#d8ceb7",  # 其他土地
    "24": "#b8dcf3",  # 其他海域
}
_GHFQ: dict[str, Color] = {
    "11": "#2e7d32",  # 生态保护区: dark green
    "12": "#8fcf8f",  # 生态控制区: light green
    "13": "#f4e27a",  # 农田保护区: yellow
    "21": "#ef8a80",  # 城镇发展区: reds
    "211": "#e5635c",  # 城镇集中建设区
    "212": "#f4a6a0",  # 城镇弹性发展区
    "213": "#c98bd6",  # 特别用途区
    "22": "#fbd9a5",  # 乡村发展区
    "221": "#f5a85a",  # 村庄建设区
    "222": "#fbeaa0",  # 一般农业区
    "223": "#a9d7a0",  # 林业发展区
    "224": "#d8e58a",  # 牧业发展区
    "23": "#8fcdf0",  # 海洋发展区
    "24": "#a48a7c",  # 矿产能源发展区
}
PALETTES: dict[str, dict[str, Color]] = {
    "sandiao_dlbm": _SANDIAO, "ydyh_2023": _YDYH, "ydyh_2020": _YDYH, "ghfq": _GHFQ,
}
CATEGORY_COLORS: dict[str, Color] = {
    "status_quo": "#9fb4c2", "planning": "#f0b070", "control_line": "#d84040", "management": "#7e57c2",
}


@dataclass(frozen=True)
class Look:
    """How a polygon layer is drawn: a fill (or none) and an outline."""

    fill: Color | None
    fill_opacity: float
    line: Color
    line_width: float
    dash: tuple[float, ...] | None = None


# Layers whose look planning practice fixes, by national table code: the three control lines
# (生态保护红线 green with a red edge, 永久基本农田 yellow, 城镇开发边界 purple), the other
# control lines, and the administrative boundaries drawn on top of everything.
CONVENTIONS: dict[str, Look] = {
    "STBHHX": Look("#3f9f48", 0.28, "#e0302c", 2.0),
    "YJJBNT": Look("#f6d93a", 0.30, "#d9a400", 1.4),
    "CZKFBJ": Look("#a04fc0", 0.12, "#8e24aa", 2.4, (4, 2)),
    "LSWHBHX": Look("#a0785a", 0.25, "#7a4e2d", 1.6, (3, 1.5)),
    "HLFXKZX": Look("#4a9ee8", 0.18, "#1565c0", 1.6, (2, 2)),
}
BOUNDARY_TABLES = frozenset({"XZQ"})
# Region level -> boundary width at zoom 10 (province thickest).
BOUNDARY_WIDTHS = {"province": 3.2, "city": 2.6, "county": 1.8, "township": 0.9}


def _ancestors(table: CodeTable, code: str) -> Iterable[str]:
    """The code, then its parent, grandparent, ... (parents may be given by name, as in ghfq)."""
    seen: set[str] = set()
    cur: str | None = code
    while cur is not None and cur not in seen:
        seen.add(cur)
        yield cur
        entry = table.codes.get(cur)
        if entry is None or not entry.parent:
            return
        if entry.parent in table.codes:
            cur = entry.parent
        else:
            named = table.by_name(entry.parent)
            cur = named.code if named else None


def code_colors(table: CodeTable, palette: dict[str, Color]) -> dict[str, Color]:
    """Every code of the table that has a coloured ancestor, with that colour."""
    out: dict[str, Color] = {}
    for code in table.codes:
        for anc in _ancestors(table, code):
            if anc in palette:
                out[code] = palette[anc]
                break
    return out


@dataclass(frozen=True)
class Theme:
    """A layer's data-driven colour: which field, and code -> colour (keys may be ``edition:code``)."""

    field: FieldDef
    key: Any  # a MapLibre expression giving the lookup key of a feature
    colors: dict[str, Color]
    legend: list[dict[str, str]]


def _tables(catalogue: Catalogue, layer: Layer, f: FieldDef) -> tuple[str | None, list[tuple[str, str]]]:
    """(the field naming the edition or None, [(code table id, key prefix)]) of a coded field.

    A templated table (``ydyh_{YDYHBB}``) means one table per value of the referenced field;
    codes are then keyed ``value:code``, since editions may give one code different meanings.
    """
    template = f.code_table or ""
    if "{" not in template:
        return None, [(template, "")] if template else []
    ref = template[template.index("{") + 1:template.index("}")]
    ref_table = layer.field_map[ref].code_table
    values = list(catalogue.code_tables[ref_table].codes) if ref_table in catalogue.code_tables else []
    return ref, [(template.replace("{" + ref + "}", v), f"{v}:") for v in values]


def theme(catalogue: Catalogue, layer: Layer, lang: str = "zh") -> Theme | None:
    """The first coded field whose code tables all have a palette, as a data-driven colour."""
    for f in layer.fields:
        ref, tables = _tables(catalogue, layer, f)
        if not tables or not all(tid in PALETTES and tid in catalogue.code_tables for tid, _ in tables):
            continue
        colors: dict[str, Color] = {}
        legend: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for tid, prefix in tables:
            table, palette = catalogue.code_tables[tid], PALETTES[tid]
            for code, color in code_colors(table, palette).items():
                colors[prefix + code] = color
            # the legend lists the palette's top classes once (editions share most of them)
            for code, color in palette.items():
                entry = table.codes.get(code)
                if entry is None or any(a in palette for a in list(_ancestors(table, code))[1:]):
                    continue
                if (entry.zh, color) not in seen:
                    seen.add((entry.zh, color))
                    legend.append({"code": code, "label": table.label(code, lang) or code, "color": color})
        key: Any = ["to-string", ["get", f.name]]
        if ref:
            key = ["concat", ["to-string", ["get", ref]], ":", key]
        return Theme(f, key, colors, legend)
    return None


def _match(key: Any, colors: dict[str, Color], default: Color) -> Any:
    """A ``match`` expression, grouping codes of one colour (MapLibre needs at least one branch)."""
    if not colors:
        return default
    by_color: dict[Color, list[str]] = {}
    for code, color in sorted(colors.items()):
        by_color.setdefault(color, []).append(code)
    expr: list[Any] = ["match", key]
    for color, codes in by_color.items():
        expr += [codes if len(codes) > 1 else codes[0], color]
    expr.append(default)
    return expr


def _meta(layer: Layer, role: str) -> dict[str, str]:
    return {"onemap:collection": layer.id, "onemap:title": layer.t("title", "zh"),
            "onemap:title_en": layer.t("title", "en"), "onemap:role": role}


def _width(base: float) -> Any:
    """Line width growing with zoom, ``base`` at zoom 10."""
    return ["interpolate", ["linear"], ["zoom"], 6, round(base * 0.5, 2), 10, base, 16, round(base * 1.8, 2)]


def layer_style(catalogue: Catalogue, layer: Layer, visible: bool, lang: str = "zh") -> tuple[list[dict], list[dict]]:
    """The style layers of one catalogue layer, and its legend entries."""
    vis = {"visibility": "visible" if visible else "none"}
    base = {"source": SOURCE, "source-layer": layer.id}
    sid = layer.id
    default = CATEGORY_COLORS.get(layer.category, "#888888")
    if layer.geometry in ("MultiPoint", "MultiLineString"):
        th = theme(catalogue, layer, lang)
        color = _match(th.key, th.colors, default) if th else default
        if layer.geometry == "MultiPoint":
            sl = {"id": f"{sid}-circle", "type": "circle", **base, "layout": dict(vis),
                  "paint": {"circle-color": color, "circle-radius": 4, "circle-stroke-color": "#ffffff",
                            "circle-stroke-width": 1}, "metadata": _meta(layer, "point")}
        else:
            sl = {"id": f"{sid}-line", "type": "line", **base, "layout": {**vis, "line-join": "round"},
                  "paint": {"line-color": color, "line-width": _width(1.6)}, "metadata": _meta(layer, "line")}
        kind = "point" if layer.geometry == "MultiPoint" else "line"
        return [sl], th.legend if th else [{"label": layer.t("title", lang), "color": default, "kind": kind}]

    if layer.table_code in BOUNDARY_TABLES:
        return _boundary_style(layer, vis, base, lang)

    look = CONVENTIONS.get(layer.table_code)
    th = None if look else theme(catalogue, layer, lang)
    fill: Any
    if look is None:
        fill = _match(th.key, th.colors, default) if th else default
        opacity = {"status_quo": 0.85, "planning": 0.7, "control_line": 0.18}.get(layer.category, 0.35)
        outline = {"status_quo": "#ffffff", "planning": "#ffffff"}.get(layer.category, default)
        look = Look(None, opacity, outline, 1.2 if layer.category in ("control_line", "management") else 0.5)
    else:
        fill = look.fill
    out = [{"id": f"{sid}-fill", "type": "fill", **base, "layout": dict(vis),
            "paint": {"fill-color": fill, "fill-opacity": look.fill_opacity}, "metadata": _meta(layer, "fill")}]
    line: dict[str, Any] = {"id": f"{sid}-line", "type": "line", **base, "layout": {**vis, "line-join": "round"},
                            "paint": {"line-color": look.line, "line-width": _width(look.line_width)},
                            "metadata": _meta(layer, "line")}
    if look.dash:
        line["paint"]["line-dasharray"] = list(look.dash)
    if layer.category in ("status_quo", "planning") and layer.table_code not in CONVENTIONS:
        # parcel edges only where parcels are big enough on screen to need them
        line["minzoom"] = 12
        line["paint"]["line-opacity"] = 0.6
    out.append(line)
    if th:
        legend = th.legend
    else:
        legend = [{"label": layer.t("title", lang), "color": look.fill or default, "outline": look.line}]
    return out, legend


def _boundary_style(layer: Layer, vis: dict, base: dict, lang: str) -> tuple[list[dict], list[dict]]:
    """Administrative boundaries: a dash-dot line over a white casing, wider for higher levels."""
    level = next((f.name for f in layer.fields if f.code_table == "region_level"), None)
    width: Any = _width(1.2)
    if level:
        stops: list[Any] = []
        for z, k in ((6, 0.5), (10, 1.0), (16, 1.8)):
            by_level: list[Any] = ["match", ["get", level]]
            for lvl, w in BOUNDARY_WIDTHS.items():
                by_level += [lvl, round(w * k, 2)]
            stops += [z, by_level + [round(1.2 * k, 2)]]
        width = ["interpolate", ["linear"], ["zoom"], *stops]
    color = "#4a3f6b"
    return ([
        # transparent, so that a click inside a region still finds it
        {"id": f"{layer.id}-fill", "type": "fill", **base, "layout": dict(vis),
         "paint": {"fill-color": "#000000", "fill-opacity": 0}, "metadata": _meta(layer, "fill")},
        {"id": f"{layer.id}-casing", "type": "line", **base, "layout": {**vis, "line-join": "round"},
         "paint": {"line-color": "#ffffff", "line-opacity": 0.7, "line-width": _width(3.0)},
         "metadata": _meta(layer, "casing")},
        {"id": f"{layer.id}-line", "type": "line", **base, "layout": {**vis, "line-join": "round"},
         "paint": {"line-color": color, "line-width": width, "line-dasharray": [6, 2, 1, 2]},
         "metadata": _meta(layer, "line")},
    ], [{"label": layer.t("title", lang), "color": color, "kind": "line"}])


def default_visible(layer: Layer) -> bool:
    """Planning layers start hidden: they cover the survey, which is what one opens the map for."""
    return layer.category != "planning"


def _order(layers: Iterable[Layer]) -> list[Layer]:
    """Survey at the bottom, then plans, control lines, management; boundaries on top."""
    def rank(layer: Layer) -> int:
        if layer.table_code in BOUNDARY_TABLES:
            return len(CATEGORY_ORDER) + 1
        return CATEGORY_ORDER.index(layer.category) if layer.category in CATEGORY_ORDER else len(CATEGORY_ORDER)

    return sorted(layers, key=rank)  # stable: catalogue order within a rank


def tiles_url(base_url: str, datetime: str | None = None, view: str = "all") -> str:
    """The dataset vector tiles as an XYZ template, for one drawer date (none: today) and view
    (``governing``: only the plan that governs each area; ``all``: every plan in force)."""
    url = base_url.rstrip("/") + TILE_PATH
    query = [f"view={view}"] if view != "all" else []
    if datetime:
        query.append("datetime=" + quote(datetime, safe=""))
    return url + ("?" + "&".join(query) if query else "")


def _zoom_for(bounds: tuple[float, float, float, float], px: int = 1024) -> float:
    span = max(bounds[2] - bounds[0], 1e-6)
    return max(0.0, min(16.0, round(math.log2(360 * px / 512 / span), 1)))


def build_style(catalogue: Catalogue, base_url: str, *, datetime: str | None = None,
                bounds: tuple[float, float, float, float] | None = None, basemap_xyz: str | None = None,
                lang: str = "zh", view: str = "all", tiers: tuple[str, ...] = ("public",)) -> dict[str, Any]:
    """The MapLibre (v8) style document of the one-map layers of ``tiers`` (the caller's)."""
    layers = _order(layer for layer in catalogue.layers.values() if layer.tier in tiers)
    wm = tmsmod.get("WebMercatorQuad")
    source: dict[str, Any] = {
        "type": "vector", "tiles": [tiles_url(base_url, datetime, view)], "minzoom": 0,
        "maxzoom": tmsmod.max_zoom(wm), "attribution": ATTRIBUTION,
    }
    if bounds:
        source["bounds"] = [round(v, 6) for v in bounds]
    sources: dict[str, Any] = {SOURCE: source}
    style_layers: list[dict] = [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}]
    if basemap_xyz:
        sources[BASEMAP_SOURCE] = {"type": "raster", "tiles": [basemap_xyz], "tileSize": 256, "maxzoom": 18,
                                   "attribution": "底图 Basemap: OneMap"}
        style_layers.append({"id": "basemap", "type": "raster", "source": BASEMAP_SOURCE,
                             "paint": {"raster-opacity": 0.9},
                             "metadata": {"onemap:title": "底图", "onemap:title_en": "Basemap",
                                          "onemap:role": "basemap"}})
    entries = []
    for layer in layers:
        visible = default_visible(layer)
        sl, legend = layer_style(catalogue, layer, visible, lang)
        style_layers += sl
        entries.append({"id": layer.id, "title": layer.t("title", "zh"), "title_en": layer.t("title", "en"),
                        "category": layer.category, "geometry": layer.geometry, "visible": visible,
                        "boundary": layer.table_code in BOUNDARY_TABLES,
                        "layers": [s["id"] for s in sl], "legend": legend})
    categories = [{"id": cid, "title": t.get("zh", cid), "title_en": t.get("en", cid)}
                  for cid, t in catalogue.categories.items() if any(e["category"] == cid for e in entries)]
    style: dict[str, Any] = {
        "version": 8,
        "name": "OneMap 国土空间规划一张图",
        "metadata": {"onemap:categories": categories, "onemap:layers": entries,
                     "onemap:datetime": datetime, "onemap:view": view, "onemap:basemap": bool(basemap_xyz)},
        "sources": sources,
        "layers": style_layers,
    }
    if bounds:
        style["metadata"]["onemap:bounds"] = [round(v, 6) for v in bounds]
        style["center"] = [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6)]
        style["zoom"] = _zoom_for(bounds)
    return style
