"""Put the generated demo region into a store (GeoPackage or PostGIS), all or nothing."""

from __future__ import annotations

import datetime as dt
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


def _history(p: Plan) -> list[tuple]:
    """The trace a demo entry would have had (submitted, checked, approved, filed, superseded)."""
    tz = p.submitted_at.tzinfo if p.submitted_at else dt.timezone(dt.timedelta(hours=8))
    at = (lambda d: dt.datetime.combine(d, dt.time(9, 0), tzinfo=tz))  # noqa: E731
    out = [(p.id, p.submitted_at or at(p.valid_from), p.submitted_by or "demo", None, "submitted", "demo package")]
    if p.valid_from is None:
        return out
    checked = (p.submitted_at or at(p.valid_from)) + dt.timedelta(days=1)
    out.append((p.id, checked, "质检中心", "submitted", "checked", "quality check passed"))
    approved = at(p.approval_date) if p.approval_date else at(p.valid_from) - dt.timedelta(days=1)
    out.append((p.id, approved, "人民政府" if p.approval_date else "审核单位", "checked", "approved",
                p.approval_no or "reviewed"))
    out.append((p.id, at(p.valid_from), p.submitted_by or "demo", "approved", "filed", "in force"))
    if p.status == "superseded" and p.valid_to:
        out.append((p.id, at(p.valid_to), p.submitted_by or "demo", "filed", "superseded", "a new version was filed"))
    return out


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
        events = [e for p in plans for e in _history(p)]
        batches = [FeatureBatch(layer_id=b.layer_id, plan_id=b.plan_id, columns=dict(b.columns),
                                geometry=b.geometry) for b in region.batches]
        if progress:
            progress("writing the store", 0.0)
        store.init_schema()
        store.write(plans, batches, replace_all=True, events=events, indicators=region.indicators)
        if progress:
            progress("writing the store", 1.0)
        dem_target = demo_dem_path(settings)
        shutil.copyfile(region.dem_path, dem_target)
    meta = dict(region.meta)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["features"] = sum(len(b) for b in batches)
    meta["plans"] = len(plans)
    return meta
