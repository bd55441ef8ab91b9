"""The layer catalogue (config/catalogue.yaml), validated at start-up.

Every other part of OneMap asks the catalogue what a layer is: its fields, their
types and code tables, its geometry, its tier. Nothing else lists layers.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onemap.domain.plans import PLAN_LEVELS, PLAN_STATUSES, PLAN_TYPES

from .codes import CodeTable, load_code_tables
from .errors import ConfigError
from .files import first_error, read_yaml

I18n = dict[str, str]
FieldType = Literal["string", "integer", "number", "date"]
PlanType = Literal["master", "detailed", "special", "survey", "management"]
_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")



Tier = Literal["public", "partner", "internal"]  # who may see a layer or run a process (roles rank above)
ROLE_RANK = {"public": 0, "partner": 1, "internal": 2, "admin": 3}
TIER_RANK = {"public": 0, "partner": 1, "internal": 2}


def role_reaches(role: str, tier: str) -> bool:
    """May a caller of ``role`` see what has ``tier`` (an unknown tier is internal)?"""
    return ROLE_RANK.get(role, 0) >= TIER_RANK.get(tier, 2)
TIERS: tuple[str, ...] = ("public", "partner", "internal")

class FieldDef(BaseModel):
    """One attribute of a layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    type: FieldType
    length: int | None = Field(default=None, ge=1, le=4000)
    required: bool = False
    title: I18n
    code_table: str | None = None
    label_field: str | None = None
    unit: str | None = None
    # an area (unit m2) that is the feature's own, which QC checks against its geometry (S01); false for a part
    # of it, such as the developed share of a supplied parcel
    whole_area: bool = True
    queryable: bool = True
    drawer: bool = False

    def label(self, lang: str = "zh") -> str:
        return self.title.get(lang) or self.title.get("zh") or self.name

    @property
    def json_type(self) -> str:
        return {"string": "string", "integer": "integer", "number": "number", "date": "string"}[self.type]


class Ysdm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    confidence: str
    source: str


# The drawer each feature belongs to, added to every layer by the code.
DRAWER_FIELDS: tuple[FieldDef, ...] = (
    FieldDef(name="plan_id", type="string", length=64, required=True, drawer=True,
             title={"zh": "规划（抽屉条目）标识", "en": "Plan (drawer entry) id"}),
    FieldDef(name="plan_region", type="string", length=12, required=True, drawer=True,
             title={"zh": "规划所属行政区代码", "en": "Region code of the plan's drawer"}),
    FieldDef(name="plan_level", type="string", length=10, required=True, drawer=True, code_table="plan_level",
             title={"zh": "规划层级", "en": "Plan level"}),
    FieldDef(name="plan_type", type="string", length=10, required=True, drawer=True, code_table="plan_type",
             title={"zh": "规划类型", "en": "Plan type"}),
    FieldDef(name="plan_subject", type="string", length=32, required=False, drawer=True,
             title={"zh": "规划主题（专项规划类别、详细规划单元）", "en": "Plan subject (special plan category, detailed plan unit)"}),
    FieldDef(name="plan_version", type="string", length=32, required=True, drawer=True,
             title={"zh": "规划版本", "en": "Plan version"}),
)
# Returned with every feature (from the registry, which can change), not filterable.
PLAN_STATE_FIELDS: tuple[FieldDef, ...] = (
    FieldDef(name="plan_status", type="string", length=12, drawer=True, queryable=False,
             title={"zh": "规划状态", "en": "Plan status"}),
    FieldDef(name="plan_valid_from", type="date", drawer=True, queryable=False,
             title={"zh": "生效日期", "en": "In force from"}),
    FieldDef(name="plan_valid_to", type="date", drawer=True, queryable=False,
             title={"zh": "失效日期", "en": "In force until"}),
)


