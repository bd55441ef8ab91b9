"""MapProxy source plugins: ``type: onemap_raster`` renders map requests from a local raster, and
``type: onemap_layer`` draws a catalogue layer (map, feature info and legend) through OneMap.

MapProxy finds it through the ``mapproxy`` entry-point group (``pyproject.toml``):
``mapproxy.config.loader.load_plugins`` loads this module and calls
``plugin_entrypoint()``, which registers the source type and its YAML options.

The source answers any map request (any SRS, bbox and size) in-process: a windowed,
decimated read of the GeoTIFF (served from its overviews when zoomed out) and a
``rasterio.warp.reproject`` into the requested grid. Serving the basemap over HTTP to
ourselves instead could deadlock a gunicorn sync worker that is waiting on itself.

Options::

    sources:
      basemap:
        type: onemap_raster
        file: /path/to/basemap.tif      # required; re-read when the file is replaced
        background: '#ECEAE4'          # outside the raster (default: opaque light grey)
        resampling: bilinear            # nearest | bilinear | cubic | average | lanczos
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np
from mapproxy.config.configuration.base import parse_color
from mapproxy.config.configuration.source import SourceConfiguration, register_source_configuration, resolution_range
from mapproxy.config.spec import coverage as coverage_spec
from mapproxy.config.spec import image_opts as image_opts_spec
from mapproxy.config.spec import scale_hints
from mapproxy.extent import DefaultMapExtent
from mapproxy.image import ImageResult
from mapproxy.layer import BlankImageError
from mapproxy.layer.map_layer import MapLayer
from mapproxy.source import SourceError
from mapproxy.util.ext.dictspec.spec import required
from PIL import Image

SOURCE_TYPE = "onemap_raster"
DEFAULT_BACKGROUND = "#ECEAE4"
LOG = logging.getLogger("onemap.mapproxy")


# One open dataset per raster and process: GDAL handles are neither thread- nor fork-safe, so
# reads take the lock (a worker serves one request at a time anyway) and a forked process
# (MapProxy's seeder) opens its own.
_open: dict[str, tuple[tuple[int, int, int, int], Any]] = {}
_open_lock = threading.Lock()
_inherited: list[Any] = []


@atexit.register
def _close_all() -> None:
    # GDAL datasets still open while the interpreter tears rasterio down fail noisily
    with _open_lock:
        for key, ds in _open.values():
            if key[0] == os.getpid():
                ds.close()
        _open.clear()


@contextmanager
def _dataset(path: str) -> Iterator[Any]:
    """The open raster at ``path`` (reopened once the file has been replaced), under the lock."""
    import rasterio

    with _open_lock:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"the basemap raster {os.path.basename(path)} does not exist (yet)") from None
        key = (os.getpid(), st.st_ino, st.st_mtime_ns, st.st_size)
        cached = _open.get(path)
        if cached is None or cached[0] != key:
            if cached is not None and cached[0][0] == os.getpid():
                cached[1].close()
            elif cached is not None:
                _inherited.append(cached[1])  # the parent's handle: never closed (or freed) here
            cached = (key, rasterio.open(path))
            _open[path] = cached
        yield cached[1]


_crs_cache: dict[str, Any] = {}


def _rio_crs(srs: Any) -> Any:
    """rasterio's CRS for a MapProxy SRS (lon/lat order for geographic ones, as MapProxy's bboxes are)."""
    from rasterio.crs import CRS

    code = srs.srs_code
    crs = _crs_cache.get(code)
    if crs is None:
        crs = CRS.from_wkt(srs.proj.to_wkt())
        _crs_cache[code] = crs
    return crs


def read_rgb(path: str, bbox: tuple[float, float, float, float], size: tuple[int, int], srs: Any,
             background: tuple[int, int, int], resampling: str = "bilinear") -> np.ndarray:
    """The raster's first three bands as a (height, width, 3) uint8 image of ``bbox`` in ``srs``.

    Pixels the raster does not cover get ``background``.
    """
    from rasterio.enums import Resampling
    from rasterio.transform import Affine, from_bounds
    from rasterio.warp import reproject, transform_bounds
    from rasterio.windows import Window

    width, height = size
    out = np.empty((3, height, width), dtype=np.uint8)
    out[:] = np.asarray(background[:3], dtype=np.uint8)[:, None, None]
    dst_crs = _rio_crs(srs)
    with _dataset(path) as ds:
        src_crs, t = ds.crs, ds.transform
        try:
            left, bottom, right, top = transform_bounds(dst_crs, src_crs, *bbox, densify_pts=21)
        except Exception:  # noqa: BLE001  (a bbox outside the CRS's area of use cannot show the raster)
            return out.transpose(1, 2, 0)
        if not all(map(math.isfinite, (left, bottom, right, top))):
            return out.transpose(1, 2, 0)
        # the source window, a couple of pixels wider for the resampling kernel, clipped to the raster
        col0 = max(0, math.floor((left - t.c) / t.a) - 2)
        col1 = min(ds.width, math.ceil((right - t.c) / t.a) + 2)
        row0 = max(0, math.floor((top - t.f) / t.e) - 2)
        row1 = min(ds.height, math.ceil((bottom - t.f) / t.e) + 2)
        if col1 <= col0 or row1 <= row0:
            return out.transpose(1, 2, 0)
        win = Window(col0, row0, col1 - col0, row1 - row0)
        # decimate to about the requested resolution: GDAL then reads the matching overview
        factor = max(1.0, min((right - left) / width / t.a, (top - bottom) / height / -t.e))
        out_w = max(1, round(win.width / factor))
        out_h = max(1, round(win.height / factor))
        rs = getattr(Resampling, resampling)
        src = ds.read((1, 2, 3), window=win, out_shape=(3, out_h, out_w), resampling=rs)
        src_transform = ds.window_transform(win) @ Affine.scale(win.width / out_w, win.height / out_h)
    reproject(src, out, src_transform=src_transform, src_crs=src_crs,
              dst_transform=from_bounds(*bbox, width, height), dst_crs=dst_crs, resampling=rs,
              init_dest_nodata=False)
    return out.transpose(1, 2, 0)


class RasterSource(MapLayer):
    """A MapProxy source reading a local RGB raster (see the module docstring)."""

    supports_meta_tiles = True

    def __init__(self, path: str, background: tuple[int, ...], resampling: str = "bilinear",
                 image_opts: Any = None, coverage: Any = None, res_range: Any = None) -> None:
        super().__init__(image_opts=image_opts)
        self.path = path
        r, g, b = background[:3]  # MapProxy's colours are RGB or RGBA
        self.background = (r, g, b)
        self.resampling = resampling
        self.coverage = coverage
        self.res_range = res_range
        # the background is part of the map: every request gets an opaque image
        self.extent = DefaultMapExtent()

    def is_opaque(self, query: Any) -> bool:
        return True

    def get_map(self, query: Any) -> ImageResult:
        self.check_res_range(query)
        if self.coverage is not None and not self.coverage.intersects(query.bbox, query.srs):
            raise BlankImageError()
        try:
            rgb = read_rgb(self.path, tuple(query.bbox), tuple(query.size), query.srs, self.background,
                           self.resampling)
        except SourceError:
            raise
        except Exception as err:  # a broken raster must show as a source error, not crash the worker
            LOG.exception("reading %s failed", self.path)
            raise SourceError(f"cannot read the basemap raster: {err.__class__.__name__}") from err
        return ImageResult(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), size=query.size,
                           image_opts=self.image_opts)


class OneMapRasterSourceConfiguration(SourceConfiguration):
    """``type: onemap_raster`` in mapproxy.yaml."""

    source_type = (SOURCE_TYPE,)
    supports_meta_tiles = True
    defaults: ClassVar[dict] = {}

    def source(self, params: Any = None) -> RasterSource:
        from rasterio.enums import Resampling

        resampling = self.conf.get("resampling", "bilinear")
        if not hasattr(Resampling, resampling):
            from mapproxy.config.configuration.base import ConfigurationError

            raise ConfigurationError(f"{SOURCE_TYPE}: unknown resampling {resampling!r}")
        return RasterSource(
            path=self.context.globals.abspath(self.conf["file"]),
            background=parse_color(self.conf.get("background", DEFAULT_BACKGROUND)),
            resampling=resampling,
            image_opts=self.image_opts(),
            coverage=self.coverage(),
            res_range=resolution_range(self.conf),
        )


SOURCE_SPEC = {
    **scale_hints,
    "coverage": coverage_spec,
    "seed_only": False,
    "concurrent_requests": 0,
    required("file"): "",
    "background": "",
    "resampling": "",
    "transparent": False,
    "image": image_opts_spec,
}




# ---- the catalogue's layers, drawn by OneMap (server/map_render.py) --------------------------------------------
LAYER_SOURCE_TYPE = "onemap_layer"
# WMS request parameters handed to the source (MapProxy's forwarded parameters: query.dimensions)
FORWARDED = ("time", "datetime", "view", "recorded")
# the running applications' renderers, by the key their MapProxy configuration names (in-process only)
RENDERERS: dict[str, Any] = {}
# the forwarded parameters of the request being answered: MapProxy hands them to maps (query.dimensions)
# but not to feature info queries, so the request check sets them here for those
REQUEST_DIMENSIONS: ContextVar[dict[str, Any] | None] = ContextVar("onemap_request_dimensions", default=None)


def renderer_of(key: str) -> Any:
    """The map renderer a source's configuration names (a source error where none runs in this process)."""
    renderer = RENDERERS.get(key)
    if renderer is None:
        raise SourceError("the map renderer is not running in this process")
    return renderer


