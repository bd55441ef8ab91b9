"""动态监测 rules (config/monitoring.yaml): which new construction land a change detection reports.

Checked when loaded: the layer, its fields and the control lines must be in the catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ConfigError
from .files import read_yaml, validated

MONITORING_PATH = Path(__file__).resolve().parent / "monitoring.yaml"
I18n = dict[str, str]


def matches(code: str | None, patterns: Sequence[str]) -> bool:
    """Is ``code`` one of ``patterns`` (``"08H2*"``: any code starting ``08H2``)?"""
    if not code:
        return False
    return any(code.startswith(p[:-1]) if p.endswith("*") else code == p for p in patterns)


class MonitoringRule(BaseModel):
    """What a rule reports of the new construction land: that on ``from`` classes, or inside/outside a line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    title: I18n
    from_: tuple[str, ...] = Field(default=(), alias="from")
    line: str | None = None
    test: Literal["inside", "outside"] | None = None
    urban_only: bool = False
    severity: Literal["notice", "warning", "severe"]
    warn_m2: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_test(self) -> MonitoringRule:
        if bool(self.from_) == bool(self.line) or bool(self.line) != bool(self.test):
            raise ValueError("a rule names either 'from' classes or a 'line' with its 'test'")
        return self


class MonitoringRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    layer: str
    code_field: str
    construction: tuple[str, ...]
    urban_field: str
    urban: tuple[str, ...]
    min_m2: float = Field(default=1.0, ge=0)
    rules: tuple[MonitoringRule, ...] = Field(min_length=1)


def load_monitoring_rules(path: Path = MONITORING_PATH, layers: dict[str, set[str]] | None = None) -> MonitoringRules:
    """Read and check the file; ``layers`` (catalogue layer id -> its field names), when given, are checked too."""
    rules = validated(MonitoringRules, read_yaml(path, "monitoring rules"), path.name)
    ids = [r.id for r in rules.rules]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path.name}: a rule id is listed twice")
    if layers is not None:
        if rules.layer not in layers:
            raise ConfigError(f"{path.name}: no layer {rules.layer!r} in the catalogue")
        for name in (rules.code_field, rules.urban_field):
            if name not in layers[rules.layer]:
                raise ConfigError(f"{path.name}: {rules.layer} has no field {name!r}")
        for r in rules.rules:
            if r.line is not None and r.line not in layers:
                raise ConfigError(f"{path.name}: rule {r.id}: no layer {r.line!r} in the catalogue")
    return rules


@lru_cache(maxsize=4)
def get_monitoring_rules(path: Path = MONITORING_PATH) -> MonitoringRules:
    """The rules, checked against the catalogue, loaded once per process."""
    from .catalogue import get_catalogue

    cat = get_catalogue()
    return load_monitoring_rules(path, {lid: {f.name for f in layer.fields} for lid, layer in cat.layers.items()})
