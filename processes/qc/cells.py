"""Square cells over the package, and features spilled to disk cell by cell.

The topology checks compare features with their neighbours, across layers too. Rather than
hold a million parcels at once, the first pass writes each valid feature (WKB in EPSG:4490)
to every cell its bounding box meets; the second pass loads one cell at a time. A relation
between two features is judged in exactly one cell: the one holding the centre of the
intersection of their bounding boxes (both features are in that cell).
"""

from __future__ import annotations

import math
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from .measure import m_per_degree


@dataclass(frozen=True)
class Grid:
    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    @classmethod
    def over(cls, bounds: tuple[float, float, float, float], features: int, per_cell: int) -> Grid:
        """Cells of equal ground size over ``bounds`` holding about ``per_cell`` features each."""
        x0, y0, x1, y1 = bounds
        mx, my = m_per_degree((y0 + y1) / 2)
        w, h = max((x1 - x0) * mx, 1.0), max((y1 - y0) * my, 1.0)
        n = max(1, math.ceil(features / per_cell))
        side = math.sqrt(w * h / n)
        nx, ny = max(1, math.ceil(w / side)), max(1, math.ceil(h / side))
        # a hair wider than the extent, so that its far edges fall inside the last cells
        dx = max(x1 - x0, 1e-9) * (1 + 1e-9) / nx
        dy = max(y1 - y0, 1e-9) * (1 + 1e-9) / ny
        return cls(x0, y0, dx, dy, nx, ny)

    @property
    def count(self) -> int:
        return self.nx * self.ny

    def ix(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((np.asarray(x) - self.x0) / self.dx), 0, self.nx - 1).astype(np.int64)

    def iy(self, y: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((np.asarray(y) - self.y0) / self.dy), 0, self.ny - 1).astype(np.int64)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.iy(y) * self.nx + self.ix(x)

    def box(self, cell: int) -> tuple[float, float, float, float]:
        """The cell's extent; the outer cells reach to infinity-ish so nothing falls off the grid."""
        iy, ix = divmod(cell, self.nx)
        big = 1e3
        x0 = self.x0 + ix * self.dx if ix > 0 else self.x0 - big
        x1 = self.x0 + (ix + 1) * self.dx if ix < self.nx - 1 else self.x0 + self.nx * self.dx + big
        y0 = self.y0 + iy * self.dy if iy > 0 else self.y0 - big
        y1 = self.y0 + (iy + 1) * self.dy if iy < self.ny - 1 else self.y0 + self.ny * self.dy + big
        return (x0, y0, x1, y1)

    def assign(self, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(feature index, cell) for every cell each bounding box meets."""
        ix0, ix1 = self.ix(bounds[:, 0]), self.ix(bounds[:, 2])
        iy0, iy1 = self.iy(bounds[:, 1]), self.iy(bounds[:, 3])
        single = (ix0 == ix1) & (iy0 == iy1)
        idx = [np.flatnonzero(single)]
        cells = [iy0[single] * self.nx + ix0[single]]
        for i in np.flatnonzero(~single).tolist():
            xs = np.arange(ix0[i], ix1[i] + 1)
            ys = np.arange(iy0[i], iy1[i] + 1)
            c = (ys[:, None] * self.nx + xs[None, :]).ravel()
            idx.append(np.full(len(c), i))
            cells.append(c)
        return np.concatenate(idx), np.concatenate(cells)


@dataclass
class CellFeatures:
    """The features of one layer that meet one cell."""

    fids: np.ndarray
    rows: np.ndarray  # -1 where unknown
    bsm: np.ndarray  # object
    group: np.ndarray  # object: the overlap group (T01 by field), None when not grouped
    geoms: np.ndarray

    def __len__(self) -> int:
        return len(self.fids)


class Spill:
    """Features written to temporary files, one file per layer and cell."""

    def __init__(self, grid: Grid, workdir: str | Path | None = None) -> None:
        self.grid = grid
        self.dir = Path(tempfile.mkdtemp(prefix="onemap-qc-", dir=workdir))
        self.sizes: dict[tuple[str, int], int] = {}

    def _path(self, layer_id: str, cell: int) -> Path:
        return self.dir / f"{layer_id}-{cell}.bin"

    def add(self, layer_id: str, fids: np.ndarray, rows: np.ndarray, bsm: np.ndarray, group: np.ndarray,
            geoms: np.ndarray) -> None:
        if not len(geoms):
            return
        idx, cells = self.grid.assign(shapely.bounds(geoms))
        wkb = shapely.to_wkb(geoms)
        order = np.argsort(cells, kind="stable")
        idx, cells = idx[order], cells[order]
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        ends = np.r_[starts[1:], len(cells)]
        for a, b in zip(starts.tolist(), ends.tolist()):
            cell = int(cells[a])
            sel = idx[a:b]
            block = (fids[sel], rows[sel], bsm[sel], group[sel], wkb[sel])
            with self._path(layer_id, cell).open("ab") as fh:
                pickle.dump(block, fh, protocol=pickle.HIGHEST_PROTOCOL)
            self.sizes[(layer_id, cell)] = self.sizes.get((layer_id, cell), 0) + len(sel)

    def read(self, layer_id: str, cell: int) -> CellFeatures | None:
        path = self._path(layer_id, cell)
        if not path.exists():
            return None
        parts = []
        with path.open("rb") as fh:
            while True:
                try:
                    parts.append(pickle.load(fh))
                except EOFError:
                    break
        fids, rows, bsm, group, wkb = (np.concatenate([p[k] for p in parts]) for k in range(5))
        return CellFeatures(fids=fids, rows=rows, bsm=bsm, group=group, geoms=shapely.from_wkb(wkb))

    def layers(self) -> set[str]:
        return {lid for lid, _ in self.sizes}

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
