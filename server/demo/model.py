"""The demo region's data: drawer entries, layer batches and the region itself."""

from __future__ import annotations

import datetime
import pathlib
from dataclasses import dataclass, field

import numpy as np
import shapely


@dataclass
class PlanEntry:
    """One drawer entry: a plan version or a survey."""

    id: str  # f"{region}-{level}-{type}[-{subject}]-{version}"
    region: str
    level: str  # national | province | city | county | township
    type: str  # master | detailed | special | survey
    version: str
    title: str
    status: str  # its status now (the last of its transitions)
    approval_no: str | None
    approval_date: datetime.date | None
    valid_from: datetime.date | None
    valid_to: datetime.date | None  # None = still in force
    upper_plan_id: str | None
    submitted_by: str
    submitted_at: datetime.datetime  # timezone-aware, +08:00
    outline: shapely.MultiPolygon  # EPSG:4490 lon/lat
    subject: str | None = None  # a special plan's category, a detailed plan's unit
    # transitions after filing, in record order: (recorded at, by, from, to, reason, valid_from, valid_to, related);
    # submission, check, approval and filing are derived from the dates above
    later: list[tuple] = field(default_factory=list)


@dataclass
class LayerBatch:
    """The features of one catalogue layer in one drawer entry."""

    layer_id: str
    plan_id: str
    columns: dict[str, list | np.ndarray]  # exactly the catalogue fields of the layer
    geometry: np.ndarray  # shapely MultiPolygons, EPSG:4490 lon/lat, valid

    def __len__(self) -> int:
        return len(self.geometry)


@dataclass
class DemoRegion:
    """Everything the generator makes."""

    plans: list[PlanEntry]
    batches: list[LayerBatch]
    dem_path: pathlib.Path
    meta: dict = field(default_factory=dict)
    indicators: list = field(default_factory=list)  # PlanIndicator rows of the upper plans (indicators.py)
    population: list = field(default_factory=list)  # PopulationRow rows of every region and year (population.py)

    def plan(self, plan_id: str) -> PlanEntry:
        """The drawer entry with this id (KeyError if there is none)."""
        for p in self.plans:
            if p.id == plan_id:
                return p
        raise KeyError(plan_id)

    def batch(self, plan_id: str, layer_id: str) -> LayerBatch | None:
        """The batch of ``layer_id`` in drawer entry ``plan_id``, or None."""
        for b in self.batches:
            if b.plan_id == plan_id and b.layer_id == layer_id:
                return b
        return None
