"""Features of one-map layers as GeoJSON: the feature service and its pygeoapi provider.

``FeatureService`` answers validated questions (``ItemsQuery``) from the store and builds
GeoJSON; the server's items endpoints and ``OneMapFeatureProvider`` (pygeoapi's plugin
point, used by pygeoapi's own request path, OpenAPI and schema generation) both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import shapely
from pygeoapi.provider.base import (BaseProvider, ProviderInvalidQueryError,
                                    ProviderItemNotFoundError)

from onemap.config.catalogue import Catalogue, Layer, get_catalogue
from onemap.config.errors import InvalidParameterValue, NotFound, OneMapError
from onemap.domain.dates import When, parse_when, today

from . import crs as crsmod
from .drawers import empty_drawers, registry_entries, resolve_plans
from .store import Store, get_store
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


@dataclass
class ItemsResult:
    features: list[dict]
    number_matched: int | None
    matched_exact: bool
    last_key: int | None
    plan_ids: tuple[str, ...]
    empty_drawers: list[dict] = field(default_factory=list)


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
    def items(self, q: ItemsQuery, geometry_as: str = "fragment") -> ItemsResult:
        clip, empty = None, []
        if q.layer.drawer:
            when = q.when or When.at(today(self.tz))
            sel = resolve_plans(self.store, q.layer, when, q.region, q.plan_id, q.recorded, q.view)
            plan_ids: tuple[str, ...] | None = sel.plan_ids
            clip = sel.clip
            if q.plan_id is None:
                empty = empty_drawers(self.store, q.layer, when, q.region, q.recorded, q.lang)
        else:
            if q.view != "all":
                raise InvalidParameterValue("view=governing applies to the one-map layers, not to the registry")
            plan_ids = registry_entries(self.store, q.when, q.region, q.recorded)
        fq = FeatureQuery(
            layer=q.layer, plan_ids=plan_ids, bbox=q.bbox, filter=q.filter, props=q.props,
            sortby=q.sortby, offset=q.offset, limit=q.limit, select=q.select,
            skip_geometry=q.skip_geometry, count=q.count,
            after=(q.after,) if q.after is not None else None, clip=clip,
        )
        if q.filter is not None:
            fq.filter_transform = crsmod.to_storage(q.filter_crs)
        json_out = None
        if geometry_as == "fragment" and q.layer.drawer and self.store.supports_json:
            json_out = self._json_out(q.layer, plan_ids or (), q.crs, q.lang, q.select, q.recorded)
        page = self.store.query(fq, json_out)
        feats = self._features(q.layer, page, q.crs, geometry_as, q.lang, q.select, q.recorded)
        last = page.fids[-1] if page.fids else None
        return ItemsResult(feats, page.number_matched, page.matched_exact, last, plan_ids, empty)

    def item(self, layer: Layer, fid: str | int, crs: str = crsmod.CRS84, geometry_as: str = "fragment",
             lang: str = "zh") -> dict:
        if not layer.drawer:  # registry entries are addressed by their plan id
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
        return self._features(layer, page, crs, geometry_as, lang, None)[0]

    # ---- GeoJSON assembly ---------------------------------------------------------
    def _json_out(self, layer: Layer, plan_ids: tuple[str, ...], crs_uri: str, lang: str,
                  select: tuple[str, ...] | None, recorded: dt.datetime | None = None) -> JsonOut:
        """How the database writes this page's features: the same properties as ``_features``."""
        info = crsmod.crs_info(crs_uri)
        epsg = info.epsg if info.epsg not in (None, 4490) else None
        projected = info.epsg is not None and info.epsg not in (4490, 4326)
        state = None
        if select is None or any(n in select for n in ("plan_status", "plan_valid_from", "plan_valid_to")):
            plans = self.store.plans(recorded)
            state = {}
            for pid in plan_ids:
                p = plans.get(pid)
                if p is not None:
                    state[pid] = (p.status, p.valid_from.isoformat() if p.valid_from else None,
                                  p.valid_to.isoformat() if p.valid_to else None)
        labels = [(f.name, self._label_map(f.code_table, lang)) for f in layer.computed_labels
                  if select is None or f.name in select]
        keys = tuple(k for k in ("plan_status", "plan_valid_from", "plan_valid_to") if select is None or k in select)
        return JsonOut(epsg=epsg, swap=info.flip, decimals=3 if projected else 8, plan_state=state, labels=labels,
                       state_keys=keys)

    def _label_map(self, table_id: str, lang: str) -> dict[str, str]:
        key = (table_id, lang)
        cached = self._labels.get(key)
        if cached is None:
            table = self.catalogue.code_tables.get(table_id)
            cached = {c: table.label(c, lang) for c in table.codes} if table else {}
            self._labels[key] = cached
        return cached

    def _features(self, layer: Layer, page: FeaturePage, crs_uri: str, geometry_as: str, lang: str,
                  select: tuple[str, ...] | None, recorded: dt.datetime | None = None) -> list[dict]:
        if not page.fids:
            return []
        if page.json is not None:
            return [orjson.Fragment(text) for text in page.json]
        geometries = self._geometry_json(page.wkb, crs_uri)
        plans = self.store.plans(recorded)
        labelled = layer.computed_labels
        state = layer.drawer and (select is None or any(
            n in select for n in ("plan_status", "plan_valid_from", "plan_valid_to")))
        out = []
        for i, fid in enumerate(page.fids):
            props = page.properties[i]
            if state:
                self.store.with_plan_state(props, plans.get(props.get("plan_id")))
            for f in labelled:
                if f.name in props:
                    table = self.catalogue.code_table_for(layer, f, props)
                    props[f.name + "_label"] = table.label(props[f.name], lang) if table else None
            if select is not None:
                props = {k: v for k, v in props.items()
                         if k in select or (k.endswith("_label") and k[:-6] in select)}
            geom = geometries[i]
            if geom is not None and geometry_as == "dict":
                geom = orjson.loads(geom)
            elif geom is not None:
                geom = orjson.Fragment(geom)
            out.append({"type": "Feature", "id": fid if layer.drawer else page.properties[i].get("id", fid),
                        "geometry": geom,
                        "properties": props})
        return out

    @staticmethod
    def _geometry_json(wkbs: list[bytes | None], crs_uri: str) -> list[str | None]:
        if all(w is None for w in wkbs):
            return [None] * len(wkbs)
        geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
        fn = crsmod.to_output(crs_uri)
        if fn is not None:
            geoms = fn(geoms)
        geoms = shapely.transform(geoms, _rounder(crs_uri), interleaved=False)
        return list(shapely.to_geojson(geoms))


