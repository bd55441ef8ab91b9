"""The web map: ``/map`` (MapLibre GL JS page), ``/styles/onemap`` (its style), ``/static/onemap/...``.

Everything the page needs is served from here (MapLibre is vendored under static/vendor/):
planning networks are closed, so the page makes no request outside this server. The style
is generated from the catalogue by ``map_style``; its vector source is the dataset
tiles in Web Mercator, and ``datetime`` picks the drawer date like every other endpoint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, render_template, request, send_from_directory

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.providers.drawers import parse_when
from onemap.providers.vector_tiles import tile_properties
from . import map_style as stylemod

from .http import dumps, json_response
from .params import check_known

if TYPE_CHECKING:
    from .app import OneMap

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/onemap"
STYLE_PATH = "/styles/onemap"
STYLE_PARAMS = frozenset({"f", "lang", "datetime", "view"})
PAGE_PARAMS = frozenset({"lang", "datetime", "view"})
# the map shows what governs each area unless asked for every level (a province's and a city's copy
# of a line on top of each other)
MAP_VIEW = "governing"
STYLE_MEDIA_TYPE = "application/json"
# Set explicitly: a module script is refused unless served as JavaScript, and the host's
# /etc/mime.types (which Python's mimetypes reads) may not know .mjs.
MEDIA_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css",
               ".txt": "text/plain", ".md": "text/plain"}
MAX_INLINE_CODES = 300  # code tables up to this size travel with the page for popup labels


def _version(name: str) -> str:
    """A short content hash, so browsers pick up a changed page script at once."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def data_bounds(om: "OneMap") -> tuple[float, float, float, float] | None:
    """The lon/lat extent of the public layers (all drawers)."""
    boxes = [b for b in (om.store.layer_extent(layer) for layer in om.catalogue.layers.values()
                         if layer.tier == "public") if b]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _datetime_arg(om: "OneMap") -> str | None:
    """The ``datetime`` parameter, checked like the tile endpoint checks it (a 400 when malformed)."""
    raw = request.args.get("datetime")
    if raw is None or raw.strip() == "":
        return None
    parse_when(raw, om.settings.timezone)
    return raw.strip()


def _view_arg(om: "OneMap") -> str:
    """``view``: the governing view by default; every level for an interval of dates (what governs
    is asked for one date)."""
    from onemap.providers.drawers import VIEWS

    raw = request.args.get("view")
    dated = request.args.get("datetime") or ""
    interval = "/" in dated
    view = raw or ("all" if interval else MAP_VIEW)
    if view not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if view == "governing" and interval:
        raise InvalidParameterValue("view=governing answers for one date: give datetime as a date, not an interval")
    return view


def style_document(om: "OneMap", datetime: str | None = None, lang: str = "zh", view: str = MAP_VIEW
                   ) -> dict[str, Any]:
    """The style for this server; the basemap when the basemaps module offers one as XYZ."""
    return stylemod.build_style(om.catalogue, om.base_url, datetime=datetime, bounds=data_bounds(om),
                                basemap_xyz=getattr(om, "basemap_xyz", None), lang=lang, view=view)


def _field_info(om: "OneMap", layer: Layer) -> list[dict[str, Any]]:
    """What the popup needs to label a feature's properties (the tiles carry the codes)."""
    out = []
    for name in tile_properties(layer):
        f = layer.field_map[name]
        info: dict[str, Any] = {"name": name, "title": f.label("zh"), "title_en": f.label("en")}
        if f.label_field:
            info["label_field"] = f.label_field
        elif f.code_table and "{" not in f.code_table:
            table = om.catalogue.code_tables.get(f.code_table)
            if table is not None and len(table.codes) <= MAX_INLINE_CODES:
                info["codes"] = {code: c.zh for code, c in table.codes.items()}
        if f.unit:
            info["unit"] = f.unit
        out.append(info)
    return out


def page_config(om: "OneMap", datetime: str | None, view: str = MAP_VIEW) -> dict[str, Any]:
    """The page's settings, embedded as JSON (``<`` escaped by ``dumps``)."""
    return {
        "styleUrl": f"{om.base_url}{STYLE_PATH}",
        "itemsUrl": f"{om.base_url}/collections",
        "tilesUrl": stylemod.tiles_url(om.base_url),
        "datetime": datetime,
        "view": view,
        "bounds": data_bounds(om),
        "fields": {lid: _field_info(om, layer) for lid, layer in om.catalogue.layers.items()
                   if layer.tier == "public"},
    }


def register(app: Flask, om: "OneMap") -> None:
    """Add the map page, its style and its static files to the app."""

    @app.get(STYLE_PATH)
    def map_style() -> Response:
        check_known(request.args, STYLE_PARAMS)
        fmt = (request.args.get("f") or "json").lower()
        if fmt != "json":
            raise InvalidParameterValue("the style is offered as f=json")
        # legend labels follow an explicit lang only: the page around them is Chinese
        lang = "en" if (request.args.get("lang") or "").lower().startswith("en") else "zh"
        return json_response(style_document(om, _datetime_arg(om), lang, _view_arg(om)), media_type=STYLE_MEDIA_TYPE,
                             headers={"Cache-Control": "public, max-age=60"})

    @app.get("/map")
    def map_page() -> Response:
        check_known(request.args, PAGE_PARAMS)
        datetime = _datetime_arg(om)
        view = _view_arg(om)
        html = render_template(
            "map.html", static=f"{om.base_url}{STATIC_PREFIX}", base_url=om.base_url,
            config_json=dumps(page_config(om, datetime, view)).decode("utf-8"),
            js_version=_version("map.js"), css_version=_version("map.css"), datetime=datetime or "",
            all_levels=view == "all")
        return Response(html, mimetype="text/html")

    @app.get(f"{STATIC_PREFIX}/<path:filename>")
    def map_static(filename: str) -> Response:
        path = (STATIC / filename).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            raise NotFound(f"no such resource: {request.path}")
        return send_from_directory(STATIC, filename, max_age=86400, mimetype=MEDIA_TYPES.get(path.suffix.lower()))
