"""The quality-check configuration: config/qc.yaml (rules, thresholds, layers, messages) and
the rule catalogue config/qc_rules.csv, validated against the layer catalogue at load.

A province's own file (``ONEMAP_QC_RULES``) is merged onto OneMap's: mappings key by key,
lists and values replace. Nothing in either file is ever evaluated: messages are templates
whose ``{name}`` placeholders are replaced by plain values.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from onemap.config.catalogue import PLAN_LEVELS, PLAN_TYPES, Catalogue
from onemap.config.errors import ConfigError
from onemap.config.files import read_yaml, validated
from onemap.config.settings import PACKAGE_DIR

DEFAULT_PATH = PACKAGE_DIR / "qc.yaml"
Severity = Literal["error", "warning"]
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSetting(_Model):
    enabled: bool = True
    severity: Severity | None = None
    variants: dict[str, Severity] = Field(default_factory=dict)
    why: str | None = None


class Thresholds(_Model):
    overlap_m2: float = Field(ge=0)
    gap_m2: float = Field(ge=0)
    outside_m2: float = Field(ge=0)
    sliver_area_m2: float = Field(ge=0)
    sliver_width_m: float = Field(ge=0)
    spike_angle_deg: float = Field(ge=0, le=180)
    area_absolute_m2: float = Field(ge=0)
    area_relative: float = Field(ge=0)
    sum_relative: float = Field(ge=0)
    zone_margin_deg: float = Field(ge=0, le=3)


class Performance(_Model):
    chunk_features: int = Field(ge=10, le=10_000_000)
    cell_features: int = Field(ge=1, le=10_000_000)
    max_findings_per_rule: int = Field(ge=1, le=1_000_000)


class RequiredLayers(_Model):
    levels: list[str] | None = None
    types: list[str] | None = None
    layers: list[str]

    def matches(self, level: str, type_: str) -> bool:
        return (self.levels is None or level in self.levels) and (self.types is None or type_ in self.types)


class Tiling(_Model):
    region: Literal["plan_region", "own_outline"]
    boundary_layer: str | None = None


class Topology(_Model):
    no_overlap: dict[str, str | None] = Field(default_factory=dict)
    tiling: dict[str, Tiling] = Field(default_factory=dict)
    control_lines: list[str] = Field(default_factory=list)
    inside_region: bool = True


class SurveyLogic(_Model):
    layer: str
    czcsxm_required_for: list[str]
    czcsxm_reserved: dict[str, list[str]]


class Attributes(_Model):
    region_code_fields: dict[str, list[int]] = Field(default_factory=dict)
    survey_logic: SurveyLogic | None = None


class Message(_Model):
    zh: str
    en: str


class RuleInfo(_Model):
    """One row of the rule catalogue (qc_rules.csv)."""

    id: str
    category: str
    check: str
    rule: str
    basis_source: str
    implementation_hint: str
    severity_suggested: str
    title_en: str


class QcConfig(_Model):
    version: Literal[1]
    catalogue: str
    rules: dict[str, RuleSetting]
    thresholds: Thresholds
    performance: Performance
    required_layers: list[RequiredLayers]
    topology: Topology
    attributes: Attributes
    areas: dict[str, Any] = Field(default_factory=dict)
    messages: dict[str, dict[str, Message]]
    # filled in by the loader
    path: str = ""
    rule_catalogue: dict[str, RuleInfo] = Field(default_factory=dict)

    # ---- questions the checks ask --------------------------------------------------------------
    def enabled(self, rule: str) -> bool:
        setting = self.rules.get(rule)
        return setting is not None and setting.enabled

    def severity(self, rule: str, variant: str | None = None) -> Severity:
        setting = self.rules[rule]
        if variant and variant in setting.variants:
            return setting.variants[variant]
        if setting.severity:
            return setting.severity
        return "warning" if self.rule_catalogue[rule].severity_suggested == "warning" else "error"

    def message(self, rule: str, variant: str, params: dict[str, Any]) -> tuple[str, str]:
        """The (zh, en) message of a finding, placeholders filled from ``params``."""
        msg = self.messages[rule][variant]
        return fill(msg.zh, params), fill(msg.en, params)

    def required_for(self, level: str, type_: str) -> list[str]:
        for entry in self.required_layers:
            if entry.matches(level, type_):
                return list(entry.layers)
        return []

    def title(self, rule: str) -> dict[str, str]:
        info = self.rule_catalogue.get(rule)
        return {"zh": info.check if info else rule, "en": info.title_en if info else rule}


def fill(template: str, params: dict[str, Any]) -> str:
    """Replace ``{name}`` by ``str(params[name])``; unknown names stay as they are."""
    return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), template)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return override


def _read_yaml(path: Path) -> dict:
    raw = read_yaml(path, "quality-check rules")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping")
    return raw


def _read_catalogue(path: Path) -> dict[str, RuleInfo]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise ConfigError(f"cannot read the quality-check rule catalogue {path.name}: {err.strerror}") from err
    out = {}
    for i, row in enumerate(rows, start=2):
        try:
            info = RuleInfo.model_validate({k: (v or "").strip() for k, v in row.items() if k})
        except ValidationError as err:
            raise ConfigError(f"{path.name} line {i}: {err.errors()[0]['msg']}") from err
        out[info.id] = info
    if not out:
        raise ConfigError(f"{path.name}: the rule catalogue is empty")
    return out


# which message variants each implemented rule needs (checked at load: a province's file may
# rename or drop nothing the code uses)
VARIANTS: dict[str, tuple[str, ...]] = {
    "C01": ("missing", "empty", "twice", "misplaced"),
    "C02": ("missing_field", "missing_optional", "type", "value_type", "length"),
    "C03": ("empty",),
    "M01": ("none", "wrong"),
    "M02": ("zone", "prefix", "outside"),
    "T01": ("overlap",),
    "T02": ("gap",),
    "T03": ("empty", "type", "invalid", "undecodable"),
    "T05": ("small", "thin"),
    "T06": ("spike", "curve"),
    "T07": ("control", "outside"),
    "A01": ("code", "unverified", "name", "edition"),
    "A02": ("mismatch", "unverified"),
    "A03": ("ysdm",),
    "A04": ("duplicate",),
    "A05": ("format", "outside"),
    "A06": ("required", "reserved"),
    "S01": ("area",),
    "S03": ("sum",),
}


def _validate(cfg: QcConfig, catalogue: Catalogue) -> None:
    where = Path(cfg.path).name
    for rid in cfg.rules:
        if rid not in cfg.rule_catalogue:
            raise ConfigError(f"{where}: rule {rid} is not in the rule catalogue")
    for rid, variants in VARIANTS.items():
        if not cfg.enabled(rid):
            continue
        for v in variants:
            if v not in cfg.messages.get(rid, {}):
                raise ConfigError(f"{where}: rule {rid} needs a message '{v}'")
    layers = catalogue.layers

    def layer(lid: str | None, what: str) -> None:
        if lid is not None and lid not in layers:
            raise ConfigError(f"{where}: {what}: no layer {lid!r} in the catalogue")

    for entry in cfg.required_layers:
        for lid in entry.layers:
            layer(lid, "required_layers")
        for lv in entry.levels or []:
            if lv not in PLAN_LEVELS:
                raise ConfigError(f"{where}: required_layers: unknown level {lv!r}")
        for t in entry.types or []:
            if t not in PLAN_TYPES:
                raise ConfigError(f"{where}: required_layers: unknown type {t!r}")
    for lid, group in cfg.topology.no_overlap.items():
        layer(lid, "topology.no_overlap")
        if group is not None and group not in layers[lid].field_map:
            raise ConfigError(f"{where}: topology.no_overlap: {lid} has no field {group!r}")
    for lid, tiling in cfg.topology.tiling.items():
        layer(lid, "topology.tiling")
        layer(tiling.boundary_layer, f"topology.tiling.{lid}.boundary_layer")
    for lid in cfg.topology.control_lines:
        layer(lid, "topology.control_lines")
    if cfg.attributes.survey_logic is not None:
        layer(cfg.attributes.survey_logic.layer, "attributes.survey_logic")
    for name, lengths in cfg.attributes.region_code_fields.items():
        if not lengths or any(n not in (2, 4, 6, 9, 12, 19) for n in lengths):
            raise ConfigError(f"{where}: attributes.region_code_fields.{name}: lengths must be among 6, 9, 12, 19")


@lru_cache(maxsize=8)
def _load(path: str, mtime: int, default_mtime: int, catalogue: Catalogue) -> QcConfig:
    raw = _read_yaml(DEFAULT_PATH)
    p = Path(path)
    if p.resolve() != DEFAULT_PATH.resolve():
        raw = _merge(raw, _read_yaml(p))
    cat_name = str(raw.get("catalogue") or "qc_rules.csv")
    cat_path = p.parent / cat_name
    if not cat_path.exists():
        cat_path = DEFAULT_PATH.parent / cat_name
    cfg = validated(QcConfig, raw, p.name)
    cfg = cfg.model_copy(update={"path": str(p), "rule_catalogue": _read_catalogue(cat_path)})
    _validate(cfg, catalogue)
    return cfg


def load_qc_config(catalogue: Catalogue, path: str | Path | None = None) -> QcConfig:
    """The quality-check configuration: ``path``, else ``ONEMAP_QC_RULES``, else config/qc.yaml.

    Re-read when a file changes (the cache is keyed by modification times).
    """
    from onemap.config.settings import get_settings

    p = Path(path) if path else (get_settings().processes.qc_rules or DEFAULT_PATH)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as err:
        raise ConfigError(f"cannot read the quality-check rules {p.name}: {err.strerror}") from None
    return _load(str(p), mtime, DEFAULT_PATH.stat().st_mtime_ns, catalogue)


def qc_rule_files(catalogue: Catalogue) -> list[Path]:
    """The files the quality check's rules come from (for a certificate's rule hashes)."""
    cfg = load_qc_config(catalogue)
    files = [DEFAULT_PATH]
    if Path(cfg.path).resolve() != DEFAULT_PATH.resolve():
        files.append(Path(cfg.path))
    for base in (Path(cfg.path).parent, DEFAULT_PATH.parent):
        candidate = base / "qc_rules.csv"
        if candidate.exists():
            files.append(candidate)
            break
    return files
