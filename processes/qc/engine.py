"""Runs the quality check: the rule groups over a package or a drawer entry, in two passes.

Pass 1 reads each layer chunk by chunk: the mathematical basis decides where its coordinates
go, then every feature-level rule runs (C02, C03, T03, T05, T06, A01-A06, S01) and each valid
feature is spilled to the cells it meets. Between the passes the plan's region is settled.
Pass 2 visits the cells (T01, T02, T07); then gaps and outside pieces are merged and the area
sums compared (S03). Memory holds one chunk or one cell, never a whole layer.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import PLAN_LEVELS, PLAN_TYPES, Catalogue
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.domain.plans import validate_level
from onemap.providers.geometry import as_multi
from onemap.providers.store.base import Store, region_prefix

from . import areas, attributes, completeness, topology
from .cells import CellFeatures, Grid, Spill
from .config import QcConfig, Tiling, load_qc_config
from .context import Context, LayerState
from .findings import Collector, Finding, SeverityCounts
from .mathematics import check_crs
from .measure import geodesic_area_perimeter
from .reader import LayerInput, read_package_layers, read_plan_layers

Progress = Callable[[str, float], None]


@dataclass
class QcResult(SeverityCounts):
    """Everything a report needs."""

    subject: dict[str, Any]
    config: QcConfig
    findings: list[Finding]
    counts: dict[tuple[str, str], int]
    by_layer: dict[tuple[str, str], int]
    dropped: dict[tuple[str, str], int]
    layers: list[dict[str, Any]]
    notes: list[dict[str, str]]
    region_outline: shapely.Geometry | None
    started: dt.datetime
    seconds: float
    rules_run: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No error findings (warnings do not block)."""
        return self.errors == 0

    def summary(self) -> str:
        """One line: the verdict and the counts by rule (the registry records it as the reason)."""
        by_rule = ", ".join(f"{rule} {n}" for (rule, _sev), n in sorted(self.counts.items()))
        verdict = "passed" if self.passed else "failed"
        return (f"quality check {verdict}: {self.errors} errors, {self.warnings} warnings"
                + (f" ({by_rule})" if by_rule else ""))


def _noop(stage: str, fraction: float) -> None:
    return None


def check_package(path: str | Path, *, region: str, level: str, type_: str, catalogue: Catalogue,
                  store: Store | None = None, config: QcConfig | None = None, progress: Progress | None = None,
                  workdir: str | Path | None = None, codes_dir: Path | None = None,
                  recorded: dt.datetime | None = None) -> QcResult:
    """Check a package (GeoPackage, zipped Shapefiles, File Geodatabase) for a drawer ``(region, level, type)``.

    ``store`` (optional) gives the region's outline from the land survey in force (on the day of
    ``recorded``, as the registry stood then, when given).
    """
    validate_level(region, level, type_)
    config = config or load_qc_config(catalogue)
    contents = read_package_layers(path, catalogue)
    subject = {"kind": "package", "package": Path(path).name, "format": contents.format,
               "checksum": contents.checksum, "region": region, "level": level, "type": type_,
               "skipped_layers": contents.skipped, "unreadable_layers": contents.unreadable}
    return _run(subject, contents.layers, catalogue, config, store, progress, workdir, codes_dir, recorded)


def check_plan(store: Store, plan_id: str, *, config: QcConfig | None = None, progress: Progress | None = None,
               workdir: str | Path | None = None, recorded: dt.datetime | None = None) -> QcResult:
    """Check a drawer entry already in the store (read through ``store.geometries``)."""
    plan = store.plan(plan_id, recorded)
    if plan is None:
        raise NotFound(f"no drawer entry {plan_id!r}")
    config = config or load_qc_config(store.catalogue)
    subject = {"kind": "plan", "plan_id": plan.id, "status": plan.status, "title": plan.title,
               "region": plan.region, "level": plan.level, "type": plan.type, "version": plan.version,
               "checksum": plan.checksum}
    return _run(subject, read_plan_layers(store, plan), store.catalogue, config, store, progress, workdir, None,
                recorded)


def _region_from_store(store: Store | None, region: str, recorded: dt.datetime | None = None
                       ) -> tuple[shapely.Geometry, str, str] | None:
    if store is None:
        return None
    from zoneinfo import ZoneInfo

    from onemap.domain.dates import When, today
    from onemap.providers.packages import region_feature

    day = recorded.astimezone(ZoneInfo("Asia/Shanghai")).date() if recorded is not None else today()
    found = region_feature(store, region, When.at(day), recorded)
    if found is None:
        return None
    xzq = store.catalogue.layers.get("xzq")
    survey = store.plans_in_force(When.at(day), None, xzq, recorded) if xzq is not None else ()
    return found[0], found[1], f"XZQ of {', '.join(survey)}"


def _valid_outline(g: shapely.Geometry) -> shapely.Geometry:
    if not g.is_valid:
        g = shapely.make_valid(g)
    return topology.polygonal(g)


