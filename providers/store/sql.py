"""SQL shared by both backends: WHERE clauses, ORDER BY, and CQL2 translated to SQL.

Every value is a bound parameter, every identifier is quoted, and every property name
is checked against the catalogue before any SQL is built. The two backends differ only
in a ``Dialect`` (placeholder style, how a spatial predicate and a bbox are written).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pygeofilter import ast, values

from onemap.config.catalogue import FieldDef, Layer
from onemap.config.errors import InvalidParameterValue

# CQL2 spatial predicates and the DE-9IM relation each one tests.
SPATIAL_OPS = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains",
    ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
    ast.GeometryEquals: "equals",
}
COMPARISON_SQL = {
    ast.ComparisonOp.EQ: "=",
    ast.ComparisonOp.NE: "<>",
    ast.ComparisonOp.LT: "<",
    ast.ComparisonOp.LE: "<=",
    ast.ComparisonOp.GT: ">",
    ast.ComparisonOp.GE: ">=",
}
ARITHMETIC_SQL = {
    ast.ArithmeticOp.ADD: "+",
    ast.ArithmeticOp.SUB: "-",
    ast.ArithmeticOp.MUL: "*",
    ast.ArithmeticOp.DIV: "/",
}
GEOMETRY_PROPERTY = "geometry"
# every layer row's geodesic area on CGCS2000 (m²), written with the row: statistics and indicators sum it in the
# database instead of measuring every geometry per question (10x faster at a million parcels); never served
AREA_COLUMN = "onemap_m2"
MAX_FILTER_NODES = 500
# nesting of a filter's conditions and expressions (a chain of ANDs or of ORs is one level): SQLite's
# parser refuses SQL nested much deeper (its parser stack holds about 100 entries, NOT (...) takes 2)
MAX_FILTER_DEPTH = 20
# integers are bound as 64-bit values (SQLite cannot bind a larger one; PostgreSQL's bigint is 64-bit)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (names come from the catalogue, never from requests)."""
    return '"' + name.replace('"', '""') + '"'


class Dialect:
    """How one backend writes parameters and spatial tests."""

    name = "abstract"
    param = "?"
    skip_locked = ""  # appended to a SELECT that claims a row other transactions may hold

    def binary(self, data: bytes) -> Any:
        """A bytes value as the driver binds it."""
        return data

    def geometry_literal(self, geom: shapely.Geometry, params: list) -> str:
        raise NotImplementedError

    def spatial(self, op: str, column: str, geom: shapely.Geometry, table: TableSpec,
                params: list) -> str:
        """``op`` between the table's geometry and a literal geometry (lon/lat)."""
        raise NotImplementedError

    def bbox(self, table: TableSpec, bbox: tuple[float, float, float, float], params: list) -> str:
        """Features whose geometry intersects the lon/lat box (OGC API bbox semantics)."""
        raise NotImplementedError

    def interiors_meet(self, column: str, geom: shapely.Geometry, params: list,
                       table: TableSpec | None = None) -> str:
        """The feature's interior meets the literal's (sharing an edge is not enough); ``table``
        lets a backend narrow by its spatial index first."""
        raise NotImplementedError

    def clipped(self, column: str, geom: shapely.Geometry, dim: int, params: list) -> str:
        """The feature cut to the literal (itself when the literal covers it), as a multi-geometry."""
        raise NotImplementedError

    def clipped_m2(self, column: str, m2_column: str, geom: shapely.Geometry, params: list) -> str:
        """The geodesic area (m²) of the feature's part inside the literal: the stored area when the literal
        covers the feature, measured on CGCS2000 otherwise."""
        raise NotImplementedError

    def casei(self, expr: str) -> str:
        return f"lower({expr})"

    def like(self, expr: str, pattern_param: str, negate: bool) -> str:
        return f"{expr} {'NOT ' if negate else ''}LIKE {pattern_param} ESCAPE '\\'"

    def in_list(self, expr: str, items: list, params: list, negate: bool = False) -> str:
        if not items:
            return "1=1" if negate else "1=0"
        params.extend(items)
        ph = ", ".join([self.param] * len(items))
        return f"{expr} {'NOT ' if negate else ''}IN ({ph})"


