"""属性值域 (attribute domains): A01 codes in their code tables (the record's own 用地用海 edition),
A02 code and name agree, A03 the feature type code, A04 unique BSM, A05 region codes, A06 the
三调 land class / urban-village attribute logic."""

from __future__ import annotations

import re

import numpy as np

from onemap.config.catalogue import FieldDef, Layer
from onemap.config.codes import CodeTable
from onemap.domain.regions import region_prefix

from .context import Context, LayerState
from .reader import Chunk

_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _distinct(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One record per distinct combination of values, and each record's combination.

    A chunk of 50 000 parcels holds a few dozen land classes: each is judged once.
    """
    index: dict[tuple, int] = {}
    first: list[int] = []
    inv = np.empty(len(cols[0]), dtype=np.int64)
    for i, key in enumerate(zip(*(c.tolist() for c in cols))):
        k = index.get(key)
        if k is None:
            k = index[key] = len(first)
            first.append(i)
        inv[i] = k
    return np.asarray(first, dtype=np.int64), inv


def _each(ctx: Context, state: LayerState, chunk: Chunk, cols: list[np.ndarray], judge) -> None:
    """Run ``judge(record index)`` once per distinct combination; its finding goes to every record that has it."""
    first, inv = _distinct(cols)
    for u, i in enumerate(first.tolist()):
        outcome = judge(i)
        if outcome is None:
            continue
        rule, variant, kw = outcome
        for r in np.flatnonzero(inv == u).tolist():
            ctx.feature(state, chunk, r, rule, variant, **kw)


def _table(ctx: Context, f: FieldDef, ref_value: str | None) -> CodeTable | None:
    table_id = f.code_table or ""
    refs = _TEMPLATE.findall(table_id)
    if not refs:
        return ctx.catalogue.code_tables.get(table_id)
    return ctx.catalogue.code_tables.get(table_id.replace("{" + refs[0] + "}", str(ref_value)))


def _judge_code(ctx: Context, layer: Layer, f: FieldDef, code: str | None, name: str | None,
                ref: str | None, templated: bool):
    """The A01/A02 finding (rule, variant, params) for one combination of code, name and edition."""
    cfg = ctx.config
    if code is None:
        return None  # C03's business when required
    table = _table(ctx, f, ref)
    if table is None:
        if templated and ref is not None and cfg.enabled("A01"):
            ref_field = layer.field_map[_TEMPLATE.findall(f.code_table or "")[0]]
            editions = ctx.catalogue.code_tables[ref_field.code_table].codes if ref_field.code_table else {}
            return "A01", "edition", {"field": f.name, "measured": ref, "expected": "/".join(sorted(editions))}
        return None
    tinfo = {"table": table.id, "table_zh": table.title.get("zh", table.id),
             "table_en": table.title.get("en", table.id)}
    if table.match_by_name and f.label_field:
        # codes unverified: the name identifies the entry, the code only warns
        if name is not None and name not in table.names():
            return ("A01", "name", {"field": f.label_field, "measured": name, "expected": table.id, **tinfo}) \
                if cfg.enabled("A01") else None
        if code not in table:
            return ("A01", "unverified", {"field": f.name, "measured": code, "expected": table.id, **tinfo}) \
                if cfg.enabled("A01") else None
        if name is not None and table.label(code) != name and cfg.enabled("A02"):
            return "A02", "unverified", {"field": f.label_field, "measured": name, "expected": table.label(code),
                                         "code_field": f.name, "code": code}
        return None
    if code not in table:
        return ("A01", "code", {"field": f.name, "measured": code, "expected": table.id, **tinfo}) \
            if cfg.enabled("A01") else None
    if name is not None and f.label_field and cfg.enabled("A02") and table.label(code) != name:
        return "A02", "mismatch", {"field": f.label_field, "measured": name, "expected": table.label(code),
                                   "code_field": f.name, "code": code}
    return None


def check_chunk(ctx: Context, state: LayerState, chunk: Chunk) -> None:
    cfg = ctx.config
    layer = state.inp.layer
    vals = state.values
    n = len(chunk)
    none = np.full(n, None, dtype=object)
    if cfg.enabled("A01") or cfg.enabled("A02"):
        for f in layer.fields:
            if not f.code_table or f.name not in vals:
                continue
            refs = _TEMPLATE.findall(f.code_table)
            codes = vals[f.name]
            names = vals.get(f.label_field, none) if f.label_field else none
            ref = vals.get(refs[0], none) if refs else none
            _each(ctx, state, chunk, [codes, names, ref],
                  lambda i, f=f, codes=codes, names=names, ref=ref, t=bool(refs):
                  _judge_code(ctx, layer, f, codes[i], names[i], ref[i], t))
    if cfg.enabled("A03") and layer.ysdm is not None and "YSDM" in vals:
        want = layer.ysdm.code
        for i, v in enumerate(vals["YSDM"].tolist()):
            if v is not None and v != want:
                ctx.feature(state, chunk, i, "A03", "ysdm", field="YSDM", measured=v, expected=want)
    if cfg.enabled("A05"):
        _region_codes(ctx, state, chunk)
    logic = cfg.attributes.survey_logic
    if cfg.enabled("A06") and logic is not None and logic.layer == layer.id:
        _survey_logic(ctx, state, chunk)
    if cfg.enabled("A04") and state.bsm is not None:
        keep = np.array([b is not None for b in state.bsm.tolist()], dtype=bool)
        if keep.any():
            # fixed-width bytes: 18 bytes a BSM rather than a Python object (a million fit in 18 MB)
            enc = np.array([b.encode("utf-8") for b in state.bsm[keep].tolist()], dtype=np.bytes_)
            rows = chunk.rows[keep] if chunk.rows is not None else np.full(int(keep.sum()), -1)
            state.bsm_parts.append((enc, chunk.fids[keep], rows))


def _region_codes(ctx: Context, state: LayerState, chunk: Chunk) -> None:
    for name, lengths in ctx.config.attributes.region_code_fields.items():
        vals = state.values.get(name)
        if vals is None:
            continue
        allowed = set(lengths)
        want = "/".join(str(n) for n in sorted(allowed))

        def judge(i: int, vals: np.ndarray = vals, name: str = name, allowed: set = allowed, want: str = want):
            v = vals[i]
            if v is None:
                return None
            if not v.isdigit() or len(v) not in allowed:
                return "A05", "format", {"field": name, "measured": v, "expected": want}
            if ctx.prefix and not v.startswith(ctx.prefix) and not _covers_region(v, ctx.region):
                # a parent region's code (SJXZQDM of the region itself) is not "outside"
                return "A05", "outside", {"field": name, "measured": v, "expected": ctx.region, "region": ctx.region}
            return None

        _each(ctx, state, chunk, [vals], judge)


def _covers_region(code: str, region: str) -> bool:
    """Is ``code`` the region itself or one above it (990100 covers 990121)?"""
    return len(code) in (6, 9, 12) and region.startswith(region_prefix(code))


def _survey_logic(ctx: Context, state: LayerState, chunk: Chunk) -> None:
    logic = ctx.config.attributes.survey_logic
    assert logic is not None
    dlbm = state.values.get("DLBM")
    if dlbm is None or "CZCSXM" not in state.inp.fields:
        return
    czcs = state.values.get("CZCSXM", np.full(len(dlbm), None, dtype=object))
    required = tuple(logic.czcsxm_required_for)
    reserved = {k: tuple(v) for k, v in logic.czcsxm_reserved.items()}

    def judge(i: int):
        d, c = dlbm[i], czcs[i]
        if d is None:
            return None
        if c is None and d.startswith(required):
            return "A06", "required", {"field": "CZCSXM", "measured": None, "expected": "201-205", "dlbm": d}
        if c is not None and c in reserved and not d.startswith(reserved[c]):
            return "A06", "reserved", {"field": "CZCSXM", "measured": c, "expected": "/".join(reserved[c]), "dlbm": d}
        return None

    _each(ctx, state, chunk, [dlbm, czcs], judge)


def finish_bsm(ctx: Context, state: LayerState) -> None:
    """A04 once the whole layer is read: every BSM after its first use is a finding."""
    if not state.bsm_parts:
        return
    enc = np.concatenate([p[0] for p in state.bsm_parts])
    fids = np.concatenate([p[1] for p in state.bsm_parts])
    rows = np.concatenate([p[2] for p in state.bsm_parts])
    state.bsm_parts = []
    by_fid = np.argsort(fids, kind="stable")
    enc, fids, rows = enc[by_fid], fids[by_fid], rows[by_fid]
    order = np.argsort(enc, kind="stable")  # stable: the first use is the lowest fid (a C sort of fixed bytes)
    s = enc[order]
    new = np.r_[True, s[1:] != s[:-1]].astype(bool)
    if new.all():
        return
    run_start = np.maximum.accumulate(np.where(new, np.arange(len(s)), 0))
    for j in np.flatnonzero(~new).tolist():
        i, i0 = order[j], order[run_start[j]]
        key = s[j].decode("utf-8")
        ctx.out.add("A04", "duplicate", layer=state.name, layer_id=state.layer_id, fid=int(fids[i]),
                    row=int(rows[i]) if rows[i] >= 0 else None, bsm=key, field="BSM", measured=key,
                    expected="unique", other_fid=int(fids[i0]), locate_later=True)