# ---------------------------------------------------------------------------------
# pygeoapi plugin
# ---------------------------------------------------------------------------------
class OneMapFeatureProvider(BaseProvider):
    """pygeoapi feature provider over the OneMap store.

    Provider definition keys: ``data`` (database URL or GeoPackage path), ``layer`` (the
    catalogue id), ``id_field: fid``. Instantiated on every request by pygeoapi, so the
    constructor only looks things up; the store is shared per process.
    """

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.layer = get_catalogue().layer(provider_def["layer"])
        self.store = get_store(self.data)
        self.service = FeatureService(self.store)
        self.id_field = "fid"
        self.title_field = None
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            fields = {}
            for f in self.layer.all_fields:
                entry: dict[str, Any] = {"type": f.json_type, "title": f.label("zh")}
                if f.type == "date":
                    entry["format"] = "date"
                if f.length and f.type == "string":
                    entry["maxLength"] = f.length
                fields[f.name] = entry
            self._fields = fields
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        try:
            region = plan_id = None
            props = []
            for name, value in properties or []:
                if name == "region":
                    region = value
                elif name == "plan_id":
                    plan_id = value
                else:
                    f = self.layer.queryables.get(name)
                    if f is None:
                        raise InvalidParameterValue(f"unknown property {name!r}")
                    from .store.sql import coerce_value

                    props.append((name, coerce_value(f, value)))
            target = crsmod.CRS84
            if crs_transform_spec is not None:
                target = crsmod.normalize_crs(crs_transform_spec.target_crs_uri)
            iq = ItemsQuery(
                layer=self.layer, when=parse_when(datetime_) if datetime_ else None, region=region,
                plan_id=plan_id,
                bbox=tuple(bbox[:4]) if bbox else None, filter=filterq, props=props,
                sortby=[(s["property"], s["order"] != "-") for s in sortby or []],
                offset=offset, limit=limit,
                select=tuple(select_properties) if select_properties else None,
                skip_geometry=skip_geometry, crs=target,
            )
            if resulttype == "hits":
                iq.limit = 0
            res = self.service.items(iq, geometry_as="dict")
        except OneMapError as err:
            raise ProviderInvalidQueryError(user_msg=err.description) from err
        return {
            "type": "FeatureCollection",
            "features": res.features,
            "numberMatched": res.number_matched,
            "numberReturned": len(res.features),
        }

    def get(self, identifier: str, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        target = crsmod.CRS84
        if crs_transform_spec is not None:
            target = crsmod.normalize_crs(crs_transform_spec.target_crs_uri)
        try:
            return self.service.item(self.layer, identifier, target, geometry_as="dict")
        except NotFound as err:
            raise ProviderItemNotFoundError(user_msg=err.description) from err

    def __repr__(self) -> str:
        return f"<OneMapFeatureProvider {self.layer.id}>"


__all__ = ["FeatureService", "ItemsQuery", "ItemsResult", "OneMapFeatureProvider"]
