"""Plan indicators (config/indicators.yaml): which targets a plan's indicator table may set.

The package loader reads a plan's indicator table against this; the transmission check
compares a lower plan's totals with the targets. Codes, layers, min/max and units are data.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .files import read_yaml

INDICATORS_PATH = Path(__file__).resolve().parent / "indicators.yaml"
I18n = dict[str, str]


class IndicatorDef(BaseModel):
    """One indicator: the layer whose area it measures, min or max, its unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,30}$")
    title: I18n
    layer: str
    kind: Literal["min", "max"]
    unit: str


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


class Indicators(BaseModel):
    """The whole file, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    table: IndicatorTableDef
    units: dict[str, float]
    indicators: tuple[IndicatorDef, ...]

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
    raw = read_yaml(path, "plan indicators")
    try:
        ind = Indicators.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path.name}: {where}: {first['msg']}") from err
    codes = [i.code for i in ind.indicators]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"{path.name}: an indicator code is listed twice")
    missing = [f for f in REQUIRED_FIELDS if f not in ind.table.fields]
    if missing:
        raise ConfigError(f"{path.name}: the indicator table must have the fields {', '.join(missing)}")
    for i in ind.indicators:
        if i.unit not in ind.units:
            raise ConfigError(f"{path.name}: indicator {i.code}: unit {i.unit!r} is not in 'units'")
        if layers is not None and i.layer not in layers:
            raise ConfigError(f"{path.name}: indicator {i.code}: no layer {i.layer!r} in the catalogue")
    if table_codes is not None and ind.table.table_code in table_codes:
        raise ConfigError(f"{path.name}: table code {ind.table.table_code} is a layer's table code")
    return ind


@lru_cache(maxsize=4)
def get_indicators(path: Path = INDICATORS_PATH) -> Indicators:
    """The indicators, checked against the catalogue, loaded once per process."""
    from .catalogue import get_catalogue

    cat = get_catalogue()
    return load_indicators(path, set(cat.layers), {layer.table_code for layer in cat.layers.values()})
