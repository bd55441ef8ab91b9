"""The embedded store: one GeoPackage file, read and written with the standard library.

No SpatiaLite: the GeoPackage R-tree answers envelope questions, and the few SQL
functions the R-tree triggers and exact spatial tests need are registered on each
connection, implemented with shapely (GEOS, the engine PostGIS uses too).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import DRAWER_FIELDS, Catalogue, FieldDef, Layer
from onemap.config.errors import Conflict, OneMapError, ServiceUnavailable, StoreError

from ..geometry import STORAGE_SRID, geodesic_area, gpkg_envelope, gpkg_wkb, to_gpkg_blobs
from .access import create_access_tables
from .base import (
    DRAWER_KEYS,
    PLAN_FIELDS,
    Event,
    FeatureBatch,
    Plan,
    PlanIndicator,
    PopulationRow,
    SqlRegistryTx,
    Store,
    backfill_history,
    plan_from_row,
)
from .sql import AREA_COLUMN, Dialect, TableSpec, build_where, drawer_condition, geometry_expr, quote_ident
from .warnings import create_warning_tables

LOG = logging.getLogger(__name__)

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300
SCHEMA_VERSION = "11"  # 11: 动态监测 findings; 10: warnings, their events, subscriptions and deliveries; 9: population (常住人口 per region and year) and its version; 8: each row's geodesic area (onemap_m2); 7: users, tokens, audit trail, job and certificate owners; 6: id ranges per drawer entry and layer; 5: drawer subjects, bitemporal events, certificates; 4: plan_indicators; 3: jobs; 2: plan_layers, tile_invalidations; PostGIS layer tables partitioned

CGCS2000_WKT = (
    'GEOGCRS["China Geodetic Coordinate System 2000",DATUM["China 2000",'
    'ELLIPSOID["CGCS2000",6378137,298.257222101,LENGTHUNIT["metre",1]]],'
    'PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]],CS[ellipsoidal,2],'
    'AXIS["geodetic latitude (Lat)",north,ORDER[1],ANGLEUNIT["degree",0.0174532925199433]],'
    'AXIS["geodetic longitude (Lon)",east,ORDER[2],ANGLEUNIT["degree",0.0174532925199433]],'
    'USAGE[SCOPE["Horizontal component of 3D system."],AREA["China"],'
    'BBOX[16.7,73.62,53.56,134.77]],ID["EPSG",4490]]'
)
WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)

PLAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "TEXT NOT NULL UNIQUE"),
    ("region", "TEXT NOT NULL"),
    ("level", "TEXT NOT NULL"),
    ("type", "TEXT NOT NULL"),
    ("version", "TEXT NOT NULL"),
    ("title", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL"),
    ("approval_no", "TEXT"),
    ("approval_date", "DATE"),
    ("valid_from", "DATE"),
    ("valid_to", "DATE"),
    ("upper_plan_id", "TEXT"),
    ("submitted_by", "TEXT"),
    ("submitted_at", "DATETIME"),
    ("checksum", "TEXT"),
    ("subject", "TEXT"),
    ("approval_override", "TEXT"),
)

EVENT_COLUMN_TYPES = (("valid_from", "DATE"), ("valid_to", "DATE"), ("related", "TEXT"))

# DE-9IM relation of (feature, literal) answered with the literal first, so that the
# literal can be prepared once and reused for every row.
_RELATE_LITERAL_FIRST = {
    "intersects": shapely.intersects,
    "disjoint": shapely.disjoint,
    "within": shapely.contains,  # feature within literal == literal contains feature
    "contains": shapely.within,  # feature contains literal == literal within feature
    "touches": shapely.touches,
    "crosses": shapely.crosses,
    "overlaps": shapely.overlaps,
    "equals": shapely.equals,
}


@lru_cache(maxsize=64)
def _prepared(wkb: bytes) -> shapely.Geometry:
    g = shapely.from_wkb(wkb)
    shapely.prepare(g)
    return g


def _sql_relate(op: str, blob: bytes | None, literal_wkb: bytes) -> int | None:
    if blob is None:
        return None
    fn = _RELATE_LITERAL_FIRST[op]
    return int(fn(_prepared(literal_wkb), shapely.from_wkb(gpkg_wkb(blob))))


def _sql_interiors_meet(blob: bytes | None, literal_wkb: bytes) -> int | None:
    """The feature's interior meets the literal's: covered or crossing, not just sharing an edge."""
    if blob is None:
        return None
    area, g = _prepared(literal_wkb), shapely.from_wkb(gpkg_wkb(blob))
    if shapely.covers(area, g):
        return 1
    if not shapely.intersects(area, g):
        return 0
    return int(shapely.relate_pattern(g, area, "T********"))


_DIM_TYPES = {1: ("Point", shapely.MultiPoint), 2: ("LineString", shapely.MultiLineString),
              3: ("Polygon", shapely.MultiPolygon)}


def _sql_clip(blob: bytes | None, literal_wkb: bytes, dim: int) -> bytes | None:
    """The feature cut to the literal, as a GeoPackage blob (the same blob when the literal covers it)."""
    if blob is None:
        return None
    area, g = _prepared(literal_wkb), shapely.from_wkb(gpkg_wkb(blob))
    if shapely.covers(area, g):
        return blob
    kind, multi = _DIM_TYPES[int(dim)]
    parts = [p for p in shapely.get_parts(shapely.intersection(g, area)) if p.geom_type == kind]
    return to_gpkg_blobs([multi(parts)])[0]


def _sql_clipped_m2(blob: bytes | None, m2: float | None, literal_wkb: bytes) -> float | None:
    """The geodesic area of the feature's part inside the literal (its stored area when covered)."""
    if blob is None:
        return None
    area, g = _prepared(literal_wkb), shapely.from_wkb(gpkg_wkb(blob))
    if m2 is not None and shapely.covers(area, g):
        return float(m2)
    return geodesic_area(shapely.intersection(g, area))


