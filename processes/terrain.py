"""Slope from the DEM (rasterio): per-site mean and maximum, in degrees."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import geometry_mask, rasterize
from rasterio.windows import from_bounds

from onemap.config.errors import ConfigError


@dataclass
class SlopeGrid:
    """Slope (degrees) over a window of the DEM, with the transform to rasterize sites on it."""

    slope: np.ndarray
    transform: object

    def stats(self, site: shapely.Geometry) -> tuple[float, float]:
        """(mean, max) slope of the cells whose centres fall in ``site`` (the nearest cell if none)."""
        inside = ~geometry_mask([site], out_shape=self.slope.shape, transform=self.transform, all_touched=False)
        if not inside.any():
            inside = ~geometry_mask([site], out_shape=self.slope.shape, transform=self.transform, all_touched=True)
        values = self.slope[inside]
        values = values[np.isfinite(values)]
        if values.size == 0:
            return float("nan"), float("nan")
        return float(values.mean()), float(values.max())


    def stats_many(self, sites: list[shapely.Geometry]) -> list[tuple[float, float]]:
        """(mean, max) slope of each site, from one rasterization of them all (sites do not overlap)."""
        if not sites:
            return []
        labels = rasterize(((s, i + 1) for i, s in enumerate(sites)), out_shape=self.slope.shape,
                           transform=self.transform, fill=0, dtype="int32", all_touched=False)
        ok = (labels > 0) & np.isfinite(self.slope)
        lab, val = labels[ok], self.slope[ok]
        n = len(sites) + 1
        count = np.bincount(lab, minlength=n)
        total = np.bincount(lab, weights=val, minlength=n)
        top = np.full(n, -np.inf)
        np.maximum.at(top, lab, val)
        out = []
        for i, s in enumerate(sites, start=1):
            if count[i]:
                out.append((float(total[i] / count[i]), float(top[i])))
            else:  # a site smaller than a cell: the cells it touches
                out.append(self.stats(s))
        return out


def slope_grid(dem_path: Path, bbox: tuple[float, float, float, float]) -> SlopeGrid:
    """Slope over ``bbox`` (lon/lat) from a lon/lat DEM in metres."""
    if not dem_path.exists():
        raise ConfigError(f"no DEM {dem_path.name}: site selection needs one (ONEMAP_DEM)")
    with rasterio.open(dem_path) as src:
        res_x, res_y = src.res
        pad_x, pad_y = 2 * res_x, 2 * res_y
        window = from_bounds(bbox[0] - pad_x, bbox[1] - pad_y, bbox[2] + pad_x, bbox[3] + pad_y, src.transform)
        window = window.round_offsets().round_lengths()
        dem = src.read(1, window=window, boundless=True, fill_value=np.nan, masked=False).astype("float64")
        if src.nodata is not None:
            dem[dem == src.nodata] = np.nan
        transform = src.window_transform(window)
    lat = (bbox[1] + bbox[3]) / 2
    # metres per degree on the CGCS2000 ellipsoid at this latitude (ample for slopes)
    m_per_deg_lat = 111132.954 - 559.822 * math.cos(2 * math.radians(lat))
    m_per_deg_lon = 111412.84 * math.cos(math.radians(lat))
    dzdy, dzdx = np.gradient(dem, res_y * m_per_deg_lat, res_x * m_per_deg_lon)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return SlopeGrid(slope, transform)
