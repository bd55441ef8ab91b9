"""Plan indicators (config/indicators.yaml): which targets a plan's indicator table may set.

The package loader reads a plan's indicator table against this; the transmission check
compares a lower plan's totals with the targets. Codes, layers, min/max and units are data.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ConfigError
from .files import read_yaml, validated

INDICATORS_PATH = Path(__file__).resolve().parent / "indicators.yaml"
I18n = dict[str, str]


class Measure(BaseModel):
    """A layer's features, those whose fields hold the listed codes (``"03*"``: codes starting ``03``;
    several fields must all match)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer: str
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)


# the population a per-capita formula divides by: 常住人口, 城镇常住人口, 乡村常住人口 (= 常住 - 城镇)
PopulationKind = Literal["resident", "urban", "rural"]
POPULATION_KINDS: dict[str, I18n] = {"resident": {"zh": "常住人口", "en": "resident population"},
                                     "urban": {"zh": "城镇常住人口", "en": "urban resident population"},
                                     "rural": {"zh": "乡村常住人口", "en": "rural resident population"}}


class PerCapita(BaseModel):
    """A formula's value per person of the region's population (the loaded population table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numerator: Formula
    population: PopulationKind


class Formula(BaseModel):
    """How an indicator is computed, declaratively (nothing in it runs as code). Exactly one of:
    ``area`` (geodesic m² of the features), ``count``, ``region_area`` (the region's own outline, m²),
    ``sum`` of formulas, ``ratio`` (numerator, denominator) or ``per_capita`` (a formula over the region's
    population of the year); ``scale`` multiplies the result (100 for a percentage)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area: Measure | None = None
    count: Measure | None = None
    region_area: bool | None = None
    sum: tuple[Formula, ...] | None = None
    ratio: tuple[Formula, Formula] | None = None
    per_capita: PerCapita | None = None
    scale: float = 1.0

    @model_validator(mode="after")
    def _one(self) -> Formula:
        kinds = [k for k in KINDS if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"a formula is exactly one of {', '.join(KINDS)} (found {', '.join(kinds) or 'none'})")
        return self

    def parts(self) -> tuple[Formula, ...]:
        """The formulas this one is made of."""
        return (*(self.sum or ()), *(self.ratio or ()), *((self.per_capita.numerator,) if self.per_capita else ()))

    def measures(self) -> list[Measure]:
        """Every layer measure in the formula."""
        own = [m for m in (self.area, self.count) if m is not None]
        return own + [m for f in self.parts() for m in f.measures()]

    def per_capita_kinds(self) -> set[str]:
        """The populations the formula divides by (empty: it needs no population table)."""
        own = {self.per_capita.population} if self.per_capita else set()
        return own.union(*(f.per_capita_kinds() for f in self.parts()))


KINDS = ("area", "count", "region_area", "sum", "ratio", "per_capita")
PerCapita.model_rebuild()


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    confidence: Literal["HIGH", "MEDIUM", "LOW"]


class IndicatorDef(BaseModel):
    """One indicator: its unit, binding type, levels and formula; ``kind`` says which way its target
    binds (min: a protection task the value must not fall below; max: a scale it must not exceed).
    ``layer`` (a control line's or plan layer's area) is what the transmission check compares a lower
    plan's own features with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,30}$")
    title: I18n
    layer: str | None = None
    kind: Literal["min", "max"]
    unit: str
    binding: Literal["约束性", "预期性"] = "约束性"
    levels: tuple[Literal["province", "city", "county", "township"], ...] = ("province", "city", "county")
    formula: Formula | None = None
    warn_margin: float | None = Field(default=None, ge=0, lt=1)
    source: Source | None = None

    @model_validator(mode="after")
    def _formula(self) -> IndicatorDef:
        if self.formula is None and self.layer is None:
            raise ValueError("an indicator needs a formula or a layer")
        return self

    @property
    def computed(self) -> Formula:
        """The formula (a ``layer`` indicator's is the geodesic area of that layer's features)."""
        if self.formula is not None:
            return self.formula
        assert self.layer is not None
        return Formula(area=Measure(layer=self.layer))


class TableField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False
    title: I18n


class IndicatorTableDef(BaseModel):
    """The non-spatial layer of a package that carries the targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table_code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,30}$")
    title: I18n
    fields: dict[str, TableField]


