"""The store interface: one API over the GeoPackage and PostGIS backends.

What both backends share lives here and in ``sql.py``: the drawer semantics (which
plans are in force on a date, which regions a region covers), the query model and
the SQL it turns into. A backend only connects, runs SQL and encodes geometry.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Catalogue, FieldDef, Layer
from onemap.config.errors import InvalidParameterValue
from onemap.domain.dates import When, today
from onemap.domain.governing import GoverningPart, governing_parts
from onemap.domain.plans import FILED_STATES, PLAN_FIELDS, PLAN_STATUSES, Event, Plan, registry_at
from onemap.domain.regions import region_covers, region_prefix

from .access import AccessStore
from .jobs import JobStore
from .warnings import WarningStore


@dataclass
class FeatureBatch:
    """Features of one layer in one drawer entry, column-wise, ready to be written."""

    layer_id: str
    plan_id: str
    columns: dict[str, Sequence[Any] | np.ndarray]
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.geometry)


@dataclass(frozen=True)
class PlanIndicator:
    """One target a plan sets for a region under it (a row of the plan's indicator table)."""

    plan_id: str
    region: str
    code: str
    value: float
    unit: str
    kind: str  # min | max (config/indicators.yaml)
    name: str | None = None


@dataclass(frozen=True)
class PopulationRow:
    """One row of the population table: a region's 常住人口 and 城镇常住人口 in a year (persons)."""

    region: str
    year: int
    resident: int
    urban: int
    name: str | None = None
    source: str | None = None
    loaded_at: dt.datetime | None = None

    @property
    def rural(self) -> int:
        """乡村常住人口: the resident population that is not urban."""
        return self.resident - self.urban


@dataclass
class FeatureQuery:
    """A question to one layer, already validated and in storage terms (lon/lat EPSG:4490)."""

    layer: Layer
    plan_ids: tuple[str, ...] | None  # None: no drawer restriction (the plans collection)
    bbox: tuple[float, float, float, float] | None = None
    filter: Any = None  # a pygeofilter AST
    filter_transform: Any = None  # maps the filter's geometry literals into storage lon/lat
    props: list[tuple[str, Any]] = field(default_factory=list)
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    offset: int = 0
    limit: int = 10
    select: tuple[str, ...] | None = None
    skip_geometry: bool = False
    count: bool = True
    after: tuple | None = None  # keyset cursor: the sort key of the last row of the previous page
    # drawer entries that govern only part of their outline (view=governing): plan id -> that part;
    # their features are those meeting it, cut to it
    clip: dict[str, shapely.Geometry] | None = None


@dataclass(frozen=True)
class Group:
    """A GROUP BY key of an aggregate: a field, or the first ``prefix`` characters of one (a region
    code cut to a level: 9 characters of a 三调 坐落单位代码 are its township)."""

    field: str
    prefix: int | None = None


@dataclass(frozen=True)
class AggregateRow:
    """One group of an aggregate: its key values, geodesic area (m², CGCS2000) and feature count."""

    key: tuple[Any, ...]
    m2: float
    count: int


@dataclass
class FeaturePage:
    """Rows of one page: fids, property dicts and WKB geometries (storage CRS)."""

    fids: list[int]
    properties: list[dict[str, Any]]
    wkb: list[bytes | None]
    number_matched: int | None
    matched_exact: bool = True
    json: list[str] | None = None  # whole GeoJSON features written by the database (JsonOut)


@dataclass
class JsonOut:
    """What a database that writes GeoJSON itself needs to write features like the Python path.

    Property order: the stored fields, then the drawer entry's state, then the computed labels.
    """

    epsg: int | None  # transform into this CRS; None keeps storage lon/lat
    swap: bool  # write y,x (the CRS's authority order is north first)
    decimals: int
    plan_state: dict[str, tuple[str | None, str | None, str | None]] | None  # plan -> status, from, to
    labels: list[tuple[str, dict[str, str]]]  # (field, code -> label) written as <field>_label
    state_keys: tuple[str, ...] = ("plan_status", "plan_valid_from", "plan_valid_to")  # which to write


@dataclass
class _Registry:
    """The registry as one version of it was read: rows, replayed entries, events, layers held,
    and the answers worked out from it (cleared with it when the registry changes)."""

    version: Any
    rows: dict[str, Plan]
    current: dict[str, Plan]
    events: list[Event]
    layers: dict[str, dict[str, int]]
    last_at: dt.datetime | None = None  # when the latest event was recorded
    extents: dict[tuple[str, str], tuple[float, float, float, float]] = field(default_factory=dict)
    fid_ranges: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)  # layer -> (plan, lo, hi)
    past: dict[dt.datetime, dict[str, Plan]] = field(default_factory=dict)
    governing: dict[tuple, tuple[GoverningPart, ...]] = field(default_factory=dict)


_REQUEST_SCOPE: ContextVar[object | None] = ContextVar("onemap_request_scope", default=None)


def begin_request() -> Token:
    """Mark the start of an HTTP request (the registry is checked once per request)."""
    return _REQUEST_SCOPE.set(object())


def end_request(token: Token) -> None:
    _REQUEST_SCOPE.reset(token)


