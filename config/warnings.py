"""预警 rules (config/warnings.yaml): what a scan turns into warnings, and how deliveries retry.

Checked when loaded: every layer it names must be in the catalogue, every severity and status known.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ConfigError
from .files import read_yaml, validated

WARNINGS_PATH = Path(__file__).resolve().parent / "warnings.yaml"
I18n = dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(_Strict):
    zh: str
    en: str
    rank: int = Field(ge=1)


class IndicatorRule(_Strict):
    """Indicator statuses (达标/预警/超标) that open a warning, and its severity."""

    status_severity: dict[Literal["warning", "breach"], str]


class LineRule(_Strict):
    """A control line a filed plan's urban construction land must not overlap (or must stay inside)."""

    layer: str
    test: Literal["overlap", "outside"]
    severity: str
    title: I18n


class FilingRule(_Strict):
    plan_types: tuple[Literal["master", "detailed", "special"], ...]
    land_use_layer: str
    land_use_field: str
    min_m2: float = Field(default=1.0, ge=0)
    lines: tuple[LineRule, ...]


class LandRule(_Strict):
    """The severity of each finding of the land audit (config/land_audit.yaml)."""

    severity: dict[Literal["approved_not_supplied", "supplied_not_used", "idle"], str]


class DeliveryRule(_Strict):
    backoff_seconds: tuple[float, ...] = Field(min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_redirects: int = Field(default=3, ge=0, le=10)


class WarningRules(_Strict):
    """The whole file, validated."""

    version: Literal[1]
    kinds: dict[Literal["indicator", "filing", "land", "monitoring"], I18n]
    severities: dict[str, Severity]
    indicator: IndicatorRule
    filing: FilingRule
    land: LandRule = LandRule(severity={"approved_not_supplied": "warning", "supplied_not_used": "notice",
                                        "idle": "severe"})
    delivery: DeliveryRule

    @model_validator(mode="after")
    def _known(self) -> WarningRules:
        used = [*self.indicator.status_severity.values(), *(line.severity for line in self.filing.lines),
                *self.land.severity.values()]
        unknown = sorted(set(used) - set(self.severities))
        if unknown:
            raise ValueError(f"unknown severity {unknown[0]!r}; the severities are {', '.join(self.severities)}")
        if any(s < 0 for s in self.delivery.backoff_seconds):
            raise ValueError("delivery.backoff_seconds are waits in seconds, 0 or more")
        return self

    def rank(self, severity: str) -> int:
        return self.severities[severity].rank


def load_warning_rules(path: Path = WARNINGS_PATH, layers: dict[str, set[str]] | None = None) -> WarningRules:
    """Read and check the file; ``layers`` (catalogue layer id -> its field names), when given, are checked too."""
    rules = validated(WarningRules, read_yaml(path, "warning rules"), path.name)
    if layers is not None:
        f = rules.filing
        named = [f.land_use_layer, *(line.layer for line in f.lines)]
        missing = [lid for lid in named if lid not in layers]
        if missing:
            raise ConfigError(f"{path.name}: no layer {missing[0]!r} in the catalogue")
        if f.land_use_field not in layers[f.land_use_layer]:
            raise ConfigError(f"{path.name}: {f.land_use_layer} has no field {f.land_use_field!r}")
    return rules


@lru_cache(maxsize=4)
def get_warning_rules(path: Path = WARNINGS_PATH) -> WarningRules:
    """The rules, checked against the catalogue, loaded once per process."""
    from .catalogue import get_catalogue

    cat = get_catalogue()
    return load_warning_rules(path, {lid: {f.name for f in layer.fields} for lid, layer in cat.layers.items()})
