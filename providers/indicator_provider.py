"""The ``indicators`` collection: one feature per region and indicator, the region's outline with the
indicator's value, target, gap and status on a date, for a choropleth in QGIS, ArcGIS or ``/map``.

Served by pygeoapi's own collection functions (items, item, queryables, HTML) through this provider.
Each role's pygeoapi configuration names the role (``Pygeoapi.api_for``): a caller sees the indicators
of the layers it may read, as on ``/indicators``. Provider definition keys: ``data`` (store URL),
``catalogue``/``codes`` (paths), ``timezone``, ``role``.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import shapely
from pygeoapi.provider.base import BaseProvider, ProviderInvalidQueryError, ProviderItemNotFoundError

from onemap.config.catalogue import Catalogue, get_catalogue, role_reaches
from onemap.config.errors import OneMapError
from onemap.domain.dates import parse_when, today

from .feature_pages import feature_page, rounded, wanted
from .indicators import IndicatorService, readable, shared_service
from .regions import Regions
from .store import get_store

COLLECTION_ID = "indicators"
# the properties of a feature, their JSON types and titles (the queryables are those a client filters by)
FIELDS: dict[str, tuple[str, str]] = {
    "code": ("string", "指标代码"), "name": ("string", "指标名称"), "unit": ("string", "单位"),
    "binding": ("string", "指标属性（约束性/预期性）"), "kind": ("string", "目标方向（min 不低于 / max 不高于）"),
    "region": ("string", "行政区代码"), "region_name": ("string", "行政区名称"), "level": ("string", "行政区级别"),
    "datetime": ("string", "日期"), "value": ("number", "指标值"), "target": ("number", "规划目标"),
    "target_plan": ("string", "下达目标的规划"), "gap": ("number", "距目标（负：已超标）"),
    "status": ("string", "状态（ok 达标 / warning 预警 / breach 超标 / none 无目标）"),
    "status_label": ("string", "状态名称"),
    # per-capita indicators only: the population divided by, of which year, and why a value is null or stale
    "population": ("integer", "人口（人均指标的分母）"), "population_year": ("integer", "人口年份"),
    "population_from": ("string", "人口来源（region 本级 / children 下级之和）"), "note": ("string", "说明"),
}
FILTERABLE = ("code", "level", "region", "status", "binding")


@functools.lru_cache(maxsize=8)
def _service(data: str, catalogue_path: str | None, codes_path: str | None) -> IndicatorService:
    """One indicator service per store (pygeoapi builds a provider object for every request)."""
    catalogue: Catalogue = get_catalogue(Path(catalogue_path) if catalogue_path else None,
                                         Path(codes_path) if codes_path else None)
    return shared_service(get_store(data, catalogue))


class IndicatorCollectionProvider(BaseProvider):
    """pygeoapi feature provider over the indicator values of the OneMap store."""

    _fields: dict[str, dict[str, Any]]

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.service = _service(self.data, provider_def.get("catalogue"), provider_def.get("codes"))
        self.tz = provider_def.get("timezone", "Asia/Shanghai")
        self.role = str(provider_def.get("role", "public"))
        self.id_field = "id"
        self.title_field = "name"
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            self._fields = {name: {"type": t, "title": title} for name, (t, title) in FIELDS.items()}
        return self._fields

    def _day(self, datetime_: str | None) -> dt.date:
        if not datetime_:
            return today(self.tz)
        return parse_when(datetime_, self.tz).day("indicators are computed")

    def _features(self, day: dt.date, want: dict[str, str], bbox: list | None) -> list[dict[str, Any]]:
        regions = Regions(self.service.store, day)
        box = shapely.box(*bbox[:4]) if bbox else None
        out = []
        for d in self.service.ind.indicators:
            if not readable(d, self.service.store.catalogue, lambda tier: role_reaches(self.role, tier)):
                continue
            if "code" in want and want["code"] != d.code or "binding" in want and want["binding"] != d.binding:
                continue
            for region in regions:
                if region.level not in d.levels or want.get("level", region.level) != region.level \
                        or want.get("region", region.code) != region.code:
                    continue
                if box is not None and not shapely.intersects(region.outline, box):
                    continue
                value = self.service.evaluate(region, day, [d.code])[0]
                if "status" in want and want["status"] != value["status"]:
                    continue
                out.append({"type": "Feature", "id": f"{region.code}-{d.code}",
                            "geometry": rounded(region.outline),
                            "properties": {**value, "status_label": value["status_label"]["zh"]}})
        return out

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, **kwargs: Any) -> dict:
        if filterq is not None or sortby:
            raise ProviderInvalidQueryError(user_msg="the indicators collection takes the properties "
                                                     f"{', '.join(FILTERABLE)} as filters; no CQL2 filter or sortby")
        try:
            features = self._features(self._day(datetime_), wanted(properties, FILTERABLE), bbox)
        except OneMapError as err:
            raise ProviderInvalidQueryError(user_msg=err.description) from err
        return feature_page(features[offset:offset + max(limit, 0)], len(features), resulttype, skip_geometry,
                            select_properties)

    def get(self, identifier: str, **kwargs: Any) -> dict:
        region, _, code = str(identifier).partition("-")
        try:
            found = self._features(today(self.tz), {"region": region, "code": code}, None)
        except OneMapError:
            found = []
        if not found:
            raise ProviderItemNotFoundError(user_msg=f"no indicator feature {identifier!r} today")
        return found[0]

    def __repr__(self) -> str:
        return "<IndicatorCollectionProvider>"


def indicators_resource(data: str, catalogue: str, codes: str, timezone: str) -> dict[str, Any]:
    """The collection's pygeoapi resource (public: each role's provider shows what that role may read)."""
    return {
        "type": "collection",
        "title": {"zh": "指标（行政区）", "en": "Indicators by region"},
        "description": {"zh": "各级行政区的国土空间规划指标：现状值、上级规划下达的目标、差距和状态（达标/预警/超标），"
                              "按日期（datetime）计算；按 code、level、region、status 筛选。",
                        "en": "Planning indicators of every region: value, the target the governing upper plan "
                              "sets, the gap and the status on a date (datetime); filter by code, level, region, "
                              "status."},
        "keywords": {"zh": ["指标", "实施监督", "体检评估"], "en": ["indicators", "supervision"]},
        "x-onemap-tier": "public",
        "extents": {"spatial": {"bbox": [73.0, 3.0, 136.0, 54.0],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [{"type": "feature", "name": f"{__name__}.IndicatorCollectionProvider", "data": data,
                       "catalogue": catalogue, "codes": codes, "timezone": timezone, "id_field": "id",
                       "title_field": "name"}],
    }
