"""Plan packages in and out: GeoPackage, zipped Shapefiles, File Geodatabase (pyogrio/GDAL).

``read_package`` maps a package's layers to the catalogue by table code, reprojects from
CGCS2000 (EPSG:4490 or a 3-degree Gauss-Krüger zone) to storage, and checks geometry and
codes; every problem names the layer, the feature and why. ``load_package`` registers the
result as a ``submitted`` drawer entry in one transaction, so a bad package changes nothing.
``export_plan`` writes an entry back out in the national layout (layers named by table code,
fields as the specification names them), so that load and export round-trip.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS, Transformer

from onemap.config.catalogue import PLAN_TYPES, Catalogue, FieldDef, Layer
from onemap.config.errors import Conflict, InvalidParameterValue, LoadError, NotFound, StoreError
from onemap.config.indicators import get_indicators
from onemap.domain.governing import specificity, upper_candidates

from . import indicator_table
from .geometry import STORAGE_SRID, as_multi
from .registry import plan_id_for, validate_drawer
from .store.base import Event, FeatureBatch, Plan, Store, When, today

GK_EPSG = range(4513, 4555)  # CGCS2000 3-degree Gauss-Krüger zones (prefixed and CM variants)
FORMATS = ("gpkg", "shp", "gdb")
MAX_ERRORS = 20


@dataclass
class PackageLayer:
    """One source layer of a package, read and checked, in storage lon/lat."""

    name: str
    layer: Layer
    columns: dict[str, list[Any]]
    geometry: np.ndarray


@dataclass
class Package:
    path: Path
    format: str
    layers: list[PackageLayer]
    checksum: str
    skipped: list[str] = field(default_factory=list)  # source layers that are not one-map layers
    indicators: list[indicator_table.IndicatorRow] = field(default_factory=list)  # its indicator table


@dataclass
class Source:
    """Where GDAL reads a layer: the dataset path, the layer name, an encoding override."""

    dataset: str
    layer: str | None
    encoding: str | None = None


# ---- finding layers ---------------------------------------------------------------------
def checksum(path: Path) -> str:
    """SHA-256 of a package file, or of a folder's files with their relative names (a .gdb)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _dbf_is_utf8(data: bytes) -> bool:
    """Does the DBF's record area decode as UTF-8? (GBK Chinese almost never does.)"""
    if len(data) < 32:
        return True
    header_len = int.from_bytes(data[8:10], "little")
    body = data[header_len:]
    try:
        body.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _shp_sources_in_zip(path: Path) -> list[Source]:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        lower = {n.lower(): n for n in names}
        out = []
        for n in names:
            if n.lower().endswith(".shp"):
                stem = n[:-4]
                enc = None
                if (stem + ".cpg").lower() not in lower:
                    dbf = lower.get((stem + ".dbf").lower())
                    if dbf and not _dbf_is_utf8(zf.read(dbf)):
                        enc = "GB18030"  # no .cpg: Chinese desktop GIS wrote GBK
                out.append(Source(f"/vsizip/{path}/{n}", None, enc))
            elif n.lower().endswith(".dbf") and (n[:-4] + ".shp").lower() not in lower:
                # a table without geometry (the indicator table) is a lone .dbf
                enc = None if (n[:-4] + ".cpg").lower() in lower or _dbf_is_utf8(zf.read(n)) else "GB18030"
                out.append(Source(f"/vsizip/{path}/{n}", None, enc))
        gdbs = sorted({n.split(".gdb/")[0] + ".gdb" for n in names if ".gdb/" in n.lower()})
        for g in gdbs:
            for lname, _ in pyogrio.list_layers(f"/vsizip/{path}/{g}"):
                out.append(Source(f"/vsizip/{path}/{g}", lname))
    return out