class Store(ABC):
    """One interface over the two backends (see the module docstring)."""

    backend: str = "abstract"

    def __init__(self, catalogue: Catalogue, count_cap: int = 10_000) -> None:
        self.catalogue = catalogue
        self.count_cap = count_cap  # bbox queries count exactly up to this many matches in the page's own query
        self._jobs: JobStore | None = None
        self._warnings: WarningStore | None = None
        self._access: AccessStore | None = None
        self._plans_lock = threading.Lock()
        self._reg: _Registry | None = None
        self._checked_scope: object | None = None
        self._checked_version: Any = None
        self._wrote = False

    # ---- schema -------------------------------------------------------------
    @abstractmethod
    def init_schema(self) -> None:
        """Create every table of the catalogue and the registry (idempotent)."""

    @abstractmethod
    def is_initialised(self) -> bool:
        """Does the store hold OneMap's schema?"""

    @abstractmethod
    def schema_version(self) -> str | None:
        """The schema version recorded in the store."""

    expected_schema: str = ""

    def ensure_schema(self) -> None:
        """Bring an older store up to this code's schema (init_schema only adds what is missing)."""
        if self.schema_version() != self.expected_schema:
            self.init_schema()

    # ---- registry -----------------------------------------------------------
    @abstractmethod
    def _versions(self) -> tuple[Any, Any]:
        """(registry version, population version): values that change whenever the registry, or the
        population table, changes (both read in one cheap query)."""

    @abstractmethod
    def _load_plans(self) -> list[Plan]:
        """Every drawer entry (there are thousands at most)."""

    def _load_events(self) -> list[Event]:
        """Every recorded transition, in record order."""
        cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
        rows = self._rows(f"SELECT id, {cols} FROM {self._table_sql('plan_events')} ORDER BY id", [])
        return [event_from_row(r[0], r[1:]) for r in rows]

    def _current_versions(self) -> tuple[Any, Any]:
        """The registry and population versions, read once per HTTP request (and after this process wrote)."""
        scope = _REQUEST_SCOPE.get()
        checked = self._checked_version
        if scope is not None and scope is self._checked_scope and not self._wrote and checked is not None:
            return checked
        self._wrote = False
        versions = self._versions()
        self._checked_scope, self._checked_version = scope, versions
        return versions

    def _current_version(self) -> Any:
        """The registry version, read once per HTTP request (and after this process wrote)."""
        return self._current_versions()[0]

    def population_version(self) -> Any:
        """The population table's version: every load changes it (read with the registry's)."""
        return self._current_versions()[1]

    def _registry(self) -> _Registry:
        """The registry as it stands, re-read when another process has changed it.

        Inside one HTTP request the registry version is read once: a request sees one
        consistent registry and pays one round trip for it, not one per lookup.
        """
        version = self._current_version()
        reg = self._reg
        if reg is None or reg.version != version:
            with self._plans_lock:
                reg = self._reg
                if reg is None or reg.version != version:
                    events = self._load_events()
                    rows = {p.id: p for p in self._load_plans()}
                    layers: dict[str, dict[str, int]] = {}
                    extents: dict[tuple[str, str], tuple[float, float, float, float]] = {}
                    fids: dict[str, list[tuple[str, int, int]]] = {}
                    for pid, layer, n, x0, y0, x1, y1, lo, hi in self._rows(
                            f"SELECT plan_id, layer, features, minx, miny, maxx, maxy, minfid, maxfid "
                            f"FROM {self._table_sql('plan_layers')}", []):
                        layers.setdefault(pid, {})[layer] = int(n)
                        if x0 is not None:
                            extents[(pid, layer)] = (float(x0), float(y0), float(x1), float(y1))
                        if lo is not None:
                            fids.setdefault(layer, []).append((pid, int(lo), int(hi)))
                    reg = _Registry(version, rows, registry_at(rows, events, None), events, layers,
                                    max((e.at for e in events), default=None), extents, fids)
                    self._reg = reg
        return reg

    def as_recorded(self, recorded: dt.datetime | None) -> dt.datetime | None:
        """``recorded``, or None when nothing has been recorded since (the registry as it stands)."""
        if recorded is None:
            return None
        last = self._registry().last_at
        return None if last is None or recorded >= last else recorded

    def plans(self, recorded: dt.datetime | None = None) -> dict[str, Plan]:
        """All drawer entries by id: as they stand now, or as the registry stood at ``recorded``."""
        reg = self._registry()
        recorded = self.as_recorded(recorded)
        if recorded is None:
            return reg.current
        found = reg.past.get(recorded)
        if found is None:
            found = registry_at(reg.rows, reg.events, recorded)
            if len(reg.past) > 64:
                reg.past.clear()
            reg.past[recorded] = found
        return found

    def plan(self, plan_id: str, recorded: dt.datetime | None = None) -> Plan | None:
        return self.plans(recorded).get(plan_id)

    def events(self, plan_id: str | None = None) -> list[Event]:
        """Recorded transitions (of one entry, or all), in record order."""
        events = self._registry().events
        return [e for e in events if plan_id is None or e.plan_id == plan_id]

    def plan_layer_index(self) -> dict[str, dict[str, int]]:
        """plan id -> {layer id: feature count} of every drawer entry (as recorded when written)."""
        return self._registry().layers

    def plans_in_force(self, when: When, region: str | None = None, layer: Layer | None = None,
                       recorded: dt.datetime | None = None) -> tuple[str, ...]:
        """Ids of the filed plans in force during ``when``, in drawers ``region`` covers."""
        prefix = region_prefix(region) if region else None
        out = []
        for p in self.plans(recorded).values():
            if layer is not None and p.type not in layer.drawer_types:
                continue
            if prefix is not None and not p.region.startswith(prefix):
                continue
            if p.in_force(when):
                out.append(p.id)
        return tuple(sorted(out))

    def governing(self, layer: Layer, day: dt.date, recorded: dt.datetime | None = None
                  ) -> tuple[GoverningPart, ...]:
        """Where each plan in force on ``day`` governs ``layer`` (``onemap.domain.governing``)."""
        reg = self._registry()
        recorded = self.as_recorded(recorded)
        key = (layer.id, day, recorded)
        found = reg.governing.get(key)
        if found is None:
            when = When.at(day)
            holding = [p for p in self.plans(recorded).values()
                       if p.type in layer.drawer_types and layer.id in reg.layers.get(p.id, {}) and p.in_force(when)]
            found = governing_parts(holding)
            if len(reg.governing) > 256:
                reg.governing.clear()
            reg.governing[key] = found
        return found

    # ---- jobs and counts ------------------------------------------------------
    @property
    def access(self) -> AccessStore:
        """The users, tokens and audit trail kept in this store."""
        if self._access is None:
            self._access = AccessStore(self)
        return self._access

    @property
    def warnings(self) -> WarningStore:
        """The warnings (预警), their subscriptions and deliveries kept in this store."""
        if self._warnings is None:
            self._warnings = WarningStore(self)
        return self._warnings

    @property
    def jobs(self) -> JobStore:
        """The process jobs kept in this store (any worker sharing it runs them)."""
        if self._jobs is None:
            self._jobs = JobStore(self)
        return self._jobs

    @abstractmethod
    def count_rows(self, table: str) -> int:
        """Rows of a layer's (or a registry) table, all drawer entries together."""

    # ---- certificates ---------------------------------------------------------
    def add_certificate(self, cert_id: str, process: str, plan_id: str | None, created: dt.datetime,
                        document: str, html: str | None, owner: str | None = None) -> None:
        """Archive a review certificate for good (never purged); ``owner``: the user whose run made it."""
        with self.write_cursor() as cur:
            SqlRegistryTx(cur, self._table_sql, self.dialect.param).add_certificate(
                cert_id, process, plan_id, created, document, html)
            if owner is not None:
                cur.execute(f"UPDATE {self._table_sql('certificates')} SET owner = {self.dialect.param} "
                            f"WHERE id = {self.dialect.param}", [owner, cert_id])

    def set_certificate_html(self, cert_id: str, html: str) -> None:
        """Keep a certificate's report made after it was archived (once: an existing one stays)."""
        P = self.dialect.param
        with self.write_cursor() as cur:
            cur.execute(f"UPDATE {self._table_sql('certificates')} SET html = {P} WHERE id = {P} AND html IS NULL",
                        (html, cert_id))

    def certificate(self, cert_id: str) -> tuple[str, str | None] | None:
        """(document JSON, report HTML) of an archived certificate."""
        rows = self._rows(f"SELECT document, html FROM {self._table_sql('certificates')} "
                          f"WHERE id = {self.dialect.param}", [cert_id])
        return (rows[0][0], rows[0][1]) if rows else None

    def certificate_owner(self, cert_id: str) -> str | None:
        """Who made a certificate (the user who ran the review), if it was recorded."""
        rows = self._rows(f"SELECT owner FROM {self._table_sql('certificates')} WHERE id = {self.dialect.param}",
                          [cert_id])
        return rows[0][0] if rows else None

    def certificates(self, plan_id: str | None = None, process: str | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """Certificates, newest first: id, process, plan id, created."""
        P = self.dialect.param
        where, params = [], []
        if plan_id is not None:
            where.append(f"plan_id = {P}")
            params.append(plan_id)
        if process is not None:
            where.append(f"process = {P}")
            params.append(process)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(f"SELECT id, process, plan_id, created FROM {self._table_sql('certificates')} {cond} "
                          f"ORDER BY created DESC, id LIMIT {P}", [*params, limit])
        return [{"id": r[0], "process": r[1], "plan_id": r[2], "created": _instant(r[3])} for r in rows]

    # ---- backend primitives (each backend: its SQL spelling and its connection) ----------
    dialect: Any

    @abstractmethod
    def _table_sql(self, name: str) -> str:
        """The quoted (schema-qualified) name of a table."""

    @abstractmethod
    def _geom_sql(self, expr: str = "geom") -> str:
        """The select expression giving a geometry (the row's, or ``expr``) in the backend's own encoding."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """Run a read query."""

    @abstractmethod
    def _wkb(self, value: Any) -> bytes | None:
        """The WKB of a geometry value as ``_geom_sql`` returned it."""

    @abstractmethod
    def _count(self, table_sql: str, where_sql: str, params: Sequence[Any]) -> tuple[int, bool]:
        """numberMatched: (count, exact?)."""

    def _value(self, v: Any) -> Any:
        return v

    # ---- features -----------------------------------------------------------
    def query(self, q: FeatureQuery, json_out: JsonOut | None = None) -> FeaturePage:
        """One page of features (written as GeoJSON by the database when ``json_out`` is given
        and the backend can)."""
        from .sql import TableSpec

        return self.query_table(TableSpec.for_layer(q.layer), q, json_out)

    supports_json = False  # the backend can write GeoJSON features in SQL (``_feature_json_sql``)

    def _meeting(self, layer_id: str, plan_ids: Sequence[str], bbox: tuple[float, float, float, float]
                 ) -> tuple[str, ...]:
        """The entries whose recorded extent of the layer meets ``bbox`` (one holding no feature of it
        has none; one written before extents were recorded stays)."""
        reg = self._registry()
        x0, y0, x1, y1 = bbox
        out = []
        for pid in plan_ids:
            e = reg.extents.get((pid, layer_id))
            if e is None:
                if reg.layers.get(pid, {}).get(layer_id, 0) > 0:
                    out.append(pid)
            elif e[0] <= x1 and e[2] >= x0 and e[1] <= y1 and e[3] >= y0:
                out.append(pid)
        return tuple(out)

    def _fid_where(self, table: Any, fid: int) -> tuple[str, list[Any]]:
        """``fid = ?`` on a layer, narrowed to the entries whose recorded id range holds it, so that
        only their partitions are searched (when every entry with features of the layer has one)."""
        from .sql import quote_ident

        P = self.dialect.param
        reg = self._registry()
        ranges = reg.fid_ranges.get(table.name, [])
        holders = sum(1 for layers in reg.layers.values() if layers.get(table.name, 0) > 0)
        if table.plan_column != "plan_id" or not ranges or len(ranges) != holders:
            return f"fid = {P}", [fid]
        plans = [pid for pid, lo, hi in ranges if lo <= fid <= hi]
        if not plans:
            return f"fid = {P} AND 1=0", [fid]
        return f"{quote_ident(table.plan_column)} IN ({', '.join([P] * len(plans))}) AND fid = {P}", [*plans, fid]

    def _recorded_count(self, layer_id: str, plan_ids: Sequence[str]) -> int | None:
        """Features of a layer in these drawer entries, as recorded when they were written."""
        layers = self.plan_layer_index()
        return sum(layers.get(pid, {}).get(layer_id, 0) for pid in plan_ids)

    def _feature_json_sql(self, names: list[str], out: JsonOut, skip_geometry: bool, plan_column: str,
                          geom: str = "geom", geom_params: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        """A select expression giving each row as GeoJSON feature text, and its parameters
        (``geom``: the geometry expression, with ``geom_params`` its own)."""
        raise NotImplementedError

    def query_table(self, table: Any, q: FeatureQuery, json_out: JsonOut | None = None) -> FeaturePage:
        """One page of any feature table (a layer or the registry).

        With ``json_out`` (and a backend that ``supports_json``) the database writes the
        features as GeoJSON text: no per-value work in Python.
        """
        from .sql import build_where, geometry_expr, order_by, quote_ident

        if q.bbox is not None and q.plan_ids and table.plan_column == "plan_id":
            # only the drawer entries whose features can meet the box: their partitions alone are read
            q = replace(q, plan_ids=self._meeting(table.name, q.plan_ids, q.bbox))
        where = build_where(self.dialect, table, plan_ids=q.plan_ids, bbox=q.bbox, filter_=q.filter,
                            props=q.props, transform=q.filter_transform, clip=q.clip)
        names = [n for n in table.fields if q.select is None or n in q.select or n == table.plan_column]
        geom_params: list[Any] = []
        geom = geometry_expr(self.dialect, table, q.clip, geom_params) if not q.skip_geometry else "NULL"
        if json_out is not None and self.supports_json:
            shown = [n for n in names if q.select is None or n in q.select]
            feature_sql, select_params = self._feature_json_sql(shown, json_out, q.skip_geometry, table.plan_column,
                                                                geom, geom_params)
            cols = f"fid, {feature_sql}"
        else:
            json_out = None
            select_params = geom_params
            cols = ", ".join(["fid", *(quote_ident(n) for n in names),
                              "NULL" if q.skip_geometry else self._geom_sql(geom)])
        t = self._table_sql(table.name)
        P = self.dialect.param
        pc = quote_ident(table.plan_column)
        wsql, params, offset = where.sql(), list(where.params), q.offset
        keyset: tuple[str, list[Any]] | None = None
        if q.after is not None and not q.sortby:
            # keyset continuation in the default (drawer, id) order: no O(offset) scan
            fid_sql, fid_params = self._fid_where(table, q.after[0])
            key = self._rows(f"SELECT {pc} FROM {t} WHERE {fid_sql}", fid_params)
            if not key:
                raise InvalidParameterValue("after: that feature no longer exists; start from the first page")
            last_plan = key[0][0]
            later = sorted(p for p in q.plan_ids if p > last_plan) if q.plan_ids is not None else None
            if later is None:
                wsql = f"({wsql}) AND ({pc}, fid) > ({P}, {P})"
                params += [last_plan, q.after[0]]
            elif not later:
                wsql = f"({wsql}) AND {pc} = {P} AND fid > {P}"
                params += [last_plan, q.after[0]]
            else:
                # the rest of the cursor's drawer entry and the start of the later ones, each an index
                # range scan: an OR of the two would make the database filter its way to the cursor
                ph = ", ".join([P] * len(later))
                keyset = ((f"SELECT * FROM (SELECT * FROM {t} WHERE ({wsql}) AND {pc} = {P} AND fid > {P} "
                          f"ORDER BY fid LIMIT {P}) a UNION ALL SELECT * FROM (SELECT * FROM {t} WHERE ({wsql}) "
                          f"AND {pc} IN ({ph}) ORDER BY {pc}, fid LIMIT {P}) b"),
                          [*params, last_plan, q.after[0], q.limit, *params, *later, q.limit])
            offset = 0
        # numberMatched without a query of its own where possible: the drawer's recorded feature
        # counts when only the drawer restricts; a bounded count in the page's own query for a bbox
        known, inline = None, False
        if q.count and q.filter is None and not q.props and table.plan_column == "plan_id" \
                and q.plan_ids is not None and not q.clip:
            if q.bbox is None:
                known = self._recorded_count(table.name, q.plan_ids)
            else:
                inline = True
                cols += f", (SELECT count(*) FROM (SELECT 1 FROM {t} WHERE {where.sql()} LIMIT {P}) c)"
                select_params += [*where.params, self.count_cap + 1]
        order = order_by(table, q.sortby)
        if keyset is not None:
            rows = self._rows(f"SELECT {cols} FROM ({keyset[0]}) t ORDER BY {order} LIMIT {P}",
                              [*select_params, *keyset[1], q.limit])
        elif offset:
            # rows skipped by OFFSET still go through the select list: skip them with plain columns
            # and write geometry/JSON only for the page
            sql = (f"SELECT {cols} FROM (SELECT * FROM {t} WHERE {wsql} ORDER BY {order} LIMIT {P} OFFSET {P}) t "
                   f"ORDER BY {order}")
            rows = self._rows(sql, [*select_params, *params, q.limit, offset])
        else:
            rows = self._rows(f"SELECT {cols} FROM {t} t WHERE {wsql} ORDER BY {order} LIMIT {P}",
                              [*select_params, *params, q.limit])
        counted = None
        if inline:
            counted = rows[0][-1] if rows else None
            rows = [r[:-1] for r in rows]
        if not q.count:
            matched, exact = None, True
        elif q.offset == 0 and q.after is None and len(rows) < q.limit:
            matched, exact = len(rows), True  # the whole result is on this page: nothing to count
        elif known is not None:
            matched, exact = known, True
        elif counted is not None and counted <= self.count_cap:
            matched, exact = int(counted), True
        else:
            matched, exact = self._count(t, where.sql(), where.params)
        if json_out is not None:
            return FeaturePage(fids=[r[0] for r in rows], properties=[], wkb=[], number_matched=matched,
                               matched_exact=exact, json=[r[1] for r in rows])
        v = self._value
        return FeaturePage(
            fids=[r[0] for r in rows],
            properties=[dict(zip(names, (v(x) for x in r[1:-1]))) for r in rows],
            wkb=[self._wkb(r[-1]) for r in rows],
            number_matched=matched, matched_exact=exact,
        )

    def aggregate(self, q: FeatureQuery, groups: Sequence[Group] = (), area: shapely.Geometry | None = None
                  ) -> list[AggregateRow]:
        """Geodesic area and count of the features ``q`` selects (drawer entries, where each governs,
        bbox, property and CQL2 filters) per group, summed by the database; with ``area``, of their parts
        inside it. Each row's area is stored with it (``AREA_COLUMN``); only a feature an edge (of ``area``
        or of where its entry governs) cuts is measured again."""
        from .sql import AREA_COLUMN, TableSpec, build_where, quote_ident

        table = TableSpec.for_layer(q.layer)
        for grp in groups:
            if grp.field not in table.fields:
                raise InvalidParameterValue(f"{q.layer.id} has no field {grp.field!r} to group by")
        if q.bbox is not None and q.plan_ids:
            q = replace(q, plan_ids=self._meeting(table.name, q.plan_ids, q.bbox))
        where = build_where(self.dialect, table, plan_ids=q.plan_ids, bbox=q.bbox, filter_=q.filter,
                            props=q.props, transform=q.filter_transform, clip=q.clip)
        g = quote_ident(table.geom)
        if area is not None:
            area_params: list[Any] = []
            where.add(self.dialect.interiors_meet(g, area, area_params, table), area_params)
        sel: list[Any] = []
        m2 = self._m2_expr(table, q.clip, area, sel) if (q.clip or area is not None) else AREA_COLUMN
        keys = [f"substr({quote_ident(k.field)}, 1, {int(k.prefix)})" if k.prefix else quote_ident(k.field)
                for k in groups]
        cols = ", ".join([*keys, f"COALESCE(SUM({m2}), 0)", "COUNT(*)"])
        sql = f"SELECT {cols} FROM {self._table_sql(table.name)} WHERE {where.sql()}"
        if keys:
            positions = ", ".join(str(i + 1) for i in range(len(keys)))
            sql += f" GROUP BY {positions} ORDER BY {positions}"
        rows = self._rows(sql, [*sel, *where.params])
        n = len(keys)
        return [AggregateRow(tuple(r[:n]), float(r[n] or 0.0), int(r[n + 1])) for r in rows if int(r[n + 1])]

    def _m2_expr(self, table: Any, clip: dict[str, shapely.Geometry] | None, area: shapely.Geometry | None,
                 params: list[Any]) -> str:
        """Each row's area inside ``area`` and, for an entry in ``clip``, inside where it governs."""
        from .sql import AREA_COLUMN, quote_ident

        g = quote_ident(table.geom)
        whens = []
        for plan_id, part in sorted((clip or {}).items()):
            cut = part if area is None else shapely.intersection(part, area)
            params.append(plan_id)
            whens.append(f"WHEN {self.dialect.param} THEN {self.dialect.clipped_m2(g, AREA_COLUMN, cut, params)}")
        rest = AREA_COLUMN if area is None else self.dialect.clipped_m2(g, AREA_COLUMN, area, params)
        if not whens:
            return rest
        return f"(CASE {quote_ident(table.plan_column)} {' '.join(whens)} ELSE {rest} END)"

    def get(self, layer: Layer, fid: int) -> FeaturePage:
        """The feature with this id (an empty page when there is none)."""
        from .sql import TableSpec, quote_ident

        table = TableSpec.for_layer(layer)
        names = list(table.fields)
        cols = ", ".join(["fid", *(quote_ident(n) for n in names), self._geom_sql()])
        where, params = self._fid_where(table, fid)
        rows = self._rows(f"SELECT {cols} FROM {self._table_sql(table.name)} WHERE {where}", params)
        if not rows:
            return FeaturePage([], [], [], 0)
        r = rows[0]
        return FeaturePage([r[0]], [dict(zip(names, (self._value(x) for x in r[1:-1])))], [self._wkb(r[-1])], 1)

    @abstractmethod
    def vector_tile(self, layer: Layer, spec: Any) -> bytes:
        """One MVT layer for a tile (``tiles.mvt.TileSpec``); empty bytes when nothing is there."""

    @abstractmethod
    def layer_extent(self, layer: Layer, plan_ids: Iterable[str] | None = None
                     ) -> tuple[float, float, float, float] | None:
        """The bbox (lon/lat) of a layer's features, of these plans or of all."""

    @abstractmethod
    def write(self, plans: Sequence[Plan], batches: Sequence[FeatureBatch], *,
              replace_all: bool = False, events: Sequence[Event] = (),
              indicators: Sequence[PlanIndicator] = (), create: bool = False,
              population: Sequence[PopulationRow] = ()) -> None:
        """Register plans, write their features and record events in one transaction (all or nothing).

        ``events`` are recorded as they are; ``indicators`` replace the indicator tables of the
        plans they belong to; ``population`` rows are loaded as ``load_population`` does (with
        ``replace_all``, the population table is emptied first). ``create``: the plans are new entries; when one exists, or another
        writer creates it first (its write is waited for under a lock), a Conflict and nothing written.
        """

    @abstractmethod
    def geometries(self, layer: Layer, plan_ids: Sequence[str],
                   bbox: tuple[float, float, float, float] | None = None,
                   columns: Sequence[str] = ()) -> tuple[np.ndarray, dict[str, list]]:
        """All geometries (shapely) and the named columns of a layer's features in these plans."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def write_cursor(self) -> Any:
        """A context manager: a DB-API cursor inside one write transaction (committed on exit)."""

    @abstractmethod
    def transaction(self, op: Callable[[SqlRegistryTx], None]) -> None:
        """Run registry operations atomically (and let other processes see the change)."""

    def plan_layers(self, plan_id: str) -> dict[str, tuple[int, tuple[float, float, float, float]]]:
        """The layers a drawer entry holds: feature count and lon/lat extent per layer."""
        rows = self._rows(f"SELECT layer, features, minx, miny, maxx, maxy FROM {self._table_sql('plan_layers')} "
                          f"WHERE plan_id = {self.dialect.param} ORDER BY layer", [plan_id])
        return {r[0]: (int(r[1]), (r[2], r[3], r[4], r[5])) for r in rows}

    def plan_indicators(self, plan_id: str) -> list[PlanIndicator]:
        """The targets a drawer entry sets (its indicator table), by region and code."""
        cols = ", ".join(INDICATOR_COLUMNS)
        rows = self._rows(f"SELECT {cols} FROM {self._table_sql('plan_indicators')} "
                          f"WHERE plan_id = {self.dialect.param} ORDER BY region, code", [plan_id])
        return [PlanIndicator(**dict(zip(INDICATOR_COLUMNS, r))) for r in rows]

    # ---- population (常住人口 per region and year) ------------------------------
    def population(self, region: str | None = None, year: int | None = None) -> list[PopulationRow]:
        """Rows of the population table, by region and year: those of ``region`` and the regions under
        it, of ``year``, when given."""
        from .sql import quote_ident

        P = self.dialect.param
        where: list[str] = []
        params: list[Any] = []
        if region is not None:
            prefix = region_prefix(region)
            where.append(f"substr(region, 1, {len(prefix)}) = {P}")
            params.append(prefix)
        if year is not None:
            where.append(f"year = {P}")
            params.append(int(year))
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        cols = ", ".join(quote_ident(c) for c in POPULATION_COLUMNS)
        rows = self._rows(f"SELECT {cols} FROM {self._table_sql('population')} {cond} ORDER BY region, year", params)
        out = []
        for r in rows:
            rec = dict(zip(POPULATION_COLUMNS, r))
            rec["loaded_at"] = _instant(rec["loaded_at"])
            out.append(PopulationRow(**{**rec, "year": int(rec["year"]), "resident": int(rec["resident"]),
                                        "urban": int(rec["urban"])}))
        return out

    def load_population(self, rows: Sequence[PopulationRow], at: dt.datetime) -> None:
        """Replace the rows of the (region, year) pairs ``rows`` carry, in one transaction, and change the
        population version (every process's indicator values are computed again)."""
        with self.write_cursor() as cur:
            self._put_population(cur, rows, at)

    def delete_population(self, region: str, year: int | None = None) -> int:
        """Take a region's rows (of ``year`` only, when given) out of the table, in one transaction that
        changes the population version; returns how many went (a row loaded under a wrong code)."""
        P = self.dialect.param
        cond = f"region = {P}"
        params: list[Any] = [region]
        if year is not None:
            cond += f" AND year = {P}"
            params.append(int(year))
        with self.write_cursor() as cur:
            cur.execute(f"DELETE FROM {self._table_sql('population')} WHERE {cond}", params)
            gone = int(cur.rowcount)
            self._bump_population(cur)
        return gone

    def _put_population(self, cur: Any, rows: Sequence[PopulationRow], at: dt.datetime,
                        replace_all: bool = False) -> None:
        """``load_population`` inside an open write transaction (``replace_all``: every row goes first)."""
        from .sql import quote_ident

        P = self.dialect.param
        t = self._table_sql("population")
        cols = ", ".join(quote_ident(c) for c in POPULATION_COLUMNS)
        at_db = at.isoformat() if P == "?" else at  # the GeoPackage keeps times as ISO text
        if replace_all:
            cur.execute(f"DELETE FROM {t}")
        for r in rows:
            cur.execute(f"DELETE FROM {t} WHERE region = {P} AND year = {P}", (r.region, int(r.year)))
            cur.execute(f"INSERT INTO {t} ({cols}) VALUES ({', '.join([P] * len(POPULATION_COLUMNS))})",
                        (r.region, int(r.year), r.name, int(r.resident), int(r.urban), r.source, at_db))
        self._bump_population(cur)

    @abstractmethod
    def _bump_population(self, cur: Any) -> None:
        """Change the population version, inside the write transaction of ``cur``."""

    def tile_invalidations(self) -> list[tuple[str, tuple[float, float, float, float], float]]:
        """(layer, lon/lat bbox, effective epoch seconds) of every recorded invalidation.

        Read again only when the registry changes (invalidations are written by transitions).
        """
        version = self._current_version()
        cached = getattr(self, "_inval_cache", None)
        if cached is None or cached[0] != version:
            rows = self._rows(f"SELECT layer, minx, miny, maxx, maxy, effective FROM "
                              f"{self._table_sql('tile_invalidations')} ORDER BY id", [])
            cached = (version, [(r[0], (r[1], r[2], r[3], r[4]), float(r[5])) for r in rows])
            self._inval_cache = cached
        return cached[1]

    # ---- helpers shared by backends -----------------------------------------
    def field(self, layer: Layer, name: str) -> FieldDef:
        try:
            return layer.field_map[name]
        except KeyError:
            raise InvalidParameterValue(f"{layer.id} has no property {name!r}") from None

    @staticmethod
    def with_plan_state(props: dict[str, Any], plan: Plan | None) -> dict[str, Any]:
        """Add the drawer entry's current status and validity to a feature's properties."""
        if plan is not None:
            props["plan_status"] = plan.status
            props["plan_valid_from"] = plan.valid_from.isoformat() if plan.valid_from else None
            props["plan_valid_to"] = plan.valid_to.isoformat() if plan.valid_to else None
        return props


INDICATOR_COLUMNS = ("plan_id", "region", "code", "value", "unit", "kind", "name")
POPULATION_COLUMNS = ("region", "year", "name", "resident", "urban", "source", "loaded_at")

_DATE_FIELDS = ("approval_date", "valid_from", "valid_to")
# the registry columns each feature's drawer fields (catalogue.DRAWER_FIELDS, in order) are copied from
DRAWER_KEYS = ("id", "region", "level", "type", "subject", "version")
EVENT_COLUMNS = ("plan_id", "at", "by", "from_status", "to_status", "reason", "valid_from", "valid_to", "related")
CERTIFICATE_COLUMNS = ("id", "process", "plan_id", "created", "document", "html")


def _date(v: Any) -> dt.date | None:
    if isinstance(v, str):
        return dt.date.fromisoformat(v[:10])
    if isinstance(v, dt.datetime):
        return v.date()
    return v


def _instant(v: Any) -> dt.datetime | None:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=dt.UTC)
    return v