class Layer(BaseModel):
    """One one-map layer: one store table, one OGC API collection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    table_code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,30}$")
    title: I18n
    description: I18n
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    category: Literal["status_quo", "planning", "control_line", "management", "registry"]
    geometry: Literal["MultiPolygon", "MultiLineString", "MultiPoint"]
    tier: Tier
    drawer_types: list[PlanType]
    ysdm: Ysdm | None = None
    # the layer's four digits in its features' 标识码 (BSM = 6-digit region code + these + 8-digit
    # number): unique BSMs across the layers of one database
    bsm_segment: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    fields: tuple[FieldDef, ...]
    drawer: bool = True  # features belong to drawer entries (False only for the registry itself)
    # below the detail zoom, vector tiles carry only these fields (the class and its name that the
    # map is drawn by): a parcel layer's full attributes triple the size of an overview tile
    tile_overview_fields: tuple[str, ...] | None = None
    # the field holding the administrative division each feature lies in (a code whose prefixes are its
    # township, county, city and province): statistics by region sum by it instead of cutting features by
    # region outlines. Only for a layer whose features never cross a division (the survey's parcels are
    # drawn up to the 权属 boundaries, and its 汇总表 sums them by 坐落单位)
    region_field: str | None = None

    @field_validator("fields")
    @classmethod
    def _unique(cls, v: tuple[FieldDef, ...]) -> tuple[FieldDef, ...]:
        names = [f.name for f in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate fields {sorted(dup)}")
        return v

    @model_validator(mode="after")
    def _overview_fields(self) -> Layer:
        unknown = set(self.tile_overview_fields or ()) - {f.name for f in self.fields}
        if unknown:
            raise ValueError(f"tile_overview_fields names unknown fields {sorted(unknown)}")
        if self.region_field is not None and self.region_field not in {f.name for f in self.fields}:
            raise ValueError(f"region_field names an unknown field {self.region_field!r}")
        return self

    @model_validator(mode="after")
    def _reserved(self) -> Layer:
        reserved = {"fid", "geom", "geometry"}
        if self.drawer:
            reserved |= {f.name for f in DRAWER_FIELDS + PLAN_STATE_FIELDS} | {"id"}
        clash = reserved & {f.name for f in self.fields}
        if clash:
            raise ValueError(f"field names {sorted(clash)} are reserved")
        return self

    @model_validator(mode="after")
    def _labels(self) -> Layer:
        names = {f.name for f in self.fields}
        for f in self.fields:
            if f.label_field and f.label_field not in names:
                raise ValueError(f"{f.name}: label field {f.label_field} is not a field of {self.id}")
            for ref in _TEMPLATE.findall(f.code_table or ""):
                if ref not in names:
                    raise ValueError(f"{f.name}: code table template refers to unknown field {ref}")
        return self

    @cached_property
    def all_fields(self) -> tuple[FieldDef, ...]:
        """Own fields, then the drawer fields, then the plan state (output only)."""
        return self.fields + DRAWER_FIELDS + PLAN_STATE_FIELDS if self.drawer else self.fields

    @cached_property
    def field_map(self) -> dict[str, FieldDef]:
        return {f.name: f for f in self.all_fields}

    @cached_property
    def stored_fields(self) -> tuple[FieldDef, ...]:
        """Columns of the layer's table (own fields and the drawer keys)."""
        return self.fields + DRAWER_FIELDS if self.drawer else self.fields

    @cached_property
    def computed_labels(self) -> tuple[FieldDef, ...]:
        """Coded fields with no national label field: the API adds ``<name>_label``."""
        return tuple(f for f in self.all_fields if f.code_table and not f.label_field)

    @cached_property
    def queryables(self) -> dict[str, FieldDef]:
        return {f.name: f for f in self.stored_fields if f.queryable}

    def t(self, attr: str, lang: str = "zh") -> str:
        value = getattr(self, attr)
        return value.get(lang) or value.get("zh") or ""


