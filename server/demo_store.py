"""Put the generated demo region into a store (GeoPackage or PostGIS), all or nothing."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from onemap.config.settings import Settings
from onemap.providers.store import Store
from onemap.providers.store.base import FeatureBatch, Plan


def demo_dem_path(settings: Settings) -> Path:
    """Where the demo DEM lives (slope for site selection, relief for the basemap)."""
    return settings.data_dir / "dem.tif"


def build_demo(settings: Settings, store: Store, parcels: int, seed: int,
               progress: Callable[[str, float], None] | None = None) -> dict:
    """Generate the demo region and replace the store's contents with it; returns its facts."""
    from . import demo

    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".demo-") as tmp:
        region = demo.generate(parcels, seed, Path(tmp), progress=progress)
        plans = [Plan(
            id=p.id, region=p.region, level=p.level, type=p.type, version=p.version, title=p.title,
            status=p.status, approval_no=p.approval_no, approval_date=p.approval_date,
            valid_from=p.valid_from, valid_to=p.valid_to, upper_plan_id=p.upper_plan_id,
            submitted_by=p.submitted_by, submitted_at=p.submitted_at, outline=p.outline,
        ) for p in region.plans]
        batches = [FeatureBatch(layer_id=b.layer_id, plan_id=b.plan_id, columns=dict(b.columns),
                                geometry=b.geometry) for b in region.batches]
        if progress:
            progress("writing the store", 0.0)
        store.init_schema()
        store.write(plans, batches, replace_all=True)
        if progress:
            progress("writing the store", 1.0)
        dem_target = demo_dem_path(settings)
        shutil.copyfile(region.dem_path, dem_target)
    meta = dict(region.meta)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["features"] = sum(len(b) for b in batches)
    meta["plans"] = len(plans)
    return meta
