"""What every check sees: the configuration, the plan's region, the collector of findings and
the running state of the layer being read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Catalogue

from .config import QcConfig, Tiling
from .findings import Collector
from .reader import Chunk, LayerInput


@dataclass
class LayerState:
    """One layer while it is read: the fields that can be checked, and what later checks need."""

    inp: LayerInput
    extent: shapely.Geometry | None = None
    ok_fields: set[str] = field(default_factory=set)
    values: dict[str, np.ndarray] = field(default_factory=dict)  # this chunk's values, normalised
    bsm: np.ndarray | None = None  # this chunk's BSM as text
    bsm_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # (bytes, fid, row)
    area_field: str | None = None
    area_sum: float = 0.0
    area_values: int = 0
    valid: int = 0
    read: int = 0  # features read
    whole: Any = None  # a small layer's valid features (cells.CellFeatures), judged once for T01/T07

    @property
    def name(self) -> str:
        return self.inp.name

    @property
    def layer_id(self) -> str:
        return self.inp.layer.id


@dataclass
class Context:
    """The check run: configuration, the plan's drawer and region, findings."""

    config: QcConfig
    catalogue: Catalogue
    out: Collector
    region: str
    level: str
    type_: str
    prefix: str  # region-code prefix the region covers ("" for national plans)
    region_outline: shapely.Geometry | None = None
    region_name: str = ""
    region_source: str = ""
    notes: list[dict[str, str]] = field(default_factory=list)
    tiling: dict[str, Tiling] = field(default_factory=dict)

    def note(self, zh: str, en: str) -> None:
        self.notes.append({"zh": zh, "en": en})

    def feature(self, state: LayerState, chunk: Chunk, i: int, rule: str, variant: str, *,
                location: shapely.Geometry | None = None, **kw: Any) -> None:
        """A finding about feature ``i`` of ``chunk``: its fid, row, BSM and a point on it."""
        layer = state.name
        if location is None and self.out.room(rule, layer):
            location = locate(chunk.geoms[i])
        bsm = state.bsm[i] if state.bsm is not None else None
        self.out.add(rule, variant, layer=layer, layer_id=state.layer_id, fid=int(chunk.fids[i]),
                     row=int(chunk.rows[i]) if chunk.rows is not None else None, bsm=bsm, location=location, **kw)


def locate(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """A point on a feature (inside it where GEOS can tell), or None."""
    if geom is None or geom.is_empty:
        return None
    try:
        if geom.is_valid:
            return shapely.point_on_surface(geom)
    except shapely.errors.GEOSException:
        pass
    x0, y0, x1, y1 = geom.bounds
    return shapely.Point((x0 + x1) / 2, (y0 + y1) / 2)
