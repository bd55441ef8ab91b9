"""The ``warnings`` collection: every warning (预警) with where it is (the region's outline for an indicator, the
overlap for a filing), for a map in QGIS, ArcGIS or ``/map``; filter by kind, region, status and severity.

Served by pygeoapi's own collection functions through this provider (as the indicators collection is);
the status changes, feeds and subscriptions are ``/warnings`` (server/warnings_ep.py). Provider definition
keys: ``data`` (store URL), ``catalogue``/``codes`` (paths), ``rules`` (the warning rules' path).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import shapely
from pygeoapi.provider.base import BaseProvider, ProviderInvalidQueryError, ProviderItemNotFoundError

from onemap.config.catalogue import get_catalogue
from onemap.config.errors import OneMapError
from onemap.config.warnings import WarningRules, get_warning_rules

from .feature_pages import feature_page, rounded, wanted
from .geometry import area_units
from .store import Store, get_store
from .store.warnings import Finding, Warning
from .webhooks import warning_json

COLLECTION_ID = "warnings"
FIELDS: dict[str, tuple[str, str]] = {
    "kind": ("string", "类型（indicator 指标预警 / filing 备案触碰控制线 / monitoring 动态监测）"), "kind_label": ("string", "类型名称"),
    "region": ("string", "行政区代码"), "severity": ("string", "严重程度（notice / warning / severe）"),
    "severity_label": ("string", "严重程度名称"), "status": ("string", "状态（open / acknowledged / closed）"),
    "title": ("string", "标题"), "title_en": ("string", "Title"), "created": ("string", "产生时间"),
    "updated": ("string", "更新时间"), "updated_by": ("string", "更新人"), "detail": ("string", "详情（JSON）"),
}
FILTERABLE = ("kind", "region", "status", "severity")


@functools.lru_cache(maxsize=8)
def _store(data: str, catalogue_path: str | None, codes_path: str | None) -> Store:
    catalogue = get_catalogue(Path(catalogue_path) if catalogue_path else None,
                              Path(codes_path) if codes_path else None)
    return get_store(data, catalogue)


def feature(w: Warning, rules: WarningRules) -> dict[str, Any]:
    """A warning as a GeoJSON feature with flat properties (a desktop GIS shows them as columns)."""
    doc = warning_json(w, rules)
    geometry = rounded(w.geometry)
    props = {"kind": w.kind, "kind_label": doc["kind_label"].get("zh"), "region": w.region, "severity": w.severity,
             "severity_label": doc["severity_label"].get("zh"), "status": w.status, "title": w.title_zh,
             "title_en": w.title_en, "created": doc["created"], "updated": doc["updated"], "updated_by": w.updated_by,
             "detail": json.dumps(w.detail, ensure_ascii=False, sort_keys=True)}
    return {"type": "Feature", "id": w.id, "geometry": geometry, "properties": props}


class WarningCollectionProvider(BaseProvider):
    """pygeoapi feature provider over the warnings of the OneMap store."""

    _fields: dict[str, dict[str, Any]]

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.store = _store(self.data, provider_def.get("catalogue"), provider_def.get("codes"))
        rules = provider_def.get("rules")
        self.rules = get_warning_rules(Path(rules)) if rules else get_warning_rules()
        self.id_field = "id"
        self.title_field = "title"
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            self._fields = {name: {"type": t, "title": title} for name, (t, title) in FIELDS.items()}
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, **kwargs: Any) -> dict:
        if filterq is not None or sortby or datetime_:
            raise ProviderInvalidQueryError(user_msg="the warnings collection takes the properties "
                                                     f"{', '.join(FILTERABLE)} as filters (newest change first); no "
                                                     "CQL2 filter, sortby or datetime")
        box = shapely.box(*bbox[:4]) if bbox else None
        try:
            found, total = self.store.warnings.page(**wanted(properties, FILTERABLE), limit=100_000 if box is not None else max(limit, 0),
                                                    offset=0 if box is not None else offset)
        except OneMapError as err:
            raise ProviderInvalidQueryError(user_msg=err.description) from err
        if box is not None:  # few warnings meet a box test on their stored outlines
            found = [w for w in found if w.geometry is not None and shapely.intersects(w.geometry, box)]
            total = len(found)
            found = found[offset:offset + max(limit, 0)]
        return feature_page([feature(w, self.rules) for w in found], total, resulttype, skip_geometry,
                            select_properties)

    def get(self, identifier: str, **kwargs: Any) -> dict:
        w = self.store.warnings.get(str(identifier))
        if w is None:
            raise ProviderItemNotFoundError(user_msg=f"no warning {identifier!r}")
        return feature(w, self.rules)

    def __repr__(self) -> str:
        return "<WarningCollectionProvider>"


def warnings_resource(data: str, catalogue: str, codes: str, rules: str) -> dict[str, Any]:
    """The collection's pygeoapi resource (internal: warnings name the red line and the farmland)."""
    return {
        "type": "collection",
        "title": {"zh": "预警", "en": "Warnings"},
        "description": {"zh": "实施监督预警：指标预警与备案规划触碰三条控制线，按行政区、类型、状态（open 待处理 / "
                              "acknowledged 已确认 / closed 已关闭）与严重程度筛选；状态变更、订阅与推送见 /warnings。",
                        "en": "Supervision warnings: indicator warnings and filed plans touching the control lines; "
                              "filter by region, kind, status and severity. Status changes, feeds and subscriptions: "
                              "/warnings."},
        "keywords": {"zh": ["预警", "实施监督"], "en": ["warnings", "supervision"]},
        "x-onemap-tier": "internal",
        "extents": {"spatial": {"bbox": [73.0, 3.0, 136.0, 54.0],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [{"type": "feature", "name": f"{__name__}.WarningCollectionProvider", "data": data,
                       "catalogue": catalogue, "codes": codes, "rules": rules, "id_field": "id",
                       "title_field": "title"}],
    }


# ---- the monitoring collection: 动态监测 findings ----------------------------------------------------------
MONITORING_ID = "monitoring"
FINDING_FIELDS: dict[str, tuple[str, str]] = {
    "rule": ("string", "监测规则"), "title": ("string", "发现"), "title_en": ("string", "Finding"),
    "severity": ("string", "严重程度"), "region": ("string", "乡镇代码"), "county": ("string", "县级行政区代码"),
    "from_year": ("string", "前一年度调查"), "to_year": ("string", "后一年度调查"), "m2": ("number", "面积（平方米）"),
    "ha": ("number", "面积（公顷）"), "mu": ("number", "面积（亩）"), "BSM": ("string", "后一年度图斑标识码"),
    "detail": ("string", "详情（JSON）"),
}
FINDING_FILTERS = ("rule", "region", "severity", "to_year")


def finding_feature(f: Finding) -> dict[str, Any]:
    """A finding as a GeoJSON feature with flat properties."""
    geometry = rounded(f.geometry)
    props = {"rule": f.rule, "title": f.title_zh, "title_en": f.title_en, "severity": f.severity, "region": f.region,
             "county": f.county, "from_year": f.from_year, "to_year": f.to_year, **area_units(f.m2),
             "BSM": f.detail.get("parcel", {}).get("BSM"),
             "detail": json.dumps(f.detail, ensure_ascii=False, sort_keys=True)}
    return {"type": "Feature", "id": f.id, "geometry": geometry, "properties": props}


class FindingCollectionProvider(BaseProvider):
    """pygeoapi feature provider over the 动态监测 findings of the OneMap store (largest first)."""

    _fields: dict[str, dict[str, Any]]

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.store = _store(self.data, provider_def.get("catalogue"), provider_def.get("codes"))
        self.id_field = "id"
        self.title_field = "title"
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            self._fields = {name: {"type": t, "title": title} for name, (t, title) in FINDING_FIELDS.items()}
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, **kwargs: Any) -> dict:
        if filterq is not None or sortby or datetime_ or bbox:
            raise ProviderInvalidQueryError(user_msg="the monitoring collection takes the properties "
                                                     f"{', '.join(FINDING_FILTERS)} as filters (largest first); no "
                                                     "CQL2 filter, sortby, datetime or bbox")
        try:
            found, total = self.store.warnings.findings(**wanted(properties, FINDING_FILTERS), limit=max(limit, 0),
                                                        offset=offset)
        except OneMapError as err:
            raise ProviderInvalidQueryError(user_msg=err.description) from err
        return feature_page([finding_feature(f) for f in found], total, resulttype, skip_geometry, select_properties)

    def get(self, identifier: str, **kwargs: Any) -> dict:
        f = self.store.warnings.finding(str(identifier))
        if f is None:
            raise ProviderItemNotFoundError(user_msg=f"no finding {identifier!r}")
        return finding_feature(f)

    def __repr__(self) -> str:
        return "<FindingCollectionProvider>"


def monitoring_resource(data: str, catalogue: str, codes: str) -> dict[str, Any]:
    """The findings' pygeoapi resource (internal: findings name the red line and the farmland)."""
    return {
        "type": "collection",
        "title": {"zh": "动态监测发现", "en": "Change detection findings"},
        "description": {"zh": "两个年度国土调查之间的新增建设用地：占用耕地、生态保护红线内、永久基本农田内、城镇开发边界外的"
                              "城镇建设；每个发现为后一年度的一个图斑，按规则、乡镇、严重程度、年度筛选。由 change-detection "
                              "处理服务或新一年度调查备案后的扫描生成。",
                        "en": "New construction land between two land surveys: on cropland, inside the red line, on "
                              "permanent basic farmland, urban construction outside the urban development boundary; one "
                              "finding per parcel of the later survey; filter by rule, region, severity, to_year."},
        "keywords": {"zh": ["动态监测", "变化图斑", "实施监督"], "en": ["monitoring", "change detection"]},
        "x-onemap-tier": "internal",
        "extents": {"spatial": {"bbox": [73.0, 3.0, 136.0, 54.0],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [{"type": "feature", "name": f"{__name__}.FindingCollectionProvider", "data": data,
                       "catalogue": catalogue, "codes": codes, "id_field": "id", "title_field": "title"}],
    }
