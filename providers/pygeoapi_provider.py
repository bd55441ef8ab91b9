"""OneMap's feature provider for pygeoapi: a thin adapter over the query the server's items routes run.

pygeoapi parses a request its own way (bbox brought to storage coordinates, CQL2 parsed and
its geometries transformed, extra query parameters passed as ``properties``); the adapter
writes those arguments back as query parameters, reads them through the same declarations
(``providers.params``) and the same ``items_query`` as ``onemap serve``, and answers with
the same ``FeatureService``. Provider definition keys (written by ``onemap config``):
``data`` (store URL), ``layer`` (catalogue id), ``catalogue``/``codes`` (paths), ``crs``
(offered CRS list), ``timezone``, ``default_items``/``max_items``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pygeoapi.provider.base import BaseProvider, ProviderInvalidQueryError, ProviderItemNotFoundError
from werkzeug.datastructures import MultiDict

from onemap.config.catalogue import Catalogue, Layer, get_catalogue
from onemap.config.errors import NotFound, OneMapError

from . import crs as crsmod
from .features import FeatureService, items_query
from .params import ITEMS, ParamContext, parse_args, property_param
from .store import get_store


@functools.lru_cache(maxsize=32)
def _service(data: str, catalogue_path: str | None, codes_path: str | None, tz: str) -> FeatureService:
    """One feature service per store (pygeoapi builds a provider object for every request)."""
    catalogue: Catalogue = get_catalogue(Path(catalogue_path) if catalogue_path else None,
                                         Path(codes_path) if codes_path else None)
    return FeatureService(get_store(data, catalogue), catalogue, tz)


class OneMapFeatureProvider(BaseProvider):
    """pygeoapi feature provider over one catalogue layer of the OneMap store."""

    _fields: dict[str, dict[str, Any]]  # set to {} by BaseProvider, filled by get_fields

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        tz = provider_def.get("timezone", "Asia/Shanghai")
        self.service = _service(self.data, provider_def.get("catalogue"), provider_def.get("codes"), tz)
        self.layer: Layer = self.service.catalogue.collections[provider_def["layer"]]
        self.ctx = ParamContext(tuple(provider_def.get("crs") or (crsmod.CRS84,)), tz,
                                int(provider_def.get("default_items", 10)),
                                int(provider_def.get("max_items", 10_000)))
        # the configuration of an internal tier (``onemap config --tier internal``) reads submissions too
        self.unfiled = bool(provider_def.get("unfiled", False))
        self.id_field = "fid"
        self.title_field = None
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            fields: dict[str, dict[str, Any]] = {}
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
              filterq: Any = None, crs_transform_spec: Any = None, language: Any = None,
              **kwargs: Any) -> dict:
        raw: MultiDict[str, str] = MultiDict()
        for name, value in properties or []:
            raw.add(name, str(value))
        if datetime_:
            raw["datetime"] = datetime_
        if bbox:  # pygeoapi has brought it to the storage CRS (CRS84) already
            raw["bbox"] = ",".join(repr(float(v)) for v in bbox[:4])
        raw["offset"] = str(offset)
        raw["limit"] = str(max(limit, 1))
        if sortby:
            raw["sortby"] = ",".join(("-" if s["order"] == "-" else "") + s["property"] for s in sortby)
        if select_properties:
            raw["properties"] = ",".join(select_properties)
        if skip_geometry:
            raw["skipGeometry"] = "true"
        if crs_transform_spec is not None:
            raw["crs"] = crs_transform_spec.target_crs_uri
        lang = getattr(language, "language", None) or "zh"
        try:
            extra = {name: property_param(f) for name, f in self.layer.queryables.items()}
            args = parse_args(ITEMS, raw, self.ctx, extra)
            iq = items_query(self.layer, args, self.ctx, lang=lang, filter_ast=filterq, unfiled=self.unfiled)
            if resulttype == "hits":
                iq.limit = 0
            res = self.service.items(iq, geometry_as="dict")
        except OneMapError as err:
            raise ProviderInvalidQueryError(user_msg=err.description) from err
        doc: dict[str, Any] = {"type": "FeatureCollection", "features": res.features,
                               "numberReturned": len(res.features)}
        if res.number_matched is not None and res.matched_exact:
            doc["numberMatched"] = res.number_matched
        if res.empty_drawers:
            doc["emptyDrawers"] = res.empty_drawers
        return doc

    def get(self, identifier: str, crs_transform_spec: Any = None, language: Any = None, **kwargs: Any) -> dict:
        target = crsmod.CRS84
        if crs_transform_spec is not None:
            target = crsmod.normalize_crs(crs_transform_spec.target_crs_uri)
        try:
            return self.service.item(self.layer, identifier, target, geometry_as="dict",
                                     lang=getattr(language, "language", None) or "zh", unfiled=self.unfiled)
        except NotFound as err:
            raise ProviderItemNotFoundError(user_msg=err.description) from err

    def __repr__(self) -> str:
        return f"<OneMapFeatureProvider {self.layer.id}>"