def _run(subject: dict[str, Any], inputs: list[LayerInput], catalogue: Catalogue, config: QcConfig,
         store: Store | None, progress: Progress | None, workdir: str | Path | None,
         codes_dir: Path | None, recorded: dt.datetime | None = None) -> QcResult:
    progress = progress or _noop
    started = dt.datetime.now().astimezone()
    t0 = time.monotonic()
    region, level, type_ = subject["region"], subject["level"], subject["type"]
    if level not in PLAN_LEVELS or type_ not in PLAN_TYPES:
        raise InvalidParameterValue(f"unknown level {level!r} or type {type_!r}")
    out = Collector(config, config.performance.max_findings_per_rule)
    ctx = Context(config=config, catalogue=catalogue, out=out, region=region, level=level, type_=type_,
                  prefix="" if level == "national" else region_prefix(region))
    # the region: a survey's own XZQ feature (found while reading), else the survey in force
    from_store = None if type_ == "survey" else _region_from_store(store, region, recorded)
    if from_store is not None:
        ctx.region_outline, ctx.region_name, ctx.region_source = _valid_outline(from_store[0]), from_store[1], \
            from_store[2]

    inputs = completeness.select_layers(ctx, inputs)
    states = {inp.layer.id: LayerState(inp) for inp in inputs}
    for st in states.values():
        check_crs(st.inp, config, out, codes_dir)
        if st.inp.bounds is not None:
            st.extent = shapely.box(*st.inp.bounds)
    # cells over everything that can be placed
    extents = [st.inp.bounds for st in states.values() if st.inp.usable and st.inp.bounds is not None]
    if ctx.region_outline is not None:
        extents.append(ctx.region_outline.bounds)
    if extents:
        e = np.array(extents)
        total = (float(e[:, 0].min()), float(e[:, 1].min()), float(e[:, 2].max()), float(e[:, 3].max()))
    else:
        total = (0.0, 0.0, 1.0, 1.0)
    biggest = max([st.inp.count for st in states.values()] + [1])
    grid = Grid.over(total, biggest, config.performance.cell_features)
    spill = Spill(grid, workdir)
    try:
        survey_region: list[shapely.Geometry] = []
        survey_name: list[str] = []
        total_features = max(1, sum(st.inp.count for st in states.values()))
        done = 0
        for st in states.values():
            done = _pass1(ctx, st, spill, config, progress, done, total_features, survey_region, survey_name)
            attributes.finish_bsm(ctx, st)
        if type_ == "survey" and survey_region:
            ctx.region_outline = _valid_outline(as_multi(shapely.union_all(survey_region)))
            ctx.region_name = survey_name[0] if survey_name else region
            ctx.region_source = "XZQ of the checked survey itself"
        elif type_ == "survey" and ctx.region_outline is None:
            found = _region_from_store(store, region, recorded)
            if found is not None:
                ctx.region_outline, ctx.region_name, ctx.region_source = _valid_outline(found[0]), found[1], found[2]
        if ctx.region_outline is None:
            ctx.region_name = region
            ctx.note(f"未找到行政区 {region} 的范围（现行国土调查中无此 XZQ），缝隙按图层自身外轮廓检查，"
                     "未检查“位于规划范围内”和面积闭合。",
                     f"no outline of region {region} was found (no XZQ feature in the survey in force): gaps are "
                     "judged against each layer's own outer outline; 'inside the region' and area sums were "
                     "not checked.")
        else:
            shapely.prepare(ctx.region_outline)
        ctx.tiling = _tiling(ctx, states)
        completeness.check_required(ctx, inputs, catalogue)

        cells = CellPass(ctx, grid, states, spill)
        cells.run(progress)
        region_area = None
        if ctx.region_outline is not None:
            region_area = float(geodesic_area_perimeter(np.array([ctx.region_outline], dtype=object))[0][0])
        for lid, st in states.items():
            if lid in ctx.tiling and ctx.tiling[lid].region == "plan_region" and st.valid:
                areas.check_sums(ctx, st, region_area)
    finally:
        spill.close()
    progress("done", 1.0)
    layers = [{"name": st.name, "layer": st.layer_id, "title": st.inp.layer.title, "features": st.read,
               "valid": st.valid, "crs": _crs_label(st.inp), "checked_geometry": st.inp.usable,
               "bounds": list(st.inp.bounds) if st.inp.bounds else None} for st in states.values()]
    subject = dict(subject)
    subject.update({"region_name": ctx.region_name, "region_source": ctx.region_source or None,
                    "region_area_m2": round(float(geodesic_area_perimeter(np.array(
                        [ctx.region_outline], dtype=object))[0][0]), 2) if ctx.region_outline is not None else None})
    findings = sorted(out.findings, key=lambda f: (f.severity != "error", f.rule, f.layer or "", f.fid or 0))
    rules_run = [rid for rid in config.rule_catalogue if config.enabled(rid)]
    return QcResult(subject=subject, config=config, findings=findings, counts=dict(out.counts),
                    by_layer=dict(out.by_layer), dropped=dict(out.dropped), layers=layers, notes=ctx.notes,
                    region_outline=ctx.region_outline, started=started, seconds=round(time.monotonic() - t0, 2),
                    rules_run=rules_run)


