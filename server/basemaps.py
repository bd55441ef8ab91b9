"""Cached basemaps: MapProxy mounted under ``/basemaps/``, its configuration generated, and seeding.

``mapproxy_config(settings)`` builds MapProxy's configuration from ``config/basemaps.yaml``
(the basemap and the upstream tile services, as data), the layer catalogue and the
settings; ``mount(app, om)`` writes it to ``<data_dir>/mapproxy/mapproxy.yaml``, loads it
with ``mapproxy.wsgiapp.make_wsgi_app`` and mounts MapProxy's WSGI app under
``/basemaps`` with werkzeug's ``DispatcherMiddleware``; ``seed(...)`` fills the caches with
MapProxy's own seeder.

What MapProxy serves (below ``/basemaps``)::

    /wmts/1.0.0/WMTSCapabilities.xml                       WMTS RESTful capabilities
    /wmts/{layer}/{grid}/{z}/{x}/{y}.{png|jpeg}            WMTS RESTful tiles
    /service?SERVICE=WMTS&REQUEST=GetCapabilities          WMTS KVP (and GetTile)
    /tms/1.0.0/{layer}/{grid}/{z}/{x}/{y}.{ext}            TMS (row from the bottom; Web Mercator
                                                           in TMS's global-mercator profile, whose
                                                           level 0 is the 2x2 level 1)
    /tiles/1.0.0/{layer}/{grid}/{z}/{x}/{y}.{ext}?origin=nw XYZ (row from the top)
    /service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap...   WMS 1.1.1 and 1.3.0
    /demo/                                                 only with ONEMAP_MAPPROXY_DEMO=1

Grids: ``WebMercatorQuad`` (GLOBAL_WEBMERCATOR) and ``CGCS2000Quad`` (EPSG:4490, laid out like
Tianditu's ``c`` matrix). Each layer has one file cache per grid; the CGCS2000 cache is
fed from the Web Mercator one (MapProxy refuses to feed a 4490 grid straight from a
3857 tile source). The basemap's caches refresh tiles older than ``basemap.tif``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import yaml
from flask import Response

from onemap.config.errors import ConfigError, NotFound, OneMapError
from onemap.providers import basemap_render

from . import mapproxy_plugin
from .http import CORS_HEADERS, dumps, request_id
from .links import Links
from .routing import APIFactory, Call, Route

LOG = logging.getLogger("onemap.basemaps")

MOUNT = "/basemaps"
DEFAULT_DEFINITIONS = Path(__file__).resolve().parent.parent / "config" / "basemaps.yaml"

WEBMERCATOR = "WebMercatorQuad"  # the ids OneMap's OGC API - Tiles uses too (tiles/tms.py)
CGCS2000 = "CGCS2000Quad"
TIANDITU_C = "TiandituC"  # Tianditu's 经纬度 grid: CGCS2000Quad's tiles, levels numbered from 1
TIANDITU_W = "TiandituW"  # Tianditu's Web Mercator grid: WebMercatorQuad's tiles (its levels 1..18)
GRIDS = (WEBMERCATOR, CGCS2000, TIANDITU_C, TIANDITU_W)
# grids with the same tiles under other level numbers
TWINS = {CGCS2000: TIANDITU_C, TIANDITU_C: CGCS2000, WEBMERCATOR: TIANDITU_W, TIANDITU_W: WEBMERCATOR}
WEBMERCATOR_LEVELS = 19  # 0..18
CGCS2000_LEVELS = 18  # 0..17, Tianditu's c matrix 1..18
TIANDITU_LEVELS = 19  # 1..18 (TiandituC's level 0 is twice CGCS2000Quad's level 0 and never asked for)
CGCS2000_LEVEL0_RES = 0.703125  # degrees per pixel: 2x1 tiles of 256 px cover the world
WMS_SRS = ["EPSG:3857", "EPSG:4490", "EPSG:4326", "CRS:84"]
METRES_PER_DEGREE = 2 * math.pi * 6378137.0 / 360  # MapProxy's own conversion for resolution ranges
# a pixel of the caches' finest level (Web Mercator level 18; CGCS2000 level 17 is the same size)
FINEST_PIXEL_M = 2 * math.pi * 6378137.0 / 256 / 2 ** (WEBMERCATOR_LEVELS - 1)
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

Progress = Callable[[str, float], None]


# ---- definitions (config/basemaps.yaml) -------------------------------------------------------
@dataclass(frozen=True)
class BasemapDef:
    """The rendered basemap layer."""

    id: str
    title: dict[str, str]
    abstract: dict[str, str]
    format: str


@dataclass(frozen=True)
class Upstream:
    """A proxied tile service, on when its key variable is set (or when it needs none)."""

    id: str
    title: dict[str, str]
    url: str
    grid: str
    format: str = "image/png"
    transparent: bool = False
    key_env: str | None = None
    levels: tuple[int, int] | None = None
    http: dict[str, Any] = field(default_factory=dict)
    attribution: str | None = None

    def key(self, keys: Mapping[str, str]) -> str | None:
        """The key set for this service ('' for services that need none, None when unset)."""
        if not self.key_env:
            return ""
        value = (keys.get(self.key_env) or "").strip()
        return value or None

    def mapproxy_url(self, key: str) -> str:
        """The URL in MapProxy's template syntax (``%(x)s``), with the key filled in."""
        url = self.url.replace("%", "%%").replace("{key}", key.replace("%", "%%"))
        for name in ("x", "y", "z"):
            url = url.replace("{" + name + "}", f"%({name})s")
        return url


def _i18n(value: Any, what: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"zh": value, "en": value}
    if not isinstance(value, dict) or not value.get("zh"):
        raise ConfigError(f"basemaps: {what} needs a zh text (and optionally en)")
    return {"zh": str(value["zh"]), "en": str(value.get("en") or value["zh"])}


