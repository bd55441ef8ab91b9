"""pygeoapi's configuration, generated from the catalogue and the settings (never kept by hand)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalogue import Catalogue, Layer
from .settings import Settings

FEATURE_PROVIDER = "onemap.providers.pygeoapi_provider.OneMapFeatureProvider"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

METADATA = {
    "identification": {
        "title": {"zh": "国土空间规划“一张图”服务", "en": "OneMap: territorial spatial planning one map"},
        "description": {
            "zh": "国土空间规划“一张图”的开放标准服务：各级各类规划、三调现状和三条控制线，"
                  "以 OGC API 要素、瓦片和处理服务提供。",
            "en": "The territorial spatial planning one map over open standards: plans of every "
                  "level and type, the land survey and the three control lines, as OGC API "
                  "Features, Tiles and Processes.",
        },
        "keywords": {"zh": ["国土空间规划", "一张图", "三区三线", "OGC API"],
                     "en": ["spatial planning", "one map", "control lines", "OGC API"]},
        "keywords_type": "theme",
        "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
        "url": "https://github.com/onemap",
    },
    "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "provider": {"name": "OneMap", "url": "https://github.com/onemap"},
    "contact": {
        "name": "OneMap operators", "position": "Operator", "address": "-", "city": "-",
        "stateorprovince": "-", "postalcode": "-", "country": "China", "phone": "-", "fax": "-",
        "email": "onemap@example.org", "url": "https://github.com/onemap", "hours": "-",
        "instructions": "-", "role": "pointOfContact",
    },
}


MANAGER = "onemap.processes.manager.OneMapManager"
LANGUAGES = ["zh", "en"]  # bare languages: pygeoapi 0.24 cannot build zh_CN from the parts it matches


def collection_resource(layer: Layer, settings: Settings, crs_list: list[str],
                        bbox: list[float] | None) -> dict[str, Any]:
    """One catalogue layer as a pygeoapi collection resource (everything the provider needs is in it)."""
    return {
        "type": "collection",
        "title": dict(layer.title),
        "description": dict(layer.description),
        "keywords": {k: list(v) for k, v in layer.keywords.items()} or {"zh": [layer.table_code]},
        "links": [],
        "extents": {"spatial": {"bbox": bbox or [73.5, 18.0, 135.1, 53.6], "crs": CRS84}},
        "providers": [{
            "type": "feature",
            "name": FEATURE_PROVIDER,
            "data": settings.store_url,
            "layer": layer.id,
            "catalogue": str(settings.catalogue),
            "codes": str(settings.codes_dir),
            "timezone": settings.timezone,
            "default_items": settings.default_items,
            "max_items": settings.max_items,
            "id_field": "fid",
            "crs": list(crs_list),
            "storage_crs": CRS84,
            # region, plan_id, view, recorded and after are drawer parameters, not fields: let them
            # reach the provider, which reads them as OneMap's items routes do
            "include_extra_query_parameters": True,
        }],
    }


def process_resource(processor: str, settings: Settings) -> dict[str, Any]:
    """One OneMap process as a pygeoapi process resource."""
    return {"type": "process", "processor": {"name": processor, "data": settings.store_url}}


def build(settings: Settings, catalogue: Catalogue, base_url: str, crs_list: list[str],
          extents: dict[str, list[float] | None], processes: Mapping[str, str] | None = None,
          overlay: Mapping[str, dict[str, Any]] | None = None, templates_dir: str | None = None,
          map_url: str | None = None) -> dict[str, Any]:
    """The whole pygeoapi configuration: OneMap's collections and processes, the job manager over
    OneMap's job store, and the operator's overlay resources."""
    resources: dict[str, Any] = {
        layer.id: collection_resource(layer, settings, crs_list, extents.get(layer.id))
        for layer in catalogue.collections.values()
    }
    for pid, processor in (processes or {}).items():
        resources[pid] = process_resource(processor, settings)
    resources.update(overlay or {})
    server: dict[str, Any] = {
        "bind": {"host": "127.0.0.1", "port": 5000},
        "url": base_url,
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,  # compression is done once, above a size, by the server (server/http.py)
        "languages": LANGUAGES,
        "pretty_print": settings.pretty_print,
        "limits": {"default_items": settings.default_items, "max_items": settings.max_items,
                   "on_exceed": "throttle"},
        # the background of pygeoapi's HTML maps: OneMap's own basemap (closed networks reach no other)
        "map": {"url": map_url or f"{base_url}/basemaps/tiles/1.0.0/basemap/WebMercatorQuad/{{z}}/{{x}}/{{y}}.jpeg"
                "?origin=nw", "attribution": "OneMap basemap"},
        "admin": False,
        **({"templates": {"path": templates_dir}} if templates_dir else {}),
    }
    if processes:
        server["manager"] = {"name": MANAGER, "connection": settings.store_url, "output_dir": None}
    return {
        "server": server,
        "logging": {"level": settings.log_level},
        "metadata": METADATA,
        "resources": resources,
    }
