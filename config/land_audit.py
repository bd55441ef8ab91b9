"""土地全生命周期 rules (config/land_audit.yaml): what the land audit counts as 批而未供, 供而未用 and 闲置土地."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .files import read_yaml

LAND_AUDIT_PATH = Path(__file__).resolve().parent / "land_audit.yaml"
I18n = dict[str, str]
CATEGORIES = ("approved_not_supplied", "supplied_not_used", "idle")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovedNotSupplied(_Strict):
    after_years: int = Field(ge=0, le=50)
    min_m2: float = Field(default=1.0, ge=0)
    title: I18n


class SuppliedNotUsed(_Strict):
    after_days: int = Field(default=0, ge=0, le=3650)
    title: I18n


class Idle(_Strict):
    not_started_years: int = Field(ge=1, le=10)
    stopped_years: int = Field(ge=1, le=10)
    developed_share_below: float = Field(gt=0, le=1)
    invested_share_below: float = Field(gt=0, le=1)
    title: I18n
    consequence: I18n


class LandAuditRules(_Strict):
    version: Literal[1]
    approved_not_supplied: ApprovedNotSupplied
    supplied_not_used: SuppliedNotUsed
    idle: Idle

    def title(self, category: str) -> I18n:
        rule: ApprovedNotSupplied | SuppliedNotUsed | Idle = getattr(self, category)
        return rule.title


def years_after(day: dt.date, years: int) -> dt.date:
    """The last day of a period of ``years`` years from ``day`` (民法典 第二百零二条: the same day, 29 Feb -> 28 Feb);
    the period is complete from the day after it."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one: the month's last day
        return day.replace(year=day.year + years, day=28)


def load_land_audit_rules(path: Path = LAND_AUDIT_PATH) -> LandAuditRules:
    raw = read_yaml(path, "land audit rules")
    try:
        return LandAuditRules.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path.name}: {where}: {first['msg']}") from err


@lru_cache(maxsize=4)
def get_land_audit_rules(path: Path = LAND_AUDIT_PATH) -> LandAuditRules:
    """The rules, loaded once per process."""
    return load_land_audit_rules(path)
