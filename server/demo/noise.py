"""Seeded fractal value noise evaluated at any points (numpy only)."""

from __future__ import annotations

import numpy as np


def _fade(t):
    # quintic fade: continuous slope and curvature across lattice cells, so no visible grid
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


class ValueNoise:
    """A sum of octaves of smoothly interpolated random lattices over a km box.

    Each octave halves the lattice spacing and multiplies the amplitude by
    ``persistence``. Values are in [-1, 1] (in practice mostly within ±0.5).
    ``ridged`` folds every octave (1 - 2|v|), which makes sharp crests: mountain ridges.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        bounds: tuple[float, float, float, float],
        scale: float,
        octaves: int = 4,
        persistence: float = 0.5,
        ridged: bool = False,
    ):
        self.x0, self.y0, x1, y1 = bounds
        self.ridged = ridged
        self.layers: list[tuple[float, float, np.ndarray]] = []
        cell, amp = float(scale), 1.0
        for _ in range(octaves):
            nx = int(np.ceil((x1 - self.x0) / cell)) + 3
            ny = int(np.ceil((y1 - self.y0) / cell)) + 3
            self.layers.append((cell, amp, rng.uniform(-1.0, 1.0, (ny, nx))))
            cell /= 2.0
            amp *= persistence
        self.norm = sum(a for _, a, _ in self.layers)

    def __call__(self, x, y) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.zeros(np.broadcast(x, y).shape)
        for cell, amp, lat in self.layers:
            u = (x - self.x0) / cell + 1.0
            v = (y - self.y0) / cell + 1.0
            i = np.clip(np.floor(u).astype(np.int64), 0, lat.shape[1] - 2)
            j = np.clip(np.floor(v).astype(np.int64), 0, lat.shape[0] - 2)
            s = _fade(np.clip(u - i, 0.0, 1.0))
            t = _fade(np.clip(v - j, 0.0, 1.0))
            a = lat[j, i]
            b = lat[j, i + 1]
            c = lat[j + 1, i]
            d = lat[j + 1, i + 1]
            val = (1.0 - t) * ((1.0 - s) * a + s * b) + t * ((1.0 - s) * c + s * d)
            if self.ridged:
                val = 1.0 - 2.0 * np.abs(val)
            out += amp * val
        return out / self.norm

    def grid(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The noise on the grid of points (xs[col], ys[row]), shape (len(ys), len(xs)).

        Interpolation is separable, so rows are blended on the coarse lattice first and
        columns once per pixel: several times faster than evaluating every pixel.
        """
        out = np.zeros((len(ys), len(xs)))
        for cell, amp, lat in self.layers:
            u = (np.asarray(xs, dtype=float) - self.x0) / cell + 1.0
            v = (np.asarray(ys, dtype=float) - self.y0) / cell + 1.0
            i = np.clip(np.floor(u).astype(np.int64), 0, lat.shape[1] - 2)
            j = np.clip(np.floor(v).astype(np.int64), 0, lat.shape[0] - 2)
            s = _fade(np.clip(u - i, 0.0, 1.0))
            t = _fade(np.clip(v - j, 0.0, 1.0))[:, None]
            rows = (1.0 - t) * lat[j] + t * lat[j + 1]  # (len(ys), lattice columns)
            val = (1.0 - s) * rows[:, i] + s * rows[:, i + 1]
            if self.ridged:
                val = 1.0 - 2.0 * np.abs(val)
            out += amp * val
        return out / self.norm


def to_uniform(score: np.ndarray) -> np.ndarray:
    """Ranks of ``score`` mapped to (0, 1): a spatially patterned field with uniform marginals.

    Thresholding it at p selects a share p of the items, whatever the noise's distribution.
    """
    n = len(score)
    out = np.empty(n)
    if n:
        out[np.argsort(score, kind="stable")] = (np.arange(n) + 0.5) / n
    return out
