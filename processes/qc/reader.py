"""The tolerant reader: every layer of a package (or of a drawer entry in the store) read in
chunks, whatever is wrong with it.

Unlike ``providers.packages.read_package``, which refuses a package at its first bad code or
foreign CRS, this reader refuses nothing: it says what it found (fields, types, declared CRS,
extent) and hands out features a chunk at a time, so a million-parcel survey never sits in
memory at once. Judging the CRS and placing the coordinates in EPSG:4490 is the mathematical-
basis check's job (mathematics.py); it sets ``LayerInput.transform_from``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS, Transformer

from onemap.config.catalogue import Catalogue, Layer
from onemap.providers.geometry import STORAGE_SRID
from onemap.providers.packages import Source, checksum, find_sources
from onemap.providers.store.base import Plan, Store

STORE_EPS = 1e-7  # degrees: store bbox queries are widened by this (their indexes round to float32)


@dataclass
class FieldInfo:
    """A catalogue field as the source holds it."""

    source: str  # the field's name in the source (any case)
    dtype: str  # numpy dtype pyogrio reads it as ("object" for text), or "store"


@dataclass
class Chunk:
    """Consecutive features of one layer, geometry in EPSG:4490 lon/lat (None where missing)."""

    fids: np.ndarray  # int64
    rows: np.ndarray | None  # record number in the layer, from 1 (None for store entries)
    geoms: np.ndarray  # shapely geometries or None
    undecodable: np.ndarray  # bool: a geometry was there but could not be read
    columns: dict[str, np.ndarray]  # catalogue field name -> values (object arrays)

    def __len__(self) -> int:
        return len(self.fids)


@dataclass
class LayerInput:
    """One layer to check: what the source says about it, and its features chunk by chunk."""

    name: str  # as the source names it (the table code)
    layer: Layer
    count: int
    fields: dict[str, FieldInfo]
    declared_crs: str | None  # the CRS as declared (WKT/PROJ string), None when missing
    raw_bounds: tuple[float, float, float, float] | None  # in the declared CRS
    geometry_type: str | None = None  # as the source declares it
    in_store: bool = False
    # set by the mathematical-basis check
    transform_from: Any = None  # CRS to reproject from (None: the coordinates are EPSG:4490 lon/lat)
    usable: bool = True  # can the geometry be placed at all?
    bounds: tuple[float, float, float, float] | None = None  # EPSG:4490 lon/lat extent
    _chunks: Callable[[LayerInput, int], Iterator[Chunk]] | None = field(default=None, repr=False)

    def chunks(self, size: int) -> Iterator[Chunk]:
        """The layer's features, ``size`` at a time."""
        assert self._chunks is not None
        return self._chunks(self, size)


@dataclass
class PackageContents:
    path: Path
    format: str
    checksum: str
    layers: list[LayerInput]
    skipped: list[str]  # source layers that are not one-map layers
    unreadable: list[str]  # source layers GDAL could not open


# ---- packages ---------------------------------------------------------------------------------------
def _to_object(values: np.ndarray) -> np.ndarray:
    """Values as an object array with None for nulls (NaN, NaT)."""
    arr = np.asarray(values)
    if arr.dtype == object:
        return arr
    out = arr.astype(object)
    if arr.dtype.kind == "f":
        out[np.isnan(arr)] = None
    elif arr.dtype.kind == "M":
        out[np.isnat(arr)] = None
    return out


def decode(wkb: np.ndarray | list, transform_from: Any) -> tuple[np.ndarray, np.ndarray]:
    """WKB -> shapely in EPSG:4490 lon/lat; and which geometries could not be read."""
    wkb = np.asarray(wkb, dtype=object)
    present = np.array([w is not None for w in wkb], dtype=bool)
    try:
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    except (NotImplementedError, shapely.errors.ShapelyError):  # curves GEOS cannot build: one at a time
        geoms = np.empty(len(wkb), dtype=object)
        for i, w in enumerate(wkb):
            try:
                geoms[i] = shapely.from_wkb(w) if w is not None else None
            except (NotImplementedError, shapely.errors.ShapelyError):
                geoms[i] = None
    geoms = np.asarray(geoms, dtype=object)
    undecodable = present & np.array([g is None for g in geoms], dtype=bool)
    if transform_from is not None and len(geoms):
        t = _transformer(transform_from)
        ok = np.array([g is not None for g in geoms], dtype=bool)
        if ok.any():
            geoms[ok] = shapely.transform(geoms[ok], lambda x, y: t.transform(x, y), interleaved=False)
    return geoms, undecodable