def _sql_geodesic_m2(blob: bytes | None) -> float | None:
    return None if blob is None else geodesic_area(shapely.from_wkb(gpkg_wkb(blob)))


def _sql_bbox_intersects(blob: bytes | None, minx: float, miny: float, maxx: float, maxy: float) -> int:
    """Exact bbox test; a feature whose envelope lies inside the box needs no decoding."""
    if blob is None:
        return 0
    env = gpkg_envelope(blob)
    if env is None:
        return 0
    ex0, ex1, ey0, ey1 = env
    if ex0 >= minx and ex1 <= maxx and ey0 >= miny and ey1 <= maxy:
        return 1
    if ex1 < minx or ex0 > maxx or ey1 < miny or ey0 > maxy:
        return 0
    box = _prepared(shapely.box(minx, miny, maxx, maxy).wkb)
    return int(shapely.intersects(box, shapely.from_wkb(gpkg_wkb(blob))))


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return int(bool(blob[3] & 0x10))


def _env(i: int):
    def fn(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        env = gpkg_envelope(blob)
        return None if env is None else env[i]

    return fn


class GpkgDialect(Dialect):
    """SQLite with the GeoPackage R-tree and shapely-backed functions."""

    name = "gpkg"
    param = "?"

    def spatial(self, op: str, column: str, geom: shapely.Geometry, table: TableSpec, params: list) -> str:
        wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
        exact = f"onemap_relate('{op}', {quote_ident(column)}, ?)"
        if op == "disjoint":
            params.append(wkb)
            return exact
        minx, miny, maxx, maxy = geom.bounds
        rtree = quote_ident(f"rtree_{table.name}_{column}")
        # every relation but disjoint implies intersecting envelopes: the R-tree narrows first
        params.extend([maxx, minx, maxy, miny, wkb])
        return (f"{quote_ident(table.fid)} IN (SELECT id FROM {rtree} WHERE minx <= ? AND maxx >= ? "
                f"AND miny <= ? AND maxy >= ?) AND {exact}")

    def interiors_meet(self, column: str, geom: shapely.Geometry, params: list, table: TableSpec | None = None) -> str:
        exact = f"onemap_interiors_meet({column}, ?)"
        wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
        if table is None:
            params.append(wkb)
            return exact
        minx, miny, maxx, maxy = geom.bounds
        rtree = quote_ident(f"rtree_{table.name}_{table.geom}")
        params.extend([maxx, minx, maxy, miny, wkb])
        return (f"{quote_ident(table.fid)} IN (SELECT id FROM {rtree} WHERE minx <= ? AND maxx >= ? "
                f"AND miny <= ? AND maxy >= ?) AND {exact}")

    def clipped(self, column: str, geom: shapely.Geometry, dim: int, params: list) -> str:
        params.append(shapely.to_wkb(geom, byte_order=1, flavor="iso"))
        return f"onemap_clip({column}, ?, {int(dim)})"

    def clipped_m2(self, column: str, m2_column: str, geom: shapely.Geometry, params: list) -> str:
        params.append(shapely.to_wkb(geom, byte_order=1, flavor="iso"))
        return f"onemap_clipped_m2({column}, {m2_column}, ?)"

    def bbox(self, table: TableSpec, bbox: tuple[float, float, float, float], params: list) -> str:
        minx, miny, maxx, maxy = bbox
        rtree = quote_ident(f"rtree_{table.name}_{table.geom}")
        params.extend([maxx, minx, maxy, miny, minx, miny, maxx, maxy])
        return (f"{quote_ident(table.fid)} IN (SELECT id FROM {rtree} WHERE minx <= ? AND maxx >= ? "
                f"AND miny <= ? AND maxy >= ?) AND onemap_bbox({quote_ident(table.geom)}, ?, ?, ?, ?)")


# sqlite's primary result codes of a file or disk that is away for now (locked past the timeout, cannot be
# opened, full, failing I/O, read-only or not permitted): 503, the store is as it was
_AWAY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL,
                         sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM})