def plan_from_row(fid: int, values: Sequence[Any], outline_wkb: bytes | None) -> Plan:
    """A ``Plan`` from a registry row (``PLAN_FIELDS`` order); dates may come as ISO text."""
    rec = dict(zip(PLAN_FIELDS, values))
    for name in _DATE_FIELDS:
        rec[name] = _date(rec[name])
    rec["submitted_at"] = _instant(rec["submitted_at"])
    rec["subject"] = rec["subject"] or None
    outline = shapely.from_wkb(bytes(outline_wkb)) if outline_wkb else None
    return Plan(fid=fid, outline=outline, **rec)


def event_from_row(seq: int, values: Sequence[Any]) -> Event:
    """An ``Event`` from a plan_events row (``EVENT_COLUMNS`` order)."""
    rec = dict(zip(EVENT_COLUMNS, values))
    rec["at"] = _instant(rec["at"])
    rec["valid_from"], rec["valid_to"] = _date(rec["valid_from"]), _date(rec["valid_to"])
    return Event(seq=seq, **rec)


class SqlRegistryTx:
    """Registry operations inside one open transaction, for either backend's DB-API cursor."""

    def __init__(self, cur: Any, table: Callable[[str], str], param: str, lock: str = "") -> None:
        self.cur = cur
        self.plans_table = table("plans")
        self.events_table = table("plan_events")
        self.layers_table = table("plan_layers")
        self.invalidations_table = table("tile_invalidations")
        self.indicators_table = table("plan_indicators")
        self.certificates_table = table("certificates")
        self.p = param
        self.lock = lock
        self.outline_sql = "NULL"

    def _db(self, v: Any) -> Any:
        # the GeoPackage keeps dates and times as ISO text
        return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) and self.p == "?" else v

    def _select(self) -> str:
        cols = ", ".join(f'"{n}"' for n in PLAN_FIELDS)
        return f"SELECT fid, {cols}, {self.outline_sql} FROM {self.plans_table}"

    def lock_plan(self, plan_id: str) -> Plan | None:
        self.cur.execute(f"{self._select()} WHERE id = {self.p} {self.lock}", (plan_id,))
        row = self.cur.fetchone()
        return plan_from_row(row[0], row[1:-1], row[-1]) if row else None

    def drawer_plans(self, plan: Plan) -> list[Plan]:
        """Every entry of ``plan``'s drawer, locked (the drawer's rules are checked on a stable view)."""
        p = self.p
        self.cur.execute(f"{self._select()} WHERE region = {p} AND level = {p} AND type = {p} "
                         f"AND COALESCE(subject, '') = {p} ORDER BY fid {self.lock}",
                         (plan.region, plan.level, plan.type, plan.subject or ""))
        return [plan_from_row(r[0], r[1:-1], r[-1]) for r in self.cur.fetchall()]

    def set_plan(self, plan_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(PLAN_FIELDS)
        if unknown:
            raise ValueError(f"not plan fields: {sorted(unknown)}")
        if not fields:
            return
        sets = ", ".join(f'"{k}" = {self.p}' for k in fields)
        values = [self._db(v) for v in fields.values()]
        self.cur.execute(f"UPDATE {self.plans_table} SET {sets} WHERE id = {self.p}", (*values, plan_id))

    def invalidate_tiles(self, plan_id: str, effective: float) -> None:
        """Cached tiles of this plan's layers and area are stale from ``effective`` (epoch seconds)."""
        p = self.p
        self.cur.execute(f"INSERT INTO {self.invalidations_table} (layer, minx, miny, maxx, maxy, effective) "
                         f"SELECT layer, minx, miny, maxx, maxy, {p} FROM {self.layers_table} WHERE plan_id = {p} "
                         "AND minx IS NOT NULL", (effective, plan_id))

    def invalidate_area(self, layer: str, bbox: tuple[float, float, float, float], effective: float) -> None:
        """Cached tiles of ``layer`` meeting ``bbox`` are stale from ``effective``."""
        p = self.p
        self.cur.execute(f"INSERT INTO {self.invalidations_table} (layer, minx, miny, maxx, maxy, effective) "
                         f"VALUES ({', '.join([p] * 6)})", (layer, *bbox, effective))

    def add_plan_layer(self, plan_id: str, layer: str, features: int,
                       bounds: tuple[float, float, float, float] | None,
                       fids: tuple[int, int] | None = None) -> None:
        """Record that an entry holds a layer (with no features: it holds it and says "none here"),
        with the extent and the range of ids of its features."""
        p = self.p
        if bounds is not None and not all(math.isfinite(v) for v in bounds):
            bounds = None
        self.cur.execute(f"SELECT features, minx, miny, maxx, maxy, minfid, maxfid FROM {self.layers_table} "
                         f"WHERE plan_id = {p} AND layer = {p}", (plan_id, layer))
        row = self.cur.fetchone()
        if row is not None:
            if row[0] and (fids is None or row[5] is None):
                fids = None  # features written before ranges were kept: the range is unknown
            elif row[5] is not None and fids is not None:
                fids = (min(fids[0], row[5]), max(fids[1], row[6]))
            elif row[0] == 0 and fids is None:
                fids = None
            features += row[0]
            if row[1] is not None:
                old = (row[1], row[2], row[3], row[4])
                bounds = old if bounds is None else (min(bounds[0], old[0]), min(bounds[1], old[1]),
                                                     max(bounds[2], old[2]), max(bounds[3], old[3]))
            self.cur.execute(f"DELETE FROM {self.layers_table} WHERE plan_id = {p} AND layer = {p}", (plan_id, layer))
        self.cur.execute(f"INSERT INTO {self.layers_table} (plan_id, layer, features, minx, miny, maxx, maxy, "
                         f"minfid, maxfid) VALUES ({', '.join([p] * 9)})",
                         (plan_id, layer, features, *(bounds or (None,) * 4), *(fids or (None, None))))

    def set_indicators(self, indicators: Sequence[PlanIndicator]) -> None:
        """Replace the indicator tables of the plans these rows belong to."""
        p = self.p
        for plan_id in sorted({i.plan_id for i in indicators}):
            self.cur.execute(f"DELETE FROM {self.indicators_table} WHERE plan_id = {p}", (plan_id,))
        cols = ", ".join(INDICATOR_COLUMNS)
        for i in indicators:
            self.cur.execute(f"INSERT INTO {self.indicators_table} ({cols}) VALUES ({', '.join([p] * 7)})",
                             tuple(float(i.value) if c == "value" else getattr(i, c) for c in INDICATOR_COLUMNS))

    def add_event(self, event: Event) -> None:
        cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
        self.cur.execute(f"INSERT INTO {self.events_table} ({cols}) VALUES ({', '.join([self.p] * len(EVENT_COLUMNS))})",
                         tuple(self._db(v) for v in event.as_tuple()))

    def add_certificate(self, cert_id: str, process: str, plan_id: str | None, created: dt.datetime,
                        document: str, html: str | None) -> None:
        cols = ", ".join(f'"{c}"' for c in CERTIFICATE_COLUMNS)
        self.cur.execute(f"INSERT INTO {self.certificates_table} ({cols}) VALUES "
                         f"({', '.join([self.p] * len(CERTIFICATE_COLUMNS))})",
                         (cert_id, process, plan_id, self._db(created), document, html))


def backfill_history(cur: Any, table: Callable[[str], str], param: str, tz: str = "Asia/Shanghai") -> None:
    """Give a store written before the trace carried validity (schema 5 of the GeoPackage, 8 of PostGIS)
    a replayable history: the validity each old transition left, and a trace for entries with none.

    Entries without any event were written by hand or by an old demo: their transitions are
    recorded as of the days they took effect (the best that is known of when they were recorded).
    """
    from zoneinfo import ZoneInfo

    tx = SqlRegistryTx(cur, table, param)
    p = param
    cur.execute(f"SELECT id, status, valid_from, valid_to, submitted_at, submitted_by FROM {tx.plans_table}")
    plans = {r[0]: (r[1], _date(r[2]), _date(r[3]), _instant(r[4]), r[5]) for r in cur.fetchall()}
    cur.execute(f"SELECT id, plan_id, to_status FROM {tx.events_table} "
                f"WHERE valid_from IS NULL AND to_status IN ('filed', 'superseded', 'withdrawn')")
    for eid, pid, to in cur.fetchall():
        if pid not in plans:
            continue
        _, vf, vt, _, _ = plans[pid]
        cur.execute(f"UPDATE {tx.events_table} SET valid_from = {p}, valid_to = {p} WHERE id = {p}",
                    (tx._db(vf), tx._db(vt if to != "filed" else None), eid))
    cur.execute(f"SELECT DISTINCT plan_id FROM {tx.events_table}")
    traced = {r[0] for r in cur.fetchall()}
    zone = ZoneInfo(tz)
    for pid, (status, vf, vt, submitted, by) in sorted(plans.items()):
        if pid in traced:
            continue
        why = "recorded before the trace was kept (schema migration)"
        start = submitted or (dt.datetime.combine(vf, dt.time(), tzinfo=zone) if vf else
                              dt.datetime.now(zone).replace(microsecond=0))
        tx.add_event(Event(pid, start, by or "migration", None, "submitted", why))
        if status in FILED_STATES and vf is not None:
            at = max(start, dt.datetime.combine(vf, dt.time(), tzinfo=zone))
            tx.add_event(Event(pid, at, "migration", "approved", "filed", why, vf, None))
            if status != "filed" and vt is not None:
                tx.add_event(Event(pid, max(at, dt.datetime.combine(vt, dt.time(), tzinfo=zone)), "migration",
                                   "filed", status, why, vf, vt))
        elif status not in ("submitted",):
            tx.add_event(Event(pid, start, "migration", "submitted", status, why))


__all__ = [
    "CERTIFICATE_COLUMNS",
    "DRAWER_KEYS",
    "EVENT_COLUMNS",
    "FILED_STATES",
    "INDICATOR_COLUMNS",
    "PLAN_FIELDS",
    "PLAN_STATUSES",
    "Event",
    "FeatureBatch",
    "FeaturePage",
    "FeatureQuery",
    "GoverningPart",
    "Plan",
    "PlanIndicator",
    "PopulationRow",
    "SqlRegistryTx",
    "Store",
    "When",
    "backfill_history",
    "event_from_row",
    "plan_from_row",
    "region_covers",
    "region_prefix",
    "replace",
    "today",
]