_local = threading.local()


def _transformer(src: Any) -> Transformer:
    """A transformer to EPSG:4490 lon/lat, built once per thread (pyproj's are not shared across threads)."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = str(src) if isinstance(src, (str, int)) else CRS.from_user_input(src).to_wkt()
    t = cache.get(key)
    if t is None:
        t = cache[key] = Transformer.from_crs(CRS.from_user_input(src), STORAGE_SRID, always_xy=True)
    return t


def _package_chunks(src: Source) -> Callable[[LayerInput, int], Iterator[Chunk]]:
    def chunks(inp: LayerInput, size: int) -> Iterator[Chunk]:
        names = {fi.source: name for name, fi in inp.fields.items()}
        skip = 0
        while True:
            meta, fids, wkb, data = pyogrio.raw.read(
                src.dataset, layer=src.layer, encoding=src.encoding, columns=list(names),
                skip_features=skip, max_features=size, return_fids=True)
            n = len(fids)
            if n == 0:
                return
            geoms, undecodable = decode(wkb, inp.transform_from) if inp.usable else \
                (np.full(n, None, dtype=object), np.zeros(n, dtype=bool))
            columns = {names[str(f)]: _to_object(v) for f, v in zip(meta["fields"], data) if str(f) in names}
            yield Chunk(fids=np.asarray(fids, dtype=np.int64), rows=np.arange(skip + 1, skip + n + 1, dtype=np.int64),
                        geoms=geoms, undecodable=undecodable, columns=columns)
            skip += n
            if n < size:
                return

    return chunks


def _gpkg_declared_types(path: Path) -> dict[str, str]:
    """A GeoPackage's declared geometry types (GDAL reports curve types linearised: MULTISURFACE
    comes back as MultiPolygon), read from its gpkg_geometry_columns table."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    return {str(t).upper(): str(g) for t, g in rows}


def read_package_layers(path: str | Path, catalogue: Catalogue) -> PackageContents:
    """What a package holds (GeoPackage, zipped Shapefiles, File Geodatabase), without judging it."""
    p = Path(path)
    fmt, sources = find_sources(p)
    declared = _gpkg_declared_types(p) if fmt == "gpkg" else {}
    layers: list[LayerInput] = []
    skipped: list[str] = []
    unreadable: list[str] = []
    for src in sources:
        name = src.layer or Path(src.dataset).stem
        layer = catalogue.by_table_code(name)
        if layer is None:
            skipped.append(name)
            continue
        try:
            info = pyogrio.read_info(src.dataset, layer=src.layer, encoding=src.encoding,
                                     force_feature_count=True, force_total_bounds=True)
        except pyogrio.errors.DataSourceError:
            unreadable.append(name)
            continue
        upper = {str(n).upper(): (str(n), str(d)) for n, d in zip(info["fields"], info["dtypes"])}
        fields = {f.name: FieldInfo(*upper[f.name]) for f in layer.fields if f.name in upper}
        bounds = info.get("total_bounds")
        raw_bounds: tuple[float, float, float, float] | None = None
        if bounds is not None and all(math.isfinite(float(v)) for v in bounds):
            bx0, by0, bx1, by1 = (float(v) for v in bounds)
            raw_bounds = (bx0, by0, bx1, by1)
        layers.append(LayerInput(name=name, layer=layer, count=int(info.get("features") or 0), fields=fields,
                                 declared_crs=info.get("crs") or None, raw_bounds=raw_bounds,
                                 geometry_type=declared.get(name.upper()) or info.get("geometry_type"),
                                 _chunks=_package_chunks(src)))
    return PackageContents(path=p, format=fmt, checksum=checksum(p), layers=layers, skipped=skipped,
                           unreadable=unreadable)