def load_definitions(path: Path | None = None) -> tuple[BasemapDef, list[Upstream]]:
    """The basemap and upstream definitions, checked (a mistake is a ConfigError at start-up)."""
    path = Path(path or DEFAULT_DEFINITIONS)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read the basemap definitions {path.name}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"the basemap definitions {path.name} are not valid YAML: {err}") from None
    b = doc.get("basemap") or {}
    basemap = BasemapDef(
        id=str(b.get("id", "basemap")), title=_i18n(b.get("title", "底图"), "basemap.title"),
        abstract=_i18n(b.get("abstract", ""), "basemap.abstract") if b.get("abstract") else {"zh": "", "en": ""},
        format=str(b.get("format", "image/jpeg")))
    ups: list[Upstream] = []
    ids = {basemap.id}
    for i, u in enumerate(doc.get("upstreams") or []):
        where = f"upstreams[{i}]"
        if not isinstance(u, dict) or not u.get("id") or not u.get("url"):
            raise ConfigError(f"basemaps: {where} needs an id and a url")
        uid = str(u["id"])
        if not _ID.match(uid) or uid in ids:
            raise ConfigError(f"basemaps: {where}: id {uid!r} is not a unique name of letters, digits and _")
        ids.add(uid)
        grid = str(u.get("grid", WEBMERCATOR))
        if grid not in GRIDS:
            raise ConfigError(f"basemaps: {where}: grid must be one of {', '.join(GRIDS)}")
        url = str(u["url"])
        if not all("{" + k + "}" in url for k in ("x", "y", "z")):
            raise ConfigError(f"basemaps: {where}: the url needs {{x}}, {{y}} and {{z}}")
        if "{key}" in url and not u.get("key_env"):
            raise ConfigError(f"basemaps: {where}: the url has {{key}} but no key_env names its variable")
        levels = u.get("levels")
        if levels is not None:
            if (not isinstance(levels, list) or len(levels) != 2 or not all(isinstance(v, int) for v in levels)
                    or not 0 <= levels[0] <= levels[1]):
                raise ConfigError(f"basemaps: {where}: levels is [first, last]")
            levels = (levels[0], levels[1])
        ups.append(Upstream(
            id=uid, title=_i18n(u.get("title", uid), f"{where}.title"), url=url, grid=grid,
            format=str(u.get("format", "image/png")), transparent=bool(u.get("transparent", False)),
            key_env=u.get("key_env") or None, levels=levels, http=dict(u.get("http") or {}),
            attribution=u.get("attribution")))
    return basemap, ups


def _definitions_path(settings: Any) -> Path:
    # the `basemaps` setting (ONEMAP_BASEMAPS) replaces the shipped definitions
    return Path(settings.basemap.definitions or DEFAULT_DEFINITIONS)


def active_upstreams(upstreams: Iterable[Upstream], keys: Mapping[str, str]) -> list[tuple[Upstream, str]]:
    """The upstreams whose key is set (settings: TIANDITU_KEY, ONEMAP_BASEMAP_KEYS), with their keys."""
    out = []
    for u in upstreams:
        key = u.key(keys)
        if key is not None:
            out.append((u, key))
    return out


# ---- MapProxy configuration -------------------------------------------------------------------
def mapproxy_dir(settings: Any) -> Path:
    """MapProxy's configuration, caches and locks."""
    return Path(settings.data_dir).resolve() / "mapproxy"


def config_path(settings: Any) -> Path:
    return mapproxy_dir(settings) / "mapproxy.yaml"


def _grid_res(grid: str, level: int) -> float:
    """A level's resolution in metres (MapProxy compares resolution ranges in metres)."""
    if grid in (WEBMERCATOR, TIANDITU_W):
        return basemap_render.level_resolution(level)
    if grid == TIANDITU_C:
        level -= 1
    return CGCS2000_LEVEL0_RES / 2 ** level * METRES_PER_DEGREE


def _title(t: dict[str, str]) -> str:
    return t["zh"] if t["zh"] == t["en"] else f"{t['zh']} / {t['en']}"


def grids() -> dict[str, dict]:
    """The grids: Web Mercator, CGCS2000 laid out like Tianditu's ``c`` matrix, and Tianditu's two.

    MapProxy numbers a grid's levels from 0 and names its WMTS matrices by those numbers (and
    puts them into an upstream's ``{z}``), so Tianditu's ``c`` grid gets a level 0 twice as
    coarse as its first: MapProxy's level n is then Tianditu's level n. Tianditu's ``w`` grid is
    Web Mercator's (its level n is Web Mercator's n). MapProxy writes OGC's 0.28 mm scale
    denominators into the capabilities for every grid: clients compute the pixel size from
    them, and Tianditu's 96 dpi values would put each tile 5.8% off (measured with GDAL).
    """
    geographic = {"srs": "EPSG:4490", "bbox": [-180, -90, 180, 90], "bbox_srs": "EPSG:4490", "origin": "nw",
                  "tile_size": [256, 256]}
    return {
        WEBMERCATOR: {"base": "GLOBAL_WEBMERCATOR", "num_levels": WEBMERCATOR_LEVELS},
        CGCS2000: {**geographic, "min_res": CGCS2000_LEVEL0_RES, "num_levels": CGCS2000_LEVELS},
        TIANDITU_C: {**geographic, "min_res": CGCS2000_LEVEL0_RES * 2, "num_levels": TIANDITU_LEVELS},
        TIANDITU_W: {"base": "GLOBAL_WEBMERCATOR", "num_levels": WEBMERCATOR_LEVELS},
    }


def _grid_caches(name: str, native: str, source: list[str], fmt: str, root: Path, **extra: Any) -> dict[str, dict]:
    """A layer's cache on every grid: the ``native`` grid's from ``source``, its twin (same tiles, other
    level numbers) copied from it, the other CRS's grid reprojected from it, and that one's twin from that."""
    other = CGCS2000 if native in (WEBMERCATOR, TIANDITU_W) else WEBMERCATOR
    feeds = {native: None, TWINS[native]: native, other: native, TWINS[other]: other}
    caches = {}
    for grid, feed in feeds.items():
        caches[f"{name}_{grid}"] = _cache(grid, source if feed is None else [f"{name}_{feed}"], fmt,
                                          root / name / grid, **extra)
    return caches


def _cache(grid: str, sources: list[str], fmt: str, directory: Path, **extra: Any) -> dict:
    return {
        "grids": [grid], "sources": sources, "format": fmt,
        "cache": {"type": "file", "directory_layout": "tms", "directory": str(directory)},
        "link_single_color_images": True,  # the background around the region: one file
        **extra,
    }