def _f(name: str, zh: str, en: str, type_: FieldType = "string", length: int | None = None,
       required: bool = False, code_table: str | None = None) -> FieldDef:
    return FieldDef(name=name, type=type_, length=length, title={"zh": zh, "en": en}, required=required,
                    code_table=code_table)


# The drawer registry as a collection: one feature per drawer entry, its region as geometry.
REGISTRY = Layer(
    id="plans", table_code="PLANS", drawer=False, category="registry", geometry="MultiPolygon",
    tier="public", drawer_types=[],
    title={"zh": "规划目录（抽屉）", "en": "Plan registry (drawers)"},
    description={"zh": "各级各类规划及现状调查的抽屉条目：每个版本的状态、批复文号、有效期和上位规划。",
                 "en": "Every drawer entry (plan version or survey): status, approval, validity interval "
                       "and the upper-level plan it follows."},
    keywords={"zh": ["规划目录", "抽屉"], "en": ["plan registry", "drawers"]},
    fields=(
        _f("id", "规划标识", "Plan id", length=64, required=True),
        _f("region", "行政区代码", "Region code", length=12, required=True),
        _f("level", "规划层级", "Plan level", length=10, required=True, code_table="plan_level"),
        _f("type", "规划类型", "Plan type", length=10, required=True, code_table="plan_type"),
        _f("version", "版本", "Version", length=32, required=True),
        _f("title", "规划名称", "Title", length=200, required=True),
        _f("status", "状态", "Status", length=12, required=True, code_table="plan_status"),
        _f("approval_no", "批复文号", "Approval document number", length=100),
        _f("approval_date", "批复日期", "Approval date", "date"),
        _f("valid_from", "生效日期", "In force from", "date"),
        _f("valid_to", "失效日期", "In force until", "date"),
        _f("upper_plan_id", "上位规划", "Upper-level plan", length=64),
        _f("submitted_by", "提交单位", "Submitted by", length=100),
        _f("submitted_at", "提交时间", "Submitted at", length=40),
        _f("checksum", "成果包校验码 (SHA-256)", "Package checksum (SHA-256)", length=64),
        _f("subject", "规划主题", "Subject (special plan category, detailed plan unit)", length=32),
        _f("approval_override", "未经传导校核通过而批复的理由", "Why it was approved without a passing transmission check",
           length=500),
    ),
)