def _crs_label(inp: LayerInput) -> str | None:
    if inp.declared_crs is None:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(inp.declared_crs)
    except CRSError:
        return str(inp.declared_crs)[:60]
    code = crs.to_epsg(min_confidence=50)
    return f"EPSG:{code}" if code else crs.name


def _tiling(ctx: Context, states: dict[str, LayerState]) -> dict[str, Tiling]:
    """Which layers tile what, as configured, falling back to their own outline without a region."""
    out = {}
    for lid, tiling in ctx.config.topology.tiling.items():
        if lid not in states:
            continue
        if tiling.region == "plan_region" and ctx.region_outline is None:
            tiling = Tiling(region="own_outline")
        out[lid] = tiling
        if tiling.region == "own_outline" and tiling.boundary_layer in states:
            ctx.note(f"{states[lid].name} 应无缝覆盖图层 {states[tiling.boundary_layer].name} 的范围",
                     f"{states[lid].name} must cover the outline of layer {states[tiling.boundary_layer].name}")
    return out


def _pass1(ctx: Context, st: LayerState, spill: Spill, config: QcConfig, progress: Progress, done: int,
           total: int, survey_region: list, survey_name: list) -> int:
    inp = st.inp
    completeness.check_fields(ctx, st)
    topology.check_layer_type(ctx, st)
    group_field = config.topology.no_overlap.get(inp.layer.id)
    capture = ctx.type_ == "survey" and inp.layer.id == "xzq"
    # a layer no bigger than a cell is also kept whole: its own relations are judged once, not in every
    # cell its (often large) features reach
    small = inp.count <= config.performance.cell_features
    kept: list[tuple] = []
    progress(f"reading {inp.name}", done / total * 0.6)
    for chunk in inp.chunks(config.performance.chunk_features):
        n = len(chunk)
        st.bsm = completeness.text(chunk.columns["BSM"]) if "BSM" in chunk.columns else None
        valid = topology.check_geometry(ctx, st, chunk)
        area = np.zeros(n)
        perim = np.zeros(n)
        if valid.any():
            area[valid], perim[valid] = geodesic_area_perimeter(chunk.geoms[valid])
        completeness.check_values(ctx, st, chunk)
        attributes.check_chunk(ctx, st, chunk)
        areas.check_chunk(ctx, st, chunk, valid, area)
        topology.check_shape(ctx, st, chunk, valid, area, perim)
        if capture and "XZQDM" in st.values:
            here = np.flatnonzero(valid & (st.values["XZQDM"] == ctx.region))
            survey_region.extend(chunk.geoms[here].tolist())
            if "XZQMC" in st.values:
                survey_name.extend(v for v in st.values["XZQMC"][here].tolist() if v)
        idx = np.flatnonzero(valid)
        st.valid += len(idx)
        st.read += n
        if len(idx):
            none = np.full(len(idx), None, dtype=object)
            part = (chunk.fids[idx],
                    chunk.rows[idx] if chunk.rows is not None else np.full(len(idx), -1, dtype=np.int64),
                    st.bsm[idx] if st.bsm is not None else none,
                    st.values[group_field][idx] if group_field and group_field in st.values else none,
                    chunk.geoms[idx])
            spill.add(inp.layer.id, *part)
            if small:
                kept.append(part)
        done += n
        progress(f"reading {inp.name}", min(done / total, 1.0) * 0.6)
    if small:
        st.whole = CellFeatures(*(np.concatenate([p[k] for p in kept]) for k in range(5))) if kept else \
            CellFeatures(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=object),
                         np.empty(0, dtype=object), np.empty(0, dtype=object))
    return done


class CellPass:
    """Pass 2: the cells one after another (topology across features and layers)."""

    def __init__(self, ctx: Context, grid: Grid, states: dict[str, LayerState], spill: Spill) -> None:
        self.ctx, self.grid, self.states, self.spill = ctx, grid, states, spill
        self.checks = topology.CellChecks(ctx, grid, states)

    def run(self, progress: Progress) -> None:
        n = self.grid.count
        spilled = self.spill.layers()
        self.checks.run_whole()
        for cell in range(n):
            data = {}
            for lid in self.states:
                if lid in spilled:
                    cf = self.spill.read(lid, cell)
                    if cf is not None:
                        data[lid] = cf
            if data or self.ctx.tiling:
                self.checks.run(cell, data)
            progress("topology", 0.6 + 0.35 * (cell + 1) / n)
        self.checks.finish()