def mapproxy_config(settings: Any, keys: Mapping[str, str] | None = None,
                    definitions: Path | None = None, renderer: str | None = None,
                    tiers: Sequence[str] | None = None) -> dict:
    """MapProxy's configuration for these settings (``keys``: the upstream services' keys, by
    default the settings').

    Upstreams are added only when their key is set; the demo service only with
    ONEMAP_MAPPROXY_DEMO=1. ``definitions`` replaces config/basemaps.yaml. With ``renderer`` (the
    key of a running application's map renderer, ``mapproxy_plugin.RENDERERS``) every catalogue
    layer of ``tiers`` (default: all) is a map layer too (``thematic_layers``).
    """
    from onemap.config.catalogue import get_catalogue

    keys = settings.basemap.keys if keys is None else keys
    basemap, upstreams = load_definitions(definitions or _definitions_path(settings))
    catalogue = get_catalogue(settings.catalogue, settings.codes_dir)
    landcover = catalogue.layers.get(basemap_render.LANDCOVER_LAYER)
    if landcover is None:
        raise ConfigError(f"basemaps: the catalogue has no layer {basemap_render.LANDCOVER_LAYER!r} to render")
    mp = mapproxy_dir(settings)
    raster = basemap_render.basemap_path(settings).resolve()
    refresh = {"mtime": str(raster)}

    sources: dict[str, dict] = {
        f"{basemap.id}_raster": {
            "type": "onemap_raster", "file": str(raster),
            "background": "#{:02X}{:02X}{:02X}".format(*basemap_render.BACKGROUND), "resampling": "bilinear",
        },
    }
    feed = f"{basemap.id}_{WEBMERCATOR}"
    caches: dict[str, dict] = _grid_caches(basemap.id, WEBMERCATOR, [f"{basemap.id}_raster"], basemap.format,
                                           mp / "cache", refresh_before=refresh)
    landcover_title = landcover.t("title", "zh")
    layers: list[dict] = [{
        "name": basemap.id, "title": _title(basemap.title),
        "sources": [feed], "tile_sources": [f"{basemap.id}_{g}" for g in GRIDS],
        "md": {"abstract": " ".join(filter(None, [basemap.abstract["zh"], basemap.abstract["en"],
                                                  f"({landcover_title} {landcover.id})"]))},
    }]

    for up, key in active_upstreams(upstreams, keys):
        src: dict[str, Any] = {"type": "tile", "url": up.mapproxy_url(key), "grid": up.grid,
                               "transparent": up.transparent}
        if up.levels:
            # coarser or finer than the service has: transparent, not an error from upstream
            src["min_res"] = _grid_res(up.grid, up.levels[0]) * math.sqrt(2)
            src["max_res"] = _grid_res(up.grid, up.levels[1]) / math.sqrt(2)
        if up.http:
            src["http"] = up.http
        sources[f"{up.id}_tiles"] = src
        caches.update(_grid_caches(up.id, up.grid, [f"{up.id}_tiles"], up.format, mp / "cache"))
        wm = f"{up.id}_{WEBMERCATOR}"
        layers.append({
            "name": up.id, "title": _title(up.title), "sources": [wm],
            "tile_sources": [f"{up.id}_{g}" for g in GRIDS],
            "md": {"abstract": up.attribution or ""},
        })

    if renderer is not None:
        thematic = thematic_layers(catalogue, renderer, mp / "cache", tiers)
        clash = {lyr["name"] for lyr in layers} & {lyr["name"] for lyr in thematic["layers"]}
        if clash:
            raise ConfigError(f"basemaps: {', '.join(sorted(clash))} is both a basemap and a catalogue layer")
        sources.update(thematic["sources"])
        caches.update(thematic["caches"])
        layers += thematic["layers"]

    md = {
        "title": "OneMap 底图服务 / basemaps",
        "abstract": "国土空间规划“一张图”底图：WMTS、TMS/XYZ 与 WMS，瓦片矩阵集 WebMercatorQuad（EPSG:3857）与 "
                    "CGCS2000Quad（EPSG:4490，天地图 c 矩阵布局）。 Territorial spatial planning basemaps over WMTS, "
                    "TMS/XYZ and WMS, on Web Mercator and CGCS2000 grids.",
        "access_constraints": "see the layers' attributions",
        "fees": "none",
    }
    services: dict[str, Any] = {
        "wmts": {"restful": True, "kvp": True, "md": md},
        "tms": {"use_grid_names": True},
        "wms": {"versions": ["1.3.0", "1.1.1"], "srs": list(WMS_SRS), "bbox_srs": ["EPSG:4490", "EPSG:3857"],
                "image_formats": ["image/png", "image/jpeg"], "md": md,
                "featureinfo_types": ["json", "html", "text"], "max_output_pixels": [4096, 4096]},
    }
    if settings.basemap.demo_service:
        services["demo"] = {}

    return {
        "globals": {
            "cache": {"base_dir": str(mp / "cache"), "lock_dir": str(mp / "locks"),
                      "tile_lock_dir": str(mp / "tile_locks")},
            # truecolour PNG: the paletted default bands the relief shading
            "image": {"resampling_method": "bilinear", "paletted": False},
            "http": {"client_timeout": 20},
            # what clients may keep without asking again: a minute, as for the vector tiles (MapProxy's
            # default is 72 hours, but the catalogue's layers and the basemap change when plans are filed;
            # after the minute a client revalidates with the tile's ETag)
            "tiles": {"expires_hours": 1 / 60},
        },
        "services": services,
        "grids": grids(),
        "sources": sources,
        "caches": caches,
        "layers": layers,
    }


