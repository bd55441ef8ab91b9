"""The web map: ``/map`` (MapLibre GL JS page), ``/styles/onemap`` (its style), ``/static/onemap/...``.

Everything the page needs is served from here (MapLibre is vendored under static/vendor/):
planning networks are closed, so the page makes no request outside this server. The style
is generated from the catalogue by ``map_style``; its vector source is the dataset
tiles in Web Mercator, and ``datetime`` picks the drawer date like every other endpoint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Response, render_template, send_from_directory

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.config.settings import Settings
from onemap.domain.dates import parse_when, today
from onemap.domain.plans import PLAN_LEVELS
from onemap.providers.drawers import VIEWS
from onemap.providers.indicators import readable, shared_service
from onemap.providers.params import F_JSON, LANG, Param, ParamContext
from onemap.providers.regions import LEVELS as REGION_LEVELS
from onemap.providers.store import Store
from onemap.providers.vector_tiles import tile_properties

from . import map_style as stylemod
from .access import tiers_of
from .http import dumps, json_response
from .links import Links
from .routing import APIFactory, Call, Route

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/onemap"
STYLE_PATH = "/styles/onemap"
# the map shows what governs each area unless asked for every level (a province's and a city's copy
# of a line on top of each other)
MAP_VIEW = "governing"
STYLE_MEDIA_TYPE = "application/json"
# Set explicitly: a module script is refused unless served as JavaScript, and the host's
# /etc/mime.types (which Python's mimetypes reads) may not know .mjs.
MEDIA_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css",
               ".txt": "text/plain", ".md": "text/plain"}
MAX_INLINE_CODES = 300  # code tables up to this size travel with the page for popup labels
INDICATORS_COLLECTION = "indicators"


def _map_datetime(raw: str, ctx: ParamContext) -> str | None:
    """Checked as the tiles check it (a 400 when malformed), kept as written: the page passes it on."""
    if raw.strip() == "":
        return None
    parse_when(raw, ctx.timezone)
    return raw.strip()


def _map_view(raw: str, ctx: ParamContext) -> str:
    if raw not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {raw!r}")
    return raw


MAP_DATETIME = Param("datetime", "The one map at this date (or during an interval): the tiles the page and the "
                     "style ask for carry it.", parse=_map_datetime, key="map-datetime")
MAP_VIEW_PARAM = Param("view", "governing (default for one date): only what governs each area; all: every level "
                       "(the only view of an interval of dates).",
                       {"type": "string", "enum": list(VIEWS)}, _map_view, key="map-view")
HTML_OK = {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}}


def view_for(raw: str | None, dated: str | None) -> str:
    """``view``: the governing view by default; every level for an interval of dates (what governs
    is asked for one date)."""
    interval = "/" in (dated or "")
    view = raw or ("all" if interval else MAP_VIEW)
    if view == "governing" and interval:
        raise InvalidParameterValue("view=governing answers for one date: give datetime as a date, not an interval")
    return view


def _version(name: str) -> str:
    """A short content hash, so browsers pick up a changed page script at once."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