def view_of(dimensions: dict[str, Any] | None, ctx: Any) -> Any:
    """The drawer view a map asks for: WMS TIME (or datetime), view and recorded, parsed as the API parses
    them (the values were checked before MapProxy got the request)."""
    from onemap.providers.params import DATETIME, RECORDED, VIEW
    from onemap.server.map_render import MapView

    # values are strings: MapProxy joins a repeated parameter's values (request_params.RequestParams)
    dims = {k.lower(): v for k, v in (dimensions or {}).items()}
    raw_time = dims.get("datetime") or dims.get("time")
    return MapView(DATETIME.read(raw_time or None, ctx), VIEW.read(dims.get("view") or None, ctx),
                   RECORDED.read(dims.get("recorded") or None, ctx))


class LayerSource(MapLayer):
    """A catalogue layer drawn from its vector tiles with the ``/map`` style (any SRS OneMap draws in).

    A request that is exactly one tile of a grid (what the caches ask, without meta tiles) is answered
    from OneMap's map tile cache, which is invalidated by area with the vector tiles.
    """

    supports_meta_tiles = True
    fwd_req_params: ClassVar[set[str]] = set(FORWARDED)

    def __init__(self, key: str, layer_id: str, image_opts: Any = None) -> None:
        super().__init__(image_opts=image_opts)
        self.key = key
        self.layer_id = layer_id
        self.extent = DefaultMapExtent()
        self.transparent = True

    def is_opaque(self, query: Any) -> bool:
        return False

    def get_map(self, query: Any) -> ImageResult:
        import io

        from onemap.server.map_render import MapBox

        r = renderer_of(self.key)
        layer = r.catalogue.layers[self.layer_id]
        box = MapBox.of(query.srs.srs_code, tuple(query.bbox), tuple(query.size))
        view = view_of(query.dimensions or REQUEST_DIMENSIONS.get(), r.params)
        ref = r.tile_of(box)
        try:
            if ref is not None:
                png, _ = r.tile_png(layer, ref, view)
                if not png:
                    raise BlankImageError()
                return ImageResult(io.BytesIO(png), size=query.size, image_opts=self.image_opts)
            rgba = r.draw([layer], box, view)
        except (BlankImageError, SourceError):
            raise
        except Exception as err:  # a store that is away must show as a source error, not crash the worker
            LOG.exception("drawing %s failed", self.layer_id)
            raise SourceError(f"cannot draw {self.layer_id}: {err.__class__.__name__}") from err
        if not rgba[..., 3].any():
            raise BlankImageError()
        return ImageResult(Image.fromarray(rgba, "RGBA"), size=query.size, image_opts=self.image_opts)