def _store_error(err: sqlite3.Error) -> OneMapError:
    """What a client is told of sqlite's error (no SQL, no path: those are in the log)."""
    code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code of an extended one
    if code == sqlite3.SQLITE_FULL:
        return ServiceUnavailable("the store's disk is full: nothing was written; try again later")
    if code in _AWAY_CODES:
        return ServiceUnavailable("the store cannot be read or written at the moment; try again later")
    return StoreError("the store could not answer this request")


def _sql_type(f: FieldDef) -> str:
    if f.type == "string":
        return f"TEXT({f.length})" if f.length else "TEXT"
    return {"integer": "INTEGER", "number": "DOUBLE", "date": "DATE"}[f.type]


def _to_db(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # GeoPackage DATETIME: ISO 8601 in UTC with a Z (GDAL warns on anything else)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _total_bounds(geoms: Any) -> tuple[float, float, float, float] | None:
    if not len(geoms):
        return None
    b = shapely.total_bounds(np.asarray(geoms, dtype=object))
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


class _GpkgCursor:
    """A DB-API cursor over one sqlite3 connection that keeps its last result."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._cur: sqlite3.Cursor | None = None

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount if self._cur else -1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur = self.conn.execute(sql, params)

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur else None

    def fetchall(self) -> list:
        return self._cur.fetchall() if self._cur else []


class GpkgStore(Store):
    """The embedded GeoPackage backend (see the module docstring)."""

    backend = "gpkg"
    expected_schema = SCHEMA_VERSION
    dialect = GpkgDialect()

    def __init__(self, path: str | Path, catalogue: Catalogue, *, count_max_rows: int = 10_000, **_: Any) -> None:
        """``count_max_rows``: bbox pages count exactly up to this many matches (the other tuning of
        PostGIS has nothing to tune here)."""
        super().__init__(catalogue, count_cap=count_max_rows)
        self.path = Path(path)
        self._local = threading.local()
        self._all_conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()

    # ---- connections -----------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not shared across threads)."""
        c = getattr(self._local, "conn", None)
        if c is None:
            if not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                c = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
                try:
                    c.execute("PRAGMA journal_mode=WAL")
                    c.execute("PRAGMA synchronous=NORMAL")
                    c.execute("PRAGMA case_sensitive_like=ON")
                    c.execute("PRAGMA cache_size=-65536")
                except sqlite3.Error:
                    c.close()
                    raise
            except sqlite3.Error as err:
                # a new thread's connection to a file it may no longer open (permissions, a lost disk)
                LOG.error("cannot open the GeoPackage: %s (%s)", err, getattr(err, "sqlite_errorname", "?"))
                raise _store_error(err) from err
            c.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
            c.create_function("ST_MinX", 1, _env(0), deterministic=True)
            c.create_function("ST_MaxX", 1, _env(1), deterministic=True)
            c.create_function("ST_MinY", 1, _env(2), deterministic=True)
            c.create_function("ST_MaxY", 1, _env(3), deterministic=True)
            c.create_function("onemap_relate", 3, _sql_relate, deterministic=True)
            c.create_function("onemap_bbox", 5, _sql_bbox_intersects, deterministic=True)
            c.create_function("onemap_interiors_meet", 2, _sql_interiors_meet, deterministic=True)
            c.create_function("onemap_clip", 3, _sql_clip, deterministic=True)
            c.create_function("onemap_clipped_m2", 3, _sql_clipped_m2, deterministic=True)
            c.create_function("onemap_geodesic_m2", 1, _sql_geodesic_m2, deterministic=True)
            self._local.conn = c
            with self._conns_lock:
                self._all_conns.append((threading.current_thread(), c))
        return c

    def close(self) -> None:
        """Close this thread's connection and those of threads that have ended. A connection another live
        thread holds (a job still running while the application shuts down) is not closed under it: sqlite3
        would free it in the middle of a statement and crash the process. Dropped here, it closes when that
        thread lets go of it."""
        me = threading.current_thread()
        with self._conns_lock:
            for owner, c in self._all_conns:
                if owner is me or not owner.is_alive():
                    try:
                        c.close()
                    except sqlite3.Error:
                        pass
            self._all_conns.clear()
        self._local = threading.local()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn().execute(sql, params)
        except sqlite3.Error as err:
            LOG.error("GeoPackage query failed: %s; SQL: %s", err, sql)
            raise _store_error(err) from err

    # ---- schema ----------------------------------------------------------------
    def is_initialised(self) -> bool:
        if not self.path.exists():
            return False
        row = self._execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='onemap_meta'").fetchone()
        return row is not None

    def init_schema(self) -> None:
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(f"PRAGMA application_id={GPKG_APPLICATION_ID}")
            c.execute(f"PRAGMA user_version={GPKG_USER_VERSION}")
            self._create_core(c)
            for layer in self.catalogue.layers.values():
                self._create_feature_table(c, layer.id, layer.table_code, layer.t("title"),
                                           [*((f.name, _sql_type(f)) for f in layer.stored_fields),
                                            (AREA_COLUMN, "DOUBLE")], layer.geometry.upper())
                c.execute(f"CREATE INDEX IF NOT EXISTS {quote_ident(layer.id + '_plan_id')} "
                          f"ON {quote_ident(layer.id)} (plan_id)")
            self._create_feature_table(c, "plans", "PLANS", "规划目录（抽屉）", list(PLAN_COLUMNS),
                                       "MULTIPOLYGON")
            c.execute("""CREATE TABLE IF NOT EXISTS plan_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, plan_id TEXT NOT NULL, at DATETIME NOT NULL,
                by TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, reason TEXT,
                valid_from DATE, valid_to DATE, related TEXT)""")
            c.execute("CREATE INDEX IF NOT EXISTS plan_events_plan ON plan_events (plan_id)")
            c.execute("""CREATE TABLE IF NOT EXISTS certificates (id TEXT PRIMARY KEY, process TEXT NOT NULL,
                plan_id TEXT, created DATETIME NOT NULL, document TEXT NOT NULL, html TEXT)""")
            c.execute("CREATE INDEX IF NOT EXISTS certificates_plan ON certificates (plan_id, created)")
            # columns added since the tables were first made (CREATE TABLE IF NOT EXISTS keeps old ones)
            self._add_missing_columns(c, "plans", PLAN_COLUMNS)
            self._add_missing_columns(c, "plan_events", EVENT_COLUMN_TYPES)
            for layer in self.catalogue.layers.values():
                self._add_missing_columns(c, layer.id, [*((f.name, _sql_type(f)) for f in layer.stored_fields),
                                                        (AREA_COLUMN, "DOUBLE")])
                # rows written before schema 8 are measured once
                c.execute(f"UPDATE {quote_ident(layer.id)} SET {AREA_COLUMN} = onemap_geodesic_m2(geom) "
                          f"WHERE {AREA_COLUMN} IS NULL AND geom IS NOT NULL")
            c.execute("""CREATE TABLE IF NOT EXISTS plan_layers (plan_id TEXT NOT NULL, layer TEXT NOT NULL,
                features INTEGER NOT NULL, minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE,
                minfid INTEGER, maxfid INTEGER, PRIMARY KEY (plan_id, layer))""")
            self._add_missing_columns(c, "plan_layers", (("minfid", "INTEGER"), ("maxfid", "INTEGER")))
            c.execute("""CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, process_id TEXT NOT NULL,
                mode TEXT NOT NULL, status TEXT NOT NULL, message TEXT, progress INTEGER NOT NULL DEFAULT 0,
                created DOUBLE NOT NULL, started DOUBLE, updated DOUBLE NOT NULL, finished DOUBLE,
                request TEXT NOT NULL, mimetype TEXT, result BLOB, worker TEXT, lease_until DOUBLE,
                attempts INTEGER NOT NULL DEFAULT 0)""")
            c.execute("CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created)")
            c.execute("""CREATE TABLE IF NOT EXISTS tile_invalidations (id INTEGER PRIMARY KEY AUTOINCREMENT,
                layer TEXT NOT NULL, minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE, effective DOUBLE NOT NULL)""")
            c.execute("""CREATE TABLE IF NOT EXISTS plan_indicators (plan_id TEXT NOT NULL, region TEXT NOT NULL,
                code TEXT NOT NULL, value DOUBLE NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, name TEXT,
                PRIMARY KEY (plan_id, region, code))""")
            # 常住人口 per region and year (providers/population.py loads it; per-capita indicators divide by it)
            c.execute("""CREATE TABLE IF NOT EXISTS population (region TEXT NOT NULL, year INTEGER NOT NULL,
                name TEXT, resident INTEGER NOT NULL CHECK (resident >= 0),
                urban INTEGER NOT NULL CHECK (urban >= 0 AND urban <= resident), source TEXT,
                loaded_at DATETIME NOT NULL, PRIMARY KEY (region, year))""")
            create_access_tables(_GpkgCursor(c), "gpkg", quote_ident)
            create_warning_tables(_GpkgCursor(c), "gpkg", quote_ident)
            self._backfill_plan_layers(c)
            for layer in self.catalogue.layers.values():
                t = quote_ident(layer.id)
                c.execute(f"UPDATE plan_layers SET minfid = (SELECT min(fid) FROM {t} x WHERE x.plan_id = "
                          f"plan_layers.plan_id), maxfid = (SELECT max(fid) FROM {t} x WHERE x.plan_id = "
                          f"plan_layers.plan_id) WHERE layer = ? AND minfid IS NULL AND features > 0", (layer.id,))
            backfill_history(_GpkgCursor(c), quote_ident, "?")
            c.execute("INSERT OR IGNORE INTO onemap_meta (key, value) VALUES ('registry_version', '0')")
            c.execute("INSERT OR IGNORE INTO onemap_meta (key, value) VALUES ('population_version', '0')")
            c.execute("INSERT OR REPLACE INTO onemap_meta (key, value) VALUES ('schema_version', ?)",
                      (SCHEMA_VERSION,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _add_missing_columns(c: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]) -> None:
        have = {r[1] for r in c.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()}
        for name, sql_type in columns:
            if name not in have:
                # NOT NULL/UNIQUE cannot be added to a table with rows: new columns are plain
                plain = sql_type.split()[0]
                c.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(name)} {plain}")

    def _backfill_plan_layers(self, c: sqlite3.Connection) -> None:
        # a store written before schema 2 has drawer entries but no recorded feature counts, which
        # numberMatched (and so the next links) of unfiltered pages rely on: count them once
        if c.execute("SELECT EXISTS (SELECT 1 FROM plan_layers)").fetchone()[0] \
                or not c.execute("SELECT EXISTS (SELECT 1 FROM plans)").fetchone()[0]:
            return
        for layer in self.catalogue.layers.values():
            t, rtree = quote_ident(layer.id), quote_ident(f"rtree_{layer.id}_geom")
            c.execute(f"INSERT INTO plan_layers (plan_id, layer, features, minx, miny, maxx, maxy) "
                      f"SELECT t.plan_id, ?, count(*), min(r.minx), min(r.miny), max(r.maxx), max(r.maxy) "
                      f"FROM {t} t LEFT JOIN {rtree} r ON r.id = t.fid GROUP BY t.plan_id", (layer.id,))

    def _create_core(self, c: sqlite3.Connection) -> None:
        c.execute("""CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""")
        c.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
            [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
             ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
             ("WGS 84 geodetic", 4326, "EPSG", 4326, WGS84_WKT, "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
             ("China Geodetic Coordinate System 2000", STORAGE_SRID, "EPSG", STORAGE_SRID, CGCS2000_WKT, "CGCS2000")])
        c.execute("""CREATE TABLE IF NOT EXISTS gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
            description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""")
        c.execute("""CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""")
        c.execute("""CREATE TABLE IF NOT EXISTS gpkg_extensions (
            table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
            scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""")
        c.execute("CREATE TABLE IF NOT EXISTS onemap_meta (key TEXT PRIMARY KEY, value TEXT)")

    def _create_feature_table(self, c: sqlite3.Connection, name: str, identifier: str, description: str,
                              columns: list[tuple[str, str]], geometry_type: str) -> None:
        t = quote_ident(name)
        cols = ", ".join(f"{quote_ident(n)} {typ}" for n, typ in columns)
        c.execute(f"CREATE TABLE IF NOT EXISTS {t} (fid INTEGER PRIMARY KEY AUTOINCREMENT, {cols}, "
                  f"geom {geometry_type})")
        c.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                  "VALUES (?, 'features', ?, ?, ?)", (name, identifier, description, STORAGE_SRID))
        c.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                  (name, geometry_type, STORAGE_SRID))
        rtree = f"rtree_{name}_geom"
        c.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {quote_ident(rtree)} USING rtree(id, minx, maxx, miny, maxy)")
        c.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
                  "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", (name,))
        for sql in self._rtree_triggers(name):
            c.execute(sql)

    @staticmethod
    def _rtree_triggers(name: str) -> list[str]:
        """The GeoPackage 1.3 R-tree maintenance triggers for ``name``.geom."""
        t, r = quote_ident(name), quote_ident(f"rtree_{name}_geom")
        p = f"rtree_{name}_geom"
        vals = "(NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom))"
        return [
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_insert')} AFTER INSERT ON {t}
                WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
                BEGIN INSERT OR REPLACE INTO {r} VALUES {vals}; END""",
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_update1')} AFTER UPDATE OF geom ON {t}
                WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
                BEGIN INSERT OR REPLACE INTO {r} VALUES {vals}; END""",
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_update2')} AFTER UPDATE OF geom ON {t}
                WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
                BEGIN DELETE FROM {r} WHERE id = OLD.fid; END""",
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_update3')} AFTER UPDATE ON {t}
                WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
                BEGIN DELETE FROM {r} WHERE id = OLD.fid; INSERT OR REPLACE INTO {r} VALUES {vals}; END""",
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_update4')} AFTER UPDATE ON {t}
                WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
                BEGIN DELETE FROM {r} WHERE id IN (OLD.fid, NEW.fid); END""",
            f"""CREATE TRIGGER IF NOT EXISTS {quote_ident(p + '_delete')} AFTER DELETE ON {t}
                WHEN old.geom NOT NULL
                BEGIN DELETE FROM {r} WHERE id = OLD.fid; END""",
        ]

    def schema_version(self) -> str | None:
        rows = self._rows("SELECT value FROM onemap_meta WHERE key = 'schema_version'", [])
        return rows[0][0] if rows else None

    # ---- registry --------------------------------------------------------------
    def _versions(self) -> tuple[Any, Any]:
        found = dict(self._execute("SELECT key, value FROM onemap_meta "
                                   "WHERE key IN ('registry_version', 'population_version')").fetchall())
        return found.get("registry_version"), found.get("population_version")

    def _load_plans(self) -> list[Plan]:
        cols = ", ".join(quote_ident(n) for n in PLAN_FIELDS)
        rows = self._execute(f"SELECT fid, {cols}, geom FROM plans ORDER BY fid").fetchall()
        return [plan_from_row(r[0], r[1:-1], gpkg_wkb(r[-1])) for r in rows]

    def _begin(self) -> sqlite3.Connection:
        """This thread's connection in a write transaction (BEGIN IMMEDIATE takes the write lock first)."""
        c = self.conn()
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            LOG.error("GeoPackage write refused: %s", err)
            raise _store_error(err) from err
        return c

    @staticmethod
    def _abort(c: sqlite3.Connection, err: BaseException) -> OneMapError | None:
        """Roll back a failed write; the error to raise instead of ``err`` (sqlite's own, told as the store's).

        sqlite may have rolled back already (a full disk, an I/O error): ROLLBACK then has nothing to do.
        """
        if c.in_transaction:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error as rb:
                LOG.error("GeoPackage rollback failed: %s", rb)
        if isinstance(err, sqlite3.Error):
            LOG.error("GeoPackage write failed, nothing was written: %s", err)
            return _store_error(err)
        return None

    @contextmanager
    def write_cursor(self) -> Iterator[_GpkgCursor]:
        c = self._begin()
        try:
            yield _GpkgCursor(c)
            c.execute("COMMIT")
        except BaseException as err:
            told = self._abort(c, err)
            if told is not None:
                raise told from err
            raise

    def transaction(self, op: Callable[[SqlRegistryTx], None]) -> None:
        c = self._begin()  # takes the write lock: transitions are serialised
        try:
            op(SqlRegistryTx(_GpkgCursor(c), quote_ident, "?"))
            self._bump_registry(c)
            c.execute("COMMIT")
        except BaseException as err:
            told = self._abort(c, err)
            if told is not None:
                raise told from err
            raise

    def _bump_registry(self, c: sqlite3.Connection) -> None:
        self._wrote = True  # this process reads the registry again at its next lookup
        c.execute("UPDATE onemap_meta SET value = CAST(value AS INTEGER) + 1 WHERE key='registry_version'")

    def _bump_population(self, cur: Any) -> None:
        self._wrote = True
        cur.execute("UPDATE onemap_meta SET value = CAST(value AS INTEGER) + 1 WHERE key='population_version'")

    def _upsert_plan(self, c: sqlite3.Connection, p: Plan) -> None:
        rec = p.as_record()
        names = [n for n, _ in PLAN_COLUMNS]
        blob = to_gpkg_blobs([p.outline])[0] if p.outline is not None else None
        ph = ", ".join("?" * (len(names) + 1))
        updates = ", ".join(f"{quote_ident(n)}=excluded.{quote_ident(n)}" for n in names[1:] + ["geom"])
        c.execute(f"INSERT INTO plans ({', '.join(quote_ident(n) for n in names)}, geom) VALUES ({ph}) "
                  f"ON CONFLICT(id) DO UPDATE SET {updates}",
                  [_to_db(rec[n]) for n in names] + [blob])

    # ---- writing ----------------------------------------------------------------
    def write(self, plans: Sequence[Plan], batches: Sequence[FeatureBatch], *,
              replace_all: bool = False, events: Sequence[Event] = (),
              indicators: Sequence[PlanIndicator] = (), create: bool = False,
              population: Sequence[PopulationRow] = ()) -> None:
        c = self._begin()  # the write lock: concurrent loads of one version queue here
        try:
            if create:
                for p in plans:
                    if c.execute("SELECT 1 FROM plans WHERE id = ?", (p.id,)).fetchone() is not None:
                        raise Conflict(f"drawer entry {p.id} already exists")
            if replace_all:
                for layer in self.catalogue.layers.values():
                    c.execute(f"DELETE FROM {quote_ident(layer.id)}")
                c.execute("DELETE FROM plans")
                c.execute("DELETE FROM plan_events")
                c.execute("DELETE FROM plan_layers")
                c.execute("DELETE FROM tile_invalidations")
                c.execute("DELETE FROM plan_indicators")
            for p in plans:
                self._upsert_plan(c, p)
            tx = SqlRegistryTx(_GpkgCursor(c), quote_ident, "?")
            for batch in batches:
                fids = self._insert_batch(c, batch)
                tx.add_plan_layer(batch.plan_id, batch.layer_id, len(batch), _total_bounds(batch.geometry), fids)
            for event in events:
                tx.add_event(event)
            tx.set_indicators(indicators)
            if population or replace_all:
                self._put_population(_GpkgCursor(c), population, dt.datetime.now(dt.UTC), replace_all=replace_all)
            # exact extents (the R-tree keeps 32-bit floats, rounded outwards)
            bounds: dict[str, list[np.ndarray]] = {}
            for batch in batches:
                if len(batch):
                    bounds.setdefault(batch.layer_id, []).append(
                        shapely.bounds(np.asarray(batch.geometry, dtype=object)))
            outlines = [p.outline for p in plans if p.outline is not None]
            if outlines:
                bounds["plans"] = [shapely.bounds(np.asarray(outlines, dtype=object))]
            for name, arrays in sorted(bounds.items()):
                self._extend_contents(c, name, np.vstack(arrays), reset=replace_all)
            self._bump_registry(c)
            c.execute("COMMIT")
        except BaseException as err:
            told = self._abort(c, err)
            if told is not None:
                raise told from err
            raise

    def _insert_batch(self, c: sqlite3.Connection, batch: FeatureBatch) -> tuple[int, int] | None:
        layer = self.catalogue.layer(batch.layer_id)
        plan = self.plans_pending(c, batch.plan_id)
        n = len(batch)
        names = [f.name for f in layer.fields]
        for name in names:
            if name not in batch.columns:
                batch.columns[name] = [None] * n
        extra = set(batch.columns) - set(names)
        if extra:
            raise StoreError(f"{layer.id}: unknown columns {sorted(extra)}")
        drawer = [plan[k] for k in DRAWER_KEYS]
        start = (c.execute(f"SELECT COALESCE(MAX(fid), 0) FROM {quote_ident(layer.id)}").fetchone()[0]
                 + 1)
        seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (layer.id,)).fetchone()
        if seq and seq[0] >= start:
            start = seq[0] + 1
        fids = range(start, start + n)
        blobs = to_gpkg_blobs(batch.geometry)
        m2 = geodesic_area(batch.geometry).tolist()
        cols = [np.asarray(batch.columns[nm], dtype=object).tolist() for nm in names]
        rows = ([fid, *[_to_db(col[i]) for col in cols], *drawer, m2[i], blobs[i]]
                for i, fid in enumerate(fids))
        col_sql = ", ".join(["fid", *(quote_ident(nm) for nm in names),
                             *(quote_ident(f.name) for f in DRAWER_FIELDS), AREA_COLUMN, "geom"])
        ph = ", ".join("?" * (len(names) + len(DRAWER_FIELDS) + 3))
        t = quote_ident(layer.id)
        trig = quote_ident(f"rtree_{layer.id}_geom_insert")
        # Bulk path: the R-tree is filled from bounds computed in one numpy pass instead of
        # five Python callbacks per row; the trigger is restored in the same transaction.
        c.execute(f"DROP TRIGGER IF EXISTS {trig}")
        c.executemany(f"INSERT INTO {t} ({col_sql}) VALUES ({ph})", rows)
        bounds = shapely.bounds(np.asarray(batch.geometry, dtype=object))
        c.executemany(f"INSERT INTO {quote_ident(f'rtree_{layer.id}_geom')} VALUES (?, ?, ?, ?, ?)",
                      ((fid, b[0], b[2], b[1], b[3]) for fid, b in zip(fids, bounds.tolist())))
        c.execute(self._rtree_triggers(layer.id)[0])
        return (fids[0], fids[-1]) if n else None

    def plans_pending(self, c: sqlite3.Connection, plan_id: str) -> dict:
        cols = ", ".join(quote_ident(k) for k in DRAWER_KEYS)
        row = c.execute(f"SELECT {cols} FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            raise StoreError(f"no drawer entry {plan_id!r} to attach features to")
        return dict(zip(DRAWER_KEYS, row))

    def _extend_contents(self, c: sqlite3.Connection, name: str, bounds: np.ndarray, reset: bool) -> None:
        """Grow the table's extent in gpkg_contents to cover ``bounds`` (rows of minx, miny, maxx, maxy)."""
        new = [float(np.nanmin(bounds[:, 0])), float(np.nanmin(bounds[:, 1])),
               float(np.nanmax(bounds[:, 2])), float(np.nanmax(bounds[:, 3]))]
        if not reset:
            row = c.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                            (name,)).fetchone()
            if row and row[0] is not None:
                new = [min(new[0], row[0]), min(new[1], row[1]), max(new[2], row[2]), max(new[3], row[3])]
        c.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
                  "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?", (*new, name))

    # ---- reading ----------------------------------------------------------------
    def _table_sql(self, name: str) -> str:
        return quote_ident(name)

    def _geom_sql(self, expr: str = "geom") -> str:
        return expr

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        return self._execute(sql, params).fetchall()

    def _wkb(self, value: Any) -> bytes | None:
        return gpkg_wkb(value)

    def _count(self, table_sql: str, where_sql: str, params: Sequence[Any]) -> tuple[int, bool]:
        # SQLite has no planner estimate to fall back on: the embedded store always counts
        return int(self._execute(f"SELECT count(*) FROM {table_sql} WHERE {where_sql}", params).fetchone()[0]), True

    def vector_tile(self, layer: Layer, spec: Any) -> bytes:
        from onemap.tiles.mvt import encode

        if not spec.plan_ids:
            return b""
        names = list(spec.properties)
        table = TableSpec.for_layer(layer)
        areas = spec.clip_areas()  # view=governing: entries that govern part of their outline are cut to it
        geom_params: list[Any] = []
        geom = geometry_expr(self.dialect, table, areas, geom_params)
        drawer_params: list[Any] = []
        drawer = drawer_condition(self.dialect, table, spec.plan_ids, areas, drawer_params)
        cols = ", ".join(["fid", *(quote_ident(n) for n in names), geom])
        t = quote_ident(layer.id)
        r = quote_ident(f"rtree_{layer.id}_geom")
        minx, miny, maxx, maxy = spec.query_bbox
        # same selection as PostGIS: envelope meets the buffered tile, not below a pixel,
        # largest first, capped
        sql = (f"SELECT {cols} FROM {t} WHERE ({drawer}) AND fid IN (SELECT id FROM {r} "
               f"WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?) "
               f"AND max(ST_MaxX(geom) - ST_MinX(geom), ST_MaxY(geom) - ST_MinY(geom)) >= ? "
               f"ORDER BY (ST_MaxX(geom) - ST_MinX(geom)) * (ST_MaxY(geom) - ST_MinY(geom)) DESC, fid LIMIT ?")
        rows = self._rows(sql, [*geom_params, *drawer_params, maxx, minx, maxy, miny, spec.min_size, spec.cap])
        return encode(spec, [r[0] for r in rows], [dict(zip(names, r[1:-1])) for r in rows],
                      [gpkg_wkb(r[-1]) for r in rows])

    def layer_extent(self, layer: Layer | str, plan_ids: Iterable[str] | None = None
                     ) -> tuple[float, float, float, float] | None:
        name = layer if isinstance(layer, str) else layer.id
        r = quote_ident(f"rtree_{name}_geom")
        if plan_ids is None:
            row = self._execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                                (name,)).fetchone()
        else:
            ids = list(plan_ids)
            if not ids:
                return None
            ph = ", ".join("?" * len(ids))
            row = self._execute(
                f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {r} WHERE id IN "
                f"(SELECT fid FROM {quote_ident(name)} WHERE plan_id IN ({ph}))", ids).fetchone()
        if row is None or row[0] is None:
            return None
        return tuple(row)

    def geometries(self, layer: Layer, plan_ids: Sequence[str],
                   bbox: tuple[float, float, float, float] | None = None,
                   columns: Sequence[str] = ()) -> tuple[np.ndarray, dict[str, list]]:
        table = TableSpec.for_layer(layer)
        for name in columns:
            if name not in table.fields:
                raise StoreError(f"{layer.id} has no column {name}")
        where = build_where(self.dialect, table, plan_ids=tuple(plan_ids), bbox=bbox, filter_=None, props=[])
        cols = ", ".join(["fid", *(quote_ident(n) for n in columns), "geom"])
        rows = self._execute(f"SELECT {cols} FROM {quote_ident(layer.id)} WHERE {where.sql()} ORDER BY fid",
                             where.params).fetchall()
        geoms = shapely.from_wkb([gpkg_wkb(r[-1]) for r in rows]) if rows else np.empty(0, dtype=object)
        out = {"fid": [r[0] for r in rows]}
        for i, name in enumerate(columns, start=1):
            out[name] = [r[i] for r in rows]
        return geoms, out

    def count_rows(self, table: str) -> int:
        return int(self._execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0])


__all__ = ["GpkgDialect", "GpkgStore"]
