"""Query parameters, each declared once: its name, its meaning, its JSON schema and its parser.

The server's routes validate requests with these declarations (an unknown or repeated
parameter is a 400 that names it), the OpenAPI document describes the same objects, and
the pygeoapi feature provider feeds pygeoapi's arguments through them: one reading of a
parameter wherever a request comes from.

A parser checks one value on its own (syntax, range) and returns it in storage terms where
that needs nothing else; checks across parameters (``bbox`` in ``bbox-crs``'s axis order)
belong to the query they build (``providers.features.items_query``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from onemap.config.catalogue import FieldDef
from onemap.config.errors import InvalidParameterValue, PayloadTooLarge, UnknownParameter
from onemap.domain.dates import When, parse_recorded, parse_when
from onemap.domain.regions import check_region

from . import crs as crsmod
from .drawers import VIEWS
from .store.sql import INT64_MAX, coerce_value

MAX_OFFSET = 50_000_000
MAX_FILTER_LENGTH = 20_000
# a POSTed CQL2 JSON filter (bytes): a larger body is refused (413) before it is read
MAX_BODY_FILTER = MAX_FILTER_LENGTH * 5


@dataclass(frozen=True)
class ParamContext:
    """What parsing needs to know about this server (the same for every request)."""

    crs_list: tuple[str, ...] = (crsmod.CRS84,)
    timezone: str = "Asia/Shanghai"
    default_items: int = 10
    max_items: int = 10_000


Parser = Callable[[str, ParamContext], Any]
Schema = dict[str, Any] | Callable[[ParamContext], dict[str, Any]]


def _text(raw: str, ctx: ParamContext) -> str:
    return raw


@dataclass(frozen=True)
class Param:
    """One query parameter. ``key`` names it in the OpenAPI components (variants of ``f`` differ)."""

    name: str
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    parse: Parser = _text
    default: Any = None
    key: str = ""
    explode: bool = False

    @property
    def component(self) -> str:
        return self.key or self.name

    def json_schema(self, ctx: ParamContext) -> dict[str, Any]:
        return self.schema(ctx) if callable(self.schema) else self.schema

    def openapi(self, ctx: ParamContext) -> dict[str, Any]:
        """The OpenAPI 3.0 parameter object."""
        return {"name": self.name, "in": "query", "required": False, "description": self.description,
                "schema": self.json_schema(ctx), "style": "form", "explode": self.explode}

    def read(self, raw: str | None, ctx: ParamContext) -> Any:
        if raw is None:
            return self.default(ctx) if callable(self.default) else self.default
        return self.parse(raw, ctx)


class Args(dict[str, Any]):
    """A request's parameters, parsed: declared ones by name, plus ``props`` (property filters)
    and the raw mapping (links repeat it)."""

    def __init__(self, values: dict[str, Any], props: list[tuple[str, Any]], raw: Mapping[str, str]) -> None:
        super().__init__(values)
        self.props = props
        self.raw = raw


class ParamSet:
    """The parameters of one operation, ready to read requests (defaults worked out once)."""

    def __init__(self, params: Iterable[Param], ctx: ParamContext) -> None:
        self.declared = {p.name: p for p in params}
        self.ctx = ctx
        self.defaults = {name: p.read(None, ctx) for name, p in self.declared.items()}

    def parse(self, raw: Any, extra: Mapping[str, Param] | None = None) -> Args:
        """Check and parse a request's query parameters.

        ``raw`` is a MultiDict (werkzeug's, or anything iterating over its keys with ``getlist``). A name neither
        declared nor in ``extra`` (a collection's queryables) is a 400, as is a repeated one;
        declared names keep their API meaning even where a layer has a property of that name.
        """
        values = dict(self.defaults)
        props = []
        for name in raw:  # a MultiDict iterates over its keys, once each
            p = self.declared.get(name)
            if p is None and (extra is None or name not in extra):
                raise UnknownParameter(f"unknown query parameter {name!r}")
            given = raw.getlist(name)
            if len(given) > 1:
                raise InvalidParameterValue(f"query parameter {name!r} is given more than once")
            if p is not None:
                values[name] = p.parse(given[0], self.ctx)
            else:
                assert extra is not None
                props.append((name, extra[name].parse(given[0], self.ctx)))
        return Args(values, props, raw)


def parse_args(params: Iterable[Param], raw: Any, ctx: ParamContext,
               extra: Mapping[str, Param] | None = None) -> Args:
    """``ParamSet(params, ctx).parse(raw, extra)`` for a one-off reading."""
    return ParamSet(params, ctx).parse(raw, extra)


def property_param(f: FieldDef) -> Param:
    """A queryable property as an equality filter (``?DLBM=0101``)."""
    schema: dict[str, Any] = {"type": f.json_type}
    if f.type == "string" and f.length:
        schema["maxLength"] = f.length
    if f.type == "date":
        schema = {"type": "string", "format": "date"}
    return Param(f.name, f"Features whose {f.name} ({f.label('zh')} / {f.label('en')}) equals this value.",
                 schema, lambda raw, ctx: coerce_value(f, raw))


# ---- parsers ---------------------------------------------------------------------------------------
def parse_int(name: str, minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(raw: str, ctx: ParamContext) -> int | None:
        if raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            raise InvalidParameterValue(f"{name} must be an integer, not {raw!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            lo = "" if minimum is None else str(minimum)
            hi = "" if maximum is None else str(maximum)
            raise InvalidParameterValue(f"{name} must be between {lo or '-inf'} and {hi or 'inf'} (got {value})")
        return value

    return parse


def _limit(raw: str, ctx: ParamContext) -> int:
    """Below 1 is a 400; above the maximum is capped (OGC API - Features /req/core/fc-limit-response-1)."""
    value = parse_int("limit")(raw, ctx)
    if value is None:
        return ctx.default_items
    if value < 1:
        raise InvalidParameterValue(f"limit must be at least 1 (got {value})")
    return min(value, ctx.max_items)


def _bbox(raw: str, ctx: ParamContext) -> tuple[float, ...]:
    """4 numbers (or 6 with heights, which are dropped), finite, lower corner first."""
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameterValue("bbox takes 4 numbers (or 6 with heights)")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterValue("bbox values must be numbers") from None
    if not all(math.isfinite(n) for n in nums):
        raise InvalidParameterValue("bbox values must be finite numbers")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if nums[0] > nums[2] or nums[1] > nums[3]:
        raise InvalidParameterValue("bbox: each lower corner value must not exceed the upper one")
    return tuple(nums)


def bbox_to_storage(nums: tuple[float, ...], bbox_crs: str) -> tuple[float, float, float, float]:
    """A parsed ``bbox`` in ``bbox_crs``'s axis order -> storage lon/lat (a 400 outside its area)."""
    a0, b0, a1, b1 = nums
    info = crsmod.crs_info(bbox_crs)
    if info.epsg in (None, 4490, 4326):
        lat = (b0, b1) if not info.flip else (a0, a1)
        lon = (a0, a1) if not info.flip else (b0, b1)
        if not (-90 <= lat[0] <= 90 and -90 <= lat[1] <= 90 and -180 <= lon[0] <= 180 and -180 <= lon[1] <= 180):
            raise InvalidParameterValue("bbox is outside the valid range of longitude and latitude")
    try:
        out = crsmod.bbox_to_storage((a0, b0, a1, b1), bbox_crs)
    except Exception:  # noqa: BLE001  (pyproj raises several kinds; each is the client's box)
        raise InvalidParameterValue("bbox cannot be transformed from bbox-crs") from None
    if not all(math.isfinite(v) for v in out):
        raise InvalidParameterValue("bbox is outside the area of use of bbox-crs")
    return out


def crs_parser(what: str) -> Parser:
    def parse(raw: str, ctx: ParamContext) -> str:
        return crsmod.parse_crs(raw, list(ctx.crs_list), what)

    return parse


def _datetime(raw: str, ctx: ParamContext) -> When | None:
    return parse_when(raw, ctx.timezone) if raw.strip() else None


def _recorded(raw: str, ctx: ParamContext) -> dt.datetime | None:
    return parse_recorded(raw, ctx.timezone)


def parse_region(raw: str, ctx: ParamContext) -> str:
    check_region(raw)
    return raw


def _plan_id(raw: str, ctx: ParamContext) -> str:
    if not raw or len(raw) > 64:
        raise InvalidParameterValue("plan_id must be a plan identifier (at most 64 characters)")
    return raw


def _view(raw: str, ctx: ParamContext) -> str:
    if raw not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {raw!r}")
    return raw


def _boolean(name: str) -> Parser:
    def parse(raw: str, ctx: ParamContext) -> bool:
        if raw.lower() not in ("true", "false"):
            raise InvalidParameterValue(f"{name} must be true or false")
        return raw.lower() == "true"

    return parse


def _names(raw: str, ctx: ParamContext) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _sortby(raw: str, ctx: ParamContext) -> list[tuple[str, bool]]:
    out = []
    for item in raw.split(","):
        item = item.strip()
        if item:
            out.append((item.lstrip("+-").strip(), not item.startswith("-")))
    return out


# what clients send for CQL2 text: GDAL's OAPIF driver (and Part 3's drafts) say cql-text
FILTER_LANG_ALIASES = {"cql-text": "cql2-text"}


def _filter_lang(raw: str, ctx: ParamContext) -> str:
    lang = raw.lower()
    lang = FILTER_LANG_ALIASES.get(lang, lang)
    if lang not in ("cql2-text", "cql2-json"):
        raise InvalidParameterValue("filter-lang must be cql2-text (or cql-text) or cql2-json")
    return lang


def _filter_text(raw: str, ctx: ParamContext) -> str:
    if len(raw) > MAX_FILTER_LENGTH:
        raise InvalidParameterValue("filter is too long")
    return raw


def parse_filter(text: str | None, lang: str, body: bytes | None) -> Any:
    """``filter`` as CQL2 text (or CQL2 JSON with ``filter-lang``), else a POSTed CQL2 JSON body."""
    if text is not None:
        try:
            return parse_cql2_text(text) if lang == "cql2-text" else parse_cql2_json(text)
        except RecursionError:  # json's and pygeofilter's readers recurse once per level
            raise InvalidParameterValue("filter is nested too deeply") from None
        except Exception:  # noqa: BLE001  (pygeofilter's parsers raise lark's and their own errors)
            raise InvalidParameterValue(f"filter is not valid {lang.upper()}") from None
    if body:
        if len(body) > MAX_BODY_FILTER:
            raise PayloadTooLarge(f"the CQL2 JSON filter in the body is larger than {MAX_BODY_FILTER:,} bytes")
        try:
            return parse_cql2_json(body.decode("utf-8"))
        except RecursionError:
            raise InvalidParameterValue("the CQL2 JSON filter in the body is nested too deeply") from None
        except Exception:  # noqa: BLE001  (as above, plus UnicodeDecodeError)
            raise InvalidParameterValue("the request body is not a valid CQL2 JSON filter") from None
    return None


def _lang(raw: str, ctx: ParamContext) -> str:
    return "en" if raw.lower().startswith("en") else "zh"


def format_param(*formats: str, key: str = "f", description: str | None = None) -> Param:
    """``f``: one of ``formats`` (``geojson`` is JSON); anything else is a 400 naming what is offered.
    Absent, it stays None and the route negotiates (Accept header)."""
    allowed = tuple(formats)

    def parse(raw: str, ctx: ParamContext) -> str:
        f = raw.lower()
        if f == "geojson" and "json" in allowed:
            f = "json"
        if f not in allowed:
            raise InvalidParameterValue(f"f={f!r} is not offered here; use one of {', '.join(allowed)}")
        return f

    return Param("f", description or f"Output format: {', '.join(allowed)}.",
                 {"type": "string", "enum": list(allowed)}, parse, key=key)


DOWNLOAD_FORMATS = ("csv", "gpkg", "shp", "fgb")


def items_format(maximum: int) -> Param:
    """``f`` of the items: a page (json, html) or a download of the whole selection (``providers.export``);
    ``maximum`` is the most features a download may hold (``download_max_features``)."""
    return format_param(
        "json", "html", *DOWNLOAD_FORMATS, key="f-items",
        description=f"Output format: json (GeoJSON, a page) or html; or a download of the whole selection (every "
                    f"page, with the same filters, datetime, drawer parameters and crs; limit, if given, takes its "
                    f"first features, up to the page maximum; offset skips features; after is refused): csv (UTF-8 with BOM, the geometry "
                    f"as WKT in the first column), gpkg (GeoPackage), shp (a zipped Shapefile, DBF text in GBK), "
                    f"fgb (FlatGeobuf). Files put x east, y north whatever the crs. A download holds at most "
                    f"{maximum:,} features: a larger selection is a 400 (narrow it with bbox, filter or region).")


# ---- the declarations ------------------------------------------------------------------------------
F = format_param("json", "html", description="Output format: JSON (GeoJSON for features) or HTML.")
F_JSON = format_param("json", key="f-json", description="Output format: JSON.")
LANG = Param("lang", "Language of titles and labels (zh default, or en).",
             {"type": "string", "enum": ["zh", "zh-CN", "en", "en-US"]}, _lang)
BBOX = Param("bbox", "Only features intersecting this box: minx,miny,maxx,maxy (or 6 numbers with heights), "
             "in the axis order of bbox-crs (CRS84 lon,lat by default).",
             {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, _bbox)
BBOX_CRS = Param("bbox-crs", "CRS of bbox (URI or EPSG:code); default CRS84.", parse=crs_parser("bbox-crs"))
CRS = Param("crs", "CRS of the response geometries (URI or EPSG:code), in that CRS's axis order.",
            lambda ctx: {"type": "string", "enum": list(ctx.crs_list)}, crs_parser("crs"), default=crsmod.CRS84)
FILTER_CRS = Param("filter-crs", "CRS of geometry literals in filter; default CRS84.",
                   parse=crs_parser("filter-crs"), default=crsmod.CRS84)
DATETIME = Param("datetime", "The one map at this date (RFC 3339 date or date-time) or during an interval "
                 "(start/end, '..' open). Default: today, i.e. the plans in force now.", parse=_datetime)
RECORDED = Param("recorded", "The registry as it stood at this date or date-time (a date: the end of that day): "
                 "a filing recorded later, even one dated back, is not seen. Default: as it stands now.",
                 parse=_recorded)
VIEW = Param("view", "all (default): every plan in force, a province's and a city's copy of a line on top of "
             "each other; governing: only the plan that governs each area (the lowest level holding the layer "
             "there), features cut to where their plan governs.",
             {"type": "string", "enum": list(VIEWS), "default": "all"}, _view, default="all")
REGION = Param("region", "Drawer region: plans of this administrative division and of every region under it "
               "(990100 covers 990102, 990102001, ...).", {"type": "string", "pattern": "^[0-9]{6,12}$"}, parse_region)
PLAN_ID = Param("plan_id", "One drawer entry, whatever its status (e.g. a submission under review); overrides "
                "datetime.", {"type": "string", "maxLength": 64}, _plan_id)
LIMIT = Param("limit", "Page size (larger values are capped).",
              lambda ctx: {"type": "integer", "minimum": 1, "maximum": ctx.max_items, "default": ctx.default_items},
              _limit, default=lambda ctx: ctx.default_items)
OFFSET = Param("offset", "Number of features to skip.", {"type": "integer", "minimum": 0, "default": 0},
               parse_int("offset", 0, MAX_OFFSET), default=0)
AFTER = Param("after", "Keyset cursor from a 'next' link: continue after this feature id.",
              {"type": "integer", "minimum": 0, "maximum": INT64_MAX}, parse_int("after", 0, INT64_MAX))
SORTBY = Param("sortby", "Comma-separated queryable properties, '-' prefix for descending.", parse=_sortby,
               default=())
PROPERTIES = Param("properties", "Comma-separated properties to return.", parse=_names)
SKIP_GEOMETRY = Param("skipGeometry", "Leave geometries out.", {"type": "boolean"}, _boolean("skipGeometry"),
                      default=False)
FILTER = Param("filter", "A CQL2 filter (text by default).", parse=_filter_text)
FILTER_LANG = Param("filter-lang", "Language of filter (cql-text is read as cql2-text).",
                    {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"},
                    _filter_lang,
                    default="cql2-text")

GROUP_BY = Param("group_by", "Statistics: comma-separated fields to group by (at most 3, e.g. DLBM) and at most "
                 "one region level (region:province, region:city, region:county or region:township).",
                 parse=_names, default=())
AREA = Param("area", "Statistics: only within this region (a 6, 9 or 12 digit code), as the land survey in force "
             "on the date draws it.", {"type": "string", "pattern": "^[0-9]{6,12}$"}, parse_region)
F_STATISTICS = format_param("json", "csv", "xlsx", key="f-statistics",
                            description="Output format: json, csv (UTF-8 with BOM, for Excel) or xlsx.")

DRAWER = (DATETIME, VIEW, RECORDED)
ITEMS = (F, LANG, BBOX, BBOX_CRS, CRS, DATETIME, LIMIT, OFFSET, AFTER, SORTBY, PROPERTIES, SKIP_GEOMETRY,
         FILTER, FILTER_LANG, FILTER_CRS, REGION, PLAN_ID, VIEW, RECORDED)
ITEMS_POST = tuple(p for p in ITEMS if p not in (FILTER, FILTER_LANG))
ITEM = (F, LANG, CRS)
STATISTICS = (F_STATISTICS, LANG, GROUP_BY, AREA, BBOX, BBOX_CRS, DATETIME, FILTER, FILTER_LANG, PLAN_ID, RECORDED)
