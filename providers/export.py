"""Feature selections as files: CSV, GeoPackage, zipped Shapefile and FlatGeobuf.

The writers take the ``FeatureBatch`` stream of ``FeatureService.batches`` (the items query,
one batch in memory at a time) and never hold a whole selection:

- CSV is written with the standard ``csv`` module, a batch at a time, straight to the
  client: UTF-8 with a byte-order mark (Excel reads BOM-less UTF-8 as the system's ANSI code
  page, GBK on Chinese Windows, and garbles the Chinese text) and the geometry as WKT in the
  first column, named ``WKT`` (the name GDAL's CSV driver and QGIS recognise).
- GeoPackage, Shapefile and FlatGeobuf are written by GDAL through pyogrio's Arrow writer
  (``pyogrio.raw.write_arrow``, pyarrow record batches): one GDAL session over a stream of
  batches, which the FlatGeobuf driver needs (it cannot append) and which avoids reopening
  the file per batch. GDAL is the reference implementation of all three formats, the one
  QGIS and ArcGIS read them with. The file is built in a temporary folder and streamed from
  disk, then deleted.
- The Shapefile's DBF is GBK with a ``.cpg`` saying so: ArcGIS and older Chinese desktop
  software read DBF text in the system code page; a ``.prj`` gives the CRS. Its field names
  are cut to 10 characters by GDAL (the DBF limit).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyogrio.raw
import shapely

from onemap.config.catalogue import Layer

from . import crs as crsmod
from .features import FeatureBatch

BOM = "\ufeff"
CHUNK = 1 << 16  # bytes read from a built file per write to the client


@dataclass(frozen=True)
class Format:
    """One download format: its ``f`` value, media type, file extension and GDAL driver."""

    name: str
    media_type: str
    extension: str
    driver: str | None  # None: written here (CSV)
    title: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("csv", "text/csv; charset=utf-8", "csv", None, "CSV (UTF-8 with BOM, WKT geometry)"),
    Format("gpkg", "application/geopackage+sqlite3", "gpkg", "GPKG", "GeoPackage"),
    Format("shp", "application/zip", "shp.zip", "ESRI Shapefile", "Shapefile (zipped, GBK)"),
    Format("fgb", "application/flatgeobuf", "fgb", "FlatGeobuf", "FlatGeobuf"),
)}
SHAPEFILE_ENCODING = "GBK"
# DBF field names hold 10 characters: the drawer's fields get names that still say what they are
# (GDAL would cut them to plan_regio, plan_val_1, ...); code labels end in _lb
SHAPEFILE_NAMES = {"plan_region": "plan_regn", "plan_subject": "plan_subj", "plan_version": "plan_ver",
                   "plan_status": "plan_stat", "plan_valid_from": "valid_from", "plan_valid_to": "valid_to"}


def shapefile_name(name: str) -> str:
    """A column's name in a Shapefile (other names of more than 10 characters are cut by GDAL)."""
    if name.endswith("_label"):
        return shapefile_name(name[:-6])[:7] + "_lb"
    return SHAPEFILE_NAMES.get(name, name)


@dataclass(frozen=True)
class Column:
    """One attribute column of a download: a property name and its catalogue type."""

    name: str
    type: str  # string, integer, number, date


def columns(layer: Layer, select: tuple[str, ...] | None) -> list[Column]:
    """The columns of a download, in the order of the GeoJSON properties: the feature id (drawer
    layers; the registry's entries carry theirs as ``id``), the fields, then the code labels."""
    out = [Column("fid", "integer")] if layer.drawer else []
    out += [Column(f.name, f.type) for f in layer.all_fields if select is None or f.name in select]
    out += [Column(f.name + "_label", "string") for f in layer.computed_labels if select is None or f.name in select]
    return out


def _row_value(props: dict[str, Any], fid: int, col: Column) -> Any:
    return fid if col.name == "fid" else props.get(col.name)