def find_sources(path: Path) -> tuple[str, list[Source]]:
    """The package's format and its layers."""
    if not path.exists():
        raise LoadError(f"package {path.name} does not exist")
    suffix = path.suffix.lower()
    try:
        if path.is_dir() and suffix == ".gdb":
            return "gdb", [Source(str(path), name) for name, _ in pyogrio.list_layers(path)]
        if path.is_dir():
            shps = sorted(path.rglob("*.shp"))
            out = []
            for shp in shps:
                enc = None
                dbf = shp.with_suffix(".dbf")
                if not shp.with_suffix(".cpg").exists() and dbf.exists() and not _dbf_is_utf8(dbf.read_bytes()):
                    enc = "GB18030"
                out.append(Source(str(shp), None, enc))
            for dbf in sorted(path.rglob("*.dbf")):
                if not dbf.with_suffix(".shp").exists():  # a table without geometry: the indicator table
                    enc = None if dbf.with_suffix(".cpg").exists() or _dbf_is_utf8(dbf.read_bytes()) else "GB18030"
                    out.append(Source(str(dbf), None, enc))
            return "shp", out
        if suffix == ".gpkg":
            return "gpkg", [Source(str(path), name) for name, _ in pyogrio.list_layers(path)]
        if suffix == ".zip":
            sources = _shp_sources_in_zip(path)
            fmt = "gdb" if sources and ".gdb" in sources[0].dataset.lower() else "shp"
            return fmt, sources
    except zipfile.BadZipFile:
        raise LoadError(f"{path.name} is not a readable zip file") from None
    except pyogrio.errors.DataSourceError:
        raise LoadError(f"{path.name} cannot be opened as a GIS dataset") from None
    raise LoadError(f"{path.name}: a package is a .gpkg, a .zip of Shapefiles or a File Geodatabase (.gdb)")


# ---- reading and checking ---------------------------------------------------------------------
def _source_epsg(info: dict, label: str) -> int:
    crs = info.get("crs")
    if not crs:
        raise LoadError(f"layer {label}: no coordinate reference system (.prj missing?)")
    epsg = CRS(crs).to_epsg(min_confidence=50)
    if epsg is None or (epsg != STORAGE_SRID and epsg not in GK_EPSG):
        name = f"EPSG:{epsg}" if epsg else CRS(crs).name
        raise LoadError(f"layer {label}: coordinates are in {name}; plans must be in CGCS2000 "
                        "(EPSG:4490 or a Gauss-Krüger zone, EPSG:4513-4554)")
    return epsg


def _feature_label(columns: dict[str, list], i: int) -> str:
    bsm = columns.get("BSM", [None] * (i + 1))[i]
    return f"feature {i + 1}" + (f" (BSM {bsm})" if bsm else "")


