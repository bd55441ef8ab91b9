"""What OneMap's own pygeoapi collections (indicators, warnings, monitoring findings) share: their property
filters read strictly, a page of GeoJSON features trimmed as asked, outlines rounded as the items answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from pygeoapi.provider.base import ProviderInvalidQueryError

DECIMALS = 8  # of a degree: about 1 mm, as the items answer


def rounded(geom: shapely.Geometry | None) -> dict[str, Any] | None:
    """GeoJSON of a geometry to 8 decimals of a degree."""
    if geom is None:
        return None
    return shapely.geometry.mapping(shapely.transform(geom, lambda xy: np.round(xy, DECIMALS)))


def wanted(properties: Sequence[tuple[str, Any]] | None, allowed: Sequence[str]) -> dict[str, str]:
    """The property filters of a query, each one the collection takes (a 400 naming them otherwise)."""
    out: dict[str, str] = {}
    for name, value in properties or []:
        if name not in allowed:
            raise ProviderInvalidQueryError(user_msg=f"unknown parameter {name!r}; filter by {', '.join(allowed)}")
        out[name] = str(value)
    return out


def feature_page(features: list[dict[str, Any]], matched: int, resulttype: str, skip_geometry: bool,
                 select_properties: Sequence[str] | None) -> dict[str, Any]:
    """A FeatureCollection of one page (none for ``hits``), geometry and properties trimmed as asked."""
    page = [] if resulttype == "hits" else features
    for f in page:
        if skip_geometry:
            f["geometry"] = None
        if select_properties:
            f["properties"] = {k: v for k, v in f["properties"].items() if k in select_properties}
    return {"type": "FeatureCollection", "features": page, "numberMatched": matched, "numberReturned": len(page)}