@dataclass(frozen=True)
class TableSpec:
    """A queryable table: its name, id and geometry columns and its fields."""

    name: str
    fields: dict[str, FieldDef]
    fid: str = "fid"
    geom: str = "geom"
    queryable: frozenset[str] = frozenset()
    plan_column: str = "plan_id"  # the column a drawer restriction applies to
    dim: int = 3  # the geometry's dimension (1 points, 2 lines, 3 polygons: ST_CollectionExtract's type)

    @classmethod
    def for_layer(cls, layer: Layer) -> TableSpec:
        dim = {"MultiPoint": 1, "MultiLineString": 2}.get(layer.geometry, 3)
        return cls(name=layer.id, fields={f.name: f for f in layer.stored_fields},
                   queryable=frozenset(layer.queryables), plan_column="plan_id" if layer.drawer else "id", dim=dim)


@dataclass
class Where:
    """A conjunction of SQL conditions and their parameters."""

    parts: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, params: list | tuple = ()) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(f"({p})" for p in self.parts) if self.parts else "1=1"


def coerce_value(f: FieldDef, raw: str) -> Any:
    """A query-parameter string as the field's type; a mismatch is a 400."""
    try:
        if f.type == "integer":
            value = int(raw)
            if not INT64_MIN <= value <= INT64_MAX:
                raise InvalidParameterValue(f"{f.name} is a 64-bit integer; {raw!r} is out of its range")
            return value
        if f.type == "number":
            number = float(raw)
            if not math.isfinite(number):
                raise InvalidParameterValue(f"{f.name} is a number; {raw!r} is not a finite one")
            return number
        if f.type == "date":
            return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameterValue(f"{f.name} is a {f.type}; {raw!r} is not") from None
    return raw