def _coerce(f: FieldDef, v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if f.type == "string":
        s = str(v).strip()
        if isinstance(v, float) and v.is_integer():
            s = str(int(v))
        return s or None
    if f.type == "number":
        return float(v)
    if f.type == "integer":
        return int(v)
    if f.type == "date":
        if isinstance(v, (dt.date, dt.datetime)):
            return v if isinstance(v, dt.date) else v.date()
        return dt.date.fromisoformat(str(v)[:10])
    return v


def read_layer(src: Source, catalogue: Catalogue, errors: list[str]) -> PackageLayer | None:
    """Read one source layer; ``None`` when it is not a one-map layer."""
    info = pyogrio.read_info(src.dataset, layer=src.layer, encoding=src.encoding)
    name = src.layer or Path(src.dataset).stem
    layer = catalogue.by_table_code(name)
    if layer is None:
        return None
    label = f"{name}"
    epsg = _source_epsg(info, label)
    meta, _fids, wkb, field_data = pyogrio.raw.read(src.dataset, layer=src.layer, encoding=src.encoding)
    src_fields = {str(n).upper(): (str(n), np.asarray(v)) for n, v in zip(meta["fields"], field_data)}
    n = len(wkb)
    columns: dict[str, list[Any]] = {}
    for f in layer.fields:
        if f.name in src_fields:
            _, values = src_fields[f.name]
            try:
                columns[f.name] = [_coerce(f, v) for v in values.tolist()]
            except (TypeError, ValueError):
                errors.append(f"layer {label}: field {f.name} must hold {f.type} values")
                columns[f.name] = [None] * n
        elif f.required and f.code_table:
            # codes are checked at load; other missing fields are the quality check's findings
            errors.append(f"layer {label}: required field {f.name} ({f.label('zh')}) is missing")
            columns[f.name] = [None] * n
        else:
            columns[f.name] = [None] * n

    geoms = shapely.from_wkb(wkb)
    if epsg != STORAGE_SRID:
        t = Transformer.from_crs(epsg, STORAGE_SRID, always_xy=True)
        geoms = shapely.transform(geoms, lambda x, y: t.transform(x, y), interleaved=False)
    out_geoms = np.empty(n, dtype=object)
    for i, g in enumerate(geoms):
        where = f"layer {label}, {_feature_label(columns, i)}"
        if g is None or g.is_empty:
            errors.append(f"{where}: empty geometry")
            continue
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            errors.append(f"{where}: a {g.geom_type}, but {name} holds polygons")
            continue
        minx, miny, maxx, maxy = g.bounds
        # before validity: coordinates a projection cannot invert come back infinite
        if not (np.isfinite([minx, miny, maxx, maxy]).all() and 73 <= minx and maxx <= 136
                and 3 <= miny and maxy <= 54):
            errors.append(f"{where}: lies outside China after reprojection from EPSG:{epsg} "
                          "(wrong zone, or swapped X/Y?)")
            continue
        if not g.is_valid:
            errors.append(f"{where}: invalid geometry ({shapely.is_valid_reason(g)})")
            continue
        out_geoms[i] = as_multi(g)
    check_codes(catalogue, layer, label, columns, errors)
    return PackageLayer(name=name, layer=layer, columns=columns, geometry=out_geoms)


def check_codes(catalogue: Catalogue, layer: Layer, label: str, columns: dict[str, list],
                errors: list[str]) -> None:
    """Every coded value in its code table (the right 用地用海 edition per record); labels filled in."""
    n = len(next(iter(columns.values()))) if columns else 0
    for f in layer.fields:
        if not f.code_table:
            continue
        values = columns[f.name]
        for i in range(n):
            v = values[i]
            rec = {k: columns[k][i] for k in columns}
            table = catalogue.code_table_for(layer, f, rec)
            where = f"layer {label}, {_feature_label(columns, i)}"
            if v is None:
                if f.required:
                    errors.append(f"{where}: {f.name} ({f.label('zh')}) is empty")
                continue
            if table is None:
                errors.append(f"{where}: {f.name} {v!r} has no code table (edition {rec.get('YDYHBB')!r}?)")
                continue
            if table.match_by_name and f.label_field:
                # codes of this table are unverified: the zone is identified by its name
                name = columns[f.label_field][i]
                if name is not None and name not in table.names():
                    errors.append(f"{where}: {f.label_field} {name!r} is not a {table.title.get('zh')} name")
                continue
            if v not in table:
                errors.append(f"{where}: {f.name} {v!r} is not a code of {table.id} ({table.title.get('zh')})")
            elif f.label_field and columns[f.label_field][i] is None:
                columns[f.label_field][i] = table.label(v)
        if len(errors) > MAX_ERRORS:
            return


def read_package(path: str | Path, catalogue: Catalogue) -> Package:
    """Read and check a whole package; a LoadError lists the first problems found."""
    p = Path(path)
    fmt, sources = find_sources(p)
    errors: list[str] = []
    layers: list[PackageLayer] = []
    skipped: list[str] = []
    seen: set[str] = set()
    ind = get_indicators()
    indicators: list[indicator_table.IndicatorRow] | None = None
    for src in sources:
        if (src.layer or Path(src.dataset).stem).upper() == ind.table.table_code:
            if indicators is not None:
                errors.append(f"the package holds {ind.table.table_code} twice")
            try:
                indicators = indicator_table.read_indicator_table(src.dataset, src.layer, src.encoding, ind, errors)
            except pyogrio.errors.DataSourceError as err:
                errors.append(f"layer {ind.table.table_code}: cannot be read ({err})")
            continue
        try:
            pl = read_layer(src, catalogue, errors)
        except LoadError as err:
            errors.append(err.description)
            continue
        except pyogrio.errors.DataSourceError as err:
            errors.append(f"layer {src.layer or Path(src.dataset).name}: cannot be read ({err})")
            continue
        if pl is None:
            skipped.append(src.layer or Path(src.dataset).stem)
            continue
        if pl.layer.id in seen:
            errors.append(f"layer {pl.name}: the package holds {pl.layer.table_code} twice")
        seen.add(pl.layer.id)
        layers.append(pl)
        if len(errors) > MAX_ERRORS:
            break
    if not layers and not errors:
        errors.append(f"{p.name} holds no one-map layer (layers are named by table code: "
                      f"{', '.join(sorted(layer.table_code for layer in catalogue.layers.values()))})")
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise LoadError("package refused, nothing was loaded: " + "; ".join(errors[:5]) + more)
    return Package(path=p, format=fmt, layers=layers, checksum=checksum(p), skipped=skipped,
                   indicators=indicators or [])


# ---- registering ---------------------------------------------------------------------------------
def region_feature(store: Store, region: str, when: When | None = None, recorded: dt.datetime | None = None
                   ) -> tuple[shapely.Geometry, str] | None:
    """The region's outline and name from the land survey in force (xzq), today unless ``when``."""
    xzq = store.catalogue.layers.get("xzq")
    if xzq is None:
        return None
    survey = store.plans_in_force(when or When.at(today()), None, xzq, recorded)
    if not survey:
        return None
    geoms, cols = store.geometries(xzq, survey, columns=["XZQDM", "XZQMC"])
    for g, code, name in zip(geoms, cols["XZQDM"], cols["XZQMC"]):
        if code == region:
            return as_multi(g), name
    return None


def upper_plan(store: Store, region: str, level: str, type_: str, subject: str | None = None) -> str | None:
    """The nearest upper master plan in force today covering this drawer's region (recorded on loading)."""
    probe = Plan(id="", region=region, level=level, type=type_, version="", title="", status="submitted",
                 subject=subject)
    in_force = [p for p in store.plans().values() if p.in_force(When.at(today()))]
    found = sorted(upper_candidates(probe, in_force), key=lambda p: (specificity(p), p.id), reverse=True)
    return found[0].id if found else None


def load_package(store: Store, path: str | Path, *, region: str, level: str, type_: str, version: str,
                 title: str | None = None, by: str = "onemap", upper_plan_id: str | None = None,
                 subject: str | None = None) -> Plan:
    """Register a package as a ``submitted`` drawer entry; all or nothing.

    A special plan's ``subject`` is its category (code table ``special_subject``), a detailed plan's
    its planning unit; a detailed plan's outline is the area its features cover (its unit), any
    other plan's the region's.
    """
    subjects = store.catalogue.code_tables.get("special_subject")
    validate_drawer(region, level, type_, version, subject, subjects.codes if subjects else None)
    pid = plan_id_for(region, level, type_, version, subject)
    if store.plan(pid) is not None:
        raise Conflict(f"drawer entry {pid} already exists; give the package a new --version")
    if upper_plan_id is not None and store.plan(upper_plan_id) is None:
        raise NotFound(f"upper plan {upper_plan_id!r} does not exist")
    pkg = read_package(path, store.catalogue)
    wrong = [pl.name for pl in pkg.layers if type_ not in pl.layer.drawer_types]
    if wrong:
        raise LoadError(f"package refused, nothing was loaded: layers {', '.join(wrong)} do not belong "
                        f"in a {type_} plan")
    _check_indicator_regions(store, pkg, region)
    found = region_feature(store, region)
    allg = np.concatenate([pl.geometry for pl in pkg.layers]) if pkg.layers else np.empty(0, dtype=object)
    if type_ == "detailed" and len(allg):
        outline, name = as_multi(shapely.union_all(allg)), (found[1] if found else region)
    elif found is None:
        outline, name = as_multi(shapely.convex_hull(shapely.union_all(shapely.envelope(allg)))), region
    else:
        outline, name = found
    from zoneinfo import ZoneInfo

    submitted_at = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    plan = Plan(
        id=pid, region=region, level=level, type=type_, version=version,
        title=title or f"{name}{_subject_label(store, type_, subject)}{PLAN_TYPES[type_]['zh']}（{version}版）",
        status="submitted",
        upper_plan_id=upper_plan_id if upper_plan_id is not None else upper_plan(store, region, level, type_, subject),
        submitted_by=by, submitted_at=submitted_at,
        checksum=pkg.checksum, outline=outline, subject=subject,
    )
    batches = [FeatureBatch(layer_id=pl.layer.id, plan_id=pid, columns=dict(pl.columns), geometry=pl.geometry)
               for pl in pkg.layers]
    event = Event(pid, submitted_at, by, None, "submitted",
                  f"loaded from {Path(path).name} (sha256 {pkg.checksum[:12]})")
    try:
        # create: checked again under the store's lock, so that of concurrent loads of one version
        # exactly one writes it (the check above only spares reading the package)
        store.write([plan], batches, events=[event], create=True,
                    indicators=indicator_table.plan_indicators(pkg.indicators, pid, get_indicators()))
    except Conflict:
        raise Conflict(f"drawer entry {pid} already exists (another load of it finished first); "
                       "give the package a new --version") from None
    loaded = store.plan(pid)
    if loaded is None:  # written just above, in one transaction
        raise StoreError(f"the drawer entry {pid} was not stored")
    return loaded


def _subject_label(store: Store, type_: str, subject: str | None) -> str:
    """A special plan's category name (历史文化保护…), a detailed plan's unit code, for its title."""
    if not subject:
        return ""
    table = store.catalogue.code_tables.get("special_subject")
    return (table.label(subject) if type_ == "special" and table else None) or subject


def _survey_regions(store: Store) -> dict[str, str]:
    """Region code -> name of every region in the land survey in force ({} without one)."""
    xzq = store.catalogue.layers.get("xzq")
    if xzq is None:
        return {}
    survey = store.plans_in_force(When.at(today()), None, xzq)
    if not survey:
        return {}
    _, cols = store.geometries(xzq, survey, columns=["XZQDM", "XZQMC"])
    return dict(zip(cols["XZQDM"], cols["XZQMC"]))


def _check_indicator_regions(store: Store, pkg: Package, region: str) -> None:
    """The indicator table sets targets for this region or regions under it, known to the survey."""
    if not pkg.indicators:
        return
    errors: list[str] = []
    known = _survey_regions(store)
    indicator_table.check_regions(pkg.indicators, region, set(known) or None, errors,
                                  get_indicators().table.table_code)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise LoadError("package refused, nothing was loaded: " + "; ".join(errors[:5]) + more)


# ---- exporting ---------------------------------------------------------------------------------------
def export_plan(store: Store, plan_id: str, out: str | Path, fmt: str = "gpkg", crs: str = "EPSG:4490") -> Path:
    """Write a drawer entry's layers in the national layout; returns what was written."""
    if fmt not in FORMATS:
        raise InvalidParameterValue(f"--format must be one of {', '.join(FORMATS)}")
    plan = store.plan(plan_id)
    if plan is None:
        raise NotFound(f"no drawer entry {plan_id!r}")
    target = CRS.from_user_input(crs)
    epsg = target.to_epsg()
    if epsg != STORAGE_SRID and epsg not in GK_EPSG:
        raise InvalidParameterValue("--crs must be EPSG:4490 or a CGCS2000 Gauss-Krüger zone (EPSG:4513-4554)")
    out = Path(out)
    if out.exists():
        raise Conflict(f"{out} exists; choose a new output path")
    t = None if epsg == STORAGE_SRID else Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)
    work = Path(tempfile.mkdtemp(prefix="onemap-export-", dir=out.parent if out.parent.exists() else None))
    try:
        written = 0
        dest = work / ("package.gpkg" if fmt == "gpkg" else "package.gdb" if fmt == "gdb" else "shp")
        if fmt == "shp":
            dest.mkdir()
        for layer in store.catalogue.layers.values():
            names = [f.name for f in layer.fields]
            geoms, cols = store.geometries(layer, [plan_id], columns=names)
            if len(geoms) == 0:
                continue
            if t is not None:
                geoms = shapely.transform(geoms, lambda x, y: t.transform(x, y), interleaved=False)
            fields, data = [], []
            for f in layer.fields:
                values = cols[f.name]
                if f.type in ("number", "integer"):
                    data.append(np.array([np.nan if v is None else float(v) for v in values], dtype="float64"))
                else:
                    data.append(np.array([None if v is None else str(v) for v in values], dtype=object))
                fields.append(f.name)
            kwargs: dict[str, Any] = {}
            if fmt == "shp":
                path = dest / f"{layer.table_code}.shp"
                kwargs["encoding"] = "UTF-8"
                driver = "ESRI Shapefile"
            else:
                path = dest
                driver = "GPKG" if fmt == "gpkg" else "OpenFileGDB"
                kwargs["append"] = written > 0
            pyogrio.raw.write(path, geometry=shapely.to_wkb(geoms), field_data=data, fields=fields,
                              layer=layer.table_code, driver=driver, crs=f"EPSG:{epsg}",
                              geometry_type="MultiPolygon", **kwargs)
            written += 1
        if not written:
            raise NotFound(f"drawer entry {plan_id} holds no features")
        targets = store.plan_indicators(plan_id)
        if targets:
            # the indicator table: a layer without geometry (a lone .dbf among Shapefiles)
            code = get_indicators().table.table_code
            fields, data = indicator_table.table_data(targets, _survey_regions(store))
            if fmt == "shp":
                pyogrio.raw.write(dest / f"{code}.dbf", geometry=None, field_data=data, fields=fields, layer=code,
                                  driver="ESRI Shapefile", encoding="UTF-8")
            else:
                pyogrio.raw.write(dest, geometry=None, field_data=data, fields=fields, layer=code,
                                  driver="GPKG" if fmt == "gpkg" else "OpenFileGDB", append=True)
        if fmt == "shp":
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in sorted(dest.iterdir()):
                    zf.write(part, part.name)
        else:
            shutil.move(str(dest), str(out))
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)