class MapPage(APIFactory):
    """The web map: the page, its style (generated from the catalogue) and its static files."""

    tags = ({"name": "map", "description": "The web map and its MapLibre style"},)

    def __init__(self, catalogue: Catalogue, store: Store, settings: Settings, links: Links,
                 basemap_xyz: str | None) -> None:
        self.catalogue = catalogue
        self.store = store
        self.settings = settings
        self.links = links
        self.basemap_xyz = basemap_xyz  # the basemaps' XYZ URL template under the API root

    def routes(self) -> list[Route]:
        return [
            Route(STYLE_PATH, self.style, "getMapStyle", "The map's MapLibre style (legend in lang)", ("map",),
                  query=(F_JSON, LANG, MAP_DATETIME, MAP_VIEW_PARAM),
                  responses={"200": {"description": "A MapLibre style.",
                                     "content": {STYLE_MEDIA_TYPE: {"schema": {"type": "object"}}}}}),
            Route("/map", self.page, "getMap", "The web map of the one map", ("map",),
                  query=(LANG, MAP_DATETIME, MAP_VIEW_PARAM), responses=HTML_OK, formats=("html",)),
            Route(STATIC_PREFIX + "/{filename}", self.static, "getMapStatic", "The map page's scripts and styles",
                  ("map",), path_params={"filename": {"type": "string"}}, documented=False, checked=False,
                  flask_path=STATIC_PREFIX + "/<path:filename>"),
        ]

    def data_bounds(self, tiers: tuple[str, ...] = ("public",)) -> tuple[float, float, float, float] | None:
        """The lon/lat extent of the layers of ``tiers`` (all drawers)."""
        boxes = [b for b in (self.store.layer_extent(layer) for layer in self.catalogue.layers.values()
                             if layer.tier in tiers) if b]
        if not boxes:
            return None
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes))

    def style_document(self, datetime: str | None = None, lang: str = "zh", view: str = MAP_VIEW,
                       tiers: tuple[str, ...] = ("public",)) -> dict[str, Any]:
        """The style for this server (the layers of ``tiers``); the basemap when the basemaps offer one as XYZ."""
        basemap = self.links.base + self.basemap_xyz if self.basemap_xyz else None
        return stylemod.build_style(self.catalogue, self.links.base, datetime=datetime,
                                    bounds=self.data_bounds(tiers), basemap_xyz=basemap, lang=lang, view=view,
                                    tiers=tiers)

    def _field_info(self, layer: Layer) -> list[dict[str, Any]]:
        """What the popup needs to label a feature's properties (the tiles carry the codes)."""
        out = []
        for name in tile_properties(layer):
            f = layer.field_map[name]
            info: dict[str, Any] = {"name": name, "title": f.label("zh"), "title_en": f.label("en")}
            if f.label_field:
                info["label_field"] = f.label_field
            elif f.code_table and "{" not in f.code_table:
                table = self.catalogue.code_tables.get(f.code_table)
                if table is not None and len(table.codes) <= MAX_INLINE_CODES:
                    info["codes"] = {code: c.zh for code, c in table.codes.items()}
            if f.unit:
                info["unit"] = f.unit
            out.append(info)
        return out

    def _indicators(self, tiers: tuple[str, ...]) -> list[dict[str, Any]]:
        """The indicators a caller of ``tiers`` may read, as ``/indicators`` lists them, for the page's choropleth."""
        return [{"code": d.code, "title": d.title["zh"], "title_en": d.title.get("en", ""), "unit": d.unit,
                 "kind": d.kind, "levels": [lv for lv in REGION_LEVELS if lv in d.levels]}
                for d in shared_service(self.store).ind.indicators
                if readable(d, self.catalogue, lambda tier: tier in tiers)]

    def _statistics(self, tiers: tuple[str, ...]) -> list[dict[str, Any]]:
        """The layers the statistics panel offers (a drawer layer of ``tiers``) and their group fields: the coded
        ones, which is how a bureau sums (地类, 规划分区), then the region levels."""
        out = []
        for lid, layer in self.catalogue.collections.items():
            if not layer.drawer or layer.tier not in tiers:
                continue
            labels = {f.label_field for f in layer.stored_fields if f.label_field}
            groups = [{"key": f.name, "title": f.label("zh"), "title_en": f.label("en")}
                      for f in layer.stored_fields if f.queryable and f.code_table and f.name not in labels]
            groups += [{"key": f"region:{lv}", "title": f"行政区（{PLAN_LEVELS[lv]['zh']}）",
                        "title_en": f"Region ({lv})"} for lv in ("county", "township")]
            out.append({"id": lid, "title": layer.t("title"), "title_en": layer.t("title", "en"), "groups": groups})
        return out

    def page_config(self, datetime: str | None, view: str = MAP_VIEW, tiers: tuple[str, ...] = ("public",)
                    ) -> dict[str, Any]:
        """The page's settings, embedded as JSON (``<`` escaped by ``dumps``)."""
        return {
            "indicatorsUrl": self.links.url("collections", INDICATORS_COLLECTION, "items"),
            "indicators": self._indicators(tiers),
            "levels": {lv: PLAN_LEVELS[lv]["zh"] for lv in REGION_LEVELS},
            "statistics": self._statistics(tiers),
            # the compare mode (对比), for a caller who may run the compare process: the drawer layers of ``tiers``,
            # the process it asks, the local date of today
            "compare": {"layers": [{"id": lid, "title": layer.t("title"), "title_en": layer.t("title", "en")}
                                   for lid, layer in self.catalogue.collections.items()
                                   if layer.drawer and layer.tier in tiers],
                        "url": self.links.url("processes", "compare", "execution"),
                        "today": today(self.settings.timezone).isoformat()}
            if self.catalogue.process_tiers.get("compare", "internal") in tiers else None,
            "pageSize": self.settings.max_items,
            "styleUrl": self.links.url(STYLE_PATH),
            "itemsUrl": self.links.url("collections"),
            "tilesUrl": stylemod.tiles_url(self.links.base),
            "datetime": datetime,
            "view": view,
            "bounds": self.data_bounds(tiers),
            "fields": {lid: self._field_info(layer) for lid, layer in self.catalogue.layers.items()
                       if layer.tier in tiers},
        }

    def style(self, call: Call) -> Response:
        # legend labels follow an explicit lang only: the page around them is Chinese
        lang = "en" if (call.request.args.get("lang") or "").lower().startswith("en") else "zh"
        dated = call.args["datetime"]
        doc = self.style_document(dated, lang, view_for(call.args["view"], dated), tiers_of(call.principal))
        return json_response(doc, media_type=STYLE_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=60"})

    def page(self, call: Call) -> Response:
        dated = call.args["datetime"]
        view = view_for(call.args["view"], dated)
        html = render_template(
            "map.html", static=self.links.url(STATIC_PREFIX), base_url=self.links.base,
            config_json=dumps(self.page_config(dated, view, tiers_of(call.principal))).decode("utf-8"),
            js_version=_version("map.js"), css_version=_version("map.css"), datetime=dated or "",
            all_levels=view == "all")
        return Response(html, mimetype="text/html")

    def static(self, call: Call, filename: str) -> Response:
        if "\x00" in filename:  # no file name holds a NUL (the file system refuses to look one up)
            raise NotFound(f"no such resource: {call.request.path}")
        path = (STATIC / filename).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            raise NotFound(f"no such resource: {call.request.path}")
        return send_from_directory(STATIC, filename, max_age=86400, mimetype=MEDIA_TYPES.get(path.suffix.lower()))
