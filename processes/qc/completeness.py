"""完整性 (completeness): C01 the required layers are there, C02 the fields are there with the
right type and length, C03 mandatory values are not empty."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from onemap.config.catalogue import PLAN_TYPES, Catalogue, FieldDef

from .context import Context, LayerState
from .reader import Chunk, LayerInput

TYPE_ZH = {"string": "文本", "number": "数值", "integer": "整数", "date": "日期"}


def select_layers(ctx: Context, inputs: list[LayerInput]) -> list[LayerInput]:
    """C01 on the package's layer list: a layer given twice, a layer foreign to the plan type.
    Returns the layers to check (each catalogue layer once: its first copy)."""
    out = ctx.out
    seen = Counter(inp.layer.id for inp in inputs)
    kept: list[LayerInput] = []
    for inp in inputs:
        if any(k.layer.id == inp.layer.id for k in kept):
            continue
        kept.append(inp)
        if not ctx.config.enabled("C01"):
            continue
        if seen[inp.layer.id] > 1:
            out.add("C01", "twice", layer=inp.name, layer_id=inp.layer.id, measured=seen[inp.layer.id], expected=1)
        if ctx.type_ not in inp.layer.drawer_types:
            out.add("C01", "misplaced", layer=inp.name, layer_id=inp.layer.id, measured=ctx.type_,
                    expected=",".join(inp.layer.drawer_types), type_zh=PLAN_TYPES[ctx.type_]["zh"],
                    type_en=PLAN_TYPES[ctx.type_]["en"].lower())
    return kept


def check_required(ctx: Context, inputs: list[LayerInput], catalogue: Catalogue) -> None:
    """C01: every layer the plan's level and type require is there and holds features."""
    if not ctx.config.enabled("C01"):
        return
    present = {inp.layer.id: inp for inp in inputs}
    for lid in ctx.config.required_for(ctx.level, ctx.type_):
        layer = catalogue.layers[lid]
        where: dict[str, Any] = {"layer": layer.table_code, "layer_id": lid, "title_zh": layer.title["zh"],
                                 "title_en": layer.title.get("en", layer.title["zh"])}
        if lid not in present:
            ctx.out.add("C01", "missing", location=ctx.region_outline, measured=None, expected=layer.table_code,
                        **where)
        elif present[lid].count == 0:
            ctx.out.add("C01", "empty", location=ctx.region_outline, measured=0, expected=">0", **where)


def _dtype_ok(f: FieldDef, dtype: str) -> bool:
    if dtype == "store":
        return True
    kind = np.dtype(dtype).kind if dtype != "object" else "O"
    if f.type == "string":
        return kind == "O"
    if f.type in ("number", "integer"):
        return kind in "iuf"
    if f.type == "date":
        return kind in "MO"
    return True


def check_fields(ctx: Context, state: LayerState) -> None:
    """C02 on the layer's schema: missing fields, wrong types. Sets the fields whose values are checked."""
    inp = state.inp
    for f in inp.layer.fields:
        info = inp.fields.get(f.name)
        where: dict[str, Any] = {"layer": inp.name, "layer_id": inp.layer.id, "field": f.name}
        if info is None:
            if ctx.config.enabled("C02"):
                ctx.out.add("C02", "missing_field" if f.required else "missing_optional", measured=None,
                            expected=f.name, title_zh=f.title["zh"], title_en=f.title.get("en", f.name),
                            location=state.extent, **where)
            continue
        if not _dtype_ok(f, info.dtype):
            if ctx.config.enabled("C02"):
                ctx.out.add("C02", "type", measured=info.dtype, expected=f.type, expected_zh=TYPE_ZH[f.type],
                            location=state.extent, **where)
            continue
        state.ok_fields.add(f.name)


def _clean(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else str(v)
    return str(v).strip() or None


def text(values: np.ndarray) -> np.ndarray:
    """Values as stripped text, None for null or blank (numbers without a trailing .0)."""
    out = np.empty(len(values), dtype=object)
    # the common case (text or null) stays in one comprehension: this runs on every value
    out[:] = [(v.strip() or None) if type(v) is str else _clean(v) for v in values.tolist()]
    return out


def numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values as floats (NaN for null), and which non-null values are not numbers."""
    out = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad[i] = True
    return out, bad


def check_values(ctx: Context, state: LayerState, chunk: Chunk) -> None:
    """C02 per value (length, a number that is not one) and C03 (mandatory values given).

    Fills ``state.values`` with the chunk's normalised values (text or float) for the other checks.
    """
    inp = state.inp
    cfg = ctx.config
    values: dict[str, np.ndarray] = {}
    for f in inp.layer.fields:
        if f.name not in state.ok_fields:
            continue
        raw = chunk.columns.get(f.name)
        if raw is None:
            continue
        if f.type == "string":
            v = text(raw)
            if f.length and cfg.enabled("C02"):
                lengths = np.array([len(s) if s is not None else 0 for s in v.tolist()])
                for i in np.flatnonzero(lengths > f.length).tolist():
                    ctx.feature(state, chunk, i, "C02", "length", field=f.name, measured=int(lengths[i]),
                                expected=f.length)
            empty = np.array([s is None for s in v.tolist()], dtype=bool)
        elif f.type in ("number", "integer"):
            v, bad = numbers(raw)
            if cfg.enabled("C02"):
                for i in np.flatnonzero(bad).tolist():
                    ctx.feature(state, chunk, i, "C02", "value_type", field=f.name, measured=str(raw[i])[:40],
                                expected=f.type, expected_zh=TYPE_ZH[f.type])
            empty = np.isnan(v) & ~bad
        else:
            v = text(raw)
            empty = np.array([s is None for s in v.tolist()], dtype=bool)
        values[f.name] = v
        if f.required and cfg.enabled("C03"):
            for i in np.flatnonzero(empty).tolist():
                ctx.feature(state, chunk, i, "C03", "empty", field=f.name, measured=None, expected=f.name,
                            title_zh=f.title["zh"], title_en=f.title.get("en", f.name))
    state.values = values
