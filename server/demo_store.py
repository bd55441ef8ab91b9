"""Put the generated demo region into a store (GeoPackage or PostGIS), all or nothing."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from onemap.config.settings import Settings
from onemap.providers.store import Store
from onemap.providers.store.base import Event, FeatureBatch, Plan

from .demo.model import PlanEntry


def demo_dem_path(settings: Settings) -> Path:
    """Where the demo DEM lives (slope for site selection, relief for the basemap)."""
    return settings.data_dir / "dem.tif"


def _history(p: PlanEntry) -> list[Event]:
    """The trace a demo entry has: submitted, checked, approved, filed, then its later transitions,
    each recorded on its day and in that order (a submission comes before its approval)."""
    tz = p.submitted_at.tzinfo if p.submitted_at else dt.timezone(dt.timedelta(hours=8))

    def at(d: dt.date, hour: int = 9) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(hour, 0), tzinfo=tz)

    by = p.submitted_by or "demo"
    out = [Event(p.id, p.submitted_at, by, None, "submitted", "demo package")]
    first_from = p.later[0][5] if p.later else p.valid_from
    if first_from is None:
        return out
    checked = p.submitted_at + dt.timedelta(days=1)
    approved = at(p.approval_date, 15) if p.approval_date else at(first_from - dt.timedelta(days=1))
    filed = max(at(first_from), approved + dt.timedelta(hours=1))
    if not checked < approved < filed:
        raise ValueError(f"demo entry {p.id}: its dates are out of order")
    out += [
        Event(p.id, checked, "质检中心", "submitted", "checked", "quality check passed"),
        Event(p.id, approved, "人民政府" if p.approval_date else "审核单位", "checked", "approved",
              p.approval_no or "reviewed"),
        Event(p.id, filed, by, "approved", "filed", "in force", first_from, None),
    ]
    for when, who, from_, to, why, valid_from, valid_to, related in p.later:
        out.append(Event(p.id, when, who, from_, to, why, valid_from, valid_to, related))
    if p.status == "superseded" and p.valid_to and not p.later:
        out.append(Event(p.id, at(p.valid_to), by, "filed", "superseded", "a new version was filed",
                         first_from, p.valid_to))
    return out


def _checksum(plan_id: str, batches: list) -> str:
    """The demo's stand-in for a package checksum: SHA-256 of the entry's features as generated
    (its layers, attributes and WKB, in order), so that certificates can name what was checked."""
    import hashlib

    import shapely

    h = hashlib.sha256(plan_id.encode())
    for b in sorted((b for b in batches if b.plan_id == plan_id), key=lambda b: b.layer_id):
        h.update(b.layer_id.encode())
        h.update(repr({k: list(v) for k, v in b.columns.items()}).encode())
        for wkb in shapely.to_wkb(b.geometry).tolist():
            h.update(wkb)
    return h.hexdigest()


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
            submitted_by=p.submitted_by, submitted_at=p.submitted_at, outline=p.outline, subject=p.subject,
            checksum=_checksum(p.id, region.batches),
        ) for p in region.plans]
        events = sorted((e for p in region.plans for e in _history(p)), key=lambda e: e.at)
        batches = [FeatureBatch(layer_id=b.layer_id, plan_id=b.plan_id, columns=dict(b.columns),
                                geometry=b.geometry) for b in region.batches]
        if progress:
            progress("writing the store", 0.0)
        store.init_schema()
        store.write(plans, batches, replace_all=True, events=events, indicators=region.indicators,
                    population=region.population)
        if progress:
            progress("writing the store", 1.0)
        dem_target = demo_dem_path(settings)
        shutil.copyfile(region.dem_path, dem_target)
    meta = dict(region.meta)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["features"] = sum(len(b) for b in batches)
    meta["plans"] = len(plans)
    return meta
