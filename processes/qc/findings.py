"""Findings of the quality check and the collector that counts them all and keeps the first few."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import shapely

from .config import QcConfig, Severity


@dataclass
class Finding:
    """One problem: which rule, how bad, where (layer, feature, location in EPSG:4490) and why."""

    rule: str
    variant: str
    severity: Severity
    layer: str | None  # the layer's name in the package (its table code), None for the package
    layer_id: str | None  # the catalogue layer
    fid: int | None  # the feature id in the source (GeoPackage fid, Shapefile record index, store fid)
    row: int | None  # the record's position in its layer, from 1
    bsm: str | None
    field: str | None
    location: shapely.Geometry | None
    measured: Any
    expected: Any
    message_zh: str
    message_en: str

    def key(self) -> tuple:
        """What identifies a finding across two runs (tests compare these)."""
        return (self.rule, self.variant, self.layer, self.bsm, self.field)


def _num(v: Any) -> Any:
    """Numbers rounded for people (2 decimals), other values as they are."""
    if isinstance(v, float):
        return round(v, 2)
    return v


class SeverityCounts:
    """``errors`` and ``warnings`` from a ``counts`` mapping of (rule, severity) -> n."""

    counts: Any

    @property
    def errors(self) -> int:
        return sum(n for (_, sev), n in self.counts.items() if sev == "error")

    @property
    def warnings(self) -> int:
        return sum(n for (_, sev), n in self.counts.items() if sev == "warning")


@dataclass
class Collector(SeverityCounts):
    """Counts every finding; keeps at most ``limit`` per rule and layer (memory stays bounded)."""

    config: QcConfig
    limit: int
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (rule, severity) -> n
    by_layer: Counter = field(default_factory=Counter)  # (layer, severity) -> n
    kept: Counter = field(default_factory=Counter)  # (rule, layer) -> n kept
    dropped: Counter = field(default_factory=Counter)  # (rule, layer) -> n not kept
    pending: dict[tuple[str, int], list[Finding]] = field(default_factory=dict)  # located later, by fid

    def room(self, rule: str, layer: str | None) -> bool:
        """Would a finding of ``rule`` on ``layer`` still be kept (not only counted)?"""
        return self.kept[(rule, layer or "-")] < self.limit

    def add(self, rule: str, variant: str, *, layer: str | None = None, layer_id: str | None = None,
            fid: int | None = None, row: int | None = None, bsm: str | None = None, field: str | None = None,
            location: shapely.Geometry | None = None, measured: Any = None, expected: Any = None,
            locate_later: bool = False, **params: Any) -> Finding | None:
        """Record a finding; returns it when it is kept (None when only counted)."""
        severity = self.config.severity(rule, variant)
        self.counts[(rule, severity)] += 1
        self.by_layer[(layer or "-", severity)] += 1
        key = (rule, layer or "-")
        if self.kept[key] >= self.limit:
            self.dropped[key] += 1
            return None
        self.kept[key] += 1
        values = {"layer": layer or "", "field": field or "", "bsm": bsm or "", "fid": fid if fid is not None else "",
                  "measured": _num(measured), "expected": _num(expected), **params}
        zh, en = self.config.message(rule, variant, values)
        f = Finding(rule=rule, variant=variant, severity=severity, layer=layer, layer_id=layer_id, fid=fid, row=row,
                    bsm=bsm, field=field, location=location, measured=measured, expected=expected,
                    message_zh=zh, message_en=en)
        self.findings.append(f)
        if locate_later and location is None and layer_id is not None and fid is not None:
            self.pending.setdefault((layer_id, int(fid)), []).append(f)
        return f