# what each column of a population table holds (the loader, providers/population.py, reads them by role)
PopulationRole = Literal["region", "name", "year", "resident", "urban", "source"]
POPULATION_REQUIRED_ROLES = ("region", "year", "resident", "urban")


class PopulationField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: PopulationRole
    required: bool = False
    title: I18n


class PopulationTableDef(BaseModel):
    """The layout of a population table (常住人口, one row per region and year) that ``onemap population
    load`` reads: column name -> role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: I18n
    fields: dict[str, PopulationField]
    # statistics of a year before this are refused as a mistake (the years of the PRC's statistics)
    first_year: int = Field(default=1949, ge=1900)

    @model_validator(mode="after")
    def _roles(self) -> PopulationTableDef:
        roles = [f.role for f in self.fields.values()]
        twice = sorted({r for r in roles if roles.count(r) > 1})
        if twice:
            raise ValueError(f"a role is given to more than one column: {', '.join(twice)}")
        for role in POPULATION_REQUIRED_ROLES:
            if not any(f.role == role and f.required for f in self.fields.values()):
                raise ValueError(f"the population table needs a required column of role {role!r}")
        return self

    def column(self, role: str) -> str | None:
        """The name of the column that holds ``role`` (None: the layout has none)."""
        return next((name for name, f in self.fields.items() if f.role == role), None)


class Indicators(BaseModel):
    """The whole file, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    table: IndicatorTableDef
    units: dict[str, float]
    # units of values that are not areas, and what they mean (the formula gives them as they are)
    plain_units: dict[str, I18n] = Field(default_factory=dict)
    # 达标 / 预警 / 超标: a value within this share of its target (on the side that is still allowed) warns
    warn_margin: float = Field(default=0.05, ge=0, lt=1)
    indicators: tuple[IndicatorDef, ...]
    # the population table per-capita formulas divide by (None: this file declares no layout to load one)
    population: PopulationTableDef | None = None
    # indicators of the national lists that need data a one-map server does not hold
    not_computed: tuple[dict[str, str], ...] = ()

    @property
    def by_code(self) -> dict[str, IndicatorDef]:
        return {i.code: i for i in self.indicators}

    def m2(self, value: float, unit: str) -> float:
        """A value in ``unit`` as square metres."""
        return float(value) * self.units[unit]


REQUIRED_FIELDS = ("XZQDM", "ZBDM", "ZBZ")  # the reader's own column names (the table may add others)


def load_indicators(path: Path = INDICATORS_PATH, layers: set[str] | None = None,
                    table_codes: set[str] | None = None) -> Indicators:
    """Read and check the file; ``layers``/``table_codes`` of the catalogue, when given, are checked too."""
    ind = validated(Indicators, read_yaml(path, "plan indicators"), path.name)
    codes = [i.code for i in ind.indicators]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"{path.name}: an indicator code is listed twice")
    missing = [f for f in REQUIRED_FIELDS if f not in ind.table.fields]
    if missing:
        raise ConfigError(f"{path.name}: the indicator table must have the fields {', '.join(missing)}")
    for i in ind.indicators:
        if i.unit not in ind.units and i.unit not in ind.plain_units:
            raise ConfigError(f"{path.name}: indicator {i.code}: unit {i.unit!r} is not in 'units' or 'plain_units'")
        named = [m.layer for m in i.computed.measures()] + ([i.layer] if i.layer else [])
        for layer in named:
            if layers is not None and layer not in layers:
                raise ConfigError(f"{path.name}: indicator {i.code}: no layer {layer!r} in the catalogue")
    if table_codes is not None and ind.table.table_code in table_codes:
        raise ConfigError(f"{path.name}: table code {ind.table.table_code} is a layer's table code")
    return ind


@lru_cache(maxsize=4)
def get_indicators(path: Path = INDICATORS_PATH) -> Indicators:
    """The indicators, checked against the catalogue, loaded once per process."""
    from .catalogue import get_catalogue

    cat = get_catalogue()
    return load_indicators(path, set(cat.layers), {layer.table_code for layer in cat.layers.values()})
