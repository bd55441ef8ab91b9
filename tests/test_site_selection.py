"""site-selection on the demo city: every site returned is checked against every constraint here,
with shapely, pyproj and rasterio on the demo GeoPackage read by GDAL (not with OneMap's code)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Geod, Transformer
from rasterio.features import geometry_mask

URL = "/processes/site-selection/execution"
GEOD = Geod(a=6378137.0, f=1 / 298.257222101)  # CGCS2000


def select(client, status=200, **inputs) -> dict:
    r = client.post(URL, json={"inputs": inputs})
    assert r.status_code == status, r.data[:800]
    return json.loads(r.data)


def geodesic_m2(g: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def union_of(ref, layer: str, plans: set[str], keep=None) -> shapely.Geometry:
    _, cols, geoms = ref.features(layer, plans)
    if keep is not None:
        geoms = geoms[keep(cols)]
    return shapely.union_all(geoms)


def slope_of(dem_path, site: shapely.Geometry) -> float:
    """Mean slope (degrees) of the DEM cells whose centres are in the site: central differences,
    metres per degree from the latitude of each row (an independent computation)."""
    with rasterio.open(dem_path) as src:
        z = src.read(1).astype("float64")
        z[z == src.nodata] = np.nan
        t = src.transform
        lat = t.f + t.e * (np.arange(z.shape[0]) + 0.5)
        phi = np.radians(lat)
        e2 = 0.0066943800229
        m_lat = 6378137.0 * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5 * np.pi / 180
        m_lon = 6378137.0 * np.cos(phi) / np.sqrt(1 - e2 * np.sin(phi) ** 2) * np.pi / 180
        gy = np.gradient(z, axis=0) / (abs(t.e) * m_lat[:, None])
        gx = np.gradient(z, axis=1) / (t.a * m_lon[:, None])
        slope = np.degrees(np.arctan(np.hypot(gx, gy)))
        inside = ~geometry_mask([site], out_shape=z.shape, transform=t)
        if not inside.any():
            inside = ~geometry_mask([site], out_shape=z.shape, transform=t, all_touched=True)
        return float(np.nanmean(slope[inside]))


@pytest.fixture(scope="module")
def in_force(ref, today) -> set[str]:
    return ref.in_force(today)


def _assert_constraints(doc: dict, ref, plans: set[str], demo_dir, *, region: str, uses: list[str],
                        min_m2: float, max_m2: float | None, max_slope: float, avoid: list[str],
                        within: list[str]) -> None:
    _, xcols, xgeoms = ref.features("xzq", plans)
    search = xgeoms[list(xcols["XZQDM"]).index(region)]
    planned = union_of(ref, "zxcqghydyh", plans, lambda c: np.array(
        [b == "2023" and any(str(code).startswith(u) for u in uses)
         for code, b in zip(c["YDYHFLDM"], c["YDYHBB"])], dtype=bool))
    keep_out = {lid: union_of(ref, lid, plans) for lid in avoid}
    stay_in = {lid: union_of(ref, lid, plans) for lid in within}
    scores = []
    for f in doc["features"]:
        site = shapely.geometry.shape(f["geometry"])
        p = f["properties"]
        assert site.is_valid and not site.is_empty
        m2 = geodesic_m2(site)
        assert abs(m2 - p["area"]["m2"]) <= 1e-3 * m2
        assert m2 >= min_m2 * (1 - 1e-6)
        if max_m2 is not None:
            assert m2 <= max_m2 * (1 + 1e-6)
        tiny = 1e-6 * site.area
        assert site.difference(search).area <= tiny, "outside the search area"
        assert site.difference(planned).area <= tiny, "not on a plot planned for the wanted use"
        for lid, g in keep_out.items():
            assert site.intersection(g).area <= tiny, f"overlaps {lid}"
        for lid, g in stay_in.items():
            assert site.difference(g).area <= tiny, f"not inside {lid}"
        assert p["slope_mean_deg"] <= max_slope
        assert abs(slope_of(demo_dir / "dem.tif", site) - p["slope_mean_deg"]) <= 0.02 * max(p["slope_mean_deg"], 1)
        assert p["slope_max_deg"] >= p["slope_mean_deg"]
        assert set(p["planned_uses"]) and all(any(u.startswith(w) for w in uses) for u in p["planned_uses"])
        assert p["reasons"] and all(r["zh"] and r["en"] for r in p["reasons"])
        scores.append(p["score"])
    assert scores == sorted(scores, reverse=True)
    assert [f["properties"]["rank"] for f in doc["features"]] == list(range(1, len(scores) + 1))


def test_sites_satisfy_every_constraint(client, ref, in_force, demo_dir):
    doc = select(client, area="990100", land_use=["1001", "0701"], min_area_m2=20_000, max_area_m2=5_000_000,
                 max_slope_deg=10, limit=50)
    assert doc["type"] == "FeatureCollection" and doc["features"], doc["x-onemap"]
    assert doc["numberReturned"] == len(doc["features"]) <= doc["numberMatched"]
    _assert_constraints(doc, ref, in_force, demo_dir, region="990100", uses=["1001", "0701"], min_m2=20_000,
                        max_m2=5_000_000, max_slope=10, avoid=["stbhhx", "yjjbnt"], within=["czkfbj"])


def test_a_tighter_slope_limit_drops_steeper_sites(client, ref, in_force, demo_dir):
    loose = select(client, area="990100", land_use=["07"], min_area_m2=5_000, max_slope_deg=30, limit=100)
    slopes = sorted(f["properties"]["slope_mean_deg"] for f in loose["features"])
    assert len(slopes) >= 2
    limit = (slopes[0] + slopes[-1]) / 2
    tight = select(client, area="990100", land_use=["07"], min_area_m2=5_000, max_slope_deg=limit, limit=100)
    assert 0 < tight["numberMatched"] < loose["numberMatched"]
    _assert_constraints(tight, ref, in_force, demo_dir, region="990100", uses=["07"], min_m2=5_000, max_m2=None,
                        max_slope=limit, avoid=["stbhhx", "yjjbnt"], within=["czkfbj"])


def test_proximity_is_measured_and_kept(client, ref, in_force):
    near = {"layer": "dltb", "property": "DLBM", "values": ["0601"], "distance_m": 500}
    doc = select(client, area="990100", land_use=["07", "08", "09", "10"], min_area_m2=5_000, near=near, limit=100)
    assert doc["features"]
    _, cols, geoms = ref.features("dltb", in_force)
    industrial = shapely.union_all(geoms[np.asarray(cols["DLBM"]) == "0601"])
    gk = Transformer.from_crs(4490, 4527, always_xy=True)  # the demo city lies in 3-degree zone 39

    def proj(g):
        return shapely.transform(g, lambda x, y: gk.transform(x, y), interleaved=False)

    target = proj(industrial)
    for f in doc["features"]:
        d = shapely.distance(proj(shapely.geometry.shape(f["geometry"])), target)
        assert f["properties"]["distance_m"] <= 500
        assert abs(d - f["properties"]["distance_m"]) <= 1.0
        assert any(r["en"].endswith("(within 500 m)") for r in f["properties"]["reasons"])


def test_layers_to_avoid_and_stay_in_are_inputs(client, ref, in_force, demo_dir):
    doc = select(client, area="990102", land_use=["1001"], min_area_m2=10_000, avoid=["stbhhx", "yjjbnt", "hlfxkzx"],
                 within=[], limit=20)
    _assert_constraints(doc, ref, in_force, demo_dir, region="990102", uses=["1001"], min_m2=10_000, max_m2=None,
                        max_slope=15, avoid=["stbhhx", "yjjbnt", "hlfxkzx"], within=[])


def test_a_geometry_search_area(client, ref, in_force, demo_dir):
    whole = select(client, area="990100", land_use=["07"], min_area_m2=5_000, limit=100)
    assert whole["features"]
    first = shapely.geometry.shape(whole["features"][0]["geometry"])
    around = shapely.box(*first.buffer(0.002).bounds)
    doc = select(client, area=shapely.geometry.mapping(around), land_use=["07"], min_area_m2=5_000)
    assert doc["features"]
    for f in doc["features"]:
        assert shapely.geometry.shape(f["geometry"]).difference(around).area <= 1e-9


def test_no_result_is_an_empty_collection_with_the_funnel(client):
    doc = select(client, area="990100", land_use=["1001"], min_area_m2=1e8)
    assert doc["features"] == [] and doc["numberMatched"] == 0
    summary = doc["x-onemap"]["summary"]
    assert summary["planned_plots"] >= summary["connected_sites"] >= summary["within_area_limits"] == 0


@pytest.mark.parametrize("inputs, says", [
    ({"area": "990100"}, "'land_use'"),
    ({"area": "990100", "land_use": []}, "'land_use'"),
    ({"area": "990100", "land_use": ["x1"]}, "'land_use'"),
    ({"area": "990199", "land_use": ["1001"]}, "990199"),
    ({"area": "990100", "land_use": ["1001"], "avoid": ["roads"]}, "'avoid'"),
    ({"area": "990100", "land_use": ["1001"], "within": ["plans"]}, "'within'"),
    ({"area": "990100", "land_use": ["1001"], "min_area_m2": 50_000, "max_area_m2": 20_000}, "'max_area_m2'"),
    ({"area": "990100", "land_use": ["1001"], "max_slope_deg": 90}, "'max_slope_deg'"),
    ({"area": "990100", "land_use": ["1001"], "near": {"layer": "dltb", "distance_m": -1}}, "'near'"),
    ({"area": "990100", "land_use": ["1001"], "near": {"layer": "dltb", "property": "PASSWORD",
                                                       "distance_m": 10}}, "PASSWORD"),
    ({"area": "990100", "land_use": ["1001"], "limit": 0}, "'limit'"),
])
def test_bad_input_is_a_400_naming_it(inputs, says, client):
    r = client.post(URL, json={"inputs": inputs})
    assert r.status_code == 400, r.data[:300]
    assert says in json.loads(r.data)["description"]


def test_a_search_area_over_the_limit_is_refused(client):
    big = {"type": "Polygon", "coordinates": [[[100, 20], [115, 20], [115, 35], [100, 35], [100, 20]]]}
    r = client.post(URL, json={"inputs": {"area": big, "land_use": ["1001"]}})
    assert r.status_code == 413 and "km²" in json.loads(r.data)["description"]