def thematic_layers(catalogue: Any, renderer: str, cache_root: Path, tiers: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    """Every catalogue layer as a MapProxy layer drawn by OneMap (``onemap_layer``): WMS maps of any box
    drawn directly (with TIME, view and recorded forwarded), tiles on every grid from caches whose
    storage is off, since OneMap's map tile cache below them is invalidated by area with the vector
    tiles and MapProxy's could only be expired whole."""
    sources: dict[str, dict] = {}
    caches: dict[str, dict] = {}
    layers: list[dict] = []
    for layer in catalogue.layers.values():
        if tiers is not None and layer.tier not in tiers:
            continue
        src = f"{layer.id}_draw"
        sources[src] = {"type": "onemap_layer", "renderer": renderer, "layer": layer.id, "transparent": True}
        for grid in GRIDS:
            caches[f"{layer.id}_{grid}"] = {
                "grids": [grid], "sources": [src], "format": "image/png", "disable_storage": True,
                "meta_size": [1, 1], "meta_buffer": 0, "cache": {"type": "file",
                                                                "directory": str(cache_root / layer.id / grid)}}
        layers.append({
            "name": layer.id, "title": _title({"zh": layer.t("title", "zh"), "en": layer.t("title", "en")}),
            "sources": [src], "tile_sources": [f"{layer.id}_{g}" for g in GRIDS],
            "md": {"abstract": f"{layer.t('title', 'zh')} ({layer.table_code or layer.id}), "
                               f"{layer.category}; 与 /collections/{layer.id} 同源 / the features of "
                               f"/collections/{layer.id}"},
        })
    return {"sources": sources, "caches": caches, "layers": layers}


def write_config(settings: Any, keys: Mapping[str, str] | None = None, renderer: str | None = None,
                 tiers: Sequence[str] | None = None) -> Path:
    """Write the generated configuration to ``<data_dir>/mapproxy/mapproxy.yaml`` (atomically); the one
    with the catalogue layers of ``tiers`` to ``mapproxy.<highest tier>.yaml``."""
    conf = mapproxy_config(settings, keys, renderer=renderer, tiers=tiers)
    path = config_path(settings) if not tiers else config_path(settings).with_suffix(f".{tiers[-1]}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# generated by onemap.server.basemaps from config/basemaps.yaml: edits are overwritten\n"
            + yaml.safe_dump(conf, allow_unicode=True, sort_keys=False))
    fd, tmp = tempfile.mkstemp(prefix=".mapproxy-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # the file may hold an upstream's key: readable by the server's user only
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)  # several workers may write it at once
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def make_mapproxy_app(settings: Any, keys: Mapping[str, str] | None = None, renderer: str | None = None,
                      tiers: Sequence[str] | None = None) -> Any:
    """MapProxy's WSGI app for these settings (the configuration is written first)."""
    from mapproxy.wsgiapp import make_wsgi_app

    return make_wsgi_app(str(write_config(settings, keys, renderer, tiers)), ignore_config_warnings=False)


def renderer_key(settings: Any) -> str:
    """The name under which an application's map renderer is registered for MapProxy (its data directory:
    the same for every worker, so they write the same configuration)."""
    return str(mapproxy_dir(settings))


# what MapProxy is asked with (HEAD as GET); any other method is a 405, on both ways in
READ_METHODS = ("GET", "HEAD", "OPTIONS")
OWS_PATHS = ("service", "ows", "wms")  # MapProxy's names of its KVP endpoint (WMS and WMTS)
_NUMBERS = "BBOX, WIDTH, HEIGHT, I, J, X, Y, TILEMATRIX, TILEROW and TILECOL take numbers"

_NAME = r"[A-Za-z0-9_.-]{1,64}"
_TILE = rf"{_NAME}/{_NAME}/\d{{1,9}}/\d{{1,12}}/\d{{1,12}}\.(?:png|jpeg|jpg)"
_TILE_PATH = re.compile(rf"(?:wmts/1\.0\.0/WMTSCapabilities\.xml|wmts/{_TILE}|tiles/(?:1\.0\.0/)?{_TILE}"
                        rf"|tms/1\.0\.0/?|tms/1\.0\.0/{_NAME}/{_NAME}/?|tms/1\.0\.0/{_TILE})\Z")


# ---- serving ------------------------------------------------------------------------------------
class BasemapsAPI(APIFactory):
    """MapProxy under ``/basemaps``: public URLs, CORS, and a basemap raster kept current.

    Each request goes through a Flask route (so per-route dependencies apply as everywhere)
    and is handed to MapProxy's WSGI app with the public root in place of the request's own
    (MapProxy writes its capabilities URLs from the request). At most every ``check_interval``
    seconds the basemap's fingerprint is compared with the survey in force; a change
    re-renders the raster (under a lock shared by the workers), and MapProxy's caches then
    refresh the tiles that are older than it.
    """

    tags = ({"name": "basemaps", "description": "Cached basemaps (MapProxy): WMTS, WMS, TMS and XYZ tiles"},)

    def __init__(self, settings: Any, store: Any, links: Links, keys: Mapping[str, str] | None = None,
                 check_interval: float = 10.0, renderer: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.links = links
        self.keys = keys
        self.renderer = renderer  # the catalogue layers' (None: the basemaps alone)
        self.renderer_key: str | None = None
        if renderer is not None:
            self.renderer_key = renderer_key(settings)
            mapproxy_plugin.RENDERERS[self.renderer_key] = renderer
        # one MapProxy per set of tiers a caller reaches, holding only the catalogue layers of those tiers:
        # a layer a caller may not see does not exist for its MapProxy, in every answer alike
        self._apps: dict[tuple[str, ...], Any] = {}
        self._apps_lock = threading.Lock()
        self.flask_app: Callable[..., Iterable[bytes]] | None = None  # for callers with credentials
        self.mapproxy = self.app_for(("public",))
        self.check_interval = check_interval
        self._checked = -math.inf
        self._lock = threading.Lock()
        basemap, _ = load_definitions(_definitions_path(settings))
        # the map page's raster background: MapProxy's XYZ-style URLs on the Web Mercator grid
        self.xyz_path = (f"{MOUNT}/tiles/1.0.0/{basemap.id}/{WEBMERCATOR}/{{z}}/{{x}}/{{y}}."
                         f"{'jpeg' if 'jpeg' in basemap.format else 'png'}?origin=nw")

    def routes(self) -> list[Route]:
        tile = {n: {"type": "integer", "minimum": 0} for n in ("z", "x", "y")}
        named: dict[str, dict[str, Any]] = {
            "layer": {"type": "string"}, "grid": {"type": "string", "enum": list(GRIDS)}, **tile,
            "ext": {"type": "string", "enum": ["png", "jpeg"]}}
        image = {"200": {"description": "A tile.", "content": {"image/png": {}, "image/jpeg": {}}}}
        xml = {"200": {"description": "Capabilities.", "content": {"application/xml": {}}}}
        return [
            Route(MOUNT + "/{path}", self.serve, "getBasemaps", "MapProxy's services", ("basemaps",),
                  path_params={"path": {"type": "string"}}, checked=False, documented=False,
                  flask_path=MOUNT + "/<path:path>"),
            Route(MOUNT, self.serve, "getBasemapsRoot", "MapProxy's root", ("basemaps",), checked=False,
                  documented=False),
            Route(MOUNT + "/wmts/1.0.0/WMTSCapabilities.xml", self.serve, "getWmtsCapabilities",
                  "WMTS capabilities (RESTful)", ("basemaps",), responses=xml, served=False, checked=False),
            Route(MOUNT + "/wmts/{layer}/{grid}/{z}/{x}/{y}.{ext}", self.serve, "getWmtsTile",
                  "A WMTS tile (RESTful)", ("basemaps",), path_params=named, responses=image, served=False, checked=False),
            Route(MOUNT + "/tiles/1.0.0/{layer}/{grid}/{z}/{x}/{y}.{ext}", self.serve, "getXyzTile",
                  "An XYZ tile (origin=nw: rows from the top)", ("basemaps",), path_params=named, responses=image, checked=False,
                  served=False),
            Route(MOUNT + "/service", self.serve, "getBasemapService",
                  "WMS 1.1.1/1.3.0 and WMTS KVP (SERVICE=WMS|WMTS&REQUEST=...)", ("basemaps",),
                  responses={"200": {"description": "Capabilities, a map or a tile."}}, served=False, checked=False),
        ]

    def app_for(self, tiers: tuple[str, ...]) -> Any:
        """The MapProxy of a caller reaching ``tiers`` (made on first use)."""
        app = self._apps.get(tiers)
        if app is None:
            with self._apps_lock:
                app = self._apps.get(tiers)
                if app is None:
                    app = make_mapproxy_app(self.settings, self.keys, self.renderer_key,
                                            tiers if self.renderer_key else None)
                    self._apps[tiers] = app
        return app

    def refresh(self, force: bool = False) -> None:
        """Re-render the basemap if the survey in force (or the DEM) has changed."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_interval:
            return
        with self._lock:
            if not force and now - self._checked < self.check_interval:
                return
            try:
                basemap_render.ensure_basemap(self.settings, self.store)
            except Exception:  # keep serving what is cached; the log tells why
                LOG.exception("the basemap could not be rendered")
            self._checked = time.monotonic()

    def _environ(self, environ: dict[str, Any], base: str, path: str) -> dict[str, Any]:
        """The request as MapProxy gets it: under the public root, whatever the client said."""
        environ = dict(environ)
        # clients must not steer the URLs MapProxy writes into its documents
        for name in ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_SCRIPT_NAME"):
            environ.pop(name, None)
        root = urlsplit(base)
        environ["wsgi.url_scheme"] = root.scheme or "http"
        if root.netloc:
            environ["HTTP_HOST"] = root.netloc
        environ["SCRIPT_NAME"] = root.path.rstrip("/") + MOUNT
        environ["PATH_INFO"] = "/" + path
        return environ

    def _refusal(self, environ: dict[str, Any], mapproxy: Any) -> OneMapError | Callable[..., Iterable[bytes]] | None:
        """The answer to a request MapProxy would answer with a 500 (or with a map for a malformed one): an
        error, or MapProxy's own exception document with a 4xx status; None for a request MapProxy takes.
        ``environ`` is MapProxy's (``_environ``), ``mapproxy`` the caller's."""
        path = environ.get("PATH_INFO", "").lstrip("/")
        head = path.split("/", 1)[0]
        # the drawer view asked for (datetime or TIME, view, recorded) reaches the catalogue layers' source
        # through the request's context: MapProxy forwards it to WMS maps only
        args = {k.lower(): v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items() if v}
        dims = {k: args[k] for k in mapproxy_plugin.FORWARDED if k in args}
        mapproxy_plugin.REQUEST_DIMENSIONS.set(dims or None)
        view_error = None
        if dims and self.renderer is not None:
            try:
                mapproxy_plugin.view_of(dims, self.renderer.params)
            except OneMapError as err:
                view_error = err
        if view_error is not None and head in ("wmts", "tiles", "tms"):
            return view_error
        if head in ("wmts", "tiles", "tms") and not _TILE_PATH.match(path):
            # MapProxy answers some malformed tile paths with a 500
            return NotFound(f"no such basemap resource: {MOUNT}/{path}")
        if head in OWS_PATHS and "/" not in path.rstrip("/") and environ.get("REQUEST_METHOD") != "OPTIONS":
            return self._kvp_refusal(environ, mapproxy, view_error)
        return None

    def _kvp_refusal(self, environ: dict[str, Any], mapproxy: Any, view_error: OneMapError | None = None
                     ) -> Callable[..., Iterable[bytes]] | None:
        """A WMS or WMTS KVP request checked as MapProxy checks it before it renders, and for what MapProxy
        lets through and then fails on (a malformed number, a BBOX that is not finite, an empty image): a
        client's mistake is MapProxy's exception document with a 400 (MapProxy's WMS says 500 for every one),
        ``view_error`` among them for a map, feature info or tile (a malformed TIME, view or recorded);
        whatever goes wrong after these checks is the server's."""
        from mapproxy.exception import RequestError
        from mapproxy.request.base import Request as MapProxyRequest
        from mapproxy.request.wms.exception import WMS111ExceptionHandler, WMS130ExceptionHandler
        from mapproxy.request.wmts import WMTS100ExceptionHandler

        req = MapProxyRequest(environ)
        args = req.args
        name = (args.get("service") or "").lower()
        if not name and (args.get("wmtver") == "1.0.0" or args.get("request") == "GetMap"):
            name = "wms"  # as MapProxy reads a request without SERVICE
        ows = mapproxy.handlers.get("service")
        server = ows.services.get(name) if ows is not None else None
        if server is None:
            return None  # MapProxy answers a missing or unknown SERVICE with a 400 itself
        try:
            parsed = server.parse_request(req)
            if name == "wms":
                _check_wms(server, parsed)
            else:
                _check_wmts(server, parsed)
            if view_error is not None and parsed.request_handler_name in ("map", "featureinfo", "tile"):
                raise RequestError(str(view_error), code="InvalidParameterValue", request=parsed, status=400)
        except RequestError as err:
            status = err.status or 400
            if err.request is not None and not _draws_exceptions(err.request):
                # MapProxy would draw the report as an image with no size or format to draw in (and fail: a
                # 500): its XML report instead
                err.request.prevent_image_exception = True
            resp = err.render()
            resp.status = status  # also for an exception drawn as an image (EXCEPTIONS=INIMAGE), which says 200
            return cast(Callable[..., Iterable[bytes]], resp)
        except (ValueError, TypeError, ArithmeticError):
            # MapProxy reads the numbers as it needs them, with float() and int()
            handler = WMTS100ExceptionHandler() if name == "wmts" else (
                WMS111ExceptionHandler() if str(args.get("version", "")).startswith("1.1") else WMS130ExceptionHandler())
            return handler.render(RequestError(f"a parameter value is malformed ({_NUMBERS})",
                                               code="InvalidParameterValue", status=400))
        return None

    def _ours(self, environ: dict[str, Any]) -> bool:
        """Does the request name a catalogue layer, or ask for capabilities (which OneMap rewrites)?"""
        renderer = self.renderer
        if renderer is None:
            return False
        path = environ.get("PATH_INFO", "").lstrip("/")
        query = environ.get("QUERY_STRING", "").lower()
        if "capabilities" in path.lower() or "getcapabilities" in query or path.rstrip("/") in ("tms/1.0.0", "tms"):
            return True
        names = set(path.split("/"))
        for key, values in parse_qs(environ.get("QUERY_STRING", "")).items():
            if key.lower() in ("layer", "layers", "query_layers"):
                names.update(n for v in values for n in v.split(","))
        return not names.isdisjoint(renderer.catalogue.layers)

    def capabilities(self, body: bytes) -> bytes:
        """MapProxy's WMTS or WMS capabilities with each catalogue layer's boxes where its features are
        (MapProxy says the world for a source it cannot see into, and a client's "zoom to layer" went
        there), and WMTS matrices named by level (``_grid_level_ids``)."""
        from lxml import etree

        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(body, parser)
        layers = self.renderer.catalogue.layers if self.renderer is not None else {}

        def extent(name: str | None) -> tuple[float, float, float, float] | None:
            layer = layers.get(name or "")
            box = self.store.layer_extent(layer) if layer is not None else None
            return (float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None

        ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
        for tms in root.iterfind("w:Contents/w:TileMatrixSet", ns):
            _grid_level_ids(tms, ns)
        for el in root.iterfind("w:Contents/w:Layer", ns):
            box = extent(el.findtext("ows:Identifier", namespaces=ns))
            lower = el.find("ows:WGS84BoundingBox/ows:LowerCorner", ns)
            upper = el.find("ows:WGS84BoundingBox/ows:UpperCorner", ns)
            if box and lower is not None and upper is not None:
                lower.text = f"{box[0]:.6f} {box[1]:.6f}"
                upper.text = f"{box[2]:.6f} {box[3]:.6f}"
        for el in root.iterfind(".//{*}Layer"):
            box = extent(el.findtext("{*}Name"))
            if box:
                _wms_boxes(el, box)
        return cast(bytes, etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))

    def serve(self, call: Call, path: str = "") -> Response:
        """The basemaps through Flask (where route dependencies run), shown as the caller may see them."""
        from .access import tiers_of

        environ = self._environ(call.request.environ, self.links.base, path)
        mapproxy = self.app_for(tiers_of(call.principal))
        refusal = self._refusal(environ, mapproxy)
        if isinstance(refusal, OneMapError):
            raise refusal
        if refusal is None:
            self.refresh()
        # werkzeug annotates from_app as returning its own Response; it returns an instance of cls
        resp = cast(Response, Response.from_app(refusal or partial(self.content_tagged, mapproxy), environ))
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """The same, as a WSGI app mounted under ``/basemaps`` in front of Flask: a basemap tile costs
        less than Flask's routing and hooks around it (measured: 2,650 -> 3,620 cached WMTS tiles/s).
        ``create_app`` mounts it only while no route dependency guards the basemaps."""
        path = environ.get("PATH_INFO", "").lstrip("/")
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in READ_METHODS:
            # as Flask answers a method a route does not take (server/http.py)
            err = OneMapError(f"{method} is not allowed on {MOUNT}/{path}".rstrip("/"), code="InvalidRequest")
            err.status = 405
            return _json_error(err, rid, start_response, [("Allow", ", ".join(READ_METHODS))])
        outer = environ.get("SCRIPT_NAME", "")[: -len(MOUNT)] if environ.get("SCRIPT_NAME", "").endswith(MOUNT) else ""
        if self.flask_app is not None and environ.get("HTTP_AUTHORIZATION"):
            # a caller who signs in may see more layers: who it is is worked out by the route dependency
            environ = dict(environ, SCRIPT_NAME=outer, PATH_INFO=MOUNT + "/" + path)
            return self.flask_app(environ, start_response)
        base = self.links.public_url or f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}{outer}"
        inner = self._environ(environ, base, path)
        mapproxy = self.mapproxy  # without credentials: the public tier's
        refusal = self._refusal(inner, mapproxy)
        if isinstance(refusal, OneMapError):
            return _json_error(refusal, rid, start_response)

        def cors_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            ours = {k.lower() for k, _ in CORS_HEADERS}
            headers = [(k, v) for k, v in headers if k.lower() not in ours]
            headers += [*CORS_HEADERS, ("X-Request-ID", rid)]
            return start_response(status, headers, exc_info)

        if refusal is not None:
            return refusal(inner, cors_start_response)
        self.refresh()
        return self.content_tagged(mapproxy, inner, cors_start_response)

    def content_tagged(self, mapproxy: Any, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """MapProxy's answer with an ETag of its image's bytes, and If-None-Match answered by that, for the
        catalogue's layers and the capabilities (rewritten, ``capabilities``); other answers as they are.

        MapProxy tags a tile with its cache file's time and size, which a tile of a cache without
        storage (the catalogue's layers) does not have: every such tile had one ETag, so a client
        revalidating a tile after a filing was told it had not changed. The basemap's and the
        upstreams' stored tiles keep MapProxy's tags and are not held in memory (measured: a cached
        basemap tile 0.24 ms in-process, 0.27 ms when buffered and hashed).
        """
        if not self._ours(environ):
            return cast(Iterable[bytes], mapproxy(environ, start_response))
        environ = dict(environ)
        asked = environ.pop("HTTP_IF_NONE_MATCH", None)
        environ.pop("HTTP_IF_MODIFIED_SINCE", None)
        got: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            got["status"], got["headers"] = status, headers
            return lambda data: None  # MapProxy returns its body; it never writes

        result = mapproxy(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = got["status"], got["headers"]
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status.startswith("200") and "xml" in kind and (b"<TileMatrixSet>" in body or b"WMS_Capabilities" in body
                                                            or b"WMT_MS_Capabilities" in body):
            body = self.capabilities(body)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [
                ("Content-Length", str(len(body)))]
        if status.startswith("200") and kind.startswith("image/"):
            tag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
            headers = [(k, v) for k, v in headers if k.lower() not in ("etag", "last-modified")] + [("ETag", tag)]
            if asked and tag in [t.strip() for t in asked.split(",")]:
                keep = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
                start_response("304 NOT MODIFIED", keep)
                return [b""]
        start_response(status, headers)
        return [body]


def _grid_level_ids(tms: Any, ns: dict[str, str]) -> None:
    """A WMTS TileMatrixSet's matrices named by their level numbers, as Tianditu and OGC API - Tiles name
    them ("7", not MapProxy's "07"); Tianditu's c grid without the level 0 MapProxy needs below it."""
    name = tms.findtext("ows:Identifier", namespaces=ns)
    for m in tms.findall("w:TileMatrix", ns):
        ident = m.find("ows:Identifier", ns)
        if ident is None or not (ident.text or "").isdigit():
            continue
        level = int(ident.text or "0")
        if name == TIANDITU_C and level == 0:
            tms.remove(m)
        else:
            ident.text = str(level)


def _wms_boxes(layer: Any, box: tuple[float, float, float, float]) -> None:
    """A WMS layer's bounding boxes set to ``box`` (lon/lat): the geographic one and one per CRS, in each
    CRS's axis order (WMS 1.3.0's EPSG:4490 and EPSG:4326 are lat, lon; 1.1.1's SRS boxes are x, y)."""
    from onemap.tiles.mvt import mercator

    west, south, east, north = box
    geo = layer.find("{*}EX_GeographicBoundingBox")
    if geo is not None:
        for tag, value in (("westBoundLongitude", west), ("eastBoundLongitude", east),
                           ("southBoundLatitude", south), ("northBoundLatitude", north)):
            child = geo.find("{*}" + tag)
            if child is not None:
                child.text = f"{value:.6f}"
    latlon = layer.find("{*}LatLonBoundingBox")
    if latlon is not None:
        latlon.attrib.update({"minx": f"{west:.6f}", "miny": f"{south:.6f}", "maxx": f"{east:.6f}", "maxy": f"{north:.6f}"})
    for bb in layer.findall("{*}BoundingBox"):
        crs = bb.get("CRS") or bb.get("SRS") or ""
        if crs == "EPSG:3857":
            (x0, y0), (x1, y1) = mercator(west, south), mercator(east, north)
            bb.attrib.update({"minx": f"{x0:.2f}", "miny": f"{y0:.2f}", "maxx": f"{x1:.2f}", "maxy": f"{y1:.2f}"})
        elif crs in ("EPSG:4490", "EPSG:4326") and bb.get("CRS"):
            bb.attrib.update({"minx": f"{south:.6f}", "miny": f"{west:.6f}", "maxx": f"{north:.6f}", "maxy": f"{east:.6f}"})
        elif crs in ("EPSG:4490", "EPSG:4326", "CRS:84"):
            bb.attrib.update({"minx": f"{west:.6f}", "miny": f"{south:.6f}", "maxx": f"{east:.6f}", "maxy": f"{north:.6f}"})


def _json_error(err: OneMapError, rid: str, start_response: Callable, extra: Sequence[tuple[str, str]] = ()
                ) -> Iterable[bytes]:
    """An error as the API writes it (JSON), from the WSGI app in front of Flask."""
    body = dumps(err.to_dict())
    status = int(err.status)
    start_response(f"{status} {HTTPStatus(status).phrase.upper()}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Request-ID", rid),
                    *CORS_HEADERS, *extra])
    return [body]


def _draws_exceptions(req: Any) -> bool:
    """Can MapProxy draw its exception report as the picture a WMS client asks for (EXCEPTIONS=INIMAGE or BLANK):
    only in a GetMap of at least a pixel (a GetFeatureInfo has no image format, a zero or malformed size no
    image)."""
    if getattr(req, "request_handler_name", None) != "map":
        return False
    try:
        width, height = req.params.size
    except (TypeError, ValueError, ArithmeticError):
        return False
    return width >= 1 and height >= 1


def _check_wms(server: Any, req: Any) -> None:
    """What MapProxy's WMS checks before it renders, and what it leaves to fail later (raises MapProxy's
    RequestError, or ValueError for a malformed number): a BBOX of finite numbers, within longitude and
    latitude in a geographic CRS and no smaller than a pixel of the finest cache level, an image of at
    least a pixel, and layers that exist (and, to be queried, are queryable)."""
    from mapproxy.exception import RequestError
    from mapproxy.srs import SRS

    kind = req.request_handler_name
    if kind == "legendgraphic":
        server.check_legend_request(req)
        if req.params.format_mime_type not in server.image_formats:  # (MapProxy looks it up as it draws: a KeyError)
            raise RequestError(f"unsupported legend format: {req.params.format_mime_type}", code="InvalidFormat",
                               request=req)
        _ = req.params.scale  # a number or nothing (MapProxy reads it with float())
    if kind not in ("map", "featureinfo"):
        return
    width, height = req.params.size
    if width < 1 or height < 1:
        raise RequestError("WIDTH and HEIGHT must be at least 1", code="InvalidParameterValue", request=req)
    (kind == "map" and server.check_map_request or server.check_featureinfo_request)(req)
    x0, y0, x1, y1 = req.params.bbox  # x, y order (MapProxy turns a WMS 1.3.0 lat, lon BBOX round)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise RequestError("BBOX must be four finite numbers", code="InvalidParameterValue", request=req)
    geographic = SRS(req.params.srs).is_latlong
    if geographic and not (-180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90):
        raise RequestError("BBOX is outside the valid range of longitude and latitude", code="InvalidParameterValue",
                           request=req)
    if min(x1 - x0, y1 - y0) * (METRES_PER_DEGREE if geographic else 1.0) < FINEST_PIXEL_M:
        # MapProxy cannot find the tiles of a box within a fraction of its finest pixel (a 500)
        raise RequestError(f"BBOX is smaller than a pixel of the finest level ({FINEST_PIXEL_M:.2f} m)",
                           code="InvalidParameterValue", request=req)
    if kind == "featureinfo":
        count = req.params.get("feature_count")
        if count is not None:
            int(count)  # a number or nothing (the layers' sources read it with int())
        i, j = req.params.pos
        if not (0 <= i < width and 0 <= j < height):
            raise RequestError("I and J (X and Y) must lie in the image", code="InvalidPoint", request=req)
        for name in req.params.query_layers:
            layer = server.layers.get(name)
            if layer is None:
                raise RequestError(f"unknown layer: {name}", code="LayerNotDefined", request=req)
            if not layer.queryable:
                raise RequestError(f"layer {name} is not queryable", code="LayerNotQueryable", request=req)


def _check_wmts(server: Any, req: Any) -> None:
    """What MapProxy's WMTS checks before a GetTile or GetFeatureInfo (the tile's numbers, its layer and
    matrix set), and that a GetFeatureInfo asks a layer that answers one."""
    from mapproxy.exception import RequestError

    kind = req.request_handler_name
    if kind == "tile":
        server.check_request(req)
    elif kind == "featureinfo":
        server.check_request(req, server.info_formats)  # reads I and J as integers too
        if not server.layers[req.layer][req.tilematrixset].info_sources:
            raise RequestError(f"layer {req.layer} is not queryable", code="OperationNotSupported", request=req,
                               status=400)


# ---- seeding ----------------------------------------------------------------------------------
def region_bbox(settings: Any, store: Any) -> tuple[float, float, float, float]:
    """The lon/lat extent of the survey in force (else of the rendered basemap)."""
    from onemap.domain.dates import When, today

    layer = store.catalogue.layers[basemap_render.LANDCOVER_LAYER]
    plan_ids = store.plans_in_force(When.at(today(settings.timezone)), None, layer)
    ext = store.layer_extent(layer, plan_ids) if plan_ids else None
    if ext:
        x0, y0, x1, y1 = (float(v) for v in ext)
        return (x0, y0, x1, y1)
    path = basemap_render.basemap_path(settings)
    if path.exists():
        import rasterio
        from rasterio.warp import transform_bounds

        with rasterio.open(path) as ds:
            return tuple(transform_bounds(ds.crs, "EPSG:4490", *ds.bounds))
    raise ConfigError("no region to seed: the land survey has no parcels in force; pass a bbox")


class _SeedProgress:
    """MapProxy's progress logger, reporting to ``progress(stage, fraction)`` instead of stdout."""

    def __init__(self, report: Progress, tasks: Sequence[Any]) -> None:
        self.report = report
        self.tasks = list(tasks)
        self.index = 0
        self.progress_store = None
        self.current_task_id = None

    def _stage(self) -> str:
        md = self.tasks[self.index].md if self.index < len(self.tasks) else {}
        return f"seeding {md.get('cache_name', '')}"

    def _fraction(self, task_fraction: float) -> float:
        return min(1.0, (self.index + min(max(task_fraction, 0.0), 1.0)) / max(1, len(self.tasks)))

    def log_message(self, msg: str) -> None:
        LOG.info("%s", msg)

    def log_step(self, progress: Any) -> None:
        self.report(self._stage(), self._fraction(progress.progress))

    def log_progress(self, progress: Any, level: int, bbox: Any, tiles: int) -> None:
        self.report(self._stage(), self._fraction(progress.progress))


def seed(settings: Any, om_or_store: Any, levels: tuple[int, int] = (0, 10),
         bbox: Sequence[float] | None = None, progress: Progress | None = None,
         layers: Sequence[str] | None = None, concurrency: int | None = None) -> dict[str, Any]:
    """Fill the caches of both grids for the region (or ``bbox``, lon/lat) at ``levels`` (inclusive).

    ``layers`` defaults to the rendered basemap (upstream layers can be named too; only
    their missing tiles are fetched). The basemap is re-rendered first if it is stale.
    Uses MapProxy's seeder (``mapproxy.seed``), with worker processes. Returns a summary.
    """
    from mapproxy.config.loader import load_configuration
    from mapproxy.seed.config import SeedingConfiguration
    from mapproxy.seed.seeder import seed as mapproxy_seed

    store = getattr(om_or_store, "store", om_or_store)
    report = progress or (lambda stage, fraction: None)
    first, last = int(levels[0]), int(levels[1])
    if not 0 <= first <= last:
        raise ValueError(f"levels must be FIRST-LAST with 0 <= FIRST <= LAST, not {first}-{last}")
    basemap, _ = load_definitions(_definitions_path(settings))
    layers = list(layers or [basemap.id])
    if basemap.id in layers:
        basemap_render.ensure_basemap(settings, store, progress=report)
    if bbox is None:
        bbox = region_bbox(settings, store)
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(f"bbox must be west,south,east,north in degrees, not {list(bbox)}")

    path = write_config(settings)
    conf = load_configuration(str(path), seed=True)
    known = {lyr["name"] for lyr in mapproxy_config(settings)["layers"]}  # the catalogue's are not seeded
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ValueError(f"no such basemap layer (or its key variable is not set): {', '.join(unknown)}")
    raster = str(basemap_render.basemap_path(settings).resolve())
    seeds: dict[str, dict] = {}
    for name in layers:
        # Web Mercator first: the CGCS2000 cache is made from it; Tianditu's grids are copies of these two,
        # made when asked
        for grid in (WEBMERCATOR, CGCS2000):
            seeds[f"{name}_{grid}"] = {
                "caches": [f"{name}_{grid}"], "grids": [grid], "coverages": ["region"],
                "levels": {"from": first, "to": min(last, WEBMERCATOR_LEVELS - 1 if grid == WEBMERCATOR
                                                     else CGCS2000_LEVELS - 1)},
                # only tiles older than the raster (for upstreams: only missing tiles) are made
                "refresh_before": {"mtime": raster} if name == basemap.id else {"time": "2000-01-01T00:00:00"},
            }
    seed_conf = {"coverages": {"region": {"bbox": [west, south, east, north], "srs": "EPSG:4490"}},
                 "seeds": seeds}
    started = time.monotonic()
    with conf:
        tasks = SeedingConfiguration(seed_conf, mapproxy_conf=conf).seeds(list(seeds))
        logger = _SeedProgress(report, tasks)
        # MapProxy's seeder prints each task to stdout; OneMap reports through `progress`
        with contextlib.redirect_stdout(io.StringIO()):
            for i, task in enumerate(tasks):
                logger.index = i
                report(logger._stage(), logger._fraction(0.0))
                mapproxy_seed([task], concurrency=concurrency or max(1, min(4, os.cpu_count() or 1)),
                              progress_logger=logger)
    report("seeding done", 1.0)
    return {"layers": layers, "levels": [first, last], "bbox": [west, south, east, north],
            "tasks": [t.md["cache_name"] for t in tasks], "seconds": round(time.monotonic() - started, 2)}
