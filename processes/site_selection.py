"""site-selection (辅助选址): candidate sites for a planned use, ranked.

Candidates are the planned plots (central city planned land use) of the wanted 用地用海 codes
in the search area, minus the layers to keep out of, inside the layers to stay within, split
into connected sites; each is measured (geodesic area, DEM slope, distance to a proximity
layer), filtered by the constraints and scored.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

import numpy as np
import shapely
from pyproj import Transformer

from onemap.config.catalogue import get_catalogue
from onemap.config.errors import InvalidInput, PayloadTooLarge
from onemap.config.settings import Settings
from onemap.domain.dates import When, parse_recorded
from onemap.domain.governing import areal
from onemap.providers import crs as crsmod
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, RunContext
from .certificates import RECORDED_INPUT
from .compliance import CRS_INPUT, DATE_INPUT, FORMAT_INPUT, _date
from .overlay import Governed, to_geojson
from .terrain import slope_grid

REGION_RE = re.compile(r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$")
PLANNED_LAYER = "zxcqghydyh"
WEIGHTS = {"slope": 40.0, "area": 25.0, "near": 35.0}


class SiteSelectionProcessor(OneMapProcessor):
    """辅助选址 / site selection."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "site-selection",
        "title": {"zh": "辅助选址", "en": "Site selection"},
        "description": {
            "zh": "在搜索范围内，按规划用地用海用途、面积、坡度、避让和包含图层及邻近要求筛选候选地块，并排序评分。",
            "en": "Finds candidate sites in a search area by planned land use, area, slope, layers to keep out "
                  "of or stay inside, and proximity, and ranks them with a score and its reasons.",
        },
        "keywords": ["辅助选址", "site selection"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "area": {
                "title": "搜索范围 / Search area",
                "description": "A region code (e.g. 990102: the region and its sub-regions), or a geometry as "
                               "for compliance-review's boundary (GeoJSON, coordinate file, GML, KML).",
                "schema": {"oneOf": [{"type": "object"}, {"type": "string", "maxLength": 20_000_000}]},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "area_format": FORMAT_INPUT,
            "crs": CRS_INPUT,
            "land_use": {
                "title": "规划用途（用地用海代码） / Wanted planned uses",
                "description": "用地用海 2023 codes; a plot matches when its code starts with one of them.",
                "schema": {"type": "array", "minItems": 1, "maxItems": 20,
                           "items": {"type": "string", "pattern": r"^[0-9]{2,6}$"}},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "min_area_m2": {"title": "最小面积（平方米） / Minimum area (m²)",
                            "schema": {"type": "number", "minimum": 100, "maximum": 1e8, "default": 10000},
                            "minOccurs": 0, "maxOccurs": 1},
            "max_area_m2": {"title": "最大面积（平方米） / Maximum area (m²)",
                            "schema": {"type": "number", "minimum": 100, "maximum": 1e9},
                            "minOccurs": 0, "maxOccurs": 1},
            "max_slope_deg": {"title": "最大平均坡度（度） / Maximum mean slope (°)",
                              "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 15},
                              "minOccurs": 0, "maxOccurs": 1},
            "avoid": {"title": "避让图层 / Layers to keep out of",
                      "schema": {"type": "array", "maxItems": 10, "items": {"type": "string"},
                                 "default": ["stbhhx", "yjjbnt"]},
                      "minOccurs": 0, "maxOccurs": 1},
            "within": {"title": "须位于图层内 / Layers to stay inside",
                       "schema": {"type": "array", "maxItems": 10, "items": {"type": "string"},
                                  "default": ["czkfbj"]},
                       "minOccurs": 0, "maxOccurs": 1},
            "near": {
                "title": "邻近要求 / Proximity",
                "description": "Within distance_m metres of the features of a layer (optionally those whose "
                               "property has one of the values), e.g. existing industrial land: "
                               "{\"layer\": \"dltb\", \"property\": \"DLBM\", \"values\": [\"0601\"], \"distance_m\": 2000}.",
                "schema": {"type": "object", "required": ["layer", "distance_m"], "additionalProperties": False,
                           "properties": {"layer": {"type": "string"},
                                          "distance_m": {"type": "number", "minimum": 1, "maximum": 50000},
                                          "property": {"type": "string"},
                                          "values": {"type": "array", "maxItems": 50, "items": {"type": "string"}}}},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "limit": {"title": "结果数 / Number of sites",
                      "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                      "minOccurs": 0, "maxOccurs": 1},
            "date": DATE_INPUT,
            "recorded": RECORDED_INPUT,
        },
        "outputs": {
            "sites": {"title": "候选地块 / Candidate sites",
                      "schema": {"type": "object", "contentMediaType": "application/geo+json"}},
        },
        "example": {"inputs": {"area": "990102", "land_use": ["1001"], "min_area_m2": 20000}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        layers = set(get_catalogue(settings.catalogue, settings.codes_dir).layers)
        for key in ("avoid", "within"):
            for lid in inputs.get(key) or []:
                if lid not in layers:
                    raise InvalidInput(f"input {key!r}: {lid!r} is not a layer ({', '.join(sorted(layers))})")
        near = inputs.get("near")
        if near:
            if near["layer"] not in layers:
                raise InvalidInput(f"input 'near': {near['layer']!r} is not a layer")
            layer = get_catalogue(settings.catalogue, settings.codes_dir).layers[near["layer"]]
            if near.get("property") and near["property"] not in layer.queryables:
                raise InvalidInput(f"input 'near': {near['layer']} has no property {near['property']!r}")
            if near.get("values") and not near.get("property"):
                raise InvalidInput("input 'near': 'values' needs 'property'")
        lo, hi = inputs.get("min_area_m2", 10000), inputs.get("max_area_m2")
        if hi is not None and hi < lo:
            raise InvalidInput("input 'max_area_m2' is below 'min_area_m2'")
        when = _date(inputs.get("date"), settings.timezone)
        if isinstance(inputs["area"], str) and REGION_RE.match(inputs["area"]):
            if store is not None:
                self._region(store, inputs["area"], when)
        else:
            self._area_geometry(inputs, settings, None)

    @staticmethod
    def _area_geometry(inputs: dict[str, Any], settings: Settings, ctx: RunContext | None,
                       when: When | None = None) -> shapely.Geometry:
        from .boundary import BoundaryLimits, parse_boundary

        value = inputs["area"]
        if isinstance(value, str) and REGION_RE.match(value):
            assert ctx is not None
            geom = SiteSelectionProcessor._region(ctx.store, value, when)
        else:
            limits = BoundaryLimits(max_vertices=settings.processes.max_boundary_vertices, max_area_km2=settings.processes.max_search_km2)
            geom = parse_boundary(value, fmt=inputs.get("area_format"), crs=inputs.get("crs"), limits=limits).geometry
        km2 = float(geodesic_area(geom)) / 1e6
        if km2 > settings.processes.max_search_km2:
            raise PayloadTooLarge(f"input 'area': {km2:.0f} km² is larger than the limit of "
                                  f"{settings.processes.max_search_km2:.0f} km² (ONEMAP_MAX_SEARCH_KM2)")
        return geom

    @staticmethod
    def _region(store: Store, code: str, when: When | None) -> shapely.Geometry:
        from onemap.providers.packages import region_feature

        found = region_feature(store, code, when)
        if found is None:
            raise InvalidInput(f"input 'area': no region {code!r} in the land survey in force")
        return found[0]

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        when = _date(inputs.get("date"), ctx.settings.timezone)
        recorded = parse_recorded(inputs.get("recorded"), ctx.settings.timezone)
        ctx.progress(5, "search area")
        area = self._area_geometry(inputs, ctx.settings, ctx, when)
        result = select(ctx, area, inputs, when, recorded)
        return {"sites": Output("application/geo+json", result)}


def _constrained(plots: np.ndarray, avoid: np.ndarray, within: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each plot minus the features to keep out of, cut to the features to stay inside; and the
    index of the plot each remaining piece comes from.

    Only plots that meet a feature are cut, each against just the features it meets: the control
    lines are few, large polygons and most plots are clear of them or wholly inside.
    """
    plots = plots.copy()
    # the tree holds the plots and the large features are the queries: GEOS prepares the query
    # geometry, so each large polygon is indexed once rather than walked for every plot
    tree = shapely.STRtree(plots)
    if len(avoid) and len(plots):
        ai, pi = tree.query(avoid, predicate="intersects")
        for i in np.unique(pi):
            for feature in avoid[ai[pi == i]]:
                plots[i] = shapely.difference(plots[i], feature)
    if within is not None and len(plots):
        if not len(within):
            return np.empty(0, dtype=object), np.empty(0, dtype=int)
        inside = np.zeros(len(plots), dtype=bool)
        inside[tree.query(within, predicate="contains")[1]] = True
        wi, pi = tree.query(within, predicate="intersects")
        cut = np.full(len(plots), None, dtype=object)
        cut[inside] = plots[inside]
        for i in np.unique(pi[~inside[pi]]):
            # plot ∩ (A ∪ B) = (plot ∩ A) ∪ (plot ∩ B): no union of the large features
            cut[i] = shapely.union_all(shapely.intersection(plots[i], within[wi[pi == i]]))
        plots = cut
    keep = np.array([g is not None and not g.is_empty and g.area > 0 for g in plots], dtype=bool)
    return (plots[keep], np.nonzero(keep)[0]) if len(plots) else (plots, np.empty(0, dtype=int))


def _approx_m2(geoms: list[shapely.Geometry]) -> np.ndarray:
    """Planar area scaled to metres at each geometry's latitude (within ~0.5 % for sites)."""
    arr = np.array(geoms, dtype=object)
    lat = np.radians(shapely.get_y(shapely.centroid(arr)))
    return shapely.area(arr) * 111_320.0 * np.cos(lat) * 110_574.0


def _geometries_of(ctx: RunContext, governed: Governed, layer_ids: list[str],
                   bbox: tuple[float, float, float, float]) -> np.ndarray:
    parts = [governed.geometries(ctx.store.catalogue.layers[lid], bbox)[0] for lid in layer_ids]
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def select(ctx: RunContext, area: shapely.Geometry, inputs: dict[str, Any], when: When,
           recorded: dt.datetime | None = None) -> dict[str, Any]:
    """The ranked FeatureCollection of candidate sites."""
    catalogue = ctx.store.catalogue
    wanted = inputs["land_use"]
    min_m2 = float(inputs.get("min_area_m2", 10000))
    max_m2 = inputs.get("max_area_m2")
    max_slope = float(inputs.get("max_slope_deg", 15))
    avoid = inputs.get("avoid", ["stbhhx", "yjjbnt"])
    within = inputs.get("within", ["czkfbj"])
    near = inputs.get("near")
    limit = int(inputs.get("limit", 10))
    summary: dict[str, Any] = {"search_area": area_units(float(geodesic_area(area)))}

    governed = Governed(ctx.store, area, when, recorded)
    # sites are looked for only where every keep-out and stay-inside layer is governed: where no plan
    # governs a control line, "no red line there" would be a guess
    determined = area
    missing = []
    for lid in [*avoid, *(within or [])]:
        cover = governed.coverage(catalogue.layers[lid])
        if areal(shapely.difference(determined, cover)).is_empty:
            continue
        missing.append(lid)
        determined = areal(shapely.intersection(determined, cover))
    if missing:
        left = areal(shapely.difference(area, determined))
        summary["undetermined"] = {"layers": missing, "area": area_units(float(geodesic_area(left)))}
    ctx.progress(15, "planned plots of the wanted uses")
    planned = Governed(ctx.store, determined, when, recorded).hits(
        catalogue.layers[PLANNED_LAYER], columns=["YDYHFLDM", "YDYHFLMC", "YDYHBB"]) \
        if not determined.is_empty else None
    summary["governing_plans"] = sorted({pid for pid in (planned.plan_ids if planned else [])})
    if planned is None or not len(planned):
        planned_plots = np.empty(0, dtype=object)
        planned_codes: list = []
        planned_editions: list = []
    else:
        planned_plots = planned.parts
        planned_codes = planned.columns["YDYHFLDM"]
        planned_editions = planned.columns["YDYHBB"]
    keep = np.array([planned_editions[i] == "2023"
                     and any((planned_codes[i] or "").startswith(w) for w in wanted)
                     for i in range(len(planned_plots))], dtype=bool)
    plots = planned_plots[keep] if len(planned_plots) else np.empty(0, dtype=object)
    plot_codes = np.asarray(planned_codes, dtype=object)[keep] if len(planned_plots) else plots
    summary["planned_plots"] = int(keep.sum()) if len(planned_plots) else 0

    ctx.progress(35, "keep-out and stay-inside layers")
    box = area.bounds
    cut, cut_plot = _constrained(plots, _geometries_of(ctx, governed, avoid, box),
                                 _geometries_of(ctx, governed, within, box) if within else None)
    ctx.progress(45, "joining neighbouring plots into sites")
    candidates = shapely.union_all(cut) if len(cut) else shapely.Polygon()
    sites = [g for g in shapely.get_parts(candidates) if g.geom_type == "Polygon" and g.area > 0]
    summary["connected_sites"] = len(sites)

    ctx.progress(50, "areas")
    if sites:
        # most connected pieces are far too small: only those near the limits are measured exactly
        rough = _approx_m2(sites)
        maybe = (rough >= 0.98 * min_m2) & ((rough <= 1.02 * float(max_m2)) if max_m2 is not None else True)
        sites = [s for s, k in zip(sites, maybe) if k]
    areas = np.asarray(geodesic_area(sites), dtype=float) if sites else np.empty(0)
    ok = (areas >= min_m2) & ((areas <= float(max_m2)) if max_m2 is not None else True)
    sites = [s for s, k in zip(sites, ok) if k]
    areas = areas[ok] if len(areas) else areas
    summary["within_area_limits"] = len(sites)

    ctx.progress(60, "slopes")
    dem = ctx.settings.processes.dem
    slopes = []
    if sites:
        grid = slope_grid(dem, shapely.total_bounds(np.array(sites, dtype=object)))
        slopes = grid.stats_many(sites)

    ctx.progress(75, "proximity")
    distances: list[float | None] = [None] * len(sites)
    if near and sites:
        distances = _distances(ctx, sites, near, governed)

    ctx.progress(85, "scoring")
    site_uses: list[list[str]] = [[] for _ in sites]
    if sites and len(cut):
        # each piece lies wholly in one site (sites are the pieces' union): a point of it says which
        pj, si = shapely.STRtree(np.array(sites, dtype=object)).query(shapely.point_on_surface(cut),
                                                                     predicate="within")
        for a, b in zip(si, pj):
            site_uses[a].append(plot_codes[cut_plot[b]])
        site_uses = [sorted(set(u)) for u in site_uses]
    features: list[dict[str, Any]] = []
    for i, site in enumerate(sites):
        mean_s, max_s = slopes[i]
        reasons = []
        if not (mean_s <= max_slope):
            continue
        d = distances[i]
        if near and (d is None or d > near["distance_m"]):
            continue
        slope_score = WEIGHTS["slope"] * (1 - mean_s / max_slope) if max_slope > 0 else WEIGHTS["slope"]
        reasons.append({"zh": f"平均坡度 {mean_s:.1f}°（上限 {max_slope:g}°）",
                        "en": f"mean slope {mean_s:.1f}° (limit {max_slope:g}°)", "points": round(slope_score, 1)})
        if max_m2 is not None:
            mid = (min_m2 + float(max_m2)) / 2
            fit = 1 - abs(areas[i] - mid) / max(mid - min_m2, 1.0)
        else:
            fit = min(1.0, areas[i] / (4 * min_m2))
        area_score = WEIGHTS["area"] * max(0.0, min(1.0, fit))
        reasons.append({"zh": f"面积 {areas[i] / 10000:.2f} 公顷", "en": f"area {areas[i] / 10000:.2f} ha",
                        "points": round(area_score, 1)})
        near_score = 0.0
        if near:
            near_score = WEIGHTS["near"] * (1 - d / near["distance_m"])
            reasons.append({"zh": f"距邻近要素 {d:.0f} 米（要求 {near['distance_m']:g} 米内）",
                            "en": f"{d:.0f} m from the proximity layer (within {near['distance_m']:g} m)",
                            "points": round(near_score, 1)})
        score = slope_score + area_score + near_score
        total_weight = WEIGHTS["slope"] + WEIGHTS["area"] + (WEIGHTS["near"] if near else 0.0)
        uses = site_uses[i]
        features.append({
            "type": "Feature",
            "geometry": to_geojson(site),
            "properties": {
                "score": round(100 * score / total_weight, 1),
                "area": area_units(float(areas[i])),
                "slope_mean_deg": round(mean_s, 2), "slope_max_deg": round(max_s, 2),
                "distance_m": round(d, 1) if d is not None else None,
                "planned_uses": uses, "reasons": reasons,
            },
        })
    features.sort(key=lambda f: -f["properties"]["score"])
    summary["satisfying_all"] = len(features)
    for rank, f in enumerate(features[:limit], start=1):
        f["properties"]["rank"] = rank
        f["id"] = rank
    ctx.progress(95, "done")
    return {"type": "FeatureCollection", "features": features[:limit], "numberMatched": len(features),
            "numberReturned": min(limit, len(features)),
            "x-onemap": {"summary": summary, "constraints": {
                "land_use": wanted, "min_area_m2": min_m2, "max_area_m2": max_m2, "max_slope_deg": max_slope,
                "avoid": avoid, "within": within, "near": near,
                "date": when.start.isoformat() if when.start else None,
                "recorded": recorded.isoformat() if recorded else None,
                "slope_rule": "mean slope of the DEM cells inside the site"}}}


def _distances(ctx: RunContext, sites: list[shapely.Geometry], near: dict[str, Any], governed: Governed
               ) -> list[float | None]:
    """Metres from each site to the nearest proximity feature, measured in the region's GK zone."""
    layer = ctx.store.catalogue.layers[near["layer"]]
    pad = near["distance_m"] / 90000.0  # degrees enough to cover the distance at China's latitudes
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(sites, dtype=object))
    search = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cols = [near["property"]] if near.get("property") else []
    targets, values = governed.geometries(layer, search.bounds, cols)
    if near.get("values"):
        wanted = set(near["values"])
        targets = targets[np.array([v in wanted for v in values[near["property"]]], dtype=bool)]
    if not len(targets):
        return [None] * len(sites)
    epsg = crsmod.gk3_zone_epsg((minx + maxx) / 2)
    t = Transformer.from_crs(4490, epsg, always_xy=True)

    def proj(g: np.ndarray) -> np.ndarray:
        return shapely.transform(g, lambda x, y: t.transform(x, y), interleaved=False)

    # nearest target per site from a tree of the targets: no union of thousands of parcels
    tree = shapely.STRtree(proj(targets))
    site_arr = proj(np.asarray(sites, dtype=object))
    (si, _), dist = tree.query_nearest(site_arr, return_distance=True, all_matches=False)
    out: list[float | None] = [None] * len(sites)
    for i, d in zip(si.tolist(), dist.tolist()):
        out[i] = float(d)
    return out