class CQLTranslator:
    """pygeofilter's CQL2 AST -> a SQL condition with bound parameters.

    Unknown properties, mistyped literals and unsupported operators are 400s, raised
    before any SQL runs. ``transform`` maps a literal geometry from the filter CRS to
    storage lon/lat.
    """

    def __init__(self, dialect: Dialect, table: TableSpec,
                 transform: Callable[[shapely.Geometry], shapely.Geometry] | None = None) -> None:
        self.d = dialect
        self.table = table
        self.transform = transform
        self.params: list[Any] = []
        self._nodes = 0
        self._depth = 0

    def translate(self, node: Any) -> tuple[str, list[Any]]:
        sql = self._cond(node)
        return sql, self.params

    def _tally(self) -> None:
        self._nodes += 1
        if self._nodes > MAX_FILTER_NODES:
            raise InvalidParameterValue(f"filter is too complex (more than {MAX_FILTER_NODES} terms)")

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_FILTER_DEPTH:
            raise InvalidParameterValue(f"filter is nested too deeply (more than {MAX_FILTER_DEPTH} levels)")

    def _terms(self, node: Any) -> list[Any]:
        """The operands of a chain of ANDs (or of ORs), in order: one level of SQL, however long."""
        kind, out, todo = type(node), [], [node]
        while todo:
            n = todo.pop()
            if type(n) is kind:
                self._tally()
                todo += [n.rhs, n.lhs]
            else:
                out.append(n)
        return out

    # -- conditions ------------------------------------------------------------
    def _cond(self, node: Any) -> str:
        self._enter()
        try:
            return self._condition(node)
        finally:
            self._depth -= 1

    def _condition(self, node: Any) -> str:
        if isinstance(node, (ast.And, ast.Or)):
            op = " AND " if isinstance(node, ast.And) else " OR "
            return "(" + op.join(self._cond(t) for t in self._terms(node)) + ")"
        self._tally()
        if isinstance(node, ast.Not):
            return f"(NOT {self._cond(node.sub_node)})"
        if isinstance(node, ast.Include):
            return "1=0" if node.not_ else "1=1"
        if isinstance(node, ast.Comparison):
            lhs, lt = self._expr(node.lhs)
            rhs, rt = self._expr(node.rhs)
            self._check_types(lt, rt, node)
            return f"{lhs} {COMPARISON_SQL[node.op]} {rhs}"
        if isinstance(node, ast.Between):
            lhs, lt = self._expr(node.lhs)
            lo, lot = self._expr(node.low)
            hi, hit = self._expr(node.high)
            self._check_types(lt, lot, node)
            self._check_types(lt, hit, node)
            return f"{lhs} {'NOT ' if node.not_ else ''}BETWEEN {lo} AND {hi}"
        if isinstance(node, ast.Like):
            lhs, lt = self._expr(node.lhs)
            if lt not in ("string", None):
                raise InvalidParameterValue("LIKE applies to text properties only")
            if not isinstance(node.pattern, str):
                raise InvalidParameterValue("LIKE needs a text pattern")
            pattern = node.pattern
            if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
                # the backslash escapes the character after it; at the end it escapes nothing
                raise InvalidParameterValue("a LIKE pattern ends with the escape character \\ "
                                            "(write \\\\ for a backslash)")
            if node.nocase:
                lhs = self.d.casei(lhs)
                pattern = pattern.lower()
            self.params.append(pattern)
            return self.d.like(lhs, self.d.param, node.not_)
        if isinstance(node, ast.In):
            lhs, lt = self._expr(node.lhs)
            items = []
            for sub in node.sub_nodes:
                if isinstance(sub, ast.Node):
                    raise InvalidParameterValue("IN takes a list of literal values")
                self._check_types(lt, _literal_type(sub), node)
                items.append(_literal_value(sub))
            return self.d.in_list(lhs, items, self.params, node.not_)
        if isinstance(node, ast.IsNull):
            lhs, _ = self._expr(node.lhs)
            return f"{lhs} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.BBox):
            self._geometry_attr(node.lhs)
            if node.crs:
                raise InvalidParameterValue("BBOX with its own CRS is not supported; use filter-crs")
            if node.minx > node.maxx or node.miny > node.maxy:
                raise InvalidParameterValue("BBOX: min must not exceed max")
            geom = shapely.box(node.minx, node.miny, node.maxx, node.maxy)
            return self.d.spatial("intersects", self.table.geom, self._to_storage(geom),
                                  self.table, self.params)
        if type(node) in SPATIAL_OPS:
            op = SPATIAL_OPS[type(node)]
            if isinstance(node.lhs, ast.Attribute):
                self._geometry_attr(node.lhs)
                geom = self._geometry_value(node.rhs)
            elif isinstance(node.rhs, ast.Attribute):
                self._geometry_attr(node.rhs)
                geom = self._geometry_value(node.lhs)
                op = {"within": "contains", "contains": "within"}.get(op, op)
            else:
                raise InvalidParameterValue("a spatial predicate needs the property 'geometry'")
            return self.d.spatial(op, self.table.geom, self._to_storage(geom), self.table, self.params)
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        if isinstance(node, bool):
            return "1=1" if node else "1=0"
        if isinstance(node, ast.Attribute):
            raise InvalidParameterValue(f"{node.name!r} is not a condition")
        name = type(node).__name__
        raise InvalidParameterValue(f"the filter uses {name}, which this server does not support")

    # -- expressions -------------------------------------------------------------
    def _expr(self, node: Any) -> tuple[str, str | None]:
        """SQL of a scalar expression, with its type (string/number/date; None if unknown)."""
        self._enter()
        try:
            return self._expression(node)
        finally:
            self._depth -= 1

    def _expression(self, node: Any) -> tuple[str, str | None]:
        if isinstance(node, ast.Attribute):
            f = self._field(node.name)
            return quote_ident(f.name), _field_kind(f)
        if isinstance(node, ast.Function):
            name = node.name.lower()
            if name in ("lower", "casei") and len(node.arguments) == 1:
                sql, t = self._expr(node.arguments[0])
                if t not in ("string", None):
                    raise InvalidParameterValue("CASEI applies to text")
                return self.d.casei(sql), "string"
            raise InvalidParameterValue(f"function {node.name!r} is not supported")
        if isinstance(node, ast.Arithmetic):
            lhs, lt = self._expr(node.lhs)
            rhs, rt = self._expr(node.rhs)
            for t in (lt, rt):
                if t not in ("number", None):
                    raise InvalidParameterValue("arithmetic applies to numbers")
            return f"({lhs} {ARITHMETIC_SQL[node.op]} {rhs})", "number"
        if isinstance(node, (values.Geometry, values.Envelope)):
            raise InvalidParameterValue("a geometry can only be used in a spatial predicate")
        if isinstance(node, (ast.Node, list, values.Interval)):
            raise InvalidParameterValue(f"{type(node).__name__} cannot be compared")
        self.params.append(_literal_value(node))
        return self.d.param, _literal_type(node)

    def _field(self, name: str) -> FieldDef:
        if name == GEOMETRY_PROPERTY:
            raise InvalidParameterValue("'geometry' can only be used in spatial predicates")
        f = self.table.fields.get(name)
        if f is None or name not in self.table.queryable:
            raise InvalidParameterValue(
                f"unknown property {name!r} in filter (see the collection's queryables)"
            )
        return f

    def _geometry_attr(self, node: Any) -> None:
        if not (isinstance(node, ast.Attribute) and node.name == GEOMETRY_PROPERTY):
            raise InvalidParameterValue("spatial predicates apply to the property 'geometry'")

    def _geometry_value(self, node: Any) -> shapely.Geometry:
        if isinstance(node, values.Envelope):
            return shapely.box(node.x1, node.y1, node.x2, node.y2)
        if isinstance(node, values.Geometry):
            try:
                geom = shapely.geometry.shape(node.geometry)
            except Exception:  # noqa: BLE001  (shapely's constructors raise several kinds)
                raise InvalidParameterValue("the filter holds a malformed geometry") from None
            if geom.is_empty:
                raise InvalidParameterValue("the filter holds an empty geometry")
            return geom
        raise InvalidParameterValue("a spatial predicate needs a geometry literal")

    def _to_storage(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A literal geometry in storage lon/lat, valid; one that cannot be (an infinite coordinate, a
        point PROJ cannot bring from filter-crs) is the client's 400, before GEOS or the database see it."""
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise InvalidParameterValue("the filter holds a geometry with a coordinate that is not a finite number")
        if self.transform is not None:
            try:
                geom = self.transform(geom)
            except Exception:  # noqa: BLE001  (pyproj raises several kinds; each is the client's geometry)
                raise InvalidParameterValue("a filter geometry cannot be transformed from filter-crs") from None
        x0, y0, x1, y1 = shapely.bounds(geom).tolist()
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):  # NaN or infinite fails too
            where = "the area of use of filter-crs" if self.transform is not None else \
                "the valid range of longitude and latitude"
            raise InvalidParameterValue(f"a filter geometry lies outside {where}")
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
        return geom

    def _temporal(self, node: Any) -> str:
        lhs, lt = self._expr(node.lhs) if isinstance(node.lhs, ast.Attribute) else (None, None)
        if lhs is None or lt != "date":
            raise InvalidParameterValue("temporal predicates apply to date properties")
        rhs = node.rhs
        if isinstance(rhs, values.Interval):
            start, end = _as_date(rhs.start), _as_date(rhs.end)
        elif isinstance(rhs, (dt.date, dt.datetime)):
            start = end = _as_date(rhs)
        else:
            raise InvalidParameterValue("a temporal predicate needs a date or an interval")
        op = node.op
        P = self.d.param
        T = ast.TemporalComparisonOp
        if op in (T.INTERSECTS,):
            parts = []
            if start is not None:
                parts.append(f"{lhs} >= {P}")
                self.params.append(start)
            if end is not None:
                parts.append(f"{lhs} <= {P}")
                self.params.append(end)
            return " AND ".join(parts) or f"{lhs} IS NOT NULL"
        if op == T.DISJOINT:
            parts = []
            if start is not None:
                parts.append(f"{lhs} < {P}")
                self.params.append(start)
            if end is not None:
                parts.append(f"{lhs} > {P}")
                self.params.append(end)
            return "(" + " OR ".join(parts) + ")" if parts else "1=0"
        if op == T.BEFORE and start is not None:
            self.params.append(start)
            return f"{lhs} < {P}"
        if op == T.AFTER and end is not None:
            self.params.append(end)
            return f"{lhs} > {P}"
        if op == T.EQUALS and start is not None and start == end:
            self.params.append(start)
            return f"{lhs} = {P}"
        if op == T.DURING and start is not None and end is not None:
            self.params.extend([start, end])
            return f"{lhs} > {P} AND {lhs} < {P}"
        raise InvalidParameterValue(f"temporal operator {op.name} is not supported on dates")

    @staticmethod
    def _check_types(lt: str | None, rt: str | None, node: Any) -> None:
        if lt is None or rt is None or lt == rt:
            return
        raise InvalidParameterValue(
            f"type mismatch in filter: cannot compare a {lt} with a {rt}"
        )


