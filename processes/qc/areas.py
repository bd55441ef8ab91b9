"""面积一致性 (area consistency): S01 an area attribute (MJ, TBMJ) equals the feature's geodesic
area on CGCS2000; S03 the areas of a layer that tiles the region add up to the region's area."""

from __future__ import annotations

import numpy as np

from onemap.config.catalogue import Layer

from .context import Context, LayerState
from .reader import Chunk


def area_fields(layer: Layer) -> list[str]:
    """The layer's area attributes: number fields in square metres that give the feature's own area."""
    return [f.name for f in layer.fields if f.type == "number" and f.unit == "m2" and f.whole_area]


def check_chunk(ctx: Context, state: LayerState, chunk: Chunk, valid: np.ndarray, area: np.ndarray) -> None:
    """S01 on the chunk's valid features; sums of the first area field for S03."""
    th = ctx.config.thresholds
    for name in area_fields(state.inp.layer):
        vals = state.values.get(name)
        if vals is None:
            continue
        if state.area_field in (None, name):
            state.area_field = name
            given = ~np.isnan(vals)
            state.area_sum += float(vals[given].sum())
            state.area_values += int(given.sum())
        if not ctx.config.enabled("S01"):
            continue
        tol = np.maximum(th.area_absolute_m2, th.area_relative * area)
        diff = np.abs(vals - area)
        bad = valid & ~np.isnan(vals) & (diff > tol)
        for i in np.flatnonzero(bad).tolist():
            ctx.feature(state, chunk, i, "S01", "area", field=name, measured=round(float(vals[i]), 2),
                        expected=round(float(area[i]), 2), diff=f"{diff[i]:.2f}", tolerance=f"{tol[i]:.2f}")


def check_sums(ctx: Context, state: LayerState, region_area: float | None) -> None:
    """S03 for a layer that tiles the plan region (not for layers judged by their own outline)."""
    if not ctx.config.enabled("S03") or region_area is None or state.area_field is None or not state.area_values:
        return
    tol = ctx.config.thresholds.sum_relative * region_area
    diff = abs(state.area_sum - region_area)
    if diff > tol:
        ctx.out.add("S03", "sum", layer=state.name, layer_id=state.layer_id, field=state.area_field,
                    location=ctx.region_outline,
                    measured=round(state.area_sum, 2), expected=round(region_area, 2), diff=f"{diff:.2f}",
                    tolerance=f"{tol:.2f}", region_name=ctx.region_name or ctx.region)