# ---- drawer entries in the store --------------------------------------------------------------------
def _first_vertex(geoms: np.ndarray) -> np.ndarray:
    """Each geometry's first vertex: a point on it, so the tile holding it is one the store returns it for."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    _, first = np.unique(owner, return_index=True)
    return coords[first]


def _store_chunks(store: Store, plan_id: str, bbox: tuple[float, float, float, float]
                  ) -> Callable[[LayerInput, int], Iterator[Chunk]]:
    """Chunks as a grid of bbox queries. The store answers a bbox with the features whose geometry meets
    it, so a feature belongs to the tile holding its first vertex (it meets that tile, and only one tile
    holds the vertex)."""

    def chunks(inp: LayerInput, size: int) -> Iterator[Chunk]:
        names = [f.name for f in inp.layer.fields]
        n_tiles = max(1, math.ceil(inp.count / size))
        x0, y0, x1, y1 = bbox
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        nx = max(1, round(math.sqrt(n_tiles * w / h)))
        ny = max(1, math.ceil(n_tiles / nx))
        dx, dy = w / nx, h / ny
        for iy in range(ny):
            for ix in range(nx):
                tile = (x0 + ix * dx - STORE_EPS, y0 + iy * dy - STORE_EPS,
                        x0 + (ix + 1) * dx + STORE_EPS, y0 + (iy + 1) * dy + STORE_EPS)
                geoms, cols = store.geometries(inp.layer, [plan_id], bbox=tile, columns=names)
                if len(geoms) == 0:
                    continue
                v = _first_vertex(np.asarray(geoms, dtype=object))
                kx = np.clip(np.floor((v[:, 0] - x0) / dx), 0, nx - 1).astype(int)
                ky = np.clip(np.floor((v[:, 1] - y0) / dy), 0, ny - 1).astype(int)
                mine = np.flatnonzero((kx == ix) & (ky == iy))
                if len(mine) == 0:
                    continue
                yield Chunk(
                    fids=np.asarray(cols["fid"], dtype=np.int64)[mine], rows=None,
                    geoms=np.asarray(geoms, dtype=object)[mine], undecodable=np.zeros(len(mine), dtype=bool),
                    columns={k: np.asarray(cols[k], dtype=object)[mine] for k in names})

    return chunks


def _counted_layers(store: Store, plan: Plan) -> dict[str, tuple[int, tuple[float, float, float, float]]]:
    """Feature count (an upper bound) and extent per layer of an entry, for stores whose plan_layers table
    was never filled (loaded before it existed). The count only sizes the tiles the layer is read in:
    the rows of the whole table are more than enough."""
    out: dict[str, tuple[int, tuple[float, float, float, float]]] = {}
    for layer in store.catalogue.layers.values():
        if plan.type not in layer.drawer_types:
            continue
        bbox = store.layer_extent(layer, [plan.id])
        if bbox is None:
            continue
        out[layer.id] = (int(store.count_rows(layer.id)), bbox)
    return out


def read_plan_layers(store: Store, plan: Plan) -> list[LayerInput]:
    """The layers of a drawer entry, read through ``store.geometries`` (EPSG:4490 by construction)."""
    out = []
    layers = store.plan_layers(plan.id) or _counted_layers(store, plan)
    for layer_id, (count, bbox) in sorted(layers.items()):
        layer = store.catalogue.layers.get(layer_id)
        if layer is None or count == 0:
            continue
        fields = {f.name: FieldInfo(f.name, "store") for f in layer.fields}
        out.append(LayerInput(name=layer.table_code, layer=layer, count=count, fields=fields,
                              declared_crs=f"EPSG:{STORAGE_SRID}", raw_bounds=bbox, in_store=True,
                              bounds=bbox, _chunks=_store_chunks(store, plan.id, bbox)))
    return out