class LayerInfoSource:
    """GetFeatureInfo of a catalogue layer: the features under the pixel, as GeoJSON, HTML or text."""

    def __init__(self, key: str, layer_id: str) -> None:
        self.key = key
        self.layer_id = layer_id

    def get_info(self, query: Any) -> Any:
        import orjson
        from mapproxy.featureinfo import HTMLFeatureInfoDoc, JSONFeatureInfoDoc, TextFeatureInfoDoc

        from onemap.server.map_render import MapBox, info_html, info_text

        r = renderer_of(self.key)
        layer = r.catalogue.layers[self.layer_id]
        box = MapBox.of(query.srs.srs_code, tuple(query.bbox), tuple(query.size))
        i, j = query.pos
        feats = r.info(layer, box, i, j, view_of(getattr(query, "dimensions", None) or REQUEST_DIMENSIONS.get(),
                                                 r.params))
        count = max(1, int(query.feature_count or 1))
        feats = feats[:count]
        fmt = (query.info_format or "").split(";")[0].strip().lower()
        if fmt.endswith("json"):
            return JSONFeatureInfoDoc(orjson.dumps({"type": "FeatureCollection", "features": feats}).decode())
        if fmt == "text/html":
            return HTMLFeatureInfoDoc(info_html(layer, feats))
        return TextFeatureInfoDoc(info_text(layer, feats))