def _field_kind(f: FieldDef) -> str:
    return {"string": "string", "integer": "number", "number": "number", "date": "date"}[f.type]


def _literal_type(v: Any) -> str | None:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (dt.date, dt.datetime)):
        return "date"
    return None


def _literal_value(v: Any) -> Any:
    """A literal as it is bound; a number no backend can hold is the client's 400."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
        raise InvalidParameterValue(f"the integer {v} in the filter is out of range (64-bit integers)")
    if isinstance(v, float) and not math.isfinite(v):
        raise InvalidParameterValue("a number in the filter is too large (it is not a finite number)")
    if isinstance(v, dt.datetime):
        return v.date()
    return v


def _as_date(v: Any) -> dt.date | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    raise InvalidParameterValue("interval ends must be dates")


def order_by(table: TableSpec, sortby: list[tuple[str, bool]]) -> str:
    """ORDER BY on allow-listed fields, always ending with the id so pages are stable.

    The default order is (drawer entry, id): it follows the (plan_id, fid) index, so a page
    of the plan in force never scans past the rows of superseded versions.
    """
    if not sortby:
        return f"{quote_ident(table.plan_column)} ASC, {quote_ident(table.fid)} ASC"
    parts = []
    for name, asc in sortby:
        if name not in table.fields:
            raise InvalidParameterValue(f"cannot sort by unknown property {name!r}")
        parts.append(f"{quote_ident(name)} {'ASC' if asc else 'DESC'}")
    parts.append(f"{quote_ident(table.fid)} ASC")
    return ", ".join(parts)


def drawer_condition(dialect: Dialect, table: TableSpec, plan_ids: tuple[str, ...],
                     clip: dict[str, shapely.Geometry] | None, params: list) -> str:
    """The rows of these drawer entries; of an entry in ``clip``, only those meeting its area."""
    pc = quote_ident(table.plan_column)
    whole = [p for p in plan_ids if not clip or p not in clip]
    parts = [dialect.in_list(pc, whole, params)] if whole or not clip else []
    for plan_id, area in sorted((clip or {}).items()):
        if plan_id not in plan_ids:
            continue
        params.append(plan_id)
        parts.append(f"({pc} = {dialect.param} AND "
                     f"{dialect.interiors_meet(quote_ident(table.geom), area, params, table)})")
    return " OR ".join(parts) if parts else "1=0"


def geometry_expr(dialect: Dialect, table: TableSpec, clip: dict[str, shapely.Geometry] | None,
                  params: list) -> str:
    """The feature geometry a query returns: cut to its plan's area for the entries in ``clip``."""
    g = quote_ident(table.geom)
    if not clip:
        return g
    whens = []
    for plan_id, area in sorted(clip.items()):
        params.append(plan_id)
        whens.append(f"WHEN {dialect.param} THEN {dialect.clipped(g, area, table.dim, params)}")
    return f"(CASE {quote_ident(table.plan_column)} {' '.join(whens)} ELSE {g} END)"


def build_where(dialect: Dialect, table: TableSpec, *, plan_ids: tuple[str, ...] | None,
                bbox: tuple[float, float, float, float] | None, filter_: Any,
                props: list[tuple[str, Any]],
                transform: Callable[[shapely.Geometry], shapely.Geometry] | None = None,
                clip: dict[str, shapely.Geometry] | None = None) -> Where:
    """The WHERE of a feature query: drawer (and where each entry governs), bbox, property filters and CQL2."""
    w = Where()
    if plan_ids is not None:
        w.add(drawer_condition(dialect, table, plan_ids, clip, w.params))
    if bbox is not None:
        w.add(dialect.bbox(table, bbox, w.params))
    for name, value in props:
        f = table.fields.get(name)
        if f is None or name not in table.queryable:
            raise InvalidParameterValue(f"unknown property {name!r}")
        w.add(f"{quote_ident(name)} = {dialect.param}", [value])
    if filter_ is not None:
        sql, params = CQLTranslator(dialect, table, transform).translate(filter_)
        w.add(sql, params)
    return w
