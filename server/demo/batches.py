"""Code-table labels and layer batches checked against the catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from onemap.config.catalogue import Catalogue, get_catalogue

from .model import LayerBatch


class Labels:
    """Chinese labels from the catalogue's code tables (the single source of truth)."""

    def __init__(self, catalogue: Catalogue | None = None):
        self.catalogue = catalogue or get_catalogue()

    def __call__(self, table: str, code: str) -> str:
        label = self.catalogue.code_tables[table].label(code)
        if label is None:
            raise KeyError(f"code {code!r} is not in code table {table!r}")
        return label

    def many(self, table: str, codes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Labels for an array of codes (one lookup per distinct code)."""
        codes = np.asarray(codes, dtype=object)
        out = np.empty(len(codes), dtype=object)
        for c in sorted(set(codes.tolist())):
            out[codes == c] = self(table, c)
        return out

    def bsm(self, prefixes: Iterable[str], layer_id: str) -> list[str]:
        """BSMs of a layer's features: region code + the layer's segment + a number running per region."""
        return running_bsm(prefixes, self.catalogue.layer(layer_id).bsm_segment or "0000")

    def ysdm(self, layer_id: str) -> str | None:
        """The layer's 要素代码 where the catalogue knows one."""
        y = self.catalogue.layer(layer_id).ysdm
        return y.code if y else None


def make_batch(labels: Labels, layer_id: str, plan_id: str, columns: dict, geometry: np.ndarray) -> LayerBatch:
    """A batch whose columns are exactly the layer's catalogue fields, in catalogue order."""
    names = [f.name for f in labels.catalogue.layer(layer_id).fields]
    if set(columns) != set(names):
        raise ValueError(f"{layer_id}: columns {sorted(columns)} are not the catalogue fields {names}")
    n = len(geometry)
    cols: dict = {}
    for name in names:
        v = columns[name]
        if len(v) != n:
            raise ValueError(f"{layer_id}.{name}: {len(v)} values for {n} features")
        cols[name] = v.tolist() if isinstance(v, np.ndarray) and v.dtype == object else v
    return LayerBatch(layer_id=layer_id, plan_id=plan_id, columns=cols, geometry=np.asarray(geometry, dtype=object))


def select(batch: LayerBatch, plan_id: str, mask: np.ndarray | None = None) -> LayerBatch:
    """The features of ``batch`` where ``mask`` holds (all by default), as a batch of another drawer entry."""
    idx = np.arange(len(batch.geometry)) if mask is None else np.flatnonzero(mask)
    cols = {}
    for k, v in batch.columns.items():
        cols[k] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
    return LayerBatch(layer_id=batch.layer_id, plan_id=plan_id, columns=cols, geometry=batch.geometry[idx])


def running_bsm(prefixes: Iterable[str], segment: str, start: int = 1) -> list[str]:
    """BSM = 6-digit region code + 4-digit layer segment + 8-digit number running within each region
    (18 characters; unique across the layers of one database)."""
    counters: dict[str, int] = {}
    out = []
    for p in prefixes:
        k = counters.get(p, start)
        out.append(f"{p}{segment}{k:08d}")
        counters[p] = k + 1
    return out