class LayerLegendSource:
    """GetLegendGraphic of a catalogue layer: its style's legend (one image at every scale)."""

    def __init__(self, key: str, layer_id: str) -> None:
        self.key = key
        self.layer_id = layer_id
        self.identifier = f"onemap_{layer_id}"

    @property
    def size(self) -> tuple[int, int]:
        return self.get_legend(None).as_image().size

    def get_legend(self, query: Any) -> ImageResult:
        import io

        r = renderer_of(self.key)
        return ImageResult(io.BytesIO(r.legend_png(r.catalogue.layers[self.layer_id])))


class OneMapLayerSourceConfiguration(SourceConfiguration):
    """``type: onemap_layer`` in mapproxy.yaml: ``renderer`` (the application's key) and ``layer``."""

    source_type = (LAYER_SOURCE_TYPE,)
    supports_meta_tiles = True
    defaults: ClassVar[dict] = {}

    def source(self, params: Any = None) -> LayerSource:
        return LayerSource(str(self.conf["renderer"]), str(self.conf["layer"]), image_opts=self.image_opts())

    def fi_source(self, params: Any = None) -> LayerInfoSource:
        return LayerInfoSource(str(self.conf["renderer"]), str(self.conf["layer"]))

    def lg_source(self, params: Any = None) -> LayerLegendSource:
        return LayerLegendSource(str(self.conf["renderer"]), str(self.conf["layer"]))


LAYER_SOURCE_SPEC = {
    **scale_hints,
    "coverage": coverage_spec,
    "seed_only": False,
    "concurrent_requests": 0,
    required("renderer"): "",
    required("layer"): "",
    "transparent": False,
    "image": image_opts_spec,
}


def plugin_entrypoint() -> None:
    """Called by MapProxy for the ``mapproxy`` entry point; registering twice is harmless."""
    register_source_configuration(SOURCE_TYPE, OneMapRasterSourceConfiguration, SOURCE_TYPE, dict(SOURCE_SPEC))
    register_source_configuration(LAYER_SOURCE_TYPE, OneMapLayerSourceConfiguration, LAYER_SOURCE_TYPE,
                                  dict(LAYER_SOURCE_SPEC))
