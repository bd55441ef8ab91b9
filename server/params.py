"""Query parameters: every one checked before anything runs; a mistake is a 400 that names it."""

from __future__ import annotations

import math
from typing import Any

from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from werkzeug.datastructures import MultiDict

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue, UnknownParameter
from onemap.providers import crs as crsmod
from onemap.providers.drawers import VIEWS, check_region, parse_recorded, parse_when
from onemap.providers.features import ItemsQuery
from onemap.providers.store.sql import coerce_value

COMMON = frozenset({"f", "lang"})
ITEMS = COMMON | {
    "bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "sortby", "properties",
    "skipGeometry", "filter", "filter-lang", "filter-crs", "region", "plan_id", "after", "view", "recorded",
}
ITEM = COMMON | {"crs"}
MAX_OFFSET = 50_000_000
MAX_FILTER_LENGTH = 20_000


def check_known(args: MultiDict, allowed: frozenset[str] | set[str], extra: set[str] = frozenset()) -> None:
    """A query parameter the API does not define is a 400 (not silently ignored)."""
    for name in args.keys():
        if name not in allowed and name not in extra:
            raise UnknownParameter(f"unknown query parameter {name!r}")
        if len(args.getlist(name)) > 1:
            raise InvalidParameterValue(f"query parameter {name!r} is given more than once")


def _int(args: MultiDict, name: str, default: int | None) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name} must be an integer, not {raw!r}") from None


def parse_limit(args: MultiDict, default: int, maximum: int) -> int:
    """``limit``: below 1 is a 400; above the maximum is clamped (OGC API - Features /req/core/fc-limit-response-1)."""
    limit = _int(args, "limit", default)
    assert limit is not None
    if limit < 1:
        raise InvalidParameterValue(f"limit must be at least 1 (got {limit})")
    return min(limit, maximum)


def parse_bbox(raw: str | None, bbox_crs: str) -> tuple[float, float, float, float] | None:
    """``bbox`` in ``bbox_crs`` axis order, 4 or 6 numbers -> storage lon/lat."""
    if raw is None:
        return None
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
    a0, b0, a1, b1 = nums
    if a0 > a1 or b0 > b1:
        raise InvalidParameterValue("bbox: each lower corner value must not exceed the upper one")
    info = crsmod.crs_info(bbox_crs)
    if info.epsg in (None, 4490, 4326):
        lat = (b0, b1) if not info.flip else (a0, a1)
        lon = (a0, a1) if not info.flip else (b0, b1)
        if not (-90 <= lat[0] <= 90 and -90 <= lat[1] <= 90 and -180 <= lon[0] <= 180 and -180 <= lon[1] <= 180):
            raise InvalidParameterValue("bbox is outside the valid range of longitude and latitude")
    try:
        out = crsmod.bbox_to_storage((a0, b0, a1, b1), bbox_crs)
    except Exception:
        raise InvalidParameterValue("bbox cannot be transformed from bbox-crs") from None
    if not all(math.isfinite(v) for v in out):
        raise InvalidParameterValue("bbox is outside the area of use of bbox-crs")
    return out


def parse_filter(args: MultiDict, body: bytes | None) -> Any:
    """``filter`` as CQL2 text (or CQL2 JSON with ``filter-lang``); a POST body is CQL2 JSON."""
    lang = (args.get("filter-lang") or "cql2-text").lower()
    if lang not in ("cql2-text", "cql2-json"):
        raise InvalidParameterValue("filter-lang must be cql2-text or cql2-json")
    text = args.get("filter")
    if text is not None:
        if len(text) > MAX_FILTER_LENGTH:
            raise InvalidParameterValue("filter is too long")
        try:
            return parse_cql2_text(text) if lang == "cql2-text" else parse_cql2_json(text)
        except Exception:
            raise InvalidParameterValue(f"filter is not valid {lang.upper()}") from None
    if body:
        if len(body) > MAX_FILTER_LENGTH * 5:
            raise InvalidParameterValue("filter is too long")
        try:
            return parse_cql2_json(body.decode("utf-8"))
        except Exception:
            raise InvalidParameterValue("the request body is not a valid CQL2 JSON filter") from None
    return None


def parse_items(args: MultiDict, layer: Layer, *, supported_crs: list[str], default_limit: int,
                max_limit: int, tz: str, lang: str, body: bytes | None = None) -> ItemsQuery:
    """All items parameters of one request, validated, as an ``ItemsQuery``."""
    check_known(args, ITEMS, set(layer.queryables))
    limit = parse_limit(args, default_limit, max_limit)
    offset = _int(args, "offset", 0) or 0
    if offset < 0 or offset > MAX_OFFSET:
        raise InvalidParameterValue(f"offset must be between 0 and {MAX_OFFSET}")
    after = _int(args, "after", None)
    if after is not None and after < 0:
        raise InvalidParameterValue("after must be a feature id")
    out_crs = crsmod.parse_crs(args.get("crs"), supported_crs, "crs")
    bbox_crs = crsmod.parse_crs(args.get("bbox-crs"), supported_crs, "bbox-crs")
    if args.get("bbox-crs") and args.get("bbox") is None:
        raise InvalidParameterValue("bbox-crs is given without bbox")
    filter_crs = crsmod.parse_crs(args.get("filter-crs"), supported_crs, "filter-crs")
    region = args.get("region")
    if region is not None:
        check_region(region)
    plan_id = args.get("plan_id")
    if plan_id is not None and (not plan_id or len(plan_id) > 64):
        raise InvalidParameterValue("plan_id must be a plan identifier (at most 64 characters)")
    if plan_id is not None and not layer.drawer:
        raise InvalidParameterValue("plan_id selects a drawer entry's features; filter the registry by id")

    sortby: list[tuple[str, bool]] = []
    if args.get("sortby"):
        for item in args["sortby"].split(","):
            item = item.strip()
            asc = not item.startswith("-")
            name = item.lstrip("+-").strip()
            if name not in layer.queryables:
                raise InvalidParameterValue(f"sortby: {name!r} is not a sortable property")
            sortby.append((name, asc))

    select = None
    if args.get("properties") is not None:
        names = [p.strip() for p in args["properties"].split(",") if p.strip()]
        unknown = [n for n in names if n not in layer.field_map]
        if unknown:
            raise InvalidParameterValue(f"properties: unknown {', '.join(repr(u) for u in unknown)}")
        select = tuple(names)

    view = args.get("view") or "all"
    if view not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {view!r}")

    skip = args.get("skipGeometry")
    if skip is not None and skip.lower() not in ("true", "false"):
        raise InvalidParameterValue("skipGeometry must be true or false")

    props = []
    for name in args.keys():
        if name in layer.queryables and name not in ITEMS:  # ITEMS names mean their API meaning
            props.append((name, coerce_value(layer.queryables[name], args[name])))

    return ItemsQuery(
        layer=layer,
        when=parse_when(args.get("datetime"), tz) if args.get("datetime") else None,
        region=region,
        plan_id=plan_id,
        bbox=parse_bbox(args.get("bbox"), bbox_crs),
        filter=parse_filter(args, body),
        filter_crs=filter_crs,
        props=props,
        sortby=sortby,
        offset=offset,
        limit=limit,
        select=select,
        skip_geometry=(skip or "").lower() == "true",
        crs=out_crs,
        after=after if not sortby else None,
        lang=lang,
        view=view,
        recorded=parse_recorded(args.get("recorded"), tz),
    )