class Catalogue:
    """The validated catalogue with its code tables."""

    def __init__(self, layers: list[Layer], categories: dict[str, I18n], code_tables: dict[str, CodeTable],
                 process_tiers: dict[str, Tier] | None = None):
        ids = [layer.id for layer in layers]
        twice = sorted({lid for lid in ids if ids.count(lid) > 1})
        if twice:  # a mapping by id would keep one of them silently
            raise ConfigError(f"the catalogue lists layer {', '.join(twice)} more than once; layer ids are unique")
        self.layers: dict[str, Layer] = {layer.id: layer for layer in layers}
        # who may run each process (OGC API - Processes id -> tier); a process not listed is internal
        self.process_tiers: dict[str, Tier] = dict(process_tiers or {})
        self.categories = categories
        self.code_tables = code_tables
        self.registry = REGISTRY
        # every OGC API collection: the data layers and the registry
        self.collections: dict[str, Layer] = {**self.layers, REGISTRY.id: REGISTRY}
        self._check()

    def _check(self) -> None:
        ids = [layer.id for layer in self.layers.values()]
        codes = [layer.table_code for layer in self.layers.values()]
        if len(set(codes)) != len(codes):
            raise ConfigError("two layers share a table code")
        segments = [layer.bsm_segment for layer in self.layers.values() if layer.bsm_segment]
        if len(set(segments)) != len(segments):
            raise ConfigError("two layers share a BSM segment (bsm_segment)")
        for layer in self.collections.values():
            if layer.category not in self.categories:
                raise ConfigError(f"layer {layer.id}: unknown category {layer.category}")
            for f in layer.all_fields:
                if f.code_table:
                    for tid in self.expand_table_ids(layer, f):
                        if tid not in self.code_tables:
                            raise ConfigError(f"layer {layer.id} field {f.name}: no code table {tid!r}")
        if REGISTRY.id in ids:
            raise ConfigError(f"'{REGISTRY.id}' is the registry collection's id; a layer cannot take it")

    def expand_table_ids(self, layer: Layer, f: FieldDef) -> list[str]:
        """The code tables a field may use; a template like ``ydyh_{YDYHBB}`` gives one per edition."""
        table = f.code_table or ""
        refs = _TEMPLATE.findall(table)
        if not refs:
            return [table] if table else []
        ref_field = layer.field_map[refs[0]]
        values = list(self.code_tables[ref_field.code_table].codes) if ref_field.code_table else []
        return [table.replace("{" + refs[0] + "}", v) for v in values]

    def code_table_for(self, layer: Layer, f: FieldDef, record: dict) -> CodeTable | None:
        """The code table a record's value of ``f`` is checked against (resolving templates)."""
        if not f.code_table:
            return None
        refs = _TEMPLATE.findall(f.code_table)
        tid = f.code_table
        for ref in refs:
            tid = tid.replace("{" + ref + "}", str(record.get(ref) or ""))
        return self.code_tables.get(tid)

    def layer(self, layer_id: str) -> Layer:
        """A data layer or the registry collection, by collection id."""
        try:
            return self.collections[layer_id]
        except KeyError:
            from .errors import NotFound

            raise NotFound(f"collection {layer_id!r} does not exist") from None

    def by_table_code(self, table_code: str) -> Layer | None:
        tc = table_code.upper()
        for layer in self.layers.values():
            if layer.table_code == tc:
                return layer
        return None


def load_catalogue(catalogue_path: Path, codes_dir: Path) -> Catalogue:
    """Read and validate the catalogue and its code tables; a mistake is a ConfigError."""
    raw = read_yaml(catalogue_path, "catalogue")
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ConfigError(f"{Path(catalogue_path).name}: expected a mapping with 'version: 1'")
    inline = dict(raw.get("code_tables_inline") or {})
    inline["plan_level"] = {"title": {"zh": "规划层级", "en": "Plan level"}, "codes": PLAN_LEVELS}
    inline["plan_type"] = {"title": {"zh": "规划类型", "en": "Plan type"}, "codes": PLAN_TYPES}
    inline["plan_status"] = {"title": {"zh": "规划状态", "en": "Plan status"}, "codes": PLAN_STATUSES}
    tables = load_code_tables(codes_dir, inline)
    layers = []
    for i, spec in enumerate(raw.get("layers") or []):
        try:
            layers.append(Layer.model_validate(spec))
        except ValidationError as err:
            lid = spec.get("id", f"#{i + 1}") if isinstance(spec, dict) else f"#{i + 1}"
            raise ConfigError(f"catalogue layer {lid}: {first_error(err)}") from err
    if not layers:
        raise ConfigError("the catalogue lists no layers")
    tiers: dict[str, Tier] = {}
    for pid, spec in (raw.get("processes") or {}).items():
        tier = spec.get("tier") if isinstance(spec, dict) else None
        if tier not in TIERS:
            raise ConfigError(f"catalogue process {pid}: tier must be one of {', '.join(TIERS)}")
        tiers[str(pid)] = tier
    return Catalogue(layers, raw.get("categories") or {}, tables, tiers)


@lru_cache(maxsize=4)
def get_catalogue(catalogue_path: Path | None = None, codes_dir: Path | None = None) -> Catalogue:
    """The catalogue for these paths, loaded once per process."""
    from .settings import get_settings

    s = get_settings()
    return load_catalogue(catalogue_path or s.catalogue, codes_dir or s.codes_dir)
