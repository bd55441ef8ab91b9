"""Features of one-map layers as GeoJSON: the items query and the feature service.

``items_query`` turns parsed parameters (``providers.params``) into an ``ItemsQuery``;
``FeatureService`` answers it from the store and builds GeoJSON. The server's items routes
and the pygeoapi provider (``providers.pygeoapi_provider``) both go through the two.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
import shapely

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.domain.dates import When, today
from onemap.domain.plans import PUBLIC_STATES

from . import crs as crsmod
from .drawers import empty_drawers, registry_entries, resolve_plans
from .params import Args, ParamContext, bbox_to_storage, parse_filter
from .store import Store
from .store.base import FeaturePage, FeatureQuery, JsonOut

LOG = logging.getLogger(__name__)


@dataclass
class ItemsQuery:
    """An items request, validated: every value in storage terms."""

    layer: Layer
    when: When | None  # None: no datetime given (today for drawer layers, everything for the registry)
    region: str | None = None
    plan_id: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    filter: Any = None
    filter_crs: str = crsmod.CRS84
    props: list[tuple[str, Any]] = field(default_factory=list)
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    offset: int = 0
    limit: int = 10
    select: tuple[str, ...] | None = None
    skip_geometry: bool = False
    crs: str = crsmod.CRS84
    after: int | None = None
    lang: str = "zh"
    count: bool = True
    view: str = "all"  # all: every plan in force; governing: only where each governs
    recorded: dt.datetime | None = None  # the registry as it stood then (None: now)
    unfiled: bool = False  # may the caller read submissions under review (internal users)?


@dataclass
class FeatureBatch:
    """Features of a download, one batch: ids, geometries (output CRS, east/north order), properties."""

    fids: list[int]
    geometries: np.ndarray  # shapely geometries (None where a feature has none)
    properties: list[dict[str, Any]]


@dataclass
class ItemsResult:
    features: Sequence[dict[str, Any] | orjson.Fragment]  # fragments: features the database wrote
    number_matched: int | None
    matched_exact: bool
    last_key: int | None
    plan_ids: tuple[str, ...] | None  # None: the whole registry
    empty_drawers: list[dict] = field(default_factory=list)


def items_query(layer: Layer, args: Args, ctx: ParamContext, *, lang: str = "zh", body: bytes | None = None,
                filter_ast: Any = None, unfiled: bool = False) -> ItemsQuery:
    """The items question of one request, from its parsed parameters (``providers.params.ITEMS``).

    ``filter_ast``: a filter already parsed and brought to storage coordinates (pygeoapi does
    both before it calls its provider); else ``filter``/``filter-lang``/``filter-crs`` or a
    CQL2 JSON ``body`` are read here.
    """
    if args.get("bbox-crs") is not None and args.get("bbox") is None:
        raise InvalidParameterValue("bbox-crs is given without bbox")
    plan_id = args.get("plan_id")
    if plan_id is not None and not layer.drawer:
        raise InvalidParameterValue("plan_id selects a drawer entry's features; filter the registry by id")
    sortby = list(args.get("sortby") or ())
    for name, _ in sortby:
        if name not in layer.queryables:
            raise InvalidParameterValue(f"sortby: {name!r} is not a sortable property")
    select = args.get("properties")
    if select is not None:
        unknown = [n for n in select if n not in layer.field_map]
        if unknown:
            raise InvalidParameterValue(f"properties: unknown {', '.join(repr(u) for u in unknown)}")
    if filter_ast is not None:
        filt, filter_crs = filter_ast, crsmod.CRS84
    else:
        filt = parse_filter(args.get("filter"), args.get("filter-lang") or "cql2-text", body)
        filter_crs = args.get("filter-crs") or crsmod.CRS84
    bbox = args.get("bbox")
    after = args.get("after")
    return ItemsQuery(
        layer=layer,
        when=args.get("datetime"),
        region=args.get("region"),
        plan_id=plan_id,
        bbox=bbox_to_storage(bbox, args.get("bbox-crs") or crsmod.CRS84) if bbox is not None else None,
        filter=filt,
        filter_crs=filter_crs,
        props=list(args.props),
        sortby=sortby,
        offset=args.get("offset") or 0,
        limit=args.get("limit") or ctx.default_items,
        select=select,
        skip_geometry=bool(args.get("skipGeometry")),
        crs=args.get("crs") or crsmod.CRS84,
        after=after if not sortby else None,
        lang=args.get("lang") or lang,
        view=args.get("view") or "all",
        recorded=args.get("recorded"),
        unfiled=unfiled,
    )


def _rounder(crs_uri: str):
    info = crsmod.crs_info(crs_uri)
    projected = info.epsg is not None and info.epsg not in (4490, 4326)
    decimals = 3 if projected else 8
    return lambda x, y: (np.round(x, decimals), np.round(y, decimals))


class FeatureService:
    """GeoJSON features of catalogue layers, with the drawer semantics applied."""

    def __init__(self, store: Store, catalogue: Catalogue | None = None, tz: str = "Asia/Shanghai") -> None:
        self.store = store
        self.catalogue = catalogue or store.catalogue
        self.tz = tz
        self._labels: dict[tuple[str, str], dict[str, str]] = {}

    # ---- queries ---------------------------------------------------------------
    def selection(self, q: ItemsQuery) -> tuple[FeatureQuery, tuple[str, ...] | None, list[dict]]:
        """The store's question for an items request: (query, drawer entries, empty drawers).

        Pages and downloads both ask it, so a download holds exactly what the pages hold."""
        clip, empty = None, []
        if q.layer.drawer:
            when = q.when or When.at(today(self.tz))
            sel = resolve_plans(self.store, q.layer, when, q.region, q.plan_id, q.recorded, q.view, q.unfiled)
            plan_ids: tuple[str, ...] | None = sel.plan_ids
            clip = sel.clip
            if q.plan_id is None:
                empty = empty_drawers(self.store, q.layer, when, q.region, q.recorded, q.lang)
        else:
            if q.view != "all":
                raise InvalidParameterValue("view=governing applies to the one-map layers, not to the registry")
            plan_ids = registry_entries(self.store, q.when, q.region, q.recorded, q.unfiled)
        fq = FeatureQuery(
            layer=q.layer, plan_ids=plan_ids, bbox=q.bbox, filter=q.filter, props=q.props,
            sortby=q.sortby, offset=q.offset, limit=q.limit, select=q.select,
            skip_geometry=q.skip_geometry, count=q.count,
            after=(q.after,) if q.after is not None else None, clip=clip,
        )
        if q.filter is not None:
            fq.filter_transform = crsmod.to_storage(q.filter_crs)
        return fq, plan_ids, empty

    def items(self, q: ItemsQuery, geometry_as: str = "fragment") -> ItemsResult:
        fq, plan_ids, empty = self.selection(q)
        json_out = None
        if geometry_as == "fragment" and q.layer.drawer and self.store.supports_json:
            json_out = self._json_out(q.layer, plan_ids or (), q.crs, q.lang, q.select, q.recorded)
        page = self.store.query(fq, json_out)
        feats: Sequence[dict[str, Any] | orjson.Fragment]
        if page.json is not None:  # the database wrote the features (json_out)
            feats = [orjson.Fragment(text) for text in page.json]
        else:
            feats = self._features(q.layer, page, q.crs, geometry_as, q.lang, q.select, q.recorded)
        last = page.fids[-1] if page.fids else None
        return ItemsResult(feats, page.number_matched, page.matched_exact, last, plan_ids, empty)

    def more_than(self, q: ItemsQuery, maximum: int) -> bool:
        """Does the selection hold more than ``maximum`` features (from ``q.offset``)?

        One row is asked for at that position: exact on both backends, where PostGIS's
        numberMatched may be the planner's estimate."""
        fq, _, _ = self.selection(q)
        probe = replace(fq, offset=fq.offset + maximum, limit=1, count=False, skip_geometry=True, select=())
        return bool(self.store.query(probe).fids)

    def batches(self, q: ItemsQuery, size: int, total: int | None = None) -> Iterator[FeatureBatch]:
        """The whole selection (at most ``total`` features) in batches of ``size``, in the pages' order.

        Each batch is one query continuing after the last one's final id (the pages' keyset), so
        memory holds one batch whatever the selection; with ``sortby`` it continues by offset."""
        fq, _, _ = self.selection(q)
        fq = replace(fq, count=False)
        left = total
        while left is None or left > 0:
            n = size if left is None else min(size, left)
            page = self.store.query(replace(fq, limit=n))
            if not page.fids:
                return
            geoms = self._output_geometries(page.wkb, q.crs, xy=True)
            props = self._properties(q.layer, page, q.lang, q.select, q.recorded)
            yield FeatureBatch(list(page.fids), geoms, props)
            if len(page.fids) < n:
                return
            if left is not None:
                left -= len(page.fids)
            fq = replace(fq, offset=fq.offset + n) if fq.sortby else replace(fq, after=(page.fids[-1],), offset=0)

    def item(self, layer: Layer, fid: str | int, crs: str = crsmod.CRS84, geometry_as: str = "fragment",
             lang: str = "zh", unfiled: bool = False) -> dict:
        """One feature; ``unfiled=False``: not one of a submission under review (it is not there)."""
        if not layer.drawer:  # registry entries are addressed by their plan id
            entry = self.store.plan(str(fid))
            if entry is None or (not unfiled and entry.status not in PUBLIC_STATES):
                raise NotFound(f"no drawer entry {fid!r}")
            page = self.store.query(FeatureQuery(layer=layer, plan_ids=(str(fid),), limit=1, count=False))
            if not page.fids:
                raise NotFound(f"no drawer entry {fid!r}")
            return self._features(layer, page, crs, geometry_as, lang, None)[0]
        try:
            key = int(fid)
        except (TypeError, ValueError):
            raise NotFound(f"{layer.id} has no feature {fid!r}") from None
        if key < 1 or key > 2**62:
            raise NotFound(f"{layer.id} has no feature {fid!r}")
        page = self.store.get(layer, key)
        if not page.fids:
            raise NotFound(f"{layer.id} has no feature {fid!r}")
        if not unfiled:
            owner = self.store.plan(str(page.properties[0].get("plan_id")))
            if owner is None or owner.status not in PUBLIC_STATES:
                raise NotFound(f"{layer.id} has no feature {fid!r}")
        return self._features(layer, page, crs, geometry_as, lang, None)[0]

    # ---- GeoJSON assembly ---------------------------------------------------------
    def _json_out(self, layer: Layer, plan_ids: tuple[str, ...], crs_uri: str, lang: str,
                  select: tuple[str, ...] | None, recorded: dt.datetime | None = None) -> JsonOut:
        """How the database writes this page's features: the same properties as ``_features``."""
        info = crsmod.crs_info(crs_uri)
        epsg = info.epsg if info.epsg not in (None, 4490) else None
        projected = info.epsg is not None and info.epsg not in (4490, 4326)
        state: dict[str, tuple[str | None, str | None, str | None]] | None = None
        if select is None or any(n in select for n in ("plan_status", "plan_valid_from", "plan_valid_to")):
            plans = self.store.plans(recorded)
            state = {}
            for pid in plan_ids:
                p = plans.get(pid)
                if p is not None:
                    state[pid] = (p.status, p.valid_from.isoformat() if p.valid_from else None,
                                  p.valid_to.isoformat() if p.valid_to else None)
        # (every computed label's field has a code table)
        labels = [(f.name, self._label_map(f.code_table, lang)) for f in layer.computed_labels
                  if f.code_table and (select is None or f.name in select)]
        keys = tuple(k for k in ("plan_status", "plan_valid_from", "plan_valid_to") if select is None or k in select)
        return JsonOut(epsg=epsg, swap=info.flip, decimals=3 if projected else 8, plan_state=state, labels=labels,
                       state_keys=keys)

    def _label_map(self, table_id: str, lang: str) -> dict[str, str]:
        key = (table_id, lang)
        cached = self._labels.get(key)
        if cached is None:
            table = self.catalogue.code_tables.get(table_id)
            cached = {c: code.label(lang) for c, code in table.codes.items()} if table else {}
            self._labels[key] = cached
        return cached

    def _features(self, layer: Layer, page: FeaturePage, crs_uri: str, geometry_as: str, lang: str,
                  select: tuple[str, ...] | None, recorded: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The page's features built here (``items`` takes those the database wrote as they are)."""
        if not page.fids:
            return []
        geometries = self._geometry_json(page.wkb, crs_uri)
        out = []
        for i, (fid, props) in enumerate(zip(page.fids, self._properties(layer, page, lang, select, recorded))):
            text = geometries[i]
            geom: dict[str, Any] | orjson.Fragment | None = None
            if text is not None and geometry_as == "dict":
                geom = orjson.loads(text)
            elif text is not None:
                geom = orjson.Fragment(text)
            out.append({"type": "Feature", "id": fid if layer.drawer else page.properties[i].get("id", fid),
                        "geometry": geom,
                        "properties": props})
        return out

    def _properties(self, layer: Layer, page: FeaturePage, lang: str, select: tuple[str, ...] | None,
                    recorded: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The page's properties as the API gives them: the drawer entry's state and code labels added."""
        plans = self.store.plans(recorded)
        labelled = layer.computed_labels
        state = layer.drawer and (select is None or any(
            n in select for n in ("plan_status", "plan_valid_from", "plan_valid_to")))
        out = []
        for props in page.properties:
            if state:
                pid = props.get("plan_id")
                self.store.with_plan_state(props, plans.get(pid) if pid is not None else None)
            for f in labelled:
                if f.name in props:
                    table = self.catalogue.code_table_for(layer, f, props)
                    props[f.name + "_label"] = table.label(props[f.name], lang) if table else None
            if select is not None:
                props = {k: v for k, v in props.items()
                         if k in select or (k.endswith("_label") and k[:-6] in select)}
            out.append(props)
        return out

    @staticmethod
    def _output_geometries(wkbs: list[bytes | None], crs_uri: str, xy: bool = False) -> np.ndarray:
        """Storage WKB -> shapely geometries in ``crs_uri``, rounded as the API writes them; in its
        authority axis order (GeoJSON, Part 2), or east/north with ``xy`` (files: GIS software reads
        their coordinates in that order whatever the CRS)."""
        geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
        fn = crsmod.to_output(crs_uri)
        if fn is not None:
            geoms = fn(geoms)
        if xy and crsmod.crs_info(crs_uri).flip:
            geoms = shapely.transform(geoms, lambda x, y: (y, x), interleaved=False)
        return shapely.transform(geoms, _rounder(crs_uri), interleaved=False)

    @classmethod
    def _geometry_json(cls, wkbs: list[bytes | None], crs_uri: str) -> list[str | None]:
        if all(w is None for w in wkbs):
            return [None] * len(wkbs)
        return list(shapely.to_geojson(cls._output_geometries(wkbs, crs_uri)))


__all__ = ["FeatureBatch", "FeatureService", "ItemsQuery", "ItemsResult", "items_query"]