# ---- CSV ----------------------------------------------------------------------------------------------
def csv_chunks(batches: Iterable[FeatureBatch], cols: list[Column]) -> Iterator[bytes]:
    """The CSV file in pieces, one per batch (the first piece is the BOM and the header)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180 line ends (Excel's)
    writer.writerow(["WKT", *(c.name for c in cols)])
    yield (BOM + buf.getvalue()).encode("utf-8")
    for batch in batches:
        buf.seek(0)
        buf.truncate()
        wkts = shapely.to_wkt(batch.geometries, rounding_precision=-1)  # already rounded as GeoJSON is
        for fid, wkt, props in zip(batch.fids, wkts, batch.properties):
            writer.writerow([wkt or "", *(_csv_value(_row_value(props, fid, c)) for c in cols)])
        yield buf.getvalue().encode("utf-8")


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


# ---- GDAL formats -------------------------------------------------------------------------------------
_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "date": pa.date32()}


def _date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def _arrow_batches(batches: Iterable[FeatureBatch], cols: list[Column], schema: pa.Schema,
                   multi: bool) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        arrays = []
        for c in cols:
            values = [_row_value(p, fid, c) for fid, p in zip(batch.fids, batch.properties)]
            if c.type == "date":
                values = [_date(v) for v in values]
            arrays.append(pa.array(values, type=_ARROW_TYPES[c.type]))
        geoms = batch.geometries
        if multi:
            geoms = _promote(geoms)
        arrays.append(pa.array(shapely.to_wkb(geoms), type=pa.binary()))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _promote(geoms: np.ndarray) -> np.ndarray:
    """Single parts as multi-part geometries: a layer has one geometry type, and features cut to
    where their plan governs (view=governing) may come out single."""
    out = np.array(geoms, dtype=object)
    kinds = shapely.get_type_id(out)
    for single, make in ((0, shapely.multipoints), (1, shapely.multilinestrings), (3, shapely.multipolygons)):
        for i in np.flatnonzero(kinds == single):
            out[i] = make([out[i]])
    return out


def _gdal_crs(uri: str) -> str:
    info = crsmod.crs_info(uri)
    return f"EPSG:{info.epsg}" if info.epsg is not None else "OGC:CRS84"


def write_file(fmt: Format, batches: Iterable[FeatureBatch], cols: list[Column], layer: Layer, crs_uri: str,
               folder: Path) -> Path:
    """Write a GDAL format into ``folder`` (a temporary one the caller deletes); returns the file to send
    (for a Shapefile, the zip of its parts)."""
    assert fmt.driver is not None
    shp = fmt.name == "shp"
    schema = pa.schema([*(pa.field(shapefile_name(c.name) if shp else c.name, _ARROW_TYPES[c.type]) for c in cols),
                        pa.field("geom", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})])
    multi = layer.geometry.startswith("Multi")
    reader = pa.RecordBatchReader.from_batches(schema, _arrow_batches(batches, cols, schema, multi))
    if shp:
        parts = folder / "shp"
        parts.mkdir()
        target = parts / f"{layer.id}.shp"
    else:
        target = folder / f"{layer.id}.{fmt.extension}"
    options: dict[str, Any] = {}
    if fmt.name == "gpkg":
        # GeoPackage 1.2: GDAL before 3.7 (QGIS 3.28 LTR and the Chinese desktop GIS built on it) warns that
        # GDAL 3.8's default 1.4 "may only be partially supported"; the layer needs nothing of 1.3 or 1.4
        options = {"dataset_options": {"VERSION": "1.2"}}
    if shp:
        # RESIZE: text columns as wide as their longest value, not 254 bytes each (a DBF's rows are fixed)
        options = {"encoding": SHAPEFILE_ENCODING, "layer_options": {"RESIZE": "YES"}}
    pyogrio.raw.write_arrow(reader, str(target), layer=layer.id, driver=fmt.driver, geometry_name="geom",
                            geometry_type=layer.geometry, crs=_gdal_crs(crs_uri), **options)
    if not shp:
        return target
    archive = folder / f"{layer.id}.{fmt.extension}"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(parts.iterdir()):
            zf.write(part, part.name)
    shutil.rmtree(parts)
    return archive


def file_chunks(path: Path, folder: Path) -> Iterator[bytes]:
    """A built file in pieces; its temporary folder is deleted when the last piece is sent (or the
    client goes away: the generator is closed)."""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def temporary_folder() -> Path:
    """A private folder for one download's file (the system's temporary directory: TMPDIR)."""
    return Path(tempfile.mkdtemp(prefix="onemap-download-"))


__all__ = ["FORMATS", "Column", "Format", "columns", "csv_chunks", "file_chunks", "temporary_folder", "write_file"]
